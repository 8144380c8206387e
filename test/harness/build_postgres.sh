#!/usr/bin/env bash
#
# test/harness/build_postgres.sh MAJOR — build PostgreSQL MAJOR (17 or 18)
# with pgTAP and pg_cron into /opt/postgresql-MAJOR, from Debian's source
# packages, unless a complete build is already there.
#
# Debian 12's archive ships PostgreSQL 15 only; Debian's archive also serves
# the source packages of postgresql-17 (suite trixie), postgresql-18 (suite
# sid), pgtap and pg-cron.  This script adds deb-src entries for those
# suites in a file of its own (/etc/apt/sources.list.d/concord-src.sources),
# fetches the source packages with `apt-get source`, and builds the upstream
# code with
#   ./configure --prefix=/opt/postgresql-MAJOR --with-openssl --with-icu
# plus the contrib modules the tests use (dblink, pgcrypto), then pgTAP and
# pg_cron against the new pg_config.  The build is cached outside the clone:
# a marker file, written last, says the tree is complete; a second run finds
# it and does nothing.  A lock (flock on /opt/postgresql-MAJOR.lock) keeps
# two runs from building at once: the second waits and then reuses the
# first's build.  No package source other than Debian's archive is used.
#
# What the archive reached from here actually serves (December 2026):
# postgresql-18's upstream tarball (sid, 18.6) and pgtap's (sid, 1.3.4), but
# neither postgresql-17's (trixie, 17.12: 404) nor pg-cron's (404 in every
# suite).  17 therefore stops with that said; 18 is built without pg_cron.
# A cold build of 18 took 3 min 40 s of wall time on this 2-core machine.
#
# Environment: CONCORD_PG_PREFIX_BASE (default /opt) — where postgresql-N
# goes; CONCORD_BUILD_JOBS (default: nproc) — make -j.

set -Eeuo pipefail

major="${1:-}"
case "$major" in
17) suite=trixie ;;
18) suite=sid ;;
*)
	echo "usage: bash test/harness/build_postgres.sh 17|18" >&2
	exit 2
	;;
esac
((EUID == 0)) || {
	echo "build_postgres: run this as root (it installs packages and writes /opt)" >&2
	exit 1
}

base="${CONCORD_PG_PREFIX_BASE:-/opt}"
prefix="$base/postgresql-$major"
marker="$prefix/.concord-build-complete"
jobs="${CONCORD_BUILD_JOBS:-$(nproc)}"
sources_file=/etc/apt/sources.list.d/concord-src.sources

say() { printf 'build_postgres: %s\n' "$*" >&2; }
die() {
	printf 'build_postgres: ERROR: %s\n' "$*" >&2
	exit 1
}

# The build of one major is done by one process at a time.
mkdir -p "$base"
exec 9>"$prefix.lock"
if ! flock -n 9; then
	say "another run is building $prefix; waiting for it"
	flock 9
fi
if [[ -f "$marker" ]]; then
	say "$prefix is built ($(head -n 1 "$marker"))"
	exit 0
fi

