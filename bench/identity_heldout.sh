#!/usr/bin/env bash
#
# bench/identity_heldout.sh — identity resolution on a held-out Chinese
# dataset (issue 20), registered and resolved as a new user would.
#
# Written WITHOUT reading the matcher (src/identity/), the project's own
# generator (bench/identity.sh, test/fixtures/identity_gen.sql) or the
# identity tests: only docs/identity.md and the departments' article were
# read.  The data comes from bench/identity_heldout.py (its header says how
# each department keeps its records and how they go wrong).
#
# Starts its own cluster (tmp/bench-heldout), generates PEOPLE people
# (default 20,000; about 2.7 rows each) in four departments' tables, and,
# as a login role that is a member of concord_identity and owns the tables:
# registers the four sources exactly as docs/identity.md says (no weights,
# thresholds, rules, placeholders or declared attributes of our own) and
# runs concord.resolve() with its defaults.  Then, as the superuser, against
# the ground truth (kept in a schema the analyst cannot read) it prints:
#   - pairwise precision, recall and F1 of customer_link (two rows are a
#     predicted pair when they got one customer ID, a true pair when one
#     person is behind both), and per pair of departments;
#   - the candidate pairs the shipped blocking rules make, as the docs
#     describe them, rebuilt here: how many true pairs they reach, and the
#     true share of matches among them beside the share training estimated
#     (the prior row's m), then the model resolve used (identity_weight);
#   - the same for a ten-line SQL rule as a baseline (same valid resident
#     ID; or same mobile and same name key; or same email and same name key),
#     pairs as the rule finds them (no transitive closure);
#   - for the wrong links and for the missed pairs, the 20 largest classes
#     of what the two rows had in common, with one example pair each (the
#     rows' values as the departments wrote them).  A class lists each
#     attribute both rows carry: = the same after concord's normalizer (a
#     phone as =mobile, =landline or =board: one switchboard, other
#     extensions), ~ alike (a name of name_similarity >= 0.9, an ID number
#     one typo away), ≠ different; a name or an employer that
#     identity_placeholder() calls a placeholder counts as missing.  A
#     wrong link is also classed by how its two people relate (household,
#     namesakes, colleagues, strangers) and by whether the pair itself
#     scores a match (why_matched) or was joined through other rows; the
#     10 largest classes of the pairs that match by themselves (the bridges);
#   - a ceiling: the share of true pairs a chain of the person's own rows
#     sharing an exact value (name key, phone, email, ID number) connects,
#     and concord's recall within it; the review queue's reach;
#   - the miss rate of true pairs by what the generator did to their rows
#     (tags: homophone, honorific, old_mobile, id_typo, ...).
# No timing assertions; the resolve's time is printed for information.
#
#   bash bench/identity_heldout.sh               # 20,000 people
#   bash bench/identity_heldout.sh 5000          # another size
#   BENCH_SEED=7 bash bench/identity_heldout.sh  # another draw
#   BENCH_PORT=54626                             # the cluster's port (default 54396)
#   BENCH_KEEP=1                                 # leave the cluster running to look further
#   BENCH_WHY_MAX=5000                           # wrong links asked why_matched (a sample beyond:
#                                                # about 3 ms a pair at 20,000 people, 30 ms at 100,000)

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"
require_root

PEOPLE="${1:-${BENCH_PEOPLE:-20000}}"
SEED="${BENCH_SEED:-20261207}"
[[ "$PEOPLE" =~ ^[0-9]+$ && "$PEOPLE" -ge 10 ]] || die "PEOPLE must be a number of at least 10, not \"$PEOPLE\""
[[ "$SEED" =~ ^[0-9]+$ ]] || die "BENCH_SEED must be a number, not \"$SEED\""
WHY_MAX="${BENCH_WHY_MAX:-5000}"
[[ "$WHY_MAX" =~ ^[0-9]+$ ]] || die "BENCH_WHY_MAX must be a number, not \"$WHY_MAX\""
RUN=bench-heldout
DB=concord_heldout
DATA="$REPO/tmp/$RUN-data"

