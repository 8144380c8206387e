-- http: a header whose value came from a secret is sent only to the origin
-- (scheme, host, port) of the original request.  A redirect to another
-- origin drops it -- whatever its name, X-Api-Key included -- and for good
-- (a later hop back does not get it either); a same-origin redirect keeps
-- it; a literal header of the same name follows, as any header does.  Two
-- origins on the stub: 127.0.0.1 and localhost (same port), and the HTTPS
-- stub (another scheme and port).  In a transaction rolled back.
BEGIN;
SELECT plan(7);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p,
       current_setting('concord_test.stub_tls_url') AS tu,
       current_setting('concord_test.stub_tls_port') AS tp,
       current_setting('concord_test.ca_file') AS ca \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a1,
       concord.http_allow_host('localhost', :'p'::int, allow_private => true) IS NOT NULL AS a2,
       concord.http_allow_host('127.0.0.1', :'tp'::int) IS NOT NULL AS a3 \gset
SET LOCAL concord.http_ca_file = :'ca';
SELECT concord.secret_set('tap_redirect_key', 'redirect-key-4242') AS s \gset
CREATE ROLE tap_redirect_user IN ROLE concord_http;
SELECT concord.secret_grant('tap_redirect_key', 'tap_redirect_user') AS g \gset
SET LOCAL ROLE tap_redirect_user;

-- the headers /echo got at the end of a redirect chain from :u
CREATE FUNCTION pg_temp.echoed(location text, headers jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT (body::jsonb -> 'headers') - 'host' - 'user-agent' - 'accept' - 'accept-encoding'
    FROM concord.http_get(current_setting('concord_test.stub_url') || '/redirect-to?url=' || location, headers => headers)
$$;

SELECT is(pg_temp.echoed('/echo', '{"X-Api-Key": {"secret": "tap_redirect_key"}, "X-Department": "sales"}'),
  '{"x-api-key": "redirect-key-4242", "x-department": "sales"}',
  'a same-origin redirect keeps a header from a secret');
SELECT is(pg_temp.echoed(format('http://localhost:%s/echo', :'p'),
                         '{"X-Api-Key": {"secret": "tap_redirect_key"}, "X-Department": "sales"}'),
  '{"x-department": "sales"}',
  'a redirect to another host drops X-Api-Key, whose value came from a secret');
SELECT is(pg_temp.echoed(format('http://localhost:%s/echo', :'p'),
                         '{"X-Api-Key": "typed-by-hand", "X-Department": "sales"}'),
  '{"x-api-key": "typed-by-hand", "x-department": "sales"}',
  'a literal X-Api-Key follows, as any header the caller wrote');
SELECT is(pg_temp.echoed(format('http://localhost:%s/echo', :'p'),
                         '{"Authorization": "Bearer typed", "X-Token": {"secret": "tap_redirect_key"}}'),
  '{}', 'Authorization is dropped as before, and any header from a secret, whatever its name');
SELECT is(pg_temp.echoed(replace(format('%s/echo', :'tu'), ':', '%3A'),
                         '{"X-Api-Key": {"secret": "tap_redirect_key"}, "X-Department": "sales"}'),
  '{"x-department": "sales"}',
  'another scheme and port is another origin: dropped');
-- 127.0.0.1 -> localhost -> 127.0.0.1
SELECT is(pg_temp.echoed(format('http://localhost:%s/redirect-to?url=%s', :'p',
                                replace(replace(:'u' || '/echo', ':', '%253A'), '/', '%252F')),
                         '{"X-Api-Key": {"secret": "tap_redirect_key"}, "X-Department": "sales"}'),
  '{"x-department": "sales"}',
  'once dropped it stays dropped, even when a later hop returns to the first origin');
SELECT is((concord.http_get(:'u' || '/echo', headers => '{"X-Api-Key": {"secret": "tap_redirect_key"}}')).body::jsonb
            #>> '{headers,x-api-key}',
  'redirect-key-4242', 'without a redirect the header is sent');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
