#!/usr/bin/env bash
#
# test/flow/worker.sh — the database worker as an operator meets it.  Run
# by test/check.sh on its running cluster (RUN and the stub's STUB_URL,
# STUB_PORT in the environment), it prints TAP.  In a database of its own
# (concord_worker), with processes it starts and stops by their PIDs:
#   - isolation: while one endpoint hangs (a listener this script starts,
#     which accepts and never answers) and another answers in 2 s, a
#     healthy endpoint's messages are delivered promptly; the hanging one
#     never has more connections than its max_in_flight;
#   - an alert due every second is checked on time while the outbox has a
#     backlog;
#   - one duty failing every round (a trigger makes the call log's
#     retention fail) stops neither delivery nor alerts, is logged, and the
#     worker is not restarted for it;
#   - a worker ended by pg_terminate_backend is started again within
#     seconds; the worker's updates reach pg_stat_user_tables;
#   - DROP DATABASE and ALTER DATABASE ... RENAME of a database it serves
#     work without WITH (FORCE); a role that may not drop it does not stop
#     its worker by trying;
#   - http_batch with max_connections => 1 fills its one slot as soon as it
#     frees (100 calls well under the 2 s that 20 ms a call would take);
#   - metrics_text() passes Prometheus' promtool check metrics;
#   - a message committed after later ones were delivered is delivered too
#     (claims look past the last id claimed until a wake says otherwise);
#   - kill -9 of the postmaster alone while the worker drains a backlog:
#     every concord process is gone within a second, the cluster starts
#     again at once, and every message arrives.
# Timing bounds are generous (a loaded machine); bench/worker.sh measures.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_worker
dir="$(run_dir "$RUN")"
data="$dir/data"
log="$dir/postgres.log"
q() { run_psql "$DB" -At -c "$1" </dev/null; }
qp() { run_psql postgres -At -c "$1" </dev/null; }
ms() { date +%s%3N; }
# wait until query returns t (at most $2 seconds)
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ "$(q "$1" 2>/dev/null || true)" == t ]] && return 0
		sleep 0.1
	done
	return 1
}
worker_pid() { q "SELECT pid FROM concord.monitor_worker" 2>/dev/null || true; }
# wait until a concord worker serves database $1 (at most $2 seconds)
wait_served() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ "$(qp "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'concord worker' AND datname = '$1'" 2>/dev/null || true)" == 1 ]] && return 0
		sleep 0.1
	done
	return 1
}
# TAP with one counter: ok_if STATUS DESCRIPTION (0: ok); is_ DESC GOT WANT
N_=0
ok_if() {
	N_=$((N_ + 1))
	if [[ "$1" == 0 ]]; then echo "ok $N_ - $2"; else echo "not ok $N_ - $2"; fi
}
is_() {
	if [[ "$2" == "$3" ]]; then ok_if 0 "$1"; else
		ok_if 1 "$1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
	fi
}
echo "1..18"

HANG_PID=""
cleanup() {
	[[ -n "$HANG_PID" ]] && kill "$HANG_PID" 2>/dev/null || true
	qp "ALTER SYSTEM RESET concord.worker_naptime_ms" >/dev/null 2>&1 || true
	qp "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap cleanup EXIT

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" </dev/null >/dev/null
# a listener that accepts connections and never answers: the hanging endpoint
hang_port_file="$dir/hang.port"
rm -f "$hang_port_file"
python3 - "$hang_port_file" </dev/null >/dev/null 2>&1 <<'PY' &
import socket, sys, threading
def hold(c):
    while c.recv(65536):
        pass
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
PY
HANG_PID=$!
record_pid "$RUN" hang-listener "$HANG_PID"
for ((i = 0; i < 50; i++)); do [[ -s "$hang_port_file" ]] && break; sleep 0.1; done
HANG_PORT="$(cat "$hang_port_file")"
qp "ALTER SYSTEM SET concord.worker_naptime_ms = 1000" >/dev/null
qp "SELECT pg_reload_conf()" >/dev/null
run_psql "$DB" </dev/null >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION concord;
SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true);
SELECT concord.http_allow_host('127.0.0.1', $HANG_PORT, allow_private => true);
SELECT concord.secret_set('t_worker_key', 'worker-key-0123456789');
SELECT concord.endpoint_create('hang', 'http://127.0.0.1:$HANG_PORT/hook', 't_worker_key', max_in_flight => 3, timeout_ms => 60000);
SELECT concord.endpoint_create('slow', '$STUB_URL/delay/2000', 't_worker_key', max_in_flight => 3);
SELECT concord.endpoint_create('good', '$STUB_URL/hook/worker_good', 't_worker_key');
SELECT concord.endpoint_create('drain', '$STUB_URL/hook/worker_drain', 't_worker_key', max_in_flight => 16);
SQL
curl -s -X DELETE "$STUB_URL/received/worker_good" >/dev/null
curl -s -X DELETE "$STUB_URL/received/worker_drain" >/dev/null
wait_for "SELECT count(*) = 1 FROM concord.monitor_worker" 30 || true

