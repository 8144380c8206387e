#!/usr/bin/env bash
#
# test/bi/odbc.sh — a real ODBC client (psqlODBC 13, Debian's
# odbc-postgresql, through unixODBC; test/bi/OdbcClient.c) connects as a
# sales rep and as a finance clerk.  Run by test/check.sh on its running
# cluster (RUN in the environment); prints TAP.  What it checks is what
# docs/bi.md says about ODBC: the driver lists the metric view and its
# columns but returns their REMARKS empty (it shows no comments), the
# comments are read as rows from concord.metric_publication_columns, and
# the view gives each person the revenue of the rows her policy shows.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_odbc
work="$(run_dir "$RUN")/odbc"
echo "1..6"

mkdir -p "$work"
if ! gcc -Wall -o "$work/OdbcClient" test/bi/OdbcClient.c -lodbc >"$work/gcc.log" 2>&1; then
	echo "# gcc failed: $(cat "$work/gcc.log")"
fi
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION concord;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_odbc_rep') THEN CREATE ROLE tap_odbc_rep LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_odbc_clerk') THEN CREATE ROLE tap_odbc_clerk LOGIN; END IF;
END $$;
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id int PRIMARY KEY, region text, amount numeric, ordered_at timestamptz DEFAULT now());
INSERT INTO shop.orders VALUES (1, '华东', 100), (2, '华东', 50), (3, '华西', 70);
GRANT USAGE ON SCHEMA shop TO tap_odbc_rep, tap_odbc_clerk;
GRANT SELECT ON shop.orders TO tap_odbc_rep, tap_odbc_clerk;
SELECT concord.department_create('tap_odbc_sales'), concord.department_create('tap_odbc_finance');
SELECT concord.member_create('tap_odbc_rep', 'tap_odbc_sales', '销售代表', '{"region": "华东"}'),
       concord.member_create('tap_odbc_clerk', 'tap_odbc_finance', '会计');
SELECT concord.row_policy_create('tap_odbc_orders', 'shop.orders', $$region = concord.member('region') OR concord.member_in('tap_odbc_finance')$$);
SELECT concord.model_create('orders', 'shop.orders', 'ordered_at', '{"region": "region"}');
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount', description => '营收');
SELECT concord.metric_certify('revenue');
SELECT concord.metric_publish('revenue_by_region', '{revenue}', '{region}', readers => '{tap_odbc_rep,tap_odbc_clerk}');
SQL

conn() { printf 'Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=%s;Database=%s;Username=%s;' "$PGPORT" "$DB" "$1"; }
rep="$("$work/OdbcClient" "$(conn tap_odbc_rep)" 2>&1 || true)"
clerk="$("$work/OdbcClient" "$(conn tap_odbc_clerk)" 2>&1 || true)"
echo "$rep" | sed 's/^/# rep: /'
echo "$clerk" | sed 's/^/# clerk: /'

tap_is "psqlODBC lists the metric view (SQLTables) ..." \
	"$(echo "$rep" | grep -c '^table metrics revenue_by_region VIEW')" "1"
tap_is "... and returns its REMARKS empty: the view's comment is not shown" \
	"$(echo "$rep" | grep '^table metrics revenue_by_region VIEW')" "table metrics revenue_by_region VIEW | "
tap_is "SQLColumns returns the columns' REMARKS empty too" \
	"$(echo "$rep" | grep '^column ' | tr '\n' ';')" "column metrics revenue_by_region region | ;column metrics revenue_by_region revenue | ;"
tap_is "the comments, read as rows from concord.metric_publication_columns over ODBC" \
	"$(echo "$rep" | grep '^remarks revenue ')" \
	"remarks revenue | 营收 (metric revenue version 1 answers, certified; owner postgres) Adds up: its sum over rows is their total."
tap_is "the metric view gives the rep her region's revenue over ODBC" "$(echo "$rep" | grep '^revenue ' | tr '\n' ';')" "revenue 华东 | 150;"
tap_is "and the clerk every region's" "$(echo "$clerk" | grep '^revenue ' | tr '\n' ';')" "revenue 华东 | 150;revenue 华西 | 70;"

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE $DB WITH (FORCE)" \
	-c "DROP ROLE IF EXISTS tap_odbc_rep, tap_odbc_clerk" </dev/null >/dev/null 2>&1 || true
