-- The destination guard: allowlist rows, URL check, connect-time address
-- check, redirects, address classes.  Everything runs in one transaction
-- that is rolled back.
BEGIN;
SELECT plan(32);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset

-- An empty allowlist refuses everything, and the hint names the fix.
DELETE FROM concord.http_allow;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'),
  '42501', format('destination 127.0.0.1 port %s is not allowed', :'p'),
  'empty allowlist: nothing is reachable');
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN h;
END $$;
SELECT is(pg_temp.hint_of(format('SELECT concord.http_get(%L)', :'u' || '/json')),
  format('A superuser can allow it: SELECT concord.http_allow_host(''127.0.0.1'', %s);', :'p'),
  'refusal hint names the call that allows the host');

-- http_allow_host: validation, lower-casing, upsert
SELECT is((concord.http_allow_host('  API.Sales.Invalid ', 8443)).host_pattern, 'api.sales.invalid',
  'host patterns are trimmed and lower-cased');
SELECT is((concord.http_allow_host('api.sales.invalid', 8443, allow_private => true, note => 'crm')).allow_private, true,
  'allowing again updates the row');
SELECT is((SELECT count(*)::int FROM concord.http_allow WHERE host_pattern = 'api.sales.invalid'), 1,
  'upsert keeps one row per pattern and port');
SELECT throws_ok($$SELECT concord.http_allow_host('bad host!')$$, '22023',
  'invalid host pattern "bad host!"', 'a pattern with a space and ! is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('*.')$$, '22023',
  'invalid host pattern "*."', 'a bare wildcard is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('a..b')$$, '22023',
  'invalid host pattern "a..b"', 'an empty label is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('10.0.0.0/33')$$, '22023',
  'invalid host pattern "10.0.0.0/33"', 'an IPv4 prefix over 32 is refused');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('Upper.Example')$$, '22023',
  'invalid host pattern "Upper.Example"', 'the table CHECK refuses upper case');
SELECT throws_ok($$SELECT concord.http_allow_host('example.com', 70000)$$, '23514', NULL,
  'ports above 65535 are refused');
SELECT throws_ok($$SELECT concord.http_allow_host('example.com', 0)$$, '23514', NULL,
  'port 0 is refused');
SELECT ok(concord.http_disallow_host('api.sales.invalid', 8443), 'disallow reports a removed row');
SELECT ok(NOT concord.http_disallow_host('api.sales.invalid', 8443), 'disallow reports nothing removed');

-- An allowed name passes the URL check; its lookup then fails inside the
-- C library (a label starting with "-" is never sent to a DNS server).
SELECT concord.http_allow_host('*.sales.invalid', 8080);
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid:8080/')$$, '08006',
  'could not resolve host "-crm.sales.invalid"', 'wildcard admits a subdomain');
SELECT throws_ok($$SELECT concord.http_get('http://sales.invalid:8080/')$$, '42501',
  'destination sales.invalid port 8080 is not allowed', 'wildcard does not admit the apex');
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid:8081/')$$, '42501',
  'destination -crm.sales.invalid port 8081 is not allowed', 'another port is refused');

-- Port NULL means the scheme's default port only
SELECT concord.http_allow_host('127.0.0.1');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1:1/')$$, '42501',
  'destination 127.0.0.1 port 1 is not allowed', 'a NULL-port row does not admit other ports');

-- Literal addresses and CIDR blocks
SELECT concord.http_allow_host('127.0.0.1', :'p'::int);
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'an allowed literal address is reachable');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'),
  '42501', format('destination 127.0.0.2 port %s is not allowed', :'p'),
  '127.0.0.2 is refused before connecting when only 127.0.0.1 is allowed');
SELECT concord.http_allow_host('127.0.0.0/8', :'p'::int);
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'),
  '08001', format('could not connect to 127.0.0.2 port %s', :'p'),
  'a CIDR row admits 127.0.0.2 (the stub listens on 127.0.0.1 only, so the connection is refused)');
SELECT concord.http_disallow_host('127.0.0.0/8', :'p'::int);

-- Redirect hops are checked again
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=http://127.0.0.2:' || :'p' || '/json'),
  '42501', format('destination 127.0.0.2 port %s is not allowed', :'p'),
  'a redirect to a disallowed address is refused');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=ftp://127.0.0.1/x'),
  '22023', 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"',
  'a redirect to another scheme is refused');

-- The connect-time check sees the address DNS returned (rebinding defence)
SELECT concord.http_allow_host('localhost', :'p'::int);
SELECT throws_like(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json'),
  'destination "localhost" resolved to loopback address %, which is not allowed',
  'a host allowed by name may not reach loopback');
SELECT concord.http_allow_host('localhost', :'p'::int, allow_private => true);
SELECT is((concord.http_get('http://localhost:' || :'p' || '/json')).status, 200,
  'allow_private lets a named host reach loopback');

-- Credentials do not follow a redirect to another origin
SELECT is((SELECT (body::jsonb -> 'headers') ? 'authorization'
           FROM concord.http_get(:'u' || '/redirect-to?url=http://localhost:' || :'p' || '/echo',
                                 headers => '{"Authorization": "Bearer s3cret"}')),
  false, 'Authorization is dropped on a cross-origin redirect');
SELECT is((SELECT body::jsonb -> 'headers' ->> 'authorization'
           FROM concord.http_get(:'u' || '/redirect-to?url=/echo',
                                 headers => '{"Authorization": "Bearer s3cret"}')),
  'Bearer s3cret', 'Authorization is kept on a same-origin redirect');

-- Redaction in messages
SELECT throws_ok($$SELECT concord.http_get('http://user:pw@10.9.9.9:8080/x?access_token=SECRET&page=2')$$,
  '42501', 'destination 10.9.9.9 port 8080 is not allowed', 'refused URL with credentials');
CREATE FUNCTION pg_temp.detail_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN d;
END $$;
SELECT is(pg_temp.detail_of($$SELECT concord.http_get('http://user:pw@10.9.9.9:8080/x?access_token=SECRET&page=2')$$),
  'URL: http://***@10.9.9.9:8080/x?access_token=***&page=2. No row of concord.http_allow matches this address and port.',
  'error details show the URL redacted');
SELECT is(concord.http_redact_url('https://api.example.com/v1?apiKey=1&q=x&client_secret=2&sig=3#frag'),
  'https://api.example.com/v1?apiKey=***&q=x&client_secret=***&sig=***',
  'secret-looking parameters and fragments are hidden');
SELECT is(concord.http_redact_url('not a url ?password=p'), 'not a url ?password=***',
  'even malformed URLs are redacted');
SELECT is(concord.http_redact_url(NULL), NULL, 'http_redact_url is strict');

SELECT * FROM finish();
ROLLBACK;
