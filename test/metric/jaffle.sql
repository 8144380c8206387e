-- metric: the jaffle_shop seeds of dbt Labs (test/fixtures/jaffle_shop,
-- Apache-2.0) modelled as a MetricFlow user would (test/metric/jaffle.psql),
-- and the tutorial's standard questions, each asked by name and compared
-- with the same question written by hand -- as a superuser, and as a role
-- whose row policies show her part of the shop (each side run as her).
-- Then each failure of issue 21 as a test of its own: the month end of
-- period over period, no row after the data, NULL dimension values across
-- models, empty buckets, conversions, time through a join (with a rollup),
-- aggregated dimensions.  In a transaction rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';
SELECT plan(39);
\ir jaffle.psql

-- a role that sees the orders (and their payments and expenses) up to
-- order 70, by row policies
CREATE ROLE tap_jaffle_rep;
GRANT USAGE ON SCHEMA jaffle TO tap_jaffle_rep;
GRANT SELECT ON ALL TABLES IN SCHEMA jaffle TO tap_jaffle_rep;
SELECT concord.row_policy_create('tap_jaffle_orders', 'jaffle.orders', 'order_id <= 70') AS p1,
       concord.row_policy_create('tap_jaffle_payments', 'jaffle.payments', 'order_id <= 70') AS p2,
       concord.row_policy_create('tap_jaffle_expenses', 'jaffle.order_expenses', 'order_id <= 70') AS p3 \gset
-- a query's rows as text, run as the rep (her row policies apply)
CREATE FUNCTION pg_temp.as_rep(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL ROLE tap_jaffle_rep;
  RETURN QUERY EXECUTE format('SELECT row(x.*)::text FROM (%s) x', q);
  RESET ROLE;
END $$;

-- the standard questions: asked by name, and by hand
CREATE TEMP TABLE question (n int, label text, asked text, by_hand text);
INSERT INTO question VALUES
(1, 'revenue by month (payments dated by their order)',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric FROM concord.metric_query('{revenue}', grain => 'month') j$$,
 $$SELECT date_trunc('month', o.order_date)::date, sum(p.amount)
     FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1 ORDER BY 1$$),
(2, 'completed revenue, its expenses and the profit, by month',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'completed_revenue')::numeric, (j ->> 'expenses')::numeric, (j ->> 'profit')::numeric
     FROM concord.metric_query('{completed_revenue,expenses,profit}', grain => 'month') j$$,
 $$WITH r AS (SELECT date_trunc('month', o.order_date)::date AS m, sum(p.amount) FILTER (WHERE o.status = 'completed') AS cr
                FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1),
        e AS (SELECT date_trunc('month', o.order_date)::date AS m, sum(x.amount) FILTER (WHERE o.status = 'completed') AS ex
                FROM jaffle.order_expenses x LEFT JOIN jaffle.orders o ON o.order_id = x.order_id GROUP BY 1)
   SELECT m, coalesce(cr, 0), coalesce(ex, 0), coalesce(cr, 0) - coalesce(ex, 0) FROM r FULL JOIN e USING (m) ORDER BY m$$),
(3, 'orders by status',
 $$SELECT j ->> 'status', (j ->> 'order_count')::numeric FROM concord.metric_query('{order_count}', '{status}') j$$,
 $$SELECT status, count(*)::numeric FROM jaffle.orders GROUP BY 1 ORDER BY 1$$),
(4, 'active customers by month, and in all',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'active_customers')::numeric FROM concord.metric_query('{active_customers}', grain => 'month') j
   UNION ALL SELECT NULL, (j ->> 'active_customers')::numeric FROM concord.metric_query('{active_customers}') j$$,
 $$(SELECT date_trunc('month', order_date)::date, count(DISTINCT customer_id)::numeric FROM jaffle.orders GROUP BY 1 ORDER BY 1)
   UNION ALL SELECT NULL, count(DISTINCT customer_id)::numeric FROM jaffle.orders$$),
(5, 'average order value, in all and by month',
 $$SELECT NULL::date, round((j ->> 'average_order_value')::numeric, 6) FROM concord.metric_query('{average_order_value}') j
   UNION ALL
   SELECT (j ->> 'metric_time')::date, round((j ->> 'average_order_value')::numeric, 6)
     FROM concord.metric_query('{average_order_value}', grain => 'month') j$$,
 $$SELECT NULL::date, round((SELECT sum(amount) FROM jaffle.payments) / (SELECT count(*) FROM jaffle.orders), 6)
   UNION ALL
   (SELECT r.m, round(r.revenue / NULLIF(o.n, 0), 6)
      FROM (SELECT date_trunc('month', o.order_date)::date AS m, sum(p.amount) AS revenue
              FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1) r
      JOIN (SELECT date_trunc('month', order_date)::date AS m, count(*) AS n FROM jaffle.orders GROUP BY 1) o ON o.m = r.m
     ORDER BY 1)$$),
