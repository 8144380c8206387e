-- The destination allowlist: managing concord.http_allow, the URL check,
-- the connect-time address check and redirect hops.  Everything (rows,
-- roles) is created inside one transaction that is rolled back.
--
-- "could not resolve host" (08006) proves a URL passed the guard: names
-- under the reserved .invalid TLD whose first label starts with "-" are
-- refused by the C library's resolver before any DNS query is sent.  Names
-- under .localhost are resolved by libcurl itself to loopback, so no DNS
-- query is involved either.
BEGIN;
SELECT plan(94);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset

-- SQLSTATE, message, detail and hint of the error a statement raises.
CREATE FUNCTION pg_temp.error_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
                          d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN jsonb_build_object('sqlstate', s, 'message', m,
                            'detail', NULLIF(d, ''), 'hint', NULLIF(h, ''));
END $$;

DELETE FROM concord.http_allow;

------------------------------------------------------------------------------
-- http_allow_host / http_disallow_host
------------------------------------------------------------------------------

SELECT results_eq(
  $$SELECT host_pattern, port, allow_private, note, created_by::text
    FROM concord.http_allow_host('  API.Sales.Invalid ', 8443, note => 'CRM')$$,
  $$VALUES ('api.sales.invalid'::text, 8443, false, 'CRM'::text, current_user::text)$$,
  'http_allow_host trims and lower-cases the pattern and returns the new row');
SELECT id AS first_id FROM concord.http_allow WHERE host_pattern = 'api.sales.invalid' \gset
SELECT results_eq(
  $$SELECT id, allow_private, note FROM concord.http_allow_host('api.sales.invalid', 8443, allow_private => true)$$,
  format('VALUES (%s::bigint, true, %L::text)', :first_id, 'CRM'),
  'allowing again updates the same row; a NULL note keeps the old one');
SELECT is((concord.http_allow_host('api.sales.invalid', 8443)).allow_private, false,
  'allowing again without allow_private turns it off');
SELECT is((SELECT count(*)::int FROM concord.http_allow WHERE host_pattern = 'api.sales.invalid'), 1,
  'one row per pattern and port');
SELECT is((concord.http_allow_host('api.sales.invalid')).port, NULL::int,
  'a NULL port is a row of its own');
SELECT is((SELECT count(*)::int FROM concord.http_allow WHERE host_pattern = 'api.sales.invalid'), 2,
  'pattern with port 8443 and pattern with the default port: two rows');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('api.sales.invalid')$$, '23505',
  'duplicate key value violates unique constraint "http_allow_host_port_key"',
  'two NULL-port rows for one pattern are one too many (NULLS NOT DISTINCT)');
SELECT is(concord.http_disallow_host(' API.SALES.INVALID ', 8443), true,
  'http_disallow_host trims and lower-cases, and reports a removed row');
SELECT is(concord.http_disallow_host('api.sales.invalid', 8443), false,
  'http_disallow_host reports that nothing was removed');
SELECT is((SELECT count(*)::int FROM concord.http_allow WHERE host_pattern = 'api.sales.invalid' AND port IS NULL), 1,
  'disallowing port 8443 left the default-port row alone');
SELECT is(concord.http_disallow_host('api.sales.invalid'), true,
  'http_disallow_host without a port removes the default-port row');
SELECT is((SELECT count(*)::int FROM concord.http_allow), 0, 'the allowlist is empty again');

SELECT is(
  (SELECT 'concord.http_allow'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'concord'),
  true, 'concord.http_allow is configuration kept by pg_dump');

------------------------------------------------------------------------------
-- The pattern CHECK
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http_allow_host('bad host!')$$, '22023',
  'invalid host pattern "bad host!"', 'a space and ! are refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('bad host!')$$) - 'message' - 'sqlstate',
  jsonb_build_object(
    'detail', 'A host name may hold only letters, digits, "-", "_" and ".".',
    'hint', 'Use a host name (api.example.com), a wildcard (*.example.com), an IP address (127.0.0.1) or a CIDR block (10.1.0.0/16).'),
  'the refusal explains what a pattern may hold');
