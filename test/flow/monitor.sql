-- flow: monitoring views and metrics_text() over rows made here.  All in
-- a transaction rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(10);
SELECT concord.http_allow_host('127.0.0.1', current_setting('concord_test.stub_port')::int, allow_private => true) IS NOT NULL AS a \gset
-- The views and metrics_text() are read, and the endpoint and alert made,
-- by a role holding concord_flow alone (docs/flow.md); the rows the worker
-- and the call log would hold are written here as superuser.
CREATE ROLE tap_flow_monitor IN ROLE concord_flow;
SET LOCAL ROLE tap_flow_monitor;
SELECT concord.endpoint_create('t_mon', current_setting('concord_test.stub_url') || '/hook/t_mon', unsigned => true) AS e \gset
-- rows as the worker would leave them (it cannot see this transaction's)
RESET ROLE;
INSERT INTO concord.outbox (endpoint, payload, idempotency_key, status, enqueued_at) VALUES
  ('t_mon', '{}', 'a', 'pending', now() - interval '90 seconds'), ('t_mon', '{}', 'b', 'pending', now()),
  ('t_mon', '{}', 'c', 'dead', now());
INSERT INTO concord.outbox (endpoint, payload, idempotency_key, status, delivered_at) VALUES ('t_mon', '{}', 'd', 'delivered', now());
SET LOCAL ROLE tap_flow_monitor;
SELECT results_eq($$SELECT pending, in_flight, dead, delivered_1h, extract(epoch FROM oldest_waiting)::int >= 90
                     FROM concord.monitor_outbox WHERE endpoint = 't_mon'$$,
                  $$VALUES (2::bigint, 0::bigint, 1::bigint, 1::bigint, true)$$, 'monitor_outbox: counts per state and the oldest waiting');
RESET ROLE;
INSERT INTO concord.http_call_log (method, url, status, response_bytes, elapsed_ms, role_name)
VALUES ('GET', 'https://crm.example.invalid/api/customers?page=1', 200, 1000, 10, 'tap_flow_monitor'),
       ('GET', 'https://crm.example.invalid/api/customers?page=2', 200, 3000, 30, 'tap_flow_monitor'),
       ('GET', 'https://crm.example.invalid/api/customers?page=3', 503, 0, 50, 'tap_flow_monitor');
SET LOCAL ROLE tap_flow_monitor;
SELECT results_eq($$SELECT calls, errors, p50_ms, bytes FROM concord.monitor_http WHERE host = 'crm.example.invalid'$$,
                  $$VALUES (3::bigint, 1::bigint, 30::float8, 4000::numeric)$$, 'monitor_http: calls, errors, p50 and bytes per host');
CREATE TABLE pg_temp.t (id int);
INSERT INTO pg_temp.t VALUES (1);
SELECT concord.alert_create('t_mon_alert', query => 'SELECT id FROM pg_temp.t') AS al \gset
SELECT is(concord.alert_check('t_mon_alert'), 'fired', 'an alert fires');
SELECT results_eq($$SELECT open, fired_today FROM concord.monitor_alerts WHERE alert = 't_mon_alert'$$, $$VALUES (1::bigint, 1::bigint)$$,
                  'monitor_alerts: open and fired today');
SELECT is((SELECT count(*)::int FROM concord.monitor_worker), 1, 'monitor_worker: this database''s worker');
SELECT ok(concord.metrics_text() LIKE '%concord_outbox_messages{endpoint="t_mon",state="pending"} 2' || E'\n' || '%',
          'metrics_text: the outbox in Prometheus form');
SELECT ok(concord.metrics_text() LIKE '%concord_http_calls_total{host="crm.example.invalid"} 3' || E'\n' || '%', 'the calls per host');
SELECT ok(concord.metrics_text() LIKE '%concord_alerts_open{alert="t_mon_alert",severity="warning"} 1' || E'\n' || '%', 'the open alerts');
SELECT ok(concord.metrics_text() ~ '# TYPE concord_outbox_messages gauge', 'with TYPE lines');
SELECT is((SELECT string_agg(DISTINCT f, ', ')
             FROM (SELECT substring(line FROM '^([a-z_0-9]+)') AS f
                     FROM regexp_split_to_table(concord.metrics_text(), E'\n') line WHERE line ~ '^concord_') s
            WHERE NOT concord.metrics_text() ~ ('# HELP ' || f || ' ')
               OR NOT concord.metrics_text() ~ ('# TYPE ' || f || ' (counter|gauge|summary)')),
          NULL, 'every metric has a HELP and a TYPE line');
SELECT * FROM finish();
ROLLBACK;
