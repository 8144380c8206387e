#!/usr/bin/env bash
#
# test/arch/roles.sh -- the pgTAP tests call each component's API as the
# role its docs give its users, not as a superuser (issue 24; TAP).
# test/arch/roles.py reads test/<component>/*.sql: a file switches when it,
# or a pg_temp helper it calls from a file it includes, sets a role other
# than postgres or logs in (user=) as one.  Every component needs switching
# files; in every component (identity too), a file that does
# not switch must be listed, with its reason, in
# test/arch/superuser_tests.txt.  The counts per component are printed as
# diagnostics; controls on scratch copies show the check is not vacuous.
# Needs no database.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=test/arch/tap.sh
. test/arch/tap.sh
ROLES=test/arch/roles.py

echo "1..5"

$PY $ROLES report | diag
check "every component's API is called as a role other than a superuser; every file that is not says why" -- \
	$PY $ROLES check

# A scratch copy of test/ with one change (a shell command run in it); the
# check must fail, saying what.
wrong() {
	local name="$1" change="$2" expect="$3" dir
	dir="$scratch/$name"
	mkdir -p "$dir"
	cp -r test "$dir/test"
	(cd "$dir" && eval "$change")
	fails_naming "the check fails on a scratch copy with $name" "$expect" -- $PY $ROLES --root "$dir" check
}

wrong "a new flow test run as superuser" \
	"printf 'SELECT plan(1);\nSELECT ok(true);\n' > test/flow/new.sql" \
	"test/flow/new.sql switches to no role"
wrong "every secret test as superuser" \
	"sed -i -E 's/(SET (LOCAL )?ROLE) /-- \\1 /I; s/user=/-- /' test/secret/*.sql; printf 'test/secret/grants.sql: x\ntest/secret/secret.sql: x\n' >> test/arch/superuser_tests.txt" \
	"component secret: no test file"
wrong "a listed file that switches" \
	"printf 'test/http/requests.sql: it did not\n' >> test/arch/superuser_tests.txt" \
	"lists test/http/requests.sql, which switches"
wrong "a listed file that is gone" \
	"rm test/http/worker.sql" \
	"names test/http/worker.sql, which is not there"
