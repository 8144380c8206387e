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
run_psql "$DB" -v rows="$ROWS" -f bench/shop.sql </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<'SQL'
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
run_psql "$DB" -c "SELECT concord.metric_rollup_create('daily', '{revenue,paid_count,order_count}', '{region,channel}', 'day', 'Asia/Shanghai')" </dev/null >/dev/null
t1="$(date +%s%N)"
echo "building the daily rollup (revenue, paid_count, order_count by region and channel): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}') ms, $(run_psql "$DB" -At -c "SELECT row_count FROM concord.metric_rollup" </dev/null) rows"
compare timed "a dashboard of 20 metric questions, from the rollup" "from the base tables" \
	postgres "SELECT dashboard(true)" postgres "SELECT dashboard(false)" "0.05x (20x faster)"
echo "   from the rollup: $(awk -v a="$COMPARE_A" -v b="$COMPARE_B" 'BEGIN {printf "%.0f", b / a}')x faster (target >= 20x)"
run_psql "$DB" -c "INSERT INTO shop.orders SELECT $ROWS + g, 1 + g % 20000, timestamptz '2026-12-30 12:00+08' + g * interval '1 second', '线上', 'paid', 500 FROM generate_series(1, 1000) g" </dev/null >/dev/null
t0="$(date +%s%N)"
run_psql "$DB" -c "SELECT concord.metric_rollup_refresh('daily')" </dev/null >/dev/null
t1="$(date +%s%N)"
echo "refreshing the rollup after 1,000 new orders (incremental, from the day of the first): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}') ms"
