-- security: eval_as and exec_as (concord's own: EXECUTE is revoked from
-- PUBLIC) refuse a role that does not exist, a caller who may not act as
-- the role already, and more than one statement -- the same checks, asked
-- by one function.  A role given EXECUTE for the test calls them.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_aa_caller;
CREATE ROLE tap_aa_other;
GRANT EXECUTE ON FUNCTION concord.eval_as(regrole, text), concord.exec_as(regrole, text, text[]) TO tap_aa_caller;
SET LOCAL ROLE tap_aa_caller;

SELECT throws_ok($$SELECT concord.eval_as('tap_aa_other', 'SELECT 1')$$, '42501',
  'permission denied to run a query as role "tap_aa_other"', 'eval_as: not as a role the caller may not act as');
SELECT throws_ok($$SELECT concord.exec_as('tap_aa_other', 'SELECT 1')$$, '42501',
  'permission denied to run a statement as role "tap_aa_other"', 'exec_as: not as a role the caller may not act as');
SELECT throws_ok($$SELECT concord.eval_as(4000000000::oid::regrole, 'SELECT 1')$$, '42704',
  'role with OID 4000000000 does not exist', 'eval_as: not as a role that does not exist');
SELECT throws_ok($$SELECT concord.exec_as(4000000000::oid::regrole, 'SELECT 1')$$, '42704',
  'role with OID 4000000000 does not exist', 'exec_as: not as a role that does not exist');
SELECT throws_ok($$SELECT concord.eval_as('tap_aa_caller', 'SELECT 1; SELECT 2')$$, '22023',
  'eval_as runs exactly one statement', 'eval_as: one statement');
SELECT throws_ok($$SELECT concord.exec_as('tap_aa_caller', 'SELECT 1; SELECT 2')$$, '22023',
  'exec_as runs exactly one statement', 'exec_as: one statement');
-- as herself, both run
SELECT is(concord.eval_as('tap_aa_caller', $$SELECT '{"a": 1}'::pg_catalog.jsonb$$), '{"a": 1}'::jsonb,
  'eval_as runs a query as the caller herself');
SELECT is(concord.exec_as('tap_aa_caller', 'SELECT pg_catalog.generate_series(1, 3)'), 3::bigint,
  'exec_as runs a statement as the caller herself: the rows it processed');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
