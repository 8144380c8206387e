-- identity: resolving four departments' records into customers — the
-- clusters against the truth, stable IDs across runs, merges and splits
-- with their history, the golden record, explanations, bad input.
BEGIN;
SELECT plan(66);
SET LOCAL client_min_messages = warning;
\ir people.psql

------------------------------------------------------------------------------
-- The first resolve
------------------------------------------------------------------------------

SELECT results_eq($$SELECT records, customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (21::bigint, 13::bigint, 13::bigint, 0::bigint, 0::bigint)$$,
  'first resolve: 21 rows of four sources, 13 customers, all new');
SELECT results_eq($$SELECT * FROM pg_temp.found_people()$$,
  $$SELECT DISTINCT person FROM idt.truth ORDER BY 1$$,
  'every customer is one person of the truth, every person one customer');

-- pairwise precision and recall against the truth
CREATE TEMP TABLE pairs AS
SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb,
       ta.person = tb.person AS same_person, a.customer_id = b.customer_id AS same_customer
FROM concord.customer_link a JOIN concord.customer_link b ON (a.source, a.key) < (b.source, b.key)
JOIN idt.truth ta ON (ta.source, ta.key) = (a.source, a.key)
JOIN idt.truth tb ON (tb.source, tb.key) = (b.source, b.key);
SELECT is((SELECT count(*) FILTER (WHERE same_person AND same_customer)::float8 / nullif(count(*) FILTER (WHERE same_customer), 0) FROM pairs),
  1.0::float8, 'pairwise precision 1.0');
SELECT is((SELECT count(*) FILTER (WHERE same_person AND same_customer)::float8 / nullif(count(*) FILTER (WHERE same_person), 0) FROM pairs),
  1.0::float8, 'pairwise recall 1.0');

-- the hard cases, one by one
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('crm', '1'), ('billing', 'B-001'), ('service', '101'), ('marketing', 'M-1'))), 1,
  '张三 / 張三 / Zhang San / San Zhang with three phone formats: one customer');
SELECT is((SELECT how FROM concord.customer_link WHERE (source, key) = ('service', '102')), 'rule: same ID number',
  'Li Si on a ticket joins 李四 by the ID number (different phone, other script)');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('crm', '3'), ('crm', '4'))), 2, 'two different 王伟 stay two');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('billing', 'B-005'), ('billing', 'B-006'), ('billing', 'B-007'), ('billing', 'B-008'))), 4,
  'four people behind one company switchboard stay four');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('marketing', 'M-2'), ('marketing', 'M-3'), ('marketing', 'M-4'))), 3,
  'three people with the placeholder test@test.com stay three');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('billing', 'B-009'), ('billing', 'B-010'))), 2, '赵敏 and 赵强 at one home phone and address stay two');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN
           (('crm', '5'), ('billing', 'B-005'))), 1,
  '陈静 with her mobile and with the switchboard: one customer, by her name and a small employer');
SELECT results_eq($$SELECT (j->>'score')::numeric, j->'attributes'->'phone'->>'level', (j->'attributes'->'company'->>'weight')::numeric,
                           (j->>'match')::boolean
                      FROM concord.why_matched('crm', '5', 'billing', 'B-005') j$$,
  $$VALUES (13.00, 'disagree, shared value', 9.00, true)$$,
  'the shared switchboard does not count against her; her name (4 = 5 - log2 of 2 phones) and her employer do, together as if both were unique (5 + 8): one mobile is behind 陈静 at 上海某某科技');

------------------------------------------------------------------------------
-- Explanations
------------------------------------------------------------------------------

SELECT is(concord.why_matched('billing', 'B-009', 'billing', 'B-010') -> 'attributes' -> 'name' ->> 'level', 'partial',
  'why_matched: the family''s names are one syllable apart');
SELECT results_eq($$SELECT (j->>'match')::boolean, (j->>'score')::numeric, j->'attributes'->'phone'->>'level'
                      FROM concord.why_matched('billing', 'B-009', 'billing', 'B-010') j$$,
  $$VALUES (false, 6.50, 'agree, landline')$$,
  'why_matched: a home landline two names share counts little (4 - log2 2), the total (with the address) stays under the threshold');
