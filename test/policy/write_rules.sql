-- policy: write rules, seen by real roles logging in.  On 财务's
-- contracts only finance edits invoice_amount, and only while the
-- contract is signed (已签约); a closed (已关闭) contract is edited and
-- deleted by nobody.  Committed setup, removed at the end.
SET client_min_messages = warning;
SELECT plan(17);
\ir setup.psql
-- (this test calls as_role while SET ROLE to the table's owner, and dblink
-- lets only a superuser connect without a password)
ALTER FUNCTION pg_temp.as_role(text, text) SECURITY DEFINER;
\set roles '{tap_wr_clerk,tap_wr_rep,tap_wr_owner}'
SELECT pg_temp.clean_up('wr_test', 'tap_wr_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_wr_fin') AS d1, concord.department_create('tap_wr_sales') AS d2 \gset
SELECT concord.member_create('tap_wr_clerk', 'tap_wr_fin', '会计') AS m1,
       concord.member_create('tap_wr_rep', 'tap_wr_sales', '销售代表') AS m2 \gset
CREATE SCHEMA wr_test AUTHORIZATION tap_wr_owner;
CREATE TABLE wr_test.contract (id int PRIMARY KEY, status text, invoice_amount numeric, note text);
INSERT INTO wr_test.contract VALUES (1, '已签约', 1000, ''), (2, '审批中', 2000, ''), (3, '已关闭', 3000, '');
ALTER TABLE wr_test.contract OWNER TO tap_wr_owner;
GRANT USAGE ON SCHEMA wr_test TO tap_wr_clerk, tap_wr_rep;
GRANT SELECT, UPDATE, DELETE ON wr_test.contract TO tap_wr_clerk, tap_wr_rep;
-- The write rules are made and dropped by the table's owner holding
-- concord_policy (docs/policy.md); departments and members a superuser's.
GRANT concord_policy TO tap_wr_owner;
SET ROLE tap_wr_owner;

SELECT is(concord.write_rule_create('tap_wr_invoice', 'wr_test.contract',
            $$concord.member_in('tap_wr_fin') AND status = '已签约'$$, columns => ARRAY['invoice_amount']),
          '((SELECT concord.member_in(''tap_wr_fin''::text) AS member_in) AND (status = ''已签约''::text))',
          'a column rule: only finance, only while signed');
SELECT is(concord.write_rule_create('tap_wr_closed', 'wr_test.contract', $$status <> '已关闭'$$),
          '(status <> ''已关闭''::text)', 'a row rule: nothing once closed (updates and deletes)');

CREATE FUNCTION pg_temp.try(r text, q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM * FROM pg_temp.as_role(r, q || ' RETURNING ''ok''');
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLERRM;
END $$;

SELECT is(pg_temp.try('tap_wr_clerk', 'UPDATE wr_test.contract SET invoice_amount = 1100 WHERE id = 1'), 'ok',
          'the clerk edits the invoice amount of a signed contract');
SELECT is(pg_temp.try('tap_wr_rep', 'UPDATE wr_test.contract SET invoice_amount = 1 WHERE id = 1'),
          'write rule "tap_wr_invoice" forbids this UPDATE on wr_test.contract',
          'the rep may not, and the error names the rule');
SELECT is(pg_temp.try('tap_wr_clerk', 'UPDATE wr_test.contract SET invoice_amount = 2100 WHERE id = 2'),
          'write rule "tap_wr_invoice" forbids this UPDATE on wr_test.contract',
          'nor may the clerk while the contract is still being approved');
SELECT is(pg_temp.try('tap_wr_rep', $$UPDATE wr_test.contract SET note = '客户要求加急' WHERE id = 1$$), 'ok',
          'the rep edits a column the rule does not cover');
SELECT is(pg_temp.try('tap_wr_rep', 'UPDATE wr_test.contract SET invoice_amount = invoice_amount WHERE id = 2'), 'ok',
          'an update that leaves the covered column as it is passes');
SELECT is(pg_temp.try('tap_wr_clerk', $$UPDATE wr_test.contract SET note = 'x' WHERE id = 3$$),
          'write rule "tap_wr_closed" forbids this UPDATE on wr_test.contract', 'nobody edits a closed contract');
SELECT is(pg_temp.try('tap_wr_clerk', 'DELETE FROM wr_test.contract WHERE id = 3'),
          'write rule "tap_wr_closed" forbids this DELETE on wr_test.contract', 'nor deletes it');
SELECT is(pg_temp.try('tap_wr_clerk', $$UPDATE wr_test.contract SET status = '已关闭' WHERE id = 1$$), 'ok',
          'closing a signed contract is allowed (the rule looks at the row as it was)');
SELECT results_eq($$SELECT id, status, invoice_amount, note FROM wr_test.contract ORDER BY id$$,
                  $$VALUES (1, '已关闭', 1100::numeric, '客户要求加急'), (2, '审批中', 2000, ''), (3, '已关闭', 3000, '')$$,
                  'the refused writes changed nothing');

-- bad input
SELECT throws_ok($$SELECT concord.write_rule_create('tap_wr_bad', 'wr_test.contract', 'true', columns => ARRAY['nosuch'])$$,
  '42703', 'column "nosuch" of table wr_test.contract does not exist', 'an unknown column');
SELECT throws_ok($$SELECT concord.write_rule_create('tap_wr_bad', 'wr_test.contract', 'true', operations => ARRAY['TRUNCATE'])$$,
  '22023', 'invalid operations of write rule "tap_wr_bad": {TRUNCATE}', 'an operation rules cannot watch');
SELECT throws_ok($$SELECT concord.write_rule_create('tap_wr_bad', 'wr_test.contract', 'now() > ''2020-01-01''')$$,
  '22023', 'invalid row policy predicate on wr_test.contract: function now() is not immutable', 'a condition the allowlist refuses');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'wr_test.contract'::regclass AND tgname LIKE 'concord_wr_%'), 2,
          'the failures made no trigger');

SELECT is(concord.write_rule_drop('tap_wr_closed'), true, 'write_rule_drop');
SELECT is(pg_temp.try('tap_wr_clerk', $$UPDATE wr_test.contract SET note = 'reopened' WHERE id = 3$$), 'ok',
          'without the rule the closed contract is editable again');

SELECT * FROM finish();
RESET ROLE;
SELECT pg_temp.clean_up('wr_test', 'tap_wr_', :'roles', false) IS NULL AS clean \gset
