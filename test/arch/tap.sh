# shellcheck shell=bash
#
# test/arch/tap.sh -- what the checks of test/arch/ share (sourced, after
# cd to the repository): the Python they run, a scratch directory removed
# on exit, and TAP lines.  ok/notok number the assertions; diag prints its
# input as TAP comments.

# shellcheck disable=SC2034  # (used by the scripts that source this file)
PY=/usr/bin/python3
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
diag() { sed 's/^/# /'; }

# The check passes (label) when the command (after --) succeeds; its output
# is shown as diagnostics when it fails.
check() {
	local label="$1" out
	shift 2
	if out="$("$@" 2>&1)"; then
		ok "$label"
	else
		notok "$label"
		printf '%s\n' "$out" | diag
	fi
}

# The check must fail on a scratch copy (dir): it passes (label) when the
# command fails naming expect.
fails_naming() {
	local label="$1" expect="$2" out
	shift 3
	if out="$("$@" 2>&1)"; then
		notok "$label"
		echo "# it passed"
	elif grep -qF "$expect" <<<"$out"; then
		ok "$label ($expect)"
	else
		notok "$label, naming it"
		printf '%s\n' "$out" | diag
	fi
}