SELECT is(concord.why_matched('crm', '2', 'service', '102') ->> 'rule', 'rule: same ID number', 'why_matched names the rule');
SELECT throws_ok($$SELECT concord.why_matched('crm', '999', 'crm', '1')$$, 'P0002',
  'no record "999" of identity source "crm"', 'why_matched of an unknown row');

------------------------------------------------------------------------------
-- The review queue
------------------------------------------------------------------------------

SELECT results_eq($$SELECT source_a, key_a, source_b, key_b, score, row_a->>'name', row_b->>'name' FROM concord.customer_review$$,
  $$VALUES ('billing', 'B-009', 'billing', 'B-010', 6.5::float8, '赵敏', '赵强')$$,
  'customer_review: the one pair between the review threshold (4) and the match threshold (8), with the rows as written');
SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-009')) AS zm0 \gset
SELECT is(concord.identity_review_decide('billing', 'B-009', 'billing', 'B-010', false, 'siblings, confirmed by phone'),
  :zm0::bigint, 'identity_review_decide: not the same person; returns the first row''s customer, unchanged');
SELECT is((SELECT count(*)::int FROM concord.customer_review), 0, 'the pair leaves the queue');
SELECT results_eq($$SELECT kind, reason FROM concord.identity_constraint$$,
  $$VALUES ('cannot_link', 'siblings, confirmed by phone')$$, 'the decision is on record as a cannot-link');
SELECT results_eq($$SELECT customers FROM concord.resolve()$$, $$VALUES (13::bigint)$$, 'a full resolve');
SELECT is((SELECT count(*)::int FROM concord.customer_review), 0, 'does not ask about a decided pair again');
-- the same two rows decided twice: the later decision stands
SELECT concord.identity_review_decide('crm', '3', 'crm', '4', true, 'test: one person') AS d1 \gset
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN (('crm', '3'), ('crm', '4'))),
  1, 'deciding two rows are one merges them');
SELECT is(:d1::bigint, (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '3')),
  'and returns the first row''s customer');
SELECT concord.identity_review_decide('crm', '4', 'crm', '3', false, 'test: two people after all') AS d2 \gset
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN (('crm', '3'), ('crm', '4'))),
  2, 'deciding again parts them');
SELECT is((SELECT count(*)::int FROM concord.identity_constraint WHERE key_a IN ('3', '4')), 1, 'only the later decision is kept');
-- (clearing the decisions is the test's, as a superuser: nobody else writes identity's tables)
RESET ROLE;
DELETE FROM concord.identity_constraint;
SET LOCAL ROLE tap_idt_user;
SELECT throws_ok($$SELECT concord.identity_review_decide('crm', '3', 'crm', '4', true, '')$$, '22004',
  'identity_review_decide needs two rows (source and key each), a decision and a reason', 'a decision without a reason');
SELECT throws_ok($$SELECT concord.identity_review_decide('crm', '3', 'crm', '3', true, 'x')$$, '22023',
  'row "3" of identity source "crm" cannot be compared with itself', 'a row with itself');
SELECT throws_ok($$SELECT concord.identity_review_decide('crm', '3', 'crm', '99', true, 'x')$$, 'P0002',
  'no row "99" of identity source "crm" is linked to a customer', 'an unknown row');
SELECT results_eq($$SELECT customers FROM concord.resolve()$$, $$VALUES (13::bigint)$$, 'back to the start');

------------------------------------------------------------------------------
-- Golden record
------------------------------------------------------------------------------

SELECT results_eq(
  $$SELECT c.name, c.phone, c.email, c.company, c.address, c.records, c.chosen_from->>'name'
      FROM concord.customer c JOIN concord.customer_link l USING (customer_id) WHERE (l.source, l.key) = ('crm', '1')$$,
  $$VALUES ('張三', '+8613812345678', 'zhang.san@example.com', '某某科技(上海)', '上海市浦东新区张江路123号', 4, 'billing:B-001')$$,
  'golden record: the most recent non-null value of each attribute, and where it came from');
