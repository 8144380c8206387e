-- policy: departments, members and row policies, seen by real roles
-- logging in (dblink connections as each role, not SET ROLE).  Sales
-- reps see their region's deals and their own; the head of sales sees
-- every sales team's; a finance clerk sees signed deals; a role that is
-- no member sees nothing, nor does the table's owner without BYPASSRLS.
-- The setup is committed (other sessions must see it) and removed at
-- the end.
SET client_min_messages = warning;
SELECT plan(32);

\ir setup.psql
\set roles '{tap_pol_east,tap_pol_west,tap_pol_head,tap_pol_clerk,tap_pol_nobody,tap_pol_owner}'
SELECT pg_temp.clean_up('pol_test', 'tap_', :'roles', true) IS NULL AS clean \gset

-- 销售 has two teams; 财务 is apart
SELECT concord.department_create('tap_sales', NULL, '销售') AS d1,
       concord.department_create('tap_sales_east', 'tap_sales', '销售华东') AS d2,
       concord.department_create('tap_sales_west', 'tap_sales', '销售华西') AS d3,
       concord.department_create('tap_finance', NULL, '财务') AS d4 \gset
SELECT concord.member_create('tap_pol_east', 'tap_sales_east', '销售代表', '{"region": "华东"}') AS m1,
       concord.member_create('tap_pol_west', 'tap_sales_west', '销售代表', '{"region": "华西"}') AS m2,
       concord.member_create('tap_pol_head', 'tap_sales', '销售总监') AS m3,
       concord.member_create('tap_pol_clerk', 'tap_finance', '会计') AS m4 \gset

CREATE SCHEMA pol_test;
CREATE TABLE pol_test.deal (id int PRIMARY KEY, region text, owner_role text, stage text, amount numeric);
INSERT INTO pol_test.deal VALUES
  (1, '华东', 'tap_pol_east', '跟进中', 120000), (2, '华东', 'tap_pol_head', '已签约', 56000),
  (3, '华西', 'tap_pol_west', '已签约', 80000),  (4, '华西', 'tap_pol_east', '跟进中', 30000),
  (5, '华南', 'tap_pol_head', '已签约', 99000);
ALTER TABLE pol_test.deal OWNER TO tap_pol_owner;
GRANT USAGE ON SCHEMA pol_test TO PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pol_test.deal TO tap_pol_east, tap_pol_west, tap_pol_head, tap_pol_clerk, tap_pol_nobody;
-- The row policies are made and dropped by the table's owner holding
-- concord_policy (docs/policy.md); departments, members and the logins
-- (dblink) are a superuser's.
GRANT concord_policy TO tap_pol_owner;
SET ROLE tap_pol_owner;

SELECT is(concord.row_policy_create('tap_sales_rows', 'pol_test.deal',
            $$region = concord.member('region') OR owner_role = current_user OR concord.member_in('tap_sales') AND concord.member('title') = '销售总监'$$),
          '((region = (SELECT concord.member(''region''::text) AS member)) OR (owner_role = CURRENT_USER) OR ((SELECT concord.member_in(''tap_sales''::text) AS member_in) AND ((SELECT concord.member(''title''::text) AS member) = ''销售总监''::text)))',
          'a row policy compiles into the checked predicate, member lookups as scalar subqueries');
SELECT is(concord.row_policy_create('tap_finance_rows', 'pol_test.deal', $$concord.member_in('tap_finance') AND stage = '已签约'$$),
          '((SELECT concord.member_in(''tap_finance''::text) AS member_in) AND (stage = ''已签约''::text))',
          'a second policy on the table');
SELECT results_eq($$SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'pol_test.deal'::regclass$$,
                  $$VALUES (true, true)$$, 'row security is on and forced');
SELECT bag_eq($$SELECT policyname::text FROM pg_policies WHERE schemaname = 'pol_test' AND tablename = 'deal'$$,
              $$VALUES ('concord_tap_sales_rows'), ('concord_tap_finance_rows')$$, 'as two PostgreSQL policies');
SELECT is((SELECT count(*)::int FROM concord.row_policy WHERE name LIKE 'tap_%'), 2, 'and two definitions');

-- each role logs in and reads
RESET ROLE;
CREATE FUNCTION pg_temp.ids_seen_by(r text) RETURNS int[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(id ORDER BY id), '{}')
  FROM dblink(format('%s user=%s', current_setting('concord_test.conn'), r),
              'SELECT id FROM pol_test.deal') AS t(id int)
$$;
SELECT is(pg_temp.ids_seen_by('tap_pol_east'), '{1,2,4}'::int[], 'the 华东 rep: the 华东 deals and the one she owns in 华西');
SELECT is(pg_temp.ids_seen_by('tap_pol_west'), '{3,4}'::int[], 'the 华西 rep: the 华西 deals (one of them owned by her 华东 colleague)');
SELECT is(pg_temp.ids_seen_by('tap_pol_head'), '{1,2,3,4,5}'::int[], 'the head of sales: every sales team''s deals');
SELECT is(pg_temp.ids_seen_by('tap_pol_clerk'), '{2,3,5}'::int[], 'the finance clerk: the signed deals');
SELECT is(pg_temp.ids_seen_by('tap_pol_nobody'), '{}'::int[], 'a role that is no member: nothing');
SELECT is(pg_temp.ids_seen_by('tap_pol_owner'), '{}'::int[], 'the table''s owner, without BYPASSRLS: nothing either (row security is forced)');

