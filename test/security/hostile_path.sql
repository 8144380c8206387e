-- security: nothing concord runs with more rights than its caller (SECURITY
-- DEFINER functions, API functions that run as concord's owner, statements
-- run as the owner of concord's tables, triggers that queue changes) ever
-- resolves an operator, function, type or relation through the caller's
-- search_path, or converts a value with a cast the caller made.  Each role
-- logs in (dblink) with search_path = tap_evil, pg_temp, pg_catalog and
-- look-alikes of pg_catalog's operators, functions and types in tap_evil
-- and in pg_temp, each a trap that counts when it runs with rights other
-- than its session's; every elevated function of concord must have been
-- called, and no trap sprung.
SET client_min_messages = warning;
\ir hostile.psql
SELECT plan(44);

SELECT current_setting('concord_test.stub_url') AS u, current_setting('concord_test.stub_port') AS p \gset
SELECT NOT EXISTS (SELECT 1 FROM concord.http_allow WHERE host_pattern = '127.0.0.1' AND port = :'p'::int) AS add_allow \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset

-- every elevated function of concord, with its calls counted from now
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['tap_sec_http', 'tap_sec_sync', 'tap_sec_identity', 'tap_sec_policy', 'tap_sec_metric',
                           'tap_sec_flow', 'tap_sec_flow2', 'tap_sec_admin', 'tap_sec_plain', 'tap_sec_all'] LOOP
    EXECUTE format('ALTER ROLE %I SET track_functions = ''all''', r);
  END LOOP;
END $$;
ALTER ROLE tap_sec_http SET concord.http_log = on;
CREATE TEMP TABLE elevated AS
  SELECT p.oid::regprocedure AS fn FROM pg_proc p
   WHERE p.pronamespace = 'concord'::regnamespace
     AND (p.prosecdef OR 'concord.run_as=owner' = ANY (coalesce(p.proconfig, '{}')))
     -- (the Citus mirror's trigger exists only where Citus does: test/citus)
     AND p.proname <> 'citus_mirror';
SELECT pg_stat_reset_single_function_counters(fn::oid) FROM elevated;

-- the data the roles own (a schema each may create in)
CREATE SCHEMA tap_sec_data;
GRANT USAGE, CREATE ON SCHEMA tap_sec_data TO PUBLIC;

------------------------------------------------------------------------------
-- member() and member_in(): the member table read as its owner
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_admin', $$
  SELECT concord.department_create('tap_sec_east', admin => 'tap_sec_policy');
  SELECT concord.department_create('tap_sec_sh', 'tap_sec_east');
  SELECT concord.department_create('tap_sec_tmp', 'tap_sec_east');
  SELECT concord.department_drop('tap_sec_tmp');
  SELECT concord.member_create('tap_sec_plain', 'tap_sec_sh', 'rep', '{"region": "华东"}');
  SELECT concord.member_create('tap_sec_flow2', 'tap_sec_sh');
  SELECT concord.member_drop('tap_sec_flow2')$$), 'ok',
  'concord_admin: department_add, department_drop, member_set, member_drop');
SELECT is(pg_temp.as_login('tap_sec_plain', $q$
  DO $d$ BEGIN
    IF concord.member('region') IS DISTINCT FROM '华东' OR concord.member('department') IS DISTINCT FROM 'tap_sec_sh'
       OR concord.member('title') IS DISTINCT FROM 'rep' OR NOT concord.member_in('tap_sec_east')
       OR concord.member_in('tap_sec_nowhere') THEN
      RAISE EXCEPTION 'wrong answer';
    END IF;
  END $d$ $q$), 'ok', 'member() and member_in() answer right under a hostile search_path');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_sec_plain'), false, 'and the member is no superuser');

