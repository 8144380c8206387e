#!/usr/bin/env bash
#
# test/packaging/pg_upgrade.sh — pg_upgrade from a PostgreSQL 15 cluster
# using concord to the major the suite runs on (PG_MAJOR 17 or 18).  Run by
# test/check.sh on such a major, with the stub servers of its run up (RUN
# in the environment); prints TAP.  On 15 there is nothing to upgrade to,
# and it says so (1..0 # SKIP).
#
# concord is built for 15 in a copy of the tree (tmp/pg_upgrade/build-15)
# and installed into the 15 installation (PG15BIN, CONCORD_PG15BIN for a
# relocated copy); the suite has installed it into the new major.  A 15
# cluster gets a database with every kind of definition
# (test/packaging/shop.psql: row policy, mask, audit, identity with
# resolved customers, metrics, a published view, a rollup, an event rule),
# a secret and its grant, an endpoint signing with it and a pending outbox
# message.  pg_upgrade moves it to a new cluster of the new major; the data
# of both schemas (each table's rows, fingerprinted) must be the same, the key file copied as docs/operations.md says,
# and the upgraded database must work: policies filter and masks mask for
# the rep, the audit chain verifies, the secret decrypts (a request carries
# it to the stub), the rule fires, the worker runs.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

if [[ "$PG_MAJOR" == 15 ]]; then
	echo "1..0 # SKIP the suite runs on PostgreSQL 15: nothing to upgrade to (PG_MAJOR=18 runs this test)"
	exit 0
fi
echo "1..12"

OLD=pgup-old NEW=pgup-new DB=concord_upgrade
port="${CONCORD_UPGRADE_PORT:-54359}"
work="$REPO/tmp/pg_upgrade"
log="$work/test.log"
mkdir -p "$work"
: >"$log"
trap 'stop_all "$OLD" >/dev/null 2>&1 || true; stop_all "$NEW" >/dev/null 2>&1 || true' EXIT

# Run on the cluster of the named run (its socket directory, port from its
# postmaster.pid) with the given bin directory's psql.
q() {
	local run="$1" db="$2" sql="$3" dir
	dir="$(run_dir "$run")"
	PGHOST="$dir" PGPORT="$(sed -n 4p "$dir/data/postmaster.pid")" \
		"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -U postgres -d "$db" -c "$sql" </dev/null 2>&1
}

# 1. concord for 15, built in a copy of the tree and installed into 15.
b15="$work/build-15"
rm -rf "$b15"
mkdir -p "$b15"
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$b15"
rc=0
(make -C "$b15" PG_CONFIG="$PG15BIN/pg_config" -j2 && make -C "$b15" PG_CONFIG="$PG15BIN/pg_config" install) \
	>>"$log" 2>&1 </dev/null || rc=$?
tap_is "concord builds and installs for $("$PG15BIN/pg_config" --version)" "$rc" "0"

# 2. The 15 cluster and its data.  The harness's functions run the 15
# installation while PGBIN points at it.
new_pgbin="$PGBIN"
PGBIN="$PG15BIN"
stop_all "$OLD" >/dev/null 2>&1 || true
rm -rf "$(run_dir "$OLD")" "$(run_dir "$NEW")"
CLUSTER_PRELOAD="" cluster_start "$OLD" "$port" >>"$log" 2>&1
sed -n 4p "$(run_dir "$OLD")/data/postmaster.pid" >"$work/old.port"
oldport="$(cat "$work/old.port")"
PGBIN="$new_pgbin"

