-- metric: rollups -- answers from a rollup equal answers from the models,
-- and a rollup is used only when that is provable: covered question, whole
-- buckets, same zone, same versions, nothing changed since its refresh.
-- All in a transaction rolled back (roles.sql checks row policies).
BEGIN;
SET client_min_messages = warning;
SELECT plan(28);
\ir retail.psql
\ir models.psql
-- as the role holding concord_metric that defined the models (models.psql)
SET LOCAL ROLE tap_modeler;

-- base and rollup answers of the same question, as sorted text
CREATE FUNCTION pg_temp.answers(q text, rollups boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SELECT string_agg(j::text, '' | '' ORDER BY j::text) FROM concord.metric_query(%s, use_rollups => %L) j', q, rollups) INTO r;
  RETURN r;
END $$;
CREATE FUNCTION pg_temp.uses(q text, rollup text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
  EXECUTE format('SELECT concord.metric_sql(%s)', q) INTO s;
  RETURN s LIKE '%concord_rollup.' || rollup || ' %';
END $$;

SELECT is(concord.metric_rollup_create('daily', '{revenue,aov,order_count}', '{region,channel}', 'day', 'Asia/Shanghai')::text,
          'concord_rollup.daily', 'metric_rollup makes and fills a table in concord_rollup');
SELECT results_eq($$SELECT metrics, grain, row_count > 0 FROM concord.metric_rollup WHERE name = 'daily'$$,
                  $$VALUES ('{order_count,paid_count,revenue}'::text[], 'day'::text, true)$$,
                  'it holds the simple metrics behind those asked for (aov: revenue and paid_count)');

\set q '''{revenue,aov}'', ''{region}'', ''month'', time_zone => ''Asia/Shanghai'''
SELECT ok(pg_temp.uses(:'q', 'daily'), 'revenue and aov by region and month: answered from the daily rollup');
SELECT is(pg_temp.answers(:'q', true), pg_temp.answers(:'q', false), '... with the answer the models give');
\set q '''{order_count}'', ''{channel}'', ''quarter'', filters => $f$region = ''华东''$f$, time_zone => ''Asia/Shanghai'''
SELECT ok(pg_temp.uses(:'q', 'daily'), 'by quarter, filtered on a dimension the rollup has: from the rollup');
SELECT is(pg_temp.answers(:'q', true), pg_temp.answers(:'q', false), '... the same answer');
\set q '''{revenue,order_count}'', from_date => ''2026-02-01'', to_date => ''2026-03-15'', time_zone => ''Asia/Shanghai'''
SELECT ok(pg_temp.uses(:'q', 'daily'), 'totals over a date range of whole days: from the rollup');
SELECT is(pg_temp.answers(:'q', true), pg_temp.answers(:'q', false), '... the same answer');
\set q '''{revenue}'', ''{region}'', ''week'', time_zone => ''Asia/Shanghai'''
SELECT is(pg_temp.answers(:'q', true), pg_temp.answers(:'q', false), 'by ISO week: the same answer');

-- not covered: not used
SELECT ok(NOT pg_temp.uses($$'{revenue}', '{segment}', 'month', time_zone => 'Asia/Shanghai'$$, 'daily'),
          'a dimension the rollup lacks: the models answer');
SELECT ok(NOT pg_temp.uses($$'{revenue}', '{region}', 'month', time_zone => 'UTC'$$, 'daily'), 'another time zone: the models answer');
SELECT ok(NOT pg_temp.uses($$'{revenue,biggest_order}', '{region}', 'month', time_zone => 'Asia/Shanghai'$$, 'daily'),
          'a metric the rollup lacks: the models answer');
SELECT concord.metric_rollup_create('monthly', '{revenue}', '{region}', 'month', 'Asia/Shanghai') AS m \gset
SELECT ok(pg_temp.uses($$'{revenue}', '{region}', 'year', time_zone => 'Asia/Shanghai'$$, 'monthly'),
          'by year: the smaller, monthly rollup answers');
SELECT ok(NOT pg_temp.uses($$'{revenue}', '{region}', from_date => '2026-01-15', time_zone => 'Asia/Shanghai'$$, 'monthly')
          AND pg_temp.uses($$'{revenue}', '{region}', from_date => '2026-01-15', time_zone => 'Asia/Shanghai'$$, 'daily'),
          'totals over a range that cuts a month: not the monthly rollup, the daily one');
SELECT ok(pg_temp.uses($$'{revenue}', '{region}', 'month', from_date => '2026-01-15', time_zone => 'Asia/Shanghai'$$, 'monthly'),
          'by month from 15 January: the range widens to whole months, the monthly rollup answers');
-- count_distinct does not add up
SELECT concord.metric_rollup_create('buyers_daily', '{buyers}', '{region}', 'day', 'Asia/Shanghai') AS b \gset
SELECT ok(pg_temp.uses($$'{buyers}', '{region}', 'day', time_zone => 'Asia/Shanghai'$$, 'buyers_daily'),
          'count_distinct at exactly its grain and dimensions: from the rollup');
SELECT ok(NOT pg_temp.uses($$'{buyers}', '{region}', 'month', time_zone => 'Asia/Shanghai'$$, 'buyers_daily'),
          'count_distinct by month from days would count a customer twice: the models answer');
SELECT is(pg_temp.answers($$'{buyers}', '{region}', 'month', time_zone => 'Asia/Shanghai'$$, true),
          pg_temp.answers($$'{buyers}', '{region}', 'month', time_zone => 'Asia/Shanghai'$$, false), '... correctly');

-- changes: stale until refreshed; the refresh recomputes from the change on
\set q '''{revenue}'', ''{region}'', ''month'', time_zone => ''Asia/Shanghai'''
-- (the data changes are the tables' owner's)
RESET ROLE;
INSERT INTO mt_shop.orders VALUES (99001, 1, '2026-03-05 10:00+08', '线上', 'paid', 777);
SET LOCAL ROLE tap_modeler;
SELECT ok(NOT pg_temp.uses(:'q', 'daily'), 'an order added: the rollup is stale, the models answer');
SELECT is((SELECT since FROM concord.metric_rollup_change WHERE rollup = 'daily'), timestamp '2026-03-05 10:00', 'the change noted, with its time');
SELECT cmp_ok(concord.metric_rollup_refresh('daily'), '<', (SELECT count(*) FROM concord_rollup.daily),
              'an incremental refresh rewrites only the buckets from the change on');
SELECT ok(pg_temp.uses(:'q', 'daily') AND pg_temp.answers(:'q', true) = pg_temp.answers(:'q', false),
          'refreshed: from the rollup again, the new order counted');
RESET ROLE;
UPDATE mt_shop.customer SET region = '华北' WHERE id = 2;
SET LOCAL ROLE tap_modeler;
SELECT is((SELECT since FROM concord.metric_rollup_change WHERE rollup = 'daily'), timestamp '-infinity',
          'a change to a dimension''s table may touch any bucket');
SELECT ok(concord.metric_rollup_refresh('daily') > 0 AND pg_temp.answers(:'q', true) = pg_temp.answers(:'q', false)
          AND pg_temp.uses(:'q', 'daily'), 'refreshed in full: the same answers');
-- a metric redefined: not used until refreshed
SELECT concord.metric_create('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount',
                             filter => $$status IN ('paid', 'refunded')$$) AS v2 \gset
SELECT ok(NOT pg_temp.uses(:'q', 'daily'), 'revenue redefined: the rollup holds the old version, the models answer');

-- bad input
SELECT throws_ok($$SELECT concord.metric_rollup_create('daily', '{revenue}')$$, '42710', 'rollup "daily" already exists', 'a name taken');
SELECT throws_ok($$SELECT concord.metric_rollup_create('r2', '{revenue_to_date}')$$, '22023',
                 'metrics revenue_to_date (cumulative) are not rolled up', 'a cumulative metric');
SELECT throws_ok($$SELECT concord.metric_rollup_create('r2', '{nosuch}')$$, '42704', 'unknown metric: nosuch', 'an unknown metric');

SELECT * FROM finish();
ROLLBACK;
