-- sync: mapping (casts, defaults, code maps, unmapped fields), full refresh
-- with deletes or soft deletes, incremental runs with a cursor and a
-- lookback, and records that cannot be loaded.
BEGIN;
SELECT plan(33);
\ir setup.psql
SET LOCAL ROLE tap_syncer;
SET LOCAL TimeZone = 'UTC';

------------------------------------------------------------------------------
-- Mapping
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/map/reset', '{"n": 12}') ->> 'ok' AS reset \gset
SELECT concord.source_create('map', pg_temp.spec('map', 'customers', 'page', jsonb_build_object(
  'columns', '[{"name": "id", "type": "bigint"},
               {"name": "name"},
               {"name": "stage", "path": "$.status", "map": {"A": "已签约", "B": "跟进中"}, "otherwise": "其他"},
               {"name": "stage_code", "path": "$.status", "map": {"A": "signed"}},
               {"name": "segment", "path": "$.segment", "default": "SMB"},
               {"name": "street", "path": "$[''address''].street"},
               {"name": "first_tag", "path": "$.tags[0]"},
               {"name": "tags", "type": "jsonb"},
               {"name": "updated_at", "type": "timestamptz"},
               {"name": "value_cents", "path": "$.lifetime_value", "type": "numeric(14,2)"}]'::jsonb,
  'target', '{"table": "sync_test.map_customers", "create": true, "primary_key": "id", "unmapped_column": "extra"}'::jsonb)))
  IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('map'), 'ok', 'a mapped source syncs');

SELECT results_eq(
  $$SELECT id, name, stage, stage_code, segment, street, first_tag, tags, updated_at, value_cents
      FROM sync_test.map_customers ORDER BY id LIMIT 3$$,
  $$SELECT (e->>'id')::bigint, e->>'name',
           CASE e->>'status' WHEN 'A' THEN '已签约' WHEN 'B' THEN '跟进中' ELSE '其他' END,
           CASE e->>'status' WHEN 'A' THEN 'signed' ELSE e->>'status' END,
           'SMB', e->'address'->>'street', e->'tags'->>0, e->'tags',
           (e->>'updated_at')::timestamptz, (e->>'lifetime_value')::numeric(14,2)
      FROM jsonb_array_elements(pg_temp.stub_get('/sync/map/customers/all')) e
     ORDER BY (e->>'id')::bigint LIMIT 3$$,
  'code maps (with and without otherwise), a default, nested paths, jsonb and casts');
SELECT is((SELECT extra FROM sync_test.map_customers WHERE id = 1),
  (SELECT (e - 'id' - 'name' - 'status' - 'segment' - 'tags' - 'updated_at' - 'lifetime_value') #- '{address,street}'
     FROM jsonb_array_elements(pg_temp.stub_get('/sync/map/customers/all')) e WHERE e->>'id' = '1'),
  'fields no column takes are kept in the unmapped jsonb column; of address, only the street mapped is taken (the city stays)');
SELECT is((SELECT count(DISTINCT stage)::int FROM sync_test.map_customers), 3, 'A, B and the rest');

