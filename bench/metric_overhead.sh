#!/usr/bin/env bash
#
# bench/metric_overhead.sh — what asking a metric by name costs on top of
# the same question written by hand, on tiny data (the jaffle_shop seeds,
# test/fixtures/jaffle_shop), in a warm session: the cost metric_query
# adds per call.  Target (issue 21): <= 0.3 ms per call.
#
# Starts its own cluster (tmp/bench-overhead, port 54541), loads the seeds
# and the tutorial's models and metrics (test/metric/jaffle.psql), and for
# each question runs pgbench in one session (one client, the simple query
# protocol, as a report tool sends its text; BENCH_CALLS calls, default
# 2000, after 200 to warm up), alternating metric_query and the question
# by hand, BENCH_RUNS times (default 3); prints the median latency of
# each side, their difference (the overhead) and ratio.  Both sides must
# give the same rows.  Then what metric_query keeps saves: writing the SQL
# of a question (concord.metric_sql_build, what every call did before)
# against metric_sql answering it from what it kept.
#
#   bash bench/metric_overhead.sh
#   BENCH_CALLS=500 BENCH_RUNS=1 bash bench/metric_overhead.sh   (a quick run)

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-overhead
DB=concord_bench
CALLS="${BENCH_CALLS:-2000}"
RUNS="${BENCH_RUNS:-3}"

CLUSTER_EXTRA_CONF="max_parallel_workers_per_gather = 0" bench_cluster "$RUN" 54541
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" \
	-c "SET concord_test.repo = '$REPO'" -v jaffle_models_as_caller=1 -f test/metric/jaffle.psql </dev/null >/dev/null
# (uncertified metrics: a NOTICE per call would be timed as well; certified, none)
run_psql "$DB" -c "SET client_min_messages = warning" \
	-c "SELECT concord.metric_certify(name) FROM concord.metric_latest ORDER BY name" </dev/null >/dev/null

work="$(run_dir "$RUN")/pgbench"
mkdir -p "$work"
chmod 0777 "$work"

# Median latency (ms) of a query run CALLS times in one session by pgbench.
latency() {
	local file="$work/q.sql" out
	printf '%s;\n' "$1" >"$file"
	out="$("$PGBIN/pgbench" -n -M simple -c 1 -t "$CALLS" -f "$file" "$DB" 2>&1)" ||
		{ echo "$out" >&2; exit 1; }
	sed -nE 's/^latency average = ([0-9.]+) ms$/\1/p' <<<"$out"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
rows() { run_psql "$DB" -At -c "SELECT string_agg(x::text, ';') FROM ($1) x" </dev/null; }

# question label asked by_hand: both timed, alternating; the overhead
question() {
	local label="$1" asked="$2" hand="$3" a=() b=() ma mb ra rb
	ra="$(rows "SELECT * FROM ($asked) q")"
	rb="$(rows "SELECT row_to_json(h)::jsonb FROM ($hand) h")"
	if [[ "$ra" != "$rb" ]]; then
		echo "bench/metric_overhead: WRONG RESULT for $label: $ra vs $rb" >&2
		exit 1
	fi
	CALLS=200 latency "$asked" >/dev/null
	CALLS=200 latency "$hand" >/dev/null
	for ((r = 0; r < RUNS; r++)); do
		a+=("$(latency "$asked")")
		b+=("$(latency "$hand")")
	done
	ma="$(printf '%s\n' "${a[@]}" | median)"
	mb="$(printf '%s\n' "${b[@]}" | median)"
	printf '%s: %s ms (by hand %s ms, ratio %sx)\n' "$label" "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')"
	printf '   overhead per call: %s ms (target <= 0.3 ms)\n' "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", a - b}')"
}

echo "bench/metric_overhead: jaffle_shop seeds (99 orders, 113 payments), $(nproc) cores, $CALLS calls x $RUNS runs a side, one session"
question "1. revenue by month (payments dated by their order)" \
	"SELECT * FROM concord.metric_query('{revenue}', grain => 'month')" \
	"SELECT date_trunc('month', o.order_date)::date AS metric_time, sum(p.amount) AS revenue
	   FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1 ORDER BY 1"
question "2. orders by status" \
	"SELECT * FROM concord.metric_query('{order_count}', '{status}')" \
	"SELECT status, count(*) AS order_count FROM jaffle.orders GROUP BY 1 ORDER BY 1"
question "3. revenue, orders and average order value by month (two models, a ratio)" \
	"SELECT * FROM concord.metric_query('{revenue,order_count,average_order_value}', grain => 'month')" \
	"SELECT r.m AS metric_time, r.revenue, o.n AS order_count, r.revenue / NULLIF(o.n, 0) AS average_order_value
	   FROM (SELECT date_trunc('month', o.order_date)::date AS m, sum(p.amount) AS revenue
	           FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1) r
	   JOIN (SELECT date_trunc('month', order_date)::date AS m, count(*) AS n FROM jaffle.orders GROUP BY 1) o ON o.m = r.m
	  ORDER BY 1"
question "4. active customers in March" \
	"SELECT * FROM concord.metric_query('{active_customers}', from_date => '2018-03-01', to_date => '2018-03-31')" \
	"SELECT count(DISTINCT customer_id) AS active_customers FROM jaffle.orders
	  WHERE order_date >= '2018-03-01' AND order_date < '2018-04-01'"

# writing the SQL (every call, before it was kept) vs answering from what is kept
build="$(latency "SELECT concord.metric_sql_build('{revenue,order_count,average_order_value}', '{}', 'month', NULL, NULL, NULL, NULL, NULL, NULL, true, false)")"
kept="$(latency "SELECT concord.metric_sql('{revenue,order_count,average_order_value}', grain => 'month')")"
printf 'metric_sql of question 3, kept: %s ms (written anew each call %s ms, ratio %sx)\n' "$kept" "$build" \
	"$(awk -v a="$kept" -v b="$build" 'BEGIN {printf "%.2f", a / b}')"
