-- flow: event rules -- a contract signed in 销售's table creates 财务's
-- invoice task and a message to 市场's system in the same transaction;
-- conditions over NEW and OLD, templates, enable/disable, drop, firings,
-- and bad definitions.  All in a transaction rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(27);

CREATE SCHEMA t_rules_sales;
CREATE SCHEMA t_rules_fin;
CREATE TABLE t_rules_sales.contract (contract_no text PRIMARY KEY, customer text, amount numeric, status text);
CREATE TABLE t_rules_fin.invoice_task (id serial PRIMARY KEY, contract_no text, amount numeric, note text DEFAULT '待开票');
SELECT concord.http_allow_host('127.0.0.1', current_setting('concord_test.stub_port')::int, allow_private => true) IS NOT NULL AS a \gset
SELECT concord.endpoint_create('t_rules_mkt', current_setting('concord_test.stub_url') || '/hook/t_rules_mkt', unsigned => true) AS e \gset

SELECT is(concord.event_rule_create('t_rules_signed', 't_rules_sales.contract', '{insert,update}',
  $$NEW.status = '已签约' AND OLD.status IS DISTINCT FROM '已签约'$$,
  $$[{"insert": "t_rules_fin.invoice_task", "values": {"contract_no": "$new.contract_no", "amount": "$new.amount"}},
     {"webhook": "t_rules_mkt", "payload": {"event": "$rule", "op": "$op", "contract": "$new.contract_no",
                                            "customer": "$new.customer", "was": "$old.status"}},
     {"notify": "t_rules_contracts"}]$$, '合同签约：财务开票，市场跟进'), 't_rules_signed', 'event_rule defines a rule');
SELECT is((SELECT compiled FROM concord.event_rule WHERE name = 't_rules_signed'),
          $$(((new).status = '已签约'::text) AND ((old).status IS DISTINCT FROM '已签约'::text))$$,
          'its condition, checked and written back from the tree');

INSERT INTO t_rules_sales.contract VALUES ('HT-1', '张伟', 128000, '审批中');
SELECT is((SELECT count(*)::int FROM concord.event_firing WHERE rule = 't_rules_signed'), 0, 'a contract under approval: nothing fires');
UPDATE t_rules_sales.contract SET status = '已签约' WHERE contract_no = 'HT-1';
SELECT results_eq($$SELECT contract_no, amount, note FROM t_rules_fin.invoice_task$$, $$VALUES ('HT-1', 128000::numeric, '待开票')$$,
                  'signed: 财务''s invoice task is there, in the same transaction (its default filled in)');
SELECT is((SELECT payload FROM concord.outbox WHERE endpoint = 't_rules_mkt'),
          '{"op": "update", "was": "审批中", "event": "t_rules_signed", "contract": "HT-1", "customer": "张伟"}'::jsonb,
          'and a message to 市场 built from the template');
SELECT is((SELECT headers ->> 'X-Concord-Rule' FROM concord.outbox WHERE endpoint = 't_rules_mkt'), 't_rules_signed', 'naming the rule');
SELECT results_eq($$SELECT op, outcomes -> 0 ->> 'insert', outcomes -> 2 ->> 'notify' FROM concord.event_firing WHERE rule = 't_rules_signed'$$,
                  $$VALUES ('update', 't_rules_fin.invoice_task', 't_rules_contracts')$$, 'the firing is recorded with what each action did');
UPDATE t_rules_sales.contract SET amount = 130000 WHERE contract_no = 'HT-1';
SELECT is((SELECT count(*)::int FROM concord.event_firing WHERE rule = 't_rules_signed'), 1, 'a later change of a signed contract: no second firing');
INSERT INTO t_rules_sales.contract VALUES ('HT-2', '李娜', 5000, '已签约');
SELECT is((SELECT count(*)::int FROM t_rules_fin.invoice_task), 2, 'a contract inserted already signed fires too (OLD is NULL)');

-- disabled, enabled
SELECT is(concord.event_rule_enable('t_rules_signed', false), false, 'a rule disabled');
INSERT INTO t_rules_sales.contract VALUES ('HT-3', '王芳', 7000, '已签约');
SELECT is((SELECT count(*)::int FROM t_rules_fin.invoice_task), 2, 'does not fire');
SELECT is(concord.event_rule_enable('t_rules_signed', true), true, 'enabled again');
INSERT INTO t_rules_sales.contract VALUES ('HT-4', '赵六', 9000, '已签约');
SELECT is((SELECT count(*)::int FROM t_rules_fin.invoice_task), 3, 'fires');

