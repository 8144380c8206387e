-- identity: a name and an employer together.  陈静 at 上海某某科技 is known
-- to sales by her mobile and to billing by the company switchboard; her
-- name is shared, her employer has several people, but she is the only
-- 陈静 there, so the two together weigh as if both were unique.  Once a
-- second 陈静 joins the company, they no longer do.  And the switchboard
-- two colleagues share says nothing about their being one person.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;
\ir people.psql

SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'resolve');
SELECT results_eq(
  $$SELECT j #>> '{attributes,company,level}', (j #>> '{attributes,company,weight}')::numeric,
           (j #>> '{attributes,name,weight}')::numeric, (j ->> 'score')::numeric
      FROM concord.why_matched('crm', '5', 'billing', 'B-005') j$$,
  $$VALUES ('agree, one person of the name there', 9.00, 4.00, 13.00)$$,
  'one mobile behind 陈静 at 上海某某科技: name and employer weigh 5 + 8, the company carrying the difference');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('crm', '5'), ('billing', 'B-005'))), 1, 'her two rows are one customer');

-- two colleagues billed through the office number: a number shared under
-- different names is the office's, not evidence they are one person
SELECT results_eq(
  $$SELECT j #>> '{attributes,name,level}', j #>> '{attributes,phone,level}', (j #>> '{attributes,phone,weight}')::numeric
      FROM concord.why_matched('billing', 'B-006', 'billing', 'B-007') j$$,
  $$VALUES ('disagree'::text, 'agree, shared by different names'::text, 0.00)$$,
  '刘洋 and 周杰 share the switchboard: it counts for nothing, their names against');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-006')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-007')),
            'they are two customers');

-- a second 陈静 joins the company, with a mobile of her own; the change
-- goes through the incremental path
INSERT INTO idt.crm_customer VALUES (6, '陈静', '13811110006', NULL, '上海某某科技有限公司', NULL, '2026-02-01');
SELECT is((SELECT records FROM concord.resolve_incremental()) > 0, true, 'resolve_incremental');
SELECT results_eq(
  $$SELECT j #>> '{attributes,company,level}', (j #>> '{attributes,company,weight}')::numeric,
           (j #>> '{attributes,name,weight}')::numeric
      FROM concord.why_matched('crm', '5', 'billing', 'B-005') j$$,
  $$VALUES ('agree'::text, 5.68, 3.42)$$,
  'two mobiles behind 陈静 there: each weighs on its own again (8 - log2 of 5 names, 5 - log2 of 3 phones)');
\ir same_as_full.psql

SELECT * FROM finish();
ROLLBACK;