SELECT is((SELECT rows_by_source FROM concord.customer_360 c JOIN concord.customer_link l USING (customer_id)
            WHERE (l.source, l.key) = ('crm', '1')),
  '{"crm": 1, "billing": 1, "service": 1, "marketing": 1}'::jsonb, 'customer_360: rows per source');

------------------------------------------------------------------------------
-- Stable IDs
------------------------------------------------------------------------------

CREATE TEMP TABLE ids1 AS SELECT source, key, customer_id FROM concord.customer_link;
SELECT results_eq($$SELECT records, customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (21::bigint, 13::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'a rerun on unchanged data');
SELECT is((SELECT count(*)::int FROM ids1 JOIN concord.customer_link l USING (source, key) WHERE l.customer_id <> ids1.customer_id), 0,
  'changes no customer ID');

-- a bridge appears: the second 王伟's marketing lead now also carries the first's phone and email
SELECT (SELECT customer_id FROM ids1 WHERE (source, key) = ('crm', '3')) AS w1,
       (SELECT customer_id FROM ids1 WHERE (source, key) = ('crm', '4')) AS w2 \gset
UPDATE idt.crm_customer SET mobile = '13700000002', email = 'wangwei2@example.com', company = '深圳丙丁物流有限公司' WHERE id = 3;
SELECT results_eq($$SELECT customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (12::bigint, 0::bigint, 1::bigint, 0::bigint)$$, 'when two customers turn out to be one: a merge');
SELECT is((SELECT DISTINCT customer_id FROM concord.customer_link WHERE (source, key) IN (('crm', '3'), ('crm', '4'))),
  least(:w1, :w2)::bigint, 'the surviving ID is the older (smaller) one');
SELECT is(concord.customer_id_now(greatest(:w1, :w2)), least(:w1, :w2)::bigint,
  'customer_id_now: where the merged ID went');
SELECT is((SELECT event || ' ' || other_id FROM concord.customer_id_history WHERE customer_id = greatest(:w1, :w2) AND event = 'merged'),
  'merged ' || least(:w1, :w2), 'the merge is in the ID history');

-- the bridge goes again: the larger part keeps the ID
UPDATE idt.crm_customer SET mobile = '13700000001', email = 'wangwei1@example.com', company = '杭州甲乙贸易有限公司' WHERE id = 3;
SELECT results_eq($$SELECT customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (13::bigint, 1::bigint, 0::bigint, 1::bigint)$$, 'when one customer turns out to be two: a split');
SELECT is((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '4')), least(:w1, :w2)::bigint,
  'the larger part (crm 4 and marketing M-5) keeps the ID');
SELECT is((SELECT h.event || ' ' || h.other_id FROM concord.customer_id_history h JOIN concord.customer_link l USING (customer_id)
            WHERE (l.source, l.key) = ('crm', '3') AND h.event <> 'created'),
  'split ' || least(:w1, :w2), 'the smaller part has a new ID, split from it');

------------------------------------------------------------------------------
-- Manual merges and splits, kept across resolves
------------------------------------------------------------------------------

-- a reviewer knows: 赵敏 and 赵强 are one person after all (a renamed account)
SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-009')) AS zm,
       (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-010')) AS zq \gset
SELECT is(concord.customer_merge(:zm, :zq, 'same person, account renamed (ticket #4711)'), least(:zm, :zq)::bigint,
  'customer_merge returns the surviving (older) ID');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('billing', 'B-009'), ('billing', 'B-010'), ('service', '109'))), 1,
  'the three rows are one customer');
SELECT is((SELECT how FROM concord.customer_link WHERE (source, key) = ('billing', 'B-010')), 'manual merge',
  'linked by the manual merge');
SELECT results_eq($$SELECT customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (12::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'the merge holds in the next resolve');
SELECT is((SELECT reason || ' / ' || created_by FROM concord.identity_constraint WHERE kind = 'must_link'),
  'same person, account renamed (ticket #4711) / ' || current_user, 'and is on record with its reason and author');

-- and 张三's marketing lead is someone else (a colleague who used his email)
SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '1')) AS zs \gset
SELECT isnt(concord.customer_split('marketing', 'M-1', 'a colleague''s sign-up with his email'), :zs::bigint,
  'customer_split gives the row a customer of its own');