SELECT throws_ok($$SELECT concord.http_allow_host('*.')$$, '22023',
  'invalid host pattern "*."', 'a bare wildcard is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('*.')$$) ->> 'detail',
  'A wildcard must be a leading "*." followed by a domain.', 'bare wildcard: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('a..b')$$, '22023',
  'invalid host pattern "a..b"', 'an empty label is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('a..b')$$) ->> 'detail',
  'A host name label is empty.', 'empty label: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('10.0.0.0/33')$$, '22023',
  'invalid host pattern "10.0.0.0/33"', 'an IPv4 prefix over 32 is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('10.0.0.0/33')$$) ->> 'detail',
  'An IPv4 prefix length is at most 32.', 'IPv4 prefix over 32: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('10.0.0.0/x')$$, '22023',
  'invalid host pattern "10.0.0.0/x"', 'a prefix length that is no number is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('fd00::/129')$$, '22023',
  'invalid host pattern "fd00::/129"', 'an IPv6 prefix over 128 is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('1.2.3')$$, '22023',
  'invalid host pattern "1.2.3"', 'a numeric pattern that is no dotted quad is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('1.2.3')$$) ->> 'detail',
  'It is neither a host name nor an IP address.', 'not a dotted quad: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('fe80::1%eth0')$$, '22023',
  'invalid host pattern "fe80::1%eth0"', 'an address with a zone id is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('  ')$$, '22023',
  'invalid host pattern ""', 'an empty pattern is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('')$$) ->> 'detail',
  'The pattern is empty.', 'empty pattern: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('crm.example.com.')$$, '22023',
  'invalid host pattern "crm.example.com."', 'a trailing dot is refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_allow_host('crm.example.com.')$$) ->> 'detail',
  'A host name must not end with ".".', 'trailing dot: detail');
SELECT throws_ok($$SELECT concord.http_allow_host('*.*.example.com')$$, '22023',
  'invalid host pattern "*.*.example.com"', 'a wildcard only leads');
SELECT throws_ok($$SELECT concord.http_allow_host('crm*.example.com')$$, '22023',
  'invalid host pattern "crm*.example.com"', 'a wildcard inside a label is refused');
SELECT throws_ok(format('SELECT concord.http_allow_host(%L)', repeat('a', 64) || '.example.com'), '22023',
  format('invalid host pattern "%s.example.com"', repeat('a', 64)), 'a 64-character label is refused');
SELECT is(pg_temp.error_of(format('SELECT concord.http_allow_host(%L)', repeat('a', 64) || '.com')) ->> 'detail',
  'A host name label is at most 63 characters.', '64-character label: detail');
SELECT is(pg_temp.error_of(format('SELECT concord.http_allow_host(%L)', repeat('abcdefghi.', 25) || 'abcd')) ->> 'detail',
  'A host name is at most 253 characters.', 'a 254-character name is refused');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('Upper.Example')$$, '22023',
  'invalid host pattern "Upper.Example"', 'the table CHECK refuses upper case inserted directly');
SELECT is(pg_temp.error_of($$INSERT INTO concord.http_allow (host_pattern) VALUES ('Upper.Example')$$) ->> 'detail',
  'Host names are stored in lower case.', 'upper case: detail');
SELECT lives_ok(format($$INSERT INTO concord.http_allow (host_pattern, port) VALUES
    ('crm.example.com', 443), ('*.example.com', 443), ('a_b-c.example', 443), (%L, 443),
    ('10.1.0.0/16', 443), ('10.1.2.3', 443), ('::1', 443), ('fd00::/8', 443), ('0.0.0.0/0', 443)
$$, repeat('a', 63) || '.com'),
  'names, wildcards, a 63-character label, addresses and CIDR blocks are valid patterns');
SELECT throws_ok($$SELECT concord.http_allow_host('example.com', 0)$$, '23514',
  'new row for relation "http_allow" violates check constraint "http_allow_port_check"', 'port 0 is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('example.com', 70000)$$, '23514',
  'new row for relation "http_allow" violates check constraint "http_allow_port_check"', 'port 70000 is refused');
SELECT throws_ok($$SELECT concord.http_allow_host('example.com', -80)$$, '23514',
  'new row for relation "http_allow" violates check constraint "http_allow_port_check"', 'a negative port is refused');
DELETE FROM concord.http_allow;

------------------------------------------------------------------------------
-- The URL check
------------------------------------------------------------------------------

