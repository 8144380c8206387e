-- metric: every metric type answered by metric_query, checked against the
-- same question written by hand over the retail data set; time grains and
-- time zones, filters, order and limit, divide by zero; bad questions.
-- All in a transaction rolled back.
BEGIN;
SET client_min_messages = warning;
SELECT plan(35);
\ir retail.psql
\ir models.psql
-- asked by an analyst holding no capability role (models.psql)
SET LOCAL ROLE tap_analyst;

-- simple: revenue by month in Shanghai time
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric
      FROM concord.metric_query('{revenue}', grain => 'month', from_date => '2026-01-01', to_date => '2026-06-30',
                                time_zone => 'Asia/Shanghai') j$$,
  $$SELECT date_trunc('month', ordered_at AT TIME ZONE 'Asia/Shanghai')::date, sum(amount) FILTER (WHERE status = 'paid')
      FROM mt_shop.orders
     WHERE ordered_at >= timestamptz '2026-01-01 00:00+08' AND ordered_at < timestamptz '2026-07-01 00:00+08'
     GROUP BY 1 ORDER BY 1$$,
  'simple (sum with a filter): revenue by month in Asia/Shanghai, as by hand');

-- every aggregate, by a dimension of a joined model
SELECT results_eq(
  $$SELECT j ->> 'region', (j ->> 'order_count')::numeric, (j ->> 'buyers')::numeric, (j ->> 'biggest_order')::numeric,
           (j ->> 'smallest_order')::numeric, round((j ->> 'avg_amount')::numeric, 6)
      FROM concord.metric_query('{order_count,buyers,biggest_order,smallest_order,avg_amount}', '{region}') j$$,
  $$SELECT c.region, count(*)::numeric, count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'paid')::numeric,
           max(o.amount), min(o.amount), round(avg(o.amount), 6)
      FROM mt_shop.orders o LEFT JOIN mt_shop.customer c ON c.id = o.customer_id
     GROUP BY c.region ORDER BY c.region$$,
  'count, count_distinct (filtered), max, min, avg by the customer''s region (a many-to-one join), as by hand');

-- ratio
SELECT results_eq(
  $$SELECT j ->> 'channel', (j ->> 'aov')::numeric FROM concord.metric_query('{aov}', '{channel}') j$$,
  $$SELECT channel, sum(amount) FILTER (WHERE status = 'paid') / NULLIF(count(*) FILTER (WHERE status = 'paid'), 0)
      FROM mt_shop.orders GROUP BY channel ORDER BY channel$$,
  'ratio: average paid order by channel, as by hand');

-- derived, over two models: revenue less refunds by quarter and region
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, j ->> 'region', (j ->> 'net_revenue')::numeric
      FROM concord.metric_query('{net_revenue}', '{region}', 'quarter', time_zone => 'Asia/Shanghai') j$$,
  $$WITH r AS (SELECT date_trunc('quarter', o.ordered_at AT TIME ZONE 'Asia/Shanghai')::date AS q, c.region,
                      sum(o.amount) FILTER (WHERE o.status = 'paid') AS revenue
                 FROM mt_shop.orders o LEFT JOIN mt_shop.customer c ON c.id = o.customer_id GROUP BY 1, 2),
         f AS (SELECT date_trunc('quarter', f.refunded_at AT TIME ZONE 'Asia/Shanghai')::date AS q, c.region,
                      sum(f.amount) AS refunds
                 FROM mt_shop.refund f LEFT JOIN mt_shop.orders o ON o.id = f.order_id
                 LEFT JOIN mt_shop.customer c ON c.id = o.customer_id GROUP BY 1, 2),
         -- every quarter from the first to the last, for every region (no orders: revenue 0)
         k AS (SELECT q.q, g.region FROM (SELECT q FROM r UNION SELECT q FROM f) q,
                                         (SELECT region FROM r UNION SELECT region FROM f) g)
    SELECT k.q, k.region, coalesce(r.revenue, 0) - coalesce(f.refunds, 0)
      FROM k LEFT JOIN r ON r.q = k.q AND r.region = k.region LEFT JOIN f ON f.q = k.q AND f.region = k.region ORDER BY 1, 2$$,
  'derived over two models (refunds reach the region through orders): net revenue by quarter and region, as by hand; a quarter of refunds only has revenue 0');

