#!/usr/bin/env bash
#
# test/packaging/upgrade_functions.sh — the upgrade script cannot miss a
# function (TAP).
#
# The upgrade to the version in development re-creates every function and
# procedure of the sources (src/upgrade/expand.awk's -- @functions).  This
# builds the script from src/upgrade/concord--0.1--0.2.sql.in and the
# Makefile's SQL_PARTS as the Makefile does, and reads both with a SQL
# splitter of its own (test/packaging/upgrade_functions.py), not with
# expand.awk's: every CREATE FUNCTION / CREATE PROCEDURE of every part must
# be in the built script word for word (as CREATE OR REPLACE), whatever its
# body.  Then, on the suite's cluster, 0.1 and the current version side by
# side: a routine of 0.1 whose result, argument names, defaults or kind the
# sources change cannot be replaced and must be dropped above
# -- @functions; one the sources no longer have must be dropped.  Controls
# show each check failing on a script that misses what it checks.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

IN=src/upgrade/concord--0.1--0.2.sql.in
PY=(/usr/bin/python3 test/packaging/upgrade_functions.py)
OLD=concord_fn_old NEW=concord_fn_new
dir="$(mktemp -d)"
clean() {
	run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $OLD WITH (FORCE)" \
		-c "DROP DATABASE IF EXISTS $NEW WITH (FORCE)" </dev/null >/dev/null 2>&1 || true
	[[ -n "${KEEP:-}" ]] || rm -rf "$dir"
}
trap clean EXIT
echo "1..11"

# The script as the Makefile builds it.
parts="$("${PY[@]}" parts | tr '\n' ' ')"
expand() { awk -v parts="$parts" -f src/upgrade/expand.awk "$@"; }
rc=0
err="$(expand "$IN" 2>&1 >"$dir/up.sql")" || rc=$?
tap_is "expand.awk builds the upgrade script from $IN" "$rc$err" "0"

missing="$("${PY[@]}" missing "$dir/up.sql" 2>&1 || true)"
tap_is "every function and procedure of the sources is in it, word for word, as CREATE OR REPLACE" "$missing" ""
if [[ -n "$missing" ]]; then
	printf '%s\n' "$missing" | head -n 20 | sed 's/^/# missing: /'
fi
n_src="$(for p in $parts; do "${PY[@]}" functions "$p"; done | grep -c '^CREATE OR REPLACE \(FUNCTION\|PROCEDURE\) ' || true)"
n_up="$(grep -c '^CREATE OR REPLACE \(FUNCTION\|PROCEDURE\) @extschema@\.' "$dir/up.sql" || true)"
tap_is "as many as the sources have ($n_src, more than 250)" "$((n_src > 250)) $n_up" "1 $n_src"

# Every body style, one statement each, whole: dollar quotes with ";" and
# "END;" inside, BEGIN ATOMIC with CASE ... END inside, RETURN, C, a
# procedure, one written CREATE OR REPLACE, quotes and comments holding ";".
cat >"$dir/styles.sql" <<'EOF'
/* a part */
CREATE FUNCTION @extschema@.t_dollar(a text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN a || ';';
END;
$$;
COMMENT ON FUNCTION @extschema@.t_dollar(text) IS 'one; two';
CREATE FUNCTION @extschema@.t_tagged() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN $x$;$x$; END $body$;
CREATE FUNCTION @extschema@.t_atomic(x int)
RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;  -- a comment; with a semicolon
  SELECT 'END;' || E'\';' || "weird;name" FROM (SELECT 1 AS "weird;name") s;
END;
CREATE TABLE @extschema@.t_not_a_function (a int);
CREATE FUNCTION @extschema@.t_return(x int) RETURNS int LANGUAGE sql RETURN x + 1;
CREATE FUNCTION @extschema@.t_c(x int) RETURNS int AS 'MODULE_PATHNAME', 't_c' LANGUAGE C STRICT;
CREATE PROCEDURE @extschema@.t_proc() LANGUAGE sql AS $fn$ SELECT 1; SELECT 2; $fn$;
CREATE OR REPLACE FUNCTION @extschema@.t_replaced() RETURNS int LANGUAGE sql RETURN 1;
REVOKE EXECUTE ON FUNCTION @extschema@.t_c(int) FROM PUBLIC;
EOF
printf -- '-- @functions\n' >"$dir/styles.in"
awk -v parts="$dir/styles.sql" -f src/upgrade/expand.awk "$dir/styles.in" >"$dir/styles.out" 2>&1 || true
want="$("${PY[@]}" functions "$dir/styles.sql")"
got="$(/usr/bin/python3 - "$dir/styles.out" <<'EOF'
import sys
sys.path.insert(0, "test/packaging")
from upgrade_functions import statements
print("\n-- ----\n".join(s for s in statements(open(sys.argv[1]).read()) if s.startswith("CREATE OR REPLACE")))
EOF
)"
tap_is "every body style is taken whole (\$\$, \$tag\$, BEGIN ATOMIC with CASE, RETURN, C, a procedure, one already OR REPLACE): 7 routines" \
	"$(grep -c '^CREATE OR REPLACE' <<<"$got") $([[ "$got" == "$want" ]] && echo same)" "7 same"
tap_is "with the comment and grants said about them, and nothing else" \
	"$(grep -c "^COMMENT ON FUNCTION @extschema@.t_dollar(text) IS 'one; two';\$\|^REVOKE EXECUTE ON FUNCTION @extschema@.t_c(int) FROM PUBLIC;\$\|t_not_a_function" "$dir/styles.out")" "2"

