// A tidy module: nothing here should be reported.
const { execFile } = require("child_process");

async function findOrder(db, id) {
  const rows = await db.query("SELECT * FROM orders WHERE id = $1", [id]);
  return rows[0];
}

function list(dir, done) {
  execFile("ls", ["-l", dir], done);
}

module.exports = { findOrder, list };
