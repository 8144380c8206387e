-- flow: an event rule's NOTIFY reaches a session listening on its channel
-- when the changing transaction commits, with the payload's template
-- filled in; a change rolled back sends nothing.  Any role may LISTEN, so
-- a payload may name the row (its primary key) and nothing else of it:
-- other columns, of NEW or OLD, are refused when the rule is defined.
-- Committed (NOTIFY is delivered at commit); cleaned before and after.
SET client_min_messages = warning;
SELECT plan(9);
\ir ../policy/setup.psql
CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM concord.event_rule WHERE name = 't_rn_signed') THEN
    PERFORM concord.event_rule_drop('t_rn_signed');
  END IF;
  IF EXISTS (SELECT 1 FROM concord.event_rule WHERE name = 't_rn_leak') THEN
    PERFORM concord.event_rule_drop('t_rn_leak');
  END IF;
  DROP SCHEMA IF EXISTS t_rn CASCADE;
  -- (firings stay recorded after their rule is dropped: a run's own only)
  DELETE FROM concord.event_firing WHERE rule LIKE 't\_rn\_%';
END $$;
SELECT pg_temp.clean() IS NULL AS c \gset

CREATE SCHEMA t_rn;
CREATE TABLE t_rn.contract (contract_no text PRIMARY KEY, customer text, status text);
INSERT INTO t_rn.contract VALUES ('HT-7', '张伟', '审批中'), ('HT-8', '王芳', '审批中');
CREATE TABLE t_rn.note (body text);
-- The rules are defined by a role holding concord_flow alone, which may
-- put triggers on the tables (docs/flow.md); the tables and their changes
-- are their owner's.  Committed; dropped at the end.
DROP ROLE IF EXISTS tap_rn_flow;
CREATE ROLE tap_rn_flow IN ROLE concord_flow;
GRANT USAGE ON SCHEMA t_rn TO tap_rn_flow;
GRANT TRIGGER ON t_rn.contract, t_rn.note TO tap_rn_flow;
SET ROLE tap_rn_flow;
SELECT concord.event_rule_create('t_rn_signed', 't_rn.contract', '{update}', $$NEW.status = '已签约'$$,
  $$[{"notify": "t_rn_contracts", "payload": {"contract": "$new.contract_no", "op": "$op", "what": "签约"}}]$$) AS r \gset

-- values other than the key are refused, whichever way they are named
SELECT throws_ok($$SELECT concord.event_rule_create('t_rn_leak', 't_rn.contract', '{update}', NULL,
  '[{"notify": "t_rn_contracts", "payload": {"contract": "$new.contract_no", "customer": "$new.customer"}}]')$$,
  '42501', 'the NOTIFY payload of rule "t_rn_leak" names columns customer of t_rn.contract, which are not its primary key',
  'a NOTIFY payload with a value of NEW is refused');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rn_leak', 't_rn.contract', '{update}', NULL,
  '[{"notify": "t_rn_contracts", "payload": {"was": ["x", {"deep": "$old.status"}]}}]')$$,
  '42501', 'the NOTIFY payload of rule "t_rn_leak" names columns status of t_rn.contract, which are not its primary key',
  'and one of OLD, nested in an array');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rn_leak', 't_rn.note', '{insert}', NULL,
  '[{"notify": "t_rn_notes", "payload": {"body": "$new.body"}}]')$$,
  '42501', NULL, 'a table without a primary key: no column may be named');
SELECT is((SELECT count(*) FROM concord.event_rule WHERE name = 't_rn_leak'), 0::bigint,
          'no refused rule was kept');
SELECT lives_ok($$SELECT concord.event_rule_create('t_rn_leak', 't_rn.note', '{insert}', NULL,
  '[{"notify": "t_rn_notes", "payload": {"table": "$table", "op": "$op"}}, {"notify": "t_rn_notes"}]')$$,
  'the rule''s name, table and operation, and constants, may be sent');

RESET ROLE;
SELECT dblink_connect('t_rn_listener', current_setting('concord_test.conn')) AS lc \gset
SELECT dblink_exec('t_rn_listener', 'LISTEN t_rn_contracts') AS l \gset
CREATE TEMP TABLE got (extra jsonb);
CREATE FUNCTION pg_temp.heard(limit_s float8) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..ceil(limit_s * 20)::int LOOP
    INSERT INTO got SELECT extra::jsonb FROM dblink_get_notify('t_rn_listener') WHERE notify_name = 't_rn_contracts';
    IF EXISTS (SELECT 1 FROM got) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;

BEGIN;
UPDATE t_rn.contract SET status = '已签约' WHERE contract_no = 'HT-8';
ROLLBACK;
SELECT is(pg_temp.heard(1), false, 'a signature rolled back: the listener hears nothing');

UPDATE t_rn.contract SET status = '已签约' WHERE contract_no = 'HT-7';
SELECT is(pg_temp.heard(5), true, 'a signature committed: the listener hears it');
SELECT is((SELECT extra FROM got), '{"contract": "HT-7", "op": "update", "what": "签约"}'::jsonb,
          'with the payload''s template filled in from NEW');
SELECT is((SELECT outcomes FROM concord.event_firing WHERE rule = 't_rn_signed'),
          '[{"notify": "t_rn_contracts"}]'::jsonb, 'and the firing is recorded once');

SELECT * FROM finish();
SELECT dblink_disconnect('t_rn_listener') AS ld \gset
SELECT pg_temp.clean() IS NULL AS c \gset
DROP ROLE tap_rn_flow;