SELECT is((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '1')), :zs::bigint,
  'the larger part keeps the ID');
SELECT results_eq($$SELECT customers, new_ids, merged, split FROM concord.resolve()$$,
  $$VALUES (13::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'the split holds in the next resolve');
SELECT throws_ok($$SELECT concord.customer_split('marketing', 'M-1', 'again')$$, '22023',
  'row "M-1" of identity source "marketing" is the only row of customer ' ||
  (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('marketing', 'M-1')),
  'splitting a row that is alone');
SELECT throws_ok($$SELECT concord.customer_merge(1, 1, 'x')$$, '22023', 'cannot merge customer 1 with itself', 'merging a customer with itself');
SELECT throws_ok($$SELECT concord.customer_merge(-5, 1, 'x')$$, 'P0002', 'customer -5 does not exist', 'merging an unknown customer');
SELECT throws_ok($$SELECT concord.customer_merge(1, 2, ' ')$$, '22004', 'customer_merge needs two customer IDs and a reason', 'a merge without a reason');

------------------------------------------------------------------------------
-- Bad input
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.identity_source_create('crm', 'idt.crm_customer', 'id', '{"name": "name"}')$$,
  '42710', 'identity source "crm" already exists', 'a source registered twice');
SELECT throws_ok($$SELECT concord.identity_source_create('x', 'idt.crm_customer', 'nope', '{"name": "name"}')$$,
  '42703', 'key column "nope" of identity source "x" does not exist in table idt.crm_customer', 'an unknown key column');
SELECT throws_ok($$SELECT concord.identity_source_create('x', 'idt.crm_customer', 'id', '{"name": "nom"}')$$,
  '42703', 'column "nom" (name) of identity source "x" does not exist in table idt.crm_customer', 'an unknown column');
SELECT throws_ok($$SELECT concord.identity_source_create('x', 'idt.crm_customer', 'id', '{"name": null}')$$,
  '22023', 'attribute "name" of identity source "x" must name a column, not null', 'an attribute mapped to null');
SELECT throws_ok($$SELECT concord.identity_source_create('x', 'idt.crm_customer', 'id', '{"company": "company"}')$$,
  '22023', 'identity source "x" needs at least one of name, phone, email, id_number', 'attributes that cannot tell people apart');

-- a registered table that is dropped later
CREATE TABLE idt.gone (id int PRIMARY KEY, name text);
SELECT concord.identity_source_create('gone', 'idt.gone', 'id', '{"name": "name"}') IS NOT NULL AS added \gset
DROP TABLE idt.gone;
SELECT throws_ok($$SELECT * FROM concord.resolve()$$, '42P01', 'the table of identity source "gone" no longer exists',
  'a source whose table was dropped: a clear error, nothing changed');
SELECT is(concord.identity_source_drop('gone'), true, 'identity_source_drop removes it');
SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'and resolve works again');

-- bad arguments: clear errors; unknown names are not errors to drop
SELECT throws_ok($$SELECT * FROM concord.resolve(max_block => 1)$$, '22023',
  'max_block must be between 2 and 100000, not 1', 'resolve: a max_block too small');
SELECT throws_ok($$SELECT * FROM concord.resolve(max_block => NULL)$$, '22023',
  'max_block must be between 2 and 100000, not <NULL>', 'resolve: a NULL max_block');
SELECT throws_ok($$SELECT * FROM concord.resolve_incremental(max_block => 100001)$$, '22023',
  'max_block must be between 2 and 100000, not 100001', 'resolve_incremental: a max_block too large');
SELECT is(concord.identity_source_drop('no_such_source'), false, 'identity_source_drop of an unknown source: false');
SELECT is(concord.identity_event_drop('no_such_event'), false, 'identity_event_drop of an unknown event: false');

SELECT * FROM finish();
ROLLBACK;
