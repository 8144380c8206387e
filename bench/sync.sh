#!/usr/bin/env bash
#
# bench/sync.sh — speed of the sync component against the hand-written SQL
# loop, on a Stripe-shaped API, in alternating rounds.
#
# Starts its own cluster (tmp/bench-sync; fsync, synchronous_commit and
# full_page_writes on, as a real server has them) and the stub API server
# on 127.0.0.1, whose GET /bench/stripe/v1/customers serves N generated
# customers the way Stripe lists them: newest first, limit (here 1,000) a
# page, starting_after the last id, has_more.  Then, ROUNDS times (3 by
# default), alternating concord and the hand-written loop (concord first
# in odd rounds, the loop first in even ones):
#
#   1. first load: each into its own empty table;
#   2. upsert: every record changed upstream (the stub's next version
#      renames every customer and moves every created), loaded again;
#   3. rerun with nothing changed.
#
# Phases 2 and 3 start from vacuumed and analysed tables, and autovacuum is
# kept off the two tables, so no vacuum starts in the middle of a run.
#
# and prints one line per round and figure, then one line per figure with
# every round and their median:
#   name: value unit (baseline value unit, ratio N.NNx)
# A rate is N over the time of CALL concord.sync (or of the loop's DO
# block) seen from the session; each run's backend CPU and the stub's CPU
# are printed under it.  The rounds are all reported; none is dropped.
#
# The hand-written loop is what an analyst writes without concord: a DO
# block calling concord.http_get for each page, loading it with INSERT ...
# SELECT FROM jsonb_to_recordset(body -> 'data') ON CONFLICT (id) DO UPDATE
# ... WHERE (t.*) IS DISTINCT FROM (excluded.*), following starting_after
# while has_more.  It runs as one transaction, while concord.sync commits
# its data and its position every 10 pages: that favours the loop.
#
# The cluster is brought to a steady state first: a new cluster's pg_wal
# holds few segment files, and the first run to write more WAL than any
# before it pays for creating new ones (zero-filled and fsynced), which a
# database in service has long recycled.  The bench writes about 1 GB of
# WAL into a throw-away table before round 1, and min_wal_size = 1GB keeps
# those segments for reuse; each run's WAL and the segment files it had
# to create are printed with its times.
#
# Every run is checked (row count, sum of the numbers in the ids, the
# version of the names, the sync_run row) and, after each phase, the two
# tables must hold the same rows; a wrong result stops the script with a
# non-zero status.
#
#   bash bench/sync.sh                          N = 1,000,000, 3 rounds
#   BENCH_N=100000 BENCH_ROUNDS=1 bash bench/sync.sh
#   BENCH_PORT=54369                            the cluster's port
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
ROUNDS="${BENCH_ROUNDS:-3}"
PAGE=1000
if ! [[ "$N" =~ ^[0-9]+$ ]] || ((N < 10 || N > 100000000)); then
	die "BENCH_N must be an integer from 10 to 100000000"
fi
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 20)); then
	die "BENCH_ROUNDS must be an integer from 1 to 20"
fi
OUT="$(run_dir "$RUN")/bench"        # per-run logs

CLUSTER_EXTRA_CONF="fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 256MB
max_wal_size = 4GB
min_wal_size = 1GB" bench_cluster "$RUN" "${BENCH_PORT:-54369}"
stubs_start "$RUN" >/dev/null
STUB_PID="$(tr -dc '0-9' <"$(run_dir "$RUN")/stub-http.pid")"
mkdir -p "$OUT"
run_psql postgres -c "CREATE DATABASE $DB" >/dev/null
run_psql "$DB" -c "CREATE EXTENSION concord" >/dev/null
port="${STUB_URL##*:}"
run_psql "$DB" -At -v port="$port" >/dev/null <<'SQL'
SELECT concord.http_allow_host('127.0.0.1', :port);
SQL
URL="$STUB_URL/bench/stripe/v1/customers"

# psql on the bench database, one value per line, stopping at an error.
q() { run_psql "$DB" -At "$@"; }

fail() {
	printf 'bench/sync: WRONG RESULT: %s\n' "$*"
	exit 1
}

# The spec of the source loading N records of version V into TABLE.
spec() {
	local version="$1" table="$2"
	cat <<EOF
{"request": {"url": "$URL", "params": {"total": $N, "version": $version}},
 "pagination": {"type": "cursor", "cursor_param": "starting_after", "cursor_path": "\$.data[-1].id",
                "has_more_path": "\$.has_more", "size_param": "limit", "size": $PAGE},
 "records": "\$.data[*]",
 "target": {"table": "$table", "create": true, "primary_key": "id"},
 "columns": [{"name": "id"}, {"name": "email"}, {"name": "name"}, {"name": "phone"},
             {"name": "description"}, {"name": "city", "path": "\$.address.city"},
             {"name": "currency"}, {"name": "balance", "type": "bigint"},
             {"name": "delinquent", "type": "boolean"},
             {"name": "created", "type": "timestamptz", "format": "epoch"}]}
EOF
}