CLUSTER_EXTRA_CONF="shared_buffers = 256MB
work_mem = 64MB
max_parallel_workers_per_gather = 0" bench_cluster "$RUN" "${BENCH_PORT:-54396}"
if [[ -n "${BENCH_KEEP:-}" ]]; then
	trap - EXIT
	say "BENCH_KEEP: cluster $RUN stays up (PGHOST=$PGHOST PGPORT=$PGPORT); stop it with: . test/harness/lib.sh; stop_all $RUN"
fi

rm -rf "$DATA"
mkdir -p "$DATA"
"$PYTHON" bench/identity_heldout.py "$PEOPLE" "$DATA" "$SEED"
chmod -R a+rX "$DATA"

run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null
run_psql "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION concord;
CREATE ROLE heldout_analyst LOGIN IN ROLE concord_identity;
CREATE SCHEMA heldout AUTHORIZATION heldout_analyst;
CREATE SCHEMA eval;   -- the ground truth: the analyst cannot read it
SQL

# The departments' tables, loaded and registered by the analyst.
analyst() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -U heldout_analyst -d "$DB" "$@"; }
analyst <<SQL >/dev/null
SET client_min_messages = warning;
SET search_path = heldout;
CREATE TABLE crm_lead (lead_id text PRIMARY KEY, contact_name text, mobile text, email text, company_name text,
                       job_title text, city text, owner_rep text, created_at timestamptz, updated_at timestamptz);
CREATE TABLE fin_invoice (invoice_no text PRIMARY KEY, contact_name text, buyer_company text, contact_phone text,
                          id_no text, address text, amount numeric, issued_on date);
CREATE TABLE cs_ticket (ticket_id int PRIMARY KEY, caller_name text, caller_phone text, email text, address text,
                        category text, opened_at timestamptz);
CREATE TABLE mkt_signup (signup_id text PRIMARY KEY, name text, mobile text, email text, company text, address text,
                         channel text, signed_up_at timestamptz);
\copy crm_lead FROM '$DATA/crm_lead.csv' (FORMAT csv, HEADER true)
\copy fin_invoice FROM '$DATA/fin_invoice.csv' (FORMAT csv, HEADER true)
\copy cs_ticket FROM '$DATA/cs_ticket.csv' (FORMAT csv, HEADER true)
\copy mkt_signup FROM '$DATA/mkt_signup.csv' (FORMAT csv, HEADER true)
SELECT concord.identity_source_create('crm', 'heldout.crm_lead', 'lead_id',
  '{"name": "contact_name", "phone": "mobile", "email": "email", "company": "company_name", "updated_at": "updated_at"}');
SELECT concord.identity_source_create('fin', 'heldout.fin_invoice', 'invoice_no',
  '{"name": "contact_name", "phone": "contact_phone", "company": "buyer_company", "address": "address",
    "id_number": "id_no", "updated_at": "issued_on"}');
SELECT concord.identity_source_create('cs', 'heldout.cs_ticket', 'ticket_id',
  '{"name": "caller_name", "phone": "caller_phone", "email": "email", "address": "address", "updated_at": "opened_at"}');
SELECT concord.identity_source_create('mkt', 'heldout.mkt_signup', 'signup_id',
  '{"name": "name", "phone": "mobile", "email": "email", "company": "company", "address": "address",
    "updated_at": "signed_up_at"}');
SQL

echo "bench/identity_heldout: $PEOPLE people, seed $SEED, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
t0="$(date +%s%N)"
resolved="$(analyst -At -F ' ' -c "SELECT records, pairs, customers FROM concord.resolve()" </dev/null)"
t1="$(date +%s%N)"
read -r records pairs customers <<<"$resolved"
echo "resolve (defaults, trained at this first run): $records records, $pairs pairs compared, $customers customers, $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}') s"

run_psql "$DB" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE eval.truth (source text, key text, person int, tags text, PRIMARY KEY (source, key));
CREATE TABLE eval.person (person int PRIMARY KEY, household int, name text, mobile text, company text, id text);
\copy eval.truth FROM '$DATA/truth.csv' (FORMAT csv, HEADER true)
\copy eval.person FROM '$DATA/person.csv' (FORMAT csv, HEADER true)
SQL

