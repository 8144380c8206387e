-- flow: alerts -- a ticket past its SLA fires an alert to 客服's channel
-- (DingTalk format) and NOTIFY, stays open without repeating inside its
-- cooldown, resolves when the ticket closes; a metric alert against a
-- threshold; the check runs as the owner (her row policies apply) and
-- cannot write; the worker checks due alerts.  Committed (the worker and
-- the owner's session read committed rows); cleaned before and after.
SET client_min_messages = warning;
SELECT plan(26);
\ir ../harness/backends.psql
\ir ../policy/setup.psql
\set roles '{tap_al_lead}'
CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE sql AS $$
  DELETE FROM concord.alert_rule WHERE name LIKE 't_al_%';
  DELETE FROM concord.outbox WHERE endpoint LIKE 't_al_%';
  DELETE FROM concord.endpoint WHERE name LIKE 't_al_%';
  DELETE FROM concord.http_allow WHERE note = 't_al';
  DELETE FROM concord.metric WHERE name LIKE 't_al_%';
  DELETE FROM concord.metric_model WHERE name LIKE 't_al_%';
$$;
SELECT pg_temp.clean() IS NULL AS c \gset
SELECT pg_temp.clean_up('t_al', 'tap_al_', :'roles', true) IS NULL AS c2 \gset
SELECT concord.http_allow_host('127.0.0.1', current_setting('concord_test.stub_port')::int, allow_private => true, note => 't_al') IS NOT NULL AS a \gset
SELECT concord.endpoint_create('t_al_service', current_setting('concord_test.stub_url') || '/hook/t_al_service', unsigned => true) AS e \gset
SELECT (concord.http_delete(current_setting('concord_test.stub_url') || '/received/t_al_service')).status AS forgot \gset
CREATE FUNCTION pg_temp.received() RETURNS jsonb LANGUAGE sql AS $$
  SELECT ((concord.http_get(current_setting('concord_test.stub_url') || '/received/t_al_service')).body)::jsonb -> 'received'
$$;

CREATE SCHEMA t_al;
CREATE TABLE t_al.ticket (id int PRIMARY KEY, region text, opened_at timestamptz, status text);
INSERT INTO t_al.ticket VALUES (1, '华东', now() - interval '3 days', 'open'), (2, '华东', now(), 'open'),
                               (3, '华西', now() - interval '5 days', 'open');

-- created and first checked in one transaction: a new alert is due at
-- once, and the background worker would otherwise check it first
BEGIN;
SELECT is(concord.alert_create('t_al_sla',
            query => $$SELECT id FROM t_al.ticket WHERE status = 'open' AND opened_at < now() - interval '48 hours'$$,
            severity => 'critical', every => '1 hour',
            channels => '[{"webhook": "t_al_service", "format": "dingtalk"}, {"notify": "t_al_alerts"}]',
            description => '工单超过 48 小时未处理'), 't_al_sla', 'an SLA alert');
-- another session listens on the alert's NOTIFY channel
SELECT dblink_connect('t_al_listener', current_setting('concord_test.conn')) AS lc \gset
SELECT dblink_exec('t_al_listener', 'LISTEN t_al_alerts') AS l \gset
SELECT is(concord.alert_check('t_al_sla'), 'fired', 'two tickets past their SLA: it fires');
COMMIT;
SELECT ok(pg_temp.eventually($$SELECT EXISTS (SELECT 1 FROM dblink_get_notify('t_al_listener')
                                         WHERE notify_name = 't_al_alerts' AND extra::jsonb ->> 'rule' = 't_al_sla'
                                           AND extra::jsonb ->> 'state' = 'firing')$$, 5),
          'a session listening on the channel got the NOTIFY');
SELECT dblink_disconnect('t_al_listener') AS ld \gset
SELECT is((SELECT detail -> 'count' FROM concord.alert_event WHERE rule = 't_al_sla' AND resolved_at IS NULL), '2'::jsonb,
          'the open event holds what the check found');
SELECT is(concord.alert_check('t_al_sla'), 'firing', 'checked again: still firing, not notified again inside the cooldown');
SELECT is((SELECT count(*)::int FROM concord.alert_event WHERE rule = 't_al_sla'), 1, 'one event, not two');
UPDATE t_al.ticket SET status = 'closed' WHERE id IN (1, 3);
SELECT is(concord.alert_check('t_al_sla'), 'resolved', 'the tickets closed: resolved');
SELECT is(concord.alert_check('t_al_sla'), 'ok', 'and then all is well');
SELECT ok(pg_temp.eventually($$SELECT jsonb_array_length(pg_temp.received()) = 2$$, 10),
          'the receiver got two messages: fired and resolved');
-- (the worker delivers to an endpoint in parallel: either may arrive first)
SELECT is((SELECT m ->> 'body' FROM jsonb_array_elements(pg_temp.received()) m
            WHERE m ->> 'body' LIKE '%t\_al\_sla: firing%'),
          '{"text": {"content": "[CRITICAL] t_al_sla: firing\n工单超过 48 小时未处理\n2 offending rows"}, "msgtype": "text"}',
          'in DingTalk''s text message format');

-- the check runs as the owner: her row policies apply; it cannot write
SELECT concord.department_create('tap_al_service') AS d \gset
SELECT concord.member_create('tap_al_lead', 'tap_al_service', '客服主管', '{"region": "华东"}') AS m \gset
GRANT USAGE ON SCHEMA t_al TO tap_al_lead;
GRANT SELECT, UPDATE ON t_al.ticket TO tap_al_lead;
GRANT concord_flow TO tap_al_lead;
SELECT concord.row_policy_create('tap_al_region', 't_al.ticket', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
UPDATE t_al.ticket SET status = 'open' WHERE id = 3;   -- 华西's, past its SLA
SELECT is((SELECT * FROM pg_temp.as_role('tap_al_lead', $q$SELECT concord.alert_create('t_al_mine',
             query => $$SELECT id FROM t_al.ticket WHERE status = 'open' AND opened_at < now() - interval '48 hours'$$)$q$)),
          't_al_mine', 'a lead of 华东 defines her own SLA alert');
SELECT is(concord.alert_check('t_al_mine'), 'ok', 'checked (by the superuser) as her: 华西''s late ticket is not hers to see');
SELECT is(concord.alert_check('t_al_sla'), 'fired', 'the same query as the superuser''s alert sees it');

-- a metric against a threshold
SELECT concord.model_create('t_al_tickets', 't_al.ticket', 'opened_at') AS md \gset
SELECT concord.metric_create('t_al_open', 'simple', model => 't_al_tickets', agg => 'count', filter => $$status = 'open'$$) AS mv \gset
BEGIN;
SELECT is(concord.alert_create('t_al_backlog', metric => 't_al_open', op => '>', threshold => 1, metric_window => '7 days',
                             channels => '[{"notify": "t_al_alerts"}]'), 't_al_backlog', 'a metric alert: more than one open ticket in 7 days');
SELECT is(concord.alert_check('t_al_backlog'), 'fired', 'two open: it fires');
COMMIT;
SELECT is((SELECT detail FROM concord.alert_event WHERE rule = 't_al_backlog'), '{"value": 2}'::jsonb, 'with the metric''s value');

-- the worker checks due alerts (woken by a configuration reload)
UPDATE t_al.ticket SET status = 'closed' WHERE id = 3;
UPDATE concord.alert_rule SET next_check_at = now() WHERE name = 't_al_sla';   -- due
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.eventually($$SELECT count(*) = 0 FROM concord.alert_event WHERE rule = 't_al_sla' AND resolved_at IS NULL$$, 15),
          'the worker checked the due SLA alert: resolved');

-- one offending row is one row
INSERT INTO t_al.ticket VALUES (4, '华东', now() - interval '4 days', 'open');
SELECT concord.alert_create('t_al_one', query => $$SELECT id FROM t_al.ticket WHERE id = 4 AND status = 'open'$$,
                          channels => '[{"webhook": "t_al_service", "format": "dingtalk"}]') AS one \gset
SELECT concord.alert_check('t_al_one') AS fired \gset
SELECT is((SELECT payload #>> '{text,content}' FROM concord.outbox WHERE endpoint = 't_al_service' ORDER BY id DESC LIMIT 1),
          E'[WARNING] t_al_one: firing\n1 offending row', 'one offending row: "1 offending row"');

-- an alert another session is checking is passed over by a round, not
-- waited for (the worker's round and this one never wait on each other)
-- (due, then held by the other session at once: should the worker check
-- it in between, it is no longer due and the round has nothing to wait for)
SELECT dblink_connect('t_al_holder', current_setting('concord_test.conn')) AS hc \gset
UPDATE concord.alert_rule SET next_check_at = now() - interval '1 minute' WHERE name = 't_al_one';
SELECT dblink_exec('t_al_holder', 'BEGIN') AS hb \gset
SELECT x AS he FROM dblink('t_al_holder', $$SELECT 1 FROM concord.alert_rule WHERE name = 't_al_one' FOR UPDATE$$) AS t(x int) \gset
SELECT last_check_at AS one_checked FROM concord.alert_rule WHERE name = 't_al_one' \gset
SET statement_timeout = '20s';
SELECT lives_ok($$SELECT concord.alert_run_due()$$, 'a round passes over the alert another session holds (due, locked)');
RESET statement_timeout;
SELECT is((SELECT last_check_at FROM concord.alert_rule WHERE name = 't_al_one'), :'one_checked'::timestamptz,
          'and leaves it to that session');
SELECT dblink_exec('t_al_holder', 'ROLLBACK') AS hr \gset
SELECT dblink_disconnect('t_al_holder') AS hd \gset

-- bad definitions
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', query => $q$WITH x AS (UPDATE t_al.ticket SET status = 'closed' RETURNING id) SELECT id FROM x$q$)$$,
                 '22023', 'an alert''s query must only read: WITH x is not a SELECT', 'a query that writes is refused');
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', query => 'SELECT 1; SELECT 2')$$, '22023',
                 'an alert''s query must be one SELECT statement', 'two statements');
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', query => 'SELECT id FROM t_al.nosuch')$$, '42P01',
                 'relation "t_al.nosuch" does not exist', 'a query over a missing table, at definition time');
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', metric => 'nosuch', op => '>', threshold => 1)$$, '42704',
                 'unknown metric: nosuch', 'an unknown metric');
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', query => 'SELECT 1', channels => '[{"webhook": "nosuch"}]')$$, '42704',
                 'unknown endpoint "nosuch" in alert "t_al_x"', 'an unknown endpoint');
SELECT throws_ok($$SELECT concord.alert_create('t_al_x', query => 'SELECT 1', channels => '[{"webhook": "t_al_service", "format": "telegram"}]')$$,
                 '22023', 'unknown format "telegram" in alert "t_al_x"', 'an unknown format');

SELECT * FROM finish();
SELECT pg_temp.clean() IS NULL AS c \gset
SELECT pg_temp.clean_up('t_al', 'tap_al_', :'roles', false) IS NULL AS c2 \gset
