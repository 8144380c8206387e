-- Bad input and failures: each gets a specific, clear error.
BEGIN;
SELECT plan(37);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_tls_url') AS tu,
       current_setting('concord_test.stub_port') AS p,
       current_setting('concord_test.stub_tls_port') AS tp,
       current_setting('concord_test.ca_file') AS ca_file \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a1,
       concord.http_allow_host('127.0.0.1', :'tp'::int) IS NOT NULL AS a2 \gset

-- Arguments
SELECT throws_ok($$SELECT concord.http(NULL, 'http://127.0.0.1/')$$, '22004', 'HTTP method must not be null', 'NULL method');
SELECT throws_ok($$SELECT concord.http('GET', NULL)$$, '22004', 'request URL must not be null', 'NULL URL');
SELECT throws_ok($$SELECT concord.http_get(NULL)$$, '22004', 'request URL must not be null', 'http_get(NULL)');
SELECT throws_ok($$SELECT concord.http('BREW', 'http://127.0.0.1/')$$, '22023', 'unknown HTTP method "BREW"', 'unknown method');
SELECT throws_ok($$SELECT concord.http_get('not a url')$$, '22023', 'malformed URL "not a url"', 'no scheme');
SELECT throws_ok($$SELECT concord.http_get('http://')$$, '22023', 'malformed URL "http://"', 'no host');
SELECT throws_ok($$SELECT concord.http_get('http://exa mple.com/')$$, '22023', 'malformed URL "http://exa mple.com/"', 'space in host');
SELECT throws_ok($$SELECT concord.http_get('ftp://127.0.0.1/x')$$, '22023', 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"', 'ftp refused');
SELECT throws_ok($$SELECT concord.http_get('file:///etc/passwd')$$, '22023', 'unsupported URL scheme "file" in "file:///etc/passwd"', 'file refused');
SELECT throws_ok($$SELECT concord.http_get('gopher://127.0.0.1/')$$, '22023', 'unsupported URL scheme "gopher" in "gopher://127.0.0.1/"', 'gopher refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '[1]')$$, '22023', 'request headers must be a JSON object of strings', 'headers as array');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '"x"')$$, '22023', 'request headers must be a JSON object of strings', 'headers as scalar');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-Page": 2}')$$, '22023', 'request header "X-Page" must be a string', 'header value not a string');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"X-A": "1\r\nX-B: 2"}')$$, '22023', 'request header "X-A" contains a line break', 'header injection refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Host": "evil"}')$$, '22023', 'request header "Host" cannot be set', 'Host refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Content-Length": "5"}')$$, '22023', 'request header "Content-Length" cannot be set', 'Content-Length refused');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', headers => '{"Bad Name": "x"}')$$, '22023', 'invalid request header name "Bad Name"', 'bad header name');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '[1, 2]')$$, '22023', 'query parameters must be a JSON object', 'params as array');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', '{"a": {"b": 1}}')$$, '22023', 'query parameter "a" must be a scalar or an array of scalars', 'nested parameter');
SELECT throws_ok($$SELECT concord.http_post('http://127.0.0.1/', 'x', 'text/plain; charset=klingon')$$, '22023', 'unsupported charset "klingon" in content type "text/plain; charset=klingon"', 'unknown request charset');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', timeout_ms => 0)$$, '22023', 'timeout_ms must be at least 1, not 0', 'timeout_ms 0');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', max_response_bytes => -1)$$, '22023', 'max_response_bytes must be at least 0, not -1', 'negative max_response_bytes');
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1/', max_redirects => 21)$$, '22023', 'max_redirects must be at most 20, not 21', 'max_redirects above 20');
SELECT throws_ok($$SET concord.http_timeout_ms = 0$$, '22023', NULL, 'the GUC refuses a zero timeout');

-- Network failures
-- A label starting with "-" is refused by the C library's resolver before
-- any query is sent: a DNS failure without a packet leaving the machine.
SELECT concord.http_allow_host('-no-such-host.invalid', 80) IS NOT NULL AS a3 \gset
SELECT throws_ok($$SELECT concord.http_get('http://-no-such-host.invalid/')$$, '08006', 'could not resolve host "-no-such-host.invalid"', 'DNS failure');
SELECT concord.http_allow_host('127.0.0.1', 9) IS NOT NULL AS a4 \gset
SELECT throws_ok($$SELECT concord.http_get('http://127.0.0.1:9/')$$, '08001', 'could not connect to 127.0.0.1 port 9', 'connection refused');
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 200)', :'u' || '/delay/3000'),
  '08006', format('http request to %s timed out', :'u' || '/delay/3000'), 'total timeout');
SELECT throws_ok(format('SELECT concord.http_get(%L, timeout_ms => 300)', :'u' || '/slow-body?ms=200&chunks=10'),
  '08006', format('http request to %s timed out', :'u' || '/slow-body?ms=200&chunks=10'), 'timeout while the body trickles in');
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/drop'),
  '08006', format('server closed the connection without a response for %s', :'u' || '/drop'), 'empty reply');

-- Limits
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 1000)', :'u' || '/bytes/100000'),
  '54000', format('response from %s exceeds the limit of 1000 bytes', :'u' || '/bytes/100000'), 'declared length over the limit');
SELECT throws_ok(format('SELECT concord.http_get(%L, max_response_bytes => 100000)', :'u' || '/infinite'),
  '54000', format('response from %s exceeds the limit of 100000 bytes', :'u' || '/infinite'), 'endless chunked body stops at the limit');
SET LOCAL concord.http_max_response_bytes = 500;
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/large/5000'),
  '54000', format('response from %s exceeds the limit of 500 bytes', :'u' || '/large/5000'), 'the GUC limit applies');
RESET concord.http_max_response_bytes;
SELECT throws_ok(format('SELECT concord.http_get(%L, max_redirects => 2)', :'u' || '/redirect/5'),
  '54000', format('too many redirects from %s', :'u' || '/redirect/5'), 'redirect limit');

-- Text that cannot be decoded
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'u' || '/bad-utf8'),
  '22021', format('response body from %s is not valid utf-8', :'u' || '/bad-utf8'), 'invalid UTF-8 body');

-- TLS: always verified; only a superuser may name another CA
SELECT throws_ok(format('SELECT concord.http_get(%L)', :'tu' || '/json'),
  '08006', format('tls verification failed for %s', :'tu' || '/json'), 'untrusted certificate refused');
SET LOCAL concord.http_ca_file = :'ca_file';
SELECT is((concord.http_get(:'tu' || '/json')).status, 200, 'a superuser-set CA makes the server trusted');
SELECT throws_ok($$SET concord.http_ca_file = '/nonexistent/ca.pem'$$, '22023', NULL, 'a missing CA file is refused at SET time');

SELECT * FROM finish();
ROLLBACK;
