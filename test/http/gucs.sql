-- concord.* settings: defaults, ranges, who may change them, and their
-- effect on calls.  Settings are changed with SET LOCAL and rolled back.
BEGIN;
SELECT plan(40);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a1,
       concord.http_allow_host('localhost', :'p'::int, allow_private => true) IS NOT NULL AS a2 \gset
-- The settings a user may change are read, set and used by a role holding
-- concord_http alone (docs/http.md); the allowlist rows above are a
-- superuser's.
CREATE ROLE tap_http_settings IN ROLE concord_http;
SET LOCAL ROLE tap_http_settings;

CREATE TEMP TABLE t0 (t timestamptz);

-- Does a User-Agent setting put a header of its own into a request to url?
-- False when the setting is refused, when the call is refused, or when the
-- server sees no X-Injected header.
CREATE FUNCTION pg_temp.ua_injects(ua text, url text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE h jsonb;
BEGIN
  BEGIN
    PERFORM set_config('concord.http_user_agent', ua, true);
  EXCEPTION WHEN OTHERS THEN
    RETURN false;
  END;
  BEGIN
    SELECT r.body::jsonb -> 'headers' INTO h FROM concord.http_get(url, timeout_ms => 2000) r;
  EXCEPTION WHEN OTHERS THEN
    RETURN false;
  END;
  RETURN h ? 'x-injected';
END $$;

------------------------------------------------------------------------------
-- Every setting of the http component and the worker: type, unit,
-- default, range and context (other components' settings are theirs to test)
------------------------------------------------------------------------------

SELECT results_eq($$
  SELECT name::text COLLATE "default", vartype, unit, boot_val, min_val, max_val, context
  FROM pg_settings WHERE name ~ '^concord\.(http|worker)_' ORDER BY name$$,
  $$VALUES
    ('concord.http_ca_file', 'string', NULL, '', NULL, NULL, 'superuser'),
    ('concord.http_connect_timeout_ms', 'integer', 'ms', '10000', '1', '600000', 'user'),
    ('concord.http_connect_timeout_ms_limit', 'integer', 'ms', '600000', '1', '2147483647', 'superuser'),
    ('concord.http_log', 'bool', NULL, 'off', NULL, NULL, 'superuser'),
    ('concord.http_log_retention_days', 'integer', NULL, '30', '0', '36500', 'sighup'),
    ('concord.http_max_connections', 'integer', NULL, '32', '1', '1000', 'user'),
    ('concord.http_max_connections_limit', 'integer', NULL, '1000', '1', '10000', 'superuser'),
    ('concord.http_max_host_connections', 'integer', NULL, '8', '1', '1000', 'user'),
    ('concord.http_max_host_connections_limit', 'integer', NULL, '1000', '1', '10000', 'superuser'),
    ('concord.http_max_redirects', 'integer', NULL, '5', '0', '20', 'user'),
    ('concord.http_max_redirects_limit', 'integer', NULL, '20', '0', '20', 'superuser'),
    ('concord.http_max_response_bytes', 'integer', 'B', '10485760', '0', '536870912', 'user'),
    ('concord.http_max_response_bytes_limit', 'integer', 'B', '536870912', '0', '1073741819', 'superuser'),
    ('concord.http_timeout_ms', 'integer', 'ms', '30000', '1', '3600000', 'user'),
    ('concord.http_timeout_ms_limit', 'integer', 'ms', '3600000', '1', '2147483647', 'superuser'),
    ('concord.http_user_agent', 'string', NULL, 'concord/0.2', NULL, NULL, 'user'),
    ('concord.worker_databases', 'string', NULL, '', NULL, NULL, 'sighup'),
    ('concord.worker_max_connections', 'integer', NULL, '256', '1', '10000', 'sighup'),
    ('concord.worker_naptime_ms', 'integer', 'ms', '10000', '100', '3600000', 'sighup'),
    ('concord.worker_synchronous_commit', 'bool', NULL, 'off', NULL, NULL, 'sighup')$$,
  'every setting: type, unit, default, range, and who may change it');
SELECT results_eq($$
  SELECT name::text COLLATE "default", current_setting(name) FROM pg_settings WHERE name ~ '^concord\.(http|worker)_' ORDER BY name$$,
  $$VALUES
    ('concord.http_ca_file', ''),
    ('concord.http_connect_timeout_ms', '10s'),
    ('concord.http_connect_timeout_ms_limit', '10min'),
    ('concord.http_log', 'off'),
    ('concord.http_log_retention_days', '30'),
    ('concord.http_max_connections', '32'),
    ('concord.http_max_connections_limit', '1000'),
    ('concord.http_max_host_connections', '8'),
    ('concord.http_max_host_connections_limit', '1000'),
    ('concord.http_max_redirects', '5'),
    ('concord.http_max_redirects_limit', '20'),
    ('concord.http_max_response_bytes', '10MB'),
    ('concord.http_max_response_bytes_limit', '512MB'),
    ('concord.http_timeout_ms', '30s'),
    ('concord.http_timeout_ms_limit', '1h'),
    ('concord.http_user_agent', 'concord/0.2'),
    ('concord.worker_databases', ''),
    ('concord.worker_max_connections', '256'),
    ('concord.worker_naptime_ms', '10s'),
    ('concord.worker_synchronous_commit', 'off')$$,
  'the defaults are in effect, shown with their units');
SELECT ok((SELECT bool_and(short_desc IS NOT NULL AND short_desc <> '') FROM pg_settings WHERE name LIKE 'concord.%'),
  'every setting is described');

------------------------------------------------------------------------------
-- The prefix is reserved; bad values and contexts are refused
------------------------------------------------------------------------------

SELECT throws_ok($$SET concord.nonexistent = 1$$, '42602',
  'invalid configuration parameter name "concord.nonexistent"', 'the concord. prefix is reserved');
SELECT throws_ok($$SELECT current_setting('concord.nonexistent')$$, '42704',
  'unrecognized configuration parameter "concord.nonexistent"', 'no placeholder setting exists');
SELECT throws_ok($$SET concord.http_timeout_ms = 0$$, '22023',
  '0 ms is outside the valid range for parameter "concord.http_timeout_ms" ' || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '(1 ms .. 3600000 ms)' ELSE '(1 .. 3600000)' END, 'timeout below 1 ms');
SELECT throws_ok($$SET concord.http_timeout_ms = 'soon'$$, '22023',
  'invalid value for parameter "concord.http_timeout_ms": "soon"', 'a timeout that is no number');
SELECT throws_ok($$SET concord.http_connect_timeout_ms = '11min'$$, '22023',
  '660000 ms is outside the valid range for parameter "concord.http_connect_timeout_ms" ' || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '(1 ms .. 600000 ms)' ELSE '(1 .. 600000)' END, 'connect timeout above 10 minutes');
SELECT throws_ok($$SET concord.http_max_redirects = 21$$, '22023',
  '21 is outside the valid range for parameter "concord.http_max_redirects" (0 .. 20)', 'more than 20 redirects');
SELECT throws_ok($$SET concord.http_max_response_bytes = '1GB'$$, '22023',
  '1073741824 B is outside the valid range for parameter "concord.http_max_response_bytes" ' || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '(0 B .. 536870912 B)' ELSE '(0 .. 536870912)' END, 'a response limit above 512 MB');
SELECT throws_ok($$SET concord.http_max_connections = 0$$, '22023',
  '0 is outside the valid range for parameter "concord.http_max_connections" (1 .. 1000)', 'a zero global cap');
SELECT throws_ok($$SET concord.http_max_host_connections = 1001$$, '22023',
  '1001 is outside the valid range for parameter "concord.http_max_host_connections" (1 .. 1000)', 'a host cap above 1000');
-- http_log is a superuser's setting: its values are checked for one.
RESET ROLE;
SELECT throws_ok($$SET concord.http_log = 'maybe'$$, '22023',
  'parameter "concord.http_log" requires a Boolean value', 'http_log is a boolean');
SET LOCAL ROLE tap_http_settings;
SELECT throws_ok($$SET concord.worker_naptime_ms = 100$$, '55P02',
  'parameter "concord.worker_naptime_ms" cannot be changed now', 'worker_naptime_ms is set in the configuration file');
SELECT throws_ok($$SET concord.http_log_retention_days = 1$$, '55P02',
  'parameter "concord.http_log_retention_days" cannot be changed now', 'http_log_retention_days is set in the configuration file');
SELECT throws_ok($$SET concord.worker_databases = 'x'$$, '55P02',
  'parameter "concord.worker_databases" cannot be changed now', 'worker_databases is set in the configuration file');

------------------------------------------------------------------------------
-- Units
------------------------------------------------------------------------------

SET LOCAL concord.http_max_response_bytes = '2kB';
SELECT is(current_setting('concord.http_max_response_bytes'), '2kB', 'the response limit takes memory units');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'concord.http_max_response_bytes'), '2048', 'counted in bytes');
SET LOCAL concord.http_timeout_ms = '2s';
SELECT is((SELECT setting FROM pg_settings WHERE name = 'concord.http_timeout_ms'), '2000', 'timeouts take time units, counted in ms');
SET LOCAL concord.http_timeout_ms = 250;
SELECT is(current_setting('concord.http_timeout_ms'), '250ms', 'a bare number is milliseconds');
RESET concord.http_max_response_bytes;
RESET concord.http_timeout_ms;