(6, 'revenue by payment method',
 $$SELECT j ->> 'payment_method', (j ->> 'revenue')::numeric FROM concord.metric_query('{revenue}', '{payment_method}') j$$,
 $$SELECT payment_method, sum(amount) FROM jaffle.payments GROUP BY 1 ORDER BY 1$$),
(7, 'weekly revenue by customer status (new: one order, returning), every week for every status',
 $$SELECT (j ->> 'metric_time')::date, j ->> 'customer_status', (j ->> 'revenue')::numeric
     FROM concord.metric_query('{revenue}', '{customer_status}', 'week') j$$,
 $$WITH st AS (SELECT c.customer_id, CASE WHEN count(o.order_id) > 1 THEN 'returning' ELSE 'new' END AS status
                 FROM jaffle.customers c LEFT JOIN jaffle.orders o ON o.customer_id = c.customer_id GROUP BY 1),
        rev AS (SELECT date_trunc('week', o.order_date)::date AS w, st.status, sum(p.amount) AS r
                  FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id
                  LEFT JOIN st ON st.customer_id = o.customer_id GROUP BY 1, 2),
        weeks AS (SELECT generate_series(min(w), max(w), interval '1 week')::date AS w FROM rev)
   SELECT k.w, k.s, coalesce(rev.r, 0)
     FROM (SELECT weeks.w, x.s FROM weeks, (SELECT DISTINCT status AS s FROM rev) x) k
     LEFT JOIN rev ON rev.w = k.w AND rev.status IS NOT DISTINCT FROM k.s ORDER BY 1, 2$$),
(8, 'trailing 7-day revenue, day by day over two weeks',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue_trailing_7d')::numeric
     FROM concord.metric_query('{revenue_trailing_7d}', grain => 'day', from_date => '2018-03-28', to_date => '2018-04-10') j$$,
 $$SELECT d::date, (SELECT coalesce(sum(p.amount), 0) FROM jaffle.payments p JOIN jaffle.orders o ON o.order_id = p.order_id
                     WHERE o.order_date > d::date - 7 AND o.order_date <= d::date)
     FROM generate_series(date '2018-03-28', date '2018-04-10', interval '1 day') d ORDER BY 1$$),
(9, 'cumulative revenue by month',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'cumulative_revenue')::numeric FROM concord.metric_query('{cumulative_revenue}', grain => 'month') j$$,
 $$SELECT m, sum(r) OVER (ORDER BY m) FROM (
     SELECT date_trunc('month', o.order_date)::date AS m, sum(p.amount) AS r
       FROM jaffle.payments p JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1) x ORDER BY 1$$),
(10, 'month-over-month growth of revenue (and the month before''s revenue)',
 $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue_prev_month')::numeric, round((j ->> 'revenue_growth_mom')::numeric, 6)
     FROM concord.metric_query('{revenue_prev_month,revenue_growth_mom}', grain => 'month') j$$,
 $$SELECT m, coalesce(lag(r) OVER w, 0), round((r - lag(r) OVER w) / NULLIF(abs(lag(r) OVER w), 0) * 100, 6) FROM (
     SELECT date_trunc('month', o.order_date)::date AS m, sum(p.amount) AS r
       FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1) x
   WINDOW w AS (ORDER BY m) ORDER BY 1$$),
(11, 'new-customer conversion: of customers placing a first order in a month, the share ordering again within 30 days',
 $$SELECT (j ->> 'metric_time')::date, round((j ->> 'new_customer_conversion')::numeric, 6)
     FROM concord.metric_query('{new_customer_conversion}', grain => 'month') j$$,
 $$WITH f AS (SELECT o.* FROM jaffle.orders o
               WHERE o.order_date = (SELECT min(x.order_date) FROM jaffle.orders x WHERE x.customer_id = o.customer_id))
   SELECT date_trunc('month', f.order_date)::date,
          round(count(DISTINCT f.customer_id) FILTER (WHERE EXISTS (
                  SELECT 1 FROM jaffle.orders o2 WHERE o2.customer_id = f.customer_id AND o2.order_id <> f.order_id
                     AND o2.order_date >= f.order_date AND o2.order_date <= f.order_date + 30))::numeric
                / count(DISTINCT f.customer_id), 6)
     FROM f GROUP BY 1 ORDER BY 1$$),
