-- test/demo.sql — the concord walk-through, run by test/demo.sh:
--   psql -v stub_url=... -v stub_tls_url=... -v ca_file=... -d concord_demo -f test/demo.sql
--
-- The stub API server on 127.0.0.1 plays the departments' systems: the
-- sales CRM (销售), finance's billing (财务) and customer service (客服);
-- marketing (市场) keeps a plain table. The later scenes govern who sees
-- what (policy), define the company's metrics once (metric), and hand
-- work between departments as it happens (flow).
-- The last scenes log in as the departments' people (\c - <role>).
-- Everything shown here is plain SQL a user can type.

\pset footer off
\pset null '∅'
\set QUIET on
SET client_min_messages = warning;

-- Runs a statement and shows its outcome as a row: what a user would see.
CREATE FUNCTION pg_temp.attempt(q text)
RETURNS TABLE (outcome text, sqlstate text, message text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
  h text;
BEGIN
  EXECUTE q;
  RETURN QUERY SELECT 'ok', NULL::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN QUERY SELECT 'error', SQLSTATE, SQLERRM, NULLIF(h, '');
END $$;

\echo
\echo '== 1. concord is installed =='
SELECT extname, extversion, extnamespace::regnamespace AS schema,
       current_setting('shared_preload_libraries') AS preloaded
FROM pg_extension WHERE extname = 'concord';
SELECT backend_type AS "background worker", coalesce(datname, '(launcher)') AS database
FROM pg_stat_activity WHERE backend_type LIKE 'concord%' ORDER BY 1, 2;

\echo
\echo '== 2. nothing is reachable until a superuser allows it =='
SELECT split_part(split_part(:'stub_url', '//', 2), ':', 2)::int AS stub_port \gset
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_url' || '/json'));
\x off
SELECT host_pattern, port, allow_private
FROM concord.http_allow_host('127.0.0.1', :stub_port, note => 'stub: sales CRM, billing, service desk');

\echo
\echo '== 3. sales CRM (销售): GET its customers and read them as rows =='
SELECT status, content_type, round(elapsed_ms::numeric, 2) AS ms, url
FROM concord.http_get(:'stub_url' || '/json', '{"page": 1, "status": ["已签约", "跟进中"]}');
SELECT c.*
FROM concord.http_get(:'stub_url' || '/json') r,
     jsonb_to_recordset(r.body::jsonb -> 'customers')
       AS c(id int, name text, phone text, company text, status text);

\echo
\echo '== 4. finance (财务): POST a JSON invoice request; the stub echoes what it received =='
SELECT status,
       body::jsonb ->> 'method' AS method,
       body::jsonb -> 'headers' ->> 'content-type' AS sent_as,
       body::jsonb ->> 'body' AS received
FROM concord.http_post(:'stub_url' || '/echo',
                       '{"contract": "HT-2026-001", "customer": "上海某某科技有限公司", "amount": 128000}'::jsonb,
                       headers => '{"X-Department": "sales"}');

\echo
\echo '== 5. many APIs at once: 40 calls that each take 200 ms, as one batch =='
SELECT count(*) AS requests,
       count(*) FILTER (WHERE status = 200) AS ok,
       round(sum(elapsed_ms)::numeric) AS "sum of call times (ms)",
       round(extract(epoch FROM clock_timestamp() - now()) * 1000) AS "wall time (ms)"
FROM concord.http_batch(
       ARRAY(SELECT concord.http_request('GET', :'stub_url' || '/delay/200')
             FROM generate_series(1, 40)),
       max_host_connections => 40);

\echo
\echo '== 6. one failing request does not sink the batch =='
SELECT ord, status, error_code, error
FROM concord.http_batch(ARRAY[
  concord.http_request('GET', :'stub_url' || '/status/503'),
  concord.http_request('GET', 'http://127.0.0.2:' || :stub_port || '/json'),
  concord.http_request('GET', :'stub_url' || '/redirect-to?url=http://127.0.0.2:' || :stub_port || '/json'),
  concord.http_request('GET', :'stub_url' || '/delay/2000'),
  concord.http_request('BREW', :'stub_url' || '/json')],
  timeout_ms => 500);

\echo
\echo '== 7. the guard checks the address actually dialled (DNS rebinding) =='
SELECT host_pattern, port, allow_private FROM concord.http_allow_host('localhost', :stub_port);
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', 'http://localhost:' || :stub_port || '/json'));
\x off
SELECT a AS address, concord.http_address_class(a) AS class
FROM unnest(ARRAY['203.0.113.9', '8.8.8.8', '10.20.30.40', '169.254.169.254',
                  '100.100.100.200', '::ffff:127.0.0.1', 'fd00:ec2::254']) a;

\echo
\echo '== 8. TLS is always verified; a superuser may name a private CA =='
SELECT split_part(split_part(:'stub_tls_url', '//', 2), ':', 2)::int AS stub_tls_port \gset
SELECT host_pattern, port FROM concord.http_allow_host('127.0.0.1', :stub_tls_port);
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_tls_url' || '/json'));
\x off
SET concord.http_ca_file = :'ca_file';
SELECT status, body::jsonb ->> 'source' AS source
FROM concord.http_get(:'stub_tls_url' || '/json');
RESET concord.http_ca_file;

\echo
\echo '== 9. least privilege: an analyst needs one GRANT; the call log hides secrets =='
DROP ROLE IF EXISTS demo_analyst;
CREATE ROLE demo_analyst;
SET ROLE demo_analyst;
SELECT outcome, sqlstate, message
FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_url' || '/json'));
RESET ROLE;
GRANT concord_http TO demo_analyst;
SET concord.http_log = on;
SET ROLE demo_analyst;
SELECT status FROM concord.http_get(:'stub_url' || '/json', '{"access_token": "s3cr3t-token", "page": 2}');
SELECT role_name, method, url, status, response_bytes FROM concord.http_call_log ORDER BY id;
RESET ROLE;

\echo
\echo '== 10. sync: four systems of three departments become tables =='
RESET concord.http_log;
-- The stub plays four systems, 40 records each, each with its own login:
-- the sales CRM (客户, bearer token), finance's contract system (合同,
-- HTTP basic), finance's billing (发票 and 开票联系人, OAuth2) and the
-- service desk (工单, API key). One of the service desk's tickets has a
-- broken opened_at.
SELECT bool_and((concord.http_post(:'stub_url' || '/sync/' || ns || '/reset', body::jsonb)).status = 200) AS systems_ready
FROM (VALUES ('crm',       '{"n": 40, "auth": "bearer"}'),
             ('contracts', '{"n": 40, "auth": "basic"}'),
             ('billing',   '{"n": 40, "auth": "oauth2"}'),
             ('service',   '{"n": 40, "auth": "api_key_header",
                             "bad_records": [{"kind": "tickets", "id": 3, "field": "opened_at", "value": "昨天"}]}')
     ) v(ns, body) \gset
