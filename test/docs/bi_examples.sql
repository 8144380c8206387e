-- docs/bi.md: the example runs on what the page takes from the others (the
-- departments and the governed customer table of docs/policy.md, a shop's
-- revenue and average order value of docs/metric.md, under row policies),
-- and each person then sees what "What a person sees" says.  As the
-- person through SET ROLE (test/bi/jdbc.sh logs in as them with a real
-- JDBC client).  In a transaction rolled back (its roles too).
BEGIN;
SET LOCAL client_min_messages = warning;

\set page bi
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 14);

-- the departments, and the CRM's customers governed as in docs/policy.md
CREATE ROLE data_owner;
SELECT concord.department_create('sales', NULL, '销售'), concord.department_create('finance', NULL, '财务') \gset
CREATE SCHEMA sales;
CREATE TABLE sales.customer (id int PRIMARY KEY, name text, phone text, region text);
INSERT INTO sales.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '王芳', '13912345679', '华东'), (3, '李娜', '15012345670', '华北');
ALTER TABLE sales.customer OWNER TO data_owner;
SELECT concord.row_policy_create('customer_rows', 'sales.customer', $$region = concord.member('region') OR concord.member_in('finance')$$) AS p \gset
SELECT concord.column_mask_create('sales.customer', 'phone', 'concord.mask_phone(phone)') AS m \gset
-- a shop's orders, each under its region's policy, and the metrics of docs/metric.md
CREATE SCHEMA shop;
CREATE TABLE shop.customer (id int PRIMARY KEY, region text, segment text, signed_up date);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int, region text, ordered_at timestamptz, status text, amount numeric(12,2));
INSERT INTO shop.customer VALUES (1, '华东', '企业', '2025-12-01'), (2, '华北', '个人', '2026-01-05');
INSERT INTO shop.orders VALUES (1, 1, '华东', '2026-01-10 10:00+08', 'paid', 800), (2, 1, '华东', '2026-01-23 15:00+08', 'paid', 300),
                               (3, 2, '华北', '2026-01-20 09:00+08', 'paid', 500), (4, 2, '华北', '2026-01-21 09:00+08', 'cancelled', 200);
ALTER TABLE shop.orders OWNER TO data_owner;
SELECT concord.row_policy_create('orders_rows', 'shop.orders', $$region = concord.member('region') OR concord.member_in('finance')$$) AS p \gset
SELECT concord.model_create('orders', 'shop.orders', 'ordered_at', '{"region": "region"}', '订单（销售系统）') AS md \gset
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount',
                             filter => $$status = 'paid'$$, description => '已支付订单的金额') AS v1,
       concord.metric_create('paid_count', 'simple', model => 'orders', agg => 'count', filter => $$status = 'paid'$$) AS v2 \gset
SELECT concord.metric_create('aov', 'ratio', numerator => 'revenue', denominator => 'paid_count', description => '客单价') AS v3,
       concord.metric_create('buyers', 'simple', model => 'orders', agg => 'count_distinct', expr => 'customer_id',
                             filter => $$status = 'paid'$$, description => '有支付订单的客户数') AS v4 \gset

SELECT lives_ok(code, format('docs/bi.md example %s runs', n)) FROM blocks ORDER BY n;

SELECT results_eq($$SELECT role_name::text, department, title, attributes ->> 'region' FROM concord.member ORDER BY role_name$$,
                  $$VALUES ('li_na', 'sales', '销售代表', '华东'), ('zhao_min', 'finance', '会计', NULL)$$,
                  'one login each, members of their departments');
SELECT is((SELECT string_agg(r.rolname || ': ' || array_to_string(s.setconfig, ';'), ', ' ORDER BY r.rolname)
             FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname IN ('li_na', 'zhao_min')),
          'li_na: search_path=metrics, sales, zhao_min: search_path=metrics, sales',
          'their schema browser opens on metrics and sales');

SET LOCAL ROLE li_na;
SELECT results_eq($$SELECT id, name, phone FROM sales.customer_governed ORDER BY id$$,
                  $$VALUES (1, '张伟', '138****5678'), (2, '王芳', '139****5679')$$,
                  'li_na: the governed view carries her rows, the phone masked');
SELECT throws_ok('SELECT * FROM sales.customer', '42501', 'permission denied for table customer', 'the base table refuses her');
SELECT results_eq($$SELECT region, revenue, aov FROM metrics.revenue_by_region$$,
                  $$VALUES ('华东', 1100.00, 550.00)$$, 'her revenue is that of the orders her policy shows');
SELECT throws_ok('EXPLAIN ANALYZE SELECT * FROM sales.customer_governed', '42501', NULL,
                 'EXPLAIN ANALYZE over rows her policy hides is refused');
SELECT lives_ok('EXPLAIN SELECT * FROM sales.customer_governed', 'plain EXPLAIN works');
RESET ROLE;
SET LOCAL ROLE zhao_min;
SELECT results_eq($$SELECT region, revenue, aov FROM metrics.revenue_by_region ORDER BY revenue DESC$$,
                  $$VALUES ('华东', 1100.00, 550.00), ('华北', 500.00, 500.00)$$, 'zhao_min''s, of all of them, with the same SQL');
RESET ROLE;

SELECT is((SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'metrics.revenue_by_region'::regclass),
          'security_invoker=true', 'the metric view is security_invoker');
SELECT is(col_description('metrics.revenue_by_region'::regclass,
                          (SELECT attnum FROM pg_attribute WHERE attrelid = 'metrics.revenue_by_region'::regclass AND attname = 'revenue')),
          '已支付订单的金额 (metric revenue version 1 answers, not certified; owner postgres) Adds up: its sum over rows is their total.',
          'a metric column''s comment: the description, the version that answers, whether it is certified, whether it adds up');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'metrics.orders_by_month'::regclass AND attnum > 0),
          '{metric_time,aov,buyers,paid_count,revenue}', 'the monthly view has aov''s components, revenue and paid_count');
SET LOCAL ROLE zhao_min;
SELECT results_eq($$SELECT round(sum(revenue) / sum(paid_count), 2), sum(buyers) FROM metrics.orders_by_month$$,
                  $$SELECT round(aov, 2), buyers FROM metrics.orders_total$$,
                  'zhao_min: the components added up give the total view''s average order value; its buyers read from the total view');
RESET ROLE;
SELECT is(col_description('metrics.orders_by_month'::regclass, 3),
          '有支付订单的客户数 (metric buyers version 1 answers, not certified; owner postgres) Does not add up: what is counted in several rows would be counted again; read a view published at the grain and dimensions wanted.',
          'the distinct count''s comment says it does not add up');
SELECT ok(obj_description('metrics.revenue_by_region'::regclass, 'pg_class') IS NOT NULL
          AND obj_description('sales.customer_governed'::regclass, 'pg_class') IS NOT NULL, 'both views have a comment');

SELECT * FROM finish();
ROLLBACK;
