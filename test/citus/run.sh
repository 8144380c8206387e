#!/usr/bin/env bash
#
# test/citus/run.sh — the optional scale-out suite: concord on a Citus
# cluster gives the same answers as on one node.  Not part of
# test/check.sh (Citus is not a Debian package: test/citus/build.sh builds
# it from a checkout; docs/scaling.md).  Run as root:  bash test/citus/run.sh
#
# It starts a coordinator and two workers on 127.0.0.1 (clusters citus0,
# citus1, citus2 under tmp/, shared_preload_libraries = 'citus,concord')
# and the stub API server, runs test/citus/scenario.psql twice — in a
# plain database "one" and in a Citus database "many" whose customer and
# order tables are distributed — and compares, as each person, what syncs,
# identity resolution, row policies, masks and metric queries give.  Prints
# TAP; exits non-zero on a failure.  Where Citus is not installed it says
# so and skips (exit 0).  CITUS_KEEP=1 leaves the clusters running, to
# look around; the next run stops them.  PG_MAJOR picks the PostgreSQL
# major as for test/check.sh (Citus 13.0 for 15, Citus 14.0 for 18);
# CONCORD_CITUS_PORT (default 54381) is the first worker's port, the second
# worker's and the coordinator's follow 3 and 6 above it.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"
require_root

if [[ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]]; then
	echo "1..0 # SKIP Citus is not installed in $("$PG_CONFIG" --pkglibdir) (build it: bash test/citus/build.sh <checkout of citusdata/citus: v13.0.5 for 15, v14.0.1 for 18>; docs/scaling.md)"
	exit 0
fi

ensure_packages
build_install >/dev/null

CLUSTERS=(citus1 citus2 citus0)
cleanup() {
	local c
	if [[ -n "${CITUS_KEEP:-}" ]]; then
		echo "# CITUS_KEEP: the clusters stay up (coordinator: psql -h 127.0.0.1 -p ${C:-?} -U postgres many)"
		return
	fi
	for c in "${CLUSTERS[@]}"; do stop_all "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
for c in "${CLUSTERS[@]}"; do
	stop_all "$c" >/dev/null 2>&1 || true
	rm -rf "$(run_dir "$c")"
done

export CLUSTER_PRELOAD="citus,$CONCORD_EXT"
export CLUSTER_EXTRA_CONF="max_connections = 100"
base="${CONCORD_CITUS_PORT:-54381}"
cluster_start citus1 "$base" >/dev/null
W1="$PGPORT"
cluster_start citus2 "$((base + 3))" >/dev/null
W2="$PGPORT"
cluster_start citus0 "$((base + 6))" >/dev/null # the coordinator: PGHOST/PGPORT stay on it
C="$PGPORT"
stubs_start citus0 >/dev/null

on() { # on PORT DB SQL...: run as postgres on one node
	local port="$1" db="$2"
	shift 2
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@" </dev/null
}
as() { # as ROLE DB SQL: one value (or lines) as that person on the coordinator
	"$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$C" -U "$1" -d "$2" -c "$3" </dev/null 2>&1 || true
}

on "$C" postgres -c "CREATE DATABASE one" -c "CREATE DATABASE many"
for w in "$W1" "$W2"; do
	on "$w" postgres -c "CREATE DATABASE many"
	on "$w" many -c "CREATE EXTENSION citus"
done
on "$C" many -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" \
	-c "SELECT citus_set_coordinator_host('127.0.0.1', $C)" \
	-c "SELECT citus_add_node('127.0.0.1', $W1)" -c "SELECT citus_add_node('127.0.0.1', $W2)" >/dev/null
# Created where Citus runs, roles reach every node.
on "$C" many -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" \
	-c "CREATE ROLE shop_owner NOLOGIN" -c "CREATE ROLE rep_east LOGIN" \
	-c "CREATE ROLE rep_north LOGIN" -c "CREATE ROLE fin_clerk LOGIN" >/dev/null
on "$C" one -c "SET client_min_messages = warning" -c "CREATE EXTENSION concord" >/dev/null

# Before concord prepares the Citus database: a role that may create
# schemas makes its own "concord_citus" mirror, a reference table saying
# it is a rep of 华东.  member() must not read it, and citus_prepare must
# not take it for concord's.
on "$C" many -c "SET client_min_messages = warning" -c "CREATE ROLE mallory LOGIN" \
	-c "GRANT CREATE ON DATABASE many TO mallory" >/dev/null
spoof="$("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$C" -U mallory -d many </dev/null 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA concord_citus;
CREATE TABLE concord_citus.member (role_name text PRIMARY KEY, department text, title text, attributes jsonb, updated_at timestamptz);
SELECT create_reference_table('concord_citus.member');
INSERT INTO concord_citus.member VALUES ('mallory', 'sales', NULL, '{"region": "华东"}', now());
SELECT coalesce(concord.member('region'), 'none');
SQL
)"
prep="$(as postgres many "SELECT concord.citus_prepare()")"
on "$C" many -c "SET client_min_messages = warning" -c "DROP SCHEMA concord_citus CASCADE" \
	-c "REVOKE CREATE ON DATABASE many FROM mallory" >/dev/null

