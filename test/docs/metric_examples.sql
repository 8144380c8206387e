-- docs/metric.md: every ```sql example runs, in order, and the SQL it
-- shows is the SQL concord writes.  In a transaction rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;

\set page metric
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 6);

SELECT lives_ok(code, format('docs/metric.md example %s runs', n)) FROM blocks ORDER BY n;

SELECT is(concord.metric_sql('{revenue}', '{region}', 'month', time_zone => 'Asia/Shanghai', use_rollups => false) || E'\n',
          (SELECT code FROM blocks WHERE code LIKE 'WITH p1 AS (%'),
          'the SQL the page shows is the SQL metric_sql writes (from the models; the page''s rollup comes later)');
SELECT results_eq($$SELECT j ->> 'metric_time', j ->> 'region', (j ->> 'revenue')::numeric, (j ->> 'net_revenue')::numeric
                      FROM concord.metric_query('{revenue,aov,net_revenue}', '{region}', 'month', filters => $f$segment = '企业'$f$,
                                                from_date => '2026-01-01', to_date => '2026-06-30', order_by => '{metric_time,-revenue}',
                                                time_zone => 'Asia/Shanghai') j$$,
                  $$VALUES ('2026-01-01', '华东', 800::numeric, 800::numeric), ('2026-02-01', '华东', 300::numeric, 0::numeric),
                           ('2026-03-01', '华东', 0, 0), ('2026-04-01', '华东', 0, 0), ('2026-05-01', '华东', 0, 0), ('2026-06-01', '华东', 0, 0)$$,
                  'the asking example: 华东''s 企业 customer, February''s order refunded, and the months of the range without orders');
SELECT results_eq($$SELECT j ->> 'method', (j ->> 'collected')::numeric, (j ->> 'collected_new')::numeric
                      FROM concord.metric_query('{collected,collected_new}', '{method}') j$$,
                  $$VALUES ('优惠券', 100.00, 0::numeric), ('微信', 200.00, 0), ('支付宝', 800.00, 0)$$,
                  'payments, dated by their order: collected for paid orders, none from new customers (customer 1 came back)');
SELECT results_eq($$SELECT name, type::text FROM concord.metric_dimension WHERE model = 'customer' ORDER BY name$$,
                  $$VALUES ('customer_type', 'text'), ('first_order_at', 'timestamp with time zone'), ('orders_placed', 'bigint'),
                           ('region', 'text'), ('segment', 'text')$$,
                  'the customer''s aggregated dimensions, with their types');
SELECT is((SELECT j ->> 'ticket_to_order' FROM concord.metric_query('{ticket_to_order}') j), '1.00000000000000000000',
          'the conversion example: the customer with a ticket paid within 14 days');
SELECT is((SELECT row_count FROM concord.metric_rollup WHERE name = 'daily') > 0, true, 'the rollup example made a rollup');

SELECT * FROM finish();
ROLLBACK;
