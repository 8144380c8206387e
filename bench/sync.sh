#!/usr/bin/env bash
#
# bench/sync.sh — speed and memory of the sync component, measured side by
# side with the hand-written SQL way.
#
# Starts its own cluster (tmp/bench-sync) and stub API server on 127.0.0.1,
# then loads N generated customers (GET /bench/customers, pages of 1000)
# into a table with a primary key, and prints one line per figure:
#   name: value unit (baseline value unit, ratio N.NNx)
#
# Figures (targets from the issue: >= 50,000 records/s, backend memory flat):
#   1. first run: concord.sync into an empty table;
#   2. upsert rerun, every row changed (the stub's version 1 renames every
#      customer and moves every updated_at);
#   3. rerun, nothing changed (version 1 again);
#   4. the backend's peak RSS (VmHWM of /proc/<pid>/status, one fresh
#      session per measured run, so each reading is that run's own
#      high-water mark), at N and at N/10: flat memory shows as equal peaks.
#      VmHWM counts the shared buffers a backend touches (up to
#      shared_buffers, 128 MB here), which grow with the table, so the peak
#      of the private part (RssAnon, sampled every 0.25 s) is printed too.
# A rate is N over the time of CALL concord.sync (or of the baseline's DO
# block) seen from the session; under each figure are the absolute times,
# the backend's CPU time and the stub server's (the stub is not what is
# measured: it should stay a small share) and concord's sync_run counts.
#
# The baseline is what an analyst would write without concord: a DO block
# looping over the pages with concord.http_get, loading each page with
# INSERT ... SELECT FROM jsonb_to_recordset(...) ON CONFLICT (id) DO UPDATE
# ... WHERE (t.*) IS DISTINCT FROM (excluded.*), until a page comes back
# empty. It runs as one transaction, while concord.sync commits its data
# and its position per batch of pages: that favours the baseline.
#
# Every run is checked (row count, sum of ids, version suffix of the names,
# the sync_run row) and, after each phase, the two tables must hold the
# same rows; a wrong result stops the script with a non-zero status.
#
#   bash bench/sync.sh                    full run (N = 1,000,000)
#   BENCH_N=100000 bash bench/sync.sh     quicker run
#
# Timing lives here, never in the tests.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-sync
DB=concord_bench
N="${BENCH_N:-1000000}"
PAGE=1000
if ! [[ "$N" =~ ^[0-9]+$ ]] || ((N < 10 || N > 100000000)); then
	die "BENCH_N must be an integer from 10 to 100000000"
fi
SMALL=$((N / 10))
OUT="$(run_dir "$RUN")/bench"        # per-run logs and samples

bench_cluster "$RUN" "${BENCH_PORT:-54369}"
stubs_start "$RUN" >/dev/null
STUB_PID="$(tr -dc '0-9' <"$(run_dir "$RUN")/stub-http.pid")"
mkdir -p "$OUT"
run_psql postgres -c "CREATE DATABASE $DB" >/dev/null
run_psql "$DB" -c "CREATE EXTENSION concord" >/dev/null

port="${STUB_URL##*:}"
run_psql "$DB" -At -v port="$port" >/dev/null <<'SQL'
SELECT concord.http_allow_host('127.0.0.1', :port);
SQL

# psql on the bench database, one value per line, stopping at an error.
q() { run_psql "$DB" -At "$@"; }

fail() {
	printf 'bench/sync: WRONG RESULT: %s\n' "$*"
	exit 1
}

# The spec of source NAME loading TOTAL records of VERSION into TABLE.
spec() {
	local total="$1" version="$2" table="$3"
	cat <<EOF
{"request": {"url": "$STUB_URL/bench/customers", "params": {"total": $total, "version": $version}},
 "pagination": {"type": "page_number", "size": $PAGE, "total_path": "\$.total"},
 "records": "\$.data[*]",
 "target": {"table": "$table", "create": true, "primary_key": "id"},
 "columns": [{"name": "id", "type": "bigint"}, {"name": "name"}, {"name": "phone"},
             {"name": "company"}, {"name": "status"}, {"name": "region"},
             {"name": "city", "path": "\$.address.city"},
             {"name": "updated_at", "type": "timestamptz"},
             {"name": "lifetime_value", "type": "numeric(12,2)"}]}
EOF
}

