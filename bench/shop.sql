-- bench/shop.sql — the metric benches' data set and definitions (run with
-- psql -v rows=N): 20,000 customers in seven regions, N orders over 2026
-- (paid, cancelled, refunded) in three channels, the refunds, and the
-- models and metrics both benches ask for.
SET client_min_messages = warning;
CREATE EXTENSION concord;
CREATE SCHEMA shop;
CREATE TABLE shop.customer AS
  SELECT g AS id, (ARRAY['华东','华北','华南','华中','西南','西北','东北'])[1 + g % 7] AS region,
         CASE WHEN g % 5 = 0 THEN '企业' ELSE '个人' END AS segment
  FROM generate_series(1, 20000) g;
ALTER TABLE shop.customer ADD PRIMARY KEY (id);
CREATE TABLE shop.orders AS
  SELECT g AS id, 1 + (g::bigint * 7919) % 20000 AS customer_id,
         timestamptz '2026-01-01 00:00+08' + make_interval(secs => (g::bigint * 15551) % (365 * 86400)) AS ordered_at,
         (ARRAY['线上','门店','电话'])[1 + g % 3] AS channel,
         CASE WHEN g % 10 = 0 THEN 'cancelled' WHEN g % 13 = 0 THEN 'refunded' ELSE 'paid' END AS status,
         (100 + (g::bigint * 37) % 900)::numeric(12,2) AS amount
  FROM generate_series(1, :rows) g;
ALTER TABLE shop.orders ADD PRIMARY KEY (id);
CREATE TABLE shop.refund AS
  SELECT id, id AS order_id, ordered_at + interval '3 days' AS refunded_at, amount FROM shop.orders WHERE status = 'refunded';
VACUUM ANALYZE shop.customer;
VACUUM ANALYZE shop.orders;
VACUUM ANALYZE shop.refund;
SELECT concord.model_create('orders', 'shop.orders', 'ordered_at', '{"channel": "channel", "status": "status"}'),
       concord.model_create('customer', 'shop.customer', NULL, '{"region": "region", "segment": "segment"}'),
       concord.model_create('refund', 'shop.refund', 'refunded_at');
SELECT concord.model_join('orders', 'customer', 'customer_id', 'id'), concord.model_join('refund', 'orders', 'order_id', 'id');
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount', filter => $$status = 'paid'$$),
       concord.metric_create('paid_count', 'simple', model => 'orders', agg => 'count', filter => $$status = 'paid'$$),
       concord.metric_create('order_count', 'simple', model => 'orders', agg => 'count'),
       concord.metric_create('refunds', 'simple', model => 'refund', agg => 'sum', expr => 'amount');
SELECT concord.metric_create('aov', 'ratio', numerator => 'revenue', denominator => 'paid_count'),
       concord.metric_create('paid_share', 'ratio', numerator => 'paid_count', denominator => 'order_count'),
       concord.metric_create('net_revenue', 'derived', expr => 'revenue - coalesce(refunds, 0)'),
       concord.metric_create('revenue_mom', 'period_over_period', base => 'revenue', offset_by => '1 month', calc => 'growth_pct');
