-- sync: retries on 429 (honouring Retry-After), 5xx, timeouts and pages
-- that are not JSON; the attempt limit; the request-rate limit.
BEGIN;
SELECT plan(21);
\ir setup.psql
SET LOCAL ROLE tap_syncer;

CREATE TEMP TABLE t0 (t timestamptz);
-- fast backoff for the tests
SELECT '{"retry": {"max_attempts": 3, "backoff_ms": 10, "max_backoff_ms": 50}}' AS fast \gset

------------------------------------------------------------------------------
-- Transient faults are retried and the run completes
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/rt/reset', '{"n": 30, "faults": [
  {"style": "page", "page": 2, "kind": "429", "retry_after": 1},
  {"style": "offset", "page": 2, "kind": "500"},
  {"style": "offset", "page": 3, "kind": "503", "times": 2},
  {"style": "cursor", "page": 2, "kind": "malformed"},
  {"style": "cursor", "page": 3, "kind": "truncated"},
  {"style": "link", "page": 2, "kind": "html"},
  {"style": "next", "page": 2, "kind": "slow", "ms": 1500}]}') ->> 'ok' AS reset \gset

INSERT INTO t0 VALUES (clock_timestamp());
SELECT concord.source_create('rt_429', pg_temp.spec('rt', 'customers', 'page', :'fast')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_429'), 'ok', '429 with Retry-After: 1 is retried');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '950 ms',
  'the run waited the second the server asked for');
SELECT results_eq($$SELECT records, retries, requests FROM pg_temp.last_run('rt_429')$$,
  $$VALUES (30::bigint, 1, 6)$$, '30 records, one retry, six requests');

-- Retry-After as an HTTP date (1-2 s ahead)
SELECT pg_temp.stub('/sync/rtd/reset', '{"n": 10, "faults": [{"style": "page", "page": 1, "kind": "503", "retry_after": "http-date"}]}') ->> 'ok' AS reset \gset
UPDATE t0 SET t = clock_timestamp();
SELECT concord.source_create('rt_date', pg_temp.spec('rtd', 'customers', 'page', :'fast')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_date'), 'ok', 'a 503 with Retry-After as an HTTP date is retried');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '500 ms',
  'the run waited until that date rather than the 10 ms backoff');

SELECT concord.source_create('rt_5xx', pg_temp.spec('rt', 'contracts', 'offset', :'fast')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_5xx'), 'ok', 'a 500, then two 503s, are retried');
SELECT results_eq($$SELECT records, retries FROM pg_temp.last_run('rt_5xx')$$,
  $$VALUES (30::bigint, 3)$$, 'three retries');

SELECT concord.source_create('rt_json', pg_temp.spec('rt', 'invoices', 'cursor', :'fast')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_json'), 'ok', 'malformed and truncated JSON pages are fetched again');
SELECT results_eq($$SELECT records, retries FROM pg_temp.last_run('rt_json')$$,
  $$VALUES (30::bigint, 2)$$, 'two retries, every record once');

SELECT concord.source_create('rt_html', pg_temp.spec('rt', 'tickets', 'link', :'fast')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_html'), 'ok', 'an HTML maintenance page is retried');

SELECT concord.source_create('rt_slow', pg_temp.spec('rt', 'customers', 'next',
  jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/rt/customers/next', 'timeout_ms', 500))
  || :'fast'::jsonb)) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_slow'), 'ok', 'a page slower than request.timeout_ms times out and is retried');
SELECT results_eq($$SELECT records, retries FROM pg_temp.last_run('rt_slow')$$,
  $$VALUES (30::bigint, 1)$$, 'one retry after the timeout');

------------------------------------------------------------------------------
-- Giving up
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/rt2/reset', '{"n": 30, "faults": [
  {"style": "page", "page": 2, "kind": "503", "times": -1},
  {"style": "offset", "page": 1, "kind": "429", "retry_after": 600},
  {"style": "cursor", "page": 2, "kind": "malformed", "times": -1}]}') ->> 'ok' AS reset \gset

SELECT concord.source_create('rt_503', pg_temp.spec('rt2', 'customers', 'page', :'fast')) IS NOT NULL AS c \gset
SELECT matches(pg_temp.sync('rt_503'),
  '^08000: source "rt_503": page 2 from .*/sync/rt2/customers/page\?page=2&per_page=7 answered status 503$',
  'a page that keeps failing fails the run after max_attempts');
SELECT is((pg_temp.stub_get('/sync/rt2/stats') -> 'pages' ->> 'page')::int, 4,
  'three attempts at page 2 after page 1');

SELECT concord.source_create('rt_later', pg_temp.spec('rt2', 'contracts', 'offset',
  '{"retry": {"max_retry_after_ms": 60000}}')) IS NOT NULL AS c \gset
SELECT matches(pg_temp.sync('rt_later'),
  '^08000: source "rt_later": page 1 from .* asks to retry after 600 s, more than retry.max_retry_after_ms allows$',
  'a Retry-After beyond the limit fails at once instead of sleeping');

SELECT concord.source_create('rt_bad', pg_temp.spec('rt2', 'invoices', 'cursor', :'fast')) IS NOT NULL AS c \gset
SELECT matches(pg_temp.sync('rt_bad'),
  '^22P02: source "rt_bad": page 2 from .* is not usable: malformed JSON at line 1, column \d+: .*$',
  'a page that is never JSON: the parse error after max_attempts');

RESET ROLE;
SELECT concord.http_allow_host('127.0.0.1', 1, true) IS NOT NULL AS closed_port \gset
SET LOCAL ROLE tap_syncer;
SELECT concord.source_create('rt_down', pg_temp.spec('rt2', 'tickets', 'page',
  '{"request": {"url": "http://127.0.0.1:1/sync/rt2/tickets/page"}, "retry": {"max_attempts": 2, "backoff_ms": 10}}'))
  IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('rt_down'),
  '08001: source "rt_down": page 1: could not connect to 127.0.0.1 port 1',
  'a server that is down: the connection error after the attempts');

------------------------------------------------------------------------------
-- The request-rate limit
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/rate/reset', '{"n": 30}') ->> 'ok' AS reset \gset
SELECT concord.source_create('rate', pg_temp.spec('rate', 'customers', 'page',
  '{"rate_limit": {"requests_per_second": 10}}')) IS NOT NULL AS c \gset
UPDATE t0 SET t = clock_timestamp();
SELECT is(pg_temp.sync('rate'), 'ok', 'a rate-limited source');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '395 ms',
  '5 requests at 10 per second: at least 0.4 s from the first to the last');
SELECT is((pg_temp.last_run('rate')).requests, 5, 'five requests');

SELECT is((SELECT count(*)::int FROM concord.sync_run WHERE source LIKE 'rt\_%' AND status = 'succeeded'), 6,
  'the six runs with transient faults succeeded');

SELECT * FROM finish();
ROLLBACK;