-- An empty allowlist refuses everything, and says how to allow it.
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'),
  '42501', format('destination 127.0.0.1 port %s is not allowed', :'p'),
  'empty allowlist: the stub is not reachable');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', :'u' || '/json')) - 'message' - 'sqlstate',
  jsonb_build_object(
    'detail', format('URL: %s/json. No row of concord.http_allow matches this address and port.', :'u'),
    'hint', format('A superuser can allow it: SELECT concord.http_allow_host(''127.0.0.1'', %s);', :'p')),
  'the refusal names the URL and the call that would allow it');
SELECT throws_ok($$SELECT concord.http_get('https://crm.example.com/customers')$$,
  '42501', 'destination crm.example.com port 443 is not allowed', 'empty allowlist: https default port 443 is named');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('https://crm.example.com/customers')$$) ->> 'detail',
  'URL: https://crm.example.com/customers. No row of concord.http_allow matches this host and port.',
  'a refused name is called a host');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://[::1]:' || :'p' || '/json'),
  '42501', format('destination [::1] port %s is not allowed', :'p'), 'an IPv6 destination is shown in brackets');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://[::1]:' || :'p' || '/json')) ->> 'hint',
  format('A superuser can allow it: SELECT concord.http_allow_host(''::1'', %s);', :'p'),
  'the hint for IPv6 names the bare address');

-- An internationalised host name: the refusal's hint must be a call the
-- allowlist accepts (patterns are ASCII, so the name has to be matched and
-- named in its ASCII, punycode form).
SELECT lives_ok(
  substring(pg_temp.error_of($$SELECT concord.http_get('http://客户.example.com/')$$) ->> 'hint'
            FROM 'A superuser can allow it: (.*)$'),
  'the hint for an internationalised host name is a call that works');

-- Wildcards match subdomains at any depth, never the domain itself
SELECT concord.http_allow_host('*.sales.invalid', 8080) IS NOT NULL AS a1 \gset
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid:8080/')$$, '08006',
  'could not resolve host "-crm.sales.invalid"', '*.sales.invalid admits -crm.sales.invalid');
SELECT throws_ok($$SELECT concord.http_get('http://-eu.crm.sales.invalid:8080/')$$, '08006',
  'could not resolve host "-eu.crm.sales.invalid"', '*.sales.invalid admits a deeper subdomain');
SELECT throws_ok($$SELECT concord.http_get('http://-CRM.Sales.INVALID:8080/')$$, '08006',
  'could not resolve host "-crm.sales.invalid"', 'host names in URLs are compared in lower case');
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid.:8080/')$$, '08006',
  'could not resolve host "-crm.sales.invalid"', 'a trailing dot in the URL host is ignored');
SELECT throws_ok($$SELECT concord.http_get('http://sales.invalid:8080/')$$, '42501',
  'destination sales.invalid port 8080 is not allowed', '*.sales.invalid does not admit sales.invalid');
SELECT throws_ok($$SELECT concord.http_get('http://xsales.invalid:8080/')$$, '42501',
  'destination xsales.invalid port 8080 is not allowed', '*.sales.invalid does not admit xsales.invalid');
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid:8081/')$$, '42501',
  'destination -crm.sales.invalid port 8081 is not allowed', 'a row admits its port only');
SELECT throws_ok($$SELECT concord.http_get('http://-crm.sales.invalid/')$$, '42501',
  'destination -crm.sales.invalid port 80 is not allowed', 'a row with a port does not admit the default port');

-- Port NULL: the scheme's default port only
SELECT concord.http_allow_host('127.0.0.1') IS NOT NULL AS a2 \gset
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/')$$, '08001',
  'could not connect to 127.0.0.1 port 80', 'a NULL-port row admits http on port 80 (nothing listens there)');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1:80/')$$, '08001',
  'could not connect to 127.0.0.1 port 80', 'an explicit :80 is the default port');
SELECT throws_ok($$SELECT concord.http_get('https://127.0.0.1/')$$, '08001',
  'could not connect to 127.0.0.1 port 443', 'a NULL-port row admits https on port 443');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'), '42501',
  format('destination 127.0.0.1 port %s is not allowed', :'p'), 'a NULL-port row does not admit another port');