run_psql "$DB" -P footer=off -v pairs="$pairs" -v whymax="$WHY_MAX" <<'SQL'
SET client_min_messages = warning;
\pset null ''
-- every row with its truth, its customer and its values, raw and normalized
CREATE TABLE eval.r AS
SELECT t.source, t.key, t.person, t.tags, l.customer_id, l.how, v.name, v.phone, v.email, v.company, v.address, v.id_no,
       CASE WHEN NOT concord.identity_placeholder('name', v.name) THEN concord.name_key(v.name) END AS nk,
       concord.normalize_phone(v.phone) AS ph,
       concord.normalize_email(v.email) AS em,
       CASE WHEN NOT concord.identity_placeholder('company', v.company) THEN concord.normalize_company(v.company) END AS co,
       concord.normalize_address(v.address) AS ad,
       concord.normalize_id(v.id_no) AS idn
  FROM eval.truth t
  LEFT JOIN concord.customer_link l USING (source, key)
  JOIN (SELECT 'crm' AS source, lead_id AS key, contact_name AS name, mobile AS phone, email, company_name AS company,
               NULL::text AS address, NULL::text AS id_no FROM heldout.crm_lead
        UNION ALL SELECT 'fin', invoice_no, contact_name, contact_phone, NULL, buyer_company, address, id_no FROM heldout.fin_invoice
        UNION ALL SELECT 'cs', ticket_id::text, caller_name, caller_phone, email, NULL, address, NULL FROM heldout.cs_ticket
        UNION ALL SELECT 'mkt', signup_id, name, mobile, email, company, address, NULL FROM heldout.mkt_signup) v
       USING (source, key);
CREATE INDEX ON eval.r (customer_id);
CREATE INDEX ON eval.r (person);
ANALYZE eval.r;

SELECT count(*) AS rows, count(customer_id) AS linked, count(DISTINCT person) AS people,
       count(DISTINCT customer_id) AS customers,
       (SELECT max(n) FROM (SELECT count(*) n FROM eval.r GROUP BY customer_id) x) AS largest_customer_rows
  FROM eval.r \gset
\echo 'rows:' :rows ', linked:' :linked ', people:' :people ', customers:' :customers ', largest customer:' :largest_customer_rows 'rows'