-- no grain, no dimension: one row, the totals
SELECT results_eq(
  $$SELECT (j ->> 'revenue')::numeric, (j ->> 'paid_share')::numeric FROM concord.metric_query('{revenue,paid_share}') j$$,
  $$SELECT sum(amount) FILTER (WHERE status = 'paid'), count(*) FILTER (WHERE status = 'paid')::numeric / count(*) FROM mt_shop.orders$$,
  'no dimension, no grain: one row of totals');

-- time zones and grains
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'order_count')::numeric
      FROM concord.metric_query('{order_count}', grain => 'day', from_date => '2026-02-01', to_date => '2026-02-03', time_zone => 'UTC') j$$,
  $$SELECT (ordered_at AT TIME ZONE 'UTC')::date, count(*)::numeric FROM mt_shop.orders
     WHERE ordered_at >= timestamptz '2026-02-01 00:00+00' AND ordered_at < timestamptz '2026-02-04 00:00+00'
     GROUP BY 1 ORDER BY 1$$,
  'by day in UTC, both dates included');
SELECT isnt(
  (SELECT array_agg(j ->> 'order_count') FROM concord.metric_query('{order_count}', grain => 'day', from_date => '2026-02-01',
                                                                   to_date => '2026-02-03', time_zone => 'UTC') j),
  (SELECT array_agg(j ->> 'order_count') FROM concord.metric_query('{order_count}', grain => 'day', from_date => '2026-02-01',
                                                                   to_date => '2026-02-03', time_zone => 'Asia/Shanghai') j),
  'the same days in Shanghai count other orders (the time zone is applied)');
SELECT is((SELECT bool_and(extract(isodow FROM (j ->> 'metric_time')::date) = 1) FROM concord.metric_query('{revenue}', grain => 'week') j),
          true, 'weeks are ISO weeks, from Monday');
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue')::numeric FROM concord.metric_query('{revenue}', grain => 'year',
                                                                         time_zone => 'Asia/Shanghai') j$$,
  $$SELECT date '2026-01-01', sum(amount) FILTER (WHERE status = 'paid') FROM mt_shop.orders$$,
  'by year: one year, all of it');
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'order_count')::numeric FROM concord.metric_query('{order_count}', grain => 'day',
                                                                             from_date => '2026-03-01', to_date => '2026-03-01') j$$,
  $$SELECT date '2026-03-01', count(*)::numeric FROM mt_shop.orders
     WHERE ordered_at >= timestamptz '2026-03-01 00:00+00' AND ordered_at < timestamptz '2026-03-02 00:00+00'$$,
  'without a time zone, the session''s (UTC here)');

-- filters over dimensions, order, limit
SELECT results_eq(
  $$SELECT j ->> 'size', (j ->> 'revenue')::numeric
      FROM concord.metric_query('{revenue}', '{size}', filters => $f$region IN ('华东', '华南') AND segment = '企业'$f$) j$$,
  $$SELECT CASE WHEN o.amount >= 500 THEN '大单' ELSE '小单' END, sum(o.amount) FILTER (WHERE o.status = 'paid')
      FROM mt_shop.orders o JOIN mt_shop.customer c ON c.id = o.customer_id
     WHERE c.region IN ('华东', '华南') AND c.segment = '企业' GROUP BY 1 ORDER BY 1$$,
  'a filter over dimensions not asked for (region, segment), by a computed dimension (size)');
SELECT results_eq(
  $$SELECT j ->> 'region' FROM concord.metric_query('{revenue}', '{region}', order_by => '{-revenue}', row_limit => 2) j$$,
  $$SELECT c.region FROM mt_shop.orders o JOIN mt_shop.customer c ON c.id = o.customer_id
     GROUP BY c.region ORDER BY sum(o.amount) FILTER (WHERE o.status = 'paid') DESC LIMIT 2$$,
  'ordered by revenue, descending, the first two');
SELECT is((SELECT j -> 'aov' FROM concord.metric_query('{aov}', filters => $$status = 'cancelled'$$) j), 'null'::jsonb,
          'a ratio whose denominator is 0 is NULL (no paid order among cancelled ones)');
