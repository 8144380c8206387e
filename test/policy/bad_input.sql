-- policy: bad input to every public function not covered by the tests of
-- its feature -- clear errors, and nothing left half-made.
BEGIN;
SELECT plan(27);
SET LOCAL client_min_messages = warning;
CREATE SCHEMA bi_test;
CREATE TABLE bi_test.t (id int PRIMARY KEY, v text);
CREATE VIEW bi_test.v AS SELECT * FROM bi_test.t;
-- Each call as the role docs/policy.md gives it to: departments and
-- members to concord_admin (top-level departments are its), a table's
-- governance to its owner holding concord_policy, access requests to a
-- member (any role); the internal and Citus functions, and
-- explain_access, stay a superuser's here.
CREATE ROLE tap_bi_admin IN ROLE concord_admin;
CREATE ROLE tap_bi_owner IN ROLE concord_policy;
CREATE ROLE tap_bi_member;
ALTER SCHEMA bi_test OWNER TO tap_bi_owner;
ALTER TABLE bi_test.t OWNER TO tap_bi_owner;
ALTER VIEW bi_test.v OWNER TO tap_bi_owner;
GRANT USAGE ON SCHEMA bi_test TO tap_bi_member;
GRANT SELECT ON bi_test.t TO tap_bi_member;
SET LOCAL ROLE tap_bi_admin;

SELECT throws_ok($$SELECT concord.department_create('Sales Dept')$$, '22023',
  'invalid department name: ''Sales Dept''', 'department_add: a name that is no identifier');
SELECT throws_ok($$SELECT concord.department_create(NULL)$$, '22023', 'invalid department name: NULL', 'department_add: no name');
SELECT throws_ok($$SELECT concord.department_create('tap_bi_team', 'tap_bi_nowhere')$$, '42704',
  'unknown parent department "tap_bi_nowhere" of department "tap_bi_team"', 'department_add: an unknown parent');
SELECT concord.department_create('tap_bi_dept') AS d \gset
SELECT throws_ok($$SELECT concord.member_create('tap_bi_member', 'tap_bi_dept', NULL, '[1, 2]')$$, '22023',
  'attributes of member "tap_bi_member" must be a JSON object, not [1, 2]', 'member_set: attributes that are no object');
SELECT is((SELECT count(*)::int FROM concord.member WHERE role_name = 'tap_bi_member'), 0, 'and no member was made');

SET LOCAL ROLE tap_bi_owner;

SELECT is(concord.row_policy_drop('tap_bi_none'), false, 'row_policy_drop of no policy: false');
SELECT is(concord.write_rule_drop('tap_bi_none'), false, 'write_rule_drop of no rule: false');
SELECT is(concord.column_mask_drop('bi_test.t', 'v'), false, 'column_mask_drop of no mask: false');
SELECT throws_ok($$SELECT concord.column_mask_create('bi_test.t', 'v', NULL)$$, '22004',
  'column_mask_create needs a table, a column, a mask and who sees the clear value', 'column_mask: no mask');
SELECT throws_ok($$SELECT concord.row_policy_create('tap_bi_p', 'bi_test.v', 'true')$$, '42809',
  'bi_test.v is not a table', 'row_policy on a view');

SELECT throws_ok($$SELECT concord.audit_table_create('bi_test.v')$$, '42809', 'bi_test.v is not a table', 'audit_table of a view');
SELECT throws_ok($$SELECT concord.audit_table_create(NULL)$$, '22004', 'audit_table_create needs a table', 'audit_table of nothing');
RESET ROLE;
SELECT throws_ok($$SELECT concord.audit_record(NULL, 'x')$$, '22004', 'an audit entry needs an action and an object',
  'audit_record without an action');

SET LOCAL ROLE tap_bi_member;
SELECT throws_ok($$SELECT concord.access_request('bi_test.t', 'true', 'x', now() + interval '1 day')$$, '42501',
  'role "tap_bi_member" is no member: only members request access', 'access_request by a role that is no member');
SET LOCAL ROLE tap_bi_admin;
SELECT concord.member_create('tap_bi_member', 'tap_bi_dept') AS m \gset
SET LOCAL ROLE tap_bi_member;
SELECT throws_ok($$SELECT concord.access_request('bi_test.t', 'true', '  ', now() + interval '1 day')$$, '22004',
  'an access request needs a table, which rows, a reason and an end', 'access_request without a reason');
SELECT throws_ok($$SELECT concord.access_request('bi_test.t', 'true', 'x', now() + interval '1 year')$$, '22023',
  NULL, 'access_request for longer than 90 days');
SET LOCAL ROLE tap_bi_admin;  -- (concord_admin decides any request)
SELECT throws_ok($$SELECT concord.access_approve(-1)$$, 'P0002', 'no access request -1', 'access_approve of no request');
SELECT throws_ok($$SELECT concord.access_reject(-1)$$, 'P0002', 'no access request -1', 'access_reject of no request');

RESET ROLE;
SELECT throws_ok($$SELECT concord.explain_access('postgres', 'bi_test.t', 1000)$$, '22023',
  'sample must be between 0 and 100 rows, not 1000', 'explain_access: too large a sample');
SELECT throws_ok($$SELECT concord.explain_access('postgres', NULL)$$, '22004', 'explain_access needs a table',
  'explain_access: no table');

-- Citus (docs/scaling.md; test/citus/run.sh runs it on a Citus cluster):
-- where Citus is not installed
SELECT is(concord.citus_table('bi_test.t'), false, 'citus_table: a plain table is not a Citus table');
SELECT is(concord.citus_table(NULL), NULL, 'citus_table of NULL is NULL');
SELECT throws_ok($$SELECT concord.citus_prepare()$$, '55000',
  format('Citus is not installed in database "%s"', current_database()), 'citus_prepare without Citus');
SELECT throws_ok($$SELECT concord.citus_distribute('bi_test.t', 'id')$$, '55000',
  format('concord is not prepared for Citus in database "%s"', current_database()), 'citus_distribute without Citus');
SELECT throws_ok($$SELECT concord.citus_distribute(NULL)$$, '22004',
  'citus_distribute needs a table (and colocate_with)', 'citus_distribute without a table');
SELECT is(has_function_privilege('public', 'concord.citus_prepare()', 'EXECUTE'), false,
  'citus_prepare is not for everyone');
SELECT is(has_function_privilege('public', 'concord.citus_distribute(regclass, text, text)', 'EXECUTE'), false,
  'citus_distribute is not for everyone');

SELECT * FROM finish();
ROLLBACK;
