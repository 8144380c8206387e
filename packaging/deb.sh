#!/usr/bin/env bash
#
# packaging/deb.sh — build concord's Debian package with Debian's own
# tooling for PostgreSQL extensions (debhelper with postgresql-common's
# pg_buildext, debian/), and check it with lintian.
#
#   bash packaging/deb.sh            build postgresql-15-concord_<version>_amd64.deb
#
# Installs the Debian packages the build needs (apt-get), copies the tracked
# files of this tree into tmp/deb/concord-<version>/ (so the work tree is
# never touched by the build), runs `dpkg-buildpackage -b` there, which
# builds with the pg_config of every PostgreSQL major in debian/pgversions
# that the system has (Debian 12: 15; the package is named after it), and
# runs lintian on the result.  The package lands in tmp/deb/ and its path is
# the last line printed.  Exits non-zero if the build fails or lintian
# reports an error.  As root.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"
OUT="$REPO/tmp/deb"
LOG="$OUT/build.log"

say() { printf 'deb: %s\n' "$*"; }
die() {
	printf 'deb: ERROR: %s\n' "$*" >&2
	exit 1
}
((EUID == 0)) || die "run this as root (it installs the build's Debian packages)"

# debian/control's Build-Depends, plus the tools that read it.
packages=(build-essential debhelper dpkg-dev fakeroot lintian postgresql-server-dev-all
	postgresql-server-dev-15 libcurl4-openssl-dev libicu-dev libjansson-dev libssl-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
	[[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" == ii* ]] || missing+=("$p")
done
mkdir -p "$OUT"
: >"$LOG"
if ((${#missing[@]})); then
	say "installing ${missing[*]}"
	apt-get update >>"$LOG" 2>&1 </dev/null || die "apt-get update failed (log: $LOG)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
		>>"$LOG" 2>&1 </dev/null || die "apt-get install failed (log: $LOG)"
fi

version="$(dpkg-parsechangelog -l debian/changelog -S Version)"
upstream="${version%-*}"
src="$OUT/concord-$upstream"
rm -rf "$src" "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
mkdir -p "$src"

# The tracked files as they are in the work tree (a tree without git: every
# file but build products and tmp/).
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$REPO" ls-files -z --cached --others --exclude-standard |
		(cd "$REPO" && tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
	tar -C "$REPO" --exclude=./tmp --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
		--exclude='./concord--*.sql' -cf - . | tar -xf - -C "$src"
fi
[[ -f "$src/debian/rules" ]] || die "debian/ is missing from the copy in $src"

say "dpkg-buildpackage -b in $src (log: $LOG)"
# dh builds with one job unless DEB_BUILD_OPTIONS says otherwise.
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
(cd "$src" && dpkg-buildpackage -us -uc -b) >>"$LOG" 2>&1 </dev/null || {
	tail -n 40 "$LOG" >&2
	die "dpkg-buildpackage failed (log: $LOG)"
}

shopt -s nullglob
debs=("$OUT"/postgresql-*-concord_"${version}"_*.deb)
shopt -u nullglob
((${#debs[@]})) || die "the build made no postgresql-*-concord package (log: $LOG)"
rm -rf "$src"

# lintian: errors fail the build; warnings are shown.
lint="$OUT/lintian.log"
lintian --tag-display-limit 0 "${debs[@]}" >"$lint" 2>&1 || true
errors="$(grep -c '^E: ' "$lint" || true)"
say "lintian: $errors errors, $(grep -c '^W: ' "$lint" || true) warnings (log: $lint)"
cat "$lint"
((errors == 0)) || die "lintian reports errors"
for deb in "${debs[@]}"; do
	printf '%s\n' "$deb"
done
