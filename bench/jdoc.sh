#!/usr/bin/env bash
#
# bench/jdoc.sh — speed of sync's JSON tokenizer (src/sync/jdoc.c) alone,
# without a server: jd_parse of a Stripe-shaped page of 1,000 customers and
# jd_without of each record (bench/jdoc_bench.c), the median and minimum
# over ROUNDS rounds.  With BASE=<git revision>, the jdoc.c of that
# revision is timed too, alternating with the work tree's, to see what a
# change to jdoc.c costs.  Single-threaded; on a shared machine, read the
# minimums.
#
#   bash bench/jdoc.sh                    the work tree's jdoc.c, 200 rounds
#   BASE=main BENCH_ROUNDS=500 bash bench/jdoc.sh
#
# Timing lives here, never in the tests.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=test/harness/lib.sh
. test/harness/lib.sh
cd "$REPO"

ROUNDS="${BENCH_ROUNDS:-200}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

libs=""
for d in "$("$PG_CONFIG" --libdir)" "$("$PG_CONFIG" --pkglibdir)"; do
	if [[ -f "$d/libpgcommon.a" && -f "$d/libpgport.a" ]]; then
		libs="$d"
		break
	fi
done
[[ -n "$libs" ]] || die "libpgcommon.a and libpgport.a not found under $PG_CONFIG's libdir or pkglibdir"

# build NAME JDOC_C: the bench linked with that jdoc.c
build() {
	gcc -O2 -I src -I "$("$PG_CONFIG" --includedir-server)" bench/jdoc_bench.c "$2" \
		"$libs/libpgcommon.a" "$libs/libpgport.a" -lm -o "$work/$1"
}

build tree src/sync/jdoc.c
if [[ -n "${BASE:-}" ]]; then
	git show "$BASE:src/sync/jdoc.c" >"$work/base_jdoc.c"
	build base "$work/base_jdoc.c"
	# alternate, in slices, so that a change in the machine's load falls on both
	slice=$(((ROUNDS + 4) / 5))
	for i in 1 2 3 4 5; do
		"$work/base" "$slice" >"$work/base.$i"
		"$work/tree" "$slice" >"$work/tree.$i"
	done
	for who in base tree; do
		echo "== jdoc.c of $([[ $who == base ]] && echo "$BASE" || echo "the work tree") (5 slices of $slice rounds)"
		head -n 1 "$work/$who.1"
		for f in jd_parse "jd_without x1000"; do
			grep -h "^$f:" "$work/$who".? | awk -v f="$f" '
				{ sub(/.*min /, ""); sub(/\)/, ""); if (min == "" || $1 + 0 < min) min = $1 + 0; mins = mins " " $1 }
				END { printf "%s: min %.3f ms per page (each slice'"'"'s min:%s)\n", f, min, mins }'
		done
	done
else
	"$work/tree" "$ROUNDS"
fi
