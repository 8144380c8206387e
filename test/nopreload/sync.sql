-- Run by test/check.sh without shared_preload_libraries (and so without
-- pg_cron): sources sync all the same; only scheduling needs pg_cron, and
-- says so.
BEGIN;
SELECT plan(4);

CREATE EXTENSION IF NOT EXISTS concord;
SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset
SET LOCAL client_min_messages = warning;

SELECT (concord.http_post(:'u' || '/sync/nopre/reset', '{"n": 12}'::jsonb)).status AS reset \gset
SELECT lives_ok(format($$SELECT concord.source_create('nopre', %L)$$, jsonb_build_object(
  'request', jsonb_build_object('url', :'u' || '/sync/nopre/customers/offset'),
  'pagination', '{"type": "offset", "limit": 5, "total_path": "$.total"}'::jsonb,
  'records', '$.items',
  'target', '{"table": "public.nopre_customers", "create": true, "primary_key": "id"}'::jsonb,
  'columns', '[{"name": "id", "type": "bigint"}, {"name": "name"}]'::jsonb)), 'a source is defined');
SELECT lives_ok($$CALL concord.sync('nopre')$$, 'and syncs without the preloaded library');
SELECT is((SELECT count(*)::int FROM public.nopre_customers), 12, 'every record');
SELECT throws_ok($$SELECT concord.source_schedule('nopre', '@hourly')$$, '0A000',
  'cannot schedule source "nopre": pg_cron is not installed in database "concord_nopreload"',
  'scheduling says that pg_cron is missing');

SELECT * FROM finish();
ROLLBACK;
