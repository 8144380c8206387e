-- Run by test/check.sh on the test cluster restarted WITHOUT
-- shared_preload_libraries: the library is loaded by CREATE EXTENSION and
-- every synchronous function works; only the background worker is absent.
BEGIN;
SELECT plan(8);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset

SELECT is(current_setting('shared_preload_libraries'), '', 'concord is not preloaded');
SELECT lives_ok('CREATE EXTENSION concord', 'CREATE EXTENSION loads the library and succeeds');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name LIKE 'concord.%'), 22,
  'every setting is defined when the library is loaded late');
SELECT is(concord.worker_wake(), false, 'worker_wake reports that no launcher runs');
SELECT is((SELECT count(*)::int FROM pg_stat_activity WHERE backend_type LIKE 'concord%'), 0,
  'no background worker');
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'http_get works');
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY[
             concord.http_request('GET', :'u' || '/json'),
             concord.http_request('GET', :'u' || '/status/404')]) WHERE error IS NULL), 2,
  'http_batch works');
SET LOCAL concord.http_log = on;
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'a logged call works');

SELECT * FROM finish();
ROLLBACK;
