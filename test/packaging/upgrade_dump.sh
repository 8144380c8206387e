#!/usr/bin/env bash
#
# test/packaging/upgrade_dump.sh — ALTER EXTENSION concord UPDATE from 0.1
# gives what CREATE EXTENSION concord gives, on everything pg_dump
# --schema-only shows and on the grants as each role sees them (TAP).
#
# pg_dump leaves an extension's objects out (it writes CREATE EXTENSION);
# in --binary-upgrade mode it writes every member, with its ACL, comment,
# constraints, indexes, triggers and policies.  Both dumps are normalized
# before they are compared (test/packaging/dump_normalize.py: OIDs,
# transaction ids and the database's name out of the way, each CREATE
# TABLE's columns sorted, as an upgrade adds a column last).
# Then, as each of concord's roles and PUBLIC, what it may do with every
# function, table, view, sequence and type of schema concord.  Run by
# test/check.sh on the suite's cluster (test/packaging/upgrade.sql checks
# the data an update keeps).

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

UP=concord_dump_up FRESH=concord_dump_fresh
dir="$(mktemp -d)"
chmod 755 "$dir"
clean() {
	run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $UP WITH (FORCE)" \
		-c "DROP DATABASE IF EXISTS $FRESH WITH (FORCE)" -c "DROP ROLE IF EXISTS tap_dump_nobody" </dev/null >/dev/null 2>&1 || true
	rm -rf "$dir"
}
clean
mkdir -p "$dir"
chmod 755 "$dir"
trap clean EXIT
run_psql postgres -c "CREATE DATABASE $UP" -c "CREATE DATABASE $FRESH" -c "CREATE ROLE tap_dump_nobody" </dev/null >/dev/null
echo "1..6"

rc=0
out="$(run_psql "$UP" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord VERSION '0.1'" \
	-c "ALTER EXTENSION concord UPDATE" </dev/null 2>&1)" || rc=$?
out2="$(run_psql "$FRESH" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" </dev/null 2>&1)" || rc=$?
tap_is "0.1 updated to the current version, and a fresh install, side by side" "$rc$out$out2" "0"

# The dump of one database, normalized (see the header).
dump() {
	as_postgres "$PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" --schema-only --binary-upgrade -d "$1" </dev/null 2>&1 |
		/usr/bin/python3 test/packaging/dump_normalize.py "$1"
}
dump "$UP" >"$dir/up.sql"
dump "$FRESH" >"$dir/fresh.sql"
lines="$(wc -l <"$dir/fresh.sql")"
tap_is "pg_dump --binary-upgrade shows concord's objects (more than 3000 lines)" "$((lines > 3000))" "1"
d="$(diff "$dir/fresh.sql" "$dir/up.sql" || true)"
tap_is "the updated extension dumps as the fresh one: objects, ACLs, comments, constraints, indexes, triggers, policies" "$d" ""
if [[ -n "$d" ]]; then
	printf '%s\n' "$d" | head -n 40 | sed 's/^/# /'
fi

# What each role may do with each of concord's objects.
privileges='
SELECT string_agg(x, E'"'"'\n'"'"' ORDER BY x) FROM (
  SELECT r.rolname || '"'"' '"'"' || p.oid::regprocedure::text || '"'"' execute'"'"' AS x
    FROM pg_proc p, pg_roles r
   WHERE p.pronamespace = '"'"'concord'"'"'::regnamespace AND (r.rolname LIKE '"'"'concord\_%'"'"' OR r.rolname = '"'"'tap_dump_nobody'"'"')
     AND has_function_privilege(r.oid, p.oid, '"'"'EXECUTE'"'"')
  UNION ALL
  SELECT r.rolname || '"'"' '"'"' || c.oid::regclass::text || '"'"' '"'"' || priv
    FROM pg_class c, pg_roles r, unnest(ARRAY['"'"'SELECT'"'"', '"'"'INSERT'"'"', '"'"'UPDATE'"'"', '"'"'DELETE'"'"', '"'"'TRUNCATE'"'"', '"'"'REFERENCES'"'"', '"'"'TRIGGER'"'"']) priv
   WHERE c.relnamespace = '"'"'concord'"'"'::regnamespace AND c.relkind IN ('"'"'r'"'"', '"'"'v'"'"', '"'"'p'"'"')
     AND (r.rolname LIKE '"'"'concord\_%'"'"' OR r.rolname = '"'"'tap_dump_nobody'"'"')
     AND has_table_privilege(r.oid, c.oid, priv)
  UNION ALL
  SELECT r.rolname || '"'"' '"'"' || c.oid::regclass::text || '"'"' usage'"'"'
    FROM pg_class c, pg_roles r
   WHERE c.relnamespace = '"'"'concord'"'"'::regnamespace AND c.relkind = '"'"'S'"'"'
     AND (r.rolname LIKE '"'"'concord\_%'"'"' OR r.rolname = '"'"'tap_dump_nobody'"'"')
     AND has_sequence_privilege(r.oid, c.oid, '"'"'USAGE'"'"')) s'
up_p="$(run_psql "$UP" -At -c "$privileges" </dev/null 2>&1)"
fresh_p="$(run_psql "$FRESH" -At -c "$privileges" </dev/null 2>&1)"
d="$(diff <(printf '%s\n' "$fresh_p") <(printf '%s\n' "$up_p") || true)"
tap_is "each role (concord_*, and PUBLIC as a role with no grants sees it) may do the same with every object ($(wc -l <<<"$fresh_p") grants)" "$d" ""
if [[ -n "$d" ]]; then
	printf '%s\n' "$d" | head -n 40 | sed 's/^/# /'
fi

# Controls: one grant more in the updated database shows in both
# comparisons (they are not blind to it).
run_psql "$UP" -c "GRANT SELECT ON concord.endpoint TO tap_dump_nobody" </dev/null >/dev/null
dump "$UP" >"$dir/up2.sql"
tap_is "control: one grant more shows in the dumps' difference" \
	"$(diff "$dir/fresh.sql" "$dir/up2.sql" | grep -c '^> GRANT SELECT ON TABLE concord.endpoint TO tap_dump_nobody;$' || true)" "1"
up_p="$(run_psql "$UP" -At -c "$privileges" </dev/null 2>&1)"
tap_is "control: and in what the roles may do" \
	"$(diff <(printf '%s\n' "$fresh_p") <(printf '%s\n' "$up_p") | grep -c '^> tap_dump_nobody concord.endpoint SELECT$' || true)" "1"
