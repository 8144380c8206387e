#!/usr/bin/env bash
#
# bench/http.sh — speed of the http component, measured side by side.
#
# Starts its own cluster (tmp/bench) and stub API server on 127.0.0.1, then
# prints one line per figure:
#   name: value unit (baseline value unit, ratio N.NNx)
#
# Figures (targets from the issue):
#   1. per-call time of N sequential concord.http_get calls with keep-alive
#      (target <= 300 us/call), against the curl command-line tool fetching
#      the same URL N times over one kept-alive connection;
#   2. N requests to /delay/20: one concord.http_batch vs N sequential
#      concord.http_get calls (target >= 20x).
#
# Each call in a sequential loop passes the row number as a query
# parameter: a LATERAL call that does not depend on the outer row would be
# run once and replayed by the executor.
#
#   bash bench/http.sh            full run (N = 1000)
#   BENCH_N=100 bash bench/http.sh   quicker run
#
# Timing lives here, never in the tests.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench
N="${BENCH_N:-1000}"
CAP="${BENCH_CAP:-100}"

bench_cluster "$RUN" 54349
stubs_start "$RUN" >/dev/null
"$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE concord_bench" >/dev/null
"$PGBIN/psql" -X -q -d concord_bench -c "CREATE EXTENSION concord" >/dev/null

port="${STUB_URL##*:}"
echo "bench/http: N=$N, batch caps $CAP, stub $STUB_URL, $(nproc) cores, $(curl --version | head -1 | cut -d' ' -f1-2)"

# Baseline 1: the curl tool, N GETs of /json over one kept-alive connection.
urls=()
for ((i = 0; i < N; i++)); do urls+=("$STUB_URL/json"); done
t0=$(date +%s%N)
curl -s "${urls[@]}" >/dev/null
t1=$(date +%s%N)
curl_us=$(( (t1 - t0) / 1000 / N ))

"$PGBIN/psql" -X -q -A -t -d concord_bench -v port="$port" -v url="$STUB_URL" \
	-v n="$N" -v cap="$CAP" -v curl_us="$curl_us" <<'SQL'
SELECT (concord.http_allow_host('127.0.0.1', :port)).id > 0 AS allowed \gset

CREATE FUNCTION pg_temp.time_ms(q text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- warm-up: open the keep-alive connection, load the library
SELECT count(*) FROM generate_series(1, 20) g, LATERAL concord.http_get(:'url' || '/json', jsonb_build_object('i', g)) r \g /dev/null

SELECT pg_temp.time_ms(format(
  'SELECT count(*) FROM generate_series(1, %s) g, LATERAL concord.http_get(%L, jsonb_build_object(''i'', g)) r WHERE r.status = 200',
  :n, :'url' || '/json')) AS seq_ms \gset
SELECT format('http_get sequential keep-alive: %s us/call (curl tool keep-alive %s us/call, ratio %sx)',
              round((:seq_ms * 1000 / :n)::numeric, 1), :curl_us,
              round((:seq_ms * 1000 / :n / greatest(:curl_us, 1))::numeric, 2));

SELECT pg_temp.time_ms(format(
  'SELECT count(*) FROM generate_series(1, %s) g, LATERAL concord.http_get(%L, jsonb_build_object(''i'', g)) r WHERE r.status = 200',
  :n, :'url' || '/delay/20')) AS delay_seq_ms \gset
SELECT pg_temp.time_ms(format(
  'SELECT count(*) FROM concord.http_batch(ARRAY(SELECT concord.http_request(''GET'', %L) FROM generate_series(1, %s)), max_connections => %s, max_host_connections => %s) WHERE status = 200',
  :'url' || '/delay/20', :n, :cap, :cap)) AS delay_batch_ms \gset
SELECT format('http_batch %s x /delay/20: %s ms (sequential http_get %s ms, ratio %sx)',
              :n, round(:delay_batch_ms::numeric), round(:delay_seq_ms::numeric),
              round((:delay_seq_ms / :delay_batch_ms)::numeric, 2));
SELECT format('http_batch throughput: %s requests/s', round((:n * 1000 / :delay_batch_ms)::numeric));
SQL
