#!/usr/bin/env bash
#
# test/arch/deps.sh — the arrows between concord's components against the
# design (TAP).  test/arch/deps.py reads the tree: C #includes, the SQL
# parts' references to other components' tables and functions
# (@extschema@.name), and the SQL that C runs (concord.name in a string).
# It fails on an arrow the design does not allow and on a component that
# reads another's table instead of going through its API.  To show the
# check is not vacuous, it is also run on scratch copies of src/ with one
# wrong arrow each, and must fail on them, naming the arrow.  Last,
# docs/architecture.md's list of arrows must be what the check sees.
# Needs no database.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=test/arch/tap.sh
. test/arch/tap.sh
DEPS=test/arch/deps.py

echo "1..9"

# 1. the tree keeps to the design
check "no arrow against the design, no other component's table read directly" -- $PY $DEPS check

# 2. core names no component (explicitly, beside the check)
if out="$(grep -nE '#include "(secret|http|sync|identity|policy|metric|flow)/' src/*.c src/*.h | grep -v '^src/components\.c:')"; then
	notok "core (src/*.c, src/*.h but the wiring file) includes no component header"
	printf '%s\n' "$out" | diag
else
	ok "core (src/*.c, src/*.h but the wiring file) includes no component header"
fi

# A scratch copy of the tree with one change; the check must fail on it,
# saying what.
wrong() {
	local name="$1" file="$2" text="$3" expect="$4" dir
	dir="$scratch/$name"
	mkdir -p "$dir"
	cp -r src "$dir/src"
	printf '%s\n' "$text" >>"$dir/$file"
	fails_naming "the check fails on a scratch copy with $name" "$expect" -- $PY $DEPS --root "$dir" check
}

wrong "http including flow's header" src/http/http.c '#include "flow/flow.h"' \
	"arrow against the design: http -> flow"
wrong "core running flow's SQL from C" src/launcher.c \
	'static const char *x = "SELECT concord.alert_run_due()";' "arrow against the design: core -> flow"
wrong "core's SQL calling metric" src/uninstall.sql \
	"SELECT @extschema@.metric_rollup_drop('x');" "arrow against the design: core -> metric"
wrong "secret calling policy (the design's arrow is policy -> secret)" src/secret/secret.sql \
	"SELECT @extschema@.member('region');" "arrow against the design: secret -> policy"
wrong "flow reading concord.secret" src/flow/flow.sql \
	"SELECT 1 FROM @extschema@.secret;" "flow reads a table of secret, not its API"

# 8. the wiring file may include headers, nothing else
wrong "the wiring file running SQL" src/components.c \
	'static const char *y = "SELECT concord.access_tidy()";' "the wiring file does more than include headers"

# 9. docs/architecture.md lists the arrows the check sees
want="$($PY $DEPS arrows)"
have="$(sed -n '/^<!-- arrows: test\/arch\/deps.py arrows -->$/,/^<!-- end of arrows -->$/p' docs/architecture.md | sed '1,2d;$d' | sed '$d')"
if [[ "$want" == "$have" ]]; then
	ok "docs/architecture.md lists the arrows the check sees"
else
	notok "docs/architecture.md lists the arrows the check sees"
	diff <(printf '%s\n' "$have") <(printf '%s\n' "$want") | diag || true
fi