-- Credentials go into concord's encrypted store; specs only name them.
SELECT concord.secret_set('crm_token', 'stub-token-789'),
       concord.secret_set('contracts_password', 'stub-pass-456'),
       concord.secret_set('billing_client_secret', 'stub-secret-000'),
       concord.secret_set('service_api_key', 'stub-key-123') \gset
CREATE SCHEMA sales;
CREATE SCHEMA finance;
CREATE SCHEMA service;

-- 销售: customers, page by page; status codes A/B/C become stage names.
SELECT concord.source_create('crm_customers', jsonb_build_object(
  'description', '销售 CRM: customers',
  'request', jsonb_build_object('url', :'stub_url' || '/sync/crm/customers/page'),
  'auth', '{"type": "bearer", "token": {"secret": "crm_token"}}'::jsonb,
  'pagination', '{"type": "page_number", "size": 20, "total_path": "$.total"}'::jsonb,
  'records', '$.data[*]',
  'target', '{"table": "sales.customer", "create": true, "primary_key": "id", "unmapped_column": "extra"}'::jsonb,
  'columns', '[{"name": "id", "type": "bigint"}, {"name": "name"}, {"name": "phone"},
               {"name": "stage", "path": "$.status", "map": {"A": "已签约", "B": "跟进中", "C": "流失"}},
               {"name": "city", "path": "$.address.city"}, {"name": "updated_at", "type": "timestamptz"},
               {"name": "lifetime_value", "type": "numeric(12,2)"}]'::jsonb,
  'mode', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}'::jsonb)) \gset
-- 财务: contracts by offset and limit, HTTP basic login.
SELECT concord.source_create('finance_contracts', jsonb_build_object(
  'description', '财务 contract system: contracts',
  'request', jsonb_build_object('url', :'stub_url' || '/sync/contracts/contracts/offset'),
  'auth', '{"type": "basic", "username": "sync", "password": {"secret": "contracts_password"}}'::jsonb,
  'pagination', '{"type": "offset", "limit": 15, "total_path": "$.total"}'::jsonb,
  'records', '$.items[*]',
  'target', '{"table": "finance.contract", "create": true, "primary_key": "contract_no"}'::jsonb,
  'columns', '[{"name": "contract_no"}, {"name": "customer_id", "type": "bigint"},
               {"name": "amount", "type": "numeric(14,2)"}, {"name": "currency"},
               {"name": "signed_on", "type": "date"}, {"name": "status"},
               {"name": "updated_at", "type": "timestamptz"}]'::jsonb,
  'mode', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}'::jsonb)) \gset
