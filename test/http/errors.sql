-- Bad input and failures: each gets a specific error (SQLSTATE and
-- message), and no error ever shows a secret from the URL.
BEGIN;
SELECT plan(151);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_tls_url') AS tu,
       current_setting('concord_test.stub_port') AS p,
       current_setting('concord_test.stub_tls_port') AS tp,
       current_setting('concord_test.ca_file') AS ca_file \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a1,
       concord.http_allow_host('127.0.0.1', :'tp'::int) IS NOT NULL AS a2 \gset
-- The calls are made by a role holding concord_http alone (docs/http.md);
-- the allowlist and the CA bundle are a superuser's, set with RESET ROLE.
CREATE ROLE tap_http_errors IN ROLE concord_http;
SET LOCAL ROLE tap_http_errors;

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

-- The first column of q's first row as text, or the error it raises as
-- "ERROR <SQLSTATE>: <message>" (so a failing call fails one assertion).
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  EXECUTE q INTO t;
  RETURN t;
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;

-- Does the error of q show secret anywhere (message, detail or hint)?
-- NULL when q raises no error.
CREATE FUNCTION pg_temp.shows(q text, secret text) RETURNS boolean LANGUAGE sql AS $$
  SELECT concat_ws(' | ', e ->> 'message', e ->> 'detail', e ->> 'hint') LIKE '%' || secret || '%'
  FROM (SELECT pg_temp.error_of(q) AS e) s
  WHERE e IS NOT NULL
$$;

------------------------------------------------------------------------------
-- NULL arguments
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http(NULL, 'http://127.0.0.1/')$$, '22004', 'HTTP method must not be null', 'NULL method');
SELECT throws_ok($$SELECT concord.http('GET', NULL)$$, '22004', 'request URL must not be null', 'NULL URL');
SELECT throws_ok($$SELECT concord.http_get(NULL)$$, '22004', 'request URL must not be null', 'http_get(NULL)');
SELECT throws_ok($$SELECT concord.http_post(NULL, 'x')$$, '22004', 'request URL must not be null', 'http_post to NULL');
SELECT throws_ok($$SELECT concord.http(NULL::concord.http_request)$$, '22004', 'HTTP method must not be null',
  'http(NULL request)');

