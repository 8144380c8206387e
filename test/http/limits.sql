-- http: the superuser's ceilings over the per-call limits (issue 17, class
-- 6).  A caller holding only concord_http cannot raise a time limit, the
-- response size, the redirects or a batch's connections past the ceilings
-- (concord.http_*_limit, superuser settings), neither per call nor per
-- session; a body over the limit is an error, never a short body.  A
-- source's request.timeout_ms is held to the same ceiling.  Ceilings are
-- lowered with SET LOCAL and everything is rolled back, roles too.
BEGIN;
SELECT plan(32);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

CREATE ROLE tap_lim_caller IN ROLE concord_http;
CREATE ROLE tap_lim_sync IN ROLE concord_sync;
CREATE SCHEMA lim_test;
GRANT USAGE, CREATE ON SCHEMA lim_test TO tap_lim_sync;

-- The error q raises, as {sqlstate, message, hint}; NULL if none.
CREATE FUNCTION pg_temp.error_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE s text; m text; h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
  RETURN jsonb_build_object('sqlstate', s, 'message', m, 'hint', NULLIF(h, ''));
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.error_of(text) TO PUBLIC;

------------------------------------------------------------------------------
-- The ceilings are superuser settings
------------------------------------------------------------------------------

SELECT results_eq($$
  SELECT name::text COLLATE "default", context, boot_val FROM pg_settings WHERE name LIKE 'concord.http\_%\_limit' ORDER BY name$$,
  $$VALUES ('concord.http_connect_timeout_ms_limit', 'superuser', '600000'),
           ('concord.http_max_connections_limit', 'superuser', '1000'),
           ('concord.http_max_host_connections_limit', 'superuser', '1000'),
           ('concord.http_max_redirects_limit', 'superuser', '20'),
           ('concord.http_max_response_bytes_limit', 'superuser', '536870912'),
           ('concord.http_timeout_ms_limit', 'superuser', '3600000')$$,
  'six ceilings, superuser settings, by default the maxima of the settings they cap');
SELECT throws_ok($$SET concord.http_max_response_bytes_limit = '1GB'$$, '22023',
  '1073741824 B is outside the valid range for parameter "concord.http_max_response_bytes_limit" ' || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '(0 B .. 1073741819 B)' ELSE '(0 .. 1073741819)' END,
  'no ceiling lets a body grow past what one bytea holds (1 GB less its header)');

SET LOCAL ROLE tap_lim_caller;
SELECT throws_ok($$SET concord.http_timeout_ms_limit = 2147483647$$, '42501',
  'permission denied to set parameter "concord.http_timeout_ms_limit"', 'a caller cannot raise the time ceiling');
SELECT throws_ok($$SET concord.http_max_response_bytes_limit = 1073741819$$, '42501',
  'permission denied to set parameter "concord.http_max_response_bytes_limit"', 'nor the size ceiling');
SELECT throws_ok($$SET concord.http_max_connections_limit = 10000$$, '42501',
  'permission denied to set parameter "concord.http_max_connections_limit"', 'nor the connections ceiling');

------------------------------------------------------------------------------
-- Per-call values past the ceilings (the audit's 2147483647), as the caller
------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 2147483647)', :'u' || '/json'), '22023',
  'max_response_bytes 2147483647 exceeds the ceiling of 536870912 set by concord.http_max_response_bytes_limit',
  'max_response_bytes past its ceiling is refused');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L, max_response_bytes => 2147483647)', :'u' || '/json')) ->> 'hint',
  'Use at most 536870912, or ask a superuser to raise concord.http_max_response_bytes_limit.',
  'the hint names the ceiling and who may raise it');
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 2147483647)', :'u' || '/json'), '22023',
  'timeout_ms 2147483647 exceeds the ceiling of 3600000 set by concord.http_timeout_ms_limit', 'timeout_ms');
SELECT throws_ok(format('SELECT concord.http_get(%L, connect_timeout_ms => 2147483647)', :'u' || '/json'), '22023',
  'connect_timeout_ms 2147483647 exceeds the ceiling of 600000 set by concord.http_connect_timeout_ms_limit',
  'connect_timeout_ms');
SELECT throws_ok(format('SELECT concord.http_post(%L, %L, max_response_bytes => 536870913)', :'u' || '/echo', 'x'), '22023',
  'max_response_bytes 536870913 exceeds the ceiling of 536870912 set by concord.http_max_response_bytes_limit',
  'every wrapper: http_post');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_connections => 2147483647)',
                        :'u' || '/json'), '22023',
  'max_connections 2147483647 exceeds the ceiling of 1000 set by concord.http_max_connections_limit', 'a batch''s max_connections');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_host_connections => 1001)',
                        :'u' || '/json'), '22023',
  'max_host_connections 1001 exceeds the ceiling of 1000 set by concord.http_max_host_connections_limit',
  'a batch''s max_host_connections');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], timeout_ms => 3600001)',
                        :'u' || '/json'), '22023',
  'timeout_ms 3600001 exceeds the ceiling of 3600000 set by concord.http_timeout_ms_limit', 'a batch''s timeout_ms');
SELECT is((concord.http_get(:'u' || '/json', timeout_ms => 3600000, connect_timeout_ms => 600000,
                            max_response_bytes => 536870912, max_redirects => 20)).status, 200,
  'every limit at its ceiling is accepted');
RESET ROLE;