start=$(date +%s)
work="$(mktemp -d "/tmp/concord-pg$major-build.XXXXXX")"
log="$work/build.log"
cleanup() {
	local rc=$?
	if ((rc != 0)); then
		[[ -f "$log" ]] && tail -n 60 "$log" >&2
		say "build of PostgreSQL $major failed (log: $log)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
say "building PostgreSQL $major, pgTAP and pg_cron into $prefix (log: $log)"

# Build tools and libraries, all from Debian 12's archive.
build_packages=(build-essential dpkg-dev bison flex pkg-config libicu-dev libssl-dev
	libreadline-dev zlib1g-dev perl)
missing=()
for p in "${build_packages[@]}"; do
	[[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" == ii* ]] || missing+=("$p")
done

# deb-src entries for the suites that carry the newer majors' sources, in a
# file of their own; Debian's archive only.
want_sources="Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
need_update=0
if [[ ! -f "$sources_file" ]] || [[ "$(cat "$sources_file")" != "$want_sources" ]]; then
	printf '%s\n' "$want_sources" >"$sources_file"
	need_update=1
fi
if ! apt-cache showsrc "postgresql-$major" >/dev/null 2>&1 ||
	[[ -z "$(apt-cache showsrc "postgresql-$major" 2>/dev/null)" ]]; then
	need_update=1
fi
if ((need_update)) || ((${#missing[@]})); then
	say "apt-get update"
	apt-get update >>"$log" 2>&1 </dev/null || die "apt-get update failed"
fi
if ((${#missing[@]})); then
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
		>>"$log" 2>&1 </dev/null || die "apt-get install failed"
fi

# Fetch a source package's upstream tarball (the newest version of the
# first of the given suites that serves it; apt checks it against the
# archive's signed index) and unpack it; print the upstream tree's path.
# Only the upstream code is built, so a suite whose index names a Debian
# part (.dsc, .debian.tar) the mirror no longer has still serves.
fetch_source() {
	local pkg="$1" dir from orig=""
	shift
	for from in "$@"; do
		rm -rf "${work:?}/$pkg"
		mkdir -p "$work/$pkg"
		say "apt-get source --download-only $pkg/$from"
		(cd "$work/$pkg" && apt-get source --download-only "$pkg/$from" >>"$log" 2>&1 </dev/null) || true
		orig="$(find "$work/$pkg" -maxdepth 1 -name '*.orig.tar.*' ! -name '*.asc' | head -n 1)"
		[[ -n "$orig" ]] && break
	done
	if [[ -z "$orig" ]]; then
		say "the archive serves no upstream tarball of the source package $pkg (suites: $*)"
		return 1
	fi
	dir="$work/$pkg/upstream"
	mkdir -p "$dir"
	tar -xf "$orig" -C "$dir" --strip-components=1 || die "cannot unpack $orig"
	printf '%s' "$dir"
}

# The server (and the contrib modules the tests use); a finished server
# build, marked, is kept when only the add-ons below failed before.
server_marker="$prefix/.concord-server-built"
if [[ -f "$server_marker" ]]; then
	say "$(cat "$server_marker"); building the add-ons"
else
	pgsrc="$(fetch_source "postgresql-$major" "$suite")" || die "cannot get PostgreSQL $major's source"
	pgver="$(sed -nE "s/^PACKAGE_VERSION='([^']+)'$/\1/p" "$pgsrc/configure")"
	say "PostgreSQL $pgver: configure, make -j$jobs"
	rm -rf "$prefix"
	(
		cd "$pgsrc"
		./configure --prefix="$prefix" --with-openssl --with-icu
		make -j"$jobs"
		make install
		for c in dblink pgcrypto; do
			make -C "contrib/$c" -j"$jobs"
			make -C "contrib/$c" install
		done
	) >>"$log" 2>&1 </dev/null || die "building PostgreSQL $major failed"
	printf 'PostgreSQL %s built in %d s\n' "$pgver" "$(($(date +%s) - start))" >"$server_marker"
fi
pgver="$("$prefix/bin/pg_config" --version | sed 's/^PostgreSQL //')"

# pgTAP and pg_cron, against the new server, from the newest source package
# (sid's, else trixie's: both support 17 and 18).  pgTAP is required.  The
# archive reached here has served no pg-cron source (its .orig.tar.gz
# answers 404 in every suite), so pg_cron is built when it can be fetched
# and otherwise left out: the harness then runs without it and the tests
# that need it say they skip (see pg_cron_available in test/harness/lib.sh).
addons=()
for pkg in pgtap pg-cron; do
	if ! src="$(fetch_source "$pkg" sid trixie)"; then
		[[ "$pkg" == pgtap ]] && die "cannot get pgTAP's source"
		addons+=("$pkg: not available from the archive")
		continue
	fi
	say "$pkg: make PG_CONFIG=$prefix/bin/pg_config install"
	(
		cd "$src"
		make PG_CONFIG="$prefix/bin/pg_config" -j"$jobs"
		make PG_CONFIG="$prefix/bin/pg_config" install
	) >>"$log" 2>&1 </dev/null || die "building $pkg for PostgreSQL $major failed"
	addons+=("$pkg from $(find "$work/$pkg" -maxdepth 1 -name "*.orig.tar.*" ! -name "*.asc" -printf "%f\n" | head -n 1)")
done

# The cluster runs as the postgres OS user, which must read the tree.
chmod -R a+rX "$prefix"
secs=$(($(date +%s) - start))
{
	printf 'PostgreSQL %s, built in %d s on %s\n' "$pgver" "$secs" "$(date -u +%FT%TZ)"
	printf '%s\n' "${addons[@]}"
} >"$marker"
say "done in ${secs}s: $("$prefix/bin/pg_config" --version)"