------------------------------------------------------------------------------
-- flow: endpoints, the outbox, event rules, alerts
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_flow', format($$SELECT concord.endpoint_create('tap_sec_ep', %L,
    headers => '{"X-Dept": "sales"}', senders => '{tap_sec_admin}', unsigned => true)$$, :'u' || '/echo')), 'ok', 'endpoint_define');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.endpoint_sendable('tap_sec_ep', 'tap_sec_flow')$$), 'ok',
  'endpoint_sendable');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.outbox_enqueue('tap_sec_ep', '{"合同": "HT-1"}', 'k1')$$), 'ok',
  'outbox_enqueue');
UPDATE concord.outbox SET status = 'dead' WHERE idempotency_key = 'k1' AND endpoint = 'tap_sec_ep';
SELECT is(pg_temp.as_login('tap_sec_flow', format('SELECT concord.outbox_retry(%s)',
    (SELECT id FROM concord.outbox WHERE idempotency_key = 'k1' AND endpoint = 'tap_sec_ep'))), 'ok', 'outbox_retry');
SELECT is(pg_temp.as_login('tap_sec_flow', $$
  CREATE TABLE tap_sec_data.contract (id pg_catalog.int4 PRIMARY KEY, status pg_catalog.text, amount pg_catalog.numeric);
  CREATE TABLE tap_sec_data.task (contract_id pg_catalog.int4, note pg_catalog.text);
  SELECT concord.event_rule_create('tap_sec_signed', 'tap_sec_data.contract', '{insert,update}',
    $c$NEW.status = '已签约' AND NEW.amount > 100$c$,
    '[{"webhook": "tap_sec_ep", "payload": {"id": "$new.id"}},
      {"insert": "tap_sec_data.task", "values": {"contract_id": "$new.id", "note": "开票"}},
      {"notify": "tap_sec_contracts", "payload": {"id": "$new.id"}}]')$$), 'ok', 'event_rule');
SELECT is(pg_temp.as_login('tap_sec_flow', $$INSERT INTO tap_sec_data.contract VALUES (1, '已签约', 500)$$), 'ok',
  'a change fires the rule (event_fire, event_firing_record)');
SELECT is((SELECT count(*)::int FROM tap_sec_data.task), 1, 'and its actions ran');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.event_rule_enable('tap_sec_signed', false)$$), 'ok',
  'event_rule_enable');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_create('tap_sec_big', query =>
    'SELECT id FROM tap_sec_data.contract WHERE amount > 100', channels => '[{"webhook": "tap_sec_ep"}, {"notify": "tap_sec_alerts"}]')$$),
  'ok', 'alert_rule');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_check('tap_sec_big')$$), 'ok', 'alert_check');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_enable('tap_sec_big', false)$$), 'ok', 'alert_enable');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.alert_drop('tap_sec_big')$$), 'ok', 'alert_drop');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.metrics_text()$$), 'ok', 'metrics_text');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.event_rule_drop('tap_sec_signed')$$), 'ok', 'event_rule_drop');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.endpoint_enable('tap_sec_ep', false)$$), 'ok', 'endpoint_enable');
SELECT is(pg_temp.as_login('tap_sec_flow', $$SELECT concord.endpoint_drop('tap_sec_ep', discard_pending => true)$$), 'ok', 'endpoint_drop');

------------------------------------------------------------------------------
-- sync: sources written as the owner of concord's tables
------------------------------------------------------------------------------
SELECT (concord.http_post(:'u' || '/sync/tsec/reset', '{"n": 12}'::jsonb)).status AS reset \gset
SELECT is(pg_temp.as_login('tap_sec_sync', format($$SELECT concord.source_create('tap_sec_src', %L)$$,
  jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/tsec/customers/page'),
                     'pagination', '{"type": "page_number", "size": 5, "total_path": "$.total"}'::jsonb,
                     'records', '$.data[*]',
                     'target', '{"table": "tap_sec_data.customers", "create": true, "primary_key": "id"}'::jsonb,
                     'columns', '[{"name": "id", "type": "bigint"}, {"name": "name"}, {"name": "updated_at", "type": "timestamptz"}]'::jsonb))),
  'ok', 'source_create');
