-- concord.* settings: defaults, who may change them, and their effect;
-- the background worker is running.
BEGIN;
SELECT plan(22);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

SELECT results_eq($$
  SELECT name, boot_val, context FROM pg_settings WHERE name LIKE 'concord.%' ORDER BY name$$,
  $$VALUES
    ('concord.http_ca_file', '', 'superuser'),
    ('concord.http_connect_timeout_ms', '10000', 'user'),
    ('concord.http_log', 'off', 'superuser'),
    ('concord.http_log_retention_days', '30', 'sighup'),
    ('concord.http_max_connections', '32', 'user'),
    ('concord.http_max_host_connections', '8', 'user'),
    ('concord.http_max_redirects', '5', 'user'),
    ('concord.http_max_response_bytes', '10485760', 'user'),
    ('concord.http_timeout_ms', '30000', 'user'),
    ('concord.http_user_agent', 'concord/0.1', 'user'),
    ('concord.secret_key_file', '', 'superuser'),
    ('concord.worker_databases', '', 'sighup'),
    ('concord.worker_naptime_ms', '10000', 'sighup')$$,
  'every setting, its default and who may change it');
SELECT throws_ok($$SET concord.no_such_setting = 1$$, '42602', NULL, 'the concord. prefix is reserved');
SELECT throws_ok($$SET concord.http_timeout_ms = 0$$, '22023', NULL, 'timeout below 1 ms refused');
SELECT throws_ok($$SET concord.http_max_redirects = 21$$, '22023', NULL, 'more than 20 redirects refused');
SELECT throws_ok($$SET concord.http_max_response_bytes = '1GB'$$, '22023', NULL, 'a response limit above 512 MB refused');
SELECT throws_ok($$SET concord.http_max_connections = 0$$, '22023', NULL, 'a zero global cap refused');
SELECT throws_ok($$SET concord.http_ca_file = 'relative/ca.pem'$$, '22023', NULL, 'a relative CA path refused');
SELECT lives_ok($$SET LOCAL concord.http_max_response_bytes = '2kB'$$, 'limits take units');
SELECT is(current_setting('concord.http_max_response_bytes'), '2kB', 'the unit is bytes');

-- Settings take effect
SET LOCAL concord.http_max_response_bytes = 1000;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/bytes/5000'), '54000',
  format('response from %s exceeds the limit of 1000 bytes', :'u' || '/bytes/5000'), 'http_max_response_bytes applies');
SELECT is((concord.http_get(:'u' || '/bytes/5000', max_response_bytes => 5000)).status, 200,
  'a per-call limit overrides the setting');
RESET concord.http_max_response_bytes;
SET LOCAL concord.http_timeout_ms = 200;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/delay/2000'), '08006',
  format('http request to %s timed out', :'u' || '/delay/2000'), 'http_timeout_ms applies');
SELECT is((concord.http_get(:'u' || '/delay/300', timeout_ms => 5000)).status, 200,
  'a per-call timeout overrides the setting');
RESET concord.http_timeout_ms;
SET LOCAL concord.http_max_redirects = 1;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect/2'), '54000',
  format('too many redirects from %s', :'u' || '/redirect/2'), 'http_max_redirects applies');
RESET concord.http_max_redirects;
SET LOCAL concord.http_user_agent = 'concord-test/1';
SELECT is((SELECT body::jsonb -> 'headers' ->> 'user-agent' FROM concord.http_get(:'u' || '/echo')),
  'concord-test/1', 'http_user_agent is sent');
RESET concord.http_user_agent;
SET LOCAL concord.http_max_host_connections = 1;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/100') FROM generate_series(1, 4)))), 4,
  'batch under the setting cap');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '390 ms',
  'http_max_host_connections = 1 serialises the batch');
RESET concord.http_max_host_connections;

-- The background worker (shared_preload_libraries = 'concord')
SELECT ok(current_setting('shared_preload_libraries') ~ 'concord', 'concord is preloaded');
SELECT is((SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'concord launcher'), 1,
  'the launcher is running');
SELECT is(concord.worker_wake(), true, 'worker_wake finds the launcher');
SELECT is(has_function_privilege('public', 'concord.worker_wake()', 'EXECUTE'), false,
  'worker_wake is not for PUBLIC');
DO $$
BEGIN
  FOR i IN 1..150 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                      WHERE backend_type = 'concord worker' AND datname = current_database());
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT is((SELECT count(*)::int FROM pg_stat_activity
           WHERE backend_type = 'concord worker' AND datname = current_database()), 1,
  'a worker serves this database');

SELECT * FROM finish();
ROLLBACK;