for db in one many; do
	flag=off
	[[ "$db" == many ]] && flag=on
	if ! out="$(on "$C" "$db" -v citus="$flag" -v stub="$STUB_PORT" -f test/citus/scenario.psql 2>&1)"; then
		echo "1..1"
		echo "not ok 1 - the scenario runs in database $db"
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
		exit 1
	fi
done

n=0 failed=0
ok() { # ok "description" condition-result(0/1)
	n=$((n + 1))
	if (($2 == 0)); then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi
}
same() { # same "description" ROLE SQL [WANT-PATTERN]: one node == Citus, and matches the pattern
	local a b
	a="$(as "$2" one "$3")"
	b="$(as "$2" many "$3")"
	n=$((n + 1))
	if [[ "$a" == "$b" && -n "$a" && ( -z "${4:-}" || "$a" =~ $4 ) ]]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
		printf '%s\n' "one node: $a" "Citus:    $b" "pattern:  ${4:-}" | head -n 20 | sed 's/^/#   /'
	fi
}

echo "1..33"

ok "policy: a look-alike mirror made by another role is not read (member: ${spoof##*$'\n'}) and citus_prepare refuses its schema" \
	"$([[ "${spoof##*$'\n'}" == none && "$prep" == *"schema concord_citus exists and is not concord's mirror"* ]] && echo 0 || echo 1)"

# the Citus side really is distributed
dist="$(as postgres many "SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition")"
n=$((n + 1))
if [[ "$dist" == *"sales.customer:h"* && "$dist" == *"sales.orders:h"* && "$dist" == *"sales.channel:n"* && "$dist" == *"concord_citus.member:n"* ]]; then
	echo "ok $n - customers and orders are hash-distributed, channels and concord's member mirror reference tables"
else
	echo "not ok $n - distributed tables: $dist"
	failed=$((failed + 1))
fi
w1="$(on "$W1" many -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'customer\_%' AND relkind = 'r'")"
w2="$(on "$W2" many -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'customer\_%' AND relkind = 'r'")"
ok "both workers hold customer shards ($w1 and $w2)" "$((w1 > 0 && w2 > 0 ? 0 : 1))"

# sync
same "sync: the same 40 customers, their fields mapped alike" postgres \
	"SELECT count(*), sum(lifetime_value), md5(string_agg(concat_ws('|', id, name, phone, stage, region, city, updated_at), ',' ORDER BY id)) FROM sales.customer" '^40\|'
same "sync: the same runs (pages of 15: three; then the 2 changed updated)" postgres \
	"SELECT string_agg(concat_ws(':', status, pages, records, inserted, updated), ' ' ORDER BY run_id) FROM concord.sync_run" \
	'^succeeded:3:40:40:0 succeeded:1:[0-9]+:0:2$'

# identity
same "identity: the same customers (the partition of CRM records)" postgres \
	"SELECT count(DISTINCT customer_id), md5(string_agg(ks, ';' ORDER BY ks)) FROM (SELECT customer_id, string_agg(source || ':' || key, ',' ORDER BY source, key) ks FROM concord.customer_link GROUP BY customer_id) c" '^[1-9][0-9]*\|'

# row policies and masks, as each person
for r in rep_east rep_north fin_clerk; do
	same "policy: $r sees the same customers (row security on the shards)" "$r" \
		"SELECT count(*), md5(string_agg(concat_ws('|', id, name, region, stage), ',' ORDER BY id)) FROM sales.customer"
	same "policy: $r sees the same orders" "$r" \
		"SELECT count(*), sum(amount), count(DISTINCT region) FROM sales.orders"
	same "policy: $r sees the same contacts, phones as masked, through the governed view" "$r" \
		"SELECT count(*), string_agg(customer_id || ':' || phone, ',' ORDER BY customer_id) FROM sales.contact_governed"
