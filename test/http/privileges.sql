-- Least privilege: network functions, allowlist, settings and the call log
-- as seen by ordinary roles.
BEGIN;
SELECT plan(21);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

CREATE ROLE tap_sales_rep;     -- 销售
CREATE ROLE tap_service_agent; -- 客服
CREATE ROLE tap_outsider;

-- Without the grant, every network function is refused
SET ROLE tap_outsider;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'), '42501',
  'permission denied for function http_get', 'http_get needs a grant');
SELECT throws_ok(format('SELECT concord.http(''GET'', %L)', :'u' || '/json'), '42501',
  'permission denied for function http', 'http needs a grant');
SELECT throws_ok(format('SELECT concord.http_post(%L, ''x'')', :'u' || '/echo'), '42501',
  'permission denied for function http_post', 'http_post needs a grant');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)])', :'u' || '/json'), '42501',
  'permission denied for function http_batch', 'http_batch needs a grant');
SELECT throws_ok($$SELECT * FROM concord.http_call_log$$, '42501',
  'permission denied for table http_call_log', 'the call log is not for PUBLIC');
SELECT is(concord.http_address_class('10.0.0.1'), 'private', 'pure helpers stay usable');
RESET ROLE;

SELECT is(
  (SELECT count(*)::int FROM pg_proc p
   WHERE p.pronamespace = 'concord'::regnamespace
     AND p.proname IN ('http', 'http_get', 'http_head', 'http_delete', 'http_post', 'http_put',
                       'http_patch', 'http_batch', 'http_allow_host', 'http_disallow_host')
     AND has_function_privilege('public', p.oid, 'EXECUTE')),
  0, 'no network or allowlist function is executable by PUBLIC');

-- The one GRANT
GRANT concord_http TO tap_sales_rep, tap_service_agent;
SET ROLE tap_sales_rep;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'a granted role can call');
SELECT throws_ok($$SELECT concord.http_allow_host('evil.example')$$, '42501',
  'permission denied for function http_allow_host', 'a granted role cannot change the allowlist');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('evil.example')$$, '42501',
  'permission denied for table http_allow', 'nor write the table');
SELECT throws_ok($$SELECT * FROM concord.http_allow$$, '42501',
  'permission denied for table http_allow', 'nor read it');
SELECT throws_ok($$SET concord.http_ca_file = '/etc/ssl/certs/ca-certificates.crt'$$, '42501',
  'permission denied to set parameter "concord.http_ca_file"', 'nor change the CA');
SELECT throws_ok($$SET concord.http_log = off$$, '42501',
  'permission denied to set parameter "concord.http_log"', 'nor switch the call log');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'), '42501',
  format('destination 127.0.0.2 port %s is not allowed', :'p'), 'the guard applies to granted roles');
RESET ROLE;

-- The call log: each role reads its own rows; URLs are redacted
SET LOCAL concord.http_log = on;
DELETE FROM concord.http_call_log;
SET ROLE tap_sales_rep;
SELECT is((concord.http_get(:'u' || '/json', '{"access_token": "s3cr3t", "page": 1}')).status, 200, 'logged call');
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/status/404'),
             concord.http_request('GET', 'http://127.0.0.2:' || :'p' || '/')])), 2, 'logged batch');
SELECT results_eq($$SELECT role_name::text COLLATE "default", method, url, status, error_code FROM concord.http_call_log ORDER BY id$$,
  format($$VALUES ('tap_sales_rep', 'GET', %L, 200, NULL::text),
                  ('tap_sales_rep', 'GET', %L, 404, NULL),
                  ('tap_sales_rep', 'GET', %L, NULL::int, '42501')$$,
         :'u' || '/json?page=1&access_token=***', :'u' || '/status/404', 'http://127.0.0.2:' || :'p' || '/'),
  'the call log holds the redacted URL, status and error of each call');
SELECT throws_ok($$DELETE FROM concord.http_call_log$$, '42501',
  'permission denied for table http_call_log', 'a role cannot erase its calls');
RESET ROLE;
SET ROLE tap_service_agent;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'another role calls');
SELECT results_eq($$SELECT role_name::text COLLATE "default" FROM concord.http_call_log$$,
  $$VALUES ('tap_service_agent')$$, 'each role sees only its own calls');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM concord.http_call_log), 4, 'a superuser sees every call');

SELECT * FROM finish();
ROLLBACK;