------------------------------------------------------------------------------
-- Methods
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http('BREW', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "BREW"', 'unknown method');
SELECT is(pg_temp.error_of($$SELECT concord.http('BREW', 'http://127.0.0.1/')$$) ->> 'hint',
  'Use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.', 'the hint lists the methods');
SELECT throws_ok($$SELECT concord.http('brew', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "brew"', 'the method is quoted as given');
SELECT throws_ok($$SELECT concord.http('', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method ""', 'empty method');
SELECT throws_ok($$SELECT concord.http('TRACE', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "TRACE"', 'TRACE is not offered');
SELECT throws_ok($$SELECT concord.http('CONNECT', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "CONNECT"', 'CONNECT is not offered');
SELECT throws_ok($$SELECT concord.http('GET /x HTTP/1.1', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "GET /x HTTP/1.1"', 'no request line smuggling through the method');

------------------------------------------------------------------------------
-- URLs
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http_get('not a url')$$, '22023', 'malformed URL "not a url"', 'no scheme');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('not a url')$$) ->> 'hint',
  'Give an absolute URL such as https://api.example.com/v1/customers.', 'the hint shows an absolute URL');
SELECT throws_ok($$SELECT concord.http_get('http://')$$, '22023', 'malformed URL "http://"', 'no host');
SELECT throws_ok($$SELECT concord.http_get('http://exa mple.com/')$$, '22023', 'malformed URL "http://exa mple.com/"', 'space in the host');
SELECT throws_ok($$SELECT concord.http_get('')$$, '22023', 'malformed URL ""', 'empty URL');
SELECT throws_ok($$SELECT concord.http_get('/customers/1')$$, '22023', 'malformed URL "/customers/1"', 'relative URL');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1:99999/')$$, '22023', 'malformed URL "http://127.0.0.1:99999/"', 'port out of range');
SELECT throws_ok($$SELECT concord.http_get('http://[::1/')$$, '22023', 'malformed URL "http://[::1/"', 'unclosed IPv6 bracket');
SELECT throws_ok($$SELECT concord.http_get('ftp://127.0.0.1/x')$$, '22023', 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"', 'ftp refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('ftp://127.0.0.1/x')$$) ->> 'hint',
  'Only http and https URLs are allowed.', 'the hint names the schemes allowed');
SELECT throws_ok($$SELECT concord.http_get('file:///etc/passwd')$$, '22023', 'unsupported URL scheme "file" in "file:///etc/passwd"', 'file refused');
SELECT throws_ok($$SELECT concord.http_get('gopher://127.0.0.1/')$$, '22023', 'unsupported URL scheme "gopher" in "gopher://127.0.0.1/"', 'gopher refused');
SELECT throws_ok($$SELECT concord.http_get('dict://127.0.0.1:11211/stats')$$, '22023', 'unsupported URL scheme "dict" in "dict://127.0.0.1:11211/stats"', 'dict refused');
SELECT throws_ok($$SELECT concord.http_get('ldap://127.0.0.1/')$$, '22023', 'unsupported URL scheme "ldap" in "ldap://127.0.0.1/"', 'ldap refused');
SELECT throws_ok($$SELECT concord.http_get('ftp://sync:pw@127.0.0.1/x?token=t1&page=2')$$, '22023',
  'unsupported URL scheme "ftp" in "ftp://***@127.0.0.1/x?token=***&page=2"', 'the refused URL is shown redacted');
SELECT is((concord.http_get('HTTP://127.0.0.1:' || :'p' || '/json')).status, 200, 'the scheme is case-insensitive');

------------------------------------------------------------------------------
-- Request headers
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '[1]')$$, '22023', 'request headers must be a JSON object of strings', 'headers as an array');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '"x"')$$, '22023', 'request headers must be a JSON object of strings', 'headers as a string');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => 'null')$$, '22023', 'request headers must be a JSON object of strings', 'headers as JSON null');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://127.0.0.1/', headers => '[1]')$$) ->> 'hint',
  'Write them as {"Accept": "application/json"}.', 'the hint shows a headers object');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-Page": 2}')$$, '22023', 'request header "X-Page" must be a string', 'a number value');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-Page": 2}')$$) ->> 'hint',
  'Quote the value, as in {"X-Page": "2"}.', 'the hint says to quote the value');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-Flag": true}')$$, '22023', 'request header "X-Flag" must be a string', 'a boolean value');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-None": null}')$$, '22023', 'request header "X-None" must be a string', 'a null value');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-List": ["a", "b"]}')$$, '22023', 'request header "X-List" must be a string', 'an array value');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-Obj": {"a": "b"}}')$$, '22023', 'request header "X-Obj" must be a string or {"secret": "name"}', 'an object value that is no secret reference');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-A": "1\r\nX-B: 2"}')$$, '22023', 'request header "X-A" contains a line break', 'CRLF injection refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-A": "1\nX-B: 2"}')$$, '22023', 'request header "X-A" contains a line break', 'LF injection refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-A": "1\rX-B: 2"}')$$, '22023', 'request header "X-A" contains a line break', 'CR injection refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Host": "evil"}')$$, '22023', 'request header "Host" cannot be set', 'Host refused');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Host": "evil"}')$$) ->> 'detail',
  'concord sets Host, Content-Length, Transfer-Encoding and Connection itself.', 'the detail says why');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"host": "evil"}')$$, '22023', 'request header "host" cannot be set', 'host in lower case refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Content-Length": "5"}')$$, '22023', 'request header "Content-Length" cannot be set', 'Content-Length refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"TRANSFER-ENCODING": "chunked"}')$$, '22023', 'request header "TRANSFER-ENCODING" cannot be set', 'Transfer-Encoding refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Connection": "close"}')$$, '22023', 'request header "Connection" cannot be set', 'Connection refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Bad Name": "x"}')$$, '22023', 'invalid request header name "Bad Name"', 'a space in a header name');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Bad Name": "x"}')$$) ->> 'detail',
  'Header names may hold only letters, digits and !#$%&''*+-.^_`|~.', 'the detail lists the characters allowed');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-A:B": "x"}')$$, '22023', 'invalid request header name "X-A:B"', 'a colon in a header name');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-部门": "x"}')$$, '22023', 'invalid request header name "X-部门"', 'non-ASCII in a header name');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"": "x"}')$$, '22023', 'request header name is empty', 'an empty header name');