-- the member lookups run once per query, not once per row
SELECT cmp_ok((SELECT count(*) FROM dblink(format('%s user=tap_pol_east', :'conn'),
                 'EXPLAIN (COSTS OFF) SELECT id FROM pol_test.deal') AS t(line text)
                WHERE line LIKE '%InitPlan%'), '>=', 2::bigint,
              'the plan computes each member lookup once, as an InitPlan');

-- what a member reads of herself, and only of herself
SELECT results_eq(
  format($q$SELECT * FROM dblink(%L, $s$SELECT concord.member('region'), concord.member('department'), concord.member('title'),
                                             concord.member_in('tap_sales'), concord.member_in('tap_finance')$s$)
                    AS t(region text, dept text, title text, in_sales boolean, in_finance boolean)$q$, :'conn' || ' user=tap_pol_east'),
  $$VALUES ('华东'::text, 'tap_sales_east'::text, '销售代表'::text, true, false)$$,
  'the 华东 rep: her region, department and title; in 销售 through her team, not in 财务');
SELECT is((SELECT r FROM dblink(format('%s user=tap_pol_nobody', :'conn'), $$SELECT concord.member('region')$$) AS t(r text)),
          NULL, 'a role that is no member has no attributes');
SELECT throws_like(
  format($q$SELECT * FROM dblink(%L, 'SELECT role_name FROM concord.member') AS t(r text)$q$, :'conn' || ' user=tap_pol_east'),
  '%permission denied for table member%', 'a member cannot read the member table itself');

-- writes are checked too: a rep cannot put a deal in another region
SELECT throws_like(
  format($q$SELECT * FROM dblink(%L, $i$INSERT INTO pol_test.deal VALUES (9, '华东', 'tap_pol_head', '跟进中', 1)$i$) AS t(r text)$q$,
         :'conn' || ' user=tap_pol_west'),
  '%new row violates row-level security policy%',
  'the 华西 rep cannot insert a 华东 deal she does not own');
SELECT is((SELECT n FROM dblink(format('%s user=tap_pol_west', :'conn'),
             $$WITH u AS (UPDATE pol_test.deal SET amount = 0 RETURNING 1) SELECT count(*) FROM u$$) AS t(n bigint)), 2::bigint,
          'an UPDATE of every row touches only the two she sees');
SELECT is((SELECT amount FROM pol_test.deal WHERE id = 1), 120000::numeric, 'the 华东 deal is untouched');

-- a policy cannot depend on what a session sets
SET ROLE tap_pol_owner;
SELECT throws_like($$SELECT concord.row_policy_create('tap_spoof', 'pol_test.deal', $p$region = current_setting('app.region')$p$)$$,
  '%function current_setting(text) is not immutable%', 'current_setting() is refused (a session could set it)');
RESET ROLE;
SELECT is((SELECT array_agg(id ORDER BY id) FROM dblink(format('%s user=tap_pol_west', :'conn'),
             $$SELECT id FROM pol_test.deal, set_config('app.region', '华东', false) s$$) AS t(id int)), '{3,4}'::int[],
          'a member setting a custom setting to another region sees what she saw');
SELECT is((SELECT array_agg(id ORDER BY id) FROM dblink(format('%s user=tap_pol_west application_name=tap_pol_head', :'conn'),
             $$SELECT id FROM pol_test.deal$$) AS t(id int)), '{3,4}'::int[],
          'and so does one whose application_name names another member');
SET ROLE tap_pol_owner;

-- bad input: nothing half-applied
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bad', 'pol_test.deal', 'id IN (SELECT 1)')$$,
  '22023', 'invalid row policy predicate on pol_test.deal: subqueries are not allowed', 'a subquery is refused');
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bad', 'pol_test.deal', 'random() < 0.5')$$,
  '22023', 'invalid row policy predicate on pol_test.deal: function random() is not immutable', 'a volatile function is refused');
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bad', 'pol_test.deal', 'nosuch = 1')$$,
  '42703', 'column "nosuch" does not exist', 'an unknown column');
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bad', 'pol_test.deal', 'region = concord.member(owner_role)')$$,
  '22023', 'invalid row policy predicate on pol_test.deal: the argument of concord.member() and member_in() must be a constant',
  'a member lookup by a column');
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bad', 'pol_test.deal', $p$true) UNION SELECT FROM pg_authid WHERE (true$p$)$$,
  '22023', 'invalid row policy predicate on pol_test.deal: it is not one condition', 'a predicate that closes the clause and adds a query');
SELECT throws_ok($$SELECT concord.row_policy_create('Bad Name', 'pol_test.deal', 'true')$$,
  '22023', 'invalid row policy name: ''Bad Name''', 'a bad policy name');
RESET ROLE;
SELECT throws_ok($$SELECT concord.member_create('tap_pol_east', 'tap_nowhere')$$,
  '42704', 'unknown department "tap_nowhere" for member "tap_pol_east"', 'an unknown department');
SELECT throws_ok($$SELECT concord.member_create('tap_no_such_role', 'tap_sales')$$,
  '42704', 'role "tap_no_such_role" does not exist', 'an unknown role');
SELECT is((SELECT count(*)::int FROM pg_policies WHERE schemaname = 'pol_test'), 2, 'no policy was half-made by the failures');

-- dropping a policy: row security stays on
SET ROLE tap_pol_owner;
SELECT is(concord.row_policy_drop('tap_finance_rows'), true, 'row_policy_drop');
RESET ROLE;
SELECT is(pg_temp.ids_seen_by('tap_pol_clerk'), '{}'::int[], 'the clerk now sees nothing: deny by default');

SELECT * FROM finish();

SELECT pg_temp.clean_up('pol_test', 'tap_', :'roles', false) IS NULL AS clean \gset