SELECT is(pg_temp.as_login('tap_sec_sync', $$CALL concord.sync('tap_sec_src')$$), 'ok', 'sync');
SELECT is(pg_temp.as_login('tap_sec_sync', $$SELECT concord.source_drop('tap_sec_src', true)$$), 'ok', 'source_drop');

------------------------------------------------------------------------------
-- http: the call log written as its owner
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_http', format($$SELECT concord.http_get(%L)$$, :'u' || '/json')), 'ok',
  'http_get with the call log on');
SELECT is((SELECT count(*)::int FROM concord.http_call_log WHERE role_name = 'tap_sec_http'), 1, 'the call is logged');

------------------------------------------------------------------------------
-- identity: the queue trigger converts only built-in types
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_identity', $$
  CREATE TABLE tap_sec_data.crm (id pg_catalog.int8 PRIMARY KEY, name pg_catalog.text, phone pg_catalog.text);
  SELECT concord.identity_source_create('tap_sec_crm', 'tap_sec_data.crm', 'id', '{"name": "name", "phone": "phone"}')$$),
  'ok', 'identity_source_create (as concord_identity alone)');
SELECT is(pg_temp.as_login('tap_sec_identity', $$INSERT INTO tap_sec_data.crm VALUES (1, '张伟', '13800138000')$$), 'ok',
  'a write queues its key (identity_queue_rows)');
SELECT is((SELECT count(*)::int FROM concord.identity_queue WHERE source = 'tap_sec_crm'), 1, 'queued');
SELECT is(pg_temp.as_login('tap_sec_identity', $q$
  CREATE TABLE tap_sec_data.ticket (id pg_catalog.int4, crm_id pg_catalog.int8, opened_at pg_catalog.timestamptz, subject pg_catalog.text);
  INSERT INTO tap_sec_data.ticket VALUES (1, 1, '2026-01-03', '发票抬头');
  INSERT INTO tap_sec_data.crm VALUES (3, '王芳', '13700137000'), (4, '张 伟', '13800138000');
  SELECT concord.identity_event_create('tap_sec_ticket', 'tap_sec_data.ticket', 'tap_sec_crm', 'crm_id', 'opened_at', '工单', '{subject}');
  SELECT concord.identity_attribute_create('tap_sec_birth', 'date');
  SELECT concord.identity_survivorship_set('phone', 'most_recent');
  SELECT concord.identity_blocking_rule_create('tap_sec_rule', ARRAY['name', 'tap_sec_birth']);
  SELECT concord.identity_placeholder_set('name', '某人');
  SELECT concord.resolve();
  INSERT INTO tap_sec_data.crm VALUES (5, '李四', '13900139000');
  SELECT concord.resolve_incremental();
  SELECT concord.identity_train(apply => false);
  SELECT concord.identity_estimate_weights(100, false);
  SELECT concord.identity_placeholder_drop('name', '某人');
  SELECT concord.identity_blocking_rule_drop('tap_sec_rule');
  SELECT concord.identity_attribute_drop('tap_sec_birth');
  SELECT concord.identity_event_drop('tap_sec_ticket')$q$), 'ok',
  'identity_event_create, identity_attribute_create, identity_survivorship_set, identity_blocking_rule_create, identity_placeholder_set, resolve (with a timeline), resolve_incremental, identity_train, identity_estimate_weights, identity_placeholder_drop, identity_blocking_rule_drop, identity_attribute_drop, identity_event_drop');
-- the table's owner gives the key a type of her own, with a cast to text
SELECT is(pg_temp.as_login('tap_sec_identity', $$
  CREATE TYPE tap_sec_data.key AS (v pg_catalog.int8);
  CREATE FUNCTION tap_sec_data.key_text(tap_sec_data.key) RETURNS pg_catalog.text LANGUAGE sql
    AS 'SELECT CASE WHEN tap_sec.trap(''cast key -> text'') THEN ($1).v::text END';
  CREATE CAST (tap_sec_data.key AS pg_catalog.text) WITH FUNCTION tap_sec_data.key_text(tap_sec_data.key);
  ALTER TABLE tap_sec_data.crm ALTER COLUMN id TYPE tap_sec_data.key USING ROW(id)::tap_sec_data.key$$), 'ok',
  'the owner of a tracked table changes its key to a type with her own cast');
