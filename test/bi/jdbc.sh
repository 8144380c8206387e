#!/usr/bin/env bash
#
# test/bi/jdbc.sh — a real JDBC client (Debian's libpostgresql-jdbc-java
# under the JDK) connects as a sales rep and as a finance clerk.  Run by
# test/check.sh on its running cluster (RUN in the environment); prints
# TAP.  The schema browser must list the governed view and the metric view
# with their comments, the base table must not be readable, the masked
# column must come back masked, and the metric view must give each person
# the revenue of the rows her policy shows.  A report over a monthly view
# reads in each column's remarks whether it adds up: a ratio's components
# added up give its total, a distinct count is read from a view published
# at the total's grain (adding it up counts a customer twice).

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_bi
jar=/usr/share/java/postgresql.jar
work="$(run_dir "$RUN")/bi"
echo "1..12"

mkdir -p "$work"
cp test/bi/BiClient.java "$work/"
if ! javac -d "$work" -cp "$jar" "$work/BiClient.java" >"$work/javac.log" 2>&1; then
	echo "# javac failed: $(cat "$work/javac.log")"
fi
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION concord;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_bi_owner') THEN CREATE ROLE tap_bi_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_bi_rep') THEN CREATE ROLE tap_bi_rep LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_bi_clerk') THEN CREATE ROLE tap_bi_clerk LOGIN; END IF;
END $$;
CREATE SCHEMA shop AUTHORIZATION tap_bi_owner;
CREATE TABLE shop.customer (id int PRIMARY KEY, name text, phone text, region text);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int, region text, amount numeric, ordered_at timestamptz DEFAULT now());
INSERT INTO shop.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '王芳', '13912345679', '华东'), (3, '李娜', '15012345670', '华西');
INSERT INTO shop.orders VALUES (1, 1, '华东', 100, '2026-01-10'), (2, 2, '华东', 50, '2026-02-10'), (3, 3, '华西', 70, '2026-01-20'),
                               (4, 1, '华东', 90, '2026-02-15'), (5, 3, '华西', 20, '2026-01-25');
ALTER TABLE shop.customer OWNER TO tap_bi_owner;
ALTER TABLE shop.orders OWNER TO tap_bi_owner;
COMMENT ON TABLE shop.customer IS '客户（销售 CRM）';
GRANT USAGE ON SCHEMA shop TO tap_bi_rep, tap_bi_clerk;
GRANT SELECT ON shop.customer, shop.orders TO tap_bi_rep, tap_bi_clerk;
SELECT concord.department_create('tap_bi_sales'), concord.department_create('tap_bi_finance');
SELECT concord.member_create('tap_bi_rep', 'tap_bi_sales', '销售代表', '{"region": "华东"}'),
       concord.member_create('tap_bi_clerk', 'tap_bi_finance', '会计');