done
same "policy: a table distributed with its policy (citus_distribute) shows the rep the same visits" rep_east \
	"SELECT count(*), min(region), max(region) FROM sales.visit" '^[1-9][0-9]*\|华东\|华东$'

east="$(as rep_east many "SELECT count(*) FROM sales.orders")"
all="$(as fin_clerk many "SELECT count(*) FROM sales.orders")"
ok "policy: the rep's orders are a part ($east of $all), 财务's all 3000" "$((east > 0 && east < all && all == 3000 ? 0 : 1))"
same "mask: the rep's phones are masked" rep_east \
	"SELECT bool_and(phone LIKE '%****%') FROM sales.contact_governed" '^t$'
same "mask: 财务's phones are in clear" fin_clerk \
	"SELECT bool_or(phone LIKE '%****%') FROM sales.contact_governed" '^f$'
same "mask: the rep reads no base table of contacts" rep_east \
	"SELECT count(*) FROM sales.contact" 'permission denied'
err="$(as postgres many "SELECT concord.column_mask_create('sales.customer', 'phone', 'concord.mask_phone(phone)')")"
ok "mask: refused on a distributed table, saying why" "$([[ "$err" == *"masks cannot work on Citus table sales.customer"* ]] && echo 0 || echo 1)"
err="$(as postgres many "SELECT concord.citus_distribute('sales.orders', 'customer_id')")"
err2="$(as postgres many "SELECT concord.citus_distribute('sales.contact', 'customer_id')")"
local_still="$(as postgres many "SELECT concord.citus_table('sales.contact')")"
ok "citus_distribute refuses a table already distributed, and one with masks (left on the coordinator: $local_still)" \
	"$([[ "$err" == *"table sales.orders is already a Citus table"* && "$err2" == *"table sales.contact has masks, which cannot work on a Citus table"* && "$local_still" == f ]] && echo 0 || echo 1)"
err="$(as postgres many "BEGIN; CREATE TABLE sales.late (id bigint PRIMARY KEY, region text); SELECT concord.row_policy_create('late', 'sales.late', \$p\$region = concord.member('region')\$p\$); SELECT create_distributed_table('sales.late', 'id'); ROLLBACK")"
ok "policy: Citus refuses to distribute a table with a one-node policy (fails closed; citus_distribute is the way)" \
	"$([[ "$err" == *"Subqueries are not supported in policies"* ]] && echo 0 || echo 1)"
err="$(as postgres many "SELECT concord.identity_source_create('again', 'sales.orders', 'id', '{\"name\": \"channel\"}')")"
ok "identity: tracking changes of a distributed table is refused with the way round" \
	"$([[ "$err" == *"tracking changes cannot work on Citus table sales.orders"* && "$err" == *"track_changes => false"* ]] && echo 0 || echo 1)"
refused=0
for call in "concord.audit_table_create('sales.orders')" \
	"concord.write_rule_create('orders_open', 'sales.orders', 'amount > 0')" \
	"concord.event_rule_create('big_order', 'sales.orders', '{insert}', NULL, '[{\"notify\": \"orders\"}]')" \
	"concord.metric_rollup_create('revenue_daily', '{revenue}', '{channel}', 'day')"; do
	err="$(as postgres many "SELECT $call")"
	[[ "$err" == *"cannot work on Citus table sales.orders"* ]] && refused=$((refused + 1))
done
ok "audit trails, write rules, event rules and rollups (triggers) are refused on a distributed table in concord's words ($refused of 4)" \
	"$((refused == 4 ? 0 : 1))"

# the masked contacts (on the coordinator) joined to the distributed
# orders: through a materialized CTE (joined directly, Citus plans the
# local view as the reader and the reader may not read its table)
same "mask: the rep's masked contacts joined to her orders (a materialized CTE) give the same" rep_east \
	"WITH c AS MATERIALIZED (SELECT * FROM sales.contact_governed) SELECT count(*), count(DISTINCT c.phone), sum(o.amount) FROM c JOIN sales.orders o ON o.customer_id = c.customer_id" \
	'^[1-9][0-9]*\|[1-9][0-9]*\|'