------------------------------------------------------------------------------
-- Full refresh: upsert, then delete or flag rows absent upstream
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/fr/reset', '{"n": 20}') ->> 'ok' AS reset \gset
SELECT concord.source_create('fr_del', pg_temp.spec('fr', 'contracts', 'offset',
         '{"mode": {"type": "full_refresh", "delete": "delete"}}')) IS NOT NULL AS c1,
       concord.source_create('fr_soft', pg_temp.spec('fr', 'contracts', 'page',
         '{"mode": {"type": "full_refresh", "delete": "soft_delete", "soft_delete_column": "gone"},
           "target": {"table": "sync_test.fr_soft", "create": true, "primary_key": "contract_no"}}')) IS NOT NULL AS c2 \gset
SELECT is(pg_temp.sync('fr_del') || pg_temp.sync('fr_soft'), 'okok', 'first full refreshes');
SELECT pg_temp.stub('/sync/fr/contracts/delete', '{"ids": [3, 5, 18]}') ->> 'ok' AS del,
       pg_temp.stub('/sync/fr/contracts/update', '{"ids": [1]}') ->> 'ok' AS upd,
       pg_temp.stub('/sync/fr/contracts/add', '{"n": 2}') ->> 'ok' AS added \gset
SELECT is(pg_temp.sync('fr_del') || pg_temp.sync('fr_soft'), 'okok', 'second full refreshes');

SELECT results_eq($$SELECT records, inserted, updated, unchanged, deleted FROM pg_temp.last_run('fr_del')$$,
  $$VALUES (19::bigint, 2::bigint, 1::bigint, 16::bigint, 3::bigint)$$,
  'delete: 19 seen, 2 new, 1 changed, 16 unchanged, 3 deleted');
SELECT is((SELECT string_agg(contract_no, ',' ORDER BY contract_no) FROM sync_test.fr_contracts),
  (SELECT string_agg(e->>'contract_no', ',' ORDER BY e->>'contract_no')
     FROM jsonb_array_elements(pg_temp.stub_get('/sync/fr/contracts/all')) e),
  'the table holds exactly the upstream contracts');
SELECT is((SELECT status FROM sync_test.fr_contracts WHERE contract_no = 'HT-2026-00001'),
  (SELECT e->>'status' FROM jsonb_array_elements(pg_temp.stub_get('/sync/fr/contracts/all')) e
    WHERE e->>'contract_no' = 'HT-2026-00001'), 'the changed contract is updated');
SELECT results_eq($$SELECT contract_no FROM sync_test.fr_soft WHERE gone ORDER BY 1$$,
  $$VALUES ('HT-2026-00003'), ('HT-2026-00005'), ('HT-2026-00018')$$,
  'soft delete: the three contracts gone upstream are flagged, not deleted');
SELECT is((SELECT count(*)::int FROM sync_test.fr_soft WHERE NOT gone), 19, 'the others are not flagged');
SELECT is((pg_temp.last_run('fr_soft')).deleted, 3::bigint, 'soft deletes are counted as deleted');
SELECT is((SELECT count(*)::int FROM concord.sync_seen WHERE source IN ('fr_del', 'fr_soft')), 0,
  'the keys of finished passes are forgotten');

------------------------------------------------------------------------------
-- Incremental: a cursor column, a request parameter, a lookback
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/inc/reset', '{"n": 20}') ->> 'ok' AS reset \gset
SELECT concord.source_create('inc', pg_temp.spec('inc', 'tickets', 'page',
  '{"mode": {"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": "1 second"}}'))
  IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('inc'), 'ok', 'first incremental run');
SELECT results_eq($$SELECT records, inserted, since, cursor_after FROM pg_temp.last_run('inc')$$,
  $$VALUES (20::bigint, 20::bigint, NULL::text, '2026-01-01T00:00:20+00:00')$$,
  'the first run has no cursor to send, loads everything and keeps the largest updated_at');
SELECT is((SELECT cursor_value FROM concord.sync_state WHERE source = 'inc'), '2026-01-01T00:00:20+00:00',
  'the cursor is stored with the source''s state');

SELECT pg_temp.stub('/sync/inc/tickets/update', '{"ids": [2, 4]}') ->> 'ok' AS upd \gset
SELECT is(pg_temp.sync('inc'), 'ok', 'second incremental run');
SELECT results_eq($$SELECT records, inserted, updated, unchanged, since, cursor_after FROM pg_temp.last_run('inc')$$,
  $$VALUES (4::bigint, 0::bigint, 2::bigint, 2::bigint, '2026-01-01T00:00:19+00:00', '2026-06-01T00:00:01+00:00')$$,
  'only changes since the cursor less the lookback: tickets 19 and 20 again (unchanged), 2 and 4 updated');
SELECT is(pg_temp.stub_get('/sync/inc/stats') -> 'last_query' ->> 'updated_since', '2026-01-01T00:00:19+00:00',
  'the cursor went out as the updated_since parameter');
