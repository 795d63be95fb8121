object Sample {
  val password = "scala-secret-99"

  def find(name: String): String = {
    val sql = "SELECT * FROM people WHERE name = '" + name + "'"
    Runtime.getRuntime().exec("echo " + name)
    sql
  }
}
