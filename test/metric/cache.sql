-- metric: metric_sql and metric_query keep the SQL they wrote (and
-- metric_query its plan) per backend, under the generation of the
-- definitions, the caller and the question (src/metric/cache.c).  A kept
-- answer is never stale or another role's: a redefinition, a
-- certification, a rollup made, another caller, another time zone, a table
-- renamed each get SQL of their own; a definition rolled back leaves
-- nothing behind; another session's committed change is seen at once; the
-- caller's search_path and DateStyle change nothing.  On the jaffle_shop
-- seeds, in a transaction rolled back (cache_sessions.sql: what another
-- session commits).
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';
SELECT plan(16);
\ir jaffle.psql

CREATE FUNCTION pg_temp.stats() RETURNS int[] LANGUAGE sql AS $$
  SELECT ARRAY[entries, hits, misses]::int[] FROM concord.metric_sql_cache_stats()
$$;
CREATE FUNCTION pg_temp.revenue() RETURNS numeric LANGUAGE sql AS $$
  SELECT (j ->> 'revenue')::numeric FROM concord.metric_query('{revenue}', from_date => '2018-03-01', to_date => '2018-03-31') j
$$;

SELECT pg_temp.revenue() AS r0 \gset
SELECT pg_temp.stats() AS s0 \gset
SELECT pg_temp.revenue() AS r1 \gset
SELECT is(pg_temp.stats(), ARRAY[(:'s0'::int[])[1], (:'s0'::int[])[2] + 1, (:'s0'::int[])[3]],
          'the same question again: answered from what was kept (a hit, nothing written)');
SELECT is(:'r1'::numeric, 622.00, '... with the same answer');

-- a redefinition (revenue is not certified: its latest version answers)
SELECT concord.metric_create('revenue', 'simple', model => 'payments', agg => 'sum', expr => 'amount',
                             filter => $$payment_method = 'credit_card'$$) AS v2 \gset
SELECT is(pg_temp.revenue(), (SELECT sum(p.amount) FROM jaffle.payments p JOIN jaffle.orders o USING (order_id)
                               WHERE p.payment_method = 'credit_card' AND o.order_date BETWEEN '2018-03-01' AND '2018-03-31'),
          'revenue redefined in this transaction: answered with version 2 at once');
-- a certification: version 1 answers again
SELECT concord.metric_certify('revenue', 1) AS c1 \gset
SELECT is(pg_temp.revenue(), 622.00, 'version 1 certified: it answers at once');

-- a definition rolled back leaves nothing kept behind
CREATE FUNCTION pg_temp.undone() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE v numeric;
BEGIN
  BEGIN
    PERFORM concord.metric_certify('revenue', 2);
    v := pg_temp.revenue();
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  RETURN v;
END $$;
SELECT isnt(pg_temp.undone(), 622.00, 'inside a subtransaction, version 2 certified answers');
SELECT is(pg_temp.revenue(), 622.00, 'rolled back: version 1 answers again, not what was kept for the rolled-back generation');
SELECT concord.metric_create('order_count', 'simple', model => 'orders', agg => 'count', description => 'Orders, again') AS oc \gset
SELECT is(pg_temp.revenue(), 622.00, 'and after another change (a new generation, never the rolled-back one), still version 1');

-- another caller: SQL of her own
SELECT concord.metric_rollup_create('tap_cache_monthly', '{revenue}', '{}', 'month', 'UTC') AS ro \gset
SELECT ok(concord.metric_sql('{revenue}', grain => 'month') LIKE '%concord_rollup.tap_cache_monthly %',
          'for the superuser, a rollup answers');
CREATE ROLE tap_cache_rep;
GRANT USAGE ON SCHEMA jaffle TO tap_cache_rep;
GRANT SELECT ON ALL TABLES IN SCHEMA jaffle TO tap_cache_rep;
SELECT concord.row_policy_create('tap_cache_orders', 'jaffle.orders', 'order_id <= 70') AS p \gset
SET LOCAL ROLE tap_cache_rep;
SELECT ok(concord.metric_sql('{revenue}', grain => 'month') NOT LIKE '%concord_rollup%',
          'for a role that may not read every order, the same question is answered from the models (her own SQL, her own plan)');
SELECT is((SELECT sum((j ->> 'order_count')::numeric) FROM concord.metric_query('{order_count}', grain => 'month') j), 70::numeric,
          '... and counts her rows only');
RESET ROLE;
SELECT is((SELECT sum((j ->> 'order_count')::numeric) FROM concord.metric_query('{order_count}', grain => 'month') j), 99::numeric,
          'while the superuser''s kept answer is still all of them');

-- settings: the time zone asked in is part of the question; DateStyle and
-- the caller's search_path change nothing
CREATE TABLE jaffle.visit (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO jaffle.visit VALUES (1, '2018-01-01 20:00+00');
SELECT concord.model_create('tap_cache_visits', 'jaffle.visit', 'at') AS vm,
       concord.metric_create('tap_cache_visit_n', 'simple', model => 'tap_cache_visits', agg => 'count') AS vn \gset
CREATE FUNCTION pg_temp.visit_day() RETURNS text LANGUAGE sql AS $$
  SELECT j ->> 'metric_time' FROM concord.metric_query('{tap_cache_visit_n}', grain => 'day') j
$$;
SELECT pg_temp.visit_day() AS utc_day \gset
SET LOCAL TimeZone = 'Asia/Shanghai';
SELECT is(:'utc_day' || ' / ' || pg_temp.visit_day(), '2018-01-01 / 2018-01-02',
          'the session''s time zone is part of the question: 20:00 UTC on 1 January is 2 January in Shanghai');
SET LOCAL DateStyle = 'SQL, DMY';
SELECT is(pg_temp.revenue(), 622.00, 'DateStyle SQL, DMY: the same answer (the SQL writes its dates in ISO)');
SET LOCAL DateStyle = 'SQL, MDY';
SELECT is(pg_temp.revenue(), 622.00, 'DateStyle SQL, MDY: the same answer');
RESET DateStyle;
CREATE SCHEMA tap_cache_evil;
CREATE FUNCTION tap_cache_evil.date_trunc(text, timestamp) RETURNS timestamp LANGUAGE sql AS $$ SELECT timestamp '1999-01-01' $$;
CREATE FUNCTION tap_cache_evil.sum(numeric) RETURNS numeric LANGUAGE sql AS $$ SELECT -1::numeric $$;
SET LOCAL search_path = tap_cache_evil, pg_catalog, public;
SELECT is((SELECT (j ->> 'metric_time') || ' ' || (j ->> 'revenue') FROM concord.metric_query('{revenue}', grain => 'month',
                                                                   from_date => '2018-03-01', to_date => '2018-03-31') j),
          '2018-03-01 622.00', 'a search_path with look-alike functions first: the same answer');
RESET search_path;

-- a table renamed: the SQL kept is written anew
ALTER TABLE jaffle.payments RENAME TO payments_renamed;
SELECT is(pg_temp.revenue(), 622.00, 'a model''s table renamed: the question is written anew (no SQL naming the old table)');

SELECT * FROM finish();
ROLLBACK;
