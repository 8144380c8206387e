-- docs/policy.md: the DBA's walk-through of four departments (its first
-- ```sql example) runs on a CRM table shaped like the synced one, and each
-- person then sees what the page's table says.  In a transaction rolled
-- back (its roles too).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

CREATE SCHEMA sales;
CREATE SCHEMA finance;
CREATE TABLE sales.customer (id bigint PRIMARY KEY, name text, phone text, city text, lifetime_value numeric(12,2), extra jsonb);
INSERT INTO sales.customer VALUES
  (1, '张伟', '13812345678', '上海', 12345.67, '{"region": "华东", "contact_ok": true}'),
  (2, '王芳', '13912345679', '杭州', 2345.00, '{"region": "华东", "contact_ok": false}'),
  (3, '李娜', '15012345670', '北京', 888.88, '{"region": "华北", "contact_ok": true}'),
  (4, '赵敏', '18612345678', '成都', 50.00, '{"region": "西南", "contact_ok": false}');
CREATE TABLE finance.contract (contract_no text PRIMARY KEY, customer_id bigint, amount numeric(14,2), status text);

SELECT lives_ok((SELECT m[1] FROM regexp_matches(pg_read_file(current_setting('concord_test.repo') || '/docs/policy.md'),
                                                 '```sql\n(.*?)```') AS m),
                'the walk-through runs as written');

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

SELECT * FROM finish();
ROLLBACK;
