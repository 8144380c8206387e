-- identity: the timeline and the 360° view — events of four departments'
-- tables, declared once, arrive under the one customer they concern.
BEGIN;
SELECT plan(9);
SET LOCAL client_min_messages = warning;
\ir people.psql

-- the departments' event tables, naming their own system's rows
CREATE TABLE idt.contract (contract_no text PRIMARY KEY, crm_id int, signed_on date, amount numeric);
CREATE TABLE idt.invoice (invoice_no text PRIMARY KEY, account text, issued_at timestamptz, amount numeric, paid boolean);
CREATE TABLE idt.ticket (ticket_no int PRIMARY KEY, contact_id bigint, opened_at timestamptz, subject text);
CREATE TABLE idt.campaign_reply (reply_id int PRIMARY KEY, lead_id text, replied_at timestamptz, campaign text);
INSERT INTO idt.contract VALUES ('HT-2026-001', 1, '2026-03-15', 128000), ('HT-2026-002', 2, '2026-02-10', 56000);
INSERT INTO idt.invoice VALUES ('INV-1', 'B-001', '2026-03-20 10:00+08', 64000, true),
                               ('INV-2', 'B-001', '2026-04-20 10:00+08', 64000, false);
INSERT INTO idt.ticket VALUES (9001, 101, '2026-05-02 09:30+08', '无法登录系统');
INSERT INTO idt.campaign_reply VALUES (1, 'M-1', '2026-01-08 20:00+08', '新春促销');

SELECT concord.identity_event_create('contract_signed', 'idt.contract', 'crm', 'crm_id', 'signed_on', '合同签订',
         ARRAY['contract_no', 'amount']) IS NOT NULL AS e1,
       concord.identity_event_create('invoice_issued', 'idt.invoice', 'billing', 'account', 'issued_at', '开票',
         ARRAY['invoice_no', 'amount', 'paid']) IS NOT NULL AS e2,
       concord.identity_event_create('ticket_opened', 'idt.ticket', 'service', 'contact_id', 'opened_at', '工单',
         ARRAY['subject']) IS NOT NULL AS e3,
       concord.identity_event_create('campaign_reply', 'idt.campaign_reply', 'marketing', 'lead_id', 'replied_at', '活动回复',
         ARRAY['campaign']) IS NOT NULL AS e4 \gset

SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'resolve');
SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '1')) AS zs \gset

SELECT results_eq(
  $$SELECT event, source, key, detail FROM concord.customer_timeline WHERE customer_id = $$ || :zs || $$ ORDER BY at$$,
  $$VALUES ('campaign_reply', 'marketing', 'M-1', '{"campaign": "新春促销"}'::jsonb),
           ('contract_signed', 'crm', '1', '{"amount": 128000, "contract_no": "HT-2026-001"}'::jsonb),
           ('invoice_issued', 'billing', 'B-001', '{"paid": true, "amount": 64000, "invoice_no": "INV-1"}'::jsonb),
           ('invoice_issued', 'billing', 'B-001', '{"paid": false, "amount": 64000, "invoice_no": "INV-2"}'::jsonb),
           ('ticket_opened', 'service', '101', '{"subject": "无法登录系统"}'::jsonb)$$,
  '张三''s timeline: marketing, sales, finance and service events in time order');
SELECT is((SELECT count(*)::int FROM concord.customer_timeline WHERE customer_id =
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '2'))), 1,
  '李四 has his one contract');

SELECT results_eq(
  $$SELECT rows_by_source, events -> 'invoice_issued' ->> 'count', events -> 'invoice_issued' ->> 'label', last_event_at
      FROM concord.customer_360 WHERE customer_id = $$ || :zs,
  $$VALUES ('{"crm": 1, "billing": 1, "service": 1, "marketing": 1}'::jsonb, '2', '开票', '2026-05-02 09:30+08'::timestamptz)$$,
  'customer_360: rows per source, events by kind with counts, the latest event');

-- the timeline follows merges
SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '2')) AS ls \gset
SELECT concord.customer_merge(:zs, :ls, 'test: one customer') AS merged_into \gset
SELECT is((SELECT count(*)::int FROM concord.customer_timeline WHERE customer_id = :merged_into), 6,
  'after a merge the timeline holds both customers'' events');

-- bad input
SELECT throws_ok($$SELECT concord.identity_event_create('contract_signed', 'idt.contract', 'crm', 'crm_id', 'signed_on', 'x')$$,
  '42710', 'event "contract_signed" already exists', 'an event declared twice');
SELECT throws_ok($$SELECT concord.identity_event_create('x', 'idt.contract', 'erp', 'crm_id', 'signed_on', 'x')$$,
  '42704', 'identity source "erp" does not exist', 'an unknown identity source');
SELECT throws_ok($$SELECT concord.identity_event_create('x', 'idt.contract', 'crm', 'crm_id', 'amount', 'x')$$,
  '42804', 'column "amount" (at) of event "x" must be a date or timestamp, not numeric', 'an event time that is not a time');
SELECT throws_ok($$SELECT concord.identity_event_create('x', 'idt.contract', 'crm', 'customer', 'signed_on', 'x')$$,
  '42703', 'column "customer" of event "x" does not exist in table idt.contract', 'an unknown column');

SELECT * FROM finish();
ROLLBACK;
