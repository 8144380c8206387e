// test/bi/BiClient.java — what a BI or report tool does over JDBC, as one
// person: browse the schema (tables and views with their comments), read a
// governed view, try the base table, read a metric view.  Prints one line
// per finding; test/bi/jdbc.sh compares them with what that person may see.
//   java -cp .:postgresql.jar BiClient jdbc:postgresql://127.0.0.1:PORT/DB USER
import java.sql.*;

public class BiClient {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], "")) {
            DatabaseMetaData md = c.getMetaData();
            try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    String schema = rs.getString("TABLE_SCHEM");
                    if (schema.equals("shop") || schema.equals("metrics"))
                        System.out.println("object " + schema + "." + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE")
                                           + " | " + rs.getString("REMARKS"));
                }
            }
            try (ResultSet rs = md.getColumns(null, "metrics", "revenue_by_region", "revenue")) {
                while (rs.next())
                    System.out.println("column metrics.revenue_by_region.revenue | " + rs.getString("REMARKS"));
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT id, name, phone FROM shop.customer_governed ORDER BY id")) {
                while (rs.next())
                    System.out.println("customer " + rs.getInt(1) + " " + rs.getString(2) + " " + rs.getString(3));
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM shop.customer")) {
                rs.next();
                System.out.println("base table readable: " + rs.getLong(1) + " rows");
            } catch (SQLException e) {
                System.out.println("base table: " + e.getSQLState() + " " + e.getMessage().split("\n")[0]);
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT region, revenue FROM metrics.revenue_by_region ORDER BY region")) {
                while (rs.next())
                    System.out.println("revenue " + rs.getString(1) + " " + rs.getBigDecimal(2).stripTrailingZeros().toPlainString());
            }
            // a report over a monthly view: what its columns' remarks say, what
            // adding up its rows gives, and the totals read from a view at
            // that grain
            try (ResultSet rs = md.getColumns(null, "metrics", "orders_by_month", "%")) {
                while (rs.next())
                    System.out.println("remarks " + rs.getString("COLUMN_NAME") + " | " + rs.getString("REMARKS"));
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT sum(buyers), round(sum(revenue) / sum(order_count), 2), round(avg(aov), 2)"
                                               + " FROM metrics.orders_by_month")) {
                rs.next();
                System.out.println("summed buyers " + rs.getBigDecimal(1).stripTrailingZeros().toPlainString()
                                   + " aov from components " + rs.getBigDecimal(2).toPlainString()
                                   + " avg(aov) " + rs.getBigDecimal(3).toPlainString());
            }
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT buyers, round(aov, 2) FROM metrics.orders_total")) {
                rs.next();
                System.out.println("total view buyers " + rs.getBigDecimal(1).stripTrailingZeros().toPlainString()
                                   + " aov " + rs.getBigDecimal(2).toPlainString());
            }
        }
    }
}
