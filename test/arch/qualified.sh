#!/usr/bin/env bash
#
# test/arch/qualified.sh -- SQL that runs with more rights than its caller
# writes its operators qualified, OPERATOR(pg_catalog.=), and never looks
# one up by its bare name (IN (...), CASE x WHEN, LIKE, BETWEEN, NULLIF,
# JOIN ... USING), as conventions.md asks (TAP).  test/arch/qualified.py
# reads the install script's parts (the Makefile's SQL_PARTS): every
# function body of identity's (resolve runs them all as concord's owner),
# and of the others the bodies of functions that say SECURITY DEFINER or
# SET concord.run_as.  Controls on scratch copies show the check is not
# vacuous; and the rewrite it can do (fix) leaves the tree as it is.
# Needs no database.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=test/arch/tap.sh
. test/arch/tap.sh
Q=test/arch/qualified.py

echo "1..5"

mapfile -t parts < <(make -s -f - print-parts <<'MK'
include Makefile
print-parts:
	@printf '%s\n' $(SQL_PARTS)
MK
)
others=()
for p in "${parts[@]}"; do
	[[ "$p" == src/identity/identity.sql ]] || others+=("$p")
done

# 1-2. the tree
check "identity.sql: no bare operator in any function body" -- $PY $Q check src/identity/identity.sql
check "the other parts (${#others[@]} files): no bare operator in a SECURITY DEFINER or run_as function's body" -- \
	$PY $Q --elevated check "${others[@]}"

# 3-4. controls: one bare operator, one CASE x WHEN, put back into copies
cp src/identity/identity.sql "$scratch/identity.sql"
sed -i '0,/r\.source OPERATOR(pg_catalog\.=) t\.source/s//r.source = t.source/' "$scratch/identity.sql"
fails_naming "the check fails on a copy of identity.sql with one bare =" "bare operator =" -- $PY $Q check "$scratch/identity.sql"
cp src/flow/alerts.sql "$scratch/alerts.sql"
# (in alert_check, run as the alert's owner)
sed -i "s/^    state := 'ok';/    state := CASE r.op WHEN '>' THEN 'ok' ELSE 'ok' END;/" "$scratch/alerts.sql"
fails_naming "the check fails on a copy of flow/alerts.sql with a CASE x WHEN in an elevated body" "CASE x WHEN" -- \
	$PY $Q --elevated check "$scratch/alerts.sql"

# 5. fix finds nothing left to rewrite
same=0
for p in "${parts[@]}"; do
	if [[ "$p" == src/identity/identity.sql ]]; then
		$PY $Q fix "$p" | cmp -s - "$p" || { echo "# fix would change $p"; same=1; }
	else
		$PY $Q --elevated fix "$p" | cmp -s - "$p" || { echo "# fix would change $p"; same=1; }
	fi
done
if ((same == 0)); then ok "fix leaves every part as it is"; else notok "fix leaves every part as it is"; fi
