-- metric: defining models, joins and metrics -- what is checked, versions,
-- certification, the catalog and lineage, drops; bad definitions.  All in
-- a transaction rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(47);
\ir retail.psql
\ir models.psql
-- as the role holding concord_metric that defined the models (models.psql)
SET LOCAL ROLE tap_modeler;

-- models
SELECT is((SELECT array_agg(name || ':' || type::text ORDER BY name) FROM concord.metric_dimension WHERE model = 'orders'),
          '{channel:text,size:text,status:text}', 'a model''s dimensions, with their types');
SELECT is((SELECT compiled FROM concord.metric_dimension WHERE model = 'orders' AND name = 'size'),
          $$CASE WHEN (orders.amount >= (500)::numeric) THEN '大单'::text ELSE '小单'::text END$$,
          'a dimension is stored as checked, written back from its tree');
SELECT throws_ok($$SELECT concord.model_create('Orders', 'mt_shop.orders')$$, '42602', 'invalid model name "Orders"', 'a model name that is no identifier');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', 'nosuch')$$, '42703',
  'column "nosuch" of mt_shop.orders does not exist', 'an unknown time column');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', 'channel')$$, '42804',
  'time column "channel" of mt_shop.orders is text, not a date or a timestamp', 'a time column that is no time');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', NULL, '{"x": "nosuch + 1"}')$$, '42703',
  'column "nosuch" does not exist', 'a dimension over an unknown column');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', NULL, '{"x": "random() > 0.5"}')$$, '22023',
  'invalid expression over mt_shop.orders: function random() is not immutable', 'a volatile dimension is refused');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', NULL, '{"x": "(SELECT max(region) FROM mt_shop.customer)"}')$$, '22023',
  'invalid expression over mt_shop.orders: subqueries are not allowed', 'a dimension with a subquery is refused');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', NULL, $d${"x": "concord.member('region')"}$d$)$$, '22023',
  'invalid expression over mt_shop.orders: concord.member() and member_in() belong in row policies, not here', 'a dimension may not depend on who asks');
SELECT throws_ok($$SELECT concord.model_create('o2', 'mt_shop.orders', NULL, '["channel"]')$$, '22023',
  'dimensions of model "o2" must be a JSON object of name: expression', 'dimensions that are no object');
SELECT is((SELECT count(*)::int FROM concord.metric_model WHERE name = 'o2'), 0, 'and none of those models was half made');

-- joins: many-to-one only
SELECT throws_ok($$SELECT concord.model_join('customer', 'orders', 'id', 'customer_id')$$, '22023',
  'join from "customer" to "orders" could multiply rows: mt_shop.orders.customer_id is not unique', 'a join that could fan out is refused');
SELECT is(concord.model_join('customer', 'orders', 'id', 'customer_id', safe => true), 'customer.id = orders.customer_id',
          '... unless declared safe');
SELECT throws_ok($$SELECT concord.model_join('orders', 'nosuch', 'customer_id', 'id')$$, '42704', 'unknown model "nosuch"', 'a join to an unknown model');
SELECT throws_ok($$SELECT concord.model_join('orders', 'customer', 'nosuch', 'id')$$, '42703',
  'column "nosuch" of mt_shop.orders does not exist', 'a join on an unknown column');
SELECT throws_ok($$SELECT concord.model_join('orders', 'customer', 'channel', 'id')$$, '42804',
  'cannot join orders.channel (text) to customer.id (integer): no = operator for these types', 'a join of unlike types');

-- metrics
SELECT throws_ok($$SELECT concord.metric_create('m1', 'simple', model => 'orders', agg => 'median', expr => 'amount')$$, '22023',
  'unknown aggregate "median" for metric "m1"', 'an unknown aggregate');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'simple', model => 'orders', agg => 'sum', expr => 'channel')$$, '42804',
  'metric "m1": sum of text is not a number', 'a sum of text');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'simple', model => 'orders', agg => 'sum', expr => 'amount', filter => 'amount')$$, '42804',
  'argument of WHERE must be type boolean, not type numeric', 'a filter that is no condition');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'simple', model => 'nosuch', agg => 'count')$$, '42704',
  'unknown model "nosuch" for metric "m1"', 'an unknown model');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'cumulative_sum')$$, '22023', 'unknown metric type "cumulative_sum" for metric "m1"', 'an unknown type');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'ratio', numerator => 'revenue')$$, '22023',
  'ratio metric "m1" needs a numerator and a denominator metric, and no expression', 'a ratio without denominator');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'derived', expr => 'revenue - nosuch')$$, '42704',
  'metric "m1" uses unknown metrics: nosuch', 'a derived metric over an unknown metric');
SELECT throws_ok($$SELECT concord.metric_create('m1', 'derived', expr => 'revenue - (SELECT 1)')$$, '22023',
  'invalid expression: subqueries are not allowed', 'a derived metric with a subquery');
SELECT throws_ok($$SELECT concord.metric_create('region', 'simple', model => 'orders', agg => 'count')$$, '42710',
  'metric name "region" is already a dimension''s', 'a metric named like a dimension');
SELECT concord.metric_create('m_a', 'derived', expr => 'revenue * 2') AS a1, concord.metric_create('m_b', 'derived', expr => 'm_a + 1') AS b1 \gset
SELECT throws_ok($$SELECT concord.metric_create('m_a', 'derived', expr => 'm_b - 1')$$, '42P19',
  'metric "m_a" would be computed from itself (through m_b)', 'a cycle among derived metrics is refused');