-- the actions run with the definer's privileges
CREATE ROLE t_rules_rep;
GRANT USAGE ON SCHEMA t_rules_sales TO t_rules_rep;
GRANT SELECT, INSERT, UPDATE ON t_rules_sales.contract TO t_rules_rep;
SET LOCAL ROLE t_rules_rep;
INSERT INTO t_rules_sales.contract VALUES ('HT-5', '孙七', 3000, '已签约');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM t_rules_fin.invoice_task WHERE contract_no = 'HT-5'), 1,
          'a rep with no right on 财务''s table signs a contract: the task is made, as the rule''s definer');
SELECT is((SELECT fired_by FROM concord.event_firing WHERE row_key ->> 'contract_no' = 'HT-5'), session_user::text,
          'the firing records the session user');

-- an endpoint that takes DingTalk messages gets the payload as its text
SELECT concord.endpoint_create('t_rules_ding', current_setting('concord_test.stub_url') || '/hook/t_rules_ding', format => 'dingtalk', unsigned => true) AS d \gset
SELECT concord.event_rule_create('t_rules_big', 't_rules_sales.contract', '{insert}', 'NEW.amount >= 100000',
                          '[{"webhook": "t_rules_ding", "payload": {"contract": "$new.contract_no"}}]') AS r \gset
INSERT INTO t_rules_sales.contract VALUES ('HT-9', '周杰', 200000, '审批中');
SELECT is((SELECT payload FROM concord.outbox WHERE endpoint = 't_rules_ding'),
          jsonb_build_object('msgtype', 'text', 'text', jsonb_build_object('content',
            '[concord] t_rules_big (insert t_rules_sales.contract)' || E'\n' || '{"contract": "HT-9"}')),
          'a webhook to a DingTalk endpoint: the payload as a DingTalk text message');
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_rules_x', '%s/hook/x', format => 'telegram', unsigned => true)$$, current_setting('concord_test.stub_url')), '22023',
                 'unknown format "telegram" for endpoint "t_rules_x"', 'an unknown endpoint format');

-- bad definitions
SELECT throws_like($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', 'NEW.status = ', '[{"notify": "x"}]')$$,
                   '%syntax error%', 'a condition that does not parse');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}',
                   'NEW.amount > (SELECT max(amount) FROM t_rules_sales.contract)', '[{"notify": "x"}]')$$,
                 '22023', 'invalid filter: subqueries are not allowed', 'a condition with a subquery is refused');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', 'random() > 0.5', '[{"notify": "x"}]')$$,
                 '22023', 'invalid filter: function random() is not immutable', 'a volatile condition is refused');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', NULL,
                   '[{"webhook": "t_rules_mkt", "payload": {"x": "$new.nosuch"}}]')$$,
                 '42703', 'rule "t_rules_x" refers to columns nosuch that t_rules_sales.contract does not have', 'a template naming a missing column');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', NULL, '[{"webhook": "nosuch"}]')$$,
                 '42704', 'unknown endpoint "nosuch" in rule "t_rules_x"', 'an unknown endpoint');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', NULL,
                   '[{"insert": "t_rules_fin.invoice_task", "values": {"nosuch": 1}}]')$$,
                 '42703', 'table t_rules_fin.invoice_task has no columns nosuch (rule "t_rules_x")', 'an insert into a missing column');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{upsert}', NULL, '[{"notify": "x"}]')$$,
                 '22023', 'events of rule "t_rules_x" must be some of insert, update, delete (got {upsert})', 'an unknown event');
SELECT throws_ok($$SELECT concord.event_rule_create('t_rules_x', 't_rules_sales.contract', '{update}', NULL, '[{"notify": "x", "webhook": "t_rules_mkt"}]')$$,
                 '22023', NULL, 'an action of two kinds');

SELECT is(concord.event_rule_drop('t_rules_signed'), true, 'a rule dropped');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'concord_rule_t_rules_signed'), 0, 'its trigger gone (its firings stay)');

SELECT * FROM finish();
ROLLBACK;
