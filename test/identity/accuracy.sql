-- identity: accuracy on generated data with known truth (the seeded
-- generator of test/fixtures/identity_gen.sql, 1,500 people over four
-- departments' systems).  Precision and recall are held to the issue's
-- targets (the report at larger sizes is bench/identity.sh's).
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = warning;
\set persons 1500
\set seed 7
\set QUIET on
\o /dev/null
\ir ../fixtures/identity_gen.sql
\o
\set QUIET off

SELECT new_ids, customers FROM concord.resolve() \gset
SELECT is(:new_ids::bigint, :customers::bigint, 'a first resolve of generated data creates every customer');
SELECT cmp_ok((SELECT pair_precision FROM idgen.accuracy()), '>=', 0.99::float8,
  'pairwise precision at least 0.99 (the issue''s target; 0.995 measured, trained)');
SELECT cmp_ok((SELECT pair_recall FROM idgen.accuracy()), '>=', 0.97::float8,
  'pairwise recall at least 0.97 (the issue''s target; 0.977 on this data with the model trained at the first resolve, 0.9505 with the hand-set weights)');
SELECT is((SELECT count(*)::int FROM concord.customer_link l JOIN idgen.truth t USING (source, key)
            WHERE t.person < 0 AND EXISTS (SELECT 1 FROM concord.customer_link l2 JOIN idgen.truth t2 USING (source, key)
                                             WHERE l2.customer_id = l.customer_id AND t2.person = -t.person)), 0,
  'no family member sharing a home phone and address is merged with the person');
SELECT results_eq($$SELECT new_ids, merged, split FROM concord.resolve()$$, $$VALUES (0::bigint, 0::bigint, 0::bigint)$$,
  'a rerun on the same data changes no customer ID');

SELECT * FROM finish();
ROLLBACK;