SELECT is(pg_temp.as_login('tap_sec_identity', $$INSERT INTO tap_sec_data.crm VALUES (ROW(2), '李娜', '13900139000')$$),
  '42804: column "id" of relation tap_sec_data.crm has type tap_sec_data.key, which concord does not convert with its own rights',
  'a write is then refused, the cast not run');
SELECT is(pg_temp.as_login('tap_sec_identity', $$SELECT concord.identity_source_drop('tap_sec_crm')$$), 'ok',
  'identity_source_drop');

------------------------------------------------------------------------------
-- metric: a rollup's change notes convert only built-in types
------------------------------------------------------------------------------
SELECT is(pg_temp.as_login('tap_sec_metric', $$
  CREATE TABLE tap_sec_data.orders (id pg_catalog.int4 PRIMARY KEY, amount pg_catalog.numeric, ordered_at pg_catalog.timestamptz);
  INSERT INTO tap_sec_data.orders VALUES (1, 10, '2026-01-01');
  SELECT concord.model_create('tap_sec_orders', 'tap_sec_data.orders', 'ordered_at');
  SELECT concord.metric_create('tap_sec_revenue', 'simple', model => 'tap_sec_orders', agg => 'sum', expr => 'amount');
  SELECT concord.metric_rollup_create('tap_sec_rev_daily', '{tap_sec_revenue}');
  INSERT INTO tap_sec_data.orders VALUES (2, 20, '2026-01-02')$$), 'ok', 'a rollup notes a change (metric_rollup_note)');
SELECT is(pg_temp.as_login('tap_sec_metric', $$
  CREATE TABLE tap_sec_data.shop (id pg_catalog.int4 PRIMARY KEY, city pg_catalog.text);
  ALTER TABLE tap_sec_data.orders ADD COLUMN shop_id pg_catalog.int4;
  SELECT concord.model_create('tap_sec_shops', 'tap_sec_data.shop', dimensions => '{"city": "city"}');
  SELECT concord.model_join('tap_sec_orders', 'tap_sec_shops', 'shop_id', 'id');
  SELECT concord.metric_certify('tap_sec_revenue');
  SELECT concord.metric_publish('tap_sec_rev_by_city', '{tap_sec_revenue}', '{city}', schema_name => 'tap_sec_pub');
  SELECT concord.metric_rollup_drop('tap_sec_rev_daily');
  SELECT concord.metric_create('tap_sec_revenue2', 'simple', model => 'tap_sec_orders', agg => 'count');
  SELECT concord.metric_drop('tap_sec_revenue2')$$), 'ok',
  'model_join, metric_certify, metric_publish, metric_rollup_drop, metric_drop');
SELECT is(pg_temp.as_login('tap_sec_metric', $$DROP VIEW tap_sec_pub.tap_sec_rev_by_city;
  SELECT concord.model_drop('tap_sec_shops')$$), 'ok', 'the publication''s owner drops its view; model_drop');

------------------------------------------------------------------------------
-- policy: time-bound access, decided and checked as concord's owner
------------------------------------------------------------------------------
SELECT concord.member_create('tap_sec_policy', 'tap_sec_east', 'admin', '{"approver": true}') AS m2 \gset
SELECT is(pg_temp.as_login('tap_sec_policy', $$SELECT concord.member_create('tap_sec_identity', 'tap_sec_sh')$$), 'ok',
  'a department''s admin sets a member of it');
