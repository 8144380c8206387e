-- security: concord's catalog is written only by concord's API, which
-- records who defined what and lets only her (or concord_admin) change it;
-- each member reads only her own objects.  Real login roles, each holding
-- only the capability role the docs give it.
SET client_min_messages = warning;
\ir hostile.psql
SELECT plan(38);

SELECT current_setting('concord_test.stub_url') AS u, current_setting('concord_test.stub_port') AS p \gset
SELECT NOT EXISTS (SELECT 1 FROM concord.http_allow WHERE host_pattern = '127.0.0.1' AND port = :'p'::int) AS add_allow \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset
CREATE SCHEMA tap_sec_data;
GRANT USAGE, CREATE ON SCHEMA tap_sec_data TO PUBLIC;
CREATE SCHEMA tap_sec_flow_data AUTHORIZATION tap_sec_flow;

------------------------------------------------------------------------------
-- No capability role holds a write privilege on concord's tables
------------------------------------------------------------------------------
SELECT is((SELECT string_agg(format('%s %s %s', r.rolname, c.relname, p.priv), ', ' ORDER BY 1)
             FROM pg_roles r
            CROSS JOIN pg_class c
            CROSS JOIN unnest(CASE WHEN c.relkind = 'S' THEN ARRAY['USAGE', 'UPDATE']
                                   ELSE ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] END) p(priv)
            WHERE r.rolname IN ('concord_http', 'concord_sync', 'concord_identity', 'concord_policy', 'concord_metric',
                                'concord_flow', 'concord_admin')
              AND c.relnamespace = 'concord'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v')
              AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(r.oid, c.oid, p.priv)
                       ELSE has_table_privilege(r.oid, c.oid, p.priv) END),
          NULL, 'no capability role may write concord''s tables or take their sequences');
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'concord'::regnamespace AND c.relkind IN ('r', 'p')) >= 40,
          true, '(of at least 40 tables)');

-- and a role holding all of them, logged in, is refused every write
SELECT is((SELECT string_agg(x.t || ': ' || x.res, '; ' ORDER BY x.t)
             FROM (SELECT c.relname || ' ' || w.verb AS t,
                          pg_temp.as_login('tap_sec_all', format(w.sql, 'concord.' || quote_ident(c.relname),
                            (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                               AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1))) AS res
                     FROM pg_class c
                    CROSS JOIN (VALUES ('insert', 'INSERT INTO %s DEFAULT VALUES'),
                                       ('update', 'UPDATE %1$s SET %2$I = %2$I'),
                                       ('delete', 'DELETE FROM %s'),
                                       ('truncate', 'TRUNCATE %s')) w(verb, sql)
                    WHERE c.relnamespace = 'concord'::regnamespace AND c.relkind IN ('r', 'p')) x
            WHERE x.res NOT LIKE '42501: permission denied for table %'),
          NULL, 'a login role holding every capability role is refused INSERT, UPDATE, DELETE and TRUNCATE on each table');

------------------------------------------------------------------------------
-- flow: objects belong to their definer
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_flow', format($$SELECT concord.endpoint_create('tap_sec_sales', %L, unsigned => true)$$, :'u' || '/echo')),
  'ok', '销售''s flow member defines an endpoint');
SELECT is((SELECT defined_by::text FROM concord.endpoint WHERE name = 'tap_sec_sales'), 'tap_sec_flow',
  'recorded as its owner');
SELECT is(pg_temp.as_login('tap_sec_flow2', format($$SELECT concord.endpoint_create('tap_sec_sales', %L, unsigned => true)$$, :'u' || '/evil')),
  '42501: endpoint "tap_sec_sales" belongs to "tap_sec_flow"', '财务''s flow member cannot redefine it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.outbox_enqueue('tap_sec_sales', '{"x": 1}')$$),
  '42501: permission denied to send to endpoint "tap_sec_sales"', 'nor send to it');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.outbox_enqueue('tap_sec_sales', '{"合同": "HT-9", "金额": 100}', 'k9')$$),
  'ok', 'its owner sends a message');
SELECT is(pg_temp.as_login('tap_sec_flow2', $q$DO $d$ BEGIN
    IF EXISTS (SELECT 1 FROM concord.outbox WHERE endpoint OPERATOR(pg_catalog.=) 'tap_sec_sales')
       OR EXISTS (SELECT 1 FROM concord.endpoint WHERE name OPERATOR(pg_catalog.=) 'tap_sec_sales') THEN
      RAISE EXCEPTION 'sees them';
    END IF; END $d$ $q$), 'ok', 'another member sees neither the endpoint nor its messages');