-- Literal addresses and CIDR blocks
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a3 \gset
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'an allowed address and port is reachable');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'),
  '42501', format('destination 127.0.0.2 port %s is not allowed', :'p'),
  '127.0.0.2 is refused when only 127.0.0.1 is allowed');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json'),
  '42501', format('destination localhost port %s is not allowed', :'p'),
  'an address row does not admit a name that resolves to it');
SELECT concord.http_allow_host('127.0.0.0/8', :'p'::int) IS NOT NULL AS a4 \gset
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'),
  '08001', format('could not connect to 127.0.0.2 port %s', :'p'),
  'a 127.0.0.0/8 row admits 127.0.0.2 (the stub listens on 127.0.0.1 only)');
SELECT is(concord.http_disallow_host('127.0.0.0/8', :'p'::int), true, 'CIDR row removed');
SELECT concord.http_allow_host('::1', :'p'::int) IS NOT NULL AS a5 \gset
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://[::1]:' || :'p' || '/json'),
  '08001', format('could not connect to ::1 port %s', :'p'),
  'an IPv6 row admits [::1] (the stub listens on IPv4 only)');

-- The allowlist is read at every call: a removed row takes effect at once,
-- and connections kept alive under the old rules are not reused.
SELECT (concord.http_get(:'u' || '/echo')).body::jsonb -> 'connection_id' AS conn1 \gset
SELECT is((concord.http_get(:'u' || '/echo')).body::jsonb -> 'connection_id', :'conn1'::jsonb,
  'unchanged allowlist: the kept-alive connection is reused');
SELECT concord.http_allow_host('api.sales.invalid', 443) IS NOT NULL AS a6 \gset
SELECT isnt((concord.http_get(:'u' || '/echo')).body::jsonb -> 'connection_id', :'conn1'::jsonb,
  'a changed allowlist closes the connections kept alive before');
SELECT is(concord.http_disallow_host('127.0.0.1', :'p'::int), true, 'stub row removed');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/json'), '42501',
  format('destination 127.0.0.1 port %s is not allowed', :'p'), 'a removed row refuses the very next call');
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a7 \gset

------------------------------------------------------------------------------
-- The connect-time check: a name row reaches public addresses only
------------------------------------------------------------------------------

SELECT concord.http_allow_host('localhost', :'p'::int) IS NOT NULL AS a8 \gset
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json')) ->> 'sqlstate',
  '42501', 'a host allowed by name may not reach loopback');
SELECT matches(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json')) ->> 'message',
  '^destination "localhost" resolved to loopback address (127\.0\.0\.1|::1), which is not allowed$',
  'the refusal names the host, the class and the address');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json')) - 'message' - 'sqlstate',
  jsonb_build_object(
    'detail', format('URL: http://localhost:%s/json. The connection was refused before it was opened.', :'p'),
    'hint', format('A superuser can allow private addresses for this host: SELECT concord.http_allow_host(''localhost'', %s, allow_private => true);', :'p')),
  'detail and hint of a connect-time refusal');
SELECT is((concord.http_allow_host('localhost', :'p'::int, allow_private => true)).allow_private, true,
  'allow_private set on the localhost row');
SELECT is((concord.http_get('http://localhost:' || :'p' || '/json')).status, 200,
  'allow_private lets a named host reach loopback');

-- *.localhost is resolved by libcurl to loopback, with no DNS involved
SELECT concord.http_allow_host('*.localhost', :'p'::int, allow_private => true) IS NOT NULL AS a9 \gset
SELECT is((SELECT status::text || ' ' || url FROM concord.http_get('http://crm.localhost:' || :'p' || '/json')),
  format('200 http://crm.localhost:%s/json', :'p'), 'a wildcard row admits a subdomain (a real call)');
SELECT concord.http_allow_host('*.localhost', :'p'::int) IS NOT NULL AS a10 \gset
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://crm.localhost:' || :'p' || '/json')) ->> 'sqlstate',
  '42501', 'without allow_private the wildcard subdomain may not reach loopback');
SELECT concord.http_allow_host('billing.localhost', :'p'::int, allow_private => true) IS NOT NULL AS a11 \gset
SELECT is((concord.http_get('http://billing.localhost:' || :'p' || '/json')).status, 200,
  'when several rows match, the one with allow_private wins');
SELECT concord.http_disallow_host('localhost', :'p'::int) AS d1 \gset
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://localhost:' || :'p' || '/json'),
  '42501', format('destination localhost port %s is not allowed', :'p'), '*.localhost does not admit localhost itself');

