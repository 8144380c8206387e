-- identity: declared attributes beyond the built-in kinds — a date of
-- birth (day/month swaps and year typos come close), a passport number (a
-- blocking key), a yearly spend (a number with a tolerance), a customer
-- segment (a string) — their comparisons, weights, blocking, the
-- incremental path, explanations and bad input.
BEGIN;
SELECT plan(40);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA ida;
-- sales' CRM and the membership system of marketing
CREATE TABLE ida.crm (id int PRIMARY KEY, name text, mobile text, birthday date, passport text, spend numeric, segment text);
CREATE TABLE ida.members (member_no text PRIMARY KEY, name text, born timestamptz, passport text, spend_year integer, tier text);
INSERT INTO ida.crm VALUES
  (1, '王芳', '13911112222', '1985-03-07', 'E12345678', 12000, 'VIP 客户'),
  (2, '李雷', '13922223333', '1990-11-02', NULL, 800, '普通'),
  (3, '张敏', '13933334444', '1979-05-20', NULL, 5000, '普通'),
  (4, '陈晨', NULL, '1992-01-15', NULL, NULL, NULL);
INSERT INTO ida.members VALUES
  -- 王芳 without phone, her birthday written day-first: swapped
  ('A-1', '王芳', '1985-07-03', NULL, 12050, 'ＶＩＰ客户'),
  -- no name at all: only the passport (other case) can find her crm row
  ('A-2', NULL, NULL, 'e12345678', NULL, NULL),
  -- 李雷 with a year mistyped
  ('A-3', '李雷', '1991-11-02', NULL, NULL, NULL),
  -- another 张敏: another birthday
  ('A-4', '张敏', '1968-02-11', NULL, 5000, NULL),
  -- 陈晨: name and birthday only
  ('A-5', '陈晨', '1992-01-15', NULL, NULL, NULL);

------------------------------------------------------------------------------
-- Declaring attributes
------------------------------------------------------------------------------

\set id_schema ida
\ir member.psql
SELECT is((concord.identity_attribute_create('birth_date', 'date')).compare, 'date', 'a date of birth, compared as a date');
SELECT is((concord.identity_attribute_create('passport', 'exact', block => true, agree => 12, disagree => -4)).block, true,
  'a passport number, compared exactly, a blocking key, with weights set');
SELECT is((concord.identity_attribute_create('yearly_spend', 'number', tolerance => 100)).tolerance, 100::float8,
  'a yearly spend, compared as a number with a tolerance of 100');
SELECT is((concord.identity_attribute_create('segment', 'string')).compare, 'string', 'a segment, compared as a string');
SELECT results_eq($$SELECT attribute, level, weight FROM concord.identity_weight
                     WHERE attribute IN ('birth_date', 'passport', 'yearly_spend', 'segment') ORDER BY 1, 3 DESC, 2$$,
  $$VALUES ('birth_date', 'agree', 6::float8), ('birth_date', 'close', 3), ('birth_date', 'one_field_off', 3),
           ('birth_date', 'disagree', -3),
           ('passport', 'agree', 12), ('passport', 'close', 6), ('passport', 'disagree', -4),
           ('segment', 'agree', 3), ('segment', 'close', 1.5), ('segment', 'disagree', -1),
           ('yearly_spend', 'agree', 3), ('yearly_spend', 'close', 1.5), ('yearly_spend', 'disagree', -1)$$,
  'their weights are in the model table, defaults where none were given (a date one field off: as close)');

SELECT throws_ok($$SELECT concord.identity_attribute_create('phone', 'exact')$$, '22023', '"phone" is a built-in attribute kind',
  'a built-in kind cannot be declared');
SELECT throws_ok($$SELECT concord.identity_attribute_create('Birth Date', 'date')$$, '22023', 'invalid attribute name "Birth Date"',
  'a name that is not an identifier');
SELECT throws_ok($$SELECT concord.identity_attribute_create('dob', 'fuzzy')$$, '22023', 'unknown comparison "fuzzy" for attribute "dob"',
  'an unknown comparison');
SELECT throws_ok($$SELECT concord.identity_attribute_create('income', 'number')$$, '22023',
  'attribute "income" compared as a number needs a tolerance of 0 or more, not null', 'a number without a tolerance');
SELECT throws_ok($$SELECT concord.identity_attribute_create('income', 'number', tolerance => -1)$$, '22023',
  'attribute "income" compared as a number needs a tolerance of 0 or more, not -1', 'a negative tolerance');
