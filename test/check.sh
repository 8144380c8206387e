#!/usr/bin/env bash
#
# test/check.sh — the whole test suite.
#
# Installs what is missing from Debian, builds and installs concord, starts a
# throwaway PostgreSQL cluster (tmp/test, port 54339) and the stub API
# servers, runs the pg_regress suite (sql/ + expected/), the pgTAP tests
# (test/<component>/*.sql) and the outbox's crash test (test/flow/crash.sh,
# TAP), stops everything it started, and ends with the
# line "N passed, N failed" (pg_regress tests + pgTAP assertions). Exits 0
# only if nothing failed.
#
# Environment: PG_MAJOR=15 (default), 17 or 18 picks the PostgreSQL major
# (17 and 18 are built into /opt/postgresql-N first if absent; see
# test/harness/lib.sh); CI=true makes the build use -Werror (see Makefile);
# CONCORD_TEST_TIMEOUT (seconds, default 1500) bounds each runner;
# CONCORD_TEST_PORT (default 54339) is the suite's cluster's port, and
# CONCORD_STORY_PORT, CONCORD_UPGRADE_PORT and CONCORD_DEB_PORT those of
# the clusters of test/story.sh, test/packaging/pg_upgrade.sh and
# test/packaging/deb.sh.  None of them is a running demo's (tmp/demo, 54329):
# the suite leaves a demo alone.

set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=test/harness/lib.sh
. test/harness/lib.sh
cd "$REPO"
require_root

RUN="test"
DB=concord_test
RUNNER_TIMEOUT="${CONCORD_TEST_TIMEOUT:-1500}"

REGRESS_PASSED=0 REGRESS_FAILED=0 REGRESS_STATUS="not run"
TAP_PASSED=0 TAP_FAILED=0 TAP_STATUS="not run"
CRASH_PASSED=0 CRASH_FAILED=0 CRASH_STATUS="not run"
FINAL_PRINTED=0
RUNNER_PID="" RUNNER_RC=0

# Print each runner's summary and the closing line.
print_summary() {
	local extra_failed="${1:-0}"
	local passed=$((REGRESS_PASSED + TAP_PASSED + CRASH_PASSED))
	local failed=$((REGRESS_FAILED + TAP_FAILED + CRASH_FAILED + extra_failed))
	echo
	echo "== summary =="
	echo "server:     $(pg_version) ($PGBIN)"
	echo "pg_regress: $REGRESS_STATUS"
	echo "pgTAP:      $TAP_STATUS"
	echo "shell TAP:  $CRASH_STATUS"
	FINAL_PRINTED=1
	echo "$passed passed, $failed failed"
}

# On any exit: stop every process this run started; if the suite did not get
# as far as its summary (set-up failed, interrupted), still close with the
# counts line, with the set-up failure counted as one failure.
# shellcheck disable=SC2317  # called through the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$RUNNER_PID" ]]; then
		kill -TERM "$RUNNER_PID" 2>/dev/null || true
	fi
	stop_all "$RUN" >/dev/null 2>&1 || true
	if ((FINAL_PRINTED == 0)); then
		echo "harness: the suite did not complete (exit status $rc)"
		print_summary 1
		((rc != 0)) || rc=1
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a test runner under a time limit with its output in LOG, shown live;
# set RUNNER_RC. It runs in the background so that INT/TERM are handled at
# once (bash runs traps only between foreground commands).
run_logged() {
	local log="$1" tail_pid
	shift
	mkdir -p "$(dirname "$log")"
	: >"$log"
	timeout --kill-after=10 "$RUNNER_TIMEOUT" "$@" >>"$log" 2>&1 </dev/null &
	RUNNER_PID=$!
	tail -n +1 -f --pid="$RUNNER_PID" "$log" &
	tail_pid=$!
	RUNNER_RC=0
	wait "$RUNNER_PID" || RUNNER_RC=$?
	wait "$tail_pid" || true
	RUNNER_PID=""
}