# 1-2. isolation
q "SELECT count(concord.outbox_enqueue('hang', jsonb_build_object('n', g))) FROM generate_series(1, 30) g" >/dev/null
q "SELECT count(concord.outbox_enqueue('slow', jsonb_build_object('n', g))) FROM generate_series(1, 300) g" >/dev/null
sleep 1
for ((i = 1; i <= 20; i++)); do
	q "SELECT concord.outbox_enqueue('good', jsonb_build_object('n', $i))" >/dev/null
	sleep 0.05
done
wait_for "SELECT count(*) = 20 FROM concord.outbox WHERE endpoint = 'good' AND status = 'delivered'" 30 || true
worst="$(q "SELECT coalesce(round(max(extract(epoch FROM delivered_at - enqueued_at)) * 1000), -1)
            FROM concord.outbox WHERE endpoint = 'good' AND status = 'delivered' HAVING count(*) = 20")"
if [[ -n "$worst" ]] && ((worst >= 0 && worst < 1000)); then
	ok_if 0 "while one endpoint hangs and another takes 2 s, all 20 messages to a healthy one are delivered, the slowest $worst ms after its commit"
else
	ok_if 1 "a healthy endpoint's messages were held up: $(q "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM concord.outbox WHERE endpoint = 'good' GROUP BY 1) s") (slowest: ${worst:-none} ms)"
fi
conns="$(ss -Htn state established "dport = :$HANG_PORT" 2>/dev/null | wc -l)"
is_ "the hanging endpoint has no more connections than its max_in_flight (3)" "$conns" 3

# 3. alerts on time whatever the backlog (300 messages to the 2 s endpoint wait)
q "SELECT concord.alert_create('t_worker_tick', query => 'SELECT 1 AS x WHERE false', every => '1 second')" >/dev/null
sleep 4
late="$(q "SELECT round(extract(epoch FROM pg_catalog.now() - last_check_at) * 1000) FROM concord.alert_rule WHERE name = 't_worker_tick'")"
pending="$(q "SELECT count(*) FROM concord.outbox WHERE endpoint = 'slow' AND status <> 'delivered'")"
if [[ -n "$late" ]] && ((late < 2500 && pending > 100)); then
	ok_if 0 "an alert due every second was last checked $late ms ago while $pending messages wait in the outbox"
else
	ok_if 1 "the alert was last checked ${late:-never} ms ago ($pending messages waiting)"
fi

# 4-6. a duty that fails every round
pid_before="$(worker_pid)"
log_from="$(stat -c %s "$log")"
run_psql "$DB" </dev/null >/dev/null <<'SQL'
CREATE FUNCTION public.t_worker_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 't_worker: retention refused on purpose'; END $$;
CREATE TRIGGER t_worker_refuse BEFORE DELETE ON concord.http_call_log
  FOR EACH STATEMENT EXECUTE FUNCTION public.t_worker_refuse();
SQL
sleep 2.5
q "SELECT concord.outbox_enqueue('good', '{\"after\": \"the failing duty\"}')" >/dev/null
tick_before="$(q "SELECT last_check_at FROM concord.alert_rule WHERE name = 't_worker_tick'")"
delivered=f
wait_for "SELECT count(*) = 21 FROM concord.outbox WHERE endpoint = 'good' AND status = 'delivered'" 10 && delivered=t
is_ "with the retention duty failing every round, a new message is still delivered" "$delivered" t
sleep 1.5
is_ "and the alert is still checked, by the same worker process" \
	"$(q "SELECT last_check_at > '$tick_before' FROM concord.alert_rule WHERE name = 't_worker_tick'")/$(worker_pid)" "t/$pid_before"