SELECT is(pg_temp.as_login('tap_sec_policy', $q$
  CREATE TABLE tap_sec_data.customer (id pg_catalog.int4 PRIMARY KEY, region pg_catalog.text, name pg_catalog.text);
  INSERT INTO tap_sec_data.customer VALUES (1, '华东', '张伟'), (2, '华北', '王芳');
  GRANT SELECT ON tap_sec_data.customer TO tap_sec_plain;
  SELECT concord.row_policy_create('tap_sec_region', 'tap_sec_data.customer', $p$region = concord.member('region')$p$)$q$),
  'ok', 'row_policy');
SELECT is(pg_temp.as_login('tap_sec_policy', $q$
  SELECT concord.column_mask_create('tap_sec_data.customer', 'name', 'concord.mask_name(name)', $v$concord.member_in('tap_sec_east')$v$);
  SELECT concord.audit_table_create('tap_sec_data.customer');
  SELECT concord.write_rule_create('tap_sec_wr', 'tap_sec_data.customer', $p$region = concord.member('region')$p$);
  UPDATE tap_sec_data.customer SET name = '张伟伟' WHERE id = 1$q$),
  'ok', 'column_mask, audit_table, write_rule, and a write through them');
SELECT is(pg_temp.as_login('tap_sec_plain', $$SELECT concord.access_request('tap_sec_data.customer', $p$region = '华北'$p$,
  '核对华北的发票', pg_catalog.now() OPERATOR(pg_catalog.+) '1 day'::pg_catalog.interval)$$), 'ok', 'access_request');
SELECT is(pg_temp.as_login('tap_sec_policy', format('SELECT concord.access_approve(%s)',
  (SELECT max(id) FROM concord.access_request WHERE role_name = 'tap_sec_plain'))), 'ok', 'access_approve (access_decide)');
SELECT is(pg_temp.as_login('tap_sec_plain', $q$DO $d$ BEGIN
    IF (SELECT pg_catalog.count(*) FROM tap_sec_data.customer_governed) OPERATOR(pg_catalog.<>) 2 THEN RAISE EXCEPTION 'not granted'; END IF;
  END $d$ $q$), 'ok', 'the grant shows the rows (access_active)');
SELECT is(pg_temp.as_login('tap_sec_policy', $$SELECT concord.access_tidy()$$), 'ok', 'access_tidy');
SELECT is(pg_temp.as_login('tap_sec_policy', $$
  SELECT concord.write_rule_drop('tap_sec_wr');
  SELECT concord.column_mask_drop('tap_sec_data.customer', 'name');
  SELECT concord.row_policy_drop('tap_sec_region')$$), 'ok', 'write_rule_drop, column_mask_drop, row_policy_drop');

------------------------------------------------------------------------------
-- nothing ran with rights it should not have had
------------------------------------------------------------------------------
SELECT is(pg_temp.hits(), 0::bigint, 'no look-alike ran with rights other than its session''s');
SELECT pg_stat_clear_snapshot();
SELECT is((SELECT string_agg(e.fn::text, ', ' ORDER BY e.fn::text) FROM elevated e
            LEFT JOIN pg_stat_user_functions s ON s.funcid = e.fn::oid
           WHERE coalesce(s.calls, 0) = 0),
          NULL, 'every elevated function of concord was called by a hostile session');

SELECT * FROM finish();

-- leave nothing behind
DROP SCHEMA IF EXISTS tap_sec_pub CASCADE;
SELECT concord.metric_publication_tidy() IS NULL AS t1 \gset
DELETE FROM concord.metric WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.metric_model WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.row_policy WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.access_request WHERE role_name LIKE 'tap_sec_%';
DELETE FROM concord.member WHERE role_name LIKE 'tap_sec_%';
DELETE FROM concord.department WHERE name LIKE 'tap_sec_%' AND parent IS NOT NULL;
DELETE FROM concord.department WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.http_call_log WHERE role_name LIKE 'tap_sec_%';
\if :add_allow
SELECT concord.http_disallow_host('127.0.0.1', :'p'::int) IS NOT NULL AS disallowed \gset
\endif