# The hand-written load of TOTAL records of VERSION into TABLE: a DO block
# with the URL, the counts and the table written into it (static SQL, so
# PL/pgSQL plans the INSERT once, as it would for an analyst's block).
baseline_sql() {
	local total="$1" version="$2" table="$3"
	sed -e "s|@URL@|$STUB_URL/bench/customers|" -e "s|@TOTAL@|$total|g" \
		-e "s|@VERSION@|$version|g" -e "s|@TABLE@|$table|g" <<'EOF'
DO $baseline$
DECLARE
  p     int := 1;
  r     concord.http_response;
  body  jsonb;
BEGIN
  LOOP
    r := concord.http_get('@URL@?page=' || p || '&per_page=1000&total=@TOTAL@&version=@VERSION@');
    IF r.status <> 200 THEN
      RAISE EXCEPTION 'page %: HTTP %', p, r.status;
    END IF;
    body := r.body::jsonb;
    EXIT WHEN jsonb_array_length(body->'data') = 0;
    INSERT INTO @TABLE@ AS t
           (id, name, phone, company, status, region, city, updated_at, lifetime_value)
    SELECT x.id, x.name, x.phone, x.company, x.status, x.region,
           x.address->>'city', x.updated_at, x.lifetime_value
    FROM jsonb_to_recordset(body->'data') AS x(
           id bigint, name text, phone text, company text, status text, region text,
           address jsonb, updated_at timestamptz, lifetime_value numeric(12,2))
    ON CONFLICT (id) DO UPDATE
      SET name = excluded.name, phone = excluded.phone, company = excluded.company,
          status = excluded.status, region = excluded.region, city = excluded.city,
          updated_at = excluded.updated_at, lifetime_value = excluded.lifetime_value
      WHERE (t.*) IS DISTINCT FROM (excluded.*);
    p := p + 1;
  END LOOP;
END
$baseline$;
EOF
}

# CPU time (user + system, clock ticks) of process PID, from /proc.
cpu_ticks() {
	local stat
	stat="$(<"/proc/$1/stat")" || return 1
	stat="${stat##*) }"
	# shellcheck disable=SC2086
	set -- $stat
	echo $((${12} + ${13}))
}