(12, 'coupon share of revenue, in all and by payment month',
 $$SELECT NULL::date, round((j ->> 'coupon_share')::numeric, 6) FROM concord.metric_query('{coupon_share}') j
   UNION ALL
   SELECT (j ->> 'metric_time')::date, round((j ->> 'coupon_share')::numeric, 6) FROM concord.metric_query('{coupon_share}', grain => 'month') j$$,
 $$SELECT NULL::date, round(sum(amount) FILTER (WHERE payment_method = 'coupon') / sum(amount), 6) FROM jaffle.payments
   UNION ALL
   (SELECT date_trunc('month', o.order_date)::date, round(sum(p.amount) FILTER (WHERE p.payment_method = 'coupon') / sum(p.amount), 6)
      FROM jaffle.payments p LEFT JOIN jaffle.orders o ON o.order_id = p.order_id GROUP BY 1 ORDER BY 1)$$);

SELECT results_eq(asked, by_hand, format('jaffle %s: %s, as by hand', n, label)) FROM question ORDER BY n;
SELECT results_eq(format('SELECT * FROM pg_temp.as_rep(%L)', asked), format('SELECT * FROM pg_temp.as_rep(%L)', by_hand),
                  format('jaffle %s as the rep (row policies: orders to 70): %s, as by hand', n, label))
  FROM question ORDER BY n;
SELECT isnt((SELECT string_agg(x, ';') FROM pg_temp.as_rep((SELECT asked FROM question WHERE n = 1)) x),
            (SELECT string_agg(x::text, ';') FROM (SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric
                                                     FROM concord.metric_query('{revenue}', grain => 'month') j) x),
            'and the rep''s revenue is not everyone''s (her policies apply)');

-- issue 21, one failure at a time
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric, (j ->> 'revenue_prev_month')::numeric
      FROM concord.metric_query('{revenue,revenue_prev_month}', grain => 'month', from_date => '2018-04-01', to_date => '2018-04-30') j$$,
  $$VALUES (date '2018-04-01', 139.00, 622.00)$$,
  'period over period: April''s previous month is all of March (622.00, 31 March included)');
SELECT is((SELECT count(*)::int FROM concord.metric_query('{revenue,revenue_prev_month}', grain => 'month') j), 4,
          'period over period without a date range: January to April, no row after the data');
SELECT results_eq(
  $$SELECT j ->> 'return_flag', (j ->> 'revenue')::numeric, (j ->> 'order_count')::numeric, round((j ->> 'average_order_value')::numeric, 6)
      FROM concord.metric_query('{revenue,order_count,average_order_value}', '{return_flag}') j$$,
  $$SELECT f::text, sum(p.r), count(*)::numeric, round(sum(p.r) / count(*), 6)
      FROM (SELECT CASE WHEN status IN ('returned', 'return_pending') THEN true END AS f, order_id FROM jaffle.orders) o
      LEFT JOIN (SELECT order_id, sum(amount) AS r FROM jaffle.payments GROUP BY 1) p USING (order_id)
     GROUP BY f ORDER BY f$$,
  'NULL dimension values across two models: one NULL group, with its revenue, orders and average order value');
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric, (j ->> 'completed_revenue')::numeric, j -> 'average_order_value'
      FROM concord.metric_query('{revenue,completed_revenue,average_order_value}', grain => 'month',
                                from_date => '2017-12-01', to_date => '2018-05-31') j
     WHERE (j ->> 'metric_time')::date NOT BETWEEN '2018-01-01' AND '2018-03-01'$$,
  $$VALUES (date '2017-12-01', 0::numeric, 0::numeric, 'null'::jsonb), ('2018-04-01', 139.00, 0, '17.3750000000000000'),
           ('2018-05-01', 0, 0, 'null')$$,
  'empty buckets: every month of the range asked has a row; a sum where no row counts is 0 (April''s completed revenue too), a ratio NULL');
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue_trailing_7d')::numeric
      FROM concord.metric_query('{revenue_trailing_7d}', grain => 'day', from_date => '2018-04-15', to_date => '2018-04-17') j$$,
  $$VALUES (date '2018-04-15', 24.00), ('2018-04-16', 0), ('2018-04-17', 0)$$,
  'a trailing window with no rows: a row with 0');
