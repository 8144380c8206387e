-- identity: the incremental path on generated data (test/fixtures/
-- identity_gen.sql, 6,000 people).  A full resolve keeps the row count,
-- the customer count and the spreads of widely held values that
-- incremental runs weigh with; new, corrected and deleted rows resolved
-- incrementally end where a full resolve of the same state ends.
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;
\set persons 6000
\set seed 11
\set QUIET on
\o /dev/null
\ir ../fixtures/identity_gen.sql
\o
\set QUIET off

SELECT lives_ok($$SELECT concord.resolve()$$, 'a full resolve of generated data');
SELECT results_eq($$SELECT records, customers FROM concord.identity_population$$,
  $$SELECT (SELECT count(*) FROM concord.identity_record), (SELECT count(*) FROM concord.customer)$$,
  'it keeps how many rows and customers there are');
-- the spreads kept: employers of more than 100 rows, and phones widely
-- shared (switchboards), with what a count finds
SELECT cmp_ok((SELECT count(*) FROM concord.identity_value_stat WHERE attribute = 'company' AND records > 100), '>', 0::bigint,
  'the large employers'' spreads are kept');
SELECT cmp_ok((SELECT count(*) FROM concord.identity_value_stat WHERE attribute = 'phone' AND spread > 2), '>', 0::bigint,
  'so are the switchboards''');
SELECT is((SELECT count(*) FROM concord.identity_value_stat s
            WHERE s.records <> (SELECT count(*) FROM concord.identity_record r
                                 WHERE CASE s.attribute WHEN 'company' THEN r.company WHEN 'phone' THEN r.phone
                                                        WHEN 'email' THEN r.email WHEN 'name_key' THEN r.name_key
                                                        ELSE r.id_number END = s.value)
               OR s.spread <> (SELECT count(DISTINCT CASE s.attribute WHEN 'name_key' THEN r.phone ELSE r.name_key END)
                                 FROM concord.identity_record r
                                WHERE CASE s.attribute WHEN 'company' THEN r.company WHEN 'phone' THEN r.phone
                                                       WHEN 'email' THEN r.email WHEN 'name_key' THEN r.name_key
                                                       ELSE r.id_number END = s.value)), 0::bigint,
  'every kept spread and row count is what a count of identity_record finds');

-- the departments work: sales adds 60 customers (most of them people
-- billing, service or marketing know already), billing corrects 16
-- accounts, marketing drops 11 leads
INSERT INTO idgen.crm
SELECT 50000000 + p, name, '+86 ' || mobile, NULL, company_full, timestamptz '2026-07-01'
  FROM idgen.person WHERE p % 100 = 0;
UPDATE idgen.billing SET phone = '+86 ' || p.mobile, company = p.company_full
  FROM idgen.person p WHERE billing.account = 'B-' || p.p AND p.p % 150 = 1;
DELETE FROM idgen.marketing WHERE substr(lead_id, 3)::int % 130 = 2;

CREATE TEMP TABLE counts AS SELECT (SELECT count(DISTINCT (source, key)) FROM concord.identity_queue) AS queued;
SELECT is((SELECT queued FROM counts), 87::bigint, 'triggers queued the 87 rows changed');
SELECT lives_ok($$SELECT concord.resolve_incremental()$$, 'an incremental resolve of them');
SELECT results_eq($$SELECT records, customers FROM concord.identity_population$$,
  $$SELECT (SELECT count(*) FROM concord.identity_record), (SELECT count(*) FROM concord.customer)$$,
  'the kept counts follow the rows added and removed and the customers made and merged');
SELECT is((SELECT count(*) FROM concord.customer_link l
            WHERE NOT EXISTS (SELECT 1 FROM concord.identity_record r WHERE (r.source, r.key) = (l.source, l.key))), 0::bigint,
  'the deleted leads'' links are gone');

-- the same state through a full resolve
\ir same_as_full.psql

-- a source dropped: its rows leave the count, and the kept spreads (which
-- counted them) are counted afresh
SELECT concord.identity_source_drop('gen_marketing');
SELECT results_eq($$SELECT records, (SELECT count(*) FROM concord.identity_value_stat) FROM concord.identity_population$$,
  $$SELECT (SELECT count(*) FROM concord.identity_record), 0::bigint$$,
  'dropping a source takes its rows from the count and clears the kept spreads');

SELECT * FROM finish();
ROLLBACK;
