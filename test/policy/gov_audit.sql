-- policy (issue 18): an audit log that proves what it claims.  Every field
-- of an entry is hashed (session_actor too); a checkpoint taken outside the
-- database finds entries edited (even with the chain recomputed), deleted
-- from the end, and the log emptied; the checkpoint can be sent through an
-- endpoint; appends are serialized by a lock no user can take, and a
-- REPEATABLE READ writer that would break the chain fails instead; changes
-- to the governance tables made around the API are entries too; a write
-- rule on columns leaves others' deletes alone.  Tampering (a superuser
-- disabling the log's triggers) is rolled back; what verification said is
-- kept in psql variables (pgTAP's record would be rolled back with it).
-- Clerks log in.  The entries written stay: the log is append-only.
SET client_min_messages = error;
SELECT plan(27);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_au_clerk,tap_gov_au_clerk2,tap_gov_au_dba}'
SELECT pg_temp.clean_up('gov_au', 'tap_gov_au_', :'roles', true) IS NULL AS clean \gset

CREATE SCHEMA gov_au;
GRANT USAGE ON SCHEMA gov_au TO PUBLIC;
CREATE TABLE gov_au.invoice (no text PRIMARY KEY, amount numeric, status text, note text);
GRANT SELECT, INSERT, UPDATE, DELETE ON gov_au.invoice TO tap_gov_au_clerk, tap_gov_au_clerk2;
SELECT concord.audit_table_create('gov_au.invoice') AS audited \gset
SELECT is(pg_temp.run('tap_gov_au_clerk', $$INSERT INTO gov_au.invoice VALUES ('INV-1', 100, 'open', '')$$), 'ok', 'an audited write');

CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- (a superuser rewrites the chain from an entry on, as audit_hash allows)
CREATE FUNCTION pg_temp.rechain(from_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record; prev bytea;
BEGIN
  SELECT l.hash INTO prev FROM concord.audit_log l WHERE l.id < from_id ORDER BY l.id DESC LIMIT 1;
  FOR r IN SELECT * FROM concord.audit_log l WHERE l.id >= from_id ORDER BY l.id LOOP
    UPDATE concord.audit_log l SET prev_hash = prev,
           hash = concord.audit_hash(prev, r.id, r.at, r.actor, r.session_actor, r.action, r.object, r.old, r.new)
     WHERE l.id = r.id RETURNING l.hash INTO prev;
  END LOOP;
END $$;

------------------------------------------------------------------------------
-- every field hashed; a checkpoint finds what the chain alone cannot
------------------------------------------------------------------------------
SELECT max(id) AS e1 FROM concord.audit_log \gset
SELECT concord.audit_checkpoint() AS cp \gset
SELECT is((:'cp'::jsonb ->> 'id')::bigint, :'e1'::bigint, 'audit_checkpoint names the last entry');
SELECT is(:'cp'::jsonb ->> 'hash', (SELECT encode(hash, 'hex') FROM concord.audit_log WHERE id = :e1), 'and its hash');
SELECT is(pg_temp.run('tap_gov_au_clerk', $$UPDATE gov_au.invoice SET status = 'paid' WHERE no = 'INV-1'$$), 'ok', 'a write after it');
SELECT max(id) AS e2 FROM concord.audit_log \gset
SELECT results_eq(format('SELECT intact, first_broken, detail FROM concord.audit_verify(%L)', :'cp'),
                  $$VALUES (true, NULL::bigint, NULL::text)$$, 'audit_verify(checkpoint): the log holds');

BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE concord.audit_log SET session_actor = 'someone_else' WHERE id = :e1;
SELECT intact AS sa_intact, first_broken AS sa_first FROM concord.audit_verify() \gset
ROLLBACK;
SELECT is(:'sa_intact' || ' ' || :'sa_first', 'f ' || :e1, 'an edit of session_actor breaks the chain (it is hashed)');

BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE concord.audit_log SET new = jsonb_set(new, '{amount}', '1') WHERE id = :e1;
SELECT pg_temp.rechain(:e1) AS r \gset
SELECT intact AS re_plain FROM concord.audit_verify() \gset
SELECT intact AS re_intact, first_broken AS re_first, detail AS re_detail FROM concord.audit_verify(:'cp') \gset
ROLLBACK;
SELECT is(:'re_plain'::text, 't', 'an entry edited and every later hash recomputed: the chain alone looks intact');
SELECT is(:'re_intact' || ' ' || :'re_first' || ' ' || :'re_detail',
          'f ' || :e1 || ' entry ' || :e1 || ' does not have the checkpoint''s hash: an entry up to it was changed, removed or inserted, and the chain recomputed',
          'the checkpoint finds it');

BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM concord.audit_log WHERE id >= :e1;
SELECT intact AS tail_plain FROM concord.audit_verify() \gset
SELECT intact AS tail_intact, first_broken AS tail_first, detail AS tail_detail FROM concord.audit_verify(:'cp') \gset
ROLLBACK;
SELECT is(:'tail_plain'::text, 't', 'the last entries deleted: the chain alone looks intact');
SELECT is(:'tail_intact' || ' ' || :'tail_first' || ' ' || :'tail_detail',
          'f ' || :e1 || ' entry ' || :e1 || ', the checkpoint''s, is gone: entries were removed from the end of the log',
          'the checkpoint finds it');

BEGIN;
ALTER TABLE concord.audit_log DISABLE TRIGGER audit_log_no_truncate;
TRUNCATE concord.audit_log;
SELECT entries AS tr_entries, intact AS tr_intact, first_broken AS tr_first FROM concord.audit_verify(:'cp') \gset
ROLLBACK;
SELECT is(:'tr_entries' || ' ' || :'tr_intact' || ' ' || :'tr_first', '0 f ' || :e1, 'the log emptied: the checkpoint finds that too');
SELECT is(pg_temp.error_of($$SELECT * FROM concord.audit_verify('{"id": "x"}')$$),
          '22023: invalid audit checkpoint: {"id": "x"}', 'a checkpoint that is not one is refused');

-- sent through an endpoint, through the outbox
SELECT current_setting('concord_test.stub_url') AS u, current_setting('concord_test.stub_port') AS sp \gset
SELECT NOT EXISTS (SELECT 1 FROM concord.http_allow WHERE host_pattern = '127.0.0.1' AND port = :'sp'::int) AS add_allow \gset
\if :add_allow
SELECT concord.http_allow_host('127.0.0.1', :'sp'::int) IS NOT NULL AS allowed \gset
\endif
SELECT concord.endpoint_create('tap_gov_au_anchor', :'u' || '/echo', unsigned => true) IS NOT NULL AS ep \gset
SELECT concord.audit_checkpoint('tap_gov_au_anchor') AS cp2 \gset
SELECT is((SELECT payload -> 'audit_checkpoint' FROM concord.outbox WHERE endpoint = 'tap_gov_au_anchor'), :'cp2'::jsonb,
          'audit_checkpoint(endpoint) puts the checkpoint in the outbox for the endpoint');

------------------------------------------------------------------------------
-- the lock that serializes appends is nobody's to take
------------------------------------------------------------------------------
SELECT dblink_connect('holder', :'conn' || ' user=tap_gov_au_clerk2') AS c1 \gset
SELECT v AS held FROM dblink('holder', $$SELECT pg_advisory_lock(pg_catalog.hashtext('concord.audit_log'), 1)::text$$) AS t(v text) \gset
SELECT is(pg_temp.run('tap_gov_au_clerk', $$SET statement_timeout = '3s'; INSERT INTO gov_au.invoice VALUES ('INV-2', 5, 'open', '')$$),
          'ok', 'a member holding the advisory lock 0.1 used holds up nobody''s audited write');
SELECT dblink_disconnect('holder') AS d1 \gset
SELECT is(pg_temp.run('tap_gov_au_clerk', 'SELECT 1 FROM concord.audit_head FOR UPDATE'), '42501: permission denied for table audit_head',
          'the lock appends take is on a table nobody else may read');
SELECT is(pg_temp.run('tap_gov_au_clerk', 'BEGIN; LOCK TABLE concord.audit_head; COMMIT'), '42501: permission denied for table audit_head',
          'or lock');

-- a REPEATABLE READ writer that would chain to an entry it cannot see fails
SELECT dblink_connect('rr', :'conn' || ' user=tap_gov_au_clerk') AS c2 \gset
SELECT dblink_exec('rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ') AS b1 \gset
SELECT v AS snap FROM dblink('rr', 'SELECT count(*)::text FROM gov_au.invoice') AS t(v text) \gset
SELECT is(pg_temp.run('tap_gov_au_clerk2', $$INSERT INTO gov_au.invoice VALUES ('INV-3', 7, 'open', '')$$), 'ok',
          'another clerk''s audited write commits after that transaction''s snapshot');
SELECT is((SELECT (SELECT SQLSTATE_TEXT) FROM (SELECT pg_temp.error_of(
             $q$SELECT dblink_exec('rr', 'INSERT INTO gov_au.invoice VALUES (''INV-4'', 9, ''open'', '''')')$q$) AS sqlstate_text) s),
          '40001: could not serialize access due to concurrent update',
          'its audited write then gets a serialization failure (it would have chained to an entry it cannot see)');
SELECT dblink_exec('rr', 'ROLLBACK') AS b2 \gset
SELECT dblink_disconnect('rr') AS d2 \gset
SELECT results_eq('SELECT intact FROM concord.audit_verify()', 'VALUES (true)', 'the chain is intact');

------------------------------------------------------------------------------
-- changes to the governance tables made around the API are entries
------------------------------------------------------------------------------
SELECT concord.department_create('tap_gov_au_fin') AS d \gset
SELECT concord.member_create('tap_gov_au_clerk', 'tap_gov_au_fin', '会计') AS m \gset
SELECT is((SELECT string_agg(action, ',' ORDER BY id) FROM concord.audit_log WHERE id > :e2 AND object IN ('tap_gov_au_fin', 'tap_gov_au_clerk', 'concord.member', 'concord.department')),
          'department_add,member_set', 'a change through the API is its own entry, once');
UPDATE concord.member SET title = '出纳' WHERE role_name = 'tap_gov_au_clerk';
SELECT is((SELECT actor || ' ' || action || ' ' || object || ' ' || (old ->> 'title') || '>' || (new ->> 'title')
             FROM concord.audit_log ORDER BY id DESC LIMIT 1),
          'postgres direct UPDATE concord.member 会计>出纳', 'a superuser''s UPDATE of concord.member is an entry, with the row before and after');
GRANT UPDATE, SELECT ON concord.department TO tap_gov_au_dba;
SELECT is(pg_temp.run('tap_gov_au_dba', $$UPDATE concord.department SET label = '财务部' WHERE name = 'tap_gov_au_fin'$$), 'ok',
          'a role someone granted write access to a governance table changes it');
REVOKE UPDATE, SELECT ON concord.department FROM tap_gov_au_dba;
SELECT is((SELECT actor || ' ' || session_actor || ' ' || action || ' ' || (new ->> 'label') FROM concord.audit_log ORDER BY id DESC LIMIT 1),
          'tap_gov_au_dba tap_gov_au_dba direct UPDATE 财务部', 'and is named in the entry');
BEGIN;
TRUNCATE concord.write_rule;
SELECT action || ' ' || object AS trunc FROM concord.audit_log ORDER BY id DESC LIMIT 1 \gset
ROLLBACK;
SELECT is(:'trunc'::text, 'direct TRUNCATE concord.write_rule', 'so is a TRUNCATE of one');
SELECT is(pg_temp.run('tap_gov_au_clerk', $$CREATE TEMP TABLE mine (x int);
                                           CREATE TRIGGER forge AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION concord.audit_row()$$),
          '42501: permission denied for function concord.audit_row', 'nobody attaches concord''s audit trigger to a table of hers');

------------------------------------------------------------------------------
-- a write rule on columns leaves others' deletes alone
------------------------------------------------------------------------------
SELECT concord.write_rule_create('tap_gov_au_amount', 'gov_au.invoice', $$concord.member_in('tap_gov_au_fin')$$, columns => ARRAY['amount']) AS wr \gset
SELECT is(pg_temp.run('tap_gov_au_clerk2', $$UPDATE gov_au.invoice SET amount = 1 WHERE no = 'INV-2'$$),
          '42501: write rule "tap_gov_au_amount" forbids this UPDATE on gov_au.invoice', 'who is not finance does not change the amount');
SELECT is(pg_temp.run('tap_gov_au_clerk2', $$DELETE FROM gov_au.invoice WHERE no = 'INV-2'$$), 'ok',
          'but deletes an invoice (a rule on columns watches UPDATE unless it names DELETE)');

SELECT * FROM finish();
SELECT concord.write_rule_drop('tap_gov_au_amount') AS wd \gset
DELETE FROM concord.outbox WHERE endpoint = 'tap_gov_au_anchor';
DELETE FROM concord.endpoint WHERE name = 'tap_gov_au_anchor';
\if :add_allow
SELECT concord.http_disallow_host('127.0.0.1', :'sp'::int) IS NOT NULL AS disallowed \gset
\endif
SELECT pg_temp.clean_up('gov_au', 'tap_gov_au_', :'roles', false) IS NULL AS clean \gset
