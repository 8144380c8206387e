#!/usr/bin/env bash
#
# bench/metric_dashboard.sh — a dashboard of 20 metric questions answered
# from a rollup vs from the base tables.
#
# Starts its own cluster (tmp/bench-dashboard, port 54384), makes N orders
# (default 5,000,000) of 20,000 customers, defines the metrics, and a
# daily rollup by region and channel (Asia/Shanghai).  The dashboard is 20
# calls of concord.metric_query (grains from day to year, dimensions,
# filters, ratios, period over period), all run in one session; it is
# timed with use_rollups => true and => false, alternating, three runs of
# each (BENCH_RUNS), and both must give the same answers (an md5 of all
# rows).  Target: from rollups >= 20x faster.  Also printed: the time to
# build the rollup, and to refresh it after 1,000 new orders.
#
#   bash bench/metric_dashboard.sh
#   BENCH_ROWS=1000000 bash bench/metric_dashboard.sh

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-dashboard
ROWS="${BENCH_ROWS:-5000000}"
DB=concord_bench
export BENCH_RUNS="${BENCH_RUNS:-3}"

CLUSTER_EXTRA_CONF="shared_buffers = 1GB
work_mem = 64MB
max_parallel_workers_per_gather = 0" bench_cluster "$RUN" 54384
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" -v rows="$ROWS" </dev/null >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION concord;
CREATE SCHEMA shop;
CREATE TABLE shop.customer AS
  SELECT g AS id, (ARRAY['华东','华北','华南','华中','西南','西北','东北'])[1 + g % 7] AS region,
         CASE WHEN g % 5 = 0 THEN '企业' ELSE '个人' END AS segment
  FROM generate_series(1, 20000) g;
ALTER TABLE shop.customer ADD PRIMARY KEY (id);
CREATE TABLE shop.orders AS
  SELECT g AS id, 1 + (g::bigint * 7919) % 20000 AS customer_id,
         timestamptz '2026-01-01 00:00+08' + make_interval(secs => (g::bigint * 15551) % (365 * 86400)) AS ordered_at,
         (ARRAY['线上','门店','电话'])[1 + g % 3] AS channel,
         CASE WHEN g % 10 = 0 THEN 'cancelled' WHEN g % 13 = 0 THEN 'refunded' ELSE 'paid' END AS status,
         (100 + (g::bigint * 37) % 900)::numeric(12,2) AS amount
  FROM generate_series(1, :rows) g;
ALTER TABLE shop.orders ADD PRIMARY KEY (id);
VACUUM ANALYZE shop.customer;
VACUUM ANALYZE shop.orders;
SELECT concord.model_define('orders', 'shop.orders', 'ordered_at', '{"channel": "channel", "status": "status"}'),
       concord.model_define('customer', 'shop.customer', NULL, '{"region": "region", "segment": "segment"}');
SELECT concord.model_join('orders', 'customer', 'customer_id', 'id');
SELECT concord.metric_define('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount', filter => $$status = 'paid'$$),
       concord.metric_define('paid_count', 'simple', model => 'orders', agg => 'count', filter => $$status = 'paid'$$),
       concord.metric_define('order_count', 'simple', model => 'orders', agg => 'count');
SELECT concord.metric_define('aov', 'ratio', numerator => 'revenue', denominator => 'paid_count'),
       concord.metric_define('paid_share', 'ratio', numerator => 'paid_count', denominator => 'order_count'),
       concord.metric_define('revenue_mom', 'period_over_period', base => 'revenue', offset_by => '1 month', calc => 'growth_pct');

-- the dashboard: 20 questions; an md5 of every answer row
-- (metric_query's NOTICEs about uncertified metrics are not the point here)
CREATE FUNCTION dashboard(rollups boolean) RETURNS text LANGUAGE plpgsql SET client_min_messages = warning AS $fn$
DECLARE
  q text[] := ARRAY[
    $q$'{revenue}', '{}', 'month'$q$,
    $q$'{revenue}', '{region}', 'month'$q$,
    $q$'{revenue}', '{channel}', 'month'$q$,
    $q$'{aov}', '{region}'$q$,
    $q$'{order_count}', '{channel}', 'quarter'$q$,
    $q$'{paid_count}', '{}', 'week'$q$,
    $q$'{revenue}', '{}', 'month', filters => $f$channel = '线上'$f$$q$,
    $q$'{revenue}', from_date => '2026-01-01', to_date => '2026-06-30'$q$,
    $q$'{aov}', '{}', 'month'$q$,
    $q$'{revenue}', '{region}', 'year'$q$,
    $q$'{order_count}', '{region,channel}'$q$,
    $q$'{paid_share}', '{region}'$q$,
    $q$'{revenue}', '{}', 'quarter', filters => $f$region IN ('华东', '华南')$f$$q$,
    $q$'{revenue,revenue_mom}', '{}', 'month', from_date => '2026-02-01', to_date => '2026-12-31'$q$,
    $q$'{revenue}', '{}', 'day', from_date => '2026-03-01', to_date => '2026-03-31'$q$,
    $q$'{aov}', '{channel}', 'quarter'$q$,
    $q$'{order_count}', '{}', 'week', from_date => '2026-01-05', to_date => '2026-03-29'$q$,
    $q$'{revenue}', '{region}', 'day', from_date => '2026-06-01', to_date => '2026-06-07'$q$,
    $q$'{paid_share}', '{channel}', 'month'$q$,
    $q$'{revenue,order_count,aov}', '{region,channel}', 'quarter'$q$];
  x text;
  acc text := '';
  part text;
BEGIN
  FOREACH x IN ARRAY q LOOP
    EXECUTE format('SELECT string_agg(j::text, %L ORDER BY j::text) FROM concord.metric_query(%s, time_zone => %L, use_rollups => %L) j',
                   '|', x, 'Asia/Shanghai', rollups) INTO part;
    acc := acc || md5(coalesce(part, ''));
  END LOOP;
  RETURN md5(acc);
END
$fn$;
SQL

. bench/compare.sh

echo "bench/metric_dashboard: $ROWS orders, $(nproc) cores, parallel query off (one core per query)"
t0="$(date +%s%N)"
run_psql "$DB" -c "SELECT concord.metric_rollup('daily', '{revenue,paid_count,order_count}', '{region,channel}', 'day', 'Asia/Shanghai')" </dev/null >/dev/null
t1="$(date +%s%N)"
echo "building the daily rollup (revenue, paid_count, order_count by region and channel): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}') ms, $(run_psql "$DB" -At -c "SELECT row_count FROM concord.metric_rollup" </dev/null) rows"
compare timed "a dashboard of 20 metric questions, from the rollup" "from the base tables" \
	postgres "SELECT dashboard(true)" postgres "SELECT dashboard(false)" "0.05x (20x faster)"
run_psql "$DB" -c "INSERT INTO shop.orders SELECT $ROWS + g, 1 + g % 20000, timestamptz '2026-12-30 12:00+08' + g * interval '1 second', '线上', 'paid', 500 FROM generate_series(1, 1000) g" </dev/null >/dev/null
t0="$(date +%s%N)"
run_psql "$DB" -c "SELECT concord.metric_rollup_refresh('daily')" </dev/null >/dev/null
t1="$(date +%s%N)"
echo "refreshing the rollup after 1,000 new orders (incremental, from the day of the first): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}') ms"
