import java.sql.Statement;

public class Sample {
    private static final String PASSWORD = "changeme123";

    public void run(Statement st, String name) throws Exception {
        st.executeQuery("SELECT * FROM users WHERE name = '" + name + "'");
        Runtime.getRuntime().exec("ls " + name);
    }

    public int classify(int a, int b, int c, int d, int e, int f, int g) {
        return a + b + c + d + e + f + g;
    }
}
