class Report
  API_KEY = "rk_live_0123456789"

  def run(name)
    system("grep #{name} /var/log/app.log")
    rows = DB.execute("SELECT * FROM reports WHERE name = '#{name}'")
    eval(name)
    `ls #{name}`
  end
end