SELECT throws_ok($$SELECT concord.metric_create('c1', 'cumulative', base => 'aov')$$, '22023',
  'cumulative metric "c1" needs a simple base metric; "aov" is ratio', 'a cumulative metric over a ratio');
SELECT throws_ok($$SELECT concord.metric_create('c1', 'cumulative', base => 'revenue', trailing_window => '-3 days')$$, '22023',
  'trailing window of metric "c1" must be positive (got -3 days)', 'a negative window');
SELECT throws_ok($$SELECT concord.metric_create('p1', 'period_over_period', base => 'revenue')$$, '22023',
  'period_over_period metric "p1" needs a positive offset_by (e.g. 1 month, 1 year), and no trailing_window', 'no offset');
SELECT throws_ok($$SELECT concord.metric_create('p1', 'period_over_period', base => 'revenue', offset_by => '1 year', calc => 'ratio')$$, '22023',
  'unknown calc "ratio" for metric "p1"', 'an unknown calc');
SELECT throws_ok($$SELECT concord.metric_create('p1', 'period_over_period', base => 'nosuch', offset_by => '1 year')$$, '42704',
  'metric "p1" uses unknown metrics: nosuch', 'an unknown base');
SELECT throws_ok($$SELECT concord.metric_create('buyers', 'derived', expr => 'revenue / 100')$$, '2BP01',
  'metric "buyers" must stay simple: cumulative metrics are computed from it', 'the base of a cumulative metric must stay simple');
SELECT throws_ok($$SELECT concord.metric_create('cv', 'conversion', model => 'ticket', conversion_model => 'orders', trailing_window => '7 days')$$,
  '22023', 'conversion metric "cv" needs an entity (e.g. customer_id) and a positive trailing_window (the time allowed to convert)',
  'a conversion without an entity');
SELECT throws_ok($$SELECT concord.metric_create('cv', 'conversion', model => 'ticket', entity => 'customer_id', conversion_model => 'nosuch',
                                                trailing_window => '7 days')$$,
  '42704', 'unknown model "nosuch" for metric "cv"', 'a conversion to an unknown model');
SELECT throws_ok($$SELECT concord.metric_create('cv', 'conversion', model => 'ticket', entity => 'customer_id', conversion_model => 'orders',
                                                conversion_entity => 'channel', trailing_window => '7 days')$$,
  '42804', 'conversion metric "cv": the entities customer_id and channel cannot be compared', 'entities of unlike types');

-- versions and certification
SELECT is(concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount',
                                filter => $$status = 'paid'$$, description => '已支付订单的金额'), 1,
          'the same definition again: no new version');
SELECT is(concord.metric_certify('revenue'), 1, 'the owner certifies version 1');
SELECT is(concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount',
                                filter => $$status IN ('paid', 'refunded')$$, description => '支付过的订单金额（含退款）'), 2,
          'a change makes version 2');
SELECT results_eq($$SELECT latest_version, certified_version, answering_version, certified, certification
                     FROM concord.metric_catalog WHERE name = 'revenue'$$,
                  $$VALUES (2, 1, 1, true, 'certified')$$,
                  'the catalog: latest 2 is a draft; version 1, certified, answers');
SELECT is((SELECT count(*)::int FROM concord.metric WHERE name = 'revenue'), 2, 'both versions are kept');
SELECT is(concord.metric_certify('revenue', 2), 2, 'version 2 certified');
SELECT results_eq($$SELECT lineage, used_by FROM concord.metric_catalog WHERE name = 'revenue'$$,
                  $$VALUES ('{"tables": ["mt_shop.orders"], "columns": ["amount", "status"]}'::jsonb, '{aov,m_a,net_revenue,revenue_mom,revenue_prev,revenue_to_date}'::text[])$$,
                  'lineage: the table and columns it reads, and the metrics computed from it');
SELECT throws_ok($$SELECT concord.metric_certify('revenue', 7)$$, '42704', 'unknown metric "revenue" version 7', 'certifying a version that is not there');
RESET ROLE;
CREATE ROLE tap_mt_other;
GRANT concord_metric TO tap_mt_other;
SET LOCAL ROLE tap_mt_other;
SELECT throws_ok($$SELECT concord.metric_certify('revenue')$$, '42501', 'only the owner of metric "revenue" (tap_modeler) may certify it',
                 'another role may not certify it');
SET LOCAL ROLE tap_modeler;

-- drops
SELECT throws_ok($$SELECT concord.metric_drop('revenue')$$, '2BP01', 'metric "revenue" is used by metrics: aov, m_a, net_revenue, revenue_mom, revenue_prev, revenue_to_date',
                 'a metric others are computed from cannot be dropped');
SELECT throws_ok($$SELECT concord.model_drop('refund')$$, '2BP01', 'model "refund" is used by metrics: refunds',
                 'a model a metric aggregates cannot be dropped');
-- (the audit log is concord_policy's to read, not concord_metric's)
RESET ROLE;
SELECT results_eq($$SELECT action, new ->> 'version' FROM concord.audit_log
                     WHERE object = 'revenue' AND action LIKE 'metric%' AND at >= now() ORDER BY id$$,
                  $$VALUES ('metric_define', '1'), ('metric_certify', '1'), ('metric_define', '2'), ('metric_certify', '2')$$,
                  'definitions and certifications are in the audit log (the unchanged definition is not)');

SELECT * FROM finish();
ROLLBACK;
