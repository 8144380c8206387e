-- sync: an incremental source keeps the records it rejected and tries them
-- again at every run, since its cursor has passed them and the API will
-- not send them again unless they change.  A reject loads once the table
-- or the mapping lets it in; a later version of the same record settles
-- the older one; a reset settles all; rejects.retry false keeps none; a
-- full refresh keeps none (its next pass reads everything).  In a
-- transaction rolled back.
BEGIN;
SELECT plan(20);
\ir setup.psql
SET LOCAL ROLE tap_syncer;

SELECT pg_temp.stub('/sync/rj/reset', '{"n": 20, "bad_records": [
  {"kind": "customers", "id": 5, "field": "name", "value": "一个非常长的名字一个非常长的名字一个非常长的名字一个非常长的名字"},
  {"kind": "customers", "id": 9, "field": "lifetime_value", "value": "oops"}]}') ->> 'ok' AS r \gset
CREATE TABLE sync_test.rj (id bigint PRIMARY KEY, name varchar(20), updated_at timestamptz, lifetime_value numeric(12,2));
SELECT concord.source_create('rj', pg_temp.spec('rj', 'customers', 'page', '{
  "target": {"table": "sync_test.rj"},
  "columns": [{"name": "id"}, {"name": "name"}, {"name": "updated_at"}, {"name": "lifetime_value"}],
  "mode": {"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since"}}')) IS NOT NULL AS c \gset

SELECT is(pg_temp.sync('rj'), 'ok', 'a first incremental run');
SELECT results_eq($$SELECT records, inserted, rejected FROM pg_temp.last_run('rj')$$, $$VALUES (20::bigint, 18::bigint, 2::bigint)$$,
  'two records rejected: a name too long for varchar(20), a value that is no number');
SELECT results_eq($$SELECT key, retry, resolved FROM concord.sync_reject WHERE source = 'rj' ORDER BY reject_id$$,
  $$VALUES ('5', true, NULL::text), ('9', true, NULL)$$, 'both kept for a retry, by their key');
SELECT is((pg_temp.last_run('rj')).cursor_after, '2026-01-01T00:00:20+00:00', 'the cursor passed them');

-- the next run tries them again first; nothing changed: they stay kept
SELECT is(pg_temp.sync('rj'), 'ok', 'the next run, nothing changed upstream');
SELECT results_eq($$SELECT rejects_retried, rejects_loaded, rejected FROM pg_temp.last_run('rj')$$,
  $$VALUES (2::bigint, 0::bigint, 0::bigint)$$, 'both tried again, neither loads, no new reject');
SELECT results_eq($$SELECT key, retries, reason FROM concord.sync_reject WHERE source = 'rj' ORDER BY reject_id$$,
  $$VALUES ('5', 1, 'value too long for type character varying(20)'), ('9', 1, 'invalid input syntax for type numeric: "oops"')$$,
  'each reject counts its retries and keeps the latest reason');

-- the table is widened: the name fits now
ALTER TABLE sync_test.rj ALTER COLUMN name TYPE varchar(60);
SELECT is(pg_temp.sync('rj'), 'ok', 'a run after the column was widened');
SELECT results_eq($$SELECT rejects_retried, rejects_loaded FROM pg_temp.last_run('rj')$$, $$VALUES (2::bigint, 1::bigint)$$,
  'the long name loads now');
SELECT is((SELECT name::text FROM sync_test.rj WHERE id = 5),
  (SELECT e ->> 'name' FROM jsonb_array_elements(pg_temp.stub_get('/sync/rj/customers/all')) e WHERE e ->> 'id' = '5'),
  'customer 5 is in the table at last, as the API sent it');
SELECT results_eq($$SELECT key, resolved, resolved_run_id = (pg_temp.last_run('rj')).run_id FROM concord.sync_reject
                     WHERE source = 'rj' ORDER BY reject_id$$,
  $$VALUES ('5', 'loaded', true), ('9', NULL, NULL)$$, 'its reject is resolved as loaded');

-- a later version of customer 9 arrives (still bad): it replaces the old one
SELECT pg_temp.stub('/sync/rj/customers/update', '{"ids": [9]}') ->> 'ok' AS u \gset
SELECT is(pg_temp.sync('rj'), 'ok', 'a run after customer 9 changed upstream');
SELECT results_eq($$SELECT key, resolved, run_id = (pg_temp.last_run('rj')).run_id FROM concord.sync_reject
                     WHERE source = 'rj' AND key = '9' ORDER BY reject_id$$,
  $$VALUES ('9', 'superseded', false), ('9', NULL, true)$$,
  'the newer version, rejected again, supersedes the older: only the newest waits');
SELECT is((SELECT count(*)::int FROM concord.sync_reject WHERE source = 'rj' AND retry AND resolved IS NULL), 1,
  'one reject waits');

-- a reset settles what waits: the next pass reads everything again
SELECT is(concord.source_reset('rj'), true, 'reset');
SELECT is((SELECT count(*)::int FROM concord.sync_reject WHERE source = 'rj' AND resolved = 'reset'), 1,
  'the waiting reject is settled by the reset');

-- rejects.retry false; a full refresh
SELECT concord.source_create('rj_noretry', pg_temp.spec('rj', 'customers', 'page', '{
  "target": {"table": "sync_test.rj_noretry", "create": true, "primary_key": "id"},
  "columns": [{"name": "id", "type": "bigint"}, {"name": "lifetime_value", "type": "numeric(12,2)"},
              {"name": "updated_at", "type": "timestamptz"}],
  "rejects": {"retry": false},
  "mode": {"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since"}}')) IS NOT NULL AS c,
       concord.source_create('rj_full', pg_temp.spec('rj', 'customers', 'page', '{
  "target": {"table": "sync_test.rj_full", "create": true, "primary_key": "id"},
  "columns": [{"name": "id", "type": "bigint"}, {"name": "lifetime_value", "type": "numeric(12,2)"}]}')) IS NOT NULL AS d \gset
SELECT is(pg_temp.sync('rj_noretry') || pg_temp.sync('rj_full'), 'okok', 'a source with rejects.retry false, a full refresh');
SELECT results_eq($$SELECT source, retry FROM concord.sync_reject WHERE source IN ('rj_noretry', 'rj_full') ORDER BY 1$$,
  $$VALUES ('rj_full', false), ('rj_noretry', false)$$, 'their rejects are not kept for a retry');
SELECT is(pg_temp.sync('rj_noretry'), 'ok', 'the next run');
SELECT is((pg_temp.last_run('rj_noretry')).rejects_retried, 0::bigint, 'tries nothing again');

SELECT * FROM finish();
ROLLBACK;