setup_rc=0
{
	q "$OLD" postgres "CREATE DATABASE $DB" &&
		q "$OLD" postgres "CREATE ROLE tap_pkg_owner; CREATE ROLE tap_pkg_rep LOGIN" &&
		q "$OLD" "$DB" "CREATE EXTENSION concord" &&
		PGHOST="$(run_dir "$OLD")" PGPORT="$oldport" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -U postgres \
			-d "$DB" -f test/packaging/shop.psql </dev/null &&
		q "$OLD" "$DB" "SET client_min_messages = warning;
			SELECT concord.secret_set('api_token', 'plaintext-upgrade-4711');
			SELECT concord.secret_grant('api_token', 'tap_pkg_rep');
			SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true);
			SELECT concord.endpoint_create('hook', '$STUB_URL/hook/pg_upgrade_outbox', 'api_token');
			SELECT concord.outbox_enqueue('hook', '{\"order\": 2}'::jsonb);
			INSERT INTO shop.orders VALUES (3, 2, 30, 'paid');"
} >>"$log" 2>&1 || setup_rc=$?
tap_is "a 15 database with policies, masks, audit, identity, metrics, rules, a secret and an outbox message" \
	"$setup_rc/$(q "$OLD" "$DB" "SELECT (SELECT count(*) FROM concord.outbox WHERE status = 'pending') || '/' || (SELECT count(*) FROM shop.task)")" \
	"0/1/1"

# The data before: each table of both schemas, its row count and an md5 of
# its rows as text, in order (read as superuser, whom row security does not
# bind).
fingerprint() {
	q "$1" "$DB" "CREATE FUNCTION pg_temp.fp(s text, r text) RETURNS text LANGUAGE plpgsql AS \$f\$
	  DECLARE v text;
	  BEGIN
	    EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') FROM %I.%I t', s, r)
	      INTO v;
	    RETURN v;
	  END \$f\$;
	SELECT string_agg(format('%s.%s %s', n.nspname, c.relname, pg_temp.fp(n.nspname, c.relname)), E'\\n'
	                  ORDER BY n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname IN ('concord', 'shop') AND c.relkind IN ('r', 'p')"
}
fingerprint "$OLD" >"$work/before.txt"

# 3. pg_upgrade to a new cluster of the suite's major (as the postgres
# user, in the new cluster's directory).
# 18's initdb turns data checksums on by default, 15's did not:
# pg_upgrade needs both alike (docs/operations.md).
PGBIN="$new_pgbin"
if [[ "$PG_MAJOR" -ge 18 ]]; then
	export CLUSTER_INITDB_OPTS=--no-data-checksums
fi
CLUSTER_PRELOAD="" cluster_start "$NEW" "$((port + 1))" >>"$log" 2>&1
unset CLUSTER_INITDB_OPTS
newport="$(sed -n 4p "$(run_dir "$NEW")/data/postmaster.pid")"

