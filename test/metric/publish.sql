-- metric: views published for BI tools -- security_invoker, commented from
-- the definitions, answering what metric_query answers, rebuilt when a
-- metric changes.  All in a transaction rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(22);
\ir retail.psql
\ir models.psql
-- as the role holding concord_metric that defined the models (models.psql)
SET LOCAL ROLE tap_modeler;

SELECT is(concord.metric_publish('revenue_by_region_month', '{revenue,aov}', '{region}', 'month', time_zone => 'Asia/Shanghai')::text,
          'metrics.revenue_by_region_month', 'metric_publish makes a view in schema metrics');
SELECT is((SELECT reloptions::text FROM pg_class WHERE oid = 'metrics.revenue_by_region_month'::regclass),
          '{security_invoker=true}', 'a security_invoker view: the reader''s row policies apply');
SELECT results_eq(
  $$SELECT metric_time, region, revenue, aov FROM metrics.revenue_by_region_month$$,
  $$SELECT (j ->> 'metric_time')::date, j ->> 'region', (j ->> 'revenue')::numeric, (j ->> 'aov')::numeric
      FROM concord.metric_query('{revenue,aov}', '{region}', 'month', time_zone => 'Asia/Shanghai') j$$,
  'the view answers what metric_query answers');
SELECT is(obj_description('metrics.revenue_by_region_month'::regclass, 'pg_class'),
          'concord metrics revenue, aov by region per month (Asia/Shanghai), answered as the reader (row policies apply). '
          'One row per month and region. Adding up rows gives the right total for revenue, paid_count only; '
          'each column''s comment says what to do with the others. Made by concord.metric_publish.',
          'the view''s comment says what it answers, per what, and which columns add up');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 3),
          '已支付订单的金额 (metric revenue version 1 answers, not certified; owner tap_modeler) Adds up: its sum over rows is their total.',
          'a metric column''s comment: description, the version that answers, certification, whether it adds up');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'metrics.revenue_by_region_month'::regclass AND attnum > 0),
          '{metric_time,region,revenue,aov,paid_count}', 'aov does not add up: its components, revenue and paid_count, are columns too');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 4),
          '客单价 (metric aov version 1 answers, not certified; owner tap_modeler) Does not add up (a ratio): over any rows it is sum(revenue) / sum(paid_count), columns of this view.',
          'the ratio''s comment says how to add it up');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 5),
          '(metric paid_count version 1 answers, not certified; owner tap_modeler) Component of aov: Adds up: its sum over rows is their total.',
          'a component''s comment says whose it is');
SELECT results_eq($$SELECT sum(revenue) / sum(paid_count) FROM metrics.revenue_by_region_month WHERE metric_time < '2026-04-01'$$,
                  $$SELECT (j ->> 'aov')::numeric FROM concord.metric_query('{aov}', from_date => '2026-01-01', to_date => '2026-03-31',
                                                                            time_zone => 'Asia/Shanghai') j$$,
                  'the components, added up over rows, give the ratio of those rows (a quarter''s aov)');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 1), 'The first day of the month, in time zone Asia/Shanghai',
          'metric_time''s comment');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 2), '(dimension region of model customer)', 'a dimension''s comment');
SELECT concord.metric_certify('revenue') AS v \gset
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 3),
          '已支付订单的金额 (metric revenue version 1 answers, certified; owner tap_modeler) Adds up: its sum over rows is their total.',
          'certified: the comment says so');

-- a metric redefined: a draft until certified; the view says so, and
-- answers with the new version once it is certified
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount',
                             filter => $$status IN ('paid', 'refunded')$$, description => '支付过的订单金额（含退款）') AS v2 \gset
SELECT results_eq(
  $$SELECT sum(revenue) FROM metrics.revenue_by_region_month$$,
  $$SELECT sum(amount) FROM mt_shop.orders WHERE status = 'paid'$$,
  'redefined, revenue still answers with its certified version 1');
SELECT is(col_description('metrics.revenue_by_region_month'::regclass, 3),
          '已支付订单的金额 (metric revenue version 1 answers, certified; version 2 is a draft; owner tap_modeler) Adds up: its sum over rows is their total.',
          'the comment says that version 2 is a draft');
SELECT concord.metric_certify('revenue', 2) AS c2 \gset
SELECT results_eq(
  $$SELECT sum(revenue) FROM metrics.revenue_by_region_month$$,
  $$SELECT sum(amount) FROM mt_shop.orders WHERE status IN ('paid', 'refunded')$$,
  'version 2 certified: the view was rebuilt in the same transaction and answers with it');

SELECT throws_ok($$SELECT concord.metric_drop('revenue')$$, '2BP01',
  'metric "revenue" is used by metrics: aov, net_revenue, revenue_mom, revenue_prev, revenue_to_date', 'a published metric is still in use');
SELECT is(concord.metric_publish('revenue_by_region_month', '{revenue}', '{region}', 'month', time_zone => 'Asia/Shanghai')::text,
          'metrics.revenue_by_region_month', 'publishing again under the same name remakes the view');
SELECT concord.metric_publish('biggest', '{biggest_order}') AS b \gset
SELECT throws_ok($$SELECT concord.metric_drop('biggest_order')$$, '2BP01', 'metric "biggest_order" is published in views: metrics.biggest',
                 'a metric a view publishes cannot be dropped');
DROP VIEW metrics.biggest;
SELECT is(concord.metric_drop('biggest_order'), true, 'its view dropped, the metric can go (the publication is forgotten)');
SELECT throws_ok($$SELECT concord.metric_publish('Bad Name', '{revenue}')$$, '42602', 'invalid view name "Bad Name"', 'a bad view name');
RESET ROLE;
CREATE TABLE metrics.mine (x int);
SET LOCAL ROLE tap_modeler;
SELECT throws_ok($$SELECT concord.metric_publish('mine', '{revenue}')$$, '42P07', 'relation metrics.mine exists and is not a metric publication',
                 'an existing table is not overwritten');
SELECT throws_ok($$SELECT concord.metric_publish('x', '{nosuch}')$$, '42704', 'unknown metric: nosuch', 'an unknown metric');

SELECT * FROM finish();
ROLLBACK;
