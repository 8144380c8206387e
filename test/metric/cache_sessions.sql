-- metric: a session that keeps the SQL of a question (src/metric/cache.c)
-- answers with what another session redefined and committed, at once; a
-- definition not yet committed changes nothing for others.  Sessions of
-- their own (dblink); their objects are committed and dropped at the end.
SET client_min_messages = warning;
SELECT plan(2);
\ir ../policy/setup.psql
SELECT dblink_connect('tap_cache_a', :'conn' || ' user=postgres') AS a, dblink_connect('tap_cache_b', :'conn' || ' user=postgres') AS b \gset
SELECT dblink_exec('tap_cache_a', $x$
  DO $d$ BEGIN
    SET client_min_messages = warning;
    -- (what a run stopped half-way left)
    PERFORM concord.metric_drop('tap_cache_total');
    PERFORM concord.model_drop('tap_cache_m');
    DROP SCHEMA IF EXISTS tap_cache_s CASCADE;
    CREATE SCHEMA tap_cache_s;
    CREATE TABLE tap_cache_s.t (id int PRIMARY KEY, v numeric, at date);
    INSERT INTO tap_cache_s.t VALUES (1, 10, '2026-01-01'), (2, 20, '2026-01-02');
    PERFORM concord.model_create('tap_cache_m', 'tap_cache_s.t', 'at');
    PERFORM concord.metric_create('tap_cache_total', 'simple', model => 'tap_cache_m', agg => 'sum', expr => 'v');
  END $d$ $x$) AS made \gset
CREATE FUNCTION pg_temp.ask_b() RETURNS text LANGUAGE sql AS $$
  SELECT v FROM dblink('tap_cache_b', $q$SELECT string_agg(j ->> 'tap_cache_total', ',') FROM concord.metric_query('{tap_cache_total}') j$q$)
    AS t(v text)
$$;
SELECT pg_temp.ask_b() AS first_answer \gset
SELECT dblink_exec('tap_cache_a', 'BEGIN') AS began \gset
SELECT dblink_exec('tap_cache_a', $x$DO $d$ BEGIN PERFORM concord.metric_create('tap_cache_total', 'simple', model => 'tap_cache_m', agg => 'max', expr => 'v'); END $d$ $x$)
  AS redefined \gset
SELECT is(:'first_answer' || ' then ' || pg_temp.ask_b(), '30 then 30',
          'another session redefined the metric and has not committed: the session that kept the SQL answers as before');
SELECT dblink_exec('tap_cache_a', 'COMMIT') AS committed \gset
SELECT is(pg_temp.ask_b(), '20', 'it committed: the session that kept the SQL answers with the new definition at once');
SELECT dblink_exec('tap_cache_a', $x$
  DO $d$ BEGIN
    PERFORM concord.metric_drop('tap_cache_total');
    PERFORM concord.model_drop('tap_cache_m');
    DROP SCHEMA tap_cache_s CASCADE;
  END $d$ $x$) AS dropped \gset
SELECT dblink_disconnect('tap_cache_a') AS a, dblink_disconnect('tap_cache_b') AS b \gset
SELECT * FROM finish();