failures="$(tail -c +"$((log_from + 1))" "$log" | grep -c 'concord worker: concord: trimming http_call_log failed: t_worker: retention refused on purpose' || true)"
if ((failures >= 2)); then
	ok_if 0 "the failure is logged at every round ($failures times), naming the duty"
else
	ok_if 1 "the failing duty was logged $failures times"
fi
q "DROP TRIGGER t_worker_refuse ON concord.http_call_log; DROP FUNCTION public.t_worker_refuse()" >/dev/null

# 7-8. restarted within seconds; statistics reach pg_stat_user_tables
t0="$(ms)"
qp "SELECT pg_terminate_backend($pid_before)" >/dev/null
new=""
for ((i = 0; i < 100; i++)); do
	new="$(worker_pid)"
	[[ -n "$new" && "$new" != "$pid_before" ]] && break
	sleep 0.1
done
t1="$(ms)"
if [[ -n "$new" && "$new" != "$pid_before" ]] && ((t1 - t0 < 5000)); then
	ok_if 0 "a worker ended by pg_terminate_backend is started again $((t1 - t0)) ms later (PID $pid_before, then $new)"
else
	ok_if 1 "no new worker within 10 s of pg_terminate_backend (was $pid_before, now '${new}')"
fi
upd=f
wait_for "SELECT n_tup_upd >= 42 FROM pg_stat_user_tables WHERE relid = 'concord.outbox'::regclass" 10 && upd=t
is_ "the worker's updates of the outbox reach pg_stat_user_tables" "$upd" t

# 9. a role that may not drop the database does not stop its worker by trying
qp "DROP ROLE IF EXISTS tap_worker_nobody" >/dev/null 2>&1 || true
qp "CREATE ROLE tap_worker_nobody LOGIN" >/dev/null
refused="$("$PGBIN/psql" -X -At -U tap_worker_nobody -d postgres -c "DROP DATABASE $DB" </dev/null 2>&1 || true)"
sleep 0.5
is_ "DROP DATABASE by a role that does not own it fails and leaves the worker running" \
	"$(echo "$refused" | grep -c 'must be owner of database')/$(worker_pid)" "1/$new"
qp "DROP ROLE tap_worker_nobody" >/dev/null

# 10-11. DROP DATABASE and ALTER DATABASE ... RENAME of a database the worker serves
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS concord_worker_drop WITH (FORCE)" \
	-c "DROP DATABASE IF EXISTS concord_worker_renamed WITH (FORCE)" -c "CREATE DATABASE concord_worker_drop" </dev/null >/dev/null
run_psql concord_worker_drop -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" </dev/null >/dev/null
# (each wait polls, bounded at a minute: on a loaded machine a worker may
# take seconds to start, and the test is that it does, not how fast)
served=f
wait_served concord_worker_drop 60 && served=t
renamed="$(qp "ALTER DATABASE concord_worker_drop RENAME TO concord_worker_renamed" >"$dir/rename.out" 2>&1 && echo done || cat "$dir/rename.out")"
back=f
wait_served concord_worker_renamed 60 && back=t
is_ "ALTER DATABASE ... RENAME of a database the worker serves works, and the worker comes back" "$served/$renamed/$back" "t/done/t"
dropped="$(qp "DROP DATABASE concord_worker_renamed" >"$dir/drop.out" 2>&1 && echo done || cat "$dir/drop.out")"
is_ "DROP DATABASE of a database the worker serves works without WITH (FORCE)" "$dropped/$(qp "SELECT count(*) FROM pg_database WHERE datname = 'concord_worker_renamed'")" "done/0"

# 12. http_batch refills its one slot at once
took="$(q "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000) FROM (SELECT clock_timestamp() AS t) s,
             LATERAL (SELECT count(*) FROM concord.http_batch(ARRAY(SELECT ROW('GET', '$STUB_URL/json', NULL, NULL, NULL, NULL)::concord.http_request
                                                                   FROM generate_series(1, 100)), max_connections => 1)) b")"
if ((took < 1500)); then
	ok_if 0 "http_batch of 100 calls with max_connections => 1 took $took ms (no 20 ms wait for a freed slot)"