SELECT concord.row_policy_create('tap_bi_cust', 'shop.customer', $$region = concord.member('region') OR concord.member_in('tap_bi_finance')$$);
SELECT concord.row_policy_create('tap_bi_orders', 'shop.orders', $$region = concord.member('region') OR concord.member_in('tap_bi_finance')$$);
SELECT concord.column_mask_create('shop.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('tap_bi_finance')$$);
SELECT concord.model_create('orders', 'shop.orders', 'ordered_at', '{"region": "region"}');
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount', description => '营收');
SELECT concord.metric_certify('revenue');
SELECT concord.metric_publish('revenue_by_region', '{revenue}', '{region}', readers => '{tap_bi_rep,tap_bi_clerk}');
SELECT concord.metric_create('order_count', 'simple', model => 'orders', agg => 'count', description => '订单数'),
       concord.metric_create('buyers', 'simple', model => 'orders', agg => 'count_distinct', expr => 'customer_id', description => '下单客户数');
SELECT concord.metric_create('aov', 'ratio', numerator => 'revenue', denominator => 'order_count', description => '客单价');
SELECT concord.metric_publish('orders_by_month', '{aov,buyers}', grain => 'month', time_zone => 'UTC', readers => '{tap_bi_rep,tap_bi_clerk}'),
       concord.metric_publish('orders_total', '{aov,buyers}', time_zone => 'UTC', readers => '{tap_bi_rep,tap_bi_clerk}');
SQL

url="jdbc:postgresql://127.0.0.1:$PGPORT/$DB"
rep="$(java -cp "$work:$jar" BiClient "$url" tap_bi_rep 2>&1 || true)"
clerk="$(java -cp "$work:$jar" BiClient "$url" tap_bi_clerk 2>&1 || true)"
echo "$rep" | sed 's/^/# rep: /'
echo "$clerk" | sed 's/^/# clerk: /'

tap_is "the schema browser lists the governed view, with its comment" \
	"$(echo "$rep" | grep -c '^object shop.customer_governed VIEW | Governed view of shop.customer: rows by its row policies, masked columns by concord.column_mask$')" "1"
tap_is "and the metric view, with its comment" \
	"$(echo "$rep" | grep -c '^object metrics.revenue_by_region VIEW | concord metrics revenue by region, answered as the reader (row policies apply). One row per region. Its metrics add up over rows. Made by concord.metric_publish.$')" "1"
tap_is "a metric column's comment names the metric, the version that answers, its certification and that it adds up" \
	"$(echo "$rep" | grep '^column metrics.revenue_by_region.revenue')" \
	"column metrics.revenue_by_region.revenue | 营收 (metric revenue version 1 answers, certified; owner postgres) Adds up: its sum over rows is their total."
tap_is "the rep cannot read the base table" "$(echo "$rep" | grep '^base table')" "base table: 42501 ERROR: permission denied for table customer"
tap_is "the rep reads her region's customers, phones masked" "$(echo "$rep" | grep '^customer' | tr '\n' ';')" "customer 1 张伟 138****5678;customer 2 王芳 139****5679;"
tap_is "the clerk reads every customer, phones in clear" "$(echo "$clerk" | grep '^customer' | tr '\n' ';')" "customer 1 张伟 13812345678;customer 2 王芳 13912345679;customer 3 李娜 15012345670;"
tap_is "the metric view gives the rep her region's revenue" "$(echo "$rep" | grep '^revenue' | tr '\n' ';')" "revenue 华东 240;"
tap_is "and the clerk every region's" "$(echo "$clerk" | grep '^revenue' | tr '\n' ';')" "revenue 华东 240;revenue 华西 90;"
tap_is "the remarks of a distinct count say it does not add up" "$(echo "$clerk" | grep '^remarks buyers ')" \
	"remarks buyers | 下单客户数 (metric buyers version 1 answers, not certified; owner postgres) Does not add up: what is counted in several rows would be counted again; read a view published at the grain and dimensions wanted."
tap_is "the remarks of a ratio say how to add it up, and its components are columns" "$(echo "$clerk" | grep '^remarks aov ')" \
	"remarks aov | 客单价 (metric aov version 1 answers, not certified; owner postgres) Does not add up (a ratio): over any rows it is sum(revenue) / sum(order_count), columns of this view."
tap_is "added up as the remarks say, the components give the true average order value; averaging it does not" \
	"$(echo "$clerk" | grep '^summed buyers' | sed 's/^summed buyers [0-9]* //')" "aov from components 66.00 avg(aov) 66.67"
tap_is "the total read from a view at that grain: 3 buyers (summing the months' counts a returning one twice: 4)" \
	"$(echo "$clerk" | grep '^total view'); $(echo "$clerk" | grep '^summed buyers' | cut -d' ' -f1-3)" "total view buyers 3 aov 66.00; summed buyers 4"

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE $DB WITH (FORCE)" \
	-c "DROP ROLE IF EXISTS tap_bi_owner, tap_bi_rep, tap_bi_clerk" </dev/null >/dev/null 2>&1 || true
