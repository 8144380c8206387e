-- http_batch: one row per request in input order, per-row errors,
-- per-call limits, the connection caps and concurrency.
BEGIN;
SELECT plan(32);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_tls_url') AS tu,
       current_setting('concord_test.stub_port') AS p,
       current_setting('concord_test.stub_tls_port') AS tp \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a1,
       concord.http_allow_host('127.0.0.1', :'tp'::int) IS NOT NULL AS a2,
       concord.http_allow_host('localhost', :'p'::int, allow_private => true) IS NOT NULL AS a3 \gset
-- The batches are sent by a role holding concord_http alone (docs/http.md);
-- the allowlist rows above are a superuser's.
CREATE ROLE tap_http_batch IN ROLE concord_http;
SET LOCAL ROLE tap_http_batch;

-- The rows of q as one text, or the error it raises as
-- "ERROR <SQLSTATE>: <message>" (so a failing call fails one assertion).
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  EXECUTE format('SELECT string_agg(r::text, '' | '') FROM (%s) r', q) INTO t;
  RETURN t;
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TEMP TABLE t0 (t timestamptz);

------------------------------------------------------------------------------
-- Rows: input order, successes and per-row errors side by side
------------------------------------------------------------------------------

SELECT results_eq(format($q$
  SELECT ord, method, status, error_code, error
  FROM concord.http_batch(ARRAY[
    concord.http_request('GET', %1$L || '/json'),
    concord.http_request('GET', %1$L || '/status/503'),
    concord.http_request('GET', 'http://127.0.0.2:%2$s/json'),
    concord.http_request('BREW', %1$L || '/json'),
    NULL,
    concord.http_request(NULL, %1$L || '/json'),
    concord.http_request('GET', NULL),
    concord.http_request('GET', %1$L || '/delay/3000'),
    concord.http_request('post', %1$L || '/echo', body => 'x'),
    concord.http_request('GET', %1$L || '/bad-utf8'),
    concord.http_request('GET', 'ftp://127.0.0.1/x'),
    concord.http_request('GET', %1$L || '/json', headers => '{"Host": "x"}'),
    concord.http_request('GET', %1$L || '/json', params => '[1]'),
    concord.http_request('GET', %3$L || '/json'),
    concord.http_request('GET', %1$L || '/drop'),
    concord.http_request('GET', %1$L || '/status/404')],
    timeout_ms => 300)$q$, :'u', :'p', :'tu'),
  format($q$VALUES
    (1, 'GET', 200, NULL, NULL),
    (2, 'GET', 503, NULL, NULL),
    (3, 'GET', NULL, '42501', 'destination 127.0.0.2 port %2$s is not allowed'),
    (4, 'BREW', NULL, '22023', 'unknown HTTP method "BREW"'),
    (5, NULL, NULL, '22004', 'request must not be null'),
    (6, NULL, NULL, '22004', 'HTTP method must not be null'),
    (7, 'GET', NULL, '22004', 'request URL must not be null'),
    (8, 'GET', NULL, '08006', 'http request to %1$s/delay/3000 timed out'),
    (9, 'POST', 200, NULL, NULL),
    (10, 'GET', 200, '22021', 'response body from %1$s/bad-utf8 is not valid utf-8'),
    (11, 'GET', NULL, '22023', 'unsupported URL scheme "ftp" in "ftp://127.0.0.1/x"'),
    (12, 'GET', NULL, '22023', 'request header "Host" cannot be set'),
    (13, 'GET', NULL, '22023', 'query parameters must be a JSON object'),
    (14, 'GET', NULL, '08006', 'tls verification failed for %3$s/json'),
    (15, 'GET', NULL, '08006', 'server closed the connection without a response for %1$s/drop'),
    (16, 'GET', 404, NULL, NULL)$q$, :'u', :'p', :'tu'),
  'one row per request in input order; a failure is an error in its own row; 4xx/5xx are responses');