------------------------------------------------------------------------------
-- Ceilings a superuser lowered: calls and sessions stay under them
------------------------------------------------------------------------------

SET LOCAL concord.http_timeout_ms_limit = 5000;
SET LOCAL concord.http_max_response_bytes_limit = 1000;
SET LOCAL concord.http_max_redirects_limit = 1;
SET LOCAL concord.http_max_connections_limit = 4;
SET LOCAL ROLE tap_lim_caller;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'), '22023',
  'setting concord.http_timeout_ms 30000 exceeds the ceiling of 5000 set by concord.http_timeout_ms_limit',
  'a session setting over a lowered ceiling is refused, naming the setting');
SET LOCAL concord.http_timeout_ms = 5000;
SET LOCAL concord.http_max_redirects = 1;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'), '22023',
  'setting concord.http_max_response_bytes 10485760 exceeds the ceiling of 1000 set by concord.http_max_response_bytes_limit',
  'every setting is held to its ceiling');
SET LOCAL concord.http_max_response_bytes = 1000;
SELECT is((concord.http_get(:'u' || '/bytes/1000')).status, 200, 'settings under the ceilings: the call is made');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/bytes/5000'), '54000',
  format('response from %s exceeds the limit of 1000 bytes', :'u' || '/bytes/5000'),
  'a body over the limit is an error, not a short body');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 1001)', :'u' || '/bytes/5000'), '22023',
  'max_response_bytes 1001 exceeds the ceiling of 1000 set by concord.http_max_response_bytes_limit',
  'a per-call value over the lowered ceiling');
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 5001)', :'u' || '/json'), '22023',
  'timeout_ms 5001 exceeds the ceiling of 5000 set by concord.http_timeout_ms_limit', 'timeout_ms');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_redirects => 2)', :'u' || '/redirect/2'), '22023',
  'max_redirects 2 exceeds the ceiling of 1 set by concord.http_max_redirects_limit', 'max_redirects');
SET LOCAL concord.http_timeout_ms = 6000;
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 100)', :'u' || '/json'), '22023',
  'setting concord.http_timeout_ms 6000 exceeds the ceiling of 5000 set by concord.http_timeout_ms_limit',
  'a setting the caller raised past the ceiling is refused at the next call');
SELECT is((concord.http_get(:'u' || '/bytes/10', timeout_ms => 5000)).status, 200, 'unless the call gives its own value');
SET LOCAL concord.http_timeout_ms = 5000;
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)])', :'u' || '/json'), '22023',
  'setting concord.http_max_connections 32 exceeds the ceiling of 4 set by concord.http_max_connections_limit',
  'a batch under the session''s connections setting, over the ceiling: refused');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_connections => 5)', :'u' || '/json'),
  '22023', 'max_connections 5 exceeds the ceiling of 4 set by concord.http_max_connections_limit', 'max_connections over it');
SELECT results_eq(format($$SELECT ord, status, error_code, length(body_bytes) FROM concord.http_batch(ARRAY[
           concord.http_request('GET', %L), concord.http_request('GET', %L)], max_connections => 4) ORDER BY ord$$,
         :'u' || '/bytes/5000', :'u' || '/bytes/700'),
  $$VALUES (1, NULL::integer, '54000', NULL::integer), (2, 200, NULL, 700)$$,
  'in a batch, the body over the limit is its row''s error; the other row is whole');
RESET ROLE;

------------------------------------------------------------------------------
-- A source's request.timeout_ms is a per-call limit too
------------------------------------------------------------------------------

RESET concord.http_max_response_bytes_limit;
RESET concord.http_max_response_bytes;
SET LOCAL ROLE tap_lim_sync;
SELECT throws_ok(format($$SELECT concord.source_create('lim_src', '{"request": {"url": "%s/json", "timeout_ms": 6000},
    "records": "$.customers", "target": {"table": "lim_test.customers", "create": true, "primary_key": "id"},
    "columns": [{"name": "id", "type": "bigint"}]}')$$, :'u'), '22023',
  'source "lim_src": request.timeout_ms 6000 exceeds the ceiling of 5000 set by concord.http_timeout_ms_limit',
  'source_create refuses a request.timeout_ms over the ceiling');
SELECT lives_ok(format($$SELECT concord.source_create('lim_src', '{"request": {"url": "%s/json", "timeout_ms": 5000},
    "records": "$.customers", "target": {"table": "lim_test.customers", "create": true, "primary_key": "id"},
    "columns": [{"name": "id", "type": "bigint"}]}')$$, :'u'),
  'and accepts one at the ceiling');
SELECT is((concord.source_check('lim_src') ->> 'records')::int, 3, 'the source is checked under the ceilings');
RESET ROLE;
SET LOCAL concord.http_timeout_ms_limit = 1000;
SET LOCAL ROLE tap_lim_sync;
SELECT throws_ok($$SELECT concord.source_check('lim_src')$$, '22023',
  'source "lim_src": request.timeout_ms 5000 exceeds the ceiling of 1000 set by concord.http_timeout_ms_limit',
  'a ceiling lowered since: source_check refuses the source''s timeout');
SELECT throws_ok($$CALL concord.sync('lim_src')$$, '22023',
  'source "lim_src": request.timeout_ms 5000 exceeds the ceiling of 1000 set by concord.http_timeout_ms_limit',
  'and so does a run');
SELECT is((SELECT count(*) FROM lim_test.customers), 0::bigint, 'nothing was loaded');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