-- pairwise figures from group sizes (no pair list needed)
CREATE FUNCTION pg_temp.pairs(n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT n * (n - 1) / 2';
WITH tp AS (SELECT sum(pg_temp.pairs(n)) v FROM (SELECT count(*) n FROM eval.r GROUP BY customer_id, person) x),
     pp AS (SELECT sum(pg_temp.pairs(n)) v FROM (SELECT count(*) n FROM eval.r GROUP BY customer_id) x),
     ap AS (SELECT sum(pg_temp.pairs(n)) v FROM (SELECT count(*) n FROM eval.r GROUP BY person) x)
SELECT tp.v AS tp, pp.v AS predicted, ap.v AS actual,
       round(tp.v::numeric / nullif(pp.v, 0), 4) AS precision, round(tp.v::numeric / nullif(ap.v, 0), 4) AS recall,
       round(2 * tp.v::numeric / nullif(pp.v + ap.v, 0), 4) AS f1
  FROM tp, pp, ap \gset
\echo 'concord precision:' :precision ', recall:' :recall ', F1:' :f1 '(true pairs' :actual ', predicted' :predicted ', right' :tp ')'

-- the candidate pairs as docs/identity.md describes the shipped blocking rules (the same ID number, phone,
-- email, name key, or name key and employer; a value held by more than 200 rows brings none): how many true
-- pairs they reach, and the true share of matches among them beside the share training estimated
CREATE TABLE eval.kv AS
SELECT x.source, x.key, x.person, v.k
  FROM eval.r x, LATERAL (VALUES ('n:' || x.nk), ('p:' || x.ph), ('e:' || x.em), ('i:' || x.idn), ('nc:' || x.nk || '|' || x.co)) v(k)
 WHERE v.k IS NOT NULL;
DELETE FROM eval.kv WHERE k IN (SELECT k FROM eval.kv GROUP BY k HAVING count(*) > 200);
CREATE TABLE eval.cand AS
SELECT DISTINCT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb, a.person = b.person AS same
  FROM eval.kv a JOIN eval.kv b ON a.k = b.k AND (a.source, a.key) < (b.source, b.key);
SELECT count(*) AS cand, count(*) FILTER (WHERE same) AS cand_true,
       round(avg(same::int), 4) AS cand_share, round(count(*) FILTER (WHERE same)::numeric / :actual, 4) AS reach,
       (SELECT round(m::numeric, 4) FROM concord.identity_weight WHERE (attribute, level) = ('model', 'prior')) AS lambda
  FROM eval.cand \gset
\echo
\echo 'candidate pairs (blocking as the docs describe it):' :cand '(resolve compared' :pairs '); true pairs among them:' :cand_true
\echo 'blocking reach (true pairs among the candidates / all true pairs):' :reach
\echo 'share of matches among the candidate pairs: true' :cand_share ', estimated by training (the prior row''s m):' :lambda
\echo
\echo 'the model resolve used (identity_weight, built-in attributes):'
SELECT attribute, level, weight, origin, round(m::numeric, 6) AS m, round(u::numeric, 9) AS u
  FROM concord.identity_weight ORDER BY attribute, level;

-- the pair lists: wrong links (one customer, two people) and missed pairs (one person, two customers)
CREATE TABLE eval.wrong AS
SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb, a.person AS pa, b.person AS pb
  FROM eval.r a JOIN eval.r b ON a.customer_id = b.customer_id AND (a.source, a.key) < (b.source, b.key)
 WHERE a.person <> b.person;
CREATE TABLE eval.missed AS
SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb, a.person AS pa, b.person AS pb
  FROM eval.r a JOIN eval.r b ON a.person = b.person AND (a.source, a.key) < (b.source, b.key)
 WHERE a.customer_id IS DISTINCT FROM b.customer_id;

-- per pair of departments
\echo
\echo 'by pair of departments (pairs within one department included):'
WITH truep AS (SELECT a.source AS sa, b.source AS sb, count(*) n FROM eval.r a JOIN eval.r b ON a.person = b.person AND (a.source, a.key) < (b.source, b.key) GROUP BY 1, 2),
     pred AS (SELECT a.source AS sa, b.source AS sb, count(*) n FROM eval.r a JOIN eval.r b ON a.customer_id = b.customer_id AND (a.source, a.key) < (b.source, b.key) GROUP BY 1, 2),
     w AS (SELECT sa, sb, count(*) n FROM eval.wrong GROUP BY 1, 2),
     m AS (SELECT sa, sb, count(*) n FROM eval.missed GROUP BY 1, 2)
SELECT sa || '-' || sb AS departments, truep.n AS true_pairs, coalesce(pred.n, 0) AS predicted,
       coalesce(w.n, 0) AS wrong, coalesce(m.n, 0) AS missed,
       round(1 - coalesce(w.n, 0)::numeric / nullif(pred.n, 0), 4) AS precision,
       round(1 - coalesce(m.n, 0)::numeric / truep.n, 4) AS recall
  FROM truep LEFT JOIN pred USING (sa, sb) LEFT JOIN w USING (sa, sb) LEFT JOIN m USING (sa, sb)
 ORDER BY 1;

-- what two rows had in common
CREATE FUNCTION pg_temp.common(a eval.r, b eval.r) RETURNS text LANGUAGE sql STABLE AS $f$
SELECT coalesce(nullif(concat_ws(' ',
  CASE WHEN a.nk IS NULL OR b.nk IS NULL THEN NULL WHEN a.nk = b.nk THEN '=name'
       WHEN concord.name_similarity(a.name, b.name) >= 0.9 THEN '~name' ELSE '≠name' END,
  CASE WHEN a.ph IS NULL OR b.ph IS NULL THEN NULL
       WHEN a.ph = b.ph THEN CASE WHEN a.ph ~ '^\+861[3-9][0-9]{9}$' THEN '=mobile' ELSE '=landline' END
       WHEN split_part(a.ph, ';', 1) = split_part(b.ph, ';', 1) THEN '=board'
       ELSE '≠phone' END,
  CASE WHEN a.em IS NULL OR b.em IS NULL THEN NULL WHEN a.em = b.em THEN '=email' ELSE '≠email' END,
  CASE WHEN a.co IS NULL OR b.co IS NULL THEN NULL WHEN a.co = b.co THEN '=company' ELSE '≠company' END,
  CASE WHEN a.ad IS NULL OR b.ad IS NULL THEN NULL WHEN a.ad = b.ad THEN '=address' ELSE '≠address' END,
  CASE WHEN a.idn IS NULL OR b.idn IS NULL THEN NULL WHEN a.idn = b.idn THEN '=id'
       WHEN concord.damerau_levenshtein(regexp_replace(a.idn, '^[a-z]+:', ''), regexp_replace(b.idn, '^[a-z]+:', '')) <= 1 THEN '~id'
       ELSE '≠id' END), ''), '(nothing on both sides)')
$f$;
CREATE FUNCTION pg_temp.shown(a eval.r) RETURNS text LANGUAGE sql STABLE AS $f$
SELECT a.source || ' ' || a.key || ' {' || concat_ws(', ', 'name ' || a.name, 'tel ' || a.phone, 'mail ' || a.email,
       'co ' || a.company, 'addr ' || a.address, 'id ' || a.id_no) || '}'
$f$;

-- what concord says of one pair: its score against the threshold and the levels that weighed
CREATE FUNCTION pg_temp.why(sa text, ka text, sb text, kb text) RETURNS text LANGUAGE sql STABLE AS $f$
SELECT format('score %s / threshold %s, p %s%s: %s', w->>'score', w->>'threshold', w->>'match_probability',
              CASE WHEN w->>'rule' IS NOT NULL THEN ', rule ' || (w->>'rule') ELSE '' END,
              (SELECT string_agg(k || ' ' || (v->>'level') || ' ' || (v->>'weight'), '; ' ORDER BY k)
                 FROM jsonb_each(w->'attributes') AS a(k, v) WHERE (v->>'weight')::numeric <> 0))
  FROM concord.why_matched(sa, ka, sb, kb) w
$f$;

CREATE TABLE eval.wrong_c AS
SELECT CASE WHEN pa.household = pb.household THEN 'household'
            WHEN pa.name = pb.name THEN 'namesakes'
            WHEN pa.company = pb.company THEN 'colleagues'
            ELSE 'strangers' END AS relation,
       CASE WHEN w.rn > :whymax THEN 'not checked'
            WHEN (concord.why_matched(w.sa, w.ka, w.sb, w.kb)->>'match')::boolean THEN 'direct' ELSE 'through others' END AS direct,
       pg_temp.common(a, b) AS common,
       pg_temp.shown(a) || '  ~  ' || pg_temp.shown(b) || '  [how: ' || coalesce(a.how, '') || ' / ' || coalesce(b.how, '') || ']' AS example,
       a.source || '-' || b.source AS departments, w.sa, w.ka, w.sb, w.kb
  FROM (SELECT *, row_number() OVER (ORDER BY md5(sa || ka || sb || kb)) AS rn FROM eval.wrong) w
  JOIN eval.r a ON (a.source, a.key) = (w.sa, w.ka) JOIN eval.r b ON (b.source, b.key) = (w.sb, w.kb)
  JOIN eval.person pa ON pa.person = w.pa JOIN eval.person pb ON pb.person = w.pb;
CREATE TABLE eval.missed_c AS
SELECT pg_temp.common(a, b) AS common,
       pg_temp.shown(a) || '  ~  ' || pg_temp.shown(b) AS example,
       a.source || '-' || b.source AS departments,
       a.tags AS ta, b.tags AS tb, a.customer_id AS ca, b.customer_id AS cb, m.sa, m.ka, m.sb, m.kb
  FROM eval.missed m
  JOIN eval.r a ON (a.source, a.key) = (m.sa, m.ka) JOIN eval.r b ON (b.source, b.key) = (m.sb, m.kb);

\echo
\echo 'wrong links, by how the two people relate, and whether the pair itself scores a match (why_matched) or was joined through other rows:'
SELECT relation, count(*) AS pairs, count(*) FILTER (WHERE direct <> 'not checked') AS checked,
       count(*) FILTER (WHERE direct = 'direct') AS direct
  FROM eval.wrong_c GROUP BY 1 ORDER BY 2 DESC;
\echo
\echo 'wrong links: the 20 largest classes of what the two rows had in common (one example each):'
\pset format unaligned
\pset fieldsep ' | '
SELECT pairs, relation, direct, common, E'\n    ' || example || E'\n    why_matched: ' || pg_temp.why(sa, ka, sb, kb) AS example
  FROM (SELECT count(*) OVER w AS pairs, relation, direct, common, example, sa, ka, sb, kb,
               row_number() OVER (w ORDER BY md5(example)) AS nr
          FROM eval.wrong_c WINDOW w AS (PARTITION BY relation, direct, common)) x
 WHERE nr = 1 ORDER BY pairs DESC, relation, direct, common LIMIT 20;
\echo
\echo 'wrong links that score a match by themselves (the bridges), the 10 largest classes:'
SELECT pairs, relation, common, E'\n    ' || example || E'\n    why_matched: ' || pg_temp.why(sa, ka, sb, kb) AS example
  FROM (SELECT count(*) OVER w AS pairs, relation, common, example, sa, ka, sb, kb,
               row_number() OVER (w ORDER BY md5(example)) AS nr
          FROM eval.wrong_c WHERE direct = 'direct' WINDOW w AS (PARTITION BY relation, common)) x
 WHERE nr = 1 ORDER BY pairs DESC, relation, common LIMIT 10;
\echo
\echo 'missed pairs: the 20 largest classes of what the two rows had in common (one example each):'
SELECT pairs, common, E'\n    ' || example || E'\n    why_matched: ' || pg_temp.why(sa, ka, sb, kb) AS example
  FROM (SELECT count(*) OVER w AS pairs, common, example, sa, ka, sb, kb,
               row_number() OVER (w ORDER BY md5(example)) AS nr
          FROM eval.missed_c WINDOW w AS (PARTITION BY common)) x
 WHERE nr = 1 ORDER BY pairs DESC, common LIMIT 20;
\pset format aligned

-- a ceiling: the true pairs a chain of the person's own rows sharing an exact value (name key, phone,
-- email, ID number, as normalized) connects; the rest share nothing with the person's other rows
CREATE TABLE eval.edge AS
SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb
  FROM eval.r a JOIN eval.r b ON a.person = b.person AND (a.source, a.key) <> (b.source, b.key)
 WHERE a.nk = b.nk OR a.ph = b.ph OR a.em = b.em OR a.idn = b.idn;
