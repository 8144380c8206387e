-- metric: one definition, each role its own number.  Two sales reps log in
-- (dblink sessions as each role) and ask for revenue; a row policy shows
-- each only her channel's orders, and metric_query, running as the caller,
-- counts just those.  Committed setup, removed at the end.
SET client_min_messages = warning;
SELECT plan(13);
\ir ../policy/setup.psql
\set roles '{tap_mr_online,tap_mr_store,tap_mr_none}'
CREATE FUNCTION pg_temp.clean_metrics() RETURNS void LANGUAGE sql AS $$
  -- (the other metric tests roll back: what is here is this test's)
  DELETE FROM concord.metric_publication WHERE view_name::text LIKE 'metrics.tap_mr_%';
  DELETE FROM concord.metric_certification;
  DELETE FROM concord.metric;
  DELETE FROM concord.metric_model;
$$;
DROP VIEW IF EXISTS metrics.tap_mr_revenue_by_channel;
SELECT concord.metric_rollup_drop('tap_mr_daily') IS NOT NULL AS rd \gset
SELECT pg_temp.clean_metrics() IS NULL AS c0 \gset
SELECT pg_temp.clean_up('mt_shop', 'tap_mr_', :'roles', true) IS NULL AS clean \gset
\set QUIET on
\ir retail.psql
\set metric_models_as_caller true
\ir models.psql
\set QUIET off
SELECT concord.department_create('tap_mr_sales') AS d \gset
SELECT concord.member_create('tap_mr_online', 'tap_mr_sales', '线上销售', '{"channel": "线上"}') AS m1,
       concord.member_create('tap_mr_store', 'tap_mr_sales', '门店销售', '{"channel": "门店"}') AS m2 \gset
GRANT USAGE ON SCHEMA mt_shop TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA mt_shop TO PUBLIC;
SELECT concord.row_policy_create('tap_mr_channel', 'mt_shop.orders', $$channel = concord.member('channel')$$) IS NOT NULL AS p \gset

CREATE FUNCTION pg_temp.ask(r text, q text) RETURNS text LANGUAGE sql AS $$ SELECT * FROM pg_temp.as_role(r, q) $$;
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j$$)::numeric,
          (SELECT sum(amount) FROM mt_shop.orders WHERE status = 'paid' AND channel = '线上'),
          'the online rep logging in: revenue of the online orders only');
SELECT is(pg_temp.ask('tap_mr_store', $$SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j$$)::numeric,
          (SELECT sum(amount) FROM mt_shop.orders WHERE status = 'paid' AND channel = '门店'),
          'the store rep: revenue of the store orders only, from the same definition');
SELECT is(pg_temp.ask('tap_mr_online',
            $$SELECT string_agg((j ->> 'region') || '=' || (j ->> 'aov'), ',') FROM concord.metric_query('{aov}', '{region}') j$$),
          (SELECT string_agg(region || '=' || v, ',' ORDER BY region) FROM (
             SELECT c.region, sum(o.amount) FILTER (WHERE o.status = 'paid') / NULLIF(count(*) FILTER (WHERE o.status = 'paid'), 0) AS v
               FROM mt_shop.orders o JOIN mt_shop.customer c ON c.id = o.customer_id WHERE o.channel = '线上' GROUP BY c.region) x),
          'a ratio by a joined dimension, for the online rep: her orders only');
SELECT is(pg_temp.ask('tap_mr_none', $$SELECT (j ->> 'order_count') || '/' || coalesce(j ->> 'revenue', 'null') FROM concord.metric_query('{order_count,revenue}') j$$),
          '0/0', 'a role no policy admits: no orders, no revenue (a sum of no rows is 0)');
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT concord.metric_sql('{revenue}', '{region}', 'month')$$),
          concord.metric_sql('{revenue}', '{region}', 'month'),
          'the SQL is the same for everyone: the rows differ by row policy, not by definition');
SELECT throws_like($$SELECT pg_temp.ask('tap_mr_online', $q$SELECT concord.metric_create('x', 'simple', model => 'orders', agg => 'count')::text$q$)$$,
                   '%permission denied for function metric_create%', 'a rep cannot define metrics (concord_metric can)');
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT string_agg(name, ',' ORDER BY name) FROM concord.metric_catalog WHERE name LIKE '%revenue%'$$),
          'net_revenue,revenue,revenue_mom,revenue_prev,revenue_to_date', 'but reads the catalog');

-- a view published for BI tools: each rep reads her own numbers there too
SELECT concord.metric_publish('tap_mr_revenue_by_channel', '{revenue}', '{channel}', readers => '{PUBLIC}') AS v \gset
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT string_agg(channel || '=' || revenue, ',') FROM metrics.tap_mr_revenue_by_channel$$),
          (SELECT '线上=' || sum(amount) FROM mt_shop.orders WHERE status = 'paid' AND channel = '线上'),
          'the online rep reading the published view: one row, her channel''s revenue');
SELECT is(pg_temp.ask('tap_mr_store', $$SELECT string_agg(channel || '=' || revenue, ',') FROM metrics.tap_mr_revenue_by_channel$$),
          (SELECT '门店=' || sum(amount) FROM mt_shop.orders WHERE status = 'paid' AND channel = '门店'),
          'the store rep: hers');

-- a rollup holds every row's numbers: never used for a rep her policy filters
SELECT concord.metric_rollup_create('tap_mr_daily', '{revenue}', '{channel}', 'day') AS r \gset
SELECT ok(concord.metric_sql('{revenue}', '{channel}', 'month') LIKE '%concord_rollup.tap_mr_daily %',
          'for the superuser, whom no policy filters, the rollup answers');
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT (concord.metric_sql('{revenue}', '{channel}', 'month') LIKE '%concord_rollup%')::text
                                         || ' ' || (SELECT sum((j ->> 'revenue')::numeric) FROM concord.metric_query('{revenue}', '{channel}', 'month') j)$$),
          'false ' || (SELECT sum(amount) FROM mt_shop.orders WHERE status = 'paid' AND channel = '线上'),
          'for the online rep the models answer, under her policy: her revenue, not the rollup''s total');
SELECT is(pg_temp.ask('tap_mr_online', $$SELECT count(*)::text FROM concord_rollup.tap_mr_daily$$), '0',
          'read directly, the rollup''s table shows her nothing');

REVOKE SELECT ON mt_shop.refund FROM PUBLIC;
SELECT throws_like($$SELECT pg_temp.ask('tap_mr_online', $q$SELECT (j ->> 'refunds') FROM concord.metric_query('{refunds}') j$q$)$$,
                   '%permission denied for table refund%', 'a model''s table she may not read: a permission error, not a zero');

SELECT * FROM finish();
DROP VIEW metrics.tap_mr_revenue_by_channel;
SELECT concord.metric_rollup_drop('tap_mr_daily') IS NOT NULL AS rd \gset
SELECT pg_temp.clean_metrics() IS NULL AS c1 \gset
SELECT pg_temp.clean_up('mt_shop', 'tap_mr_', :'roles', false) IS NULL AS clean \gset
