#!/usr/bin/env bash
#
# test/security/fuzz.sh — no SQL call can crash a backend.  Run by
# test/check.sh on its running cluster (RUN in the environment, PGHOST and
# PGPORT exported by the harness); prints TAP.
#
# In a throwaway database (concord_fuzz, made and dropped here) every
# routine of schema concord, as pg_proc lists them (so a routine added
# later is fuzzed too), is called with NULLs, empty, huge and odd strings,
# negative and extreme numbers, NaN and infinities, invalid and dropped
# OIDs, deep and wide JSON (test/security/fuzz.psql makes the calls): once
# as a new LOGIN role holding every concord capability role, once as a
# superuser, each call its own statement under a statement_timeout.  The
# test fails if the server log, from where it stood when the test began,
# shows a server process terminated by a signal.  The destination
# allowlist of the database can hold 127.0.0.1 only, so no call reaches
# anything else; the superuser's secret key file is a throwaway one; roles
# the calls create are dropped with the database.
#
# Environment: CONCORD_FUZZ_TIMEOUT (default 2s), the statement_timeout of
# each call.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_fuzz
ROLE=concord_fuzzer
TIMEOUT="${CONCORD_FUZZ_TIMEOUT:-2s}"
dir="$(run_dir "$RUN")"
log="$dir/postgres.log"
work="$dir/fuzz"
q() { run_psql "$1" -At -c "$2" </dev/null; }
echo "1..8"
started=$(date +%s)
log_from=$(($(stat -c %s "$log") + 1))

# Wait (up to 60 s) until the cluster accepts connections again.
wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		q postgres "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# Drop the database, the fuzz role and every role made since the start.
cleanup() {
	run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
		</dev/null >/dev/null 2>&1 || true
	run_psql postgres -At </dev/null >"$work/leftover-roles.sql" 2>/dev/null <<SQL || true
SELECT format('DROP ROLE %I;', rolname) FROM pg_roles
 WHERE oid > ${roles_max:-4294967295} OR rolname = '$ROLE';
SQL
	run_psql postgres -f "$work/leftover-roles.sql" </dev/null >/dev/null 2>&1 || true
	rm -f "$work"/secret.key*
}

rm -rf "$work"
mkdir -p "$work"
chown postgres:postgres "$work"
roles_max="$(q postgres "SELECT max(oid) FROM pg_roles")"
trap cleanup EXIT
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
	-c "DROP ROLE IF EXISTS $ROLE" -c "CREATE DATABASE $DB" -c "CREATE ROLE $ROLE LOGIN" </dev/null >/dev/null
setup="$(run_psql "$DB" -v role="$ROLE" -c "CREATE EXTENSION concord" -f test/security/fuzz.psql </dev/null 2>&1 || echo failed)"
tap_is "the fuzz database has concord and the objects the calls point at" "$setup" ""
q "$DB" "SELECT '# world: ' || step || ' not made: ' || error FROM fuzz.world_error" || true

# the LOGIN role holds every capability role of concord (their comments say so)
caps="$(q "$DB" "SELECT string_agg(quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_roles
                 WHERE shobj_description(oid, 'pg_authid') LIKE 'concord: %'")"
q "$DB" "GRANT $caps TO $ROLE" >/dev/null
tap_is "the fuzz role is an ordinary LOGIN role holding every capability role" \
	"$(q "$DB" "SELECT NOT rolsuper AND rolcanlogin AND
                       (SELECT count(*) FROM pg_auth_members m JOIN pg_roles c ON c.oid = m.roleid
                         WHERE m.member = r.oid AND c.rolname IN ('concord_http', 'concord_sync', 'concord_identity',
                                                                 'concord_policy', 'concord_metric', 'concord_flow')) = 6
                  FROM pg_roles r WHERE rolname = '$ROLE'")" "t"

# one file of statements per routine: fn<oid>.sql
q "$DB" "SELECT fn::oid || E'\t' || sql FROM fuzz.call ORDER BY fn::oid, n" |
	awk -F'\t' -v dir="$work" '
		$1 != last { if (last != "") close(file); last = $1; file = dir "/fn" $1 ".sql" }
		{ print substr($0, length($1) + 2) ";" > file }'
routines="$(q "$DB" "SELECT count(*) FROM pg_proc WHERE pronamespace = 'concord'::regnamespace AND prokind IN ('f', 'p')")"
calls="$(q "$DB" "SELECT count(*) FROM fuzz.call")"
files=("$work"/fn*.sql)
tap_is "every routine of schema concord in pg_proc has its calls ($routines routines, $calls calls each way)" \
	"${#files[@]}/$((calls >= 20 * routines))" "$routines/1"

# The superuser's calls keep their secret key away from the cluster's.
superuser_opts=""
if [[ "$(q "$DB" "SELECT count(*) FROM pg_settings WHERE name = 'concord.secret_key_file'")" == 1 ]]; then
	superuser_opts="-c concord.secret_key_file=$work/secret.key"
fi

# Run every routine's calls as role; print how many routines were called to
# the end, and the ones whose session was lost.
fuzz_as() {
	local role="$1" opts="$2" f rc=0 done_=0 lost=() t0
	for f in "${files[@]}"; do
		# after a lost session, the cluster may be restarting
		((rc == 0)) || wait_ready || true
		rc=0
		t0=$(date +%s%N)
		PGOPTIONS="-c statement_timeout=$TIMEOUT -c lock_timeout=1s -c client_min_messages=error $opts" \
			"$PGBIN/psql" -X -q -U "$role" -d "$DB" -v VERBOSITY=verbose -f "$f" \
			</dev/null >/dev/null 2>>"$work/$role.err" || rc=$?
		echo "$((($(date +%s%N) - t0) / 1000000)) ms $(head -c 60 "$f")" >>"$work/$role.times"
		if ((rc == 0)); then
			done_=$((done_ + 1))
		else
			lost+=("$(q "$DB" "SELECT $(basename "$f" .sql | tr -d fn)::regprocedure" 2>/dev/null || basename "$f")")
		fi
	done
	echo "$done_ ${lost[*]}"
}

ran="$(fuzz_as "$ROLE" "")"
tap_is "every routine was called, all its calls, as the LOGIN role $ROLE" "$ran" "$routines "
ran="$(fuzz_as postgres "$superuser_opts")"
tap_is "every routine was called, all its calls, as a superuser" "$ran" "$routines "

# what the server log says happened while the calls ran
crashes="$(tail -c "+$log_from" "$log" | grep -E 'terminated by signal|server process .* was terminated' || true)"
tap_is "no server process was terminated by a signal" "$crashes" ""
lookups="$(cat "$work"/*.err | grep -c 'cache lookup failed' || true)"
tap_is "no call ended in an internal 'cache lookup failed'" "$lookups" "0"
wait_ready || true
tap_is "the cluster answers after the fuzz" "$(q postgres "SELECT 'up'" 2>&1)" "up"
echo "# $calls calls each way, $(cat "$work"/*.err | grep -c '^psql:.*ERROR' || true) of them errors, in $(($(date +%s) - started)) s"
