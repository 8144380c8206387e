-- Least privilege: network functions, the allowlist, settings and the call
-- log as seen by ordinary roles.  The roles are created inside the
-- transaction, which is rolled back.
BEGIN;
SELECT plan(46);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p,
       current_setting('concord_test.ca_file') AS ca_file \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

CREATE ROLE tap_sales_rep;     -- 销售
CREATE ROLE tap_service_agent; -- 客服
CREATE ROLE tap_outsider;

------------------------------------------------------------------------------
-- Without the grant, every network function is refused
------------------------------------------------------------------------------

SET ROLE tap_outsider;
SELECT throws_ok(q, '42501', format('permission denied for function %s', f), format('%s needs concord_http', f))
FROM (VALUES
  ('http', format('SELECT concord.http(''GET'', %L)', :'u' || '/json')),
  ('http', format('SELECT concord.http(concord.http_request(''GET'', %L))', :'u' || '/json')),
  ('http_get', format('SELECT concord.http_get(%L)', :'u' || '/json')),
  ('http_head', format('SELECT concord.http_head(%L)', :'u' || '/json')),
  ('http_delete', format('SELECT concord.http_delete(%L)', :'u' || '/echo')),
  ('http_post', format('SELECT concord.http_post(%L, ''x'')', :'u' || '/echo')),
  ('http_post', format('SELECT concord.http_post(%L, ''{}''::jsonb)', :'u' || '/echo')),
  ('http_put', format('SELECT concord.http_put(%L, ''x'')', :'u' || '/echo')),
  ('http_put', format('SELECT concord.http_put(%L, ''{}''::jsonb)', :'u' || '/echo')),
  ('http_patch', format('SELECT concord.http_patch(%L, ''x'')', :'u' || '/echo')),
  ('http_patch', format('SELECT concord.http_patch(%L, ''{}''::jsonb)', :'u' || '/echo')),
  ('http_batch', format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)])', :'u' || '/json')),
  ('http_allow_host', $$SELECT concord.http_allow_host('evil.example')$$),
  ('http_disallow_host', $$SELECT concord.http_disallow_host('127.0.0.1')$$)
) AS t(f, q);
SELECT throws_ok($$SELECT * FROM concord.http_call_log$$, '42501',
  'permission denied for table http_call_log', 'the call log is not for PUBLIC');
SELECT throws_ok($$SELECT * FROM concord.http_allow$$, '42501',
  'permission denied for table http_allow', 'nor is the allowlist');
SELECT results_eq(
  $$SELECT concord.http_address_class('10.0.0.1'), concord.http_redact_url('http://h/?token=t'),
           (concord.http_request('GET', 'http://h/')).method, concord.http_host_pattern_valid('crm.example.com')$$,
  $$VALUES ('private', 'http://h/?token=***', 'GET', true)$$,
  'the pure helpers stay usable by anyone');
RESET ROLE;

SELECT is(
  (SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
   WHERE p.pronamespace = 'concord'::regnamespace
     AND p.proname IN ('http', 'http_get', 'http_head', 'http_delete', 'http_post', 'http_put',
                       'http_patch', 'http_batch', 'http_allow_host', 'http_disallow_host')
     AND has_function_privilege('public', p.oid, 'EXECUTE')),
  NULL, 'no network or allowlist function is executable by PUBLIC');
SELECT is(
  (SELECT count(*)::int FROM pg_proc p
   WHERE p.pronamespace = 'concord'::regnamespace
     AND p.proname IN ('http', 'http_get', 'http_head', 'http_delete', 'http_post', 'http_put',
                       'http_patch', 'http_batch')
     AND has_function_privilege('concord_http', p.oid, 'EXECUTE')),
  12, 'concord_http may execute all 12 network functions');

------------------------------------------------------------------------------
-- The one GRANT
------------------------------------------------------------------------------

GRANT concord_http TO tap_sales_rep, tap_service_agent;
SET ROLE tap_sales_rep;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'a granted role can call');
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/json')]) WHERE status = 200), 1,
  'and run a batch');
SELECT throws_ok($$SELECT concord.http_allow_host('evil.example')$$, '42501',
  'permission denied for function http_allow_host', 'a granted role cannot change the allowlist');
SELECT throws_ok($$SELECT concord.http_disallow_host('127.0.0.1')$$, '42501',
  'permission denied for function http_disallow_host', 'nor remove rows from it');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('evil.example')$$, '42501',
  'permission denied for table http_allow', 'nor write the table');
SELECT throws_ok($$SELECT * FROM concord.http_allow$$, '42501',
  'permission denied for table http_allow', 'nor read it');
SELECT throws_ok(format('SET concord.http_ca_file = %L', :'ca_file'), '42501',
  'permission denied to set parameter "concord.http_ca_file"', 'nor change the CA');
