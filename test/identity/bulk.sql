-- identity: a first resolve of more than 50,000 rows (25,000 generated
-- people) takes the bulk path -- rows and links written without their
-- indexes, which are built afterwards.  The indexes must all be back and
-- valid, and the result the same as the ordinary path's: a rerun, which
-- writes through the indexes, changes nothing.  The first resolve runs
-- with fresh statistics of the then empty tables (an ANALYZE, as
-- autovacuum would do): links must still be written in one pass, not
-- with a scan of customer_link per row (the issue's 16 s -> 299 s).
BEGIN;
SELECT plan(7);
SET LOCAL client_min_messages = warning;
\set persons 25000
\set seed 5
\set QUIET on
\o /dev/null
\ir ../fixtures/identity_gen.sql
\o
\set QUIET off

ANALYZE concord.identity_record, concord.customer_link;
SELECT cmp_ok((SELECT records FROM concord.resolve()), '>', 50000::bigint,
  'a first resolve of more than 50,000 rows, after an ANALYZE of the empty tables');
-- (blocks of customer_link read in this transaction: one per link written
-- and a few scans of its 600 pages -- 56,000; the quadratic plan read
-- 15.8 million)
SELECT cmp_ok(pg_stat_get_xact_blocks_fetched('concord.customer_link'::regclass), '<',
  2 * (SELECT count(*) FROM concord.customer_link),
  'customer_link is written in one pass, not scanned once per row (fresh statistics of an empty table)');
SELECT bag_eq(
  $$SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid IN ('concord.identity_record'::regclass, 'concord.customer_link'::regclass)$$,
  $$VALUES ('identity_record_pkey', true), ('identity_record_phone_idx', true), ('identity_record_email_idx', true),
           ('identity_record_name_key_idx', true), ('identity_record_id_number_idx', true),
           ('identity_record_company_idx', true), ('identity_record_extra_idx', true),
           ('customer_link_pkey', true), ('customer_link_customer_idx', true)$$,
  'the indexes of identity_record and customer_link are all back, and valid');
SELECT is((SELECT count(*) FROM concord.customer_link), (SELECT count(*) FROM concord.identity_record),
  'every row has its link');
SELECT is((SELECT count(*) FROM concord.customer_link l
            WHERE NOT EXISTS (SELECT 1 FROM concord.customer c WHERE c.customer_id = l.customer_id)), 0::bigint,
  'and every link its golden record');
SELECT results_eq($$SELECT new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (0::bigint, 0::bigint, 0::bigint)$$,
  'a rerun (no bulk path: the rows are there) changes no customer ID');
SELECT cmp_ok((SELECT pair_precision FROM idgen.accuracy()), '>=', 0.99::float8,
  'and the bulk-written result is as precise as the tests of smaller data');

SELECT * FROM finish();
ROLLBACK;
