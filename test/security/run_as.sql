-- security: user SQL that concord runs for someone (alert checks, in the
-- worker too, and definitions checked as their definer) runs as that
-- someone in a way it cannot undo: a function that tries RESET ROLE, SET
-- ROLE, SET SESSION AUTHORIZATION or set_config('role') stays who it was.
SET client_min_messages = warning;
\ir hostile.psql
SELECT plan(23);

CREATE SCHEMA tap_sec_data;
GRANT USAGE, CREATE ON SCHEMA tap_sec_data TO PUBLIC;

-- a member's function that tries every way back to the session's user,
-- and says so (an error: the check is read-only) if one worked
SELECT is(pg_temp.as_login('tap_sec_flow', $q$
  CREATE TABLE tap_sec_data.ticket (id pg_catalog.int4, status pg_catalog.text);
  INSERT INTO tap_sec_data.ticket VALUES (1, 'open');
  CREATE FUNCTION tap_sec_data.escape() RETURNS pg_catalog.int4 LANGUAGE plpgsql AS $f$
  DECLARE
    t pg_catalog.text;
  BEGIN
    FOREACH t IN ARRAY ARRAY['RESET ROLE', 'SET ROLE NONE', 'SET ROLE postgres', 'SET LOCAL ROLE postgres',
                             'RESET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION postgres',
                             'SELECT pg_catalog.set_config(''role'', ''postgres'', false)',
                             'SELECT pg_catalog.set_config(''role'', ''none'', true)',
                             'SELECT pg_catalog.set_config(''session_authorization'', ''postgres'', false)'] LOOP
      BEGIN
        EXECUTE t;
      EXCEPTION WHEN OTHERS THEN
        NULL;
      END;
      IF current_user OPERATOR(pg_catalog.<>) 'tap_sec_flow'
         OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        RAISE EXCEPTION 'ESCAPED by % to %', t, current_user;
      END IF;
    END LOOP;
    RETURN 1;
  END $f$;
  SELECT 1$q$), 'ok', 'a member''s function that tries to change role');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_create('tap_sec_escape',
    query => 'SELECT id FROM tap_sec_data.ticket WHERE status = ''open'' AND tap_sec_data.escape() = 1', every => '1 second')$$),
  'ok', 'an alert whose query calls it (checked as its definer: planned, not run)');
SELECT is((SELECT owner::text FROM concord.alert_rule WHERE name = 'tap_sec_escape'), 'tap_sec_flow',
  'the alert''s owner is its definer, recorded by the API');

-- checked by its owner
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_check('tap_sec_escape')$$), 'ok',
  'checked by its owner, the function stays her');
SELECT is((SELECT detail ->> 'count' FROM concord.alert_event WHERE rule = 'tap_sec_escape' AND resolved_at IS NULL), '1',
  'and the check found the open ticket');

-- checked as the worker checks it: from a superuser's session.  Made due
-- and checked in one transaction: alert_enable locks the alert's row, so
-- the background worker (the alert is due every second) cannot check it
-- in between and leave this round nothing to do.
BEGIN;
SELECT concord.alert_enable('tap_sec_escape', true) AS due \gset
SELECT is(concord.alert_run_due() >= 1, true, 'checked by the worker''s round in a superuser''s session');
COMMIT;
SELECT is((SELECT last_error FROM concord.alert_rule WHERE name = 'tap_sec_escape'), NULL,
  'where it stays the alert''s owner too (no ESCAPED error)');

-- and by the worker itself
UPDATE concord.alert_rule SET next_check_at = now(), last_check_at = NULL WHERE name = 'tap_sec_escape';
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.eventually($$SELECT last_check_at IS NOT NULL FROM concord.alert_rule WHERE name = 'tap_sec_escape'$$, 30),
          'the background worker checked the alert');
SELECT is((SELECT last_error FROM concord.alert_rule WHERE name = 'tap_sec_escape'), NULL,
          'as its owner, whatever the query tried');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_sec_flow'), false, 'the member is no superuser');

-- what the check can do: nothing that stays
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_create('tap_sec_write',
    query => 'SELECT 1 FROM tap_sec_data.ticket WHERE pg_catalog.nextval(''tap_sec.hit'') > 0')$$), 'ok',
  'an alert whose query writes (a sequence)');
SELECT alike(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_check('tap_sec_write')$$),
  '25006: cannot execute nextval() in a read-only transaction%', 'is checked read-only');

-- nobody runs a query as another through concord
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.eval_as('postgres', 'SELECT 1')$$),
  '42501: permission denied for function eval_as', 'eval_as is concord''s own');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.alert_check('tap_sec_escape')$$),
  '42501: alert "tap_sec_escape" belongs to "tap_sec_flow"', 'another member cannot check (run) her alert');