-- 财务: invoices behind an opaque cursor, OAuth2 client credentials (one
-- login for the billing system's two endpoints).
SELECT jsonb_build_object('type', 'oauth2', 'grant_type', 'client_credentials',
                          'token_url', :'stub_url' || '/sync/billing/oauth/token',
                          'client_id', 'concord', 'client_secret', '{"secret": "billing_client_secret"}'::jsonb)
       AS billing_auth \gset
SELECT concord.source_create('finance_invoices', jsonb_build_object(
  'description', '财务 billing: invoices',
  'request', jsonb_build_object('url', :'stub_url' || '/sync/billing/invoices/cursor'),
  'auth', :'billing_auth'::jsonb,
  'pagination', '{"type": "cursor", "cursor_path": "$.next_cursor", "size_param": "limit", "size": 15}'::jsonb,
  'records', '$.results[*]',
  'target', '{"table": "finance.invoice", "create": true, "primary_key": "invoice_no"}'::jsonb,
  'columns', '[{"name": "invoice_no"}, {"name": "contract_no"}, {"name": "amount", "type": "numeric(14,2)"},
               {"name": "tax", "type": "numeric(14,2)"}, {"name": "issued_at", "type": "timestamptz"},
               {"name": "paid", "type": "boolean"}, {"name": "updated_at", "type": "timestamptz"}]'::jsonb,
  'mode', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}'::jsonb)) \gset
-- 财务: billing contacts (开票联系人) from the same system; each page names the next.
SELECT concord.source_create('finance_payers', jsonb_build_object(
  'description', '财务 billing: billing contacts',
  'request', jsonb_build_object('url', :'stub_url' || '/sync/billing/payers/next'),
  'auth', :'billing_auth'::jsonb,
  'pagination', '{"type": "next_url", "next_url_path": "$.links.next", "size_param": "per_page", "size": 15}'::jsonb,
  'records', '$.data.items[*]',
  'target', '{"table": "finance.payer", "create": true, "primary_key": "payer_id"}'::jsonb,
  'columns', '[{"name": "payer_id"}, {"name": "contact"}, {"name": "phone"}, {"name": "invoice_title"},
               {"name": "e_invoice", "type": "boolean"}, {"name": "updated_at", "type": "timestamptz"}]'::jsonb,
  'mode', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}'::jsonb)) \gset
-- 客服: tickets, the next page named in the Link header, API key in a header.
SELECT concord.source_create('service_tickets', jsonb_build_object(
  'description', '客服 service desk: tickets',
  'request', jsonb_build_object('url', :'stub_url' || '/sync/service/tickets/link'),
  'auth', '{"type": "api_key", "in": "header", "name": "X-Api-Key", "value": {"secret": "service_api_key"}}'::jsonb,
  'pagination', '{"type": "link_header", "size_param": "per_page", "size": 15}'::jsonb,
  'records', '$',
  'target', '{"table": "service.ticket", "create": true, "primary_key": "ticket_id"}'::jsonb,
  'columns', '[{"name": "ticket_id", "type": "bigint"}, {"name": "customer_phone"}, {"name": "subject"},
               {"name": "priority"}, {"name": "status"}, {"name": "opened_at", "type": "timestamptz"},
               {"name": "updated_at", "type": "timestamptz"}]'::jsonb,
  'mode', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}'::jsonb,
  'rejects', '{"policy": "continue"}'::jsonb)) \gset
SELECT name AS source, spec ->> 'description' AS system, spec #>> '{auth,type}' AS auth,
       spec #>> '{pagination,type}' AS paging, spec #>> '{target,table}' AS "table"
FROM concord.source ORDER BY name;
-- Before the first run: one request, what would the service desk source fetch?
\x on
SELECT c ->> 'url' AS url, c -> 'status' AS status, c -> 'records' AS records,
       c -> 'next' AS next_page, c -> 'target' AS target, c -> 'sample' AS first_record,
       c -> 'rejects' AS would_reject
FROM concord.source_check('service_tickets') c;
\x off

\echo
\echo '== 11. the first sync of each source loads everything =='
CALL concord.sync('crm_customers');
CALL concord.sync('finance_contracts');
CALL concord.sync('finance_invoices');
CALL concord.sync('finance_payers');
CALL concord.sync('service_tickets');
SELECT source, status, pages, requests, records, inserted, rejected
FROM concord.sync_run ORDER BY run_id;
SELECT id, name, phone, stage, city, lifetime_value FROM sales.customer ORDER BY id LIMIT 4;
SELECT status, count(*) AS contracts, sum(amount) AS amount, min(currency) AS currency
FROM finance.contract GROUP BY status ORDER BY status;

\echo
\echo '== 12. the CRM changes upstream; the next sync fetches only the changes =='
-- Two customers move on (A→B, B→C) and a new one signs up.
SELECT (concord.http_post(:'stub_url' || '/sync/crm/customers/update', '{"ids": [1, 2]}'::jsonb)).status = 200 AS updated,
       (concord.http_post(:'stub_url' || '/sync/crm/customers/add', '{"n": 1}'::jsonb)).status = 200 AS added \gset
CALL concord.sync('crm_customers');
SELECT source, records, inserted, updated, unchanged, cursor_before, since, cursor_after
FROM concord.sync_run WHERE source = 'crm_customers' ORDER BY run_id;
SELECT id, name, stage, updated_at FROM sales.customer
WHERE updated_at >= '2026-06-01' ORDER BY id;

\echo
\echo '== 13. a record that does not fit is set aside, the rest loads =='
SELECT r.source, r.page, r.record ->> 'ticket_id' AS ticket_id,
       r.record ->> 'opened_at' AS opened_at, r.error_code, r.reason
FROM concord.sync_reject r ORDER BY r.reject_id;
SELECT count(*) AS tickets_loaded, count(*) FILTER (WHERE ticket_id = 3) AS ticket_3
FROM service.ticket;

