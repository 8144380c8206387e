#!/usr/bin/env bash
#
# bench/policy.sh — what concord's policies cost a member's query, measured
# side by side with the same query written by hand.
#
# Starts its own cluster (tmp/bench-policy, port 54381), makes a table of
# N rows (default 1,000,000) and prints, for each figure, the median of
# five runs of each side, alternating, each in its own session:
#   1. row policies: a sales rep (a real login) counts and sums the deals
#      her row policy (region = concord.member('region')) shows her, vs a
#      superuser running the same query with the equivalent WHERE
#      region = '华东' written by hand.  Target: <= 1.10x.
#   2. masks: a member scans the governed view of a table whose phone
#      column is masked (concord.mask_phone for everyone outside finance,
#      so for every row here; a row policy that shows every row), reading
#      the phone of each row (count(phone) evaluates it), vs a superuser
#      scanning the bare table.  Target: <= 1.20x.  Measured twice: the
#      phone counted in the server (count(phone): nothing but the mask to
#      do per row, the worst case), and every row sent to a client (COPY
#      TO STDOUT, what a BI tool's scan is).
#   3. the same two scans of a copy of the table whose mask is stored
#      (column_mask_create(..., store => true): the masked value kept in a
#      generated column, no mask call when reading), vs the bare copy.
# Both sides check they got the same counts (and sums).
#
#   bash bench/policy.sh
#   BENCH_ROWS=100000 bash bench/policy.sh

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

RUN=bench-policy
ROWS="${BENCH_ROWS:-1000000}"
DB=concord_bench

CLUSTER_EXTRA_CONF="shared_buffers = 512MB
work_mem = 64MB
max_parallel_workers_per_gather = 0" bench_cluster "$RUN" 54381
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" -v rows="$ROWS" </dev/null >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION concord;
CREATE ROLE bench_rep LOGIN;
CREATE ROLE bench_owner;
SELECT concord.department_create('sales'), concord.department_create('finance');
SELECT concord.member_create('bench_rep', 'sales', '销售代表', '{"region": "华东"}');
CREATE SCHEMA bench AUTHORIZATION bench_owner;
GRANT USAGE ON SCHEMA bench TO bench_rep;
-- 7 regions; phones written as the CRM writes them
CREATE TABLE bench.deal AS
  SELECT g AS id, (ARRAY['华东','华北','华南','华中','西南','西北','东北'])[1 + g % 7] AS region,
         'rep' || (g % 300) AS owner_role, (g::bigint * 7919 % 1000000) / 100.0 AS amount
  FROM generate_series(1, :rows) g;
CREATE TABLE bench.customer AS
  SELECT g AS id, '+86 138-' || lpad((g % 10000)::text, 4, '0') || '-' || lpad((g * 7 % 10000)::text, 4, '0') AS phone,
         (ARRAY['华东','华北','华南','华中','西南','西北','东北'])[1 + g % 7] AS region
  FROM generate_series(1, :rows) g;
ALTER TABLE bench.deal OWNER TO bench_owner;
ALTER TABLE bench.customer OWNER TO bench_owner;
GRANT SELECT ON bench.deal, bench.customer TO bench_rep;
SELECT concord.row_policy_create('deal_region', 'bench.deal', $$region = concord.member('region')$$);
SELECT concord.row_policy_create('customer_all', 'bench.customer', 'true');
SELECT concord.column_mask_create('bench.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('finance')$$);
CREATE TABLE bench.customer_s AS SELECT * FROM bench.customer;
ALTER TABLE bench.customer_s OWNER TO bench_owner;
GRANT SELECT ON bench.customer_s TO bench_rep;
SELECT concord.row_policy_create('customer_s_all', 'bench.customer_s', 'true');
SELECT concord.column_mask_create('bench.customer_s', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('finance')$$,
                           store => true);
VACUUM ANALYZE bench.deal;
VACUUM ANALYZE bench.customer;
VACUUM ANALYZE bench.customer_s;
SQL

. bench/compare.sh

echo "bench/policy: $ROWS rows, $(nproc) cores, parallel query off (one core per query)"
compare timed "row policies, a rep's count and sum of her region's deals" "by hand" \
	bench_rep "SELECT count(*) AS n, sum(amount) AS s FROM bench.deal" \
	postgres "SELECT count(*) AS n, sum(amount) AS s FROM bench.deal WHERE region = '华东'" "1.10x"
compare timed "masks, a member's scan of the governed view (every phone masked)" "bare table" \
	bench_rep "SELECT count(*) AS n, count(phone) AS p FROM bench.customer_governed" \
	postgres "SELECT count(*) AS n, count(phone) AS p FROM bench.customer" "1.20x"
compare fetched "masks, every row of the governed view fetched by a client (COPY TO STDOUT)" "bare table" \
	bench_rep "SELECT * FROM bench.customer_governed" \
	postgres "SELECT * FROM bench.customer" "1.20x"
compare timed "stored masks, a member's scan of the governed view (every phone masked)" "bare table" \
	bench_rep "SELECT count(*) AS n, count(phone) AS p FROM bench.customer_s_governed" \
	postgres "SELECT count(*) AS n, count(phone) AS p FROM bench.customer_s" "1.20x"
compare fetched "stored masks, every row of the governed view fetched by a client (COPY TO STDOUT)" "bare table" \
	bench_rep "SELECT * FROM bench.customer_s_governed" \
	postgres "SELECT id, phone, region FROM bench.customer_s" "1.20x"
