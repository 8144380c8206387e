-- identity: the matching model is data — weights set by hand change the
-- decisions; estimated weights are computed from random and linked pairs.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;
\ir people.psql

SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE origin = 'default'), 20,
  'the model starts with the 20 default weights and settings');
SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'resolve with the defaults');
SELECT is((concord.why_matched('crm', '5', 'billing', 'B-005') ->> 'score')::numeric, 9.68, '陈静''s pair scores 9.68');

-- a reviewer decides that a name and an employer are not enough
UPDATE concord.identity_weight SET weight = 6, origin = 'manual' WHERE (attribute, level) = ('company', 'agree');
SELECT is((concord.why_matched('crm', '5', 'billing', 'B-005') ->> 'score')::numeric, 7.68,
  'why_matched uses the weight set by hand');
SELECT is((SELECT customers FROM concord.resolve()), 14::bigint, 'and so does resolve: 陈静 is two customers now');

-- a stricter threshold leaves only the rules
UPDATE concord.identity_weight SET weight = 30, origin = 'manual' WHERE (attribute, level) = ('model', 'match_threshold');
SELECT is((SELECT customers FROM concord.resolve()), 16::bigint, 'with threshold 30 only rule matches link rows');
SELECT is((SELECT count(*)::int FROM concord.customer_link WHERE how = 'score'), 0, 'no link by score');

-- estimation: advisory unless applied
SELECT is((SELECT count(*)::int FROM concord.identity_estimate_weights(1000)), 17,
  'identity_estimate_weights proposes the 17 attribute weights');
SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE origin = 'estimated'), 0, 'and stores nothing unless asked');
SELECT throws_ok($$SELECT * FROM concord.identity_estimate_weights(10)$$, '22023',
  'sample must be between 100 and 10000000 pairs, not 10', 'a sample too small');

SELECT * FROM finish();
ROLLBACK;