------------------------------------------------------------------------------
-- Query parameters and bodies
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '[1, 2]')$$, '22023', 'query parameters must be a JSON object', 'params as an array');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '"page=2"')$$, '22023', 'query parameters must be a JSON object', 'params as a string');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '2')$$, '22023', 'query parameters must be a JSON object', 'params as a number');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://127.0.0.1/', '2')$$) ->> 'hint',
  'Write them as {"page": 2, "status": "A"}.', 'the hint shows a params object');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '{"a": {"b": 1}}')$$, '22023', 'query parameter "a" must be a scalar or an array of scalars', 'an object parameter');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '{"a": [[1]]}')$$, '22023', 'query parameter "a" must be a scalar or an array of scalars', 'an array of arrays');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '{"page": 1, "f": [{"b": 1}]}')$$, '22023', 'query parameter "f" must be a scalar or an array of scalars', 'an array of objects');
-- content_type is sent as a header line: a line break in it would smuggle
-- headers (even Transfer-Encoding) past the headers concord refuses.
SELECT throws_ok(format('SELECT concord.http_post(%L, ''x'', %L)', :'u' || '/echo', E'text/plain\r\nX-Injected: yes'), '22023', NULL,
  'a content type with a line break is refused (http_post)');
SELECT throws_ok(format('SELECT concord.http(''GET'', %L, content_type => %L)', :'u' || '/echo', E'text/plain\nX-Injected: yes'), '22023', NULL,
  'a content type with a line break is refused (http without a body)');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || E'/echo\r\nX-Injected: yes'), '22023',
  format('malformed URL "%s"', :'u' || E'/echo\r\nX-Injected: yes'), 'a URL with a line break is refused');
SELECT throws_ok($$SELECT concord.http_post('http://127.0.0.1/', 'x', 'text/plain; charset=klingon')$$, '22023',
  'unsupported charset "klingon" in content type "text/plain; charset=klingon"', 'an unknown request charset');
SELECT is(pg_temp.error_of($$SELECT concord.http_post('http://127.0.0.1/', 'x', 'text/plain; charset=klingon')$$) ->> 'hint',
  'Use charset=utf-8.', 'the hint names UTF-8');
SELECT throws_ok(format('SELECT concord.http_post(%L, %L, %L)', :'u' || '/echo', '张三', 'text/plain; charset=iso-8859-1'), '22P05',
  NULL, 'text that the request charset cannot hold is refused');

------------------------------------------------------------------------------
-- Limit arguments and settings
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', timeout_ms => 0)$$, '22023', 'timeout_ms must be at least 1, not 0', 'timeout_ms 0');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', timeout_ms => -5)$$, '22023', 'timeout_ms must be at least 1, not -5', 'timeout_ms negative');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', connect_timeout_ms => 0)$$, '22023', 'connect_timeout_ms must be at least 1, not 0', 'connect_timeout_ms 0');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', max_response_bytes => -1)$$, '22023', 'max_response_bytes must be at least 0, not -1', 'negative max_response_bytes');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', max_redirects => -1)$$, '22023', 'max_redirects must be at least 0, not -1', 'negative max_redirects');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', max_redirects => 21)$$, '22023', 'max_redirects must be at most 20, not 21', 'max_redirects above 20');
SELECT throws_ok($$SELECT concord.http_post('http://127.0.0.1/', 'x', timeout_ms => 0)$$, '22023', 'timeout_ms must be at least 1, not 0', 'every wrapper checks its limits');
SELECT throws_ok($$SET concord.http_timeout_ms = 0$$, '22023',
  '0 ms is outside the valid range for parameter "concord.http_timeout_ms" ' || CASE WHEN current_setting('server_version_num')::int >= 170000 THEN '(1 ms .. 3600000 ms)' ELSE '(1 .. 3600000)' END, 'the timeout setting refuses 0');
SELECT throws_ok($$SET concord.http_max_redirects = 21$$, '22023',
  '21 is outside the valid range for parameter "concord.http_max_redirects" (0 .. 20)', 'the redirect setting refuses 21');

------------------------------------------------------------------------------
-- Network failures
------------------------------------------------------------------------------

-- A label starting with "-" is refused by the C library's resolver before
-- any query is sent: a DNS failure without a packet leaving the machine.
RESET ROLE;
SELECT concord.http_allow_host('-no-such-host.invalid') IS NOT NULL AS a3 \gset
SET LOCAL ROLE tap_http_errors;
SELECT throws_ok($$SELECT concord.http_get('http://-no-such-host.invalid/')$$, '08006',
  'could not resolve host "-no-such-host.invalid"', 'DNS failure');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://-no-such-host.invalid/')$$) ->> 'hint',
  'Check the host name in the URL.', 'DNS failure: hint');