SELECT is(pg_temp.as_login('tap_sec_flow2', $q$DO $d$ BEGIN
    IF EXISTS (SELECT 1 FROM concord.monitor_outbox WHERE endpoint OPERATOR(pg_catalog.=) 'tap_sec_sales') THEN
      RAISE EXCEPTION 'sees it';
    END IF; END $d$ $q$), 'ok', 'nor its line in monitor_outbox');
SELECT is(pg_temp.as_login('tap_sec_flow', $q$DO $d$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM concord.outbox WHERE endpoint OPERATOR(pg_catalog.=) 'tap_sec_sales' AND payload ->> '合同' OPERATOR(pg_catalog.=) 'HT-9') THEN
      RAISE EXCEPTION 'does not see it';
    END IF; END $d$ $q$), 'ok', 'its owner reads the message');
UPDATE concord.outbox SET status = 'dead' WHERE idempotency_key = 'k9';
SELECT is(pg_temp.as_login('tap_sec_flow2', format('SELECT concord.outbox_retry(%s)', (SELECT id FROM concord.outbox WHERE idempotency_key = 'k9'))),
  format('42704: no outbox message %s', (SELECT id FROM concord.outbox WHERE idempotency_key = 'k9')),
  'another member cannot retry it (as if it did not exist)');
SELECT is(pg_temp.as_login('tap_sec_flow', format($$SELECT concord.endpoint_create('tap_sec_sales', %L, senders => '{tap_sec_flow2}', unsigned => true, replace => true)$$, :'u' || '/echo')),
  'ok', 'the owner lets 财务 send');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.outbox_enqueue('tap_sec_sales', '{"发票": "FP-1"}', 'k10')$$),
  'ok', 'who may then send');
SELECT is((SELECT enqueued_by::text FROM concord.outbox WHERE idempotency_key = 'k10'), 'tap_sec_flow2', 'recorded as the sender');
SELECT is(pg_temp.as_login('tap_sec_flow2', format($$SELECT concord.endpoint_create('tap_sec_sales', %L, unsigned => true)$$, :'u' || '/evil')),
  '42501: endpoint "tap_sec_sales" belongs to "tap_sec_flow"', 'but still not redefine it');

-- event rules
SELECT is(pg_temp.as_login('tap_sec_flow', $q$
  CREATE TABLE tap_sec_flow_data.contract (id pg_catalog.int4 PRIMARY KEY, status pg_catalog.text);
  SELECT concord.event_rule_create('tap_sec_rule', 'tap_sec_flow_data.contract', '{insert}', NULL,
                            '[{"webhook": "tap_sec_sales", "payload": {"id": "$new.id"}}]')$q$), 'ok', 'an event rule');
SELECT is((SELECT defined_by::text || ' ' || (SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'rule_tap_sec_rule')
             FROM concord.event_rule WHERE name = 'tap_sec_rule'), 'tap_sec_flow tap_sec_flow',
  'owned by its definer, and so is its trigger function');
SELECT is(pg_temp.as_login('tap_sec_flow2', $q$
  CREATE TABLE tap_sec_data.evil (id pg_catalog.int4);
  SELECT concord.event_rule_create('tap_sec_rule', 'tap_sec_data.evil', '{insert}', NULL, '[{"notify": "x"}]')$q$),
  '42501: event rule "tap_sec_rule" belongs to "tap_sec_flow"', 'another member cannot redefine it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.event_rule_enable('tap_sec_rule', false)$$),
  '42704: unknown event rule "tap_sec_rule"', 'nor disable it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.event_rule_drop('tap_sec_rule')$$),
  '42501: event rule "tap_sec_rule" belongs to "tap_sec_flow"', 'nor drop it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.event_fire('tap_sec_rule', 'insert', '{"id": 1}', NULL)$$),
  '42704: unknown event rule "tap_sec_rule"', 'nor fire it with a row of her choosing');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.event_firing_record('tap_sec_rule', 'insert', '{"id": 1}', '[]')$$),
  '42704: unknown event rule "tap_sec_rule"', 'nor record a firing of it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$CREATE FUNCTION concord_rules.rule_mine() RETURNS int LANGUAGE sql AS 'SELECT 1'$$),
  '42501: permission denied for schema concord_rules', 'nor put a function among the rules''');
SELECT is(pg_temp.as_login('tap_sec_flow', $q$
  GRANT USAGE ON SCHEMA tap_sec_flow_data TO tap_sec_flow2;
  GRANT SELECT, INSERT ON tap_sec_flow_data.contract TO tap_sec_flow2$q$), 'ok', '(she may read and write the table)');
