-- sync: the shapes real APIs return (issue 22), each on a stub server.
-- Next links requested as given (an OData $select is not sent twice); the
-- cursor inside an expression ($filter); a boolean that ends the walk, and
-- a short page for a cursor style; Unix times into date/time columns,
-- converted exactly or refused, never stored wrong; a lookback as a
-- number; array columns; a wildcard path collecting an array; nested
-- unmapped fields; a plain 400 as 22023.  In a transaction rolled back.
BEGIN;
SELECT plan(39);
\ir setup.psql
\ir vendor.psql
SET LOCAL TimeZone = 'UTC';

SELECT concord.secret_set('tap_odata_key', 'stub-odata-key') AS s1,
       concord.secret_set('tap_shp_stripe', 'sk_test_stub_4eC39HqLyjWDarjtT1zdp7dc') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;

------------------------------------------------------------------------------
-- Next links as given; the cursor inside an OData $filter
------------------------------------------------------------------------------

SELECT pg_temp.vreset('tod1', 'odata', '{"n": 35}') AS r \gset
CREATE FUNCTION pg_temp.odata(name text, mode jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, jsonb_build_object(
    'request', jsonb_build_object('url', pg_temp.vbase('tod1', 'odata') || '/odata/Customers',
      'params', '{"$select": "CustomerID,ContactName,ModifiedDate", "$top": 10,
                  "$filter": "ModifiedDate gt {cursor}"}'::jsonb,
      'headers', '{"X-Api-Key": {"secret": "tap_odata_key"}}'::jsonb),
    'pagination', '{"type": "next_url", "next_url_path": "$[''@odata.nextLink'']"}'::jsonb,
    'records', '$.value[*]',
    'target', jsonb_build_object('table', 'sync_test.' || name, 'create', true, 'primary_key', 'CustomerID'),
    'columns', '[{"name": "CustomerID"}, {"name": "ContactName"}, {"name": "ModifiedDate", "type": "timestamptz"}]'::jsonb,
    'mode', mode))).name
$$;
SELECT pg_temp.odata('shp_odata', '{"type": "incremental", "cursor_column": "ModifiedDate", "start": "2000-01-01T00:00:00Z"}') AS c \gset
SELECT is(pg_temp.sync('shp_odata'), 'ok', 'an OData source: $select, $top and $filter on the first page, @odata.nextLink after');
SELECT results_eq($$SELECT pages, records FROM pg_temp.last_run('shp_odata')$$, $$VALUES (4::bigint, 35::bigint)$$,
  'four pages: the next links were requested as given (a $select sent twice is a 400 in OData)');
SELECT is(pg_temp.vstats('tod1') -> 'urls' ->> 0,
  '/v/tod1/odata/odata/Customers?%24top=10&%24filter=ModifiedDate%20gt%202000-01-01T00%3A00%3A00%2B00%3A00&%24select=CustomerID%2CContactName%2CModifiedDate',
  'the first request: {cursor} in $filter replaced by the start');
SELECT pg_temp.vmutate('tod1', '{"update": [2, 4], "add": 1}') AS m \gset
SELECT is(pg_temp.sync('shp_odata'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, inserted, updated, since FROM pg_temp.last_run('shp_odata')$$,
  $$VALUES (3::bigint, 1::bigint, 2::bigint, '2026-01-01T00:35:00+00:00')$$,
  'ModifiedDate gt the newest ModifiedDate: the two changed and the new one only');
SELECT is(pg_temp.vstats('tod1') -> 'last_query' ->> '$filter', 'ModifiedDate gt 2026-01-01T00:35:00+00:00',
  'the cursor went inside the expression');

-- without a start, the first run leaves the parameter holding {cursor} out
SELECT pg_temp.vreset('tod1', 'odata', '{"n": 12}') AS r \gset
SELECT pg_temp.odata('shp_odata2', '{"type": "incremental", "cursor_column": "ModifiedDate"}') AS c \gset
SELECT is(pg_temp.sync('shp_odata2'), 'ok', 'no start: the first run');
SELECT is(pg_temp.vstats('tod1') -> 'urls' ->> 0 ~ 'filter', false, 'sent no $filter');
SELECT throws_ok($$SELECT pg_temp.odata('shp_odata3', '{"type": "full_refresh"}')$$, '22023',
  'invalid spec for source "shp_odata3": request holds {cursor}, which is filled in only by mode incremental',
  '{cursor} needs mode incremental');

------------------------------------------------------------------------------
-- Walks that end on a boolean, or on a short page, for a cursor style
------------------------------------------------------------------------------

SELECT pg_temp.vreset('tst9', 'stripe', '{"n": 250}') AS r \gset
CREATE FUNCTION pg_temp.stripe(name text, pagination jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, jsonb_build_object(
    'request', jsonb_build_object('url', pg_temp.vbase('tst9', 'stripe') || '/v1/customers'),
    'auth', '{"type": "bearer", "token": {"secret": "tap_shp_stripe"}}'::jsonb,
    'pagination', '{"type": "cursor", "cursor_param": "starting_after", "cursor_path": "$.data[-1].id",
                    "size_param": "limit", "size": 100}'::jsonb || pagination,
    'records', '$.data[*]',
    'target', jsonb_build_object('table', 'sync_test.' || name, 'create', true, 'primary_key', 'id'),
    'columns', '[{"name": "id"}, {"name": "created", "type": "timestamptz", "format": "epoch"}]'::jsonb))).name