-- The stub listens on 127.0.0.1 only, so its port on 127.0.0.2 refuses.
RESET ROLE;
SELECT concord.http_allow_host('127.0.0.2', :'p'::int) IS NOT NULL AS a4 \gset
SET LOCAL ROLE tap_http_errors;
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json'), '08001',
  format('could not connect to 127.0.0.2 port %s', :'p'), 'connection refused');
SELECT ok(pg_temp.error_of(format('SELECT concord.http_get(%L)', 'http://127.0.0.2:' || :'p' || '/json')) ->> 'detail'
          LIKE format('URL: http://127.0.0.2:%s/json. %%', :'p'), 'connection refused: the detail names the URL');

CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 200)', :'u' || '/delay/3000'),
  '08006', format('http request to %s timed out', :'u' || '/delay/3000'), 'total timeout');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms', 'the timeout ended the call early');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L, timeout_ms => 200)', :'u' || '/delay/3000')) ->> 'hint',
  'Raise timeout_ms for the call or the setting concord.http_timeout_ms.', 'timeout: hint');
SELECT ok(pg_temp.error_of(format('SELECT concord.http_get(%L, timeout_ms => 200)', :'u' || '/delay/3000')) ->> 'detail'
          LIKE '%. Limits: 200 ms in all, 10000 ms to connect.', 'timeout: the detail gives both limits');
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 300)', :'u' || '/slow-body?ms=200&chunks=10'),
  '08006', format('http request to %s timed out', :'u' || '/slow-body?ms=200&chunks=10'), 'timeout while the body trickles in');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/drop'),
  '08006', format('server closed the connection without a response for %s', :'u' || '/drop'), 'empty reply');
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'the backend calls again after failures');

------------------------------------------------------------------------------
-- Response limits
------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 1000)', :'u' || '/bytes/100000'),
  '54000', format('response from %s exceeds the limit of 1000 bytes', :'u' || '/bytes/100000'), 'declared length over the limit');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L, max_response_bytes => 1000)', :'u' || '/bytes/100000')) ->> 'hint',
  'Raise max_response_bytes for the call or the setting concord.http_max_response_bytes.', 'too large: hint');
SELECT is(length((concord.http_get(:'u' || '/bytes/1000', max_response_bytes => 1000)).body_bytes), 1000,
  'a body of exactly the limit is accepted');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 999)', :'u' || '/bytes/1000'),
  '54000', format('response from %s exceeds the limit of 999 bytes', :'u' || '/bytes/1000'), 'one byte over the limit is refused');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 100000)', :'u' || '/infinite'),
  '54000', format('response from %s exceeds the limit of 100000 bytes', :'u' || '/infinite'), 'an endless chunked body stops at the limit');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 3000)', :'u' || '/chunked/5000'),
  '54000', format('response from %s exceeds the limit of 3000 bytes', :'u' || '/chunked/5000'), 'a chunked body without a length stops at the limit');
SELECT is((concord.http_get(:'u' || '/no-content', max_response_bytes => 0)).status, 204, 'max_response_bytes => 0 admits an empty body');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 0)', :'u' || '/json'),
  '54000', format('response from %s exceeds the limit of 0 bytes', :'u' || '/json'), 'max_response_bytes => 0 refuses any body');
SELECT (headers ->> 'content-length')::int AS gz_len, length(body_bytes) AS plain_len FROM concord.http_get(:'u' || '/gzip') \gset
SELECT cmp_ok(:gz_len, '<', :plain_len, 'the gzip body is smaller than its content');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => %s)', :'u' || '/gzip', :gz_len),
  '54000', format('response from %s exceeds the limit of %s bytes', :'u' || '/gzip', :gz_len),
  'the limit applies to the decoded body (no zip bombs)');
SET LOCAL concord.http_max_response_bytes = 500;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/large/5000'),
  '54000', format('response from %s exceeds the limit of 500 bytes', :'u' || '/large/5000'), 'the setting applies');
RESET concord.http_max_response_bytes;
-- A HEAD response has no body: the Content-Length it reports (the size of
-- the GET's body) is no reason to fail it.
SELECT is(pg_temp.try(format($q$SELECT status::text || ' ' || (headers ->> 'content-length') FROM concord.http_head(%L, max_response_bytes => 1000)$q$, :'u' || '/bytes/100000')),
  '200 100000', 'the body limit does not apply to a HEAD response, which has no body');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_redirects => 2)', :'u' || '/redirect/5'),
  '54000', format('too many redirects from %s', :'u' || '/redirect/5'), 'redirect limit');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L, max_redirects => 2)', :'u' || '/redirect/5')) - 'message' - 'sqlstate',
  jsonb_build_object('detail', format('More than 2 redirects; the last went to %s/redirect/2.', :'u'),
                     'hint', 'Raise max_redirects for the call or the setting concord.http_max_redirects.'),
  'redirect limit: detail and hint');