# The hand-written load of version V into TABLE: a DO block with the URL
# and the table written into it (static SQL: PL/pgSQL plans the INSERT once,
# as it would for an analyst's block).
baseline_sql() {
	local version="$1" table="$2"
	sed -e "s|@URL@|$URL|" -e "s|@TOTAL@|$N|g" -e "s|@VERSION@|$version|g" \
		-e "s|@TABLE@|$table|g" -e "s|@PAGE@|$PAGE|g" <<'EOF'
DO $baseline$
DECLARE
  r      concord.http_response;
  body   jsonb;
  after  text;
BEGIN
  LOOP
    r := concord.http_get('@URL@?limit=@PAGE@&total=@TOTAL@&version=@VERSION@'
                          || coalesce('&starting_after=' || after, ''));
    IF r.status <> 200 THEN
      RAISE EXCEPTION 'after %: HTTP %', after, r.status;
    END IF;
    body := r.body::jsonb;
    INSERT INTO @TABLE@ AS t
           (id, email, name, phone, description, city, currency, balance, delinquent, created)
    SELECT x.id, x.email, x.name, x.phone, x.description, x.address->>'city', x.currency,
           x.balance, x.delinquent, to_timestamp(x.created)
    FROM jsonb_to_recordset(body->'data') AS x(
           id text, email text, name text, phone text, description text, address jsonb,
           currency text, balance bigint, delinquent boolean, created bigint)
    ON CONFLICT (id) DO UPDATE
      SET email = excluded.email, name = excluded.name, phone = excluded.phone,
          description = excluded.description, city = excluded.city, currency = excluded.currency,
          balance = excluded.balance, delinquent = excluded.delinquent, created = excluded.created
      WHERE (t.*) IS DISTINCT FROM (excluded.*);
    EXIT WHEN NOT (body->>'has_more')::boolean;
    after := body->'data'->-1->>'id';
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

# Run the SQL on stdin in a fresh session, timing it.  Sets ELAPSED
# (seconds), CPU_S (the backend's CPU seconds, its threads included) and
# STUB_S (the stub server's CPU seconds meanwhile).  Usage: measured LABEL <sql
measured() {
	local label="$1" log="$OUT/$1.log"
	# WAL segment files in pg_wal: a run that writes more WAL than the
	# recycled segments hold creates (zero-fills and fsyncs) new ones.
	local wal_sql="(SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$')"
	local ticks_sql="(SELECT a[12]::bigint + a[13]::bigint FROM string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') a)"
	{
		printf '%s\n' "SELECT $ticks_sql AS ticks0, $wal_sql AS wal0, pg_current_wal_lsn() AS lsn0, extract(epoch FROM clock_timestamp()) AS t0 \\gset"
		cat
		printf '%s\n' \
			"SELECT 'elapsed ' || (extract(epoch FROM clock_timestamp()) - :t0);" \
			"SELECT 'ticks ' || ($ticks_sql - :ticks0);" \
			"SELECT 'wal ' || pg_wal_lsn_diff(pg_current_wal_lsn(), :'lsn0')::bigint || ' ' || ($wal_sql - :wal0);"
	} >"$OUT/$label.sql"
	local stub0 stub1 hz ticks
	stub0="$(cpu_ticks "$STUB_PID")" || die "the stub server (pid $STUB_PID) is gone"
	if ! "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f "$OUT/$label.sql" >"$log" 2>&1 </dev/null; then
		cat "$log" >&2
		die "$label failed (log: $log)"
	fi
	hz="$(getconf CLK_TCK)"
	stub1="$(cpu_ticks "$STUB_PID")" || die "the stub server (pid $STUB_PID) is gone"
	STUB_S="$(awk -v t="$((stub1 - stub0))" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }')"
	ELAPSED="$(sed -n 's/^elapsed //p' "$log")"
	ticks="$(sed -n 's/^ticks //p' "$log")"
	[[ -n "$ELAPSED" && -n "$ticks" ]] || {
		cat "$log" >&2
		die "$label: no timing in $log"
	}
	CPU_S="$(awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }')"
	read -r WAL_B WAL_NEW <<<"$(sed -n 's/^wal //p' "$log")"
	WAL_MB="$(awk -v b="$WAL_B" 'BEGIN { printf "%.0f", b / 1048576 }')"
}

# CALL concord.sync(SOURCE) in a fresh session; check its sync_run row:
# N records, all of them EXPECT (inserted, updated or unchanged).
concord_run() {
	local label="$1" source="$2" expect="$3" row
	q -c CHECKPOINT >/dev/null
	measured "$label" <<<"CALL concord.sync($(sql_literal "$source"));"
	row="$(q -F ' ' -c "SELECT status, records, inserted, updated, unchanged, rejected
	                     FROM concord.sync_run WHERE source = $(sql_literal "$source")
	                     ORDER BY run_id DESC LIMIT 1")"
	read -r st recs ins upd unch rej <<<"$row"
	SYNC_ROW="status $st, records $recs, inserted $ins, updated $upd, unchanged $unch, rejected $rej"
	[[ "$st" == succeeded && "$recs" == "$N" && "$rej" == 0 ]] ||
		fail "$label: sync_run says $SYNC_ROW (expected $N records)"
	case "$expect" in
	inserted) [[ "$ins" == "$N" ]] ;;
	updated) [[ "$upd" == "$N" ]] ;;
	unchanged) [[ "$unch" == "$N" ]] ;;
	esac || fail "$label: sync_run says $SYNC_ROW (expected all $N $expect)"
}