CREATE TABLE eval.comp AS SELECT source, key, person, customer_id, row_number() OVER () AS lbl FROM eval.r;
CREATE UNIQUE INDEX ON eval.comp (source, key);
DO $d$
DECLARE n bigint;
BEGIN
  LOOP
    UPDATE eval.comp c SET lbl = x.m
      FROM (SELECT e.sa, e.ka, min(cb.lbl) AS m FROM eval.edge e JOIN eval.comp cb ON (cb.source, cb.key) = (e.sb, e.kb)
             GROUP BY 1, 2) x
     WHERE (c.source, c.key) = (x.sa, x.ka) AND x.m < c.lbl;
    GET DIAGNOSTICS n = ROW_COUNT;
    EXIT WHEN n = 0;
  END LOOP;
END
$d$;
SELECT (SELECT sum(pg_temp.pairs(n)) FROM (SELECT count(*) n FROM eval.comp GROUP BY person, lbl) x) AS reach,
       (SELECT sum(pg_temp.pairs(n)) FROM (SELECT count(*) n FROM eval.comp GROUP BY person, lbl, customer_id) x) AS reach_found \gset
\echo
\echo 'ceiling: true pairs connected by a chain of the person''s rows sharing a name key, phone, email or ID number:' :reach 'of' :actual
SELECT round(:reach::numeric / :actual, 4) AS ceiling, round(:reach_found::numeric / :reach, 4) AS recall_within \gset
\echo 'reachable share of true pairs:' :ceiling ', concord recall within them:' :recall_within

