#!/usr/bin/env bash
#
# bench/worker.sh — the outbox worker and http_batch, side by side with
# pg_net in the same run, on the same cluster and the same receiver.
#
# Starts its own cluster (tmp/bench-worker, port 54510, fsync and
# synchronous_commit on, concord and -- when its library is installed in
# this PostgreSQL -- pg_net preloaded, pg_net.database_name the bench's
# database) and a webhook receiver on 127.0.0.1 (bench/receiver.js,
# Node.js).  Every setting is its default (concord.http_max_connections
# 32: the worker's requests at once); endpoints are signed with a secret.
# Prints one line per figure, "name: value unit (baseline value unit, ratio
# N.NNx)", ratio = value / baseline:
#   throughput_idle, cpu_per_message_idle: N messages (default 20,000)
#     committed in one transaction to an endpoint defined with
#     max_in_flight => 32 (the worker's whole default capacity), from the
#     commit until the last is delivered, and the worker's CPU time (utime
#     + stime) per message; pg_net: the same POSTs by net.http_post (its
#     defaults: batch_size 200), until all have a response;
#   throughput_idle_max_in_flight_8: the same to an endpoint with the
#     default max_in_flight (8 requests at once);
#   throughput_hog, cpu_per_message_hog, throughput_hog_max_in_flight_8:
#     the same while a busy loop runs on each core (started and stopped by
#     this script, by their PIDs);
#   healthy_p99_while_hanging, healthy_p99_while_2s: 300 messages to a
#     healthy endpoint, one per transaction (about 50 a second), while
#     another endpoint hangs (its receiver never answers) or answers in 2 s,
#     each with a backlog of messages; p99 from the enqueue to the
#     receipt, as the receiver measures it (target: <= 100 ms);
#   http_batch_1000x20ms: 1,000 GETs of a 20 ms endpoint by one
#     concord.http_batch call with the default caps (32, 8 per host),
#     against the theory (1000 x 20 ms / 8 = 2.5 s; target within 1.2x)
#     and against pg_net with pg_net.batch_size 1000 (which sends its
#     whole batch at once: http_batch_1000x20ms_1000_at_once is the same
#     call with max_connections and max_host_connections 1000);
#   http_batch_100_quick_one_connection: 100 quick GETs by http_batch with
#     max_connections => 1, against a loop of concord.http_get.
# pg_net is not part of concord and is never built by this script: without
# its library the pg_net figures are left out.
#
#   bash bench/worker.sh
#   BENCH_MESSAGES=5000 bash bench/worker.sh

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-worker
N="${BENCH_MESSAGES:-20000}"
DB=concord_bench
PGNET=0
[[ -f "$("$PG_CONFIG" --pkglibdir)/pg_net.so" ]] && PGNET=1
PRELOAD="$CONCORD_EXT"
((PGNET)) && PRELOAD="$CONCORD_EXT,pg_net"