else
	ok_if 1 "http_batch of 100 calls with max_connections => 1 took $took ms"
fi

# 13. metrics_text() as Prometheus reads it
metrics="$dir/metrics.txt"
q "SELECT concord.metrics_text()" >"$metrics"
if promtool check metrics <"$metrics" >"$dir/promtool.out" 2>&1; then
	ok_if 0 "promtool check metrics accepts metrics_text() ($(grep -c '^# TYPE' "$metrics") metrics, each with HELP and TYPE)"
else
	ok_if 1 "promtool check metrics: $(tr '\n' ' ' <"$dir/promtool.out")"
fi

# 14. a message committed after later ones were delivered (the claims'
# cursor has passed its id): its commit wakes the worker, which looks again
run_psql "$DB" -c "BEGIN" -c "SELECT concord.outbox_enqueue('good', '{\"late\": true}', 't-worker-late')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" </dev/null >/dev/null &
late_pid=$!
sleep 0.5
q "SELECT count(concord.outbox_enqueue('good', jsonb_build_object('n', g))) FROM generate_series(1, 100) g" >/dev/null
wait "$late_pid" || true
late=f
wait_for "SELECT status = 'delivered' AND id < (SELECT max(id) FROM concord.outbox WHERE endpoint = 'good')
            FROM concord.outbox WHERE idempotency_key = 't-worker-late'" 10 && late=t
is_ "a message committed after 100 later ones were delivered is delivered too" "$late" t

# 15-18. kill -9 of the postmaster alone, mid-drain
N=3000
q "SELECT concord.endpoint_drop('hang', discard_pending => true), concord.endpoint_drop('slow', discard_pending => true)" >/dev/null
run_psql "$DB" -c "SET synchronous_commit = on" \
	-c "SELECT count(concord.outbox_enqueue('drain', jsonb_build_object('n', g), 'drain-' || g)) FROM generate_series(1, $N) g" \
	</dev/null >/dev/null
c=0
for ((i = 0; i < 600; i++)); do
	c="$(curl -s "$STUB_URL/received/worker_drain/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
	((c >= N / 10)) && break
	sleep 0.05
done
pm="$(head -n 1 "$data/postmaster.pid")"
mapfile -t children < <(ps -o pid= --ppid "$pm" | tr -d ' ')
mapfile -t concord_kids < <(for p in "${children[@]}"; do grep -qs '^postgres: concord' "/proc/$p/cmdline" && echo "$p"; done; true)
gone_in() {
	local p st i
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for p in "$@"; do
			st="$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)"
			[[ -n "$st" && "$st" != Z ]] && alive=1
		done
		((alive == 0)) && { echo $((i * 100)); return 0; }
		sleep 0.1
	done
	echo -1
}
kill -9 "$pm"
t_concord="$(gone_in "${concord_kids[@]}")"
if ((c < N && ${#concord_kids[@]} >= 2 && t_concord >= 0 && t_concord <= 1000)); then
	ok_if 0 "kill -9 of the postmaster alone with $c of $N delivered: its ${#concord_kids[@]} concord processes were gone within $t_concord ms"
else
	ok_if 1 "after kill -9 of the postmaster ($c of $N delivered), concord processes ${concord_kids[*]} took ${t_concord} ms"
fi
t_all="$(gone_in "${children[@]}")"
CRASH_KILLED=("$pm" "${children[@]}")
if cluster_start_after_kill "$RUN"; then
	ok_if 0 "the cluster started again at once (every other process of it was gone ${t_all} ms after the kill)"
else
	ok_if 1 "the cluster did not start again: $(tail -n 3 "$log" | tr '\n' ' ')"
fi
done_=f
wait_for "SELECT count(*) = $N FROM concord.outbox WHERE endpoint = 'drain' AND status = 'delivered'" 120 && done_=t
is_ "the worker delivered all $N messages after the restart" "$done_" t
distinct="$(curl -s "$STUB_URL/received/worker_drain/summary" | sed -E 's/.*"distinct_keys": ?([0-9]+).*/\1/')"
is_ "the receiver has every one of the $N keys" "$distinct" "$N"

cleanup
trap - EXIT
HANG_PID=""
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE $DB WITH (FORCE)" </dev/null >/dev/null 2>&1 || true