\echo
\echo 'true pairs by what the generator did to their rows (a pair counts under each tag of either row):'
WITH tp AS (SELECT a.tags AS ta, b.tags AS tb, a.customer_id IS NOT DISTINCT FROM b.customer_id AS found
              FROM eval.r a JOIN eval.r b ON a.person = b.person AND (a.source, a.key) < (b.source, b.key)),
     t AS (SELECT DISTINCT ON (x.ord, tag) x.ord, tag, found
             FROM (SELECT row_number() OVER () AS ord, * FROM tp) x,
                  unnest(string_to_array(coalesce(nullif(ta, ''), '(none)') || ' ' || coalesce(nullif(tb, ''), '(none)'), ' ')) tag)
SELECT tag, count(*) AS true_pairs, count(*) FILTER (WHERE NOT found) AS missed,
       round(count(*) FILTER (WHERE NOT found)::numeric / count(*), 3) AS miss_rate
  FROM t GROUP BY tag ORDER BY missed DESC, tag;

\echo
\echo 'values resolve detected as placeholders (identity_placeholder_value, origin detected):'
SELECT kind, value, placeholder, records, reason FROM concord.identity_placeholder_value
 WHERE origin = 'detected' ORDER BY records DESC LIMIT 20;
\echo
SELECT count(*) AS review_pairs FROM concord.customer_review \gset
SELECT count(*) AS missed_reviewed
  FROM eval.missed_c m
 WHERE EXISTS (SELECT 1 FROM concord.customer_review q
                 JOIN concord.customer_link la ON (la.source, la.key) = (q.source_a, q.key_a)
                 JOIN concord.customer_link lb ON (lb.source, lb.key) = (q.source_b, q.key_b)
                WHERE (la.customer_id, lb.customer_id) IN ((m.ca, m.cb), (m.cb, m.ca))) \gset
