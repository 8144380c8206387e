-- docs/metric.md: every ```sql example runs, in order, and the SQL it
-- shows is the SQL concord writes.  In a transaction rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;

\set page metric
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 4);

SELECT lives_ok(code, format('docs/metric.md example %s runs', n)) FROM blocks ORDER BY n;

SELECT is(concord.metric_sql('{revenue}', '{region}', 'month', time_zone => 'Asia/Shanghai', use_rollups => false) || E'\n',
          (SELECT code FROM blocks WHERE code LIKE 'SELECT r.metric_time, r.region, r.revenue%'),
          'the SQL the page shows is the SQL metric_sql writes (from the models; the page''s rollup comes later)');
SELECT results_eq($$SELECT j ->> 'metric_time', j ->> 'region', (j ->> 'revenue')::numeric, (j ->> 'net_revenue')::numeric
                      FROM concord.metric_query('{revenue,aov,net_revenue}', '{region}', 'month', filters => $f$segment = '企业'$f$,
                                                from_date => '2026-01-01', to_date => '2026-06-30', order_by => '{metric_time,-revenue}',
                                                time_zone => 'Asia/Shanghai') j$$,
                  $$VALUES ('2026-01-01', '华东', 800::numeric, 800::numeric), ('2026-02-01', '华东', 300::numeric, 0::numeric)$$,
                  'the asking example: 华东''s 企业 customer, February''s order refunded');
SELECT is((SELECT j ->> 'ticket_to_order' FROM concord.metric_query('{ticket_to_order}') j), '1.00000000000000000000',
          'the conversion example: the customer with a ticket paid within 14 days');
SELECT is((SELECT row_count FROM concord.metric_rollup WHERE name = 'daily') > 0, true, 'the rollup example made a rollup');

SELECT * FROM finish();
ROLLBACK;
