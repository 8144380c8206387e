#!/usr/bin/env bash
#
# test/packaging/deb.sh — the Debian package, as a DBA meets it.  Run by
# test/check.sh on PostgreSQL 15 (the package is postgresql-15-concord; on
# other majors it says it skips), with the stub servers of its run up (RUN
# in the environment); prints TAP.
#
# bash packaging/deb.sh builds the package with Debian's tooling and lintian
# must report no error.  What `make install` put into PostgreSQL 15 is
# taken out, so that only the package's files count; the package is
# installed with dpkg, a clean cluster (tmp/deb-cluster, port CONCORD_DEB_PORT,
# default 54369) with concord preloaded runs CREATE EXTENSION concord and a
# smoke test (an HTTP call through libcurl to the stub, a mask, ICU's
# transliteration, the worker), the extension is dropped, the package
# removed (its files go), and `make install` puts the suite's build back.
#
# Where PostgreSQL 15 is Debian's own (/usr/lib/postgresql/15), the package
# is installed with apt-get, which brings its dependencies from the
# archive, and removed with dpkg -r.  Where the harness runs a relocated
# copy (CONCORD_PGBIN=/ROOT/usr/lib/postgresql/15/bin, so that work trees do
# not share one installation), dpkg installs and removes it under that root
# (dpkg --root=ROOT, with a package database of its own there); its
# dependencies are then checked against this system by apt-get --simulate.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

if [[ "$PG_MAJOR" != 15 ]]; then
	echo "1..0 # SKIP the package is built for Debian 12's PostgreSQL 15 (PG_MAJOR=15 runs this test)"
	exit 0
fi
echo "1..10"

RUNNAME=deb-cluster DB=concord_deb
port="${CONCORD_DEB_PORT:-54369}"
log="$LOGDIR/deb-test.log"
mkdir -p "$LOGDIR"
: >"$log"
pkglib="$("$PG_CONFIG" --pkglibdir)"
extdir="$("$PG_CONFIG" --sharedir)/extension"

# The root the installation lives under: / for Debian's own.
root="${PGBIN%/usr/lib/postgresql/15/bin}"
if [[ "$root" == "$PGBIN" ]]; then
	echo "# $PGBIN is not a PostgreSQL 15 bin directory of a Debian layout" >&2
	exit 1
fi
dpkg_root=()
if [[ -n "$root" ]]; then
	dpkg_root=(--root="$root")
	mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
	touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
fi

# Put the suite's own build back however the test ends.
restore() {
	stop_all "$RUNNAME" >/dev/null 2>&1 || true
	if dpkg "${dpkg_root[@]}" -s postgresql-15-concord >/dev/null 2>&1; then
		dpkg "${dpkg_root[@]}" --force-depends -r postgresql-15-concord >>"$log" 2>&1 || true
	fi
	make -C "$REPO" PG_CONFIG="$PG_CONFIG" install >>"$log" 2>&1 </dev/null || true
}
trap restore EXIT

# 1-2. Build and lint.
rc=0
out="$(bash packaging/deb.sh 2>&1)" || rc=$?
printf '%s\n' "$out" >>"$log"
deb="$(printf '%s\n' "$out" | tail -n 1)"
version="$(dpkg-parsechangelog -l debian/changelog -S Version)"
tap_is "bash packaging/deb.sh builds postgresql-15-concord_<version>_amd64.deb with pg_buildext" \
	"$rc $(basename "$deb")" "0 postgresql-15-concord_${version}_amd64.deb"
tap_is "lintian reports no errors" \
	"$(if [[ -f "$REPO/tmp/deb/lintian.log" ]]; then grep -c '^E: ' "$REPO/tmp/deb/lintian.log" || true; else echo missing; fi)" "0"
tap_is "the package's version is META.json's" "${version%-*}" \
	"$(/usr/bin/python3 -c "import json; print(json.load(open('META.json'))['version'])")"

# 3. Only the package's files count: make install's are taken out first.
make -C "$REPO" PG_CONFIG="$PG_CONFIG" uninstall >>"$log" 2>&1 </dev/null || true
# How many of the files given exist.
count_files() {
	local f n=0
	for f in "$@"; do
		[[ -e "$f" ]] && n=$((n + 1))
	done
	echo "$n"
}
gone="$(count_files "$pkglib/concord.so" "$extdir/concord.control")"

# 4. Install.
rc=0
if [[ -z "$root" ]]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" >>"$log" 2>&1 </dev/null || rc=$?
	how="apt-get install"
else
	DEBIAN_FRONTEND=noninteractive apt-get install --simulate "$deb" >>"$log" 2>&1 </dev/null || rc=$?
	dpkg "${dpkg_root[@]}" --force-depends -i "$deb" >>"$log" 2>&1 </dev/null || rc=$?
	how="dpkg --root=$root (dependencies checked by apt-get --simulate)"
fi
tap_is "the package installs ($how) where make install's files were taken out" \
	"$gone/$rc/$(dpkg "${dpkg_root[@]}" -L postgresql-15-concord 2>/dev/null | grep -cE '/lib/postgresql/15/lib/concord\.so$|/extension/concord\.control$|/extension/concord--[0-9.]+\.sql$' || true)" \
	"0/0/4"

# 5-8. A clean cluster using it.
stop_all "$RUNNAME" >/dev/null 2>&1 || true
rm -rf "$(run_dir "$RUNNAME")"
CLUSTER_PRELOAD="$CONCORD_EXT" cluster_start "$RUNNAME" "$port" >>"$log" 2>&1
q() { run_psql "$DB" -At -c "$1" </dev/null 2>&1; }
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >>"$log" 2>&1
tap_is "CREATE EXTENSION concord on a clean cluster" \
	"$(q "SET client_min_messages = warning; CREATE EXTENSION concord; SELECT extversion FROM pg_extension WHERE extname = 'concord'")" \
	"$(sed -nE "s/^default_version = '([0-9.]+)'$/\1/p" concord.control)"
q "SELECT concord.http_allow_host('127.0.0.1', $STUB_PORT, allow_private => true)" >>"$log"
tap_is "smoke: an allowed HTTP call through libcurl to the stub answers 200" \
	"$(q "SELECT (concord.http_get('$STUB_URL/json')).status")" "200"
tap_is "smoke: a mask, and a name normalized across scripts with ICU" \
	"$(q "SELECT concord.mask_phone('13812345678')")/$(q "SELECT concord.normalize_name('張偉') = concord.normalize_name('张伟')")" \
	"138****5678/t"
workers=""
for ((i = 0; i < 30; i++)); do
	workers="$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'concord launcher'")"
	[[ "$workers" == 1 ]] && break
	sleep 0.5
done
tap_is "smoke: the background worker runs (concord preloaded from the package)" "$workers" "1"
tap_is "DROP EXTENSION concord" "$(q "DROP EXTENSION concord; SELECT count(*) FROM pg_extension WHERE extname = 'concord'")" "0"
stop_all "$RUNNAME"

# 9. Remove.
rc=0
dpkg "${dpkg_root[@]}" --force-depends -r postgresql-15-concord >>"$log" 2>&1 </dev/null || rc=$?
tap_is "the package removes, and its files go" \
	"$rc/$(count_files "$pkglib/concord.so" "$extdir/concord.control" "$extdir/concord--$(sed -nE "s/^default_version = '([0-9.]+)'$/\1/p" concord.control).sql")" "0/0"