# The hand-written loop in a fresh session.
baseline_run() {
	local label="$1" table="$2" version="$3"
	q -c CHECKPOINT >/dev/null
	measured "$label" < <(baseline_sql "$version" "$table")
}

# TABLE must hold customers 1..N of VERSION.
check_table() {
	local label="$1" table="$2" version="$3" got want
	got="$(q -F ' ' -c "SELECT count(*), coalesce(sum(substr(id, 5)::bigint), 0),
	         count(*) FILTER (WHERE name ~ ' v[0-9]+\$'),
	         count(*) FILTER (WHERE name LIKE '% v$version'),
	         count(*) FILTER (WHERE city IS NULL OR created IS NULL OR email IS NULL)
	       FROM $table")"
	read -r cnt sum suffixed matching nulls <<<"$got"
	want="$((N * (N + 1) / 2))"
	if ((version == 0)); then matching=$((N - suffixed)); fi
	[[ "$cnt" == "$N" && "$sum" == "$want" && "$matching" == "$N" && "$nulls" == 0 ]] ||
		fail "$label: $table has count $cnt, sum $sum, $matching rows of version $version, $nulls rows with NULLs (expected $N, $want, $N, 0)"
}

# The two tables must hold the same rows.
check_same() {
	local label="$1" diff
	diff="$(q -c "SELECT count(*) FROM ((TABLE public.bench_customer EXCEPT ALL TABLE public.bench_customer_sql)
	                                     UNION ALL (TABLE public.bench_customer_sql EXCEPT ALL TABLE public.bench_customer)) d")"
	[[ "$diff" == 0 ]] || fail "$label: the two tables differ in $diff rows"
}