SELECT is((SELECT status FROM sync_test.inc_tickets WHERE ticket_id = 2),
  (SELECT e->>'status' FROM jsonb_array_elements(pg_temp.stub_get('/sync/inc/tickets/all')) e WHERE e->>'ticket_id' = '2'),
  'the change arrived');

SELECT is(pg_temp.sync('inc'), 'ok', 'a run with nothing new');
SELECT results_eq($$SELECT records, updated, cursor_before, cursor_after FROM pg_temp.last_run('inc')$$,
  $$VALUES (2::bigint, 0::bigint, '2026-06-01T00:00:01+00:00', '2026-06-01T00:00:01+00:00')$$,
  'the lookback re-reads the last second; the cursor stays');

SELECT concord.source_create('inc_start', pg_temp.spec('inc', 'contracts', 'page',
  '{"mode": {"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "start": "2026-01-01T00:00:15Z"}}'))
  IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('inc_start'), 'ok', 'an incremental source with a start');
SELECT is((pg_temp.last_run('inc_start')).records, 6::bigint, 'the first run starts at mode.start (contracts 15 to 20)');

SELECT is(concord.source_reset('inc'), true, 'reset');
SELECT is(pg_temp.sync('inc'), 'ok', 'a run after a reset');
SELECT is((pg_temp.last_run('inc')).records, 20::bigint, 'after a reset the next run reads everything again');

------------------------------------------------------------------------------
-- Records that cannot be loaded
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/rej/reset', '{"n": 20, "bad_records": [
  {"kind": "customers", "id": 3, "field": "lifetime_value", "value": "not-a-number"},
  {"kind": "customers", "id": 5, "field": "id", "remove": true},
  {"kind": "customers", "id": 9, "field": "updated_at", "value": "yesterday-ish"},
  {"kind": "customers", "id": 4, "field": "id", "value": 2}]}') ->> 'ok' AS reset \gset
SELECT concord.source_create('rej', pg_temp.spec('rej', 'customers', 'page')) IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('rej'), 'ok', 'a run with bad records continues (default policy)');
SELECT results_eq($$SELECT records, inserted, rejected, status FROM pg_temp.last_run('rej')$$,
  $$VALUES (20::bigint, 16::bigint, 3::bigint, 'succeeded')$$,
  '20 read, 3 rejected, 16 rows (record 4 carries id 2 and updates it)');
SELECT results_eq(
  $$SELECT page, record->>'id', reason, error_code FROM concord.sync_reject
     WHERE run_id = (pg_temp.last_run('rej')).run_id ORDER BY reject_id$$,
  $$VALUES (1, NULL, 'primary key column "id" is missing (path $[''id''])', '22P02'),
           (1, '3', 'invalid input syntax for type numeric: "not-a-number"', '22P02'),
           (2, '9', 'invalid input syntax for type timestamp with time zone: "yesterday-ish"', '22007')$$,
  'each reject: the page, the raw record, the reason and its SQLSTATE');
SELECT is((SELECT count(*)::int FROM sync_test.rej_customers WHERE id IN (3, 5, 9)), 0, 'rejected records are not in the table');

SELECT concord.source_create('rej_fail', pg_temp.spec('rej', 'customers', 'page', '{"rejects": {"policy": "fail"}}'))
  IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('rej_fail'),
  '22P02: source "rej_fail": record rejected on page 1: primary key column "id" is missing (path $[''id''])',
  'policy fail: the first bad record fails the run');
SELECT concord.source_create('rej_max', pg_temp.spec('rej', 'customers', 'page', '{"rejects": {"max": 2}}'))
  IS NOT NULL AS created \gset
SELECT is(pg_temp.sync('rej_max'),
  '22007: source "rej_max": record rejected on page 2: invalid input syntax for type timestamp with time zone: "yesterday-ish"',
  'rejects.max: the third reject fails the run');

SELECT * FROM finish();
ROLLBACK;
