#!/usr/bin/env bash
#
# test/demo.sh — build concord and leave a demo running.
#
# Installs what is missing from Debian, builds and installs concord, starts a
# PostgreSQL cluster (tmp/demo, port 54329) with database concord_demo,
# pg_cron and the stub API servers, runs test/demo.sql, and leaves the
# cluster and the stubs running so you can connect. Running it again replaces
# the previous demo.
#
#   bash test/demo.sh               start (or restart) the demo on PostgreSQL 15
#   PG_MAJOR=18 bash test/demo.sh   the same on PostgreSQL 18 (17 likewise),
#                                   built first if /opt/postgresql-18 is absent
#   bash test/demo.sh --stop        stop the demo's processes
#
# Environment: CONCORD_DEMO_RUN (default demo) names the run, i.e. the
# directory tmp/NAME and its processes, and CONCORD_DEMO_PORT (default 54329)
# its port; test/story.sh runs the demo as its own run on its own port, so a
# demo you started is left alone.

set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=test/harness/lib.sh
. test/harness/lib.sh
cd "$REPO"
require_root

RUN="${CONCORD_DEMO_RUN:-demo}"
PORT="${CONCORD_DEMO_PORT:-54329}"
DB=concord_demo

case "${1:-}" in
--stop)
	stop_all "$RUN"
	say "demo stopped (cluster and stub servers of tmp/$RUN)"
	exit 0
	;;
"") ;;
*)
	echo "usage: bash test/demo.sh [--stop]" >&2
	exit 2
	;;
esac

# Leave the demo running only if it came up completely.
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0)); then
		say "demo failed (exit status $rc); stopping what it started"
		stop_all "$RUN" >/dev/null 2>&1 || true
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_packages
build_install

# Stop the previous demo, if any, and start from a fresh directory.
stop_all "$RUN"
rm -rf "$(run_dir "$RUN")"

# pg_cron runs scheduled syncs; it is preloaded with concord and lives in the
# demo database.  Where it is not installed for this major, the demo runs
# the scheduled sync's command itself (scene 14 says so).
if pg_cron_available; then
	CRON=on
	CLUSTER_PRELOAD="$CONCORD_EXT,pg_cron" \
		CLUSTER_EXTRA_CONF="cron.database_name = '$DB'" \
		cluster_start "$RUN" "$PORT"
else
	CRON=off
	say "pg_cron is not installed for $(pg_version): the demo runs without it"
	CLUSTER_PRELOAD="$CONCORD_EXT" cluster_start "$RUN" "$PORT"
fi
stubs_start "$RUN"

run_psql postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" </dev/null >/dev/null
if [[ "$CRON" == on ]]; then
	run_psql "$DB" -c "CREATE EXTENSION pg_cron" </dev/null >/dev/null
fi
run_psql "$DB" -c "CREATE EXTENSION $CONCORD_EXT" </dev/null >/dev/null

echo
echo "== test/demo.sql =="
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 \
	-v stub_url="$STUB_URL" -v stub_tls_url="$STUB_TLS_URL" -v ca_file="$STUB_CA_FILE" -v cron="$CRON" \
	-d "$DB" -f test/demo.sql </dev/null

dir="$(run_dir "$RUN")"
cat <<EOF

== what is running ==
$(printf '%-18s' "$(pg_version)")127.0.0.1:$PGPORT (data $dir/data, log $dir/postgres.log)
  connect:        psql -h $PGHOST -p $PGPORT -U postgres $DB
stub API, HTTP    $STUB_URL
stub API, HTTPS   $STUB_TLS_URL (CA $STUB_CA_FILE)
pg_cron           $([[ "$CRON" == on ]] && echo "scheduled syncs of $DB (cron.job, cron.job_run_details)" || echo "not installed for this major")
stop everything:  $([[ "$RUN" == demo ]] || echo "CONCORD_DEMO_RUN=$RUN ")$([[ "$PG_MAJOR" == 15 ]] || echo "PG_MAJOR=$PG_MAJOR ")bash $REPO/test/demo.sh --stop
EOF
