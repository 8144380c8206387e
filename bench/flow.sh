#!/usr/bin/env bash
#
# bench/flow.sh — outbox delivery: throughput, latency, and a crash.
#
# Starts its own cluster (tmp/bench-flow, port 54386, synchronous_commit
# and fsync on: a committed message must survive a crash) and a webhook
# receiver on 127.0.0.1 (bench/receiver.js, Node.js: the Python stub of the
# tests is slower than the outbox), then prints:
#   1. throughput: N messages (default 20,000) enqueued in one transaction,
#      from its commit until the last is delivered (messages/s), side by
#      side with the same kind of POST made by synchronous
#      concord.http_post calls from one session;
#   2. latency: 2,000 messages, one per transaction, back to back; p50 and
#      p99 from the commit to the receipt (the body carries the time it was
#      enqueued, the receiver subtracts it from its arrival), and of
#      delivered_at - enqueued_at (to the 2xx recorded);
#   3. the crash test: 100,000 messages (BENCH_CRASH) enqueued; once the
#      receiver has a tenth of them, the postmaster and every process of
#      the cluster are killed with SIGKILL by their PIDs; the cluster is
#      started again and the worker finishes.  The receiver must have every
#      idempotency key; duplicates (messages sent again because their 2xx
#      was not recorded before the kill) are counted.  Target: >= 2,000/s;
#      none lost.
#
#   bash bench/flow.sh
#   BENCH_MESSAGES=5000 BENCH_CRASH=20000 bash bench/flow.sh

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-flow
N="${BENCH_MESSAGES:-20000}"
CRASH="${BENCH_CRASH:-100000}"
DB=concord_bench

CLUSTER_EXTRA_CONF="synchronous_commit = on
fsync = on
concord.worker_naptime_ms = 1000
concord.http_max_host_connections = 16" bench_cluster "$RUN" 54386
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs >/dev/null; }
recv_out="$(run_dir "$RUN")/receiver.port"
node bench/receiver.js >"$recv_out" 2>/dev/null &
recv_pid=$!
record_pid "$RUN" receiver "$recv_pid"
# shellcheck disable=SC2064
trap "kill $recv_pid 2>/dev/null; stop_all '$RUN' >/dev/null 2>&1 || true" EXIT
for ((i = 0; i < 50; i++)); do [[ -s "$recv_out" ]] && break; sleep 0.1; done
STUB_PORT="$(head -n 1 "$recv_out")"
STUB_URL="http://127.0.0.1:$STUB_PORT"
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION concord;
SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true);
SELECT concord.secret_set('bench_key', 'bench-key-0123456789abcdef');
SELECT concord.endpoint_create('bench', '$STUB_URL/hook/bench', 'bench_key', max_in_flight => 256);
SELECT concord.endpoint_create('latency', '$STUB_URL/hook/latency', 'bench_key', max_in_flight => 256);
SELECT concord.endpoint_create('crash', '$STUB_URL/hook/crash', 'bench_key', max_in_flight => 256);
SQL
q() { run_psql "$DB" -At -c "$1" </dev/null; }
ms() { date +%s%3N; }
# wait until query returns t (at most $2 seconds)
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ "$(q "$1")" == t ]] && return 0
		sleep 0.1
	done
	return 1
}
wait_for "SELECT count(*) = 1 FROM concord.monitor_worker" 30 || die "no concord worker in $DB"

echo "bench/flow: $(nproc) cores; receiver: bench/receiver.js (Node.js $(node --version)) on 127.0.0.1"

# 1. throughput
t0="$(ms)"
q "SELECT count(concord.outbox_enqueue('bench', jsonb_build_object('n', g, 'contract', 'HT-' || g))) FROM generate_series(1, $N) g" >/dev/null
t1="$(ms)"
wait_for "SELECT count(*) = $N FROM concord.outbox WHERE endpoint = 'bench' AND status = 'delivered'" 600 || die "not all delivered"
t2="$(ms)"
got="$(curl -s "$STUB_URL/received/bench/summary")"
rate="$(awk -v n="$N" -v a="$t1" -v b="$t2" 'BEGIN {printf "%.0f", n / ((b - a) / 1000)}')"
echo "1. $N messages enqueued in one transaction in $((t1 - t0)) ms; delivered $((t2 - t1)) ms after the commit: $rate messages/s (target >= 2,000); receiver: $got"
NS=$((N / 10))
t0="$(ms)"
q "SELECT count(concord.http_post('$STUB_URL/hook/sync', jsonb_build_object('n', g, 'contract', 'HT-' || g))) FROM generate_series(1, $NS) g" >/dev/null
t1="$(ms)"
srate="$(awk -v n="$NS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / ((b - a) / 1000)}')"
echo "   the same POSTs by synchronous concord.http_post from one session: $NS in $((t1 - t0)) ms, $srate/s; the outbox is $(awk -v a="$rate" -v b="$srate" 'BEGIN {printf "%.1f", a / b}')x that"

# 2. latency, one message per transaction
sqlfile="$(run_dir "$RUN")/latency.sql"
for ((i = 1; i <= 2000; i++)); do
	echo "SELECT concord.outbox_enqueue('latency', jsonb_build_object('n', $i, 'sent_ms', (extract(epoch FROM clock_timestamp()) * 1000)::bigint));"
done >"$sqlfile"
chmod a+r "$sqlfile"
run_psql "$DB" -f "$sqlfile" </dev/null >/dev/null
wait_for "SELECT count(*) = 2000 FROM concord.outbox WHERE endpoint = 'latency' AND status = 'delivered'" 120 || die "latency run not delivered"
echo "2. 2,000 messages, one per transaction: commit to receipt $(curl -s "$STUB_URL/received/latency/latency");"
echo "   commit to delivery recorded: $(q "SELECT format('p50 %s ms, p99 %s ms, max %s ms',
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - enqueued_at) * 1000)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - enqueued_at) * 1000)::numeric, 1),
    round(max(extract(epoch FROM delivered_at - enqueued_at) * 1000)::numeric, 1))
  FROM concord.outbox WHERE endpoint = 'latency'")"

# 3. crash
q "SELECT count(concord.outbox_enqueue('crash', jsonb_build_object('n', g), 'crash-' || g)) FROM generate_series(1, $CRASH) g" >/dev/null
for ((i = 0; i < 6000; i++)); do
	c="$(curl -s "$STUB_URL/received/crash/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
	((c >= CRASH / 10)) && break
	sleep 0.05
done
cluster_kill9 "$RUN"
before="$(curl -s "$STUB_URL/received/crash/summary")"
echo "3. killed the postmaster (${CRASH_KILLED[0]}) and its $((${#CRASH_KILLED[@]} - 1)) processes with SIGKILL once the receiver had $c; receiver then: $before"
cluster_start_after_kill "$RUN" || die "the cluster did not start again"
t0="$(ms)"
wait_for "SELECT count(*) = $CRASH FROM concord.outbox WHERE endpoint = 'crash' AND status = 'delivered'" 600 || die "not all delivered after the crash"
t1="$(ms)"
after="$(curl -s "$STUB_URL/received/crash/summary")"
echo "   restarted; all $CRASH delivered $((t1 - t0)) ms later; receiver: $after"
distinct="$(echo "$after" | sed -E 's/.*"distinct_keys": ?([0-9]+).*/\1/')"
count="$(echo "$after" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
if ((distinct == CRASH)); then
	echo "   none lost: $distinct distinct keys of $CRASH; $((count - distinct)) delivered twice (sent before the kill, their 2xx not yet recorded)"
else
	echo "   LOST: $((CRASH - distinct)) keys never received" >&2
	exit 1
fi
