#!/usr/bin/env bash
#
# test/packaging/dump.sh — pg_dump and pg_restore of a database using
# concord.  Run by test/check.sh on its running cluster (RUN in the
# environment); prints TAP.  A database with every kind of definition
# (policies, masks, audit, identity with resolved customers, metrics, a
# published view, a rollup, an event rule, an endpoint and a message, a
# secret and its grant) is dumped with pg_dump -Fc and restored into a new database with
# pg_restore; the copy must hold every definition, the same customer IDs,
# the secret's name and grant but no plaintext in the dump, and work: policies
# filter, rules fire, metrics answer, the audit chain verifies, new rows
# get new ids.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

SRC=concord_dump_src DST=concord_dump_dst
dump="$(run_dir "$RUN")/concord_dump.dump"
q() { run_psql "$1" -At -c "$2" </dev/null 2>&1; }
echo "1..13"

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $SRC WITH (FORCE)" \
	-c "DROP DATABASE IF EXISTS $DST WITH (FORCE)" -c "CREATE DATABASE $SRC" -c "CREATE DATABASE $DST" </dev/null >/dev/null
run_psql postgres </dev/null >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_owner') THEN CREATE ROLE tap_pkg_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_rep') THEN CREATE ROLE tap_pkg_rep; END IF;
END $$;
SQL
run_psql "$SRC" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" -f test/packaging/shop.psql </dev/null >/dev/null
run_psql "$SRC" </dev/null >/dev/null <<SQL
SET client_min_messages = warning;
SELECT concord.secret_set('api_token', 'plaintext-that-must-not-leak-4711');
SELECT concord.secret_grant('api_token', 'tap_pkg_rep');
SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true);
SELECT concord.endpoint_create('hook', '$STUB_URL/hook/dump_test', 'api_token');
SQL
src_ids="$(q "$SRC" "SELECT string_agg(source || ':' || key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link")"
src_audit_max="$(q "$SRC" "SELECT max(id) FROM concord.audit_log")"

as_postgres "$PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -Fc -d "$SRC" -f "$dump" </dev/null 2>/dev/null
restore_log="$(as_postgres "$PGBIN/pg_restore" -h "$PGHOST" -p "$PGPORT" -d "$DST" "$dump" </dev/null 2>&1 || true)"
tap_is "pg_restore of a database using concord reports no error" "$restore_log" ""
tap_is "the customer IDs come back the same" "$(q "$DST" "SELECT string_agg(source || ':' || key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link")" "$src_ids"
tap_is "the golden records and the 360° view answer at once" "$(q "$DST" "SELECT count(*) FROM concord.customer")" "$(q "$SRC" "SELECT count(*) FROM concord.customer")"
tap_is "the row policy, mask, metric, publication, rollup and event rule are all defined" \
	"$(q "$DST" "SELECT concat((SELECT count(*) FROM concord.row_policy), (SELECT count(*) FROM concord.column_mask), (SELECT count(*) FROM concord.metric_catalog WHERE certified), (SELECT count(*) FROM concord.metric_publication), (SELECT count(*) FROM concord.metric_rollup), (SELECT count(*) FROM concord.event_rule))")" "111111"
tap_is "the secret's name and its grant are there, its plaintext is nowhere in the dump" \
	"$(q "$DST" "SELECT name FROM concord.secret")/$(q "$DST" "SELECT secret || ' ' || grantee FROM concord.secret_grant")/$(grep -ac 'plaintext-that-must-not-leak' "$dump" || true)" \
	"api_token/api_token tap_pkg_rep/0"
tap_is "the rep (a member) still sees her region's customers only, phones masked" \
	"$(q "$DST" "SET ROLE tap_pkg_rep; SELECT string_agg(id || ' ' || phone, ',' ORDER BY id) FROM shop.customer_governed")" "1 138****5678,2 138****5678"
tap_is "the published view and the metric answer" \
	"$(q "$DST" "SELECT sum(revenue) FROM metrics.revenue_daily")/$(q "$DST" "SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j" | tail -n 1)" "170/170"
q "$DST" "INSERT INTO shop.orders VALUES (3, 1, 30, 'paid')" >/dev/null
tap_is "the event rule fires in the copy" "$(q "$DST" "SELECT count(*) FROM shop.task")" "1"
tap_is "the audit log carries on and its chain verifies" "$(q "$DST" "SELECT intact FROM concord.audit_verify()")" "t"
tap_is "new entries get new ids after the restored ones (the sequences came along)" \
	"$(q "$DST" "SELECT concord.department_create('finance')" >/dev/null; q "$DST" "SELECT max(id) > ${src_audit_max:-0} FROM concord.audit_log WHERE action = 'department_add'")" "t"
tap_is "the rollup is stale after the insert and the metric answers from the table" \
	"$(q "$DST" "SELECT count(*) > 0 FROM concord.metric_rollup_change")/$(q "$DST" "SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j" | tail -n 1)" "t/200"
tap_is "a message enqueued in the copy is delivered (the endpoint and its secret work)" \
	"$(q "$DST" "SELECT concord.outbox_enqueue('hook', '{\"from\": \"the copy\"}') > 0")" "t"
ok=f
for ((i = 0; i < 100; i++)); do
	ok="$(q "$DST" "SELECT count(*) = 1 FROM concord.outbox WHERE status = 'delivered'")"
	[[ "$ok" == t ]] && break
	sleep 0.1
done
tap_is "delivered by the copy's worker" "$ok" "t"

run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE $SRC WITH (FORCE)" -c "DROP DATABASE $DST WITH (FORCE)" \
	-c "DROP ROLE tap_pkg_owner, tap_pkg_rep" </dev/null >/dev/null 2>&1 || true