SELECT ok(concord.metric_sql('{revenue}', '{region}', 'month') LIKE '%LEFT JOIN mt_shop.customer AS customer ON customer.id = orders.customer_id%',
          'metric_sql shows the SQL: the declared join');

-- bad questions
SELECT throws_ok($$SELECT concord.metric_sql('{revenue,nosuch}')$$, '42704', 'unknown metric: nosuch', 'an unknown metric');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', '{nosuch}')$$, '42704', 'unknown dimension "nosuch"', 'an unknown dimension');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', grain => 'fortnight')$$, '22023', 'unknown time grain "fortnight"', 'an unknown grain');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', time_zone => 'Mars/Olympus')$$, '22023', 'unknown time zone "Mars/Olympus"', 'an unknown time zone');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', '{resolved}')$$, '22023',
  'dimension "resolved" (model ticket) cannot be reached from model "orders" by declared joins', 'a dimension no declared join reaches');
SELECT throws_like($$SELECT concord.metric_sql('{revenue}', filters => 'region = ')$$, '%syntax error%', 'a filter that does not parse');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', filters => 'region IN (SELECT region FROM mt_shop.customer)')$$, '22023',
  'invalid filter: subqueries are not allowed', 'a filter with a subquery is refused');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', filters => 'amount > 100')$$, '42704',
  'unknown dimension "amount" in the filter', 'a filter over a column that is no dimension');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', filters => $f$region = '华东'); DROP TABLE mt_shop.orders; --$f$)$$, '42601',
  NULL, 'a filter smuggling a second statement is refused (it does not parse as one expression)');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', '{region}', order_by => '{channel}')$$, '22023',
  'cannot order by "channel": it is not a dimension or metric of the question', 'ordering by something not asked for');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', from_date => '2026-02-01', to_date => '2026-01-01')$$, '22023',
  'from_date 2026-02-01 is after to_date 2026-01-01', 'dates the wrong way round');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', '{metric_time}')$$, '22023',
  'metric_time is not a dimension to ask for: give a grain instead', 'metric_time as a dimension');

-- cumulative: a running total over all earlier rows, and a trailing window
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue_to_date')::numeric
      FROM concord.metric_query('{revenue_to_date}', grain => 'month', from_date => '2026-02-01', to_date => '2026-05-31',
                                time_zone => 'Asia/Shanghai') j$$,
  $$SELECT m, total FROM (
      SELECT date_trunc('month', ordered_at AT TIME ZONE 'Asia/Shanghai')::date AS m,
             sum(sum(amount) FILTER (WHERE status = 'paid')) OVER (ORDER BY date_trunc('month', ordered_at AT TIME ZONE 'Asia/Shanghai')::date) AS total
        FROM mt_shop.orders GROUP BY 1) x
     WHERE m BETWEEN '2026-02-01' AND '2026-05-01' ORDER BY 1$$,
  'cumulative: revenue to date by month from February, counting January too, as by hand');
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'active_30d')::numeric
      FROM concord.metric_query('{active_30d}', grain => 'day', from_date => '2026-03-01', to_date => '2026-03-05',
                                time_zone => 'Asia/Shanghai') j$$,
  $$SELECT d::date, (SELECT count(DISTINCT customer_id) FROM mt_shop.orders
                      WHERE status = 'paid' AND ordered_at AT TIME ZONE 'Asia/Shanghai' >= d + interval '1 day' - interval '30 days'
                        AND ordered_at AT TIME ZONE 'Asia/Shanghai' < d + interval '1 day')::numeric
      FROM generate_series(timestamp '2026-03-01', timestamp '2026-03-05', interval '1 day') d ORDER BY 1$$,
  'cumulative with a trailing window: customers who paid in the 30 days to each day, as by hand');
SELECT throws_ok($$SELECT concord.metric_sql('{revenue_to_date}')$$, '22023', 'cumulative metric "revenue_to_date" needs a time grain',
                 'a cumulative metric without a grain');