SELECT results_eq(format($q$
  SELECT ord, status, content_type, body::jsonb, url, error_code
  FROM concord.http_batch(ARRAY[
    concord.http_request('GET', %1$L || '/status/503'),
    concord.http_request('GET', 'http://127.0.0.2:%2$s/json')])$q$, :'u', :'p'),
  format($q$VALUES
    (1, 503, 'application/json; charset=utf-8', '{"status": 503}'::jsonb, %1$L, NULL),
    (2, NULL, NULL, NULL, NULL, '42501')$q$, :'u' || '/status/503', :'p'),
  'a response row has its columns; an error row has them NULL');
SELECT results_eq(format($q$SELECT status, body, body_bytes, error_code FROM concord.http_batch(ARRAY[concord.http_request('GET', %L)])$q$, :'u' || '/bad-utf8'),
  $$VALUES (200, NULL::text, '\x6f6b20fffe20626164'::bytea, '22021'::text)$$,
  'an undecodable body keeps its status and raw bytes in the row');
SELECT is((SELECT headers ->> 'content-type' FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/bad-utf8')])),
  'text/plain; charset=utf-8', 'and its headers');
SELECT results_eq(format($q$
  SELECT e->>'method', e->'query'->>'n', e->'headers'->>'x-a', e->>'body', e->'headers'->>'content-type'
  FROM (SELECT body::jsonb e FROM concord.http_batch(ARRAY[
          concord.http_request('PUT', %L, '{"n": 5}', '{"X-A": "b"}', '客户', 'text/csv; charset=utf-8')])) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '5', 'b', '客户', 'text/csv; charset=utf-8')$$,
  'batch requests carry method, parameters, headers, body and content type');
SELECT is((SELECT body::jsonb ->> 'body' FROM concord.http_batch(ARRAY[concord.http_request('POST', :'u' || '/echo', body => 'no type')])),
  'no type', 'a batch body without a content type is sent');
SELECT is((SELECT body::jsonb -> 'headers' ->> 'content-type' FROM concord.http_batch(ARRAY[concord.http_request('POST', :'u' || '/echo', body => 'no type')])),
  'text/plain; charset=utf-8', 'as text/plain UTF-8');

-- Many rows
SELECT results_eq(format($q$SELECT array_agg(ord ORDER BY ord) = array_agg(ord), count(*)::int, count(*) FILTER (WHERE status = 200)::int
  FROM concord.http_batch(ARRAY(SELECT concord.http_request('GET', %L || '/echo', jsonb_build_object('i', g)) FROM generate_series(1, 100) g))$q$, :'u'),
  $$VALUES (true, 100, 100)$$, '100 requests: 100 rows in input order, all answered');
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/echo', jsonb_build_object('i', g)) FROM generate_series(1, 50) g))
           WHERE (body::jsonb -> 'query' ->> 'i')::int = ord), 50,
  'each row holds the response to its own request');

-- No requests
SELECT is((SELECT count(*)::int FROM concord.http_batch('{}'::concord.http_request[])), 0, 'empty array: no rows');
SELECT is((SELECT count(*)::int FROM concord.http_batch(NULL)), 0, 'NULL array: no rows');
SELECT results_eq($$SELECT ord, method, error_code, error FROM concord.http_batch(ARRAY[NULL, NULL]::concord.http_request[])$$,
  $$VALUES (1, NULL::text, '22004'::text, 'request must not be null'::text), (2, NULL, '22004', 'request must not be null')$$,
  'an array of NULLs: an error row each');

-- A body that the named charset cannot hold (22P05 from the conversion)
-- fails its own row, not the whole batch.
SELECT is(pg_temp.try(format($q$SELECT ord, status, error_code FROM concord.http_batch(ARRAY[
            concord.http_request('POST', %1$L, body => '张三', content_type => 'text/plain; charset=iso-8859-1'),
            concord.http_request('GET', %1$L)])$q$, :'u' || '/echo')),
  '(1,,22P05) | (2,200,)', 'a body the charset cannot hold fails its own row only');

-- A content type with a line break would smuggle headers: its row fails.
SELECT is(pg_temp.try(format($q$SELECT ord, status, error_code FROM concord.http_batch(ARRAY[
            concord.http_request('POST', %1$L, body => 'x', content_type => E'text/plain\r\nX-Injected: yes'),
            concord.http_request('GET', %1$L)])$q$, :'u' || '/echo')),
  '(1,,22023) | (2,200,)', 'a content type with a line break fails its own row');

