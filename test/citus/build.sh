#!/usr/bin/env bash
#
# test/citus/build.sh SRC — build and install Citus for the PostgreSQL the
# harness runs (PG_MAJOR: Citus 13.0, tag v13.0.5, for 15; Citus 14.0, tag
# v14.0.1, for 18) from a checkout of citusdata/citus at SRC, for the optional
# suite test/citus/run.sh (docs/scaling.md).  Installs the Debian packages
# the build needs first.  As root.  Citus's usage statistics, which would
# call out to the internet, are left out (--without-libcurl).

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"
require_root

src="${1:-}"
if [[ -z "$src" || ! -x "$src/configure" || ! -d "$src/src/backend/distributed" ]]; then
	die "usage: bash test/citus/build.sh <a checkout of citusdata/citus at tag v13.0.5 (PostgreSQL 15) or v14.0.1 (18)>"
fi
src="$(cd "$src" && pwd)"

HARNESS_PACKAGES+=(liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev)
ensure_packages

mkdir -p "$LOGDIR"
log="$LOGDIR/citus-build.log"
say "building Citus in $src (log: $log)"
if ! (cd "$src" && PG_CONFIG="$PG_CONFIG" ./configure --without-libcurl && make -j"$(nproc)" && make install) \
	>"$log" 2>&1 </dev/null; then
	show_log_tail "$log"
	die "building Citus failed"
fi
say "installed $("$PG_CONFIG" --pkglibdir)/citus.so ($(git -C "$src" describe --tags 2>/dev/null || echo 'version unknown')); run: bash test/citus/run.sh"