\echo
\echo '== 14. pg_cron runs the CRM sync every minute =='
SELECT count(*) AS crm_runs FROM concord.sync_run WHERE source = 'crm_customers' \gset
SELECT set_config('demo.crm_runs', :'crm_runs', false) \gset
-- One more change upstream for the scheduled run to pick up.
SELECT (concord.http_post(:'stub_url' || '/sync/crm/customers/update', '{"ids": [3]}'::jsonb)).status = 200 AS updated \gset
-- (test/demo.sh sets cron to off where pg_cron is not installed for the
-- server's major: the demo then runs the job's command itself.)
\if :{?cron}
\else
\set cron on
\endif
\if :cron
SELECT concord.source_schedule('crm_customers', '* * * * *') AS job \gset
SELECT jobid, jobname, schedule, command, username FROM cron.job ORDER BY jobid;
\echo 'waiting for pg_cron to start the job at the next minute (at most 75 s) ...'
DO $$
DECLARE
  before bigint := current_setting('demo.crm_runs')::bigint;
  deadline timestamptz := clock_timestamp() + interval '75 seconds';
BEGIN
  LOOP
    EXIT WHEN (SELECT count(*) FROM concord.sync_run
               WHERE source = 'crm_customers' AND status <> 'running') > before;
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'pg_cron did not run crm_customers within 75 s'
        USING HINT = 'See cron.job_run_details and the server log (tmp/demo/postgres.log).';
    END IF;
    PERFORM pg_sleep(1);
  END LOOP;
END $$;
SELECT source, status, to_char(started_at, 'HH24:MI:SS') AS started, records, updated, unchanged, run_by
FROM concord.sync_run WHERE source = 'crm_customers' ORDER BY run_id DESC LIMIT 1;
SELECT jobid, command, status, return_message, to_char(start_time, 'HH24:MI:SS') AS started
FROM cron.job_run_details WHERE jobid = :job ORDER BY runid;
\else
\echo 'pg_cron is not installed for this server: running the command its job would run'
CALL concord.sync('crm_customers');
SELECT source, status, to_char(started_at, 'HH24:MI:SS') AS started, records, updated, unchanged, run_by
FROM concord.sync_run WHERE source = 'crm_customers' ORDER BY run_id DESC LIMIT 1;
\endif
-- pg_cron's run brought the change made before scheduling: customer 3, 流失 → 已签约.
SELECT id, name, stage, updated_at FROM sales.customer WHERE id = 3;
\if :cron
SELECT concord.source_unschedule('crm_customers') AS unscheduled;
\endif

\echo
\echo '== 15. marketing (市场) has no API: its sign-ups are a plain table =='
-- 销售 knows customer 1 as:
SELECT id, name, phone FROM sales.customer WHERE id = 1;
-- 市场 collected the same person at a trade fair, spelled its own way,
-- and two people the CRM has never seen.
CREATE SCHEMA marketing;
CREATE TABLE marketing.signup (signup_id text PRIMARY KEY, full_name text, phone text,
                               email text, signed_up timestamptz);
INSERT INTO marketing.signup VALUES
  ('S-1', 'Zhang Wei', '138 0000 0001',      'zhangwei@example.com',    '2025-09-12 14:20'),
  ('S-2', '欧阳娜娜',   '+86 139 8888 0002',  'nana.ouyang@example.com', '2025-09-12 15:05'),
  ('S-3', 'Li Lei',    '0086-186-6666-0003', 'lilei@example.com',       '2025-09-13 10:40');
SELECT * FROM marketing.signup ORDER BY signup_id;

\echo
\echo '== 16. one customer, four departments, four spellings =='
-- 销售, 财务's billing, 客服 and 市场 write 张伟's phone and name
-- differently: traditional script, full-width digits, pinyin. 财务's
-- contracts and invoices only carry the CRM's customer number.
SELECT department, written_as, phone, concord.normalize_phone(phone) AS phone_e164,
       concord.name_key(written_as) AS name_key
FROM (SELECT 1 AS o, '销售 sales.customer #' || id AS department, name AS written_as, phone
        FROM sales.customer WHERE id = 1
      UNION ALL
      SELECT 2, '财务 finance.payer ' || payer_id, contact, phone
        FROM finance.payer WHERE payer_id = 'FK-00001'
      UNION ALL
      SELECT 3, '客服 service.ticket #' || ticket_id, NULL, customer_phone
        FROM service.ticket
       WHERE concord.normalize_phone(customer_phone) =
             (SELECT concord.normalize_phone(phone) FROM sales.customer WHERE id = 1)
      UNION ALL
      SELECT 4, '市场 marketing.signup ' || signup_id, full_name, phone
        FROM marketing.signup WHERE signup_id = 'S-1') x
ORDER BY o;
-- Company names lose their legal form, brackets and province: the CRM's
-- company of 张伟 and 财务's invoice title are one company.
SELECT c AS company, concord.normalize_company(c) AS normalized
FROM unnest(ARRAY[(SELECT extra ->> 'company' FROM sales.customer WHERE id = 1),
                  (SELECT invoice_title FROM finance.payer WHERE payer_id = 'FK-00001'),
                  '上海华信科技股份有限公司']) c;