------------------------------------------------------------------------------
-- Response text that cannot be decoded
------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/bad-utf8'),
  '22021', format('response body from %s is not valid utf-8', :'u' || '/bad-utf8'), 'invalid UTF-8 body');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', :'u' || '/bad-utf8')) ->> 'detail',
  'Invalid byte 0xff at offset 3 of 9; Content-Type: text/plain; charset=utf-8.', 'the detail shows the bad byte and where');

------------------------------------------------------------------------------
-- TLS: always verified; only a superuser may name another CA
------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT concord.http_get(%L)', :'tu' || '/json'),
  '08006', format('tls verification failed for %s', :'tu' || '/json'), 'an untrusted certificate is refused');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L)', :'tu' || '/json')) ->> 'hint',
  'The server''s certificate must be valid for its host name and signed by a trusted CA; a superuser can point concord.http_ca_file at a private CA.',
  'TLS failure: hint');
RESET ROLE;
SET LOCAL concord.http_ca_file = :'ca_file';
SET LOCAL ROLE tap_http_errors;
SELECT is((concord.http_get(:'tu' || '/json')).status, 200, 'with the CA set, the server is trusted');
SELECT is((concord.http_get(:'tu' || '/echo')).body::jsonb ->> 'method', 'GET', 'and requests go through');
RESET ROLE;
SELECT concord.http_allow_host('localhost', :'tp'::int, allow_private => true) IS NOT NULL AS a5,
       concord.http_allow_host('*.localhost', :'tp'::int, allow_private => true) IS NOT NULL AS a6 \gset
SET LOCAL ROLE tap_http_errors;
SELECT is((concord.http_get('https://localhost:' || :'tp' || '/json')).status, 200,
  'the certificate names localhost: verified by name too');
SELECT throws_ok(format('SELECT concord.http_get(%L)', 'https://crm.localhost:' || :'tp' || '/json'),
  '08006', format('tls verification failed for https://crm.localhost:%s/json', :'tp'),
  'a trusted certificate for another name is refused (host name verification)');
RESET ROLE;
RESET concord.http_ca_file;
SET LOCAL ROLE tap_http_errors;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'tu' || '/json'),
  '08006', format('tls verification failed for %s', :'tu' || '/json'),
  'after RESET the server is untrusted again (no verified connection is reused)');
-- Checking a CA path is for the superuser who may set it.
RESET ROLE;
SELECT throws_ok($$SET concord.http_ca_file = '/nonexistent/ca.pem'$$, '22023',
  'invalid value for parameter "concord.http_ca_file": "/nonexistent/ca.pem"', 'a missing CA file is refused at SET time');
SELECT throws_ok($$SET concord.http_ca_file = 'relative/ca.pem'$$, '22023',
  'invalid value for parameter "concord.http_ca_file": "relative/ca.pem"', 'a relative CA path is refused');
SET LOCAL ROLE tap_http_errors;

------------------------------------------------------------------------------
-- No error shows a secret from the URL
------------------------------------------------------------------------------

SELECT is(pg_temp.shows($$SELECT concord.http_get('http://sync:SECRET@127.0.0.9:8080/x?access_token=SECRET&page=2')$$, 'SECRET'),
  false, 'guard refusal');
SELECT is(pg_temp.error_of($$SELECT concord.http_get('http://sync:SECRET@127.0.0.9:8080/x?access_token=SECRET&page=2')$$) ->> 'detail',
  'URL: http://***@127.0.0.9:8080/x?access_token=***&page=2. No row of concord.http_allow matches this address and port.',
  'guard refusal: the URL is shown redacted');
SELECT is(pg_temp.shows($$SELECT concord.http_get('http://sync:SECRET@exa mple.com/?api_key=SECRET')$$, 'SECRET'),
  false, 'malformed URL');
SELECT is(pg_temp.shows($$SELECT concord.http_get('ftp://sync:SECRET@127.0.0.1/?token=SECRET')$$, 'SECRET'),
  false, 'unsupported scheme');