HOGS=()
RECV_PID=""
# shellcheck disable=SC2317  # called through the EXIT trap
finish() {
	((${#HOGS[@]})) && kill "${HOGS[@]}" 2>/dev/null
	[[ -n "$RECV_PID" ]] && kill "$RECV_PID" 2>/dev/null
	stop_all "$RUN" >/dev/null 2>&1 || true
}
CLUSTER_PRELOAD="$PRELOAD" CLUSTER_EXTRA_CONF="synchronous_commit = on
fsync = on
pg_net.database_name = '$DB'" bench_cluster "$RUN" 54510
trap finish EXIT
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs >/dev/null; }
recv_out="$(run_dir "$RUN")/receiver.port"
node bench/receiver.js >"$recv_out" 2>/dev/null &
RECV_PID=$!
record_pid "$RUN" receiver "$RECV_PID"
for ((i = 0; i < 50; i++)); do [[ -s "$recv_out" ]] && break; sleep 0.1; done
RP="$(head -n 1 "$recv_out")"
R="http://127.0.0.1:$RP"

run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION concord;
SELECT concord.http_allow_host('127.0.0.1', $RP, allow_private => true);
SELECT concord.secret_set('bench_key', 'bench-key-0123456789abcdef');
SELECT concord.endpoint_create('tp_warm', '$R/hook/tp_warm', 'bench_key', max_in_flight => 32);
SELECT concord.endpoint_create('tp_idle', '$R/hook/tp_idle', 'bench_key', max_in_flight => 32);
SELECT concord.endpoint_create('tp_hog', '$R/hook/tp_hog', 'bench_key', max_in_flight => 32);
SELECT concord.endpoint_create('tp_idle8', '$R/hook/tp_idle8', 'bench_key');
SELECT concord.endpoint_create('tp_hog8', '$R/hook/tp_hog8', 'bench_key');
SELECT concord.endpoint_create('hang', '$R/hang/hang', 'bench_key', timeout_ms => 60000);
SELECT concord.endpoint_create('slow', '$R/slow/2000/slow', 'bench_key');
SELECT concord.endpoint_create('healthy_hang', '$R/hook/healthy_hang', 'bench_key');
SELECT concord.endpoint_create('healthy_slow', '$R/hook/healthy_slow', 'bench_key');
SQL
if ((PGNET)); then
	run_psql "$DB" -c "CREATE EXTENSION pg_net" </dev/null >/dev/null
fi
q() { run_psql "$DB" -At -c "$1" </dev/null; }
ms() { date +%s%3N; }
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[[ "$(q "$1")" == t ]] && return 0
		sleep 0.05
	done
	return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# name value unit baseline_value baseline_unit baseline_name
line() {
	if [[ -n "$4" && "$4" != "-" ]]; then
		printf '%s: %s %s (%s %s %s, ratio %s)\n' "$1" "$2" "$3" "$6" "$4" "$5" \
			"$(awk -v a="$2" -v b="$4" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }')"
	else
		printf '%s: %s %s (%s: not measured)\n' "$1" "$2" "$3" "$6"
	fi
}
wait_for "SELECT count(*) = 1 FROM concord.monitor_worker" 30 || die "no concord worker in $DB"
CW="$(q "SELECT pid FROM concord.monitor_worker")"
PW=""
if ((PGNET)); then
	wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type ILIKE '%pg_net%'" 30 || die "no pg_net worker"
	PW="$(q "SELECT pid FROM pg_stat_activity WHERE backend_type ILIKE '%pg_net%'")"
fi
echo "bench/worker: $(nproc) cores, PostgreSQL $(q 'SHOW server_version'), fsync and synchronous_commit on; receiver bench/receiver.js (Node.js $(node --version)); pg_net: $(((PGNET)) && q "SELECT extversion FROM pg_extension WHERE extname = 'pg_net'" || echo 'not installed in this PostgreSQL')"

# concord: N messages to endpoint $1; sets RATE, CPUMS
concord_throughput() {
	local ep="$1" t0 t1 c0 c1
	c0="$(cpu_ticks "$CW")"
	q "SELECT count(concord.outbox_enqueue('$ep', jsonb_build_object('n', g, 'contract', 'HT-' || g))) FROM generate_series(1, $N) g" >/dev/null
	t0="$(ms)"
	wait_for "SELECT count(*) = $N FROM concord.outbox WHERE endpoint = '$ep' AND status = 'delivered'" 600 || die "not all delivered"
	t1="$(ms)"
	c1="$(cpu_ticks "$CW")"
	RATE="$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / ((b - a) / 1000)}')"
	CPUMS="$(awk -v n="$N" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", c * 1000 / hz / n}')"
}
# pg_net: N POSTs to hook $1; sets PRATE, PCPUMS
pgnet_throughput() {
	local hook="$1" t0 t1 c0 c1 before
	PRATE="-" PCPUMS="-"
	((PGNET)) || return 0
	before="$(q "SELECT count(*) FROM net._http_response")"
	c0="$(cpu_ticks "$PW")"
	q "SELECT count(net.http_post('$R/hook/$hook', jsonb_build_object('n', g, 'contract', 'HT-' || g))) FROM generate_series(1, $N) g" >/dev/null
	t0="$(ms)"
	wait_for "SELECT count(*) >= $before + $N FROM net._http_response" 600 || die "pg_net did not answer them all"
	t1="$(ms)"
	c1="$(cpu_ticks "$PW")"
	PRATE="$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / ((b - a) / 1000)}')"
	PCPUMS="$(awk -v n="$N" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", c * 1000 / hz / n}')"
}

# 0. a warm-up (caches, connections, the first autovacuum of the outbox), not reported
N_REAL="$N"
N=$((N / 10))
concord_throughput tp_warm
pgnet_throughput pgnet_warm
N="$N_REAL"
q "VACUUM ANALYZE concord.outbox" >/dev/null

# 1. throughput, idle
concord_throughput tp_idle
pgnet_throughput pgnet_idle
line throughput_idle "$RATE" msg/s "$PRATE" msg/s pg_net
line cpu_per_message_idle "$CPUMS" ms "$PCPUMS" ms pg_net
concord_throughput tp_idle8
line throughput_idle_max_in_flight_8 "$RATE" msg/s "$PRATE" msg/s pg_net

# 2. throughput with a busy loop on each core
for ((i = 0; i < $(nproc); i++)); do
	bash -c 'while :; do :; done' &
	HOGS+=($!)
	record_pid "$RUN" hog "$!"
done
concord_throughput tp_hog
pgnet_throughput pgnet_hog
line throughput_hog "$RATE" msg/s "$PRATE" msg/s pg_net
line cpu_per_message_hog "$CPUMS" ms "$PCPUMS" ms pg_net
concord_throughput tp_hog8
line throughput_hog_max_in_flight_8 "$RATE" msg/s "$PRATE" msg/s pg_net
kill "${HOGS[@]}" 2>/dev/null || true
HOGS=()

