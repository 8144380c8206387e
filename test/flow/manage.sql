-- flow: managing endpoints, event rules and alerts -- an existing name is
-- redefined only with replace => true; endpoints are signed unless defined
-- unsigned => true; endpoint_enable and endpoint_drop with the rights of
-- the other APIs; concord's own messages for settings out of range; a
-- resolved alert keeps what fired; metrics_text() has HELP and TYPE for
-- every metric.  As two roles holding concord_flow, in a transaction
-- rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(32);

CREATE ROLE tap_mg_ann;
CREATE ROLE tap_mg_bob;
GRANT concord_flow TO tap_mg_ann, tap_mg_bob;
CREATE SCHEMA t_mg;
GRANT USAGE ON SCHEMA t_mg TO PUBLIC;
CREATE TABLE t_mg.ticket (id int PRIMARY KEY, late boolean);
ALTER TABLE t_mg.ticket OWNER TO tap_mg_ann;
SELECT current_setting('concord_test.stub_url') AS stub, current_setting('concord_test.stub_port') AS port \gset
SELECT concord.http_allow_host('127.0.0.1', :'port'::int, allow_private => true) IS NOT NULL AS allowed \gset
SELECT concord.secret_set('t_mg_key', 'manage-key-0123456789') IS NULL AS s \gset
SELECT concord.secret_grant('t_mg_key', 'tap_mg_ann') IS NULL AS g \gset

SET ROLE tap_mg_ann;
-- endpoints: signed unless unsigned => true
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_hook', '%s/hook/t_mg_hook')$$, :'stub'), '22023',
                 'endpoint "t_mg_hook" needs a signing secret', 'an endpoint without a secret is refused');
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_hook', '%s/hook/t_mg_hook', 't_mg_key', unsigned => true)$$, :'stub'), '22023',
                 'endpoint "t_mg_hook" cannot be unsigned and have a signing secret', 'a secret and unsigned => true together are refused');
SELECT is(concord.endpoint_create('t_mg_hook', :'stub' || '/hook/t_mg_hook', 't_mg_key'), 't_mg_hook', 'an endpoint with a secret');
SELECT is(concord.endpoint_create('t_mg_open', :'stub' || '/hook/t_mg_open', unsigned => true), 't_mg_open', 'an unsigned endpoint, said so');
SELECT results_eq($$SELECT name, secret_name, unsigned FROM concord.endpoint WHERE name LIKE 't_mg_%' ORDER BY name$$,
                  $$VALUES ('t_mg_hook'::text, 't_mg_key'::text, false), ('t_mg_open', NULL, true)$$, 'as recorded');

-- an existing name: replace => true, else refused
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_hook', '%s/hook/other', 't_mg_key')$$, :'stub'), '42710',
                 'endpoint "t_mg_hook" already exists', 'defining an existing endpoint again is refused');
SELECT is(concord.endpoint_create('t_mg_hook', :'stub' || '/hook/t_mg_hook2', 't_mg_key', max_in_flight => 4, replace => true),
          't_mg_hook', 'replace => true redefines it');
SELECT is((SELECT url || ' ' || max_in_flight FROM concord.endpoint WHERE name = 't_mg_hook'), :'stub' || '/hook/t_mg_hook2 4',
          'with the new URL and settings');

-- concord's own messages for settings out of range
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_x', '%s/hook/x', unsigned => true, max_in_flight => 0)$$, :'stub'), '22023',
                 'max_in_flight of endpoint "t_mg_x" must be between 1 and 256, not 0', 'max_in_flight 0');
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_x', '%s/hook/x', unsigned => true, max_attempts => 101)$$, :'stub'), '22023',
                 'max_attempts of endpoint "t_mg_x" must be between 1 and 100, not 101', 'max_attempts 101');
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_x', '%s/hook/x', unsigned => true, timeout_ms => 50)$$, :'stub'), '22023',
                 'timeout_ms of endpoint "t_mg_x" must be between 100 and 600000, not 50', 'timeout_ms 50');
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_mg_x', '%s/hook/x', unsigned => true, timeout_ms => NULL)$$, :'stub'), '22023',
                 'timeout_ms of endpoint "t_mg_x" must be between 100 and 600000, not NULL', 'timeout_ms NULL');

