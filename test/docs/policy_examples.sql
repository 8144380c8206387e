-- docs/policy.md: every ```sql example runs, and gives what the page says.
-- Two parts, each in a transaction rolled back (its roles too), since the
-- walk-through and the reference sections name the same departments and
-- people:
--   1. the DBA's walk-through of four departments (example 1) on a CRM
--      table shaped like the synced one, each person then seeing what the
--      page's table says; then, in that state, time-bound access (the rep
--      asks, the head of sales approves: each as herself, through SET
--      SESSION AUTHORIZATION, which is what the functions read) and
--      explain_access;
--   2. the reference sections in order: departments, groups, row policies,
--      masks (computed, then stored), write rules and the EXPLAIN ANALYZE
--      the guard refuses, with the messages the page shows.
-- pgTAP's plan is made before the first transaction, so that it outlives
-- the rollbacks; finish() is left out, as the counters it reads were
-- rolled back with each part (the harness checks the plan and each test's
-- line).
SET client_min_messages = warning;

\set page policy
\ir blocks.psql

-- Run code as the person who (a session user, not only the current user).
CREATE FUNCTION pg_temp.as_person(who text, code text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SET SESSION AUTHORIZATION %I', who);
  EXECUTE code INTO r;
  RESET SESSION AUTHORIZATION;
  RETURN r;
END $$;

-- The error (message, then detail) code raises.
CREATE FUNCTION pg_temp.error_of(code text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE m text; d text;
BEGIN
  EXECUTE code;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
  RETURN ARRAY[m, d];
END $$;

SELECT plan((SELECT count(*)::int FROM blocks) + 29);

-- 1. the walk-through, then time-bound access and explain_access in its state
BEGIN;
CREATE SCHEMA sales;
CREATE SCHEMA finance;
CREATE TABLE sales.customer (id bigint PRIMARY KEY, name text, phone text, city text, lifetime_value numeric(12,2), extra jsonb);
INSERT INTO sales.customer VALUES
  (1, '张伟', '13812345678', '上海', 12345.67, '{"region": "华东", "contact_ok": true}'),
  (2, '王芳', '13912345679', '杭州', 2345.00, '{"region": "华东", "contact_ok": false}'),
  (3, '李娜', '15012345670', '北京', 888.88, '{"region": "华北", "contact_ok": true}'),
  (4, '赵敏', '18612345678', '成都', 50.00, '{"region": "西南", "contact_ok": false}');
CREATE TABLE finance.contract (contract_no text PRIMARY KEY, customer_id bigint, amount numeric(14,2), status text);

SELECT lives_ok(code, 'docs/policy.md example 1 (the walk-through) runs as written') FROM blocks WHERE n = 1;

SELECT results_eq($$SELECT r, (concord.explain_access(r, 'sales.customer') -> 'rows')::int
                      FROM unnest(ARRAY['li_na', 'wang_qiang', 'zhao_min', 'wang_fang', 'chen_jing']) r$$,
                  $$VALUES ('li_na', 2), ('wang_qiang', 4), ('zhao_min', 4), ('wang_fang', 4), ('chen_jing', 2)$$,
                  'rows: the rep her region''s, the head every region''s, 财务 and 客服 all, 市场 those who agreed to be contacted');
SELECT is((SELECT string_agg(x ->> 'phone', ',' ORDER BY x ->> 'id') FROM jsonb_array_elements(concord.explain_access('li_na', 'sales.customer') -> 'sample') x),
          '138****5678,139****5679', 'the rep: phones masked');
SELECT is((SELECT string_agg(x ->> 'phone', ',' ORDER BY x ->> 'id') FROM jsonb_array_elements(concord.explain_access('wang_fang', 'sales.customer') -> 'sample') x),
          '13812345678,13912345679,15012345670,18612345678', '客服: phones in clear (they call back)');
SELECT is((SELECT string_agg(x ->> 'lifetime_value', ',' ORDER BY x ->> 'id') FROM jsonb_array_elements(concord.explain_access('wang_fang', 'sales.customer') -> 'sample') x),
          '12300,2300,800,0', '客服: lifetime value in bands of 100');
SELECT is((SELECT string_agg(x ->> 'lifetime_value', ',' ORDER BY x ->> 'id') FROM jsonb_array_elements(concord.explain_access('zhao_min', 'sales.customer') -> 'sample') x),
          '12345.67,2345.00,888.88,50.00', '财务: lifetime value exact');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'finance.contract'::regclass AND NOT tgisinternal), 2,
          'the process rule and the audit trail are on 财务''s contracts');

-- Time-bound access: the deals of the walk-through's sales team, one
-- policy by region.  The example's first statement runs as the rep; its
-- second as the head of sales, with the id the first returned for its 42.
CREATE TABLE sales.deal (id int PRIMARY KEY, region text, stage text);
INSERT INTO sales.deal VALUES (1, '华东', '跟进中'), (2, '华西', '跟进中'), (3, '华西', '已签约');
ALTER TABLE sales.deal OWNER TO sales_owner;
GRANT SELECT ON sales.deal TO li_na, wang_qiang;
SELECT concord.row_policy_create('deal_by_region', 'sales.deal', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
SELECT split_part(code, '-- the head of sales', 1) AS request,
       '-- the head of sales' || split_part(code, '-- the head of sales', 2) AS approval
FROM blocks WHERE code LIKE '%access_request(%' \gset
SELECT is((concord.explain_access('li_na', 'sales.deal') -> 'rows')::int, 1, 'before: the 华东 rep sees her region''s deal');
SELECT lives_ok(format($$SELECT set_config('doc.request', pg_temp.as_person('li_na', %L), true)$$, :'request'),
                format('docs/policy.md example %s, the request, runs as the rep', (SELECT n FROM blocks WHERE code LIKE '%access_request(%')));
SELECT results_eq($$SELECT role_name::text, status, reason FROM concord.access_request WHERE id = current_setting('doc.request')::bigint$$,
                  $$VALUES ('li_na', 'requested', '替华西同事跟进两个客户')$$, 'it returned the id of her request');
SELECT lives_ok(format($$SELECT pg_temp.as_person('wang_qiang', %L)$$,
                       regexp_replace(:'approval', '\m42\M', current_setting('doc.request'), 'g')),
                'and the approval runs as the head of sales (with that id for 42)');
SELECT is((concord.explain_access('li_na', 'sales.deal') -> 'rows')::int, 3, 'approved: she sees the 华西 deals too');
SELECT is((SELECT count(*)::int FROM pg_policies WHERE tablename = 'deal' AND policyname = 'concord_grant_' || current_setting('doc.request')),
          1, 'through a policy concord_grant_<id> on the table');

SELECT lives_ok(code, format('docs/policy.md example %s (explain_access) runs', n)) FROM blocks WHERE code LIKE 'SELECT jsonb_pretty(concord.explain_access(%';
SELECT results_eq($$SELECT e #>> '{member,department}', e #>> '{member,title}', e #>> '{member,attributes,region}', e ->> 'read_through',
                           (SELECT string_agg(p ->> 'name', ',') FROM jsonb_array_elements(e -> 'row_policies') p),
                           (SELECT string_agg(m ->> 'column', ',') FROM jsonb_array_elements(e -> 'masks') m)
                      FROM concord.explain_access('li_na', 'sales.customer') e$$,
                  $$VALUES ('sales', '销售代表', '华东', 'sales.customer_governed',
                            'customer_by_region,customer_finance_service,customer_marketing', 'lifetime_value,phone')$$,
                  'explain_access: her membership, the policies and masks on the table, read through the governed view');
ROLLBACK;

-- 2. the reference sections, in order
BEGIN;
CREATE SCHEMA sales;
CREATE SCHEMA finance;
CREATE ROLE sales_owner NOLOGIN;
CREATE TABLE sales.customer (id bigint PRIMARY KEY, name text, phone text, owner_role text);
INSERT INTO sales.customer VALUES (1, '李娜', '13812345678', 'li_na'), (2, '王芳', '13912345679', 'wang_qiang'),
                                  (3, '李娜', '15012345670', 'wang_qiang');
CREATE TABLE sales.deal (id int PRIMARY KEY, region text, owner_role text, stage text);
INSERT INTO sales.deal VALUES (1, '华东', 'chen_jing', '跟进中'), (2, '华北', 'li_na', '跟进中'), (3, '华北', 'wang_qiang', '已签约');
CREATE TABLE finance.contract (contract_no text PRIMARY KEY, status text, invoice_amount numeric(14,2));
INSERT INTO finance.contract VALUES ('HT-1', '已签约', 1000), ('HT-2', '已关闭', 2000);
ALTER TABLE sales.customer OWNER TO sales_owner;
ALTER TABLE sales.deal OWNER TO sales_owner;
ALTER TABLE finance.contract OWNER TO sales_owner;

-- departments and members
SELECT lives_ok(code, format('docs/policy.md example %s (departments and members) runs', n)) FROM blocks WHERE n = 2;
SELECT results_eq($$SELECT d.name, d.parent, m.role_name::text, m.title, m.attributes ->> 'region'
                      FROM concord.department d LEFT JOIN concord.member m ON m.department = d.name ORDER BY d.name$$,
                  $$VALUES ('finance', NULL, NULL, NULL, NULL), ('sales', NULL, 'wang_qiang', '销售总监', NULL),
                           ('sales_east', 'sales', 'li_na', '销售代表', '华东')$$,
                  'the departments (a team under sales) and the two members');
SET LOCAL ROLE li_na;
SELECT results_eq($$SELECT concord.member('region'), concord.member('title'), concord.member_in('sales'), concord.member_in('finance')$$,
                  $$VALUES ('华东', '销售代表', true, false)$$, 'the rep: her region and title; in sales, through sales_east');
RESET ROLE;

-- groups
SELECT lives_ok(code, format('docs/policy.md example %s (groups of roles) runs', n)) FROM blocks WHERE n = 3;
SET LOCAL ROLE zhou_jie;
SELECT results_eq($$SELECT concord.member('region'), concord.member_in('sales')$$, $$VALUES (NULL::text, false)$$,
                  'the example ends with zhou_jie out of the group: no region, not in sales');
RESET ROLE;
GRANT east_reps TO zhou_jie;
SET LOCAL ROLE zhou_jie;
SELECT results_eq($$SELECT concord.member('region'), concord.member_in('sales')$$, $$VALUES ('华东', true)$$,
                  'while granted east_reps, she has the east''s region, in sales');
RESET ROLE;
SELECT is(concord.explain_access('zhou_jie', 'sales.customer') -> 'groups' -> 0 ->> 'group', 'east_reps', 'explain_access lists her group');
REVOKE east_reps FROM zhou_jie;

-- row policies
CREATE ROLE zhao_min;
SELECT concord.member_create('zhao_min', 'finance', '会计') IS NOT NULL AS m \gset
GRANT USAGE ON SCHEMA sales, finance TO li_na, wang_qiang, zhao_min, zhou_jie;
GRANT SELECT ON sales.deal TO li_na, wang_qiang, zhao_min, zhou_jie;
GRANT SELECT ON sales.customer TO li_na, wang_qiang, zhao_min;
GRANT SELECT, UPDATE, DELETE ON finance.contract TO li_na, zhao_min;
SELECT lives_ok(code, format('docs/policy.md example %s (row policies) runs', n)) FROM blocks WHERE code LIKE '%''deal_sales''%';
SELECT results_eq($$SELECT r, (SELECT string_agg(x ->> 'id', ',' ORDER BY (x ->> 'id')::int)
                                 FROM jsonb_array_elements(concord.explain_access(r, 'sales.deal') -> 'sample') x)
                      FROM unnest(ARRAY['li_na', 'wang_qiang', 'zhao_min', 'zhou_jie']) r$$,
                  $$VALUES ('li_na', '1,2'), ('wang_qiang', '1,2,3'), ('zhao_min', '3'), ('zhou_jie', NULL)$$,
                  'the rep her region''s deal and her own, the head all, finance the signed one, no member nothing');
SELECT results_eq($$SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'sales.deal'::regclass$$,
                  $$VALUES (true, true)$$, 'row security on and forced');
SELECT is(pg_temp.error_of($$SELECT concord.row_policy_create('deal_app', 'sales.deal', $p$region = current_setting('app.region')$p$)$$),
          ARRAY['invalid row policy predicate on sales.deal: function current_setting(text) is not immutable',
                $$At character 10 of the predicate: current_setting('app.region')$$],
          'a predicate reading a setting is refused with the error the page shows');

-- column masks, then the phone's mask stored
SELECT lives_ok(code, format('docs/policy.md example %s (column masks) runs', n)) FROM blocks WHERE code LIKE '%''concord.mask_name(name)''%';
SELECT results_eq($$SELECT r, (SELECT string_agg((x ->> 'name') || ' ' || (x ->> 'phone'), ', ' ORDER BY (x ->> 'id')::int)
                                 FROM jsonb_array_elements(concord.explain_access(r, 'sales.customer') -> 'sample') x)
                      FROM unnest(ARRAY['li_na', 'zhao_min']) r$$,
                  $$VALUES ('li_na', '李娜 138****5678, 王* 139****5679, 李* 150****5670'),
                           ('zhao_min', '李* 13812345678, 王* 13912345679, 李* 15012345670')$$,
                  'through sales.customer_governed: the rep her own customer''s name clear, finance the phones clear');
SELECT lives_ok(code, format('docs/policy.md example %s (a stored mask) runs', n)) FROM blocks WHERE code LIKE '%store => true%';
SELECT is((SELECT attgenerated::text || ' ' || pg_get_expr(adbin, adrelid) FROM pg_attribute JOIN pg_attrdef ON (adrelid, adnum) = (attrelid, attnum)
            WHERE attrelid = 'sales.customer'::regclass AND attname = 'concord_masked_phone'),
          's concord.mask_phone(phone)', 'the masked phone is a stored generated column of the table');
SELECT is((SELECT string_agg(x ->> 'phone', ',' ORDER BY (x ->> 'id')::int) FROM jsonb_array_elements(concord.explain_access('li_na', 'sales.customer') -> 'sample') x),
          '138****5678,139****5679,150****5670', 'and the rep still sees phones masked');

-- governance_check, in that state: nothing the rep can take
SELECT lives_ok(code, format('docs/policy.md example %s (governance_check) runs', n)) FROM blocks WHERE code LIKE '%governance_check() WHERE%';
SELECT is((SELECT string_agg(DISTINCT kind, ',') FROM concord.governance_check() WHERE governed = 'sales.customer'::regclass
             AND role = 'li_na'), NULL, 'it finds no way around sales.customer''s governance for the rep');

-- write rules
SELECT lives_ok(code, format('docs/policy.md example %s (write rules) runs', n)) FROM blocks WHERE code LIKE '%''invoice_by_finance''%';
SELECT is(pg_temp.error_of($$UPDATE finance.contract SET invoice_amount = 1500 WHERE contract_no = 'HT-1'$$),
          ARRAY['write rule "invoice_by_finance" forbids this UPDATE on finance.contract',
                $$The rule allows changes of invoice_amount only where: ((SELECT concord.member_in('finance'::text) AS member_in) AND (status = '已签约'::text))$$],
          'someone outside finance changing an invoice amount gets the error the page shows');
SET LOCAL ROLE zhao_min;
SELECT lives_ok($$UPDATE finance.contract SET invoice_amount = 1500 WHERE contract_no = 'HT-1'$$, 'finance changes a signed contract''s invoice amount');
SELECT throws_like($$DELETE FROM finance.contract WHERE contract_no = 'HT-2'$$, 'write rule "closed_is_closed" forbids this DELETE%',
                   'a closed contract is deleted by nobody');
RESET ROLE;

-- EXPLAIN ANALYZE: a member's probe of the governed view is refused
CREATE INDEX ON sales.customer (name);
SELECT concord.row_policy_create('customer_own', 'sales.customer', 'owner_role = current_user') IS NOT NULL AS p \gset
SELECT n AS explain_n, code AS explain_code FROM blocks WHERE code LIKE 'EXPLAIN ANALYZE%' \gset
SET LOCAL ROLE li_na;
SELECT throws_ok(:'explain_code', '42501', 'EXPLAIN ANALYZE is not allowed over sales.customer, where row security hides rows from you',
                 format('docs/policy.md example %s (EXPLAIN ANALYZE by a member) is refused with the message the page shows', :explain_n));
SELECT lives_ok(replace(:'explain_code', 'EXPLAIN ANALYZE', 'EXPLAIN'), 'plain EXPLAIN of it is allowed');
RESET ROLE;

-- audit checkpoints: an endpoint audit_anchor (the stub server), the
-- example's checkpoint literal replaced by the one just taken
SELECT concord.http_allow_host('127.0.0.1', current_setting('concord_test.stub_port')::int, note => 'docs_policy') IS NOT NULL AS al,
       concord.endpoint_create('audit_anchor', current_setting('concord_test.stub_url') || '/echo', unsigned => true) IS NOT NULL AS ep \gset
SELECT lives_ok(replace(code, $q$'{"id": 1042, "hash": "9f2c..."}'$q$, quote_literal(concord.audit_checkpoint()::text)),
                format('docs/policy.md example %s (audit checkpoints) runs, with a checkpoint of this log', n))
  FROM blocks WHERE code LIKE '%audit_checkpoint(%';
SELECT is((SELECT count(*)::int FROM concord.outbox WHERE endpoint = 'audit_anchor' AND payload ? 'audit_checkpoint'), 1,
          'the checkpoint is queued for the endpoint');
ROLLBACK;