# Controls: a script that misses one function, or has no -- @functions, or
# names a function by hand, does not pass.
/usr/bin/python3 - "$dir/up.sql" "$dir/up_less.sql" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^CREATE OR REPLACE FUNCTION @extschema@\.metric_sql_compose\(.*?^\$fn\$;\n", text, re.M | re.S)
open(sys.argv[2], "w").write(text[:m.start()] + text[m.end():])
EOF
tap_is "control: the script without one function (metric_sql_compose) fails the check, naming it" \
	"$("${PY[@]}" missing "$dir/up_less.sql" | grep -c '^src/metric/query.sql: metric_sql_compose(' || true)" "1"
grep -v '^-- @functions$' "$IN" >"$dir/no_functions.in"
rc=0
err="$(expand "$dir/no_functions.in" 2>&1 >/dev/null)" || rc=$?
tap_is "control: a .in without -- @functions does not build" "$rc $(grep -c 'no -- @functions line' <<<"$err")" "1 1"
{ cat "$IN"; printf -- '-- @replace src/concord.sql caller\n'; } >"$dir/replace.in"
rc=0
err="$(expand "$dir/replace.in" 2>&1 >/dev/null)" || rc=$?
tap_is "control: nor one that names a function by hand (-- @replace)" "$rc $(grep -c '@replace is gone' <<<"$err")" "1 1"

# On the cluster: 0.1 against the current version.
run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $OLD WITH (FORCE)" \
	-c "DROP DATABASE IF EXISTS $NEW WITH (FORCE)" -c "CREATE DATABASE $OLD" -c "CREATE DATABASE $NEW" </dev/null >/dev/null
run_psql "$OLD" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord VERSION '0.1'" </dev/null >/dev/null
run_psql "$NEW" -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" </dev/null >/dev/null
# shellcheck disable=SC2016 # $$ quotes SQL text, not shell
routines='SELECT p.oid::regprocedure::text, p.prokind::text || $$ $$ || pg_get_function_identity_arguments(p.oid) || $$ -> $$
                 || coalesce(pg_get_function_result(p.oid), $$$$) || $$ defaults $$ || p.pronargdefaults
            FROM pg_proc p WHERE p.pronamespace = $$concord$$::regnamespace'
run_psql "$OLD" -At -F $'\t' -c "$routines" </dev/null | sort >"$dir/old.tsv"
run_psql "$NEW" -At -F $'\t' -c "$routines" </dev/null | sort >"$dir/new.tsv"
# What the script must drop, from two listings of routines: "before" for
# a routine changed in what CREATE OR REPLACE cannot change, "any" for one
# that is gone.
must() {
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
old = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip())
new = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip())
for sig, o in sorted(old.items()):
    if sig not in new:
        print("any\t" + sig)
        continue
    n = new[sig]
    od, nd = int(o.rsplit(" ", 1)[1]), int(n.rsplit(" ", 1)[1])
    if o.rsplit(" defaults ", 1)[0] != n.rsplit(" defaults ", 1)[0] or nd < od:
        print("before\t" + sig)
EOF
}
must "$dir/old.tsv" "$dir/new.tsv" >"$dir/must.txt"
# What a .in drops, each routine as 0.1's catalog names it.
dropped() {
	local where sig
	"${PY[@]}" drops "$1" | while IFS=$'\t' read -r where sig; do
		printf '%s\t%s\n' "$where" "$(run_psql "$OLD" -At -c "SELECT to_regprocedure(\$q\$${sig//@extschema@/concord}\$q\$)::text" </dev/null)"
	done
}
# The routines of must.txt that FILE does not drop where it must.
unmet() {
	dropped "$1" >"$dir/dropped.txt"
	/usr/bin/python3 - "$dir/must.txt" "$dir/dropped.txt" <<'EOF'
import sys
dropped = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
for l in open(sys.argv[1]):
    where, sig = l.rstrip("\n").split("\t")
    if not any(s == sig and (where == "any" or w == "before") for w, s in dropped):
        print("%s (%s)" % (sig, "changed: drop it above -- @functions" if where == "before" else "gone: drop it"))
EOF
}
out="$(unmet "$IN")"
tap_is "each routine of 0.1 that CREATE OR REPLACE cannot bring to 0.2 ($(grep -c '^before' "$dir/must.txt" || true) changed, $(grep -c '^any' "$dir/must.txt" || true) gone) is dropped first" "$out" ""
if [[ -n "$out" ]]; then
	printf '%s\n' "$out" | sed 's/^/# not dropped: /'
fi
grep -v '^DROP FUNCTION @extschema@.metric_query(' "$IN" >"$dir/no_drop.in"
tap_is "control: without the DROP of metric_query (its arguments changed), the check names it" \
	"$(unmet "$dir/no_drop.in" | grep -c '^concord.metric_query(.*gone' || true)" "1"
# (0.1 to 0.2 changes no routine's result in place: a listing where
# capability_role's result changed stands in for one that does)
sed 's/^\(concord.capability_role(text,text)\tf .*\) -> void /\1 -> boolean /' "$dir/new.tsv" >"$dir/new_changed.tsv"
must "$dir/old.tsv" "$dir/new_changed.tsv" >"$dir/must.txt"
tap_is "control: a routine whose result changes must be dropped above -- @functions, and the check names it" \
	"$(unmet "$IN" | grep -c '^concord.capability_role(text,text) (changed' || true)" "1"