------------------------------------------------------------------------------
-- Settings take effect; per-call arguments override them
------------------------------------------------------------------------------

SET LOCAL concord.http_max_response_bytes = 1000;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/bytes/5000'), '54000',
  format('response from %s exceeds the limit of 1000 bytes', :'u' || '/bytes/5000'), 'http_max_response_bytes applies');
SELECT is(length((concord.http_get(:'u' || '/bytes/1000')).body_bytes), 1000, 'a body at the setting''s limit passes');
SELECT is((concord.http_get(:'u' || '/bytes/5000', max_response_bytes => 5000)).status, 200,
  'a per-call limit overrides the setting');
SELECT is((SELECT error_code FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/bytes/5000')])), '54000',
  'the setting applies to batches');
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
SELECT is((concord.http_get(:'u' || '/redirect/1')).status, 200, 'one redirect is within the setting');
SELECT is((concord.http_get(:'u' || '/redirect/2', max_redirects => 2)).status, 200, 'a per-call limit overrides it');
SET LOCAL concord.http_max_redirects = 0;
SELECT is((concord.http_get(:'u' || '/redirect/2')).status, 302, 'http_max_redirects = 0 returns the redirect');
RESET concord.http_max_redirects;

SET LOCAL concord.http_user_agent = 'concord-test/1 (销售)';
SELECT is((SELECT body::jsonb -> 'headers' ->> 'user-agent' FROM concord.http_get(:'u' || '/echo')),
  'concord-test/1 (销售)', 'http_user_agent is sent');
SET LOCAL concord.http_user_agent = '';
SELECT is((SELECT body::jsonb -> 'headers' ? 'user-agent' FROM concord.http_get(:'u' || '/echo')),
  false, 'an empty http_user_agent sends no User-Agent');
RESET concord.http_user_agent;
SELECT is((SELECT body::jsonb -> 'headers' ->> 'user-agent' FROM concord.http_get(:'u' || '/echo')),
  'concord/0.2', 'RESET brings the default back');
-- http_user_agent (settable by any role) must not smuggle headers into
-- requests with a line break.
SELECT is(pg_temp.ua_injects(E'concord\r\nX-Injected: yes', :'u' || '/echo'), false,
  'http_user_agent cannot smuggle a header (CRLF)');
SELECT is(pg_temp.ua_injects(E'concord\nX-Injected: yes', :'u' || '/echo'), false,
  'http_user_agent cannot smuggle a header (LF)');
RESET concord.http_user_agent;

SET LOCAL concord.http_max_host_connections = 1;
INSERT INTO t0 VALUES (clock_timestamp());
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/100') FROM generate_series(1, 4))) WHERE status = 200), 4,
  'batch under the host cap setting');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '400 ms',
  'http_max_host_connections = 1 serialises the batch');
RESET concord.http_max_host_connections;

SET LOCAL concord.http_max_connections = 1;
UPDATE t0 SET t = clock_timestamp();
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/delay/150'),
             concord.http_request('GET', 'http://localhost:' || :'p' || '/delay/150'),
             concord.http_request('GET', 'http://localhost:' || :'p' || '/delay/150')]) WHERE status = 200), 3,
  'batch under the global cap setting');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '450 ms',
  'http_max_connections = 1 serialises it across hosts');
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/json') FROM generate_series(1, 3)),
             max_connections => 3) WHERE status = 200), 3,
  'the max_connections argument overrides the setting');
RESET concord.http_max_connections;

SELECT * FROM finish();
ROLLBACK;