-- event rules and alerts: replace => true too
SELECT is(concord.event_rule_create('t_mg_rule', 't_mg.ticket', '{insert}', NULL, '[{"webhook": "t_mg_hook"}]'), 't_mg_rule', 'an event rule');
SELECT throws_ok($$SELECT concord.event_rule_create('t_mg_rule', 't_mg.ticket', '{insert}', NULL, '[{"notify": "t_mg"}]')$$, '42710',
                 'event rule "t_mg_rule" already exists', 'defining an existing event rule again is refused');
SELECT is(concord.event_rule_create('t_mg_rule', 't_mg.ticket', '{insert,update}', NULL, '[{"webhook": "t_mg_hook"}]', replace => true),
          't_mg_rule', 'replace => true redefines it');
SELECT is((SELECT events FROM concord.event_rule WHERE name = 't_mg_rule'), '{insert,update}'::text[], 'with its new events');
SELECT is(concord.alert_create('t_mg_late', query => 'SELECT id FROM t_mg.ticket WHERE late', every => '1 minute',
                             channels => '[{"notify": "t_mg_alerts"}]'), 't_mg_late', 'an alert');
SELECT throws_ok($$SELECT concord.alert_create('t_mg_late', query => 'SELECT 1')$$, '42710',
                 'alert "t_mg_late" already exists', 'defining an existing alert again is refused');
SELECT throws_ok($$SELECT concord.alert_create('t_mg_fast', query => 'SELECT 1', every => '100 milliseconds')$$, '22023',
                 'alert "t_mg_fast" must be checked every second at most often, not every 00:00:00.1', 'an alert every 100 ms');

-- enable, disable, drop: the owner's (or concord_admin's) only
RESET ROLE;
SET ROLE tap_mg_bob;
SELECT throws_ok($$SELECT concord.endpoint_enable('t_mg_hook', false)$$, '42704', 'unknown endpoint "t_mg_hook"',
                 'another role cannot disable it (as if it did not exist)');
SELECT throws_ok($$SELECT concord.endpoint_drop('t_mg_open')$$, '42501', 'endpoint "t_mg_open" belongs to "tap_mg_ann"',
                 'nor drop it');
RESET ROLE;
SET ROLE tap_mg_ann;
SELECT is(concord.endpoint_enable('t_mg_hook', false), false, 'its owner disables it');
SELECT is((SELECT enabled FROM concord.endpoint WHERE name = 't_mg_hook'), false, 'disabled');
SELECT throws_ok($$SELECT concord.endpoint_drop('t_mg_hook')$$, '2BP01', 'endpoint "t_mg_hook" is used by event rule t_mg_rule',
                 'an endpoint an event rule sends to is not dropped');
SELECT is(concord.event_rule_drop('t_mg_rule'), true, 'the rule dropped');
SELECT concord.outbox_enqueue('t_mg_hook', '{"n": 1}') AS m \gset
SELECT throws_ok($$SELECT concord.endpoint_drop('t_mg_hook')$$, '55000', 'endpoint "t_mg_hook" has 1 message(s) not yet delivered',
                 'an endpoint with a message waiting is not dropped');
SELECT is(concord.endpoint_drop('t_mg_hook', discard_pending => true), true, 'unless its messages are discarded with it');
SELECT is((SELECT count(*)::int FROM concord.outbox WHERE endpoint = 't_mg_hook'), 0, 'they are gone');
SELECT is(concord.endpoint_drop('t_mg_hook'), false, 'dropping it again: false');

-- a resolved alert keeps what fired
INSERT INTO t_mg.ticket VALUES (1, true);
SELECT is(concord.alert_check('t_mg_late'), 'fired', 'the alert fires on a late ticket');
UPDATE t_mg.ticket SET late = false;
SELECT is(concord.alert_check('t_mg_late'), 'resolved', 'and resolves');
SELECT is((SELECT detail FROM concord.alert_event WHERE rule = 't_mg_late'), '{"count": 1, "rows": [{"id": 1}]}'::jsonb,
          'the resolved event keeps what fired');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