# Run the SQL on stdin in a fresh session, timing it and sampling the
# backend's memory meanwhile. Sets ELAPSED (seconds), HWM_KB (VmHWM at the
# end), ANON_KB (largest RssAnon seen: sampled every 0.25 s, and at the end),
# CPU_S (the backend's CPU seconds) and STUB_S (the stub server's CPU
# seconds meanwhile). Usage: measured LABEL <sql
measured() {
	local label="$1" log="$OUT/$1.log" pidfile="$OUT/$1.pid" samples="$OUT/$1.anon"
	local status_re="regexp_match(pg_read_file('/proc/self/status')"
	local ticks_sql="(SELECT a[12]::bigint + a[13]::bigint FROM string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') a)"
	rm -f "$pidfile" "$samples"
	{
		printf '%s\n' "SELECT pg_backend_pid() AS backend_pid \\gset" \
			"\\o $pidfile" "SELECT :backend_pid;" "\\o" \
			"SELECT $ticks_sql AS ticks0, extract(epoch FROM clock_timestamp()) AS t0 \\gset"
		cat
		printf '%s\n' \
			"SELECT 'elapsed ' || (extract(epoch FROM clock_timestamp()) - :t0);" \
			"SELECT 'ticks ' || ($ticks_sql - :ticks0);" \
			"SELECT 'hwm ' || ($status_re, 'VmHWM:\\s+(\\d+)'))[1];" \
			"SELECT 'RssAnon: ' || ($status_re, 'RssAnon:\\s+(\\d+)'))[1];"
	} >"$OUT/$label.sql"
	local stub0
	stub0="$(cpu_ticks "$STUB_PID")" || die "the stub server (pid $STUB_PID) is gone"
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f "$OUT/$label.sql" \
		>"$log" 2>&1 </dev/null &
	local psql_pid=$! bpid="" key value rest
	# sample the backend's private memory until the session ends
	while kill -0 "$psql_pid" 2>/dev/null; do
		if [[ -z "$bpid" && -s "$pidfile" ]]; then
			bpid="$(tr -dc '0-9' <"$pidfile")"
		fi
		if [[ -n "$bpid" && -r "/proc/$bpid/status" ]]; then
			while read -r key value rest; do
				[[ "$key" == RssAnon: ]] && printf 'RssAnon: %s\n' "$value" >>"$samples"
			done <"/proc/$bpid/status" 2>/dev/null || true
		fi
		sleep 0.25
	done
	if ! wait "$psql_pid"; then
		cat "$log" >&2
		die "$label failed (log: $log)"
	fi
	local hz stub1 ticks
	hz="$(getconf CLK_TCK)"
	stub1="$(cpu_ticks "$STUB_PID")" || die "the stub server (pid $STUB_PID) is gone"
	STUB_S="$(awk -v t="$((stub1 - stub0))" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }')"
	ELAPSED="$(sed -n 's/^elapsed //p' "$log")"
	ticks="$(sed -n 's/^ticks //p' "$log")"
	HWM_KB="$(sed -n 's/^hwm //p' "$log")"
	[[ -n "$ELAPSED" && -n "$HWM_KB" && -n "$ticks" ]] || {
		cat "$log" >&2
		die "$label: no timing in $log"
	}
	CPU_S="$(awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }')"
	: >>"$samples"
	ANON_KB="$(awk '/^RssAnon:/ && $2 > m { m = $2 } END { print m + 0 }' "$samples" "$log")"
}

# CALL concord.sync(SOURCE) in a fresh session and check its sync_run row:
# TOTAL records, all of them EXPECT (inserted, updated or unchanged).
# Usage: concord_run LABEL SOURCE EXPECT TOTAL
concord_run() {
	local label="$1" source="$2" expect="$3" total="$4" row
	q -c CHECKPOINT >/dev/null
	measured "$label" <<EOF
CALL concord.sync($(sql_literal "$source"));
EOF
	row="$(q -F ' ' -c "SELECT status, records, inserted, updated, unchanged, rejected
	                     FROM concord.sync_run WHERE source = $(sql_literal "$source")
	                     ORDER BY run_id DESC LIMIT 1")"
	read -r st recs ins upd unch rej <<<"$row"
	SYNC_ROW="status $st, records $recs, inserted $ins, updated $upd, unchanged $unch, rejected $rej"
	[[ "$st" == succeeded && "$recs" == "$total" && "$rej" == 0 ]] ||
		fail "$label: sync_run says $SYNC_ROW (expected $total records)"
	case "$expect" in
	inserted) [[ "$ins" == "$total" ]] ;;
	updated) [[ "$upd" == "$total" ]] ;;
	unchanged) [[ "$unch" == "$total" ]] ;;
	esac || fail "$label: sync_run says $SYNC_ROW (expected all $total $expect)"
}

# The baseline load in a fresh session.
# Usage: baseline_run LABEL TABLE TOTAL VERSION
baseline_run() {
	local label="$1" table="$2" total="$3" version="$4"
	q -c CHECKPOINT >/dev/null
	measured "$label" < <(baseline_sql "$total" "$version" "$table")
}

