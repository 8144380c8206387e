-- identity: blocking rules as data (concord.identity_blocking_rule) --
-- the shipped rules, a declared attribute's, a conjunction of keys, a rule
-- of one source, incremental runs under them, their reach on labelled
-- data (identity_blocking_reach), and bad input; as a member of
-- concord_identity, as docs/identity.md has the people who manage identity.
BEGIN;
SELECT plan(44);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_br_outsider;
CREATE SCHEMA ibr;
-- two sources: rows that share an address and a date of birth, or only an
-- address, and nothing the shipped rules block on
CREATE TABLE ibr.crm (id int PRIMARY KEY, name text, phone text, address text, born date);
CREATE TABLE ibr.shop (id int PRIMARY KEY, name text, phone text, address text, born date);
INSERT INTO ibr.crm VALUES
  (1, 'John Smith', NULL, '12 High Street Springfield', '1980-01-02'),
  (2, 'Jon Smyth', NULL, '12 High Street Springfield', '1980-01-02'),
  (3, 'Mary Jones', NULL, '5 Elm Road Shelbyville', '1975-03-04'),
  (4, 'Peter Brown', NULL, '5 Elm Road Shelbyville', '1990-05-06'),
  (5, 'Anna Lee', '+8613800000001', NULL, NULL),
  (6, 'Anna Lee', '+8613800000001', NULL, NULL);
INSERT INTO ibr.shop VALUES
  (1, 'Mary Jonas', NULL, '5 Elm Road Shelbyville', '1975-03-04'),
  (2, 'Carl White', NULL, '9 Oak Lane Capital City', '1960-07-08'),
  (3, 'Carla White', NULL, '9 Oak Lane Capital City', '1961-07-08');
CREATE TABLE ibr.truth (source text, key text, entity int);
INSERT INTO ibr.truth VALUES ('crm', '1', 1), ('crm', '2', 1), ('crm', '3', 3), ('crm', '4', 4), ('crm', '5', 5),
  ('crm', '6', 5), ('shop', '1', 3), ('shop', '2', 7), ('shop', '3', 8);
GRANT SELECT ON ibr.truth TO concord_identity;
\set id_schema ibr
\ir member.psql

SELECT results_eq($$SELECT name, keys, source, origin FROM concord.identity_blocking_rule ORDER BY name$$,
  $$VALUES ('email', '{email}'::text[], NULL::text, 'default'), ('id_number', '{id_number}', NULL, 'default'),
           ('name', '{name}', NULL, 'default'), ('name_company', '{name,company}', NULL, 'default'),
           ('phone', '{phone}', NULL, 'default')$$,
  'the shipped rules: an ID number, a phone, an email, a name key, a name and an employer together');
SELECT concord.identity_attribute_create('birth_date', 'date') IS NOT NULL AS made \gset
SELECT concord.identity_attribute_create('passport', 'exact', block => true) IS NOT NULL AS made \gset
SELECT results_eq($$SELECT keys, origin FROM concord.identity_blocking_rule WHERE name = 'passport'$$,
  $$VALUES ('{passport}'::text[], 'attribute')$$,
  'a declared attribute with block => true makes a rule of its own name');
SELECT is((SELECT count(*)::int FROM concord.identity_blocking_rule WHERE name = 'birth_date'), 0,
  'one that does not block makes none');
SELECT concord.identity_source_create('crm', 'ibr.crm', 'id',
  '{"name": "name", "phone": "phone", "address": "address", "birth_date": "born"}') IS NOT NULL AS made \gset
SELECT concord.identity_source_create('shop', 'ibr.shop', 'id',
  '{"name": "name", "phone": "phone", "address": "address", "birth_date": "born"}') IS NOT NULL AS made \gset

-- the shipped rules: only crm 5 and 6 (a phone, a name) are compared
SELECT results_eq($$SELECT records, pairs FROM concord.resolve()$$, $$VALUES (9::bigint, 1::bigint)$$,
  'with the shipped rules one pair is compared: the two rows sharing a phone and a name');