SELECT throws_ok($$SELECT concord.identity_attribute_create('dob', 'date', tolerance => 3)$$, '22023',
  'a tolerance is for attributes compared as numbers, not as date', 'a tolerance for a date');
SELECT throws_ok($$SELECT concord.identity_attribute_create('spend', 'number', tolerance => 5, block => true)$$, '22023',
  'only an attribute compared exactly or as a date can be a blocking key, not one compared as number', 'blocking on a number');
SELECT throws_ok($$SELECT concord.identity_attribute_create('ssn', 'exact', close => 2)$$, '22023',
  'an attribute compared exactly has no "close" level unless it is a blocking key', 'a close weight for an exact comparison');
SELECT throws_ok($$SELECT concord.identity_attribute_create('ssn', 'exact', agree => -2, disagree => 3)$$, '22023',
  'weights of attribute "ssn" must order agree (-2) >= close (-) >= disagree (3)', 'weights in the wrong order');
SELECT throws_ok($$SELECT concord.identity_attribute_create('ssn', 'exact', agree => 1000)$$, '22023',
  'weights of attribute "ssn" must be between -30 and 30 (log2 of a likelihood ratio)', 'an absurd weight');
SELECT throws_ok($$SELECT concord.identity_attribute_create('segment', 'exact')$$, '42710', 'attribute "segment" already exists',
  'an attribute declared twice');

------------------------------------------------------------------------------
-- Sources map columns to them
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.identity_source_create('bad', 'ida.crm', 'id', '{"name": "name", "birth_date": "segment"}')$$,
  '42804', 'column "segment" (birth_date, compared as a date) of identity source "bad" must be a date or timestamp, not text',
  'a text column for a date');
SELECT throws_ok($$SELECT concord.identity_source_create('bad', 'ida.crm', 'id', '{"name": "name", "yearly_spend": "segment"}')$$,
  '42804', 'column "segment" (yearly_spend, compared as a number) of identity source "bad" must be numeric, not text',
  'a text column for a number');
SELECT throws_ok($$SELECT concord.identity_source_create('bad', 'ida.crm', 'id', '{"name": "name", "shoe_size": "spend"}')$$,
  '22023', 'unknown attribute kind "shoe_size" for identity source "bad"', 'an attribute nobody declared');
SELECT throws_ok($$SELECT concord.identity_source_create('bad', 'ida.crm', 'id', '{"name": "name", "passport": {"col": "passport"}}')$$,
  '22023', 'attribute "passport" of identity source "bad" must name a column, not {"col": "passport"}', 'a mapping that is not a column name');

SELECT isnt(concord.identity_source_create('crm', 'ida.crm', 'id',
  '{"name": "name", "phone": "mobile", "birth_date": "birthday", "passport": "passport", "yearly_spend": "spend", "segment": "segment"}', 10),
  NULL, 'sales'' CRM with all four');
SELECT isnt(concord.identity_source_create('members', 'ida.members', 'member_no',
  '{"name": "name", "birth_date": "born", "passport": "passport", "yearly_spend": "spend_year", "segment": "tier"}', 20),
  NULL, 'marketing''s members with all four (a timestamp for the date, an integer for the number)');

SELECT results_eq($$SELECT * FROM concord.resolve()$$, $$VALUES (9::bigint, 5::bigint, 5::bigint, 5::bigint, 0::bigint, 0::bigint)$$,
  'resolve: 9 rows, 5 pairs compared, 5 customers');
SELECT results_eq($$SELECT r.extra FROM concord.identity_record r WHERE (r.source, r.key) IN (('crm', '1'), ('members', 'A-1'))
                     ORDER BY r.source$$,
  $$VALUES ('{"passport": "e12345678", "segment": "vip 客户", "birth_date": "1985-03-07", "yearly_spend": "12000"}'::jsonb),
           ('{"segment": "vip客户", "birth_date": "1985-07-03", "yearly_spend": "12050"}'::jsonb)$$,
  'the values are kept in the form their comparison reads');

------------------------------------------------------------------------------
-- Comparisons
------------------------------------------------------------------------------