SELECT is(pg_temp.shows($$SELECT concord.http_get('http://sync:SECRET@-no-such-host.invalid/?access_token=SECRET')$$, 'SECRET'),
  false, 'DNS failure');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L)', 'http://sync:SECRET@127.0.0.2:' || :'p' || '/json?access_token=SECRET'), 'SECRET'),
  false, 'connection refused');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L, timeout_ms => 200)', 'http://sync:SECRET@127.0.0.1:' || :'p' || '/delay/3000?access_token=SECRET'), 'SECRET'),
  false, 'timeout');
SELECT is(pg_temp.error_of(format('SELECT concord.http_get(%L, timeout_ms => 200)', 'http://sync:SECRET@127.0.0.1:' || :'p' || '/delay/3000?access_token=SECRET')) ->> 'message',
  format('http request to http://***@127.0.0.1:%s/delay/3000?access_token=*** timed out', :'p'), 'timeout: the URL is shown redacted');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L, max_response_bytes => 10)', :'u' || '/bytes/1000?client_secret=SECRET'), 'SECRET'),
  false, 'response too large');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L, max_redirects => 1)', :'u' || '/redirect/3?sig=SECRET'), 'SECRET'),
  false, 'too many redirects');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L)', :'u' || '/bad-utf8?session=SECRET'), 'SECRET'),
  false, 'undecodable body');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L)', :'tu' || '/json?password=SECRET'), 'SECRET'),
  false, 'TLS failure');
SELECT is(pg_temp.shows(format('SELECT concord.http_get(%L)', :'u' || '/drop?ticket=SECRET'), 'SECRET'),
  false, 'empty reply');
-- libcurl accepts "http:/host" and "http:///host" (one or three slashes):
-- credentials in such a URL are hidden too.
SELECT is(pg_temp.shows($$SELECT concord.http_get('http:/sync:SECRET@127.0.0.9/x')$$, 'SECRET'),
  false, 'credentials in a URL with one slash after the scheme');
SELECT is(pg_temp.shows($$SELECT concord.http_get('http:///sync:SECRET@127.0.0.9/x')$$, 'SECRET'),
  false, 'credentials in a URL with three slashes after the scheme');
-- A URL without "://" is quoted in "malformed URL": without its
-- credentials.
SELECT is(pg_temp.shows($$SELECT concord.http_get('sync:SECRET@127.0.0.9/x')$$, 'SECRET'),
  false, 'credentials in a URL that lacks its scheme');

------------------------------------------------------------------------------
-- http_redact_url: the redaction applied to every URL shown
------------------------------------------------------------------------------

SELECT is(concord.http_redact_url(a), b, format('redact %s', a))
FROM (VALUES
  ('https://api.example.com/v1?apiKey=1&q=x&client_secret=2&sig=3#frag',
   'https://api.example.com/v1?apiKey=***&q=x&client_secret=***&sig=***'),
  ('https://sales:hunter2@crm.example.com:8443/api', 'https://***@crm.example.com:8443/api'),
  ('https://a@b@crm.example.com/', 'https://***@crm.example.com/'),
  ('https://crm.example.com/users/@me?page=2', 'https://crm.example.com/users/@me?page=2'),
  ('https://crm.example.com/p#section', 'https://crm.example.com/p'),
  ('https://crm.example.com/p?ACCESS_TOKEN=x&token=&token&page=1', 'https://crm.example.com/p?ACCESS_TOKEN=***&token=***&token&page=1'),
  ('https://crm.example.com/p?q=%E5%BC%A0&name=张三', 'https://crm.example.com/p?q=%E5%BC%A0&name=张三'),
  ('not a url ?password=p', 'not a url ?password=***')
) AS t(a, b);
SELECT is(concord.http_redact_url(format('https://h/?x_%s_y=v&page=1', w)), 'https://h/?x_' || w || '_y=***&page=1',
          format('a parameter name holding "%s" is secret', w))
FROM unnest(ARRAY['token', 'key', 'secret', 'pass', 'pwd', 'auth', 'sig', 'session', 'credential',
                  'private', 'cookie', 'code', 'ticket', 'jwt']) AS w;
SELECT is(concord.http_redact_url('https://h/?page=1&q=x&url=u&name=n&status=A'), 'https://h/?page=1&q=x&url=u&name=n&status=A',
  'ordinary parameters are shown');
SELECT is(concord.http_redact_url(NULL), NULL, 'http_redact_url is strict');
SELECT volatility_is('concord', 'http_redact_url', ARRAY['text'], 'immutable', 'http_redact_url is IMMUTABLE');

SELECT * FROM finish();
ROLLBACK;
