-- The background workers (shared_preload_libraries = 'concord'): the
-- launcher runs, a worker serves this database, and that worker trims the
-- call log to concord.http_log_retention_days.
--
-- The worker works in its own transactions, so the call-log rows it must
-- see are committed by a dblink session, marked with a URL under
-- tap-worker.invalid, and removed at the end.  pg_reload_conf() wakes the
-- launcher and the worker at once (SIGHUP sets their latch), so nothing
-- waits for a full naptime.  pg_stat_activity is read with
-- pg_stat_clear_snapshot(), since a transaction otherwise keeps its first
-- snapshot of it.
BEGIN;
SELECT plan(11);

\ir ../harness/backends.psql

SELECT ok(current_setting('shared_preload_libraries') ~ '\mconcord\M', 'concord is preloaded');
SELECT ok(pg_temp.eventually($$SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'concord launcher'$$, 5),
  'one launcher is running');
SELECT is((SELECT datname FROM pg_stat_activity WHERE backend_type = 'concord launcher'), NULL::name,
  'the launcher is connected to no database');
SELECT is(concord.worker_wake(), true, 'worker_wake finds the launcher');
SELECT is(has_function_privilege('public', 'concord.worker_wake()', 'EXECUTE'), false,
  'worker_wake is not for PUBLIC');
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.eventually($$SELECT count(*) = 1 FROM pg_stat_activity
                               WHERE backend_type = 'concord worker' AND datname = current_database()$$, 15),
  'one worker serves this database');
SELECT ok(pg_temp.eventually($$SELECT count(*) = 0 FROM pg_stat_activity
                               WHERE backend_type = 'concord worker' AND datname = 'postgres'$$, 5),
  'no worker stays in a database without the extension');

-- Retention: rows older than concord.http_log_retention_days go
SELECT is(current_setting('concord.http_log_retention_days'), '30', 'rows are kept 30 days');
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_worker', :'conn') AS c \gset
SELECT n FROM dblink('tap_worker', $$
  WITH i AS (
    INSERT INTO concord.http_call_log (called_at, role_name, method, url, status)
    VALUES (now() - interval '40 days', 'tap_worker', 'GET', 'http://tap-worker.invalid/old', 200),
           (now() - interval '20 days', 'tap_worker', 'GET', 'http://tap-worker.invalid/recent', 200)
    RETURNING 1)
  SELECT count(*) FROM i$$) AS t(n bigint) \gset
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.eventually($$SELECT NOT EXISTS (SELECT 1 FROM concord.http_call_log
                                                  WHERE url = 'http://tap-worker.invalid/old')$$, 15),
  'the worker deletes a row 40 days old');
SELECT is((SELECT count(*)::int FROM concord.http_call_log WHERE url = 'http://tap-worker.invalid/recent'), 1,
  'and keeps a row 20 days old');
SELECT n AS removed FROM dblink('tap_worker', $$
  WITH d AS (DELETE FROM concord.http_call_log WHERE url LIKE 'http://tap-worker.invalid/%' RETURNING 1)
  SELECT count(*) FROM d$$) AS t(n bigint) \gset
SELECT dblink_disconnect('tap_worker') AS d \gset
SELECT is(:removed::int, 1, 'clean-up removed the kept row');

SELECT * FROM finish();
ROLLBACK;