-- an event rule's actions run as its definer, fired by whoever writes
-- the table: a trigger on the table its action inserts into stays her too
SELECT is(pg_temp.as_login('tap_sec_flow', $q$
  CREATE TABLE tap_sec_data.contract (id pg_catalog.int4 PRIMARY KEY, status pg_catalog.text);
  CREATE TABLE tap_sec_data.task (contract_id pg_catalog.int4);
  CREATE FUNCTION tap_sec_data.task_check() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    PERFORM tap_sec_data.escape();
    RETURN NEW;
  END $f$;
  CREATE TRIGGER task_check BEFORE INSERT ON tap_sec_data.task FOR EACH ROW EXECUTE FUNCTION tap_sec_data.task_check();
  GRANT INSERT ON tap_sec_data.contract TO tap_sec_flow2;
  SELECT concord.event_rule_create('tap_sec_task', 'tap_sec_data.contract', '{insert}', NULL,
                            '[{"insert": "tap_sec_data.task", "values": {"contract_id": "$new.id"}}]')$q$),
  'ok', 'an event rule whose action inserts into a table with her trigger');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$INSERT INTO tap_sec_data.contract VALUES (1, '已签约')$$), 'ok',
  'fired by another member, the action and the trigger stay its definer (no ESCAPED)');
SELECT is((SELECT count(*)::int FROM tap_sec_data.task), 1, 'and the task is there');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.event_rule_drop('tap_sec_task')$$), 'ok', '(dropped)');

-- identity reads a registered view with its registrar's rights: a
-- function in it stays her, whatever it tries
SELECT is(pg_temp.as_login('tap_sec_identity', $q$
  CREATE FUNCTION tap_sec_data.name_of(v pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $f$
  DECLARE
    t pg_catalog.text;
  BEGIN
    FOREACH t IN ARRAY ARRAY['RESET ROLE', 'SET ROLE postgres', 'SET SESSION AUTHORIZATION postgres',
                             'SELECT pg_catalog.set_config(''role'', ''postgres'', false)'] LOOP
      BEGIN
        EXECUTE t;
      EXCEPTION WHEN OTHERS THEN
        NULL;
      END;
      IF current_user OPERATOR(pg_catalog.<>) 'tap_sec_identity'
         OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        RAISE EXCEPTION 'ESCAPED by % to %', t, current_user;
      END IF;
    END LOOP;
    RETURN v;
  END $f$;
  CREATE TABLE tap_sec_data.people (id pg_catalog.int8 PRIMARY KEY, name pg_catalog.text, phone pg_catalog.text);
  INSERT INTO tap_sec_data.people VALUES (1, '张伟', '13800138000'), (2, '张 伟', '13800138000');
  CREATE VIEW tap_sec_data.people_v AS SELECT id, tap_sec_data.name_of(name) AS name, phone FROM tap_sec_data.people;
  SELECT concord.identity_source_create('tap_sec_people', 'tap_sec_data.people_v', 'id',
                                     '{"name": "name", "phone": "phone"}', track_changes => false);
  SELECT concord.resolve()$q$), 'ok', 'resolve reads a view source as its registrar: its function stays her');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE source = 'tap_sec_people'), 1,
          'and the two rows became one customer');
SELECT is(pg_temp.as_login('tap_sec_identity', $$SELECT concord.identity_source_drop('tap_sec_people')$$), 'ok', '(dropped)');

-- a stored mask rewrites the table as concord's owner: never into a
-- domain, whose checks are someone's code
SELECT is(pg_temp.as_login('tap_sec_policy', $q$
  CREATE DOMAIN tap_sec_data.phone AS pg_catalog.text CHECK (tap_sec.trap('domain check of a stored mask'));
  CREATE TABLE tap_sec_data.contact (id pg_catalog.int4 PRIMARY KEY, phone tap_sec_data.phone);
  INSERT INTO tap_sec_data.contact VALUES (1, '13800138000');
  SELECT concord.column_mask_create('tap_sec_data.contact', 'phone', 'concord.mask_phone(phone)', store => true)$q$),
  '42804: invalid mask of tap_sec_data.contact.phone: it gives text, the column is tap_sec_data.phone',
  'a mask of a domain column is refused (mask_store would refuse it too: it rewrites only built-in types)');
SELECT is(pg_temp.hits(), 0::bigint, 'and no domain check ran as concord''s owner');

SELECT * FROM finish();
DELETE FROM concord.alert_rule WHERE name LIKE 'tap_sec_%';