$$;
CREATE FUNCTION pg_temp.requests_for(name text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE before int := (pg_temp.vstats('tst9') ->> 'data_requests')::int;
BEGIN
  PERFORM pg_temp.sync(name);
  RETURN (pg_temp.vstats('tst9') ->> 'data_requests')::int - before;
END $$;
SELECT pg_temp.stripe('shp_plain', '{}') AS a, pg_temp.stripe('shp_more', '{"has_more_path": "$.has_more"}') AS b,
       pg_temp.stripe('shp_short', '{"stop_on_short_page": true}') AS c \gset
SELECT is(pg_temp.requests_for('shp_plain'), 4, 'a cursor walk alone asks once more, for the empty page after the last');
SELECT is(pg_temp.requests_for('shp_more'), 3, 'has_more_path false ends it on the last page');
SELECT is(pg_temp.requests_for('shp_short'), 3, 'so does stop_on_short_page, now for every style');
SELECT is((SELECT count(*)::int FROM sync_test.shp_more), 250, 'every record, once');
SELECT throws_ok($$SELECT concord.source_create('shp_bad', pg_temp.spec('tst9', 'customers', 'page',
                   '{"pagination": {"type": "none", "has_more_path": "$.more"}}'))$$, '22023',
  'invalid spec for source "shp_bad": pagination.has_more_path is not used by pagination type none',
  'a flag needs a walk');

------------------------------------------------------------------------------
-- Unix times into date/time columns
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/shp_t/reset', '{"n": 7, "bad_records": [
  {"kind": "customers", "id": 1, "field": "t", "value": 1600000120},
  {"kind": "customers", "id": 2, "field": "t", "value": 1600000120.5},
  {"kind": "customers", "id": 3, "field": "t", "value": "1600000120"},
  {"kind": "customers", "id": 4, "field": "t", "value": 1000000000000000},
  {"kind": "customers", "id": 5, "field": "t", "value": "soon"},
  {"kind": "customers", "id": 6, "field": "t", "value": -86400},
  {"kind": "customers", "id": 7, "field": "t", "value": null}]}') ->> 'ok' AS r \gset
CREATE FUNCTION pg_temp.times(name text, cols jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.sync((concord.source_create(name, pg_temp.spec('shp_t', 'customers', 'page', jsonb_build_object(
    'target', jsonb_build_object('table', 'sync_test.' || name, 'create', true, 'primary_key', 'id'),
    'columns', '[{"name": "id", "type": "bigint"}]'::jsonb || cols)))).name)
$$;
SELECT is(pg_temp.times('shp_epoch', '[{"name": "t", "type": "timestamptz", "format": "epoch"},
                                        {"name": "d", "path": "$.t", "type": "date", "format": "epoch"},
                                        {"name": "ts", "path": "$.t", "type": "timestamp", "format": "epoch"}]'), 'ok',
  'columns of format epoch');
SELECT results_eq($$SELECT id, t, d, ts FROM sync_test.shp_epoch ORDER BY id$$,
  $$VALUES (1::bigint, timestamptz '2020-09-13 12:28:40+00', date '2020-09-13', timestamp '2020-09-13 12:28:40'),
           (2, '2020-09-13 12:28:40.5+00', '2020-09-13', '2020-09-13 12:28:40.5'),
           (3, '2020-09-13 12:28:40+00', '2020-09-13', '2020-09-13 12:28:40'),
           (6, '1969-12-31 00:00:00+00', '1969-12-31', '1969-12-31 00:00:00'),
           (7, NULL, NULL, NULL)$$,
  'Unix seconds converted exactly: a number, a decimal, a numeric string, before 1970; null stays null');
SELECT results_eq($$SELECT record ->> 'id', reason, error_code FROM concord.sync_reject
                     WHERE run_id = (pg_temp.last_run('shp_epoch')).run_id ORDER BY reject_id$$,
  $$VALUES ('4', 'Unix time 1000000000000000 of column "t" is out of range for a timestamp', '22008'),
           ('5', 'invalid Unix time "soon" for column "t": expected a number of seconds', '22007')$$,
  'a time out of range and a word are refused, never stored wrong');
SELECT is(pg_temp.times('shp_noformat', '[{"name": "t", "type": "timestamptz"}]'), 'ok', 'a timestamptz column without a format');
SELECT results_eq($$SELECT record ->> 'id', reason FROM concord.sync_reject
                     WHERE run_id = (pg_temp.last_run('shp_noformat')).run_id ORDER BY reject_id$$,
  $$VALUES ('1', 'column "t" is a date/time, and 1600000120 is a number: a Unix time?'),
           ('2', 'column "t" is a date/time, and 1600000120.5 is a number: a Unix time?'),
           ('3', 'column "t" is a date/time, and 1600000120 is a number: a Unix time?'),
           ('4', 'column "t" is a date/time, and 1000000000000000 is a number: a Unix time?'),
           ('5', 'invalid input syntax for type timestamp with time zone: "soon"'),
           ('6', 'column "t" is a date/time, and -86400 is a number: a Unix time?')$$,
  'without a format, numbers (and 1600000120 as a string, which PostgreSQL would read as the year 160000) are refused');
SELECT is(pg_temp.times('shp_ms', '[{"name": "t", "type": "timestamptz", "format": "epoch_ms"}]'), 'ok', 'format epoch_ms');
SELECT is((SELECT t FROM sync_test.shp_ms WHERE id = 1), timestamptz '1970-01-19 12:26:40.12+00',
  '1600000120 milliseconds');
SELECT throws_ok($$SELECT pg_temp.times('shp_epoch_text', '[{"name": "t", "format": "epoch"}]')$$, '22023',
  'invalid spec for source "shp_epoch_text": columns[1].format is epoch, for a Unix time, but column "t" of sync_test.shp_epoch_text is text',
  'format epoch is for date/time columns');

------------------------------------------------------------------------------
-- A lookback as a number
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/shp_lb/reset', '{"n": 20}') ->> 'ok' AS r \gset
SELECT concord.source_create('shp_lookback', pg_temp.spec('shp_lb', 'customers', 'page',
  '{"mode": {"type": "incremental", "cursor_column": "id", "cursor_param": "min_id", "lookback": 5}}')) IS NOT NULL AS c,
       concord.source_create('shp_lookback_t', pg_temp.spec('shp_lb', 'tickets', 'page',
  '{"mode": {"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "lookback": 60}}')) IS NOT NULL AS d \gset
SELECT is(pg_temp.sync('shp_lookback') || pg_temp.sync('shp_lookback'), 'okok', 'two runs with a numeric cursor, lookback 5');
SELECT is((pg_temp.last_run('shp_lookback')).since, '15', 'the second sent the cursor (20) less 5');
SELECT is(pg_temp.sync('shp_lookback_t') || pg_temp.sync('shp_lookback_t'), 'okok', 'two runs with a time cursor, lookback 60');
SELECT is((pg_temp.last_run('shp_lookback_t')).since, '2025-12-31T23:59:20+00:00',
  'a number of seconds for a time cursor: the newest updated_at (00:00:20) less 60 s');
SELECT throws_ok($$SELECT concord.source_create('shp_lookback_bad', pg_temp.spec('shp_lb', 'customers', 'page',
  '{"mode": {"type": "incremental", "cursor_column": "id", "cursor_param": "min_id", "lookback": "a week"}}'))$$, '22023',
  'invalid spec for source "shp_lookback_bad": mode.lookback must be a number of the cursor column''s type bigint, not "a week"',
  'a lookback that is not of the cursor''s type is refused when the source is defined');

------------------------------------------------------------------------------
-- Array columns; a wildcard path; nested unmapped fields
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/shp_a/reset', '{"n": 4, "bad_records": [
  {"kind": "customers", "id": 1, "field": "scores", "value": [1, 2, 3]},
  {"kind": "customers", "id": 2, "field": "scores", "value": []},
  {"kind": "customers", "id": 3, "field": "scores", "value": [[1, 2], [3, 4]]},
  {"kind": "customers", "id": 4, "field": "scores", "value": "x"},
  {"kind": "customers", "id": 4, "field": "tags", "value": ["a \"quoted\" tag", "back\\slash", null]}]}') ->> 'ok' AS r \gset
SELECT concord.source_create('shp_arrays', pg_temp.spec('shp_a', 'customers', 'page', '{
  "target": {"table": "sync_test.shp_arrays", "create": true, "primary_key": "id", "unmapped_column": "extra"},
  "columns": [{"name": "id", "type": "bigint"}, {"name": "tags", "type": "text[]"}, {"name": "scores", "type": "int[]"},
              {"name": "tags_json", "path": "$.tags", "type": "jsonb"}, {"name": "first_two", "path": "$.tags[*]", "type": "text[]"},
              {"name": "city", "path": "$.address.city"}, {"name": "street", "path": "$.address.street"}]}')) IS NOT NULL AS c \gset
SELECT is(pg_temp.sync('shp_arrays'), 'ok', 'text[] and int[] columns (they used to be refused: no array of arrays)');
SELECT results_eq($$SELECT id, tags, scores FROM sync_test.shp_arrays ORDER BY id$$,
  $$SELECT (e ->> 'id')::bigint, ARRAY(SELECT jsonb_array_elements_text(e -> 'tags')),
           CASE e ->> 'id' WHEN '1' THEN '{1,2,3}'::int[] WHEN '2' THEN '{}' WHEN '3' THEN '{{1,2},{3,4}}' END
      FROM jsonb_array_elements(pg_temp.stub_get('/sync/shp_a/customers/all')) e WHERE e ->> 'id' <> '4' ORDER BY 1$$,
  'JSON arrays become arrays: empty, nested (two dimensions)');
SELECT results_eq($$SELECT record ->> 'id', reason FROM concord.sync_reject WHERE run_id = (pg_temp.last_run('shp_arrays')).run_id$$,
  $$VALUES ('4', 'malformed array literal: "x"')$$, 'a string for an int[] is refused');
SELECT is((SELECT tags_json = to_jsonb(tags) AND first_two = tags FROM sync_test.shp_arrays WHERE id = 1), true,
  'a jsonb column keeps the JSON array; $.tags[*] collects the same elements into text[]');
SELECT is((SELECT extra ? 'address' FROM sync_test.shp_arrays WHERE id = 1), false,
  'city and street mapped: nothing of address is left for the unmapped column');
SELECT pg_temp.stub('/sync/shp_a/reset', '{"n": 1, "bad_records": [{"kind": "customers", "id": 1, "field": "tags", "value": ["a \"quoted\" tag", "back\\slash", null]}]}') ->> 'ok' AS r \gset
SELECT concord.source_reset('shp_arrays') AS rs \gset
SELECT is(pg_temp.sync('shp_arrays'), 'ok', 'a run over elements with quotes, a backslash, a null');
SELECT is((SELECT tags FROM sync_test.shp_arrays WHERE id = 1), ARRAY['a "quoted" tag', 'back\slash', NULL],
  'written as an array literal, they arrive intact');
SELECT throws_ok($$SELECT concord.source_create('shp_arrays_pk', pg_temp.spec('shp_a', 'customers', 'page', '{
  "target": {"table": "sync_test.shp_arrays_pk", "create": true, "primary_key": "tags"},
  "columns": [{"name": "tags", "type": "text[]"}]}'))$$, '22023',
  'invalid spec for source "shp_arrays_pk": target.primary_key names array column "tags", which cannot be a key of a sync',
  'an array column cannot be the key');

------------------------------------------------------------------------------
-- A plain 4xx; sync_reject names its source
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/shp_4/reset', '{"n": 10}') ->> 'ok' AS r \gset
SELECT concord.source_create('shp_400', pg_temp.spec('shp_4', 'customers', 'page',
  '{"pagination": {"type": "page_number", "size": 9000}}')) IS NOT NULL AS c \gset
SELECT matches(pg_temp.sync('shp_400'), '^22023: source "shp_400": page 1 from \S+ answered status 400$',
  'a plain 400: 22023 (the API refuses the request the source describes), not 08000 (which is for 5xx and 429 that never end)');
SELECT is((pg_temp.last_run('shp_400')).status, NULL, '(the failed run rolled back with the test''s block)');
SELECT is((SELECT string_agg(attname::text, ',' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'concord.sync_reject'::regclass AND attname IN ('source', 'key', 'retry')),
  'source,key,retry', 'sync_reject has the source, the record''s key, and whether it is kept for a retry');
SELECT is((SELECT count(*)::int FROM concord.sync_reject WHERE source = 'shp_noformat'), 6,
  'rejects are found by source, without a join through run_id');

SELECT * FROM finish();
ROLLBACK;
