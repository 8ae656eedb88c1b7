// pgjdbc (Debian's libpostgresql-jdbc-java) as a pool holds its sessions: SESSIONS connections
// opened at once, QUERIES queries on each (prepared, through the extended protocol), then each
// closed. Prints "sessions N queries M", the truth the capture is checked against.
//
//	java -cp /usr/share/java/postgresql.jar PgSessions.java HOST SESSIONS QUERIES
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

public class PgSessions {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":5432/postgres?user=postgres";
        int sessions = Integer.parseInt(args[1]);
        int queries = Integer.parseInt(args[2]);
        List<Connection> pool = new ArrayList<>();
        for (int i = 0; i < sessions; i++) {
            pool.add(DriverManager.getConnection(url));
        }
        int ran = 0;
        for (Connection c : pool) {
            for (int q = 0; q < queries; q++) {
                try (PreparedStatement st = c.prepareStatement("SELECT ?::int + 1")) {
                    st.setInt(1, q);
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        if (rs.getInt(1) != q + 1) {
                            throw new IllegalStateException("wrong answer");
                        }
                    }
                }
                ran++;
            }
            c.close();
        }
        System.out.println("sessions " + sessions + " queries " + ran);
    }
}
