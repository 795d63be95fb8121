using System.Data.SqlClient;
using System.Diagnostics;

class Sample {
    void Run(SqlConnection conn, string name) {
        var cmd = new SqlCommand("SELECT * FROM users WHERE name = '" + name + "'", conn);
        var q = $"UPDATE users SET name = '{name}' WHERE id = 1";
        Process.Start("cmd.exe", "/c " + name);
    }
}
