#!/usr/bin/env bash
#
# test/sync/jdoc.sh — sync's JSON tokenizer (src/sync/jdoc.c) against
# jansson, run by test/check.sh; prints TAP.  Builds test/sync/jdoc_fuzz.c
# with jdoc.c, stand-ins for sync's allocator and libpgcommon (for the
# shortest double text), and runs it from a fixed seed: the same documents
# every run, a few seconds.  No cluster needed.
#
# JDOC_FUZZ_SEED and JDOC_FUZZ_DOCS change the seed and the number of random
# documents (default 20261207 and 20000); JDOC_FUZZ_SANITIZE=1 builds with
# AddressSanitizer and UBSan.  For a longer, open-ended run with libFuzzer:
#   JDOC_LIBFUZZER=1 bash test/sync/jdoc.sh [libFuzzer options, e.g. -max_total_time=600]

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=test/harness/lib.sh
. test/harness/lib.sh
cd "$REPO"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

inc="$("$PG_CONFIG" --includedir-server)"
libs=""
for d in "$("$PG_CONFIG" --libdir)" "$("$PG_CONFIG" --pkglibdir)" "$(dirname "$PGBIN")/lib"; do
	if [[ -f "$d/libpgcommon.a" && -f "$d/libpgport.a" ]]; then
		libs="$d"
		break
	fi
done
if [[ -z "$libs" ]]; then
	echo "1..1"
	echo "not ok 1 - libpgcommon.a and libpgport.a found (looked in $("$PG_CONFIG" --libdir) and $("$PG_CONFIG" --pkglibdir))"
	exit 0
fi

cc=(gcc -O1 -g -Wall -Wno-unused-function ${CI:+-Werror})
src=(test/sync/jdoc_fuzz.c src/sync/jdoc.c)
if [[ -n "${JDOC_LIBFUZZER:-}" ]]; then
	clang -O1 -g -Wno-ignored-attributes -fsanitize=fuzzer,address,undefined -DJDOC_LIBFUZZER -I src -I "$inc" "${src[@]}" \
		"$libs/libpgcommon.a" "$libs/libpgport.a" -ljansson -lm -o "$work/jdoc_fuzzer"
	mkdir -p tmp/jdoc-corpus
	exec "$work/jdoc_fuzzer" tmp/jdoc-corpus "$@"
fi
if [[ -n "${JDOC_FUZZ_SANITIZE:-}" ]]; then
	# shellcheck disable=SC2054  # one option, its commas are its own
	cc+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
fi
if ! "${cc[@]}" -I src -I "$inc" "${src[@]}" "$libs/libpgcommon.a" "$libs/libpgport.a" \
	-ljansson -lm -o "$work/jdoc_fuzz" >"$work/build.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - test/sync/jdoc_fuzz.c builds with src/sync/jdoc.c"
	sed 's/^/# /' "$work/build.log"
	exit 0
fi
timeout 120 "$work/jdoc_fuzz" "${JDOC_FUZZ_SEED:-20261207}" "${JDOC_FUZZ_DOCS:-20000}" ||
	echo "not ok - the harness stopped with status $?"