SELECT is((SELECT (j ->> 'new_customer_conversion')::numeric FROM concord.metric_query('{new_customer_conversion}',
                                                                                       filters => 'lifetime_orders = 1') j), 0::numeric,
          'a customer with one order never converts: an order is not its own conversion');
SELECT results_eq(
  $$SELECT j ->> 'first_order_month', (j ->> 'revenue')::numeric, (j ->> 'active_customers')::numeric
      FROM concord.metric_query('{revenue,active_customers}', '{first_order_month}') j$$,
  $$SELECT f.m::date::text, sum(p.amount), count(DISTINCT o.customer_id)::numeric
      FROM jaffle.orders o JOIN (SELECT customer_id, date_trunc('month', min(order_date)) AS m FROM jaffle.orders GROUP BY 1) f USING (customer_id)
      LEFT JOIN jaffle.payments p ON p.order_id = o.order_id
     GROUP BY 1 ORDER BY 1$$,
  'an aggregated dimension (cohort: the month of a customer''s first order) over two models');

-- the window's end is included: of two customers with one order each, the
-- one ordering again exactly 30 days later converts, the other, 31 days
-- later, does not
SELECT concord.metric_create('reorder_30d', 'conversion', model => 'orders', entity => 'customer_id', conversion_model => 'orders',
                             trailing_window => '30 days', calc => 'conversions') AS r30 \gset
SELECT min(customer_id) AS c1, max(customer_id) AS c2 FROM (
  SELECT customer_id FROM jaffle.orders GROUP BY 1 HAVING count(*) = 1 ORDER BY 1 LIMIT 2) x \gset
INSERT INTO jaffle.orders
SELECT 1000 + row_number() OVER (ORDER BY customer_id), customer_id,
       order_date + CASE WHEN customer_id = :c1 THEN 30 ELSE 31 END, 'placed'
  FROM jaffle.orders WHERE customer_id IN (:c1, :c2);
SELECT results_eq(
  format($$SELECT j ->> 'customer_id', (j ->> 'reorder_30d')::int
             FROM concord.metric_query('{reorder_30d}', '{customer_id}', filters => 'customer_id IN (%s, %s)') j$$, :c1, :c2),
  format($$VALUES ('%s', 1), ('%s', 0)$$, :c1, :c2),
  'conversion: an order exactly 30 days after the first one is within the window (its end included), 31 days is not');

-- a rollup of revenue, dated through the join to orders
SELECT concord.metric_rollup_create('jaffle_monthly', '{revenue,order_count}', '{status}', 'month') AS ro \gset
SELECT ok(concord.metric_sql('{revenue}', '{status}', 'quarter') LIKE '%concord_rollup.jaffle_monthly %',
          'a rollup of revenue (payments dated by their order) answers a question by quarter');
SELECT results_eq($$SELECT j::text FROM concord.metric_query('{revenue,order_count}', '{status}', 'quarter') j$$,
                  $$SELECT j::text FROM concord.metric_query('{revenue,order_count}', '{status}', 'quarter', use_rollups => false) j$$,
                  '... with the models'' answer');
UPDATE jaffle.orders SET order_date = order_date - 31 WHERE order_id = 50;
SELECT is((SELECT array_agg(since ORDER BY since) FROM concord.metric_rollup_change WHERE rollup = 'jaffle_monthly'),
          (SELECT ARRAY[(order_date)::timestamp] FROM jaffle.orders WHERE order_id = 50),
          'an order re-dated: noted from its earliest date (orders hold the times of payments too)');
INSERT INTO jaffle.payments VALUES (1000, 50, 'coupon', 5);
SELECT is((SELECT min(since) FROM concord.metric_rollup_change WHERE rollup = 'jaffle_monthly'), '-infinity'::timestamp,
          'a payment added: it may touch any bucket (its date is its order''s)');
SELECT ok(concord.metric_sql('{revenue}', '{status}', 'quarter') NOT LIKE '%concord_rollup%', 'stale: the models answer');
SELECT concord.metric_rollup_refresh('jaffle_monthly') > 0 AS refreshed \gset
SELECT ok(:'refreshed' AND concord.metric_sql('{revenue}', '{status}', 'quarter') LIKE '%concord_rollup.jaffle_monthly %'
          AND (SELECT string_agg(j::text, ';') FROM concord.metric_query('{revenue,order_count}', '{status}', 'quarter') j)
              = (SELECT string_agg(j::text, ';') FROM concord.metric_query('{revenue,order_count}', '{status}', 'quarter', use_rollups => false) j),
          'refreshed: the rollup answers again, the same answer');

SELECT * FROM finish();
ROLLBACK;