# Run pg_regress through PGXS' installcheck and count its tests.
run_regress() {
	local log="$LOGDIR/regress.log" rc=0
	shopt -s nullglob
	local files=(sql/*.sql)
	shopt -u nullglob
	echo
	echo "== pg_regress (sql/, expected/) =="
	if ((${#files[@]} == 0)); then
		echo "no pg_regress tests (sql/ is empty)"
		REGRESS_STATUS="nothing to run (0 tests): counted as a failure"
		REGRESS_FAILED=1
		return 0
	fi
	rm -f regression.diffs regression.out
	run_logged "$log" make PG_CONFIG="$PG_CONFIG" installcheck
	rc=$RUNNER_RC

	# PostgreSQL 15 prints "test NAME ... ok   12 ms" (and "     NAME ... ok"
	# inside parallel groups); 16+ prints "ok 1 - NAME   12 ms" /
	# "not ok 1 - NAME". "failed (ignored)" does not fail the run.
	local ok bad
	ok="$(grep -cE '^(test | +)[^ ]+ +\.\.\. +(ok|failed \(ignored\))|^ok [0-9]+ ' "$log" || true)"
	bad="$(grep -cE '^(test | +)[^ ]+ +\.\.\. +FAILED|^not ok [0-9]+ ' "$log" || true)"
	if ((rc != 0 && bad == 0)); then
		bad=1 # pg_regress failed before or outside the tests
	fi
	# make installcheck runs every sql/*.sql (REGRESS in the Makefile); a
	# file it did not report on is a failure.
	if ((ok + bad < ${#files[@]})); then
		echo "pg_regress reported on $((ok + bad)) of ${#files[@]} files of sql/"
		bad=$((${#files[@]} - ok))
	fi
	REGRESS_PASSED=$ok REGRESS_FAILED=$bad
	local line
	line="$(grep -E 'All [0-9]+ tests passed|tests? (failed|passed)' "$log" | tail -n 1 | sed 's/^ *//; s/ *$//' || true)"
	REGRESS_STATUS="$((ok + bad)) tests, $ok ok, $bad failed (exit $rc)${line:+; \"$line\"}"
	if ((rc == 124 || rc == 137)); then
		REGRESS_STATUS="$REGRESS_STATUS; timed out after ${RUNNER_TIMEOUT}s"
	fi
	if [[ -s regression.diffs ]]; then
		echo
		echo "== regression.diffs =="
		cat regression.diffs
	fi
	return 0
}

# Run pgTAP tests and add their assertions to the totals.  Without
# arguments: every component folder test/*/ on database $DB; with
# "DB LOG DIR...": those folders on that database (used for the run without
# shared_preload_libraries).
run_pgtap() {
	local db="${1:-$DB}" log="${2:-$LOGDIR/pgtap.log}" rc=0 d dirs=()
	if (($# > 2)); then
		shift 2
		dirs=("$@")
		echo
		echo "== pgTAP (${dirs[*]}, database $db) =="
	else
		echo
		echo "== pgTAP (test/<component>/*.sql) =="
		for d in test/*/; do
			d="${d%/}"
			case "$d" in test/fixtures | test/harness | test/nopreload) continue ;; esac
			if find "$d" -name '*.sql' -type f | grep -q .; then
				dirs+=("$d")
			fi
		done
	fi
	if ((${#dirs[@]} == 0)); then
		# A suite that finds no tests has not shown anything: a failure.
		echo "no pgTAP tests (no test/<component>/*.sql)"
		TAP_STATUS="nothing to run (0 assertions): counted as a failure"
		TAP_FAILED=$((TAP_FAILED + 1))
		return 0
	fi
	run_logged "$log" pg_prove --psql-bin "$PGBIN/psql" \
		-h "$PGHOST" -p "$PGPORT" -U postgres -d "$db" --ext .sql -r "${dirs[@]}"
	rc=$RUNNER_RC

	# From TAP::Harness' closing lines: "Files=N, Tests=M, ..." gives the
	# assertions run; the "Test Summary Report" has, per troubled file,
	# "FILE (Wstat: W [(exited N)] Tests: T Failed: F)" and, for a bad plan,
	# "Parse errors: Bad plan.  You planned P tests but ran R." A file that
	# died or had a bad plan counts at least one failure.
	local counts total failed_run failed
	counts="$(awk '
		function flush() {
			if (infile) {
				f = ffail + (planned > ran ? planned - ran : 0)
				if (f == 0 && (wstat != 0 || parse)) f = 1
				extra += f
				failedrun += ffail
			}
			infile = 0; ffail = 0; planned = 0; ran = 0; wstat = 0; parse = 0
		}
		/^Files=[0-9]+, Tests=[0-9]+/ {
			flush()
			split($0, a, /[=,]/); total = a[4] + 0
			next
		}
		/ \(Wstat: [0-9]+.* Tests: [0-9]+ Failed: [0-9]+\)$/ {
			flush(); infile = 1
			match($0, /Wstat: [0-9]+/);  wstat = substr($0, RSTART + 7, RLENGTH - 7) + 0
			match($0, /Failed: [0-9]+/); ffail = substr($0, RSTART + 8, RLENGTH - 8) + 0
			next
		}
		infile && /Parse errors:/ { parse = 1 }
		infile && /You planned [0-9]+ tests? but ran [0-9]+/ {
			match($0, /planned [0-9]+/); planned = substr($0, RSTART + 8, RLENGTH - 8) + 0
			match($0, /ran [0-9]+/);     ran = substr($0, RSTART + 4, RLENGTH - 4) + 0
		}
		infile && /Non-zero (exit|wait) status/ { wstat = 1 }
		END { flush(); printf "%d %d %d\n", total, failedrun, extra }
	' "$log")"
	read -r total failed_run failed <<<"$counts"
	# A file that ran no test at all passes in TAP::Harness' eyes when it
	# planned none ("1..0", shown as "skipped"): a test file that checks
	# nothing is a failure here (no pgTAP file of the suite skips itself).
	local empty
	empty="$(grep -cE '^[^ ]+\.sql \.+ skipped' "$log" || true)"
	if ((empty > 0)); then
		grep -E '^[^ ]+\.sql \.+ skipped' "$log" | sed 's/^/ran no test: /'
		failed=$((failed + empty))
	fi
	if grep -q '^Result: FAIL' "$log" || ((rc != 0)); then
		((failed > 0)) || failed=1
	fi
	local passed=$((total - failed_run))
	((passed >= 0)) || passed=0
	TAP_PASSED=$((TAP_PASSED + passed))
	TAP_FAILED=$((TAP_FAILED + failed))
	local files status
	files="$(grep -oE '^Files=[0-9]+' "$log" | tail -n 1 | cut -d= -f2 || true)"
	status="${files:-0} files, $total assertions run, $passed ok, $failed failed (exit $rc)"
	if [[ "$TAP_STATUS" == "not run" ]]; then
		TAP_STATUS="$status"
	else
		TAP_STATUS="$TAP_STATUS; without preload: $status"
	fi
	if ((rc == 124 || rc == 137)); then
		TAP_STATUS="$TAP_STATUS; timed out after ${RUNNER_TIMEOUT}s"
	fi
	return 0
}

ensure_packages
build_install

# A previous run killed before its clean-up may have left processes behind.
stop_all "$RUN"
rm -rf "$(run_dir "$RUN")"

# pg_cron runs scheduled syncs; it lives in the test database (where it is
# installed for this major; the tests that need it skip otherwise).
CRON_EXT=()
if pg_cron_available; then
	export CLUSTER_PRELOAD="$CONCORD_EXT,pg_cron"
	export CLUSTER_EXTRA_CONF="cron.database_name = '$DB'"
	CRON_EXT=(-c "CREATE EXTENSION pg_cron")
else
	export CLUSTER_PRELOAD="$CONCORD_EXT"
	say "pg_cron is not installed for $(pg_version): the tests that need it skip"
fi
cluster_start "$RUN" "${CONCORD_TEST_PORT:-54339}"
stubs_start "$RUN"

run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION dblink" \
	"${CRON_EXT[@]}" -c "CREATE EXTENSION $CONCORD_EXT" </dev/null >/dev/null
say "database $DB ready (pgtap, dblink, ${CRON_EXT:+pg_cron, }$CONCORD_EXT)"

run_regress
run_pgtap

# Shell tests printing TAP: the arrows between components against the
# design (test/arch/deps.sh, no database); the components' API tests run as
# the roles their docs give their users, each file that runs as superuser
# listed with its reason (test/arch/roles.sh, no database); operators
# written qualified in the SQL that runs with more rights than its caller
# (test/arch/qualified.sh, no database); on this
# cluster: every object made and dropped by its role under the one
# vocabulary, the old names'
# notices (test/arch/vocabulary.sh), an updated install against a fresh one
# in pg_dump and in each role's grants (test/packaging/upgrade_dump.sh),
# every function of the sources in the upgrade script and every routine
# 0.1 has that it cannot replace dropped (test/packaging/upgrade_functions.sh),
# the outbox across a crash of
# the whole cluster (test/flow/crash.sh), the worker as an operator meets
# it -- isolation of endpoints, alerts on time, a failing duty, restarts,
# DROP DATABASE, promtool, kill -9 of the postmaster alone
# (test/flow/worker.sh), pg_dump and pg_restore
# (test/packaging/dump.sh), the package's metadata (test/packaging/meta.sh),
# a JDBC client as two people (test/bi/jdbc.sh), an ODBC client as two
# people (test/bi/odbc.sh), the whole story: the
# demo on its own cluster, checked as its people (test/story.sh), every
# function of schema concord called with odd arguments without a backend
# crashing (test/security/fuzz.sh, in a database of its own), and the long
# ones, each of which runs on one major and says it skips on the others:
# pg_upgrade from a 15 cluster using concord to this major
# (test/packaging/pg_upgrade.sh, on 17 and 18) and the Debian package built,
# linted, installed on a clean cluster, tried and removed
# (test/packaging/deb.sh, on 15).  Sync's JSON tokenizer against jansson
# (test/sync/jdoc.sh) needs no cluster but runs here with the others.
CRASH_STATUS=""
for script in test/arch/deps.sh test/arch/roles.sh test/arch/qualified.sh test/arch/vocabulary.sh test/packaging/upgrade_dump.sh test/packaging/upgrade_functions.sh test/flow/crash.sh test/flow/worker.sh test/packaging/dump.sh test/packaging/meta.sh test/bi/jdbc.sh test/bi/odbc.sh test/story.sh \
	test/sync/jdoc.sh \
	test/security/fuzz.sh test/packaging/pg_upgrade.sh test/packaging/deb.sh; do
	echo
	echo "== $script =="
	script_log="$LOGDIR/$(basename "$script" .sh).log"
	# The package builds concord twice (gcc, and clang's bitcode) and may
	# first install its build tools: it gets longer.
	limit=300
	[[ "$script" == test/packaging/deb.sh ]] && limit=900
	# about 19,000 calls; 130-250 s on a shared 2-core machine
	[[ "$script" == test/security/fuzz.sh ]] && limit=600
	RUN="$RUN" timeout "$limit" bash "$script" </dev/null >"$script_log" 2>&1 || true
	cat "$script_log"
	ok="$(grep -c '^ok ' "$script_log" || true)"
	notok="$(grep -c '^not ok ' "$script_log" || true)"
	planned="$(sed -nE 's/^1\.\.([0-9]+)( +#.*)?$/\1/p' "$script_log" | head -n 1)"
	if ((ok + notok < ${planned:-1})); then
		notok=$((${planned:-1} - ok))
	fi
	CRASH_PASSED=$((CRASH_PASSED + ok))
	CRASH_FAILED=$((CRASH_FAILED + notok))
	CRASH_STATUS="$CRASH_STATUS${CRASH_STATUS:+; }$(basename "$script"): ${planned:-0} planned, $ok ok, $notok failed"
done

# The same cluster restarted without shared_preload_libraries: loading the
# library on CREATE EXTENSION must work, and so must every synchronous call.
if find test/nopreload -name '*.sql' -type f 2>/dev/null | grep -q .; then
	sed -i "s/^shared_preload_libraries = .*/shared_preload_libraries = ''/" \
		"$(run_dir "$RUN")/data/concord_harness.conf"
	as_postgres "$PGBIN/pg_ctl" -D "$(run_dir "$RUN")/data" -w -t 60 -m fast restart \
		>>"$(run_dir "$RUN")/postgres.log" 2>&1 </dev/null || die "restart without preload failed"
	record_pid "$RUN" postgres-nopreload "$(head -n 1 "$(run_dir "$RUN")/data/postmaster.pid")"
	run_psql postgres -c "CREATE DATABASE concord_nopreload" </dev/null >/dev/null
	run_psql concord_nopreload -c "CREATE EXTENSION pgtap" </dev/null >/dev/null
	run_pgtap concord_nopreload "$LOGDIR/pgtap-nopreload.log" test/nopreload
fi

echo
stop_all "$RUN"
say "stopped the cluster and the stub servers of this run"

print_summary
if ((REGRESS_FAILED == 0 && TAP_FAILED == 0 && CRASH_FAILED == 0)); then
	exit 0
fi
exit 1
