-- policy: the audit log.  Rows written to an audited table by a real role
-- logging in, and governance changes, become entries naming the role,
-- with the values before and after; the log refuses UPDATE, DELETE and
-- TRUNCATE from anyone; audit_verify() finds an entry changed or removed
-- behind its back (the tampering is rolled back).  The entries this test
-- writes stay: the log is append-only.
SET client_min_messages = warning;
SELECT plan(14);
\ir setup.psql
\set roles '{tap_au_clerk,tap_au_owner}'
SELECT pg_temp.clean_up('au_test', 'tap_au_', :'roles', true) IS NULL AS clean \gset

CREATE SCHEMA au_test AUTHORIZATION tap_au_owner;
CREATE TABLE au_test.invoice (no text PRIMARY KEY, amount numeric, paid boolean);
GRANT USAGE ON SCHEMA au_test TO tap_au_clerk;
GRANT SELECT, INSERT, UPDATE, DELETE ON au_test.invoice TO tap_au_clerk;
-- the audit trail is set up by the table's owner holding concord_policy
-- (docs/policy.md), under her session's login (the log records both); the
-- log's guarantees are checked as superuser below
ALTER TABLE au_test.invoice OWNER TO tap_au_owner;
GRANT concord_policy TO tap_au_owner;
SELECT coalesce(max(id), 0) AS before FROM concord.audit_log \gset
SET ROLE tap_au_owner;
SELECT is(concord.audit_table_create('au_test.invoice'), true, 'audit_table marks a table audited');
SELECT is(concord.audit_table_create('au_test.invoice'), false, 'once');
RESET ROLE;

SELECT is((SELECT * FROM pg_temp.as_role('tap_au_clerk', $$
  WITH i AS (INSERT INTO au_test.invoice VALUES ('INV-1', 100, false) RETURNING 1),
       u AS (SELECT 1) SELECT 'done'$$)), 'done', 'the clerk inserts an invoice');
SELECT is((SELECT * FROM pg_temp.as_role('tap_au_clerk', $$
  WITH u AS (UPDATE au_test.invoice SET paid = true WHERE no = 'INV-1' RETURNING 1) SELECT 'done'$$)), 'done', 'marks it paid');
SELECT is((SELECT * FROM pg_temp.as_role('tap_au_clerk', $$
  WITH d AS (DELETE FROM au_test.invoice WHERE no = 'INV-1' RETURNING 1) SELECT 'done'$$)), 'done', 'and deletes it');
SELECT results_eq(
  $$SELECT actor, session_actor, action, object, old ->> 'paid', new ->> 'paid'
      FROM concord.audit_log WHERE id > $$ || :before || $$ ORDER BY id$$,
  $$VALUES ('tap_au_owner'::text, 'postgres'::text, 'audit_table'::text, 'au_test.invoice'::text, NULL::text, NULL::text),
           ('tap_au_clerk', 'tap_au_clerk', 'INSERT', 'au_test.invoice', NULL, 'false'),
           ('tap_au_clerk', 'tap_au_clerk', 'UPDATE', 'au_test.invoice', 'false', 'true'),
           ('tap_au_clerk', 'tap_au_clerk', 'DELETE', 'au_test.invoice', 'true', NULL)$$,
  'one entry per row written, naming the role, with the values before and after');

-- (the ids of the entries above: ids can skip, a rolled-back append
-- uses one up)
SELECT (array_agg(id ORDER BY id))[1] AS e1, (array_agg(id ORDER BY id))[2] AS e2,
       (array_agg(id ORDER BY id))[3] AS e3, (array_agg(id ORDER BY id))[4] AS e4
  FROM concord.audit_log WHERE id > :before \gset
SELECT concord.department_create('tap_au_fin') AS d \gset
SELECT is((SELECT action || ' ' || object FROM concord.audit_log ORDER BY id DESC LIMIT 1), 'department_add tap_au_fin',
          'governance changes are entries too');

-- nobody changes the log
SELECT throws_ok($$UPDATE concord.audit_log SET actor = 'someone' WHERE id = $$ || :e1,
  '42501', 'concord.audit_log is append-only: UPDATE refused', 'not even a superuser updates an entry');
SELECT throws_ok($$DELETE FROM concord.audit_log WHERE id = $$ || :e1,
  '42501', 'concord.audit_log is append-only: DELETE refused', 'or deletes one');
SELECT throws_ok($$TRUNCATE concord.audit_log$$,
  '42501', 'concord.audit_log is append-only: TRUNCATE refused', 'or empties the log');
SELECT throws_like($$SELECT * FROM pg_temp.as_role('tap_au_clerk', 'SELECT concord.audit_record(''x'', ''y'')::text')$$,
  '%permission denied for function audit_record%', 'a member cannot write entries of her own');

SELECT results_eq($$SELECT intact, first_broken FROM concord.audit_verify()$$, $$VALUES (true, NULL::bigint)$$,
  'audit_verify: the chain is intact');

-- tampering by someone who gets past the triggers (a superuser disabling
-- them), rolled back afterwards
-- (what audit_verify said is kept in psql variables: pgTAP's own record
-- of a test would be rolled back with the tampering)
BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE concord.audit_log SET new = jsonb_set(new, '{amount}', '1') WHERE id = :e2;
SELECT intact AS changed_intact, first_broken AS changed_first FROM concord.audit_verify() \gset
ROLLBACK;
BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM concord.audit_log WHERE id = :e3;
SELECT intact AS removed_intact, first_broken AS removed_first FROM concord.audit_verify() \gset
ROLLBACK;
SELECT is(:'changed_intact' || ' ' || :'changed_first', 'f ' || :e2, 'audit_verify finds the changed entry');
SELECT is(:'removed_intact' || ' ' || :'removed_first', 'f ' || :e4, 'and the entry after a removed one');

SELECT * FROM finish();
SELECT pg_temp.clean_up('au_test', 'tap_au_', :'roles', false) IS NULL AS clean \gset
