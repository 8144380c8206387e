#!/usr/bin/env bash
#
# test/packaging/meta.sh — the package's metadata, run by test/check.sh;
# prints TAP.  META.json must be valid JSON with the PGXN Meta Spec 1.0.0's
# required keys, agree with concord.control and the build, and `make dist`
# must make a PGXN-ready zip (META.json at the top of one directory), and
# make install must stage everything under another root (DESTDIR).  It names
# every supported major (the ones the harness's PG_MAJOR and src/compat.h
# accept) and every prerequisite.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

echo "1..8"
meta() { /usr/bin/python3 -c "import json, sys; m = json.load(open('META.json')); print($1)"; }

tap_is "META.json is JSON with the Meta Spec's required keys" \
	"$(meta "','.join(k for k in ['name', 'abstract', 'version', 'maintainer', 'license', 'provides', 'meta-spec'] if k not in m) or 'all there'")" "all there"
tap_is "it follows Meta Spec 1.0.0 and names a release status PGXN knows" \
	"$(meta "m['meta-spec']['version'] + ' ' + str(m.get('release_status') in ('stable', 'testing', 'unstable'))")" "1.0.0 True"
tap_is "it names every supported major, as the harness (PG_MAJOR) and src/compat.h do, and requires PostgreSQL in that range" \
	"$(meta "','.join(map(str, m['x_postgresql_majors'])) + ' ' + m['prereqs']['runtime']['requires']['PostgreSQL'] + ' / ' + m['prereqs']['build']['requires']['PostgreSQL']")" \
	"$(sed -nE 's/^([0-9]+) \| ([0-9]+) \| ([0-9]+)\) ;;$/\1,\2,\3/p' test/harness/lib.sh) >= $(sed -nE 's/^#if PG_VERSION_NUM < ([0-9]+)0000 .*/\1/p' src/compat.h).0.0, < $(sed -nE 's/.*PG_VERSION_NUM >= ([0-9]+)0000$/\1/p' src/compat.h | head -n 1).0.0 / >= 15.0.0, < 19.0.0"
tap_is "and every prerequisite: pgTAP, dblink and pgcrypto to test, pg_cron recommended, the libraries the Makefile links" \
	"$(meta "' '.join(sorted(m['prereqs']['test']['requires'])) + ' / ' + ' '.join(m['prereqs']['runtime']['recommends']) + ' / ' + ' '.join(sorted(m['x_system_requires']))")/$(grep -c -e 'curl-config' -e '-ljansson' -e '-lcrypto' -e 'icu-i18n' Makefile)" \
	"dblink pgTAP pgcrypto / pg_cron / ICU OpenSSL jansson libcurl/1"
control="$(sed -nE "s/^default_version = '([0-9.]+)'$/\1/p" concord.control)"
tap_is "its version is concord.control's default_version (as x.y.0)" "$(meta "m['version'] + ' ' + m['provides']['concord']['version']")" "$control.0 $control.0"
tap_is "the file it names is the install script the build makes" \
	"$(meta "m['provides']['concord']['file']")/$(sed -nE 's/^EXTVERSION = ([0-9.]+)$/\1/p' Makefile)" "concord--$control.sql/$control"
work="$(mktemp -d)"
make -s dist >/dev/null 2>&1 && mv "concord-$control.0.zip" "$work/concord.zip"
tap_is "make dist's archive has META.json, the Makefile and concord.control at the top of concord-$control.0/" \
	"$(/usr/bin/python3 -c "import zipfile; z = zipfile.ZipFile('$work/concord.zip'); n = set(z.namelist()); print(all('concord-$control.0/' + f in n for f in ('META.json', 'Makefile', 'concord.control', 'README.md')))")" "True"
make -s install DESTDIR="$work/stage" >/dev/null 2>&1 || true
tap_is "make install DESTDIR=... stages the library, the control file and every script under another root" \
	"$(cd "$work/stage" && ls "./$("$PGBIN/pg_config" --pkglibdir)/concord.so" "./$("$PGBIN/pg_config" --sharedir)/extension/concord.control" \
	   "./$("$PGBIN/pg_config" --sharedir)/extension/concord--$control.sql" "./$("$PGBIN/pg_config" --sharedir)/extension/concord--0.1.sql" 2>&1 | wc -l)" "4"
rm -rf "$work"
