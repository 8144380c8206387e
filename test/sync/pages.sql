-- sync: pages as an API may really write them, read by sync's own JSON
-- tokenizer (src/sync/jdoc.c; test/sync/jdoc.sh checks it against jansson
-- byte by byte): numbers no double can hold reach a numeric column exactly
-- and are refused by a float8 one, never stored as Infinity or 0; of
-- repeated member names the last counts, for columns and the unmapped
-- column alike; a member name holding \u0000 is not the name before it;
-- text that is not JSON fails the run with where and why.  As a member of
-- concord_sync, in a transaction rolled back.
BEGIN;
SELECT plan(13);
\ir setup.psql

CREATE ROLE tap_jd_member;
GRANT concord_sync TO tap_jd_member;
GRANT USAGE, CREATE ON SCHEMA sync_test TO tap_jd_member;

-- a source reading one page: the stub's /raw answers the bytes given
CREATE FUNCTION pg_temp.page_source(name text, page text, columns jsonb, extra jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql AS $$
  SELECT (concord.source_create(name, jsonb_build_object(
    'request', jsonb_build_object('url', current_setting('concord_test.stub_url') || '/raw?hex='
                                         || encode(convert_to(page, 'UTF8'), 'hex')),
    'records', '$.data[*]',
    'target', jsonb_build_object('table', 'sync_test.' || name, 'create', true, 'primary_key', 'id'),
    'columns', columns,
    'retry', '{"max_attempts": 1}'::jsonb) || extra)).name
$$;

SET LOCAL ROLE tap_jd_member;

-- numbers beyond a double
SELECT pg_temp.page_source('jd_num',
  '{"data": [{"id": 1, "big": 1e400, "tiny": -1e-400, "huge": 123456789012345678901234567890, "near": 0.1000000000000000000001},
             {"id": 2, "big": 1, "f": 1E+400},
             {"id": 3, "big": 2, "f": 2.5e-3}]}',
  '[{"name": "id", "type": "bigint"}, {"name": "big", "type": "numeric"}, {"name": "tiny", "type": "numeric"},
    {"name": "huge", "type": "numeric"}, {"name": "near", "type": "numeric"}, {"name": "f", "type": "float8"}]') AS s \gset
SELECT is(pg_temp.sync('jd_num'), 'ok', 'a page with numbers beyond a double syncs');
SELECT results_eq($$SELECT big = 1e400, tiny = -1e-400, huge::text, near::text FROM sync_test.jd_num WHERE id = 1$$,
  $$VALUES (true, true, '123456789012345678901234567890', '0.1')$$,
  '1e400 and -1e-400 reach numeric exactly (not Infinity, not 0); a huge integer as written; other numbers as doubles');
SELECT results_eq($$SELECT record ->> 'id', error_code FROM concord.sync_reject WHERE source = 'jd_num'$$,
  $$VALUES ('2', '22003')$$, 'a float8 column refuses 1E+400 as out of range: that record is rejected alone, nothing stored as Infinity');
SELECT is((SELECT f FROM sync_test.jd_num WHERE id = 3), 0.0025::float8, 'an ordinary float8 goes in');

-- repeated names, and the unmapped column
SELECT pg_temp.page_source('jd_dup',
  '{"data": [{"id": 1, "a": {"y": 2}, "a": {"x": 1}, "e": {}, "n": 1, "n": 2},
             {"id": 2, "a": {"x": 3, "y": 4}, "a": 5}]}',
  '[{"name": "id", "type": "bigint"}, {"name": "x", "path": "$.a.x", "type": "int"}, {"name": "z", "path": "$.e.z"}]',
  '{"target": {"table": "sync_test.jd_dup", "create": true, "primary_key": "id", "unmapped_column": "extra"}}') AS s \gset
