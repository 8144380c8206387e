/*
 * test/bi/OdbcClient.c -- what a spreadsheet or report tool does over ODBC
 * (psqlODBC, Debian's odbc-postgresql, through unixODBC), as one person:
 * browse the schema (SQLTables, SQLColumns: what they return as REMARKS),
 * read the comments from concord.metric_publication_columns instead, read
 * a metric view.  Prints one line per finding; test/bi/odbc.sh compares
 * them with what is true.
 *   OdbcClient "Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=...;Database=...;Username=..."
 */
#include <stdio.h>
#include <string.h>
#include <sql.h>
#include <sqlext.h>

/* Print the given columns of every row of a statement's result, "|"-separated. */
static void
print_rows(SQLHSTMT st, const char *prefix, const int *cols, int n)
{
	SQLCHAR		buf[8192];
	SQLLEN		ind;

	while (SQL_SUCCEEDED(SQLFetch(st)))
	{
		printf("%s", prefix);
		for (int i = 0; i < n; i++)
		{
			SQLRETURN	r = SQLGetData(st, cols[i], SQL_C_CHAR, buf, sizeof(buf), &ind);

			printf("%s%s", i == 0 ? "" : (i == n - 1 ? " | " : " "),
				   !SQL_SUCCEEDED(r) ? "(error)" : ind == SQL_NULL_DATA ? "(null)" : (const char *) buf);
		}
		printf("\n");
	}
	SQLCloseCursor(st);
}

/* Print the diagnostics of a failed call. */
static void
print_error(SQLSMALLINT type, SQLHANDLE h, const char *what)
{
	SQLCHAR		state[6],
				msg[1024];
	SQLINTEGER	native;
	SQLSMALLINT len;

	if (SQL_SUCCEEDED(SQLGetDiagRec(type, h, 1, state, &native, msg, sizeof(msg), &len)))
		printf("%s: %s %s\n", what, state, msg);
	else
		printf("%s: failed\n", what);
}

int
main(int argc, char **argv)
{
	SQLHENV		env;
	SQLHDBC		dbc;
	SQLHSTMT	st;
	const int	table_cols[] = {2, 3, 4, 5};		/* schema, name, type | REMARKS */
	const int	column_cols[] = {2, 3, 4, 12};	/* schema, table, column | REMARKS */
	const int	two[] = {1, 2};

	if (argc != 2)
	{
		fprintf(stderr, "usage: OdbcClient CONNECTION-STRING\n");
		return 2;
	}
	SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
	SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (void *) SQL_OV_ODBC3, 0);
	SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
	if (!SQL_SUCCEEDED(SQLDriverConnect(dbc, NULL, (SQLCHAR *) argv[1], SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT)))
	{
		print_error(SQL_HANDLE_DBC, dbc, "connect");
		return 1;
	}
	SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);

	/* the schema browser: tables and views of schema metrics, their columns */
	if (SQL_SUCCEEDED(SQLTables(st, NULL, 0, (SQLCHAR *) "metrics", SQL_NTS, (SQLCHAR *) "%", SQL_NTS, NULL, 0)))
		print_rows(st, "table ", table_cols, 4);
	else
		print_error(SQL_HANDLE_STMT, st, "SQLTables");
	if (SQL_SUCCEEDED(SQLColumns(st, NULL, 0, (SQLCHAR *) "metrics", SQL_NTS, (SQLCHAR *) "revenue_by_region", SQL_NTS,
								 (SQLCHAR *) "%", SQL_NTS)))
		print_rows(st, "column ", column_cols, 4);
	else
		print_error(SQL_HANDLE_STMT, st, "SQLColumns");

	/* the comments as rows, and the rows of the metric view */
	if (SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *) "SELECT column_name, remarks FROM concord.metric_publication_columns"
									" WHERE view_name = 'metrics.revenue_by_region' ORDER BY position", SQL_NTS)))
		print_rows(st, "remarks ", two, 2);
	else
		print_error(SQL_HANDLE_STMT, st, "remarks");
	if (SQL_SUCCEEDED(SQLExecDirect(st, (SQLCHAR *) "SELECT region, revenue FROM metrics.revenue_by_region ORDER BY region", SQL_NTS)))
		print_rows(st, "revenue ", two, 2);
	else
		print_error(SQL_HANDLE_STMT, st, "revenue");

	SQLFreeHandle(SQL_HANDLE_STMT, st);
	SQLDisconnect(dbc);
	SQLFreeHandle(SQL_HANDLE_DBC, dbc);
	SQLFreeHandle(SQL_HANDLE_ENV, env);
	return 0;
}
