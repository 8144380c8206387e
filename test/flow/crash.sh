#!/usr/bin/env bash
#
# test/flow/crash.sh — the outbox survives a crash.  Run by test/check.sh
# on its running cluster (RUN, DB given in the environment), it prints TAP:
# 3,000 messages are committed; once the stub's receiver has a tenth of
# them, the postmaster and every process of the cluster are killed with
# SIGKILL, by their PIDs; the cluster is started again (by its pg_ctl, its
# new PID recorded); the worker must deliver every message, and the
# receiver must have every idempotency key; and after another restart,
# nothing recorded as delivered is sent again.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

N=3000
DB="${CRASH_DB:-concord_crash}"
data="$(run_dir "$RUN")/data"
q() { run_psql "$DB" -At -c "$1" </dev/null; }
echo "1..5"

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" </dev/null >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION concord;
SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true);
SELECT concord.endpoint_create('crash', '$STUB_URL/hook/crash_test', max_in_flight => 32, unsigned => true);
SQL
curl -s -X DELETE "$STUB_URL/received/crash_test" >/dev/null
# (this cluster commits asynchronously; the enqueuing transaction does not)
run_psql "$DB" -c "SET synchronous_commit = on" \
	-c "SELECT count(concord.outbox_enqueue('crash', jsonb_build_object('n', g), 'crash-' || g)) FROM generate_series(1, $N) g" \
	</dev/null >/dev/null
c=0
for ((i = 0; i < 1200; i++)); do
	c="$(curl -s "$STUB_URL/received/crash_test/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
	((c >= N / 10)) && break
	sleep 0.05
done
if ((c >= N / 10 && c < N)) && cluster_kill9 "$RUN"; then
	echo "ok 1 - killed the postmaster (${CRASH_KILLED[0]}) and its $((${#CRASH_KILLED[@]} - 1)) processes with SIGKILL mid-delivery ($c of $N received)"
else
	echo "not ok 1 - could not kill the cluster mid-delivery ($c of $N received)"
fi
if cluster_start_after_kill "$RUN"; then
	echo "ok 2 - the cluster started again"
else
	echo "not ok 2 - the cluster did not start again"
fi
done_=f
for ((i = 0; i < 1200; i++)); do
	done_="$(q "SELECT count(*) = $N FROM concord.outbox WHERE status = 'delivered'" 2>/dev/null || echo f)"
	[[ "$done_" == t ]] && break
	sleep 0.1
done
if [[ "$done_" == t ]]; then
	echo "ok 3 - the worker delivered all $N committed messages after the restart"
else
	echo "not ok 3 - not all $N messages delivered after the restart: $(q "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM concord.outbox GROUP BY 1) s" || true)"
fi
got="$(curl -s "$STUB_URL/received/crash_test/summary")"
distinct="$(echo "$got" | sed -E 's/.*"distinct_keys": ?([0-9]+).*/\1/')"
count="$(echo "$got" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
if ((distinct == N)); then
	echo "ok 4 - the receiver has every one of the $N keys, none lost ($((count - distinct)) sent twice: their 2xx was not recorded before the kill)"
else
	echo "not ok 4 - the receiver has $distinct of $N keys"
fi
# nothing recorded as delivered is sent again: another restart (a fast
# shutdown this time), a few worker rounds, the same count at the receiver
as_postgres "$PGBIN/pg_ctl" -D "$data" -w -t 60 -m fast restart >>"$(run_dir "$RUN")/postgres.log" 2>&1 </dev/null || true
record_pid "$RUN" postgres-after-restart "$(head -n 1 "$data/postmaster.pid")"
sleep 3
again="$(curl -s "$STUB_URL/received/crash_test/summary" | sed -E 's/.*"count": ?([0-9]+).*/\1/')"
if [[ "$again" == "$count" ]]; then
	echo "ok 5 - restarted again: no message recorded as delivered was sent again ($again deliveries)"
else
	echo "not ok 5 - restarted again: the receiver went from $count to $again deliveries"
fi
run_psql postgres -c "DROP DATABASE $DB WITH (FORCE)" </dev/null >/dev/null 2>&1 || true