SELECT is(pg_temp.sync('jd_dup'), 'ok', 'a page with repeated member names syncs');
SELECT results_eq($$SELECT id, x, extra FROM sync_test.jd_dup ORDER BY id$$,
  $$VALUES (1::bigint, 1, '{"e": {}, "n": 2}'::jsonb), (2::bigint, NULL::int, '{"a": 5}'::jsonb)$$,
  'the last of a repeated name counts: a.x taken, the a it emptied gone (no earlier a in its place); e, empty as it came, kept though $.e.z is mapped');

-- a member name holding \u0000
SELECT pg_temp.page_source('jd_nul',
  '{"data": [{"id": 1, "k": "yes", "k\u0000": "no"}]}',
  '[{"name": "id", "type": "bigint"}, {"name": "k"}]') AS s \gset
SELECT is(pg_temp.sync('jd_nul'), 'ok', 'a page with a member name holding \u0000 syncs');
SELECT is((SELECT k FROM sync_test.jd_nul), 'yes', '"k\u0000" is not "k"');

-- \u0000 inside a value bound for jsonb (a column, or the unmapped one),
-- which jsonb refuses: that record is rejected alone, saying which field
SELECT pg_temp.page_source('jd_nulj',
  '{"data": [{"id": 1, "meta": {"a": "x\u0000y"}, "t": "ok"},
             {"id": 2, "meta": {"a": 1}, "t": "a\u0000b"},
             {"id": 3, "meta": [1], "t": "fine", "other": {"k\u0000": 1}},
             {"id": 4, "meta": null, "t": "good", "addr": {"city": "x\u0000", "zip": "100080"}},
             {"id": 5, "meta": {"a": "\\u0000 as text"}, "t": "kept"}]}',
  '[{"name": "id", "type": "bigint"}, {"name": "meta", "type": "jsonb"}, {"name": "t"},
    {"name": "city", "path": "$.addr.zip"}]',
  '{"target": {"table": "sync_test.jd_nulj", "create": true, "primary_key": "id", "unmapped_column": "extra"}}') AS s \gset
SELECT is(pg_temp.sync('jd_nulj'), 'ok', 'a page with \u0000 in values bound for jsonb syncs');
SELECT results_eq($$SELECT record ->> 'id', error_code, reason FROM concord.sync_reject WHERE source = 'jd_nulj' ORDER BY 1$$,
  $$VALUES ('1', '22P02', 'field $[''meta''] contains \u0000, which jsonb cannot hold'),
           ('2', '22P02', 'field $[''t''] contains \u0000, which text cannot hold'),
           ('3', '22P02', 'a field kept in column extra contains \u0000, which jsonb cannot hold'),
           ('4', '22P02', 'a field kept in column extra contains \u0000, which jsonb cannot hold')$$,
  'each record with \u0000 in a jsonb-bound value (a column, a field kept for the unmapped column, a member name) is rejected alone, naming the field');
SELECT results_eq($$SELECT id, meta, t, extra FROM sync_test.jd_nulj ORDER BY id$$,
  $$VALUES (5::bigint, '{"a": "\\u0000 as text"}'::jsonb, 'kept', '{}'::jsonb)$$,
  'the record whose text only looks like the escape (an escaped backslash) is stored as it came');

-- not JSON
SELECT pg_temp.page_source('jd_bom', chr(65279) || '{"data": [{"id": 1}]}', '[{"name": "id", "type": "bigint"}]') AS s \gset
SELECT matches(pg_temp.sync('jd_bom'),
  '^22P02: source "jd_bom": page 1 from .* is not usable: malformed JSON at line 1, column 1: expected a value$',
  'a page starting with a byte order mark is not JSON: the run fails, saying where');
SELECT pg_temp.page_source('jd_comma', E'{"data": [\n  {"id": 1},\n]}', '[{"name": "id", "type": "bigint"}]') AS s \gset
SELECT matches(pg_temp.sync('jd_comma'),
  '^22P02: source "jd_comma": page 1 from .* is not usable: malformed JSON at line 3, column 1: expected a value$',
  'nor is one with a trailing comma');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