# on a worker, member() asks the mirror once per shard query, not per row
scans() {
	on "$W1" many -At -c "SET citus.override_table_visibility = off" \
		-c "SELECT sum(seq_scan + coalesce(idx_scan, 0)) FROM pg_stat_user_tables WHERE schemaname = 'concord_citus' AND relname LIKE 'member\_%'" | tail -n 1
}
shards="$(on "$W1" many -At -c "SET citus.override_table_visibility = off" \
	-c "SELECT count(*) FROM pg_class WHERE relname LIKE 'orders\_%' AND relkind = 'r'" | tail -n 1)"
before="$(scans)"
rows="$(as rep_east many "SELECT count(*) FROM sales.orders")"
# an idle backend's table statistics reach the cumulative view within 1 to 10 s
for _ in $(seq 1 24); do
	sleep 0.5
	after="$(scans)"
	((after > before)) && break
done
sleep 1
after="$(scans)"
ok "policy: a worker with $shards order shards read the mirror $((after - before)) times while the rep counted her $rows orders (at most 4 per shard: member(), member_in())" \
	"$((after > before && after - before <= 4 * shards ? 0 : 1))"

# metrics
for r in rep_east fin_clerk; do
	same "metric: $r gets the same revenue, orders, buyers, AOV and running revenue by month and channel" "$r" \
		"SELECT string_agg(q::text, E'\n') FROM concord.metric_query('{revenue,orders_n,buyers,aov,revenue_running}', grain => 'month', dimensions => '{channel}', order_by => '{metric_time,channel}') q"
done
same "metric: a join to the channel reference table and a filter give the same" fin_clerk \
	"SELECT string_agg(q::text, E'\n') FROM concord.metric_query('{revenue}', grain => 'week', filter => \$f\$region = '华东'\$f\$, order_by => '{metric_time}') q"

# a membership changed on the coordinator holds on the workers at its
# commit; until then the reader's own connections to the workers see the
# old one (on one node the changing transaction sees its change at once)
on "$C" one -c "SELECT concord.member_create('rep_north', 'sales', '销售代表', '{\"region\": \"华南\"}')" >/dev/null
on "$C" many -c "SELECT concord.member_create('rep_north', 'sales', '销售代表', '{\"region\": \"华南\"}')" >/dev/null
same "policy: rep_north moved to 华南 sees 华南's orders on every node" rep_north \
	"SELECT count(*), string_agg(DISTINCT region, ',') FROM sales.orders" '\|华南$'
rolled="$(as postgres many "BEGIN; SELECT concord.member_create('rep_north', 'sales', '销售代表', '{\"region\": \"华东\"}'); SET LOCAL ROLE rep_north; SELECT string_agg(DISTINCT region, ',') FROM sales.orders; ROLLBACK;" | tail -n 1)"
after="$(as rep_north many "SELECT string_agg(DISTINCT region, ',') FROM sales.orders")"
ok "policy: a membership change rolled back never reaches the workers (before the rollback: $rolled; after: $after)" \
	"$([[ "$rolled" == 华南 && "$after" == 华南 ]] && echo 0 || echo 1)"

# DROP EXTENSION concord on the coordinator: gone from every node, the
# mirror and concord's other schemas too (the schema concord stays, empty,
# as on one node: CREATE EXTENSION made it), the tables whole and readable
# again
ext="$(as postgres many "SELECT extversion FROM pg_extension WHERE extname = 'citus'")"
as postgres many "DROP EXTENSION concord CASCADE" >/dev/null
left=""
for port in "$C" "$W1" "$W2"; do
	left+="$(on "$port" many -At -c "SELECT count(*) FILTER (WHERE extname = 'concord') || '/' || (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'concord\_%') FROM pg_extension") "
done
rows="$(as rep_east many "SELECT (SELECT count(*) FROM sales.orders) || '/' || (SELECT count(*) FROM sales.customer)")"
ok "DROP EXTENSION concord: no concord extension or concord_* schema left on any node ($left); the rep reads the whole tables again ($rows)" \
	"$([[ "$left" == "0/0 0/0 0/0 " && "$rows" == 3000/40 ]] && echo 0 || echo 1)"

echo "# Citus $ext: coordinator 127.0.0.1:$C, workers :$W1 and :$W2"
((failed == 0))