\echo
\echo '== 17. identity: register who-is-who columns and the events =='
-- Sources: which column carries the name, the phone, the e-mail. The CRM
-- has the highest priority (10) for the golden record.
SELECT concord.identity_source_create('sales', 'sales.customer', 'id',
         '{"name": "name", "phone": "phone", "updated_at": "updated_at"}', priority => 10) IS NOT NULL AS sales,
       concord.identity_source_create('finance', 'finance.payer', 'payer_id',
         '{"name": "contact", "phone": "phone", "company": "invoice_title", "updated_at": "updated_at"}',
         priority => 20) IS NOT NULL AS finance,
       concord.identity_source_create('service', 'service.ticket', 'ticket_id',
         '{"phone": "customer_phone"}') IS NOT NULL AS service,
       concord.identity_source_create('marketing', 'marketing.signup', 'signup_id',
         '{"name": "full_name", "phone": "phone", "email": "email"}') IS NOT NULL AS marketing;
-- 财务's invoices name a contract, not a customer: a view adds the customer.
CREATE VIEW finance.invoice_by_customer AS
  SELECT i.invoice_no, c.customer_id, i.issued_at, i.amount, i.paid
  FROM finance.invoice i JOIN finance.contract c USING (contract_no);
-- Events: rows that happened to a customer, named by a source's key.
SELECT concord.identity_event_create('contract_signed', 'finance.contract', 'sales', 'customer_id',
         'signed_on', '合同签订', ARRAY['contract_no', 'amount']) IS NOT NULL AS contract,
       concord.identity_event_create('invoice_issued', 'finance.invoice_by_customer', 'sales', 'customer_id',
         'issued_at', '开票', ARRAY['invoice_no', 'amount', 'paid']) IS NOT NULL AS invoice,
       concord.identity_event_create('ticket_opened', 'service.ticket', 'service', 'ticket_id',
         'opened_at', '工单', ARRAY['subject', 'priority']) IS NOT NULL AS ticket,
       concord.identity_event_create('signed_up', 'marketing.signup', 'marketing', 'signup_id',
         'signed_up', '市场报名') IS NOT NULL AS signup;
SELECT name AS source, source_table, key_column, columns, priority
FROM concord.identity_source ORDER BY priority, name;

\echo
\echo '== 18. resolve: 张伟 is one customer, with a 360° view and a timeline =='
SELECT * FROM concord.resolve();
-- Customers by the departments that know them.
SELECT (SELECT string_agg(k, ' + ' ORDER BY k) FROM jsonb_object_keys(rows_by_source) k) AS known_to,
       count(*) AS customers
FROM concord.customer_360 GROUP BY 1 ORDER BY 2 DESC, 1;
SELECT customer_id AS zw FROM concord.customer_link WHERE (source, key) = ('sales', '1') \gset
-- 张伟's rows. The ticket has only a phone: its +9 clears the threshold
-- of 8, since no other name shares that phone.
SELECT source, key, customer_id, how, round(score::numeric, 1) AS score
FROM concord.customer_link WHERE customer_id = :zw ORDER BY source, key;
\x on
SELECT customer_id, name, phone, email, records, chosen_from, rows_by_source, last_event_at
FROM concord.customer_360 WHERE customer_id = :zw;
\x off
SELECT e.key AS event, e.value ->> 'label' AS label, e.value -> 'count' AS count,
       (e.value ->> 'latest')::timestamptz AS latest
FROM concord.customer_360 c, jsonb_each(c.events) e
WHERE c.customer_id = :zw ORDER BY latest;
-- 张伟's timeline: four departments in time order (events of 财务 name the
-- CRM's customer number, so they hang off the sales row).
SELECT to_char(at, 'YYYY-MM-DD HH24:MI') AS at, label, event, source || ':' || key AS "of row", detail
FROM concord.customer_timeline WHERE customer_id = :zw ORDER BY at, event;
-- Why the CRM's 张伟 and marketing's "Zhang Wei" are one person.
SELECT m -> 'score' AS score, m -> 'threshold' AS threshold, m ->> 'rule' AS rule, m -> 'match' AS match
FROM concord.why_matched('sales', '1', 'marketing', 'S-1') m;
SELECT a.key AS attribute, a.value ->> 'a' AS sales, a.value ->> 'b' AS marketing,
       a.value ->> 'level' AS level, a.value -> 'weight' AS weight
FROM concord.why_matched('sales', '1', 'marketing', 'S-1') m, jsonb_each(m -> 'attributes') a
WHERE a.value ->> 'a' IS NOT NULL OR a.value ->> 'b' IS NOT NULL
ORDER BY a.key;

\echo
\echo '== 19. resolving again changes no customer ID =='
SELECT * FROM concord.resolve();
SELECT customer_id AS "张伟's ID", customer_id = :zw AS unchanged
FROM concord.customer_link WHERE (source, key) = ('sales', '1');