SELECT results_eq($$SELECT rule, true_pairs, reached, pairs FROM concord.identity_blocking_reach('ibr.truth')
                    WHERE rule IN ('phone', 'name', 'every rule') ORDER BY rule$$,
  $$VALUES ('every rule', 3::bigint, 1::bigint, 1::bigint), ('name', 3, 1, 1), ('phone', 3, 1, 1)$$,
  'identity_blocking_reach: 3 true pairs, the phone and the name reach one (crm 5 and 6), one pair in all');

-- a conjunction: the same address and date of birth
SELECT results_eq($$SELECT name, keys, source, origin FROM concord.identity_blocking_rule_create('address_born', ARRAY['address', 'birth_date'])$$,
  $$VALUES ('address_born', '{address,birth_date}'::text[], NULL::text, 'manual')$$,
  'identity_blocking_rule_create returns the rule, origin manual');
SELECT results_eq($$SELECT records, pairs FROM concord.resolve()$$, $$VALUES (9::bigint, 3::bigint)$$,
  'with a rule of address and date of birth, crm 1 and 2 and crm 3 and shop 1 are compared too (crm 4, same address, other date: not)');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE source = 'crm' AND key IN ('1', '2')), 1,
  'John Smith and Jon Smyth, same address and date of birth: one customer');
SELECT results_eq($$SELECT rule, reached, pairs FROM concord.identity_blocking_reach('ibr.truth')
                    WHERE rule IN ('address_born', 'every rule') ORDER BY rule$$,
  $$VALUES ('address_born', 2::bigint, 2::bigint), ('every rule', 3, 3)$$,
  'its reach: both remaining true pairs, at the cost of 2 pairs; every rule together: all 3, the 3 pairs resolve compared');
SELECT is((SELECT pairs FROM concord.identity_blocking_reach('ibr.truth') WHERE rule = 'every rule'),
          (SELECT pairs FROM concord.resolve()),
  'every rule together costs what resolve compares');

-- a rule of one source: the address, for the shop's rows
SELECT concord.identity_blocking_rule_create('shop_address', ARRAY['address'], source => 'shop') IS NOT NULL AS made \gset
SELECT results_eq($$SELECT records, pairs FROM concord.resolve()$$, $$VALUES (9::bigint, 5::bigint)$$,
  'a rule of the shop''s address adds crm 4 with shop 1 and shop 2 with shop 3 (crm 3 and shop 1 were compared already), not crm 3 with crm 4');
SELECT results_eq($$SELECT rule, source, reached, pairs FROM concord.identity_blocking_reach('ibr.truth')
                    WHERE rule = 'shop_address'$$,
  $$VALUES ('shop_address', 'shop', 1::bigint, 3::bigint)$$,
  'its reach: the one true pair with a shop row at that address, 3 pairs (crm 3 and crm 4 are not of the shop)');
-- training is fitted on the pairs resolve compares, rule by rule
-- (identity_train_fit is internal to identity_train: read as a superuser)
RESET ROLE;
SELECT is((SELECT pairs::bigint FROM concord.identity_train_fit(1000, 1000, 200) WHERE attribute = 'model' AND level = 'candidates'),
  5::bigint, 'training''s candidate pairs are resolve''s 5 (the shop''s address rule does not bring crm 3 and crm 4 together)');
SET LOCAL ROLE tap_id_member;

-- dropped: the shipped phone rule; crm 5 and 6 still share a name
SELECT ok(concord.identity_blocking_rule_drop('phone'), 'identity_blocking_rule_drop of a shipped rule');
SELECT ok(NOT concord.identity_blocking_rule_drop('phone'), 'dropping it again: false');
SELECT results_eq($$SELECT pairs FROM concord.resolve()$$, $$VALUES (5::bigint)$$,
  'without the phone rule the pair sharing a phone and a name is compared once, by its name');
SELECT ok(concord.identity_blocking_rule_drop('name'), 'and the name rule');
SELECT results_eq($$SELECT pairs FROM concord.resolve()$$, $$VALUES (4::bigint)$$,
  'without either, crm 5 and 6 are never compared');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE source = 'crm' AND key IN ('5', '6')), 2,
  'and stay two customers');