-- period over period
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'revenue_prev')::numeric, round((j ->> 'revenue_mom')::numeric, 6)
      FROM concord.metric_query('{revenue_prev,revenue_mom}', grain => 'month', from_date => '2026-02-01', to_date => '2026-06-30',
                                time_zone => 'Asia/Shanghai') j$$,
  $$SELECT m, prev, round((cur - prev) / NULLIF(abs(prev), 0) * 100, 6) FROM (
      SELECT date_trunc('month', ordered_at AT TIME ZONE 'Asia/Shanghai')::date AS m, sum(amount) FILTER (WHERE status = 'paid') AS cur,
             lag(sum(amount) FILTER (WHERE status = 'paid')) OVER (ORDER BY date_trunc('month', ordered_at AT TIME ZONE 'Asia/Shanghai')::date) AS prev
        FROM mt_shop.orders GROUP BY 1) x
     WHERE m BETWEEN '2026-02-01' AND '2026-06-01' ORDER BY 1$$,
  'period over period: last month''s revenue and the growth in %, as by hand');
SELECT results_eq(
  $$SELECT j ->> 'region', (j ->> 'revenue_prev')::numeric
      FROM concord.metric_query('{revenue_prev}', '{region}', 'month', from_date => '2026-03-01', to_date => '2026-03-31',
                                time_zone => 'Asia/Shanghai') j$$,
  $$SELECT c.region, sum(o.amount) FILTER (WHERE o.status = 'paid')
      FROM mt_shop.orders o JOIN mt_shop.customer c ON c.id = o.customer_id
     WHERE o.ordered_at >= timestamptz '2026-02-01 00:00+08' AND o.ordered_at < timestamptz '2026-03-01 00:00+08'
     GROUP BY 1 ORDER BY 1$$,
  'period over period by region: each region''s February next to March');

-- conversion: customers who opened a ticket, and of them those who paid
-- for an order within 14 days after it
SELECT results_eq(
  $$SELECT (j ->> 'metric_time')::date, (j ->> 'ticket_to_order')::numeric
      FROM concord.metric_query('{ticket_to_order}', grain => 'month', time_zone => 'Asia/Shanghai') j$$,
  $$SELECT date_trunc('month', t.opened_at AT TIME ZONE 'Asia/Shanghai')::date,
           count(DISTINCT t.customer_id) FILTER (WHERE EXISTS (
             SELECT 1 FROM mt_shop.orders o WHERE o.customer_id = t.customer_id AND o.status = 'paid'
                AND o.ordered_at >= t.opened_at AND o.ordered_at <= t.opened_at + interval '14 days'))::numeric
           / count(DISTINCT t.customer_id)
      FROM mt_shop.ticket t GROUP BY 1 ORDER BY 1$$,
  'conversion rate by month of the first event, as by hand (the window''s end included)');
SELECT results_eq(
  $$SELECT (j ->> 'ticket_to_order_n')::numeric FROM concord.metric_query('{ticket_to_order_n}') j$$,
  $$SELECT count(DISTINCT t.customer_id)::numeric FROM mt_shop.ticket t
     WHERE t.resolved_at IS NULL AND EXISTS (SELECT 1 FROM mt_shop.orders o WHERE o.customer_id = t.customer_id
                                               AND o.ordered_at >= t.opened_at AND o.ordered_at <= t.opened_at + interval '7 days')$$,
  'conversions (a count), with a filter on the first event, over all time');

-- a dimension name in two models: asked for by model.dimension
SET LOCAL ROLE tap_modeler;
SELECT concord.model_create('refund', 'mt_shop.refund', 'refunded_at', $$ {"status": "'refunded'::text"} $$) AS r \gset
SET LOCAL ROLE tap_analyst;
SELECT throws_ok($$SELECT concord.metric_sql('{revenue}', '{status}')$$, '42702',
  'dimension "status" is ambiguous: orders.status, refund.status', 'a dimension name two models have is ambiguous');
SELECT results_eq(
  $$SELECT j ->> 'orders.status', (j ->> 'order_count')::numeric FROM concord.metric_query('{order_count}', '{orders.status}') j$$,
  $$SELECT status, count(*)::numeric FROM mt_shop.orders GROUP BY 1 ORDER BY 1$$,
  'asked for as orders.status, it is that one');

SELECT * FROM finish();
ROLLBACK;
