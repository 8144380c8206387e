-- docs/flow.md: every ```sql example runs, in order, against the stub API
-- (the page names it http://127.0.0.1:8765; here it is the harness's
-- stub), and gives what the page says:
--   1. committed, since the worker delivers only committed messages: the
--      endpoint, then the outbox example in a session of its own (it has
--      its own BEGIN and COMMIT), delivered signed to the stub;
--   2. in a transaction rolled back: the event rule's hand-off (财务's task,
--      客服's ticket, 市场's message, the firing) and the two alerts (an SLA
--      query in DingTalk's format, a metric over a threshold in Feishu's);
--   3. what part 1 committed removed (also before part 1, after a run that
--      died).
SET client_min_messages = warning;
\ir ../harness/backends.psql

SELECT current_setting('concord_test.stub_port') AS p, current_setting('concord_test.stub_url') AS stub \gset
\set page flow
\ir blocks.psql

CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM concord.http_delete(current_setting('concord_test.stub_url') || '/received/marketing');
  DELETE FROM concord.outbox WHERE endpoint IN ('marketing', 'service_dingtalk', 'finance_feishu');
  DELETE FROM concord.endpoint WHERE name IN ('marketing', 'service_dingtalk', 'finance_feishu');
  PERFORM concord.secret_drop('mkt_hook_key');
  DELETE FROM concord.http_allow WHERE note = 'docs_flow';
  DROP SCHEMA IF EXISTS sales CASCADE;
END $$;
CREATE FUNCTION pg_temp.received(hook text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT ((concord.http_get(current_setting('concord_test.stub_url') || '/received/' || hook)).body)::jsonb -> 'received'
$$;

-- The stub allowed, unless another test's row allows it already (that one
-- is left as it is).
CREATE FUNCTION pg_temp.allow() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM concord.http_allow
                  WHERE host_pattern = '127.0.0.1' AND port = current_setting('concord_test.stub_port')::int) THEN
    PERFORM concord.http_allow_host('127.0.0.1', current_setting('concord_test.stub_port')::int, note => 'docs_flow');
  END IF;
END $$;
SELECT pg_temp.allow() IS NULL AS allowed \gset
SELECT pg_temp.clean() IS NULL AS cleaned \gset
SELECT pg_temp.allow() IS NULL AS allowed \gset

SELECT plan((SELECT count(*)::int FROM blocks) + 15);

-- 1. the endpoint, and a message committed in a session of its own
SELECT lives_ok(code, format('docs/flow.md example %s (an endpoint) runs', n)) FROM blocks WHERE n = 1;
SELECT results_eq($$SELECT url, secret_name, max_in_flight, max_attempts, timeout_ms, description FROM concord.endpoint WHERE name = 'marketing'$$,
                  format($$VALUES (%L, 'mkt_hook_key', 16, 10, 10000, '市场系统')$$, :'stub' || '/hook/marketing'),
                  'the endpoint 市场 is named by, with its secret and limits');

CREATE SCHEMA sales;
CREATE TABLE sales.contract (contract_no text PRIMARY KEY, customer text, amount numeric(14,2), status text);
INSERT INTO sales.contract VALUES ('HT-2026-001', '张伟', 128000, '审批中');
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS conn \gset
SELECT lives_ok(format('SELECT dblink_exec(%L, %L)', :'conn', code),
                format('docs/flow.md example %s (the outbox) runs, with its BEGIN and COMMIT, in a session of its own', n))
FROM blocks WHERE n = 2;
SELECT is((SELECT status FROM sales.contract WHERE contract_no = 'HT-2026-001'), '已签约', 'the contract is signed');
SELECT ok(pg_temp.eventually($$SELECT status = 'delivered' FROM concord.outbox WHERE endpoint = 'marketing'$$, 10),
          'and the message enqueued with it is delivered');
SELECT is(pg_temp.received('marketing') -> 0 ->> 'key', (SELECT idempotency_key FROM concord.outbox WHERE endpoint = 'marketing'),
          '市场''s system got it once, with its idempotency key');
SELECT is((pg_temp.received('marketing') -> 0 ->> 'body')::jsonb, '{"contract": "HT-2026-001", "customer": "张伟"}'::jsonb,
          'and the payload as its body');
SELECT pg_temp.received('marketing') -> 0 AS delivery \gset

-- 2. event rules and alerts, in a transaction rolled back
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT is(:'delivery'::jsonb ->> 'signature',
          'sha256=' || encode(hmac(:'delivery'::jsonb ->> 'body', '<shared with 市场>', 'sha256'), 'hex'),
          'signed with the endpoint''s secret, as the receiver checks it');

CREATE SCHEMA finance;
CREATE SCHEMA service;
CREATE TABLE finance.invoice_task (id serial PRIMARY KEY, contract_no text, amount numeric(14,2), state text DEFAULT '待开票');
CREATE TABLE service.onboarding_ticket (id serial PRIMARY KEY, customer text, subject text);
CREATE TABLE service.ticket (ticket_id int PRIMARY KEY, subject text, status text, opened_at timestamptz);
CREATE TABLE finance.order_line (id int PRIMARY KEY, ordered_at timestamptz, refunded boolean);
SELECT concord.endpoint_create('service_dingtalk', :'stub' || '/hook/service_dingtalk', unsigned => true) AS e1,
       concord.endpoint_create('finance_feishu', :'stub' || '/hook/finance_feishu', unsigned => true) AS e2 \gset
SELECT concord.model_create('order_line', 'finance.order_line', 'ordered_at') AS m \gset
SELECT concord.metric_create('refund_rate', 'simple', model => 'order_line', agg => 'avg',
                             expr => 'CASE WHEN refunded THEN 1.0 ELSE 0 END') AS v \gset

SELECT lives_ok(code, format('docs/flow.md example %s (an event rule) runs', n)) FROM blocks WHERE n = 3;
INSERT INTO sales.contract VALUES ('HT-2026-002', '李娜', 56000, '审批中');
UPDATE sales.contract SET status = '已签约' WHERE contract_no = 'HT-2026-002';
SELECT results_eq($$SELECT contract_no, amount, state FROM finance.invoice_task$$, $$VALUES ('HT-2026-002', 56000.00, '待开票')$$,
                  'a contract signed: 财务''s invoice task, in the same transaction');
SELECT results_eq($$SELECT customer, subject FROM service.onboarding_ticket$$, $$VALUES ('李娜', '新客户开通')$$,
                  '客服''s onboarding ticket');
SELECT results_eq($$SELECT payload, headers ->> 'X-Concord-Rule' FROM concord.outbox WHERE endpoint = 'marketing' AND status = 'pending'$$,
                  $$VALUES ('{"event": "contract_signed", "contract": "HT-2026-002", "customer": "李娜"}'::jsonb, 'contract_signed')$$,
                  '市场''s message from the template, naming the rule');
SELECT results_eq($$SELECT op, outcomes -> 3 ->> 'notify' FROM concord.event_firing WHERE rule = 'contract_signed'$$,
                  $$VALUES ('update', 'contracts')$$, 'and the firing, with the NOTIFY channel');

SELECT lives_ok(code, format('docs/flow.md example %s (two alerts) runs', n)) FROM blocks WHERE n = 4;
INSERT INTO service.ticket VALUES (1, '无法登录系统', 'open', now() - interval '3 days'), (2, '发票抬头错误', 'pending', now() - interval '50 hours'),
                                  (3, '合同盖章', 'closed', now() - interval '5 days'), (4, '开通账号', 'open', now());
SELECT is(concord.alert_check('ticket_sla'), 'fired', 'two tickets not closed past 48 hours: the SLA alert fires');
SELECT is((SELECT payload FROM concord.outbox WHERE endpoint = 'service_dingtalk'),
          '{"msgtype": "text", "text": {"content": "[CRITICAL] ticket_sla: firing\n工单超过 48 小时未处理\n2 offending rows"}}'::jsonb,
          'to 客服''s DingTalk group, in its format');
INSERT INTO finance.order_line SELECT i, now() - i * interval '1 hour', i <= 2 FROM generate_series(1, 20) i;
SELECT is(concord.alert_check('refund_rate'), 'fired', 'refunds at 10% of the week''s orders: the metric alert fires');
SELECT is((SELECT payload #>> '{content,text}' LIKE '%refund_rate%' AND payload ->> 'msg_type' = 'text'
             FROM concord.outbox WHERE endpoint = 'finance_feishu'), true,
          'to 财务''s Feishu group, in its format');
ROLLBACK;

-- 3. what part 1 committed, removed
SELECT pg_temp.clean() IS NULL AS cleaned \gset
SELECT ok(NOT EXISTS (SELECT FROM concord.endpoint WHERE name = 'marketing') AND to_regnamespace('sales') IS NULL
          AND NOT EXISTS (SELECT FROM concord.secret WHERE name = 'mkt_hook_key'),
          'nothing of the examples is left');

SELECT * FROM finish();
