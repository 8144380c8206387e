-- identity: the learned model.  identity_train() fits m and u by EM on
-- FEBRL 1 (1,000 records, test/fixtures/febrl), run by a member of
-- concord_identity as the docs say: it is repeatable, stores its weights
-- as origin 'trained' without touching a weight set by hand, and refuses
-- bad arguments.
BEGIN;
SET LOCAL client_min_messages = warning;
\set febrl 1
\set QUIET on
\o /dev/null
\ir ../fixtures/febrl.psql
SELECT * FROM concord.resolve();
\o
\set QUIET off
SELECT plan(28);

-- (as if never trained: the first resolve may have trained it)
RESET ROLE;
DELETE FROM concord.identity_weight WHERE origin = 'trained';
SET ROLE tap_febrl;

CREATE TEMP TABLE fit1 AS SELECT * FROM concord.identity_train(apply => false);
SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE origin = 'trained'), 0,
  'identity_train(apply => false) stores nothing');
SELECT ok((SELECT bool_and(origin = 'not applied' OR origin LIKE '%too few pairs%') FROM fit1),
  'and says so for every level');
SELECT ok((SELECT bool_and(m > 0 AND m <= 1 AND u > 0 AND u <= 1) FROM fit1 WHERE attribute <> 'model'),
  'every m and u is a probability');
SELECT ok((SELECT bool_and(weight = round((log(2, (m / u)::numeric) - log(2, 1000 / 1000.0)), 2)::float8)
             FROM fit1 WHERE weight IS NOT NULL AND attribute <> 'model' AND abs(weight) < 30),
  'at 1,000 records (no population scale) a weight is log2(m/u)');
SELECT ok((SELECT weight FROM fit1 WHERE (attribute, level) = ('ssn', 'agree')) > 10,
  'a shared social security number is strong evidence (m/u over 2^10)');
SELECT ok((SELECT weight FROM fit1 WHERE (attribute, level) = ('birth_date', 'disagree')) < 0,
  'a date of birth that differs is evidence against');
SELECT ok((SELECT weight IS NULL FROM fit1 WHERE (attribute, level) = ('phone', 'agree')),
  'an attribute the data does not have is not trained (FEBRL has no phone)');
SELECT ok((SELECT m BETWEEN 0.9 AND 1 FROM fit1 WHERE (attribute, level) = ('model', 'prior')),
  'EM finds that most candidate pairs are matches (500 true pairs in 510 candidates)');

-- repeatable: the same sample, the same fit
SELECT results_eq($$SELECT attribute, level, m, u, weight FROM concord.identity_train(apply => false) ORDER BY 1, 2$$,
  $$SELECT attribute, level, m, u, weight FROM fit1 ORDER BY 1, 2$$,
  'training twice gives the same m, u and weights');

-- a weight set by hand survives training
RESET ROLE;
INSERT INTO concord.identity_weight (attribute, level, weight, origin) VALUES ('ssn', 'agree', 7, 'manual')
  ON CONFLICT (attribute, level) DO UPDATE SET weight = 7, origin = 'manual';
SET ROLE tap_febrl;
CREATE TEMP TABLE fit2 AS SELECT * FROM concord.identity_train();
SELECT results_eq($$SELECT weight, origin FROM concord.identity_weight WHERE (attribute, level) = ('ssn', 'agree')$$,
  $$VALUES (7::float8, 'manual'::text)$$, 'training keeps the weight set by hand');
SELECT is((SELECT origin FROM fit2 WHERE (attribute, level) = ('ssn', 'agree')), 'manual (kept)',
  'and says so');
SELECT is((SELECT count(*)::int FROM concord.identity_weight w JOIN fit2 f USING (attribute, level)
            WHERE f.weight IS NOT NULL AND w.origin = 'trained' AND w.weight = f.weight AND w.m = f.m AND w.u = f.u),
          (SELECT count(*)::int FROM fit2 WHERE weight IS NOT NULL) - 1,
  'every other level trained is stored as origin trained, with its m and u');
SELECT is((SELECT weight FROM concord.identity_weight WHERE (attribute, level) = ('phone', 'agree')), 9::float8,
  'a level without pairs keeps its weight');

-- the match probability is the threshold
SELECT is((concord.why_matched('febrl1', 'rec-0-org', 'febrl1', 'rec-0-dup-0') ->> 'threshold')::numeric,
          round((log(2, 0.9 / 0.1) - (SELECT weight FROM concord.identity_weight WHERE (attribute, level) = ('model', 'prior')))::numeric, 2),
  'trained, the threshold is log2(p / (1 - p)) less the prior log2 odds (p = match_probability, 0.9 by default)');