------------------------------------------------------------------------------
-- Redirect hops are checked again
------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=http://127.0.0.2:' || :'p' || '/json'),
  '42501', format('destination 127.0.0.2 port %s is not allowed', :'p'),
  'a redirect to an address that is not allowed is refused');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=http://127.0.0.2:' || :'p' || '/json')) ->> 'detail',
  format('Redirect from %s/redirect-to?url=http://127.0.0.2:%s/json to http://127.0.0.2:%s/json refused. URL: http://127.0.0.2:%s/json. No row of concord.http_allow matches this address and port.',
         :'u', :'p', :'p', :'p'),
  'the refusal of a hop names both ends');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=ftp://127.0.0.1/x'),
  '22023', 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"', 'a redirect to another scheme is refused');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=file:///etc/passwd'),
  '22023', 'unsupported URL scheme "file" in "file:///etc/passwd"', 'a redirect to a local file is refused');
SELECT concord.http_allow_host('localhost', :'p'::int) IS NOT NULL AS a12 \gset
SELECT matches(pg_temp.error_of(format('SELECT concord.http_get(%L)', :'u' || '/redirect-to?url=http://localhost:' || :'p' || '/json')) ->> 'message',
  '^destination "localhost" resolved to loopback address (127\.0\.0\.1|::1), which is not allowed$',
  'a redirect hop gets the connect-time check too');
SELECT is((concord.http_get(:'u' || '/redirect-to?url=http://billing.localhost:' || :'p' || '/json')).url,
  format('http://billing.localhost:%s/json', :'p'), 'a redirect to an allowed destination is followed');

-- Credentials do not follow a redirect to another origin
SELECT concord.http_allow_host('localhost', :'p'::int, allow_private => true) IS NOT NULL AS a13 \gset
SELECT is((SELECT (body::jsonb -> 'headers') - 'host' - 'user-agent' - 'accept' - 'accept-encoding'
           FROM concord.http_get(:'u' || '/redirect-to?url=http://localhost:' || :'p' || '/echo',
                                 headers => '{"Authorization": "Bearer s3cret", "Cookie": "sid=1", "Proxy-Authorization": "Basic x", "X-Department": "sales"}')),
  '{"x-department": "sales"}'::jsonb, 'Authorization, Proxy-Authorization and Cookie are dropped on a cross-origin redirect');
SELECT is((SELECT (body::jsonb -> 'headers') - 'host' - 'user-agent' - 'accept' - 'accept-encoding'
           FROM concord.http_get(:'u' || '/redirect-to?url=/echo',
                                 headers => '{"Authorization": "Bearer s3cret", "Cookie": "sid=1", "X-Department": "sales"}')),
  '{"authorization": "Bearer s3cret", "cookie": "sid=1", "x-department": "sales"}'::jsonb,
  'they are kept on a same-origin redirect');

------------------------------------------------------------------------------
-- Ordinary roles can neither read nor change the allowlist
------------------------------------------------------------------------------

CREATE ROLE tap_allow_probe;
GRANT concord_http TO tap_allow_probe;
SET ROLE tap_allow_probe;
SELECT throws_ok($$SELECT * FROM concord.http_allow$$, '42501',
  'permission denied for table http_allow', 'a granted role cannot read the allowlist');
SELECT throws_ok($$INSERT INTO concord.http_allow (host_pattern) VALUES ('evil.example')$$, '42501',
  'permission denied for table http_allow', 'nor insert into it');
SELECT throws_ok($$UPDATE concord.http_allow SET allow_private = true$$, '42501',
  'permission denied for table http_allow', 'nor update it');
SELECT throws_ok($$DELETE FROM concord.http_allow$$, '42501',
  'permission denied for table http_allow', 'nor delete from it');
SELECT throws_ok($$SELECT concord.http_allow_host('evil.example')$$, '42501',
  'permission denied for function http_allow_host', 'nor call http_allow_host');
SELECT throws_ok($$SELECT concord.http_disallow_host('localhost')$$, '42501',
  'permission denied for function http_disallow_host', 'nor call http_disallow_host');
SELECT is((concord.http_get(:'u' || '/json')).status, 200,
  'the guard reads the allowlist for a role that may not read it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