\echo 'review queue:' :review_pairs 'pairs; missed true pairs whose two customers the queue lists:' :missed_reviewed

-- the baseline: a ten-line rule, pairwise (no closure)
CREATE TABLE eval.rule AS
SELECT DISTINCT ON (sa, ka, sb, kb) * FROM (
  SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb, a.person = b.person AS same
    FROM eval.r a JOIN eval.r b ON a.idn = b.idn AND (a.source, a.key) < (b.source, b.key) WHERE a.idn !~ '^[a-z]+:'
  UNION ALL
  SELECT a.source, a.key, b.source, b.key, a.person = b.person
    FROM eval.r a JOIN eval.r b ON a.ph = b.ph AND a.nk = b.nk AND (a.source, a.key) < (b.source, b.key)
   WHERE a.ph ~ '^\+861[3-9][0-9]{9}$'
  UNION ALL
  SELECT a.source, a.key, b.source, b.key, a.person = b.person
    FROM eval.r a JOIN eval.r b ON a.em = b.em AND a.nk = b.nk AND (a.source, a.key) < (b.source, b.key)) x;
SELECT count(*) FILTER (WHERE same) AS rtp, count(*) AS rpred,
       round(count(*) FILTER (WHERE same)::numeric / nullif(count(*), 0), 4) AS rprecision,
       round(count(*) FILTER (WHERE same)::numeric / :actual, 4) AS rrecall,
       round(2 * count(*) FILTER (WHERE same)::numeric / (count(*) + :actual), 4) AS rf1
  FROM eval.rule \gset
\echo
\echo 'baseline rule (same valid ID; or same mobile and name key; or same email and name key), pairwise:'
\echo 'rule precision:' :rprecision ', recall:' :rrecall ', F1:' :rf1 '(predicted' :rpred ', right' :rtp ')'
\echo 'concord precision:' :precision ', recall:' :recall ', F1:' :f1
SQL
