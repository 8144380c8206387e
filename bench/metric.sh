#!/usr/bin/env bash
#
# bench/metric.sh — what answering a metric by name costs, measured side by
# side with the same question written by hand.
#
# Starts its own cluster (tmp/bench-metric, port 54383), makes N orders
# (default 1,000,000) of 20,000 customers, with refunds, defines the
# models and metrics, and prints, for each question, the median of five
# runs of each side, alternating, each in its own session: the SQL
# concord.metric_sql() writes vs the SQL an analyst would write, and the
# planner's estimated cost of each (equal costs: the same plan).  Both
# sides must give the same rows.  Target: <= 1.05x.
#   1. revenue and average order value by the customer's region and month
#      (Asia/Shanghai), first half of 2026 (a join, a filter per metric, a
#      ratio);
#   2. revenue by channel for the 企业 segment (a filter over a dimension of
#      a joined model);
#   3. net revenue (revenue less refunds: two models) by quarter.
#
#   bash bench/metric.sh
#   BENCH_ROWS=100000 bash bench/metric.sh

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-metric
ROWS="${BENCH_ROWS:-1000000}"
DB=concord_bench

CLUSTER_EXTRA_CONF="shared_buffers = 512MB
work_mem = 64MB
max_parallel_workers_per_gather = 0" bench_cluster "$RUN" 54383
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" -v rows="$ROWS" -f bench/shop.sql </dev/null >/dev/null

. bench/compare.sh

gen() { run_psql "$DB" -At -c "SELECT concord.metric_sql($1)" </dev/null; }

# The planner's total cost of a query: the same plan costs the same, so the
# ratio of the two sides' costs is a figure this noisy machine cannot blur.
cost() { echo "SELECT pg_temp.plan_cost(:'q')" | run_psql "$DB" -At -v q="$1" -c "
CREATE FUNCTION pg_temp.plan_cost(q text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE j json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
  RETURN (j -> 0 -> 'Plan' ->> 'Total Cost')::numeric;
END \$\$" -f -; }

# question label generated hand-written: both timed, then both costed
question() {
	compare timed "$1" "by hand" postgres "$2" postgres "$3" "1.05x"
	local ca cb
	ca="$(cost "$2")"
	cb="$(cost "$3")"
	printf '   planner cost: %s (by hand %s, ratio %s)\n' "$ca" "$cb" "$(awk -v a="$ca" -v b="$cb" 'BEGIN {printf "%.3f", a / b}')"
}

echo "bench/metric: $ROWS orders, $(nproc) cores, parallel query off (one core per query)"
question "1. revenue and aov by region and month (Shanghai), half a year" \
	"$(gen "'{revenue,aov}', '{region}', 'month', from_date => '2026-01-01', to_date => '2026-06-30', time_zone => 'Asia/Shanghai'")" \
	"SELECT date_trunc('month', o.ordered_at AT TIME ZONE 'Asia/Shanghai')::date AS metric_time, c.region,
	                 sum(o.amount) FILTER (WHERE o.status = 'paid') AS revenue,
	                 sum(o.amount) FILTER (WHERE o.status = 'paid') / NULLIF(count(*) FILTER (WHERE o.status = 'paid'), 0) AS aov
	            FROM shop.orders o LEFT JOIN shop.customer c ON c.id = o.customer_id
	           WHERE o.ordered_at >= timestamptz '2026-01-01 00:00+08' AND o.ordered_at < timestamptz '2026-07-01 00:00+08'
	           GROUP BY 1, 2 ORDER BY 1, 2"
question "2. revenue by channel, 企业 customers only" \
	"$(gen "'{revenue}', '{channel}', filters => \$\$segment = '企业'\$\$")" \
	"SELECT o.channel, sum(o.amount) FILTER (WHERE o.status = 'paid') AS revenue
	            FROM shop.orders o LEFT JOIN shop.customer c ON c.id = o.customer_id
	           WHERE c.segment = '企业' GROUP BY 1 ORDER BY 1"
question "3. net revenue (orders and refunds) by quarter (UTC)" \
	"$(gen "'{net_revenue}', grain => 'quarter', time_zone => 'UTC'")" \
	"WITH r AS (SELECT date_trunc('quarter', ordered_at AT TIME ZONE 'UTC')::date AS q,
	                            sum(amount) FILTER (WHERE status = 'paid') AS revenue FROM shop.orders GROUP BY 1),
	              f AS (SELECT date_trunc('quarter', refunded_at AT TIME ZONE 'UTC')::date AS q, sum(amount) AS refunds
	                      FROM shop.refund GROUP BY 1)
	         SELECT coalesce(r.q, f.q), coalesce(r.revenue, 0) - coalesce(f.refunds, 0) FROM r FULL JOIN f ON f.q = r.q ORDER BY 1"