SELECT concord.identity_blocking_rule_create('phone', ARRAY['phone']) IS NOT NULL AS made \gset
SELECT concord.identity_blocking_rule_create('name', ARRAY['name']) IS NOT NULL AS made \gset
-- (a change of rules takes effect at the next full resolve)
SELECT results_eq($$SELECT pairs FROM concord.resolve()$$, $$VALUES (5::bigint)$$,
  'the phone and name rules made again: the same 5 pairs as before');

-- incremental runs follow the rules: a new row sharing only an address and
-- a date of birth with crm 1
INSERT INTO ibr.crm VALUES (7, 'J. Smith', NULL, '12 High Street Springfield', '1980-01-02');
SELECT results_eq($$SELECT records, pairs FROM concord.resolve_incremental()$$, $$VALUES (3::bigint, 2::bigint)$$,
  'resolve_incremental compares the new row with crm 1 and 2 (3 rows: it joins their customer), found by the rule of address and date of birth');
\ir same_as_full.psql

-- bad input
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY[]::text[])$$, '22023',
  'blocking rule "r1" has no keys', 'no keys: 22023, the rule named');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY['phone', 'postcode'])$$, '22023',
  'unknown key "postcode" in blocking rule "r1"', 'an unknown key: 22023, the key and the rule named');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY['phone', 'phone'])$$, '22023',
  'blocking rule "r1" names a key twice: phone, phone', 'a key twice');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY['name', 'phone', 'email', 'address', 'company'])$$, '54000',
  'blocking rule "r1" has 5 keys, at most 4 are supported', 'five keys');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('address_born', ARRAY['address'])$$, '42710',
  'blocking rule "address_born" already exists', 'a name taken: 42710');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY['birth_date', 'address'])$$, '42710',
  'blocking rule "r1" would block on the same keys as rule "address_born": birth_date, address', 'the same keys as another rule');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r1', ARRAY['address'], source => 'erp')$$, '42704',
  'identity source "erp" of blocking rule "r1" does not exist', 'an unknown source: 42704');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('R 1', ARRAY['address'])$$, '22023',
  'invalid blocking rule name "R 1"', 'a bad name');
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create(NULL, ARRAY['address'])$$, '22004',
  'name and keys must not be null', 'a null name');
SELECT throws_ok($$SELECT concord.identity_attribute_drop('birth_date')$$, '2BP01',
  NULL, 'a declared attribute a rule uses cannot be dropped');
SELECT throws_ok($$SELECT * FROM concord.identity_blocking_reach('ibr.crm')$$, '42703',
  'labels ibr.crm have no column "source"', 'labels without (source, key, entity): 42703');
SELECT throws_ok($$SELECT concord.identity_attribute_create('address_born', 'exact', block => true)$$, '42710',
  'blocking rule "address_born" already exists', 'an attribute that blocks cannot take a rule''s name');
-- a source dropped takes its rules
SELECT ok(concord.identity_source_drop('shop'), 'the shop dropped');
SELECT is((SELECT count(*)::int FROM concord.identity_blocking_rule WHERE name = 'shop_address'), 0,
  'and its rule with it');
-- an attribute's own rule goes with it
SELECT ok(concord.identity_blocking_rule_drop('address_born'), 'the conjunction dropped');
SELECT is((SELECT count(*)::int FROM concord.identity_blocking_rule WHERE name = 'passport'), 1, 'passport''s rule is there');
SELECT ok(concord.identity_attribute_drop('passport'), 'passport dropped');
SELECT is((SELECT count(*)::int FROM concord.identity_blocking_rule WHERE name = 'passport'), 0, 'and its rule with it');

-- not for roles outside concord_identity
RESET ROLE;
SET LOCAL ROLE tap_br_outsider;
SELECT throws_ok($$SELECT concord.identity_blocking_rule_create('r2', ARRAY['address'])$$, '42501', NULL,
  'a role outside concord_identity may not create a rule');
SELECT throws_ok($$SELECT count(*) FROM concord.identity_blocking_rule$$, '42501', NULL, 'nor read the rules');

SELECT * FROM finish();
ROLLBACK;