SELECT results_eq($$SELECT j->'attributes'->'birth_date'->>'level', (j->'attributes'->'birth_date'->>'weight')::numeric,
                           j->'attributes'->'yearly_spend'->>'level', j->'attributes'->'segment'->>'level', (j->>'match')::boolean
                      FROM concord.why_matched('crm', '1', 'members', 'A-1') j$$,
  $$VALUES ('close, day and month swapped', 3.00, 'close, within tolerance', 'close', true)$$,
  '王芳: the swapped birthday, a spend 50 apart and the segment written another way all come close');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('crm', '1'), ('members', 'A-1'), ('members', 'A-2'))), 1,
  '王芳 is one customer from three rows');
SELECT results_eq($$SELECT j->'attributes'->'passport'->>'level', (j->>'score')::numeric, (j->>'match')::boolean
                      FROM concord.why_matched('crm', '1', 'members', 'A-2') j$$,
  $$VALUES ('agree', 12.00, true)$$,
  'the nameless member joins her by the passport number alone (case folded): its block found the pair');
SELECT is((SELECT how FROM concord.customer_link WHERE (source, key) = ('members', 'A-2')), 'score', 'linked by score');
SELECT results_eq($$SELECT j->'attributes'->'birth_date'->>'level', (j->>'score')::numeric, (j->>'match')::boolean
                      FROM concord.why_matched('crm', '2', 'members', 'A-3') j$$,
  $$VALUES ('close, year mistyped', 8.00, true)$$,
  '李雷: a year mistyped comes close (5 + 3)');
UPDATE ida.members SET spend_year = 2000 WHERE member_no = 'A-3';
SELECT results_eq($$SELECT customers, split FROM concord.resolve_incremental()$$, $$VALUES (6::bigint, 1::bigint)$$,
  'an incremental resolve picks the change up: 李雷''s rows part');
SELECT results_eq($$SELECT j->'attributes'->'yearly_spend'->>'level', (j->>'score')::numeric, (j->>'match')::boolean
                      FROM concord.why_matched('crm', '2', 'members', 'A-3') j$$,
  $$VALUES ('disagree', 7.00, false)$$,
  'and once his membership shows a spend 1,200 apart from sales'' figure, not any more (5 + 3 - 1)');
SELECT results_eq($$SELECT j->'attributes'->'birth_date'->>'level', j->'attributes'->'yearly_spend'->>'level',
                           (j->>'score')::numeric, (j->>'match')::boolean
                      FROM concord.why_matched('crm', '3', 'members', 'A-4') j$$,
  $$VALUES ('disagree', 'agree', 5.00, false)$$,
  'two 张敏 born on other days stay apart, though they spend alike (5 + 3 - 3)');
SELECT results_eq($$SELECT j->'attributes'->'birth_date'->>'level', (j->>'score')::numeric, (j->>'match')::boolean
                      FROM concord.why_matched('crm', '4', 'members', 'A-5') j$$,
  $$VALUES ('agree', 11.00, true)$$,
  '陈晨: a name and a date of birth are enough (5 + 6)');

------------------------------------------------------------------------------
-- The incremental path, estimation, dropping
------------------------------------------------------------------------------

-- a new member with only the passport number of 李雷 (given him now)
UPDATE ida.crm SET passport = 'G7654321' WHERE id = 2;
INSERT INTO ida.members VALUES ('A-6', NULL, NULL, 'G7654321', NULL, NULL);
SELECT results_eq($$SELECT records FROM concord.resolve_incremental()$$, $$VALUES (3::bigint)$$,
  'incremental: the two changed rows and the other 李雷 row (same name) are in scope');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('crm', '2'), ('members', 'A-6'))), 1,
  'the new member joins 李雷 by the passport block');
SELECT results_eq($$SELECT new_ids, merged, split FROM concord.resolve()$$, $$VALUES (0::bigint, 0::bigint, 0::bigint)$$,
  'a full resolve afterwards changes nothing: incremental equals full');
SELECT is((SELECT count(*)::int FROM concord.identity_estimate_weights(1000) WHERE attribute = 'birth_date'), 4,
  'identity_estimate_weights proposes the declared attributes'' weights too (a date''s four levels)');

SELECT throws_ok($$SELECT concord.identity_attribute_drop('passport')$$, '2BP01',
  'attribute "passport" is used by identity sources crm, members', 'an attribute in use cannot be dropped');
SELECT is(concord.identity_source_drop('members') AND concord.identity_source_drop('crm') AND concord.identity_attribute_drop('passport'),
  true, 'once its sources are gone it can');
SELECT is((SELECT count(*)::int FROM concord.identity_weight WHERE attribute = 'passport'), 0, 'its weights go with it');

SELECT * FROM finish();
ROLLBACK;
