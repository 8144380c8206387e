-- metric: versions and certification must not mislead (issue 21).  A
-- certification covers the versions of everything the metric is built
-- from; the certified version answers, a new version is a draft until
-- certified; when what a certified metric is built from comes to answer
-- with another version, its certification lapses, and the catalog, the
-- notices of metric_query and the comments of published views say so.
-- On the jaffle_shop seeds; in a transaction rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';
SELECT plan(24);
\ir jaffle.psql
-- as the role holding concord_metric that defined the models and metrics
SET LOCAL ROLE tap_jaffle_modeler;

CREATE FUNCTION pg_temp.aov() RETURNS numeric LANGUAGE sql AS $$
  SELECT round((j ->> 'average_order_value')::numeric, 4) FROM concord.metric_query('{average_order_value}') j
$$;
CREATE FUNCTION pg_temp.notices(m text[], latest boolean DEFAULT false) RETURNS jsonb LANGUAGE sql AS $$
  SELECT concord.metric_sql_build(m, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, latest) -> 'notices'
$$;
CREATE FUNCTION pg_temp.state(m text) RETURNS text LANGUAGE sql AS $$
  SELECT format('latest %s, answers %s, certified %s: %s', latest_version, answering_version, coalesce(certified_version::text, '-'),
                certification)
    FROM concord.metric_catalog WHERE name = m
$$;
SELECT round(sum(amount) / (SELECT count(*) FROM jaffle.orders), 4) AS aov_all,
       round(sum(amount) FILTER (WHERE payment_method <> 'gift_card') / (SELECT count(*) FROM jaffle.orders), 4) AS aov_v2
  FROM jaffle.payments \gset

SELECT is(pg_temp.notices('{average_order_value}'), '["metric \"average_order_value\" version 1 is not certified"]',
          'nothing certified: metric_query says so');
SELECT concord.metric_certify('revenue') AS c1, concord.metric_certify('order_count') AS c2,
       concord.metric_certify('average_order_value') AS c3 \gset
SELECT is((SELECT certified_with FROM concord.metric_catalog WHERE name = 'average_order_value'), '{"revenue": 1, "order_count": 1}',
          'certifying average_order_value records the versions of what it is built from');
SELECT is(pg_temp.state('average_order_value'), 'latest 1, answers 1, certified 1: certified', 'it is certified');
SELECT is(pg_temp.notices('{average_order_value}'), '[]', 'and metric_query has nothing to say');
SELECT concord.metric_publish('aov_by_month', '{average_order_value}', grain => 'month') AS v \gset

-- revenue redefined: a draft; what answers does not change
SELECT is(concord.metric_create('revenue', 'simple', model => 'payments', agg => 'sum', expr => 'amount',
                                filter => $$payment_method <> 'gift_card'$$, description => 'Revenue without gift cards'), 2,
          'revenue redefined: version 2');
SELECT is(pg_temp.state('revenue'), 'latest 2, answers 1, certified 1: certified', 'revenue: version 2 is a draft, the certified version 1 answers');
SELECT is(pg_temp.state('average_order_value'), 'latest 1, answers 1, certified 1: certified',
          'average_order_value stays certified: it still answers from revenue version 1');
SELECT is(pg_temp.aov(), :'aov_all'::numeric, '... and its answer is the one certified (from revenue version 1)');
SELECT is(col_description('metrics.aov_by_month'::regclass, 2),
          'Revenue per order (metric average_order_value version 1 answers, certified with order_count version 1, revenue version 1; owner tap_jaffle_modeler) '
          'Does not add up (a ratio): over any rows it is sum(revenue) / sum(order_count), columns of this view.',
          'the published view''s comment says which versions answer');
SELECT is(col_description('metrics.aov_by_month'::regclass, 4),
          'Revenue (USD) (metric revenue version 1 answers, certified; version 2 is a draft; owner tap_jaffle_modeler) Component of average_order_value: '
          'Adds up: its sum over rows is their total.', 'and that revenue has a draft');
-- the drafts, asked for
SELECT is((SELECT round((j ->> 'average_order_value')::numeric, 4) FROM concord.metric_query('{average_order_value}', latest => true) j),
          :'aov_v2'::numeric, 'latest => true: the drafts answer (revenue version 2)');
SELECT is(pg_temp.notices('{revenue,average_order_value}', true),
          '["metric \"average_order_value\" version 1: certification lapsed: revenue answers with version 2, certified with version 1", '
          '"metric \"revenue\" version 2 is not certified (version 1 is)"]',
          '... and metric_query says which answers are not the certified ones');

-- revenue version 2 certified: average_order_value's certification lapses
SELECT is(concord.metric_certify('revenue', 2), 2, 'revenue version 2 certified');
SELECT is(pg_temp.aov(), :'aov_v2'::numeric, 'average_order_value now answers from revenue version 2 ...');
SELECT is(pg_temp.state('average_order_value'),
          'latest 1, answers 1, certified 1: certification lapsed: revenue answers with version 2, certified with version 1',
          '... and is no longer certified: the catalog says why');
SELECT is((SELECT certified FROM concord.metric_catalog WHERE name = 'average_order_value'), false, 'certified: false');
SELECT is(pg_temp.notices('{average_order_value}'),
          '["metric \"average_order_value\" version 1: certification lapsed: revenue answers with version 2, certified with version 1"]',
          'metric_query says so');
SELECT is(col_description('metrics.aov_by_month'::regclass, 2),
          'Revenue per order (metric average_order_value version 1 answers, certification lapsed: revenue answers with version 2, '
          'certified with version 1; owner tap_jaffle_modeler) Does not add up (a ratio): over any rows it is sum(revenue) / sum(order_count), columns of this view.',
          'and so does the published view (rebuilt in the same transaction)');
SELECT is(concord.metric_certify('average_order_value'), 1, 'its owner certifies it again');
SELECT is(pg_temp.state('average_order_value') || ' ' || (SELECT certified_with::text FROM concord.metric_catalog WHERE name = 'average_order_value'),
          'latest 1, answers 1, certified 1: certified {"revenue": 2, "order_count": 1}', 'certified with revenue version 2');

-- certifying an older version: it answers again
SELECT is(concord.metric_certify('revenue', 1), 1, 'revenue version 1 certified again, version 2 latest');
SELECT is(pg_temp.aov(), :'aov_all'::numeric, 'the certified version answers, not the latest');
SELECT is(pg_temp.state('revenue'), 'latest 2, answers 1, certified 1: certified', 'the catalog says so');
SELECT throws_ok($$SELECT concord.metric_drop('revenue')$$, '2BP01', NULL, 'a metric others are built from cannot be dropped');

SELECT * FROM finish();
ROLLBACK;
