-- flow: an event rule's NOTIFY reaches a session listening on its channel
-- when the changing transaction commits, with the payload's template
-- filled in; a change rolled back sends nothing.  Committed (NOTIFY is
-- delivered at commit); cleaned before and after.
SET client_min_messages = warning;
SELECT plan(4);
\ir ../policy/setup.psql
CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM concord.event_rule WHERE name = 't_rn_signed') THEN
    PERFORM concord.event_rule_drop('t_rn_signed');
  END IF;
  DROP SCHEMA IF EXISTS t_rn CASCADE;
END $$;
SELECT pg_temp.clean() IS NULL AS c \gset

CREATE SCHEMA t_rn;
CREATE TABLE t_rn.contract (contract_no text PRIMARY KEY, customer text, status text);
INSERT INTO t_rn.contract VALUES ('HT-7', '张伟', '审批中'), ('HT-8', '王芳', '审批中');
SELECT concord.event_rule('t_rn_signed', 't_rn.contract', '{update}', $$NEW.status = '已签约'$$,
  $$[{"notify": "t_rn_contracts", "payload": {"contract": "$new.contract_no", "customer": "$new.customer", "op": "$op"}}]$$) AS r \gset

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
SELECT is((SELECT extra FROM got), '{"contract": "HT-7", "customer": "张伟", "op": "update"}'::jsonb,
          'with the payload''s template filled in from NEW');
SELECT is((SELECT outcomes FROM concord.event_firing WHERE rule = 't_rn_signed'),
          '[{"notify": "t_rn_contracts"}]'::jsonb, 'and the firing is recorded once');

SELECT * FROM finish();
SELECT dblink_disconnect('t_rn_listener') AS ld \gset
SELECT pg_temp.clean() IS NULL AS c \gset