rate() { awk -v n="$N" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.1f", s }'; }

declare -A T C S W NW   # per run label: seconds, backend CPU s, stub CPU s, WAL MB, new WAL segment files
keep() { T[$1]=$ELAPSED C[$1]=$CPU_S S[$1]=$STUB_S W[$1]=$WAL_MB NW[$1]=$WAL_NEW; }

# One round's figure: concord run C against loop run B.
figure() {
	local name="$1" c="$2" b="$3"
	printf '%s: %s records/s (hand-written SQL %s records/s, ratio %sx)\n' \
		"$name" "$(rate "${T[$c]}")" "$(rate "${T[$b]}")" "$(ratio "${T[$c]}" "${T[$b]}")"
	printf '  concord.sync %s s (backend CPU %s s, stub CPU %s s, WAL %s MB, %s new WAL files); hand-written SQL %s s (backend CPU %s s, stub CPU %s s, WAL %s MB, %s new WAL files)\n' \
		"$(secs "${T[$c]}")" "${C[$c]}" "${S[$c]}" "${W[$c]}" "${NW[$c]}" "$(secs "${T[$b]}")" "${C[$b]}" "${S[$b]}" "${W[$b]}" "${NW[$b]}"
	printf '  concord sync_run: %s\n' "$SYNC_ROW"
}

# The summary of a figure over the rounds: each round's rate and ratio,
# and the medians (of concord's rates, of the loop's, and of the rounds'
# ratios: not the ratio of the two medians).  Usage: summary NAME PREFIX (runs PREFIXc<r>, PREFIXb<r>)
summary() {
	local name="$1" p="$2" r cr br rt list="" crs=() brs=() rts=()
	for ((r = 1; r <= ROUNDS; r++)); do
		cr="$(rate "${T[${p}c$r]}")" br="$(rate "${T[${p}b$r]}")" rt="$(ratio "${T[${p}c$r]}" "${T[${p}b$r]}")"
		crs+=("$cr") brs+=("$br") rts+=("$rt")
		list="$list${list:+, }$cr/$br ($rt""x)"
	done
	med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
	printf '%s: %s records/s (hand-written SQL %s records/s, ratio %sx) -- medians of %s rounds, the ratio the median of the rounds'"'"' ratios; every round, concord/loop: %s\n' \
		"$name" "$(med "${crs[@]}")" "$(med "${brs[@]}")" "$(med "${rts[@]}")" "$ROUNDS" "$list"
}

q >/dev/null -v spec="$(spec 0 public.bench_customer)" <<'SQL'
SELECT concord.source_create('bench', :'spec');
CREATE TABLE public.bench_customer_sql (LIKE public.bench_customer INCLUDING ALL);
SQL
cols="$(q -c "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
              FROM pg_attribute WHERE attrelid = 'public.bench_customer'::regclass AND attnum > 0 AND NOT attisdropped")"
[[ "$cols" == "id text, email text, name text, phone text, description text, city text, currency text, balance bigint, delinquent boolean, created timestamp with time zone" ]] ||
	die "concord created public.bench_customer with unexpected columns: $cols"

# One phase of round R: concord's run C and the loop's run B, concord
# first in odd rounds, the loop first in even ones.
both() {
	local r="$1" c="$2" b="$3" expect="$4" version="$5" sync_row
	if ((r % 2)); then
		concord_run "$c" bench "$expect"
		keep "$c"
		sync_row="$SYNC_ROW"
		baseline_run "$b" public.bench_customer_sql "$version"
		keep "$b"
	else
		baseline_run "$b" public.bench_customer_sql "$version"
		keep "$b"
		concord_run "$c" bench "$expect"
		keep "$c"
		sync_row="$SYNC_ROW"
	fi
	SYNC_ROW="$sync_row"
}

# The state a maintained table is in when a phase starts: vacuumed and
# analysed, as autovacuum leaves it.  Autovacuum itself is kept off the two
# tables while they are timed: concord.sync commits every 10 pages, so its
# dead rows reach the statistics (and can start an autovacuum of its table)
# in the middle of its run, while the loop's one transaction shows them only
# at its end; a vacuum that starts mid-run would fall on one side by chance.
q >/dev/null -c "ALTER TABLE public.bench_customer SET (autovacuum_enabled = false)" \
	-c "ALTER TABLE public.bench_customer_sql SET (autovacuum_enabled = false)"
maintain() { q >/dev/null -c "VACUUM (ANALYZE) public.bench_customer, public.bench_customer_sql"; }

# Steady state: about 1 GB of WAL written and recycled before round 1.
q >/dev/null <<'SQL'
CREATE TABLE public.bench_walfill AS SELECT g, repeat('x', 900) AS pad FROM generate_series(1, 1000000) g;
DROP TABLE public.bench_walfill;
CHECKPOINT;
SQL
echo "bench/sync: pg_wal holds $(q -c "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'") segment files before round 1"

echo "bench/sync: N=$N Stripe-shaped customers in pages of $PAGE, $ROUNDS rounds, stub $STUB_URL, $(nproc) cores," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg), fsync $(q -c 'SHOW fsync'), synchronous_commit $(q -c 'SHOW synchronous_commit')"

for ((r = 1; r <= ROUNDS; r++)); do
	# 1. first load into empty tables
	q >/dev/null -v spec="$(spec 0 public.bench_customer)" <<'SQL'
TRUNCATE public.bench_customer, public.bench_customer_sql;
SELECT concord.source_alter('bench', :'spec', true);
SQL
	both "$r" "fc$r" "fb$r" inserted 0
	check_table "concord first load" public.bench_customer 0
	check_table "loop first load" public.bench_customer_sql 0
	check_same "first load"
	figure "round $r: sync first load" "fc$r" "fb$r"
	maintain

	# 2. every record changed upstream (version r)
	q >/dev/null -v spec="$(spec "$r" public.bench_customer)" <<<"SELECT concord.source_alter('bench', :'spec', true);"
	both "$r" "uc$r" "ub$r" updated "$r"
	check_table "concord upsert" public.bench_customer "$r"
	check_table "loop upsert" public.bench_customer_sql "$r"
	check_same "upsert"
	figure "round $r: sync upsert (every row changed)" "uc$r" "ub$r"
	maintain

	# 3. nothing changed
	both "$r" "nc$r" "nb$r" unchanged "$r"
	check_same "unchanged rerun"
	figure "round $r: sync rerun (nothing changed)" "nc$r" "nb$r"
done

echo
summary "sync first load" f
summary "sync upsert (every row changed)" u
summary "sync rerun (nothing changed)" n