-- why_matched: each trained level's m and u, and the probability
SELECT concord.why_matched('febrl1', 'rec-1-org', 'febrl1', 'rec-1-dup-0') AS w \gset
SELECT is(:'w'::jsonb -> 'attributes' -> 'birth_date' ->> 'level', 'agree', 'rec-1''s two records have one date of birth');
SELECT results_eq(format('VALUES (%s::float8, %s::float8)', :'w'::jsonb -> 'attributes' -> 'birth_date' ->> 'm',
                         :'w'::jsonb -> 'attributes' -> 'birth_date' ->> 'u'),
  $$SELECT round(m::numeric, 6)::float8, round(u::numeric, 5 - floor(log(u::numeric))::int)::float8 FROM concord.identity_weight
     WHERE (attribute, level) = ('birth_date', 'agree')$$,
  'why_matched gives the m and u of the level a trained attribute reaches');
SELECT is((:'w'::jsonb -> 'attributes' -> 'ssn') ? 'm', false, 'but none for a weight set by hand');
SELECT is((:'w'::jsonb ->> 'match_probability')::float8 >= 0.9, (:'w'::jsonb ->> 'score')::float8 >= (:'w'::jsonb ->> 'threshold')::float8,
  'the match probability reaches match_probability exactly when the score reaches the threshold');

-- trained, levels that are no further evidence count as nothing: the
-- address of the household whose landline agrees, and an employer two
-- people of the name work at (two mobiles behind it there)
RESET ROLE;
CREATE TABLE febrl.extra (id int PRIMARY KEY, name text, phone text, company text, address text);
INSERT INTO febrl.extra VALUES
  (1, '王伟', '13700000001', '华信软件有限公司', NULL), (2, '王伟', '13700000002', '华信软件有限公司', NULL),
  (3, '赵敏', '0571-88886666', NULL, '浙江省杭州市西湖区文三路1号'), (4, '赵强', '0571-88886666', NULL, '浙江省杭州市西湖区文三路1号');
GRANT SELECT ON febrl.extra TO tap_febrl;
SET ROLE tap_febrl;
SELECT concord.identity_source_create('extra', 'febrl.extra', 'id', '{"name": "name", "phone": "phone", "company": "company", "address": "address"}',
                                   track_changes => false);
SELECT count(*) FROM concord.resolve();
SELECT results_eq($$SELECT w -> 'attributes' -> 'company' ->> 'level', (w -> 'attributes' -> 'company' ->> 'weight')::float8
                      FROM concord.why_matched('extra', '1', 'extra', '2') w$$,
  $$VALUES ('agree, several people of the name there', 0::float8)$$,
  'two 王伟 at one employer with two mobiles: the employer is no evidence');
SELECT results_eq($$SELECT w -> 'attributes' -> 'address' ->> 'level', (w -> 'attributes' -> 'address' ->> 'weight')::float8
                      FROM concord.why_matched('extra', '3', 'extra', '4') w$$,
  $$VALUES ('agree, the landline''s household', 0::float8)$$,
  'the address of the household whose landline agrees is no evidence beyond the landline');

-- bad arguments
SELECT throws_ok($$SELECT * FROM concord.identity_train(random_pairs => 10)$$, '22023',
  'random_pairs must be between 1000 and 10000000, not 10', 'too few random pairs');
SELECT throws_ok($$SELECT * FROM concord.identity_train(max_pairs => 0)$$, '22023',
  'max_pairs must be between 1000 and 100000000, not 0', 'too few candidate pairs');
SELECT throws_ok($$SELECT * FROM concord.identity_train(max_block => 1)$$, '22023',
  'max_block must be between 2 and 100000, not 1', 'a block of one record');
SELECT throws_ok($$SELECT * FROM concord.identity_train(apply => NULL)$$, '22004',
  'identity_train''s arguments must not be null', 'a null argument');
RESET ROLE;
SELECT throws_ok($$UPDATE concord.identity_weight SET weight = 1 WHERE (attribute, level) = ('model', 'match_probability')$$,
  '23514', NULL, 'a match probability of 1');
UPDATE concord.identity_weight SET weight = 0.99, origin = 'manual' WHERE (attribute, level) = ('model', 'review_probability');
SELECT throws_ok($$SELECT * FROM concord.resolve()$$, '22023',
  'the review probability (0.99) is above the match probability (0.9)', 'a review probability above the match probability');
-- only concord_identity's members train
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_train_nobody') THEN CREATE ROLE tap_train_nobody; END IF;
END $$;
SET ROLE tap_train_nobody;
SELECT throws_ok($$SELECT * FROM concord.identity_train()$$, '42501', NULL, 'a role outside concord_identity may not train');
RESET ROLE;
DELETE FROM concord.identity_record;
SET ROLE tap_febrl;
SELECT throws_ok($$SELECT * FROM concord.identity_train()$$, 'P0002', 'there are 0 normalized records to train the model on',
  'nothing to train on');

SELECT * FROM finish();
ROLLBACK;
