const { exec } = require("child_process");

// eval(this_is_a_comment) must not be reported
function handle(req, res, db) {
  const query = "SELECT * FROM orders WHERE id = " + req.params.id;
  db.query(query);
  exec(`tar -xf ${req.query.file}`);
  document.getElementById("out").innerHTML = req.body.html;
  return eval(req.body.expr);
}

const apiKey = "sk_live_abcdef123456";
module.exports = { handle, apiKey };