SELECT throws_ok(format('SET LOCAL concord.http_ca_file = %L', :'ca_file'), '42501',
  'permission denied to set parameter "concord.http_ca_file"', 'not even for the transaction');
SELECT throws_ok($$SET concord.http_log = off$$, '42501',
  'permission denied to set parameter "concord.http_log"', 'nor switch the call log');
SELECT lives_ok($$SET LOCAL concord.http_timeout_ms = 5000$$, 'but may set its own limits');
SELECT is(current_setting('concord.http_timeout_ms'), '5s', 'the limit is set');
RESET concord.http_timeout_ms;
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'), '42501',
  format('destination 127.0.0.2 port %s is not allowed', :'p'), 'the guard applies to granted roles');
RESET ROLE;

------------------------------------------------------------------------------
-- The call log: each role reads its own rows; URLs are redacted
------------------------------------------------------------------------------

SELECT octet_length(body) AS json_len FROM concord.http_get(:'u' || '/json') \gset
SET LOCAL concord.http_log = on;
DELETE FROM concord.http_call_log;
SET ROLE tap_sales_rep;
SELECT is((concord.http_get(:'u' || '/json', '{"access_token": "s3cr3t", "page": 1}')).status, 200, 'logged call');
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/status/404'),
             concord.http_request('GET', 'http://127.0.0.2:' || :'p' || '/?api_key=k'),
             concord.http_request('BREW', 'http://sync:pw@127.0.0.1:' || :'p' || '/')])), 3, 'logged batch');
SELECT results_eq($$SELECT role_name::text COLLATE "default", method, url, status, error_code, error FROM concord.http_call_log ORDER BY id$$,
  format($$VALUES ('tap_sales_rep', 'GET', %L, 200, NULL::text, NULL::text),
                  ('tap_sales_rep', 'GET', %L, 404, NULL, NULL),
                  ('tap_sales_rep', 'GET', %L, NULL::int, '42501', %L),
                  ('tap_sales_rep', 'BREW', %L, NULL::int, '22023', 'unknown HTTP method "BREW"')$$,
         :'u' || '/json?page=1&access_token=***', :'u' || '/status/404',
         'http://127.0.0.2:' || :'p' || '/?api_key=***', format('destination 127.0.0.2 port %s is not allowed', :'p'),
         'http://***@127.0.0.1:' || :'p' || '/'),
  'the call log holds the redacted URL, method, status and error of each call');
SELECT results_eq($$SELECT response_bytes, elapsed_ms > 0 FROM concord.http_call_log WHERE status IS NOT NULL ORDER BY id$$,
  format($$VALUES (%s::bigint, true), (15::bigint, true)$$, :json_len),
  'response sizes and times are logged');
SELECT throws_ok($$INSERT INTO concord.http_call_log (role_name, method, url) VALUES ('tap_service_agent', 'GET', 'http://forged/')$$,
  '42501', 'permission denied for table http_call_log', 'a role cannot forge log rows');
SELECT throws_ok($$UPDATE concord.http_call_log SET url = 'http://elsewhere/'$$, '42501',
  'permission denied for table http_call_log', 'nor alter them');
SELECT throws_ok($$DELETE FROM concord.http_call_log$$, '42501',
  'permission denied for table http_call_log', 'nor erase them');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/'), '42501',
  format('destination 127.0.0.2 port %s is not allowed', :'p'), 'a refused single call raises');
SELECT is((SELECT count(*)::int FROM concord.http_call_log), 4,
  'its log row went with the aborted statement (a documented gap: use http_batch to record every attempt)');
RESET ROLE;
SET ROLE tap_service_agent;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'another role calls');
SELECT results_eq($$SELECT role_name::text COLLATE "default", url FROM concord.http_call_log$$,
  format($$VALUES ('tap_service_agent', %L)$$, :'u' || '/json'), 'each role sees only its own calls');
RESET ROLE;
SET ROLE tap_outsider;
SELECT throws_ok($$SELECT count(*) FROM concord.http_call_log$$, '42501',
  'permission denied for table http_call_log', 'a role without the grant reads no log at all');
RESET ROLE;
SELECT results_eq($$SELECT role_name::text COLLATE "default", count(*)::int FROM concord.http_call_log GROUP BY 1 ORDER BY 1$$,
  $$VALUES ('tap_sales_rep', 4), ('tap_service_agent', 1)$$, 'a superuser sees every call');
SET LOCAL concord.http_log = off;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'a call with the log off');
SELECT is((SELECT count(*)::int FROM concord.http_call_log), 5, 'is not logged');

SELECT * FROM finish();
ROLLBACK;