------------------------------------------------------------------------------
-- Limit and cap arguments
------------------------------------------------------------------------------

SELECT results_eq(format($q$SELECT ord, status, error_code FROM concord.http_batch(ARRAY[
    concord.http_request('GET', %1$L || '/json'),
    concord.http_request('GET', %1$L || '/no-content'),
    concord.http_request('GET', %1$L || '/redirect/1'),
    concord.http_request('GET', %1$L || '/redirect/3')],
    max_response_bytes => 50, max_redirects => 2)$q$, :'u'),
  $$VALUES (1, NULL::int, '54000'::text), (2, 204, NULL), (3, 200, NULL), (4, NULL, '54000')$$,
  'per-call limits apply to every row');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_connections => 0)', :'u'),
  '22023', 'max_connections must be at least 1, not 0', 'a zero global cap is refused');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_host_connections => 0)', :'u'),
  '22023', 'max_host_connections must be at least 1, not 0', 'a zero host cap is refused');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_host_connections => -2)', :'u'),
  '22023', 'max_host_connections must be at least 1, not -2', 'a negative host cap is refused');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], timeout_ms => 0)', :'u'),
  '22023', 'timeout_ms must be at least 1, not 0', 'a zero timeout is refused for the whole batch');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_redirects => 21)', :'u'),
  '22023', 'max_redirects must be at most 20, not 21', 'too many redirects allowed is refused');
SELECT throws_ok($$SELECT * FROM concord.http_batch('{{"(GET,http://127.0.0.1/,,,,)"}}'::concord.http_request[])$$,
  '2202E', 'requests must be a one-dimensional array, not 2 dimensions', 'a 2-D array is refused');

------------------------------------------------------------------------------
-- Concurrency and caps (behavioural bounds only)
------------------------------------------------------------------------------

-- 20 requests of 200 ms finish together, not one after another
INSERT INTO t0 VALUES (clock_timestamp());
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/200') FROM generate_series(1, 20)),
             max_host_connections => 20) WHERE status = 200), 20, '20 delayed requests all succeed');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '2 seconds',
  '20 x 200 ms run concurrently (well under the 4 s a sequence needs)');

-- The default host cap (8) makes 16 requests take at least two rounds
UPDATE t0 SET t = clock_timestamp();
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/200') FROM generate_series(1, 16))) WHERE status = 200),
  16, '16 delayed requests under the default caps');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '400 ms',
  'at most 8 at once to one host by default: two rounds of 200 ms');

-- A host cap of 1 serialises them
UPDATE t0 SET t = clock_timestamp();
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/100') FROM generate_series(1, 5)),
             max_host_connections => 1) WHERE status = 200), 5, 'capped batch succeeds');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '500 ms',
  'max_host_connections => 1 runs 5 x 100 ms one at a time');

-- The global cap counts across hosts (127.0.0.1 and localhost)
UPDATE t0 SET t = clock_timestamp();
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/delay/150'),
             concord.http_request('GET', 'http://localhost:' || :'p' || '/delay/150'),
             concord.http_request('GET', :'u' || '/delay/150'),
             concord.http_request('GET', 'http://localhost:' || :'p' || '/delay/150')],
             max_connections => 1) WHERE status = 200), 4, 'batch over two hosts succeeds');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '600 ms',
  'max_connections => 1 runs them one at a time even across hosts');
UPDATE t0 SET t = clock_timestamp();
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/delay/500'),
             concord.http_request('GET', 'http://localhost:' || :'p' || '/delay/500')],
             max_host_connections => 1) WHERE status = 200), 2, 'two hosts, host cap 1');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1 s',
  'the host cap is per host: the two hosts run at once');

-- A request's timeout counts from its own start, not from when it was queued
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/150') FROM generate_series(1, 4)),
             max_host_connections => 1, timeout_ms => 400) WHERE status = 200),
  4, '4 x 150 ms queued behind each other all finish within a 400 ms timeout each');

SELECT * FROM finish();
ROLLBACK;
