import java.sql.Connection

const val TOKEN = "tok_abcdef12345"

fun find(conn: Connection, name: String) {
    conn.createStatement().executeQuery("SELECT * FROM users WHERE name = '$name'")
    Runtime.getRuntime().exec("ls $name")
}
