-- identity: the matching model is data — weights set by hand change the
-- decisions; estimated weights are computed from random and linked pairs.
BEGIN;
SELECT plan(19);
SET LOCAL client_min_messages = warning;
\ir people.psql
-- weights set by hand are the database owner's (docs/identity.md): this
-- test runs as a superuser after people.psql's registration
RESET ROLE;

SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE origin = 'default'), 36,
  'the model starts with the 36 default weights and settings');
SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'resolve with the defaults');
SELECT is((concord.why_matched('crm', '5', 'billing', 'B-005') ->> 'score')::numeric, 13.00,
  '陈静''s pair scores 13: the only 陈静 at her employer, her name and employer weigh as if unique (5 + 8)');

-- a reviewer decides that a name and an employer are not enough
UPDATE concord.identity_weight SET weight = 2, origin = 'manual' WHERE (attribute, level) = ('company', 'agree');
SELECT is((concord.why_matched('crm', '5', 'billing', 'B-005') ->> 'score')::numeric, 7.00,
  'why_matched uses the weight set by hand');
SELECT is((SELECT customers FROM concord.resolve()), 14::bigint, 'and so does resolve: 陈静 is two customers now');

-- a stricter threshold leaves only the rules
UPDATE concord.identity_weight SET weight = 30, origin = 'manual' WHERE (attribute, level) = ('model', 'match_threshold');
SELECT is((SELECT customers FROM concord.resolve()), 16::bigint, 'with threshold 30 only rule matches link rows');
SELECT is((SELECT count(*)::int FROM concord.customer_link WHERE how = 'score'), 0, 'no link by score');

-- estimation: advisory unless applied
SELECT is((SELECT count(*)::int FROM concord.identity_estimate_weights(1000)), 31,
  'identity_estimate_weights proposes the 31 attribute weights');
SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE origin = 'estimated'), 0, 'and stores nothing unless asked');
SELECT throws_ok($$SELECT * FROM concord.identity_estimate_weights(10)$$, '22023',
  'sample must be between 100 and 10000000 pairs, not 10', 'a sample too small');
-- (deprecated: a wrapper of identity_train, which stores what it trains,
-- never over a row set by hand)
CREATE TEMP TABLE est AS SELECT * FROM concord.identity_estimate_weights(1000, apply => true);
SELECT is((SELECT count(*)::int FROM est), 31, 'identity_estimate_weights is identity_train now: its 31 attribute weights');
SELECT is((SELECT format('%s %s', weight, origin) FROM concord.identity_weight WHERE (attribute, level) = ('company', 'agree')),
  '2 manual', 'applied, it leaves the weight set by hand (company agree 2) as it is');
SELECT is((SELECT count(*)::int FROM concord.identity_weight w JOIN est e USING (attribute, level)
            WHERE e.estimated IS NOT NULL AND w.origin = 'trained' AND w.weight = e.estimated),
          (SELECT count(*)::int FROM est e JOIN concord.identity_weight w USING (attribute, level)
            WHERE e.estimated IS NOT NULL AND w.origin <> 'manual'),
  'and stores the others it trained, as origin trained');

-- absurd settings are refused, and a resolve under a broken model changes nothing
SELECT throws_ok($$UPDATE concord.identity_weight SET weight = 1000 WHERE (attribute, level) = ('phone', 'agree')$$, '23514',
  NULL, 'a weight of 1000 bits');
SELECT throws_ok($$UPDATE concord.identity_weight SET weight = 'NaN' WHERE (attribute, level) = ('phone', 'agree')$$, '23514',
  NULL, 'a weight that is not a number');
SELECT throws_ok($$UPDATE concord.identity_weight SET weight = -1 WHERE (attribute, level) = ('model', 'match_threshold')$$, '23514',
  NULL, 'a match threshold of -1: every pair would match');
SELECT throws_ok($$UPDATE concord.identity_weight SET weight = 2 WHERE (attribute, level) = ('model', 'rule_name_min')$$, '23514',
  NULL, 'a name similarity of 2');
UPDATE concord.identity_weight SET weight = 8, origin = 'manual' WHERE (attribute, level) = ('model', 'match_threshold');
UPDATE concord.identity_weight SET weight = 12, origin = 'manual' WHERE (attribute, level) = ('model', 'review_threshold');
CREATE TEMP TABLE links_before AS SELECT * FROM concord.customer_link;
SELECT throws_ok($$SELECT * FROM concord.resolve()$$, '22023', 'the review threshold (12) is above the match threshold (8)',
  'a review threshold above the match threshold');
SELECT is((SELECT count(*)::int FROM (SELECT * FROM links_before EXCEPT SELECT * FROM concord.customer_link) d), 0,
  'the failed resolve left the links as they were');

SELECT * FROM finish();
ROLLBACK;