\echo
\echo '== 20. policy: one table, each department its own rows and fields =='
-- People log in as themselves: a 销售 rep for 华东, the head of 销售
-- (who approves exceptions), a 财务 clerk and a 客服 agent.
CREATE ROLE li_na LOGIN;
CREATE ROLE wang_qiang LOGIN;
CREATE ROLE zhao_min LOGIN;
CREATE ROLE wang_fang LOGIN;
SELECT concord.department_create('sales', NULL, '销售') AS d1, concord.department_create('finance', NULL, '财务') AS d2,
       concord.department_create('service', NULL, '客服') AS d3 \gset
SELECT concord.member_create('li_na', 'sales', '销售代表', '{"region": "华东"}') AS m1,
       concord.member_create('wang_qiang', 'sales', '销售总监', '{"region": "华北", "approver": true}') AS m2,
       concord.member_create('zhao_min', 'finance', '会计') AS m3,
       concord.member_create('wang_fang', 'service', '客服专员') AS m4 \gset
GRANT USAGE ON SCHEMA sales, finance TO li_na, wang_qiang, zhao_min, wang_fang;
GRANT SELECT ON sales.customer TO li_na, wang_qiang, zhao_min, wang_fang;
GRANT SELECT, UPDATE ON finance.contract TO li_na, zhao_min;
-- The CRM table gets an owner that row security binds (a superuser's
-- view would bypass it).
CREATE ROLE sales_owner NOLOGIN;
ALTER TABLE sales.customer OWNER TO sales_owner;
-- Rows: a rep sees her region's customers; 财务 and 客服 see them all.
SELECT concord.row_policy_create('customer_by_region', 'sales.customer', $$extra ->> 'region' = concord.member('region')$$) AS compiled;
SELECT concord.row_policy_create('customer_finance_service', 'sales.customer',
         $$concord.member_in('finance') OR concord.member_in('service')$$) IS NOT NULL AS defined \gset