SELECT is(pg_temp.as_login('tap_sec_flow2', $q$
  SELECT concord.event_rule_create('tap_sec_rule2', 'tap_sec_flow_data.contract', '{insert}', NULL, '[{"notify": "x"}]')$q$),
  '42501: permission denied to create a trigger on tap_sec_flow_data.contract (rule "tap_sec_rule2")',
  'nor hang a rule on a table she may not trigger');

-- alerts
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_create('tap_sec_alert', query => 'SELECT 1')$$), 'ok', 'an alert');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.alert_create('tap_sec_alert', query => 'SELECT 2')$$),
  '42501: alert "tap_sec_alert" belongs to "tap_sec_flow"', 'another member cannot redefine it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.alert_enable('tap_sec_alert', false)$$),
  '42704: unknown alert "tap_sec_alert"', 'nor disable it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $$SELECT concord.alert_drop('tap_sec_alert')$$),
  '42501: alert "tap_sec_alert" belongs to "tap_sec_flow"', 'nor drop it');
SELECT is(pg_temp.as_login('tap_sec_flow2', $q$DO $d$ BEGIN
    IF EXISTS (SELECT 1 FROM concord.alert_rule WHERE name OPERATOR(pg_catalog.=) 'tap_sec_alert')
       OR EXISTS (SELECT 1 FROM concord.event_rule WHERE name OPERATOR(pg_catalog.=) 'tap_sec_rule') THEN
      RAISE EXCEPTION 'sees them';
    END IF; END $d$ $q$), 'ok', 'nor see the alert or the rule');

-- sync: a source and its runs are its owner's
SELECT (concord.http_post(:'u' || '/sync/tseccat/reset', '{"n": 3}'::jsonb)).status AS reset \gset
SELECT is(pg_temp.as_login('tap_sec_sync', format($$SELECT concord.source_create('tap_sec_cat_src', %L); CALL concord.sync('tap_sec_cat_src')$$,
  jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/tseccat/customers/page'),
                     'pagination', '{"type": "page_number", "size": 5, "total_path": "$.total"}'::jsonb,
                     'records', '$.data[*]',
                     'target', '{"table": "tap_sec_data.cat_customers", "create": true, "primary_key": "id"}'::jsonb,
                     'columns', '[{"name": "id", "type": "bigint"}, {"name": "name"}]'::jsonb))),
  'ok', '销售''s sync member defines and runs a source');
SELECT is(pg_temp.as_login('tap_sec_all', $q$DO $d$ BEGIN
    IF EXISTS (SELECT 1 FROM concord.source WHERE name OPERATOR(pg_catalog.=) 'tap_sec_cat_src')
       OR EXISTS (SELECT 1 FROM concord.sync_run WHERE source OPERATOR(pg_catalog.=) 'tap_sec_cat_src')
       OR EXISTS (SELECT 1 FROM concord.sync_state WHERE source OPERATOR(pg_catalog.=) 'tap_sec_cat_src')
       OR EXISTS (SELECT 1 FROM concord.monitor_sync WHERE source OPERATOR(pg_catalog.=) 'tap_sec_cat_src') THEN
      RAISE EXCEPTION 'sees it';
    END IF; END $d$ $q$), 'ok', 'another sync member sees neither the source nor its runs');
SELECT is(pg_temp.as_login('tap_sec_all', $$CALL concord.sync('tap_sec_cat_src')$$),
  '42501: must be the owner of source "tap_sec_cat_src" (tap_sec_sync) to run it', 'nor runs it with its owner''s credentials');
SELECT is(pg_temp.as_login('tap_sec_sync', $$SELECT concord.source_drop('tap_sec_cat_src', true)$$), 'ok', 'its owner drops it');

-- concord_admin manages everyone's
SELECT is(pg_temp.as_login('tap_sec_admin', $$SELECT concord.alert_drop('tap_sec_alert')$$), 'ok', 'concord_admin drops her alert');
SELECT is(pg_temp.as_login('tap_sec_admin', $$SELECT concord.event_rule_drop('tap_sec_rule')$$), 'ok', 'and her rule');
SELECT is(pg_temp.as_login('tap_sec_admin', $q$DO $d$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM concord.endpoint WHERE name OPERATOR(pg_catalog.=) 'tap_sec_sales') THEN
      RAISE EXCEPTION 'does not see it';
    END IF; END $d$ $q$), 'ok', 'and sees her endpoint');

SELECT * FROM finish();
DELETE FROM concord.outbox WHERE endpoint LIKE 'tap_sec_%';
DELETE FROM concord.endpoint WHERE name LIKE 'tap_sec_%';
DROP SCHEMA tap_sec_flow_data CASCADE;
\if :add_allow
SELECT concord.http_disallow_host('127.0.0.1', :'p'::int) IS NOT NULL AS disallowed \gset
\endif
