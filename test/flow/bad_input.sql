-- flow and metric: bad inputs of the public functions the other tests do
-- not give one (unknown names, NULLs, mismatched arrays).  In a transaction
-- rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(16);

-- Each part as a role holding its component's capability role alone
-- (docs/flow.md, docs/metric.md).
CREATE ROLE tap_bad_flow IN ROLE concord_flow;
CREATE ROLE tap_bad_metric IN ROLE concord_metric;

-- flow
SET LOCAL ROLE tap_bad_flow;
SELECT throws_ok($$SELECT concord.outbox_retry(987654321)$$, '42704', 'no outbox message 987654321', 'outbox_retry of no message');
SELECT throws_ok($$SELECT concord.outbox_enqueue('nosuch', NULL)$$, '42704', 'unknown endpoint "nosuch"', 'outbox_enqueue to an unknown endpoint');
SELECT throws_ok($$SELECT concord.endpoint_create('e1', NULL)$$, '22004', 'endpoint "e1" needs a URL', 'endpoint_define without a URL');
SELECT throws_ok($$SELECT concord.flow_check_url('ftp://127.0.0.1/x')$$, NULL, 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"',
                 'flow_check_url of a URL the guard refuses');
SELECT throws_ok($$SELECT concord.event_rule_enable('nosuch', true)$$, '42704', 'unknown event rule "nosuch"', 'event_rule_enable of an unknown rule');
SELECT is(concord.event_rule_drop('nosuch'), false, 'event_rule_drop of an unknown rule: false');
SELECT throws_ok($$SELECT concord.event_rule_create('Bad Name', 'pg_catalog.pg_class', '{insert}', NULL, '[{"notify": "x"}]')$$, '42602',
                 'invalid event rule name "Bad Name"', 'event_rule with a bad name');
SELECT throws_ok($$SELECT concord.alert_check('nosuch')$$, '42704', 'unknown alert "nosuch"', 'alert_check of an unknown alert');
SELECT throws_ok($$SELECT concord.alert_create('a1')$$, '22023', 'alert "a1" needs a query or a metric (one of them)', 'alert_rule with neither');
SELECT throws_ok($$SELECT concord.alert_create('a1', query => 'SELECT 1', severity => 'panic')$$, '22023',
                 'unknown severity "panic" for alert "a1"', 'alert_rule with an unknown severity');

-- metric
SET LOCAL ROLE tap_bad_metric;
SELECT throws_ok($$SELECT concord.metric_rollup_refresh('nosuch')$$, '42704', 'unknown rollup "nosuch"', 'metric_rollup_refresh of an unknown rollup');
SELECT is(concord.metric_rollup_drop('nosuch'), false, 'metric_rollup_drop of an unknown rollup: false');
SELECT is(concord.model_drop('nosuch'), false, 'model_drop of an unknown model: false');
SELECT throws_ok($$SELECT concord.expr_check_over('m', '{a,b}', '{numeric}', 'a + b', false)$$, '22023',
                 'expr_check_over needs as many types as names, and at least one', 'expr_check_over with mismatched names and types');
SELECT throws_ok($$SELECT concord.expr_names('a +')$$, '42601', NULL, 'expr_names of text that does not parse');
SET LOCAL ROLE tap_bad_flow;  -- (an alert's check: flow's)
SELECT throws_ok($$SELECT concord.sql_check_select('DELETE FROM pg_class')$$, '22023', 'an alert''s query must be one SELECT statement',
                 'sql_check_select of a DELETE');

SELECT * FROM finish();
ROLLBACK;