# Debian 12's PostgreSQL 15.20 gives every column it creates a column
# option pg_attver, and pg_upgrade's schema dump carries it; the 18 that
# Debian's archive serves the source of (18.6) does not know that option,
# so the restore fails on the first table, concord's or anybody's
# (docs/operations.md).  Where the old server sets it and the new one
# rejects it, it is taken off the old cluster's user columns first, and the
# test says so.
workaround=""
old_sets="$(q "$OLD" postgres "CREATE TEMP TABLE attver_probe (a int); SELECT attoptions::text LIKE '%pg_attver=%' FROM pg_attribute WHERE attrelid = 'attver_probe'::regclass AND attname = 'a'" || true)"
new_rejects="$(q "$NEW" postgres "CREATE TEMP TABLE attver_probe (a int); ALTER TABLE attver_probe ALTER COLUMN a SET (pg_attver = 1)" || true)"
if [[ "$old_sets" == *t && "$new_rejects" == *'unrecognized parameter "pg_attver"'* ]]; then
	workaround=" (after taking Debian 15.20's pg_attver column option, which $(pg_version) rejects, off the old cluster's columns)"
	for db in postgres template1 "$DB"; do
		q "$OLD" "$db" "UPDATE pg_catalog.pg_attribute
			   SET attoptions = NULLIF(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
			 WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver=%'" >>"$log" 2>&1
	done
fi
PGBIN="$PG15BIN" cluster_stop "$OLD"
cluster_stop "$NEW"
rc=0
(cd "$(run_dir "$NEW")" && runuser -u postgres -- "$PGBIN/pg_upgrade" \
	-b "$PG15BIN" -B "$PGBIN" -d "$(run_dir "$OLD")/data" -D "$(run_dir "$NEW")/data" \
	-p "$oldport" -P "$newport" -U postgres --socketdir="$(run_dir "$NEW")") >>"$log" 2>&1 </dev/null || rc=$?
tap_is "pg_upgrade from 15 to $(pg_version) succeeds$workaround" "$rc" "0"

# docs/operations.md: the key file (concord_secret.key in the data
# directory, unless concord.secret_key_file points elsewhere) is not
# copied by pg_upgrade; copy it with its owner and mode.
cp -p "$(run_dir "$OLD")/data/concord_secret.key" "$(run_dir "$NEW")/data/concord_secret.key"

# 4. The new cluster, first without the worker, so that nothing changes
# the data before it is compared.
CLUSTER_PRELOAD="" cluster_start "$NEW" "$newport" >>"$log" 2>&1
tap_is "the upgraded cluster runs $(pg_version) with concord $(q "$NEW" "$DB" "SELECT extversion FROM pg_extension WHERE extname = 'concord'")" \
	"$(q "$NEW" "$DB" "SELECT current_setting('server_version_num')::int / 10000")" "$PG_MAJOR"
fingerprint "$NEW" >"$work/after.txt"
tap_is "every row of concord's $(grep -c '^concord[.]' "$work/before.txt") tables and of the governed tables is as it was" \
	"$(diff "$work/before.txt" "$work/after.txt" | head -n 20)" ""
tap_is "the row policy filters and the mask masks for the rep" \
	"$(q "$NEW" "$DB" "SET ROLE tap_pkg_rep; SELECT string_agg(name || ':' || phone, ',' ORDER BY id) FROM shop.customer_governed")" \
	"$(q "$NEW" "$DB" "SELECT string_agg(name || ':' || concord.mask_phone(phone), ',' ORDER BY id) FROM shop.customer WHERE region = '华东'")"
tap_is "the rep still cannot read the table itself" \
	"$(q "$NEW" "$DB" "SET ROLE tap_pkg_rep; SELECT count(*) FROM shop.customer" | grep -c 'permission denied')" "1"
tap_is "the audit chain verifies" "$(q "$NEW" "$DB" "SELECT intact FROM concord.audit_verify()")" "t"
tap_is "the customers keep their IDs and the metric answers" \
	"$(q "$NEW" "$DB" "SELECT count(DISTINCT customer_id) FROM concord.customer_link")/$(q "$NEW" "$DB" "SELECT sum((m ->> 'revenue')::numeric) FROM concord.metric_query('{revenue}') m")" \
	"2/200"
curl -s -X DELETE "$STUB_URL/received/pg_upgrade_secret" >/dev/null
q "$NEW" "$DB" "SELECT (concord.http_post('$STUB_URL/hook/pg_upgrade_secret', '{}'::jsonb,
	headers => '{\"X-Token\": {\"secret\": \"api_token\"}}')).status" >>"$log" 2>&1 || true
tap_is "the secret decrypts with the copied key: a request carries it" \
	"$(curl -s "$STUB_URL/received/pg_upgrade_secret" | /usr/bin/python3 -c 'import json, sys; r = json.load(sys.stdin)["received"]; print(r[0]["headers"].get("x-token") if r else None)')" \
	"plaintext-upgrade-4711"
tap_is "the event rule fires on a new order" \
	"$(q "$NEW" "$DB" "INSERT INTO shop.orders VALUES (4, 1, 5, 'paid'); SELECT count(*) FROM shop.task")" "2"
# 5. With concord preloaded: the worker delivers the message that waited
# in the outbox across the upgrade.
cluster_stop "$NEW"
CLUSTER_PRELOAD="$CONCORD_EXT" cluster_start "$NEW" "$newport" >>"$log" 2>&1
delivered=""
for ((i = 0; i < 60; i++)); do
	delivered="$(q "$NEW" "$DB" "SELECT status FROM concord.outbox WHERE endpoint = 'hook' ORDER BY id LIMIT 1")"
	[[ "$delivered" == delivered ]] && break
	q "$NEW" "$DB" "SELECT concord.worker_wake()" >/dev/null 2>&1 || true
	sleep 1
done
tap_is "the worker delivers the outbox message that waited across the upgrade" "$delivered" "delivered"

stop_all "$NEW" >/dev/null 2>&1 || true