# 3. a healthy endpoint while another hangs or answers in 2 s
sqlfile="$(run_dir "$RUN")/healthy.sql"
# healthy_run ENDPOINT_OR_URL: 300 one-message transactions, ~50 a second
healthy_run() {
	local target="$1" kind="$2"
	for ((i = 1; i <= 300; i++)); do
		if [[ "$kind" == concord ]]; then
			echo "SELECT concord.outbox_enqueue('$target', jsonb_build_object('n', $i, 'sent_ms', (extract(epoch FROM clock_timestamp()) * 1000)::bigint));"
		else
			echo "SELECT net.http_post('$target', jsonb_build_object('n', $i, 'sent_ms', (extract(epoch FROM clock_timestamp()) * 1000)::bigint));"
		fi
		echo "SELECT pg_sleep(0.02);"
	done >"$sqlfile"
	chmod a+r "$sqlfile"
	run_psql "$DB" -f "$sqlfile" </dev/null >/dev/null
}
p99() { curl -s "$R/received/$1/latency" | sed -E 's/.*"p99_ms": ?([0-9null]+).*/\1/'; }
q "SELECT count(concord.outbox_enqueue('hang', jsonb_build_object('n', g))) FROM generate_series(1, 100) g" >/dev/null
sleep 1
healthy_run healthy_hang concord
wait_for "SELECT count(*) = 300 FROM concord.outbox WHERE endpoint = 'healthy_hang' AND status = 'delivered'" 120 || die "healthy messages not delivered"
C_HANG="$(p99 healthy_hang)"
P_HANG="-"
if ((PGNET)); then
	q "SELECT count(net.http_post('$R/hang/pgnet_hang', jsonb_build_object('n', g), timeout_milliseconds => 60000)) FROM generate_series(1, 100) g" >/dev/null
	sleep 1
	healthy_run "$R/hook/pgnet_healthy_hang" pgnet
	for ((i = 0; i < 1200; i++)); do
		[[ "$(curl -s "$R/received/pgnet_healthy_hang/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')" -ge 300 ]] && break
		sleep 0.1
	done
	P_HANG="$(p99 pgnet_healthy_hang)"
fi
line healthy_p99_while_hanging "$C_HANG" ms "$P_HANG" ms pg_net

q "SELECT concord.endpoint_drop('hang', discard_pending => true)" >/dev/null
q "SELECT count(concord.outbox_enqueue('slow', jsonb_build_object('n', g))) FROM generate_series(1, 200) g" >/dev/null
sleep 1
healthy_run healthy_slow concord
wait_for "SELECT count(*) = 300 FROM concord.outbox WHERE endpoint = 'healthy_slow' AND status = 'delivered'" 120 || die "healthy messages not delivered"
C_SLOW="$(p99 healthy_slow)"
P_SLOW="-"
if ((PGNET)); then
	q "SELECT count(net.http_post('$R/slow/2000/pgnet_slow', jsonb_build_object('n', g), timeout_milliseconds => 60000)) FROM generate_series(1, 200) g" >/dev/null
	sleep 1
	healthy_run "$R/hook/pgnet_healthy_slow" pgnet
	for ((i = 0; i < 1200; i++)); do
		[[ "$(curl -s "$R/received/pgnet_healthy_slow/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')" -ge 300 ]] && break
		sleep 0.1
	done
	P_SLOW="$(p99 pgnet_healthy_slow)"
fi
line healthy_p99_while_2s "$C_SLOW" ms "$P_SLOW" ms pg_net
q "SELECT concord.endpoint_drop('slow', discard_pending => true)" >/dev/null

# 4. http_batch
batch_ms() {
	q "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000) FROM (SELECT clock_timestamp() AS t) s,
	     LATERAL (SELECT count(*) FROM concord.http_batch(ARRAY(SELECT ROW('GET', '$1', NULL, NULL, NULL, NULL)::concord.http_request
	                                                            FROM generate_series(1, $2))$3)) b"
}
B="$(batch_ms "$R/delay/20" 1000 "")"
line http_batch_1000x20ms "$B" ms 2500 ms "theory (1000 x 20 ms / 8 per host)"
if ((PGNET)); then
	run_psql postgres -c "ALTER SYSTEM SET pg_net.batch_size = 1000" -c "SELECT pg_reload_conf()" </dev/null >/dev/null
	sleep 1
	before="$(q "SELECT count(*) FROM net._http_response")"
	t0="$(ms)"
	q "SELECT count(net.http_get('$R/delay/20')) FROM generate_series(1, 1000)" >/dev/null
	wait_for "SELECT count(*) >= $before + 1000 FROM net._http_response" 120 || die "pg_net did not answer the batch"
	t1="$(ms)"
	line http_batch_1000x20ms "$B" ms "$((t1 - t0))" ms "pg_net with batch_size 1000"
	U="$(batch_ms "$R/delay/20" 1000 ", max_connections => 1000, max_host_connections => 1000")"
	line http_batch_1000x20ms_1000_at_once "$U" ms "$((t1 - t0))" ms "pg_net with batch_size 1000"
fi
Q="$(batch_ms "$R/delay/0" 100 ", max_connections => 1")"
L="$(q "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000) FROM (SELECT clock_timestamp() AS t) s,
         LATERAL (SELECT count(concord.http_get('$R/delay/0')) FROM generate_series(1, 100)) g")"
line http_batch_100_quick_one_connection "$Q" ms "$L" ms "a loop of concord.http_get"