-- Fields: 客服 calls customers back and sees phones; the others see them
-- masked. Only 财务 sees the exact lifetime value; the others a band.
SELECT concord.column_mask_create('sales.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('service')$$) AS governed_view;
SELECT concord.column_mask_create('sales.customer', 'lifetime_value', 'concord.mask_bucket(lifetime_value, 100)',
         $$concord.member_in('finance')$$) IS NOT NULL AS masked \gset
\echo '-- li_na (销售代表, 华东) logs in and reads the customers:'
\c - li_na
SELECT id, name, phone, city, lifetime_value FROM sales.customer_governed ORDER BY id LIMIT 4;
\echo '-- zhao_min (财务):'
\c - zhao_min
SELECT id, name, phone, city, lifetime_value FROM sales.customer_governed ORDER BY id LIMIT 4;
\echo '-- wang_fang (客服):'
\c - wang_fang
SELECT id, name, phone, city, lifetime_value FROM sales.customer_governed ORDER BY id LIMIT 4;
\echo '-- a probe with a clear number finds nothing in a masked column (li_na):'
\c - li_na
SELECT count(*) AS found FROM sales.customer_governed WHERE phone = '13800000001';

\echo
\echo '== 21. process state: only 财务 edits a signed contract''s amount =='
\c - postgres
SELECT concord.write_rule_create('contract_amount', 'finance.contract',
         $$concord.member_in('finance') AND status = '已签约'$$, columns => ARRAY['amount']) AS compiled;
SELECT min(contract_no) AS signed FROM finance.contract WHERE status = '已签约' \gset
\echo '-- li_na tries to change it:'
\c - li_na
\set ON_ERROR_STOP 0
UPDATE finance.contract SET amount = amount + 1000 WHERE contract_no = :'signed';
\set ON_ERROR_STOP 1
\echo '-- zhao_min may:'
\c - zhao_min
UPDATE finance.contract SET amount = amount + 1000 WHERE contract_no = :'signed' RETURNING contract_no, amount;

\echo
\echo '== 22. an exception: li_na covers 华北 for a few seconds, approved by her head =='
\c - li_na
SELECT count(*) AS "li_na sees" FROM sales.customer_governed;
SELECT concord.access_request('sales.customer', $$extra ->> 'region' = '华北'$$, '替华北同事跟进客户',
                              clock_timestamp() + interval '4 seconds') AS request \gset
\c - wang_qiang
SELECT concord.access_approve(:request) AS decision;
\c - li_na
SELECT count(*) AS "li_na sees now" FROM sales.customer_governed;
SELECT pg_sleep(4.5) IS NOT NULL AS waited \gset
SELECT count(*) AS "li_na sees 4 s later" FROM sales.customer_governed;
\c - postgres
-- every step is in the audit log, chained by SHA-256
SELECT id, action, session_actor AS who, object FROM concord.audit_log
WHERE action LIKE 'access%' OR action = 'write_rule' ORDER BY id;
SELECT * FROM concord.audit_verify();

\echo
\echo '== 23. metrics: "revenue" defined once, certified by 财务, asked by every department =='
-- 销售 counted revenue when a contract was signed, 财务 when it was paid,
-- each in its own spreadsheet. Now the definitions live in the database,
-- checked by the parser, versioned, owned and certified.
\c - postgres
GRANT concord_metric TO zhao_min;
GRANT USAGE ON SCHEMA service TO wang_fang;
GRANT SELECT ON service.ticket TO wang_fang;
SELECT concord.model_create('contract', 'finance.contract', 'signed_on', '{"status": "status"}', '合同（财务系统）') AS m1,
       concord.model_create('customer', 'sales.customer', NULL,
         $${"region": "extra ->> 'region'", "city": "city"}$$, '客户（销售 CRM）') AS m2,
       concord.model_create('ticket', 'service.ticket', 'opened_at', '{"priority": "priority"}', '工单（客服系统）') AS m3 \gset
-- contracts reach their customer's region; the join is proven many-to-one
SELECT concord.model_join('contract', 'customer', 'customer_id', 'id') AS joined;
SELECT concord.metric_create('revenue', 'simple', model => 'contract', agg => 'sum', expr => 'amount',
                             filter => $$status = '已签约'$$, description => '营收：已签约合同的金额', owner => 'zhao_min') AS v1,
       concord.metric_create('contracts', 'simple', model => 'contract', agg => 'count', description => '合同数（全部）') AS v2,
       concord.metric_create('signed_contracts', 'simple', model => 'contract', agg => 'count',
                             filter => $$status = '已签约'$$, description => '已签约合同数') AS v3,
       concord.metric_create('signed_customers', 'simple', model => 'contract', agg => 'count_distinct', expr => 'customer_id',
                             filter => $$status = '已签约'$$, description => '签约客户数') AS v4,
       concord.metric_create('tickets', 'simple', model => 'ticket', agg => 'count', description => '工单数') AS v5,
       concord.metric_create('sla_breached', 'simple', model => 'ticket', agg => 'count',
                             filter => $$status <> 'closed' AND updated_at - opened_at > interval '72 hours'$$,
                             description => '超过 72 小时未关闭的工单') AS v6 \gset
SELECT concord.metric_create('aov', 'ratio', numerator => 'revenue', denominator => 'signed_contracts',
                             description => '客单价：平均每份已签约合同的金额') AS r1,
       concord.metric_create('conversion_rate', 'ratio', numerator => 'signed_contracts', denominator => 'contracts',
                             description => '转化率：签约的合同占全部合同') AS r2,
       concord.metric_create('active_customers', 'cumulative', base => 'signed_customers', trailing_window => '90 days',
                             description => '活跃客户：近 90 天内签约的客户') AS r3,
       concord.metric_create('sla_breach_rate', 'ratio', numerator => 'sla_breached', denominator => 'tickets',
                             description => '工单超时率') AS r4 \gset
-- the metrics team reviews and certifies what it owns; active customers
-- is still under review
SELECT count(concord.metric_certify(name)) AS certified FROM concord.metric_catalog
 WHERE owner = 'postgres' AND name <> 'active_customers';
\echo '-- zhao_min (财务) owns revenue and certifies it:'
\c - zhao_min
SELECT concord.metric_certify('revenue') AS certified_version;
SELECT name, latest_version AS version, certified, owner, description FROM concord.metric_catalog ORDER BY name;
\echo '-- 财务: revenue and average contract value by quarter (Asia/Shanghai)'
SELECT j ->> 'metric_time' AS quarter, j ->> 'revenue' AS revenue, round((j ->> 'aov')::numeric, 2) AS aov
  FROM concord.metric_query('{revenue,aov}', grain => 'quarter', time_zone => 'Asia/Shanghai') j;
\echo '-- 销售 (li_na): conversion and active customers by month; the same definitions'
\c - li_na
SELECT j ->> 'metric_time' AS month, j ->> 'signed_contracts' AS signed,
       round((j ->> 'conversion_rate')::numeric * 100, 1) AS "conversion %", j ->> 'active_customers' AS active_customers
  FROM concord.metric_query('{signed_contracts,conversion_rate,active_customers}', grain => 'month',
                            from_date => '2026-01-01', to_date => '2026-06-30', time_zone => 'Asia/Shanghai') j;
\echo '-- 客服 (wang_fang): the SLA breach rate by priority'
\c - wang_fang
SELECT j ->> 'priority' AS priority, j ->> 'tickets' AS tickets, round((j ->> 'sla_breach_rate')::numeric * 100, 1) AS "breached %"
  FROM concord.metric_query('{tickets,sla_breach_rate}', '{priority}') j;
\echo '-- 市场 (chen_jing, logging in for the first time): the same conversion rate, by quarter'
\c - postgres
CREATE ROLE chen_jing LOGIN;
SELECT concord.department_create('marketing', NULL, '市场') AS d4,
       concord.member_create('chen_jing', 'marketing', '市场专员') AS m5 \gset
GRANT USAGE ON SCHEMA finance TO chen_jing;
GRANT SELECT ON finance.contract TO chen_jing;
\c - chen_jing
SELECT j ->> 'metric_time' AS quarter, round((j ->> 'conversion_rate')::numeric * 100, 1) AS "conversion %",
       j ->> 'signed_customers' AS signed_customers
  FROM concord.metric_query('{conversion_rate,signed_customers}', grain => 'quarter', time_zone => 'Asia/Shanghai') j;
\echo '-- anyone can read the SQL behind a number:'
SELECT concord.metric_sql('{revenue}', grain => 'quarter', time_zone => 'Asia/Shanghai') AS "SQL";
\echo '-- for BI tools: a view in schema metrics, commented, read as the person connected'
\c - postgres
SELECT concord.metric_publish('revenue_by_quarter', '{revenue,aov,conversion_rate}', grain => 'quarter',
                              time_zone => 'Asia/Shanghai', readers => '{li_na,zhao_min}') AS published;
SELECT col_description('metrics.revenue_by_quarter'::regclass, 2) AS "comment a BI tool shows for revenue";
\c - li_na
SELECT metric_time, revenue, round(aov, 2) AS aov, round(conversion_rate, 3) AS conversion_rate FROM metrics.revenue_by_quarter;
\c - postgres

\echo
\echo '== 24. flow: a signed contract reaches 财务, 客服 and 市场 in one transaction =='
-- Until now 财务 heard of a signed contract days later, by e-mail. The
-- stub on 127.0.0.1 plays 市场's system and 客服's DingTalk group.
\c - postgres
SELECT concord.secret_set('mkt_hook_key', 'demo-marketing-hook-key-0123456789') IS NULL AS stored \gset
SELECT concord.endpoint_create('marketing', :'stub_url' || '/hook/marketing', 'mkt_hook_key', description => '市场系统') AS e1,
       concord.endpoint_create('service_dingtalk', :'stub_url' || '/hook/service_dingtalk', description => '客服钉钉群', unsigned => true) AS e2 \gset
CREATE TABLE finance.invoice_task (task_id serial PRIMARY KEY, contract_no text, amount numeric(14,2),
                                   status text DEFAULT '待开票', created_at timestamptz DEFAULT now());
CREATE TABLE service.onboarding (ticket_id serial PRIMARY KEY, customer_id bigint, contract_no text,
                                 subject text, created_at timestamptz DEFAULT now());
SELECT concord.event_rule_create('contract_signed', 'finance.contract', '{update}',
  $$NEW.status = '已签约' AND OLD.status IS DISTINCT FROM '已签约'$$,
  $$[{"insert": "finance.invoice_task", "values": {"contract_no": "$new.contract_no", "amount": "$new.amount"}},
     {"insert": "service.onboarding", "values": {"customer_id": "$new.customer_id", "contract_no": "$new.contract_no",
                                                 "subject": "新签约客户开通"}},
     {"webhook": "marketing", "payload": {"event": "contract_signed", "contract": "$new.contract_no",
                                          "customer_id": "$new.customer_id", "amount": "$new.amount"}}]$$,
  '合同签约：财务开票、客服开通、市场跟进') AS rule;
SELECT min(contract_no) AS pending_contract FROM finance.contract WHERE status = '审批中' \gset
\echo '-- the contract is signed: one UPDATE, one transaction'
UPDATE finance.contract SET status = '已签约' WHERE contract_no = :'pending_contract';
SELECT contract_no, amount, status FROM finance.invoice_task;
SELECT customer_id, contract_no, subject FROM service.onboarding;
SELECT rule, op, outcomes FROM concord.event_firing;
SELECT pg_sleep(1) IS NOT NULL AS waited \gset
\echo '-- 市场''s system received it, signed, with an idempotency key:'
SELECT m ->> 'key' AS idempotency_key, left(m ->> 'signature', 20) || '...' AS signature, m ->> 'body' AS body
  FROM jsonb_array_elements(((concord.http_get(:'stub_url' || '/received/marketing')).body)::jsonb -> 'received') m;
SELECT endpoint, status, attempts, delivered_at - enqueued_at AS took FROM concord.outbox;

\echo
\echo '== 25. an SLA alert: late tickets reach 客服''s DingTalk group =='
SELECT concord.alert_create('ticket_sla',
  query => $$SELECT ticket_id, subject FROM service.ticket
              WHERE status <> 'closed' AND opened_at < now() - interval '72 hours'$$,
  severity => 'critical', every => '10 minutes',
  channels => '[{"webhook": "service_dingtalk", "format": "dingtalk"}]',
  description => '工单超过 72 小时未关闭') AS alert;
SELECT concord.alert_check('ticket_sla') AS checked;
SELECT rule, severity, detail -> 'count' AS late_tickets, resolved_at IS NULL AS open FROM concord.alert_event;
SELECT pg_sleep(1) IS NOT NULL AS waited \gset
\echo '-- what the DingTalk group got:'
SELECT m ->> 'body' AS dingtalk_message
  FROM jsonb_array_elements(((concord.http_get(:'stub_url' || '/received/service_dingtalk')).body)::jsonb -> 'received') m;
\echo '-- and for Prometheus:'
SELECT line FROM regexp_split_to_table(concord.metrics_text(), E'\n') line WHERE line ~ '^concord_(outbox_messages|alerts_open|worker_up)';

\echo
\echo 'All of the above is plain SQL; connect and try it yourself (see below).'
