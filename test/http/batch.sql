-- http_batch: concurrency, input order, per-row errors.
BEGIN;
SELECT plan(13);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

SELECT results_eq(format($q$
  SELECT ord, method, status, error_code, error
  FROM concord.http_batch(ARRAY[
    concord.http_request('GET', %1$L || '/json'),
    concord.http_request('GET', %1$L || '/status/503'),
    concord.http_request('GET', 'http://127.0.0.2:%2$s/json'),
    concord.http_request('BREW', %1$L || '/json'),
    NULL,
    concord.http_request(NULL, %1$L || '/json'),
    concord.http_request('GET', %1$L || '/delay/3000'),
    concord.http_request('POST', %1$L || '/echo', body => 'x'),
    concord.http_request('GET', %1$L || '/bad-utf8')],
    timeout_ms => 300)$q$, :'u', :'p'),
  format($q$VALUES
    (1, 'GET', 200, NULL, NULL),
    (2, 'GET', 503, NULL, NULL),
    (3, 'GET', NULL, '42501', 'destination 127.0.0.2 port %2$s is not allowed'),
    (4, 'BREW', NULL, '22023', 'unknown HTTP method "BREW"'),
    (5, NULL, NULL, '22004', 'request must not be null'),
    (6, NULL, NULL, '22004', 'HTTP method must not be null'),
    (7, 'GET', NULL, '08006', 'http request to %1$s/delay/3000 timed out'),
    (8, 'POST', 200, NULL, NULL),
    (9, 'GET', 200, '22021', 'response body from %1$s/bad-utf8 is not valid utf-8')$q$, :'u', :'p'),
  'one row per request in input order; failures are per-row errors');

SELECT is((SELECT body_bytes FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/bad-utf8')])),
  '\x6f6b20fffe20626164'::bytea, 'an undecodable body keeps its raw bytes in the row');
SELECT is((SELECT body::jsonb ->> 'ok' FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/json')])),
  'true', 'batch rows carry the decoded body');
SELECT is((SELECT body::jsonb -> 'query' ->> 'n'
           FROM concord.http_batch(ARRAY[concord.http_request('GET', :'u' || '/echo', '{"n": 5}', '{"X-A": "b"}')])),
  '5', 'batch requests carry parameters');
SELECT is((SELECT count(*)::int FROM concord.http_batch('{}'::concord.http_request[])), 0, 'empty array: no rows');
SELECT is((SELECT count(*)::int FROM concord.http_batch(NULL)), 0, 'NULL array: no rows');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_connections => 0)', :'u'),
  '22023', 'max_connections must be at least 1, not 0', 'a zero global cap is refused');
SELECT throws_ok(format('SELECT * FROM concord.http_batch(ARRAY[concord.http_request(''GET'', %L)], max_host_connections => -2)', :'u'),
  '22023', 'max_host_connections must be at least 1, not -2', 'a negative host cap is refused');
SELECT throws_ok($$SELECT * FROM concord.http_batch('{{"(GET,http://127.0.0.1/,,,,)"}}'::concord.http_request[])$$,
  '2202E', 'requests must be a one-dimensional array, not 2 dimensions', 'a 2-D array is refused');

-- Concurrency: 20 requests of 200 ms finish together, not one after another
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/200') FROM generate_series(1, 20)),
             max_host_connections => 20) WHERE status = 200), 20, '20 delayed requests all succeed');
SELECT ok((SELECT clock_timestamp() - t < interval '2 seconds' FROM t0),
  '20 x 200 ms run concurrently (well under the 4 s a sequence needs)');

-- A host cap of 1 serialises them
TRUNCATE t0; INSERT INTO t0 VALUES (clock_timestamp());
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/delay/100') FROM generate_series(1, 5)),
             max_host_connections => 1) WHERE status = 200), 5, 'capped batch succeeds');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '490 ms',
  'max_host_connections => 1 runs 5 x 100 ms one at a time');

SELECT * FROM finish();
ROLLBACK;