# Check TABLE holds records 1..TOTAL of VERSION.
check_table() {
	local label="$1" table="$2" total="$3" version="$4" got want
	got="$(q -F ' ' -c "SELECT count(*), coalesce(sum(id), 0),
	         count(*) FILTER (WHERE name ~ ' v[0-9]+\$'),
	         count(*) FILTER (WHERE name LIKE '% v$version'),
	         count(*) FILTER (WHERE city IS NULL OR updated_at IS NULL OR lifetime_value IS NULL)
	       FROM $table")"
	read -r cnt sum suffixed matching nulls <<<"$got"
	want="$(( total * (total + 1) / 2 ))"
	if ((version == 0)); then matching=$((total - suffixed)); fi
	[[ "$cnt" == "$total" && "$sum" == "$want" && "$matching" == "$total" && "$nulls" == 0 ]] ||
		fail "$label: $table has count $cnt, sum(id) $sum, $matching rows of version $version, $nulls rows with NULLs (expected $total, $want, $total, 0)"
}

# The two tables must hold the same rows.
check_same() {
	local label="$1" a="$2" b="$3" diff
	diff="$(q -c "SELECT count(*) FROM ((TABLE $a EXCEPT ALL TABLE $b) UNION ALL (TABLE $b EXCEPT ALL TABLE $a)) d")"
	[[ "$diff" == 0 ]] || fail "$label: $a and $b differ in $diff rows"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.1f", s }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

declare -A T H A C S      # per run label: seconds, VmHWM kB, RssAnon kB, CPU s, stub CPU s

# Keep the readings of the run just measured under LABEL.
keep() { T[$1]=$ELAPSED H[$1]=$HWM_KB A[$1]=$ANON_KB C[$1]=$CPU_S S[$1]=$STUB_S; }

# Absolute time, backend CPU and stub CPU of run LABEL.
run_times() { printf '%s s (backend CPU %s s, stub CPU %s s)' "$(secs "${T[$1]}")" "${C[$1]}" "${S[$1]}"; }

# Print one figure, concord run CONCORD against baseline run BASELINE,
# then their absolute times. Usage: figure NAME RECORDS CONCORD BASELINE
figure() {
	local name="$1" n="$2" c="$3" b="$4"
	printf '%s: %s records/s (hand-written SQL %s records/s, ratio %sx)\n' \
		"$name" "$(rate "$n" "${T[$c]}")" "$(rate "$n" "${T[$b]}")" "$(ratio "${T[$c]}" "${T[$b]}")"
	printf '  concord.sync %s; hand-written SQL %s\n' "$(run_times "$c")" "$(run_times "$b")"
	printf '  concord sync_run: %s\n' "$SYNC_ROW"
}

# The largest of the named runs' readings in array ARR, in MB.
peak() {
	local -n arr="$1"
	local m=0 k
	shift
	for k in "$@"; do
		# shellcheck disable=SC2004  # $k: arr is an associative array
		if ((arr[$k] > m)); then m=${arr[$k]}; fi
	done
	mb "$m"
}

# The sources and the baseline tables, with the same columns and keys as
# the tables concord creates.
q >/dev/null -v spec="$(spec "$N" 0 public.bench_customer)" \
	-v small="$(spec "$SMALL" 0 public.bench_customer_small)" <<'SQL'
SELECT concord.source_create('bench', :'spec');
SELECT concord.source_create('bench_small', :'small');
CREATE TABLE public.bench_customer_sql (LIKE public.bench_customer INCLUDING ALL);
CREATE TABLE public.bench_customer_small_sql (LIKE public.bench_customer_small INCLUDING ALL);
SQL
cols="$(q -c "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
              FROM pg_attribute WHERE attrelid = 'public.bench_customer'::regclass AND attnum > 0 AND NOT attisdropped")"
[[ "$cols" == "id bigint, name text, phone text, company text, status text, region text, city text, updated_at timestamp with time zone, lifetime_value numeric(12,2)" ]] ||
	die "concord created public.bench_customer with unexpected columns: $cols"

echo "bench/sync: N=$N records in pages of $PAGE, stub $STUB_URL, $(nproc) cores, shared_buffers $(q -c 'SHOW shared_buffers')"

# 1. first run into empty tables
concord_run c1 bench inserted "$N"
keep c1
check_table "concord first run" public.bench_customer "$N" 0
baseline_run b1 public.bench_customer_sql "$N" 0
keep b1
check_table "baseline first run" public.bench_customer_sql "$N" 0
check_same "first run" public.bench_customer public.bench_customer_sql
figure "sync first run" "$N" c1 b1

# 2. upsert rerun: version 1 changes every record
q >/dev/null -v spec="$(spec "$N" 1 public.bench_customer)" <<<"SELECT concord.source_alter('bench', :'spec');"
concord_run c2 bench updated "$N"
keep c2
check_table "concord upsert rerun" public.bench_customer "$N" 1
baseline_run b2 public.bench_customer_sql "$N" 1
keep b2
check_table "baseline upsert rerun" public.bench_customer_sql "$N" 1
check_same "upsert rerun" public.bench_customer public.bench_customer_sql
figure "sync upsert rerun (every row changed)" "$N" c2 b2

# 3. rerun with nothing changed: version 1 again
concord_run c3 bench unchanged "$N"
keep c3
check_table "concord unchanged rerun" public.bench_customer "$N" 1
baseline_run b3 public.bench_customer_sql "$N" 1
keep b3
check_table "baseline unchanged rerun" public.bench_customer_sql "$N" 1
check_same "unchanged rerun" public.bench_customer public.bench_customer_sql
figure "sync rerun (nothing changed)" "$N" c3 b3

# 4. memory: the same first run and upsert rerun at N/10
concord_run s1 bench_small inserted "$SMALL"
keep s1
check_table "concord first run at N/10" public.bench_customer_small "$SMALL" 0
q >/dev/null -v spec="$(spec "$SMALL" 1 public.bench_customer_small)" <<<"SELECT concord.source_alter('bench_small', :'spec');"
concord_run s2 bench_small updated "$SMALL"
keep s2
check_table "concord upsert rerun at N/10" public.bench_customer_small "$SMALL" 1
baseline_run t1 public.bench_customer_small_sql "$SMALL" 0
keep t1
check_table "baseline first run at N/10" public.bench_customer_small_sql "$SMALL" 0
baseline_run t2 public.bench_customer_small_sql "$SMALL" 1
keep t2
check_table "baseline upsert rerun at N/10" public.bench_customer_small_sql "$SMALL" 1
check_same "N/10" public.bench_customer_small public.bench_customer_small_sql

printf 'backend peak RSS during sync: %s MB (baseline %s MB)\n' "$(peak H c1 c2 c3)" "$(peak H b1 b2 b3)"
printf 'peak RSS at N/10: %s MB (baseline %s MB)\n' "$(peak H s1 s2)" "$(peak H t1 t2)"
printf 'backend peak private memory (RssAnon) during sync: %s MB (baseline %s MB)\n' \
	"$(peak A c1 c2 c3)" "$(peak A b1 b2 b3)"
printf 'peak private memory (RssAnon) at N/10: %s MB (baseline %s MB)\n' "$(peak A s1 s2)" "$(peak A t1 t2)"
printf '  VmHWM/RssAnon MB per run at N: concord first %s/%s, upsert %s/%s, unchanged %s/%s; hand-written SQL first %s/%s, upsert %s/%s, unchanged %s/%s\n' \
	"$(mb "${H[c1]}")" "$(mb "${A[c1]}")" "$(mb "${H[c2]}")" "$(mb "${A[c2]}")" \
	"$(mb "${H[c3]}")" "$(mb "${A[c3]}")" "$(mb "${H[b1]}")" "$(mb "${A[b1]}")" \
	"$(mb "${H[b2]}")" "$(mb "${A[b2]}")" "$(mb "${H[b3]}")" "$(mb "${A[b3]}")"
printf '  at N/10 = %s records: concord first %s, upsert %s; hand-written SQL first %s, upsert %s\n' \
	"$SMALL" "$(run_times s1)" "$(run_times s2)" "$(run_times t1)" "$(run_times t2)"
