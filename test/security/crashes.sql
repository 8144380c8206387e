-- security: no SQL call crashes a backend (issue 17, class 5).  The calls
-- the audit found crashing, and their variants, give an error with a
-- SQLSTATE naming the object and the bad value; each is made as a role
-- holding only what the function needs (PUBLIC's rights, concord_policy,
-- concord_sync), in a transaction rolled back with its roles.  Long inputs
-- of the identity functions stop at a statement_timeout.  (Every function
-- of schema concord with odd arguments: test/security/fuzz.sh.)
BEGIN;
SELECT plan(26);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset

CREATE ROLE tap_crash_anyone;
CREATE ROLE tap_crash_policy IN ROLE concord_policy;
CREATE ROLE tap_crash_sync IN ROLE concord_sync;
CREATE SCHEMA sec_test;
GRANT USAGE, CREATE ON SCHEMA sec_test TO tap_crash_policy, tap_crash_sync;
GRANT USAGE ON SCHEMA sec_test TO tap_crash_anyone;
CREATE TABLE sec_test.deal (id integer PRIMARY KEY, region text, phone text);
ALTER TABLE sec_test.deal OWNER TO tap_crash_policy;
-- the OID of a table that was dropped
CREATE TABLE sec_test.gone (x integer);
SELECT 'sec_test.gone'::regclass::oid AS gone \gset
DROP TABLE sec_test.gone;

-- A cancel is no error PL/pgSQL's WHEN OTHERS catches: catch it by name.
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'done';
EXCEPTION
  WHEN query_canceled THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
  WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.outcome(text) TO PUBLIC;
CREATE TEMP TABLE t0 (t timestamptz);
GRANT ALL ON t0 TO PUBLIC;

------------------------------------------------------------------------------
-- Expressions over a relation given by OID (PUBLIC may call these)
------------------------------------------------------------------------------

SET LOCAL ROLE tap_crash_anyone;
SELECT throws_ok($$SELECT concord.expr_check(999999::oid::regclass, 'a', 'x', true)$$,
  '42P01', 'relation with OID 999999 does not exist', 'expr_check of an OID that names nothing: an error, not a crash');
SELECT throws_ok($$SELECT concord.expr_type(0::oid::regclass, 'a', 'a')$$,
  '42P01', 'relation with OID 0 does not exist', 'expr_type of OID 0');
SELECT throws_ok(format('SELECT concord.expr_check(%s::oid::regclass, %L, %L, false)', :gone, 'a', 'x'),
  '42P01', format('relation with OID %s does not exist', :gone), 'expr_check of a dropped table''s OID');
SELECT throws_ok($$SELECT concord.expr_type(4294967295::oid::regclass, '', '')$$,
  '42P01', 'relation with OID 4294967295 does not exist', 'expr_type of the largest OID');
SELECT throws_ok($$SELECT concord.expr_check_over('a', '{x,y}', ARRAY[0, 999999]::oid[]::regtype[], 'x', true)$$,
  '42704', 'type with OID 0 of "x" does not exist', 'expr_check_over with a type OID that names nothing');
SELECT throws_ok($$SELECT concord.expr_check_over('a', '{x}', ARRAY[NULL]::regtype[], 'x', true)$$,
  '22004', 'expr_check_over: a name or type is NULL', 'expr_check_over with a NULL type');
SELECT is(concord.expr_check('sec_test.deal', 'd', 'region', false), 'd.region',
  'a relation that exists is checked as before');
RESET ROLE;

------------------------------------------------------------------------------
-- Row policies and masks (concord_policy)
------------------------------------------------------------------------------

SET LOCAL ROLE tap_crash_policy;
SELECT throws_ok($$SELECT concord.policy_predicate(999999::oid::regclass, 'true')$$,
  '42P01', 'relation with OID 999999 does not exist', 'policy_predicate of an OID that names nothing');
SELECT throws_ok(format('SELECT concord.policy_mask(%s::oid::regclass, %L, %L)', :gone, 'phone', 'concord.mask_phone(phone)'),
  '42P01', format('relation with OID %s does not exist', :gone), 'policy_mask of a dropped table''s OID');
SELECT throws_ok($$SELECT concord.row_policy_create('sec_any', 0::oid::regclass, 'true')$$,
  '42P01', 'relation with OID 0 does not exist', 'row_policy of OID 0');
SELECT throws_ok($$SELECT concord.column_mask_create(0::oid::regclass, 'phone', 'concord.mask_phone(phone)')$$,
  '42P01', 'relation with OID 0 does not exist', 'column_mask of OID 0');
SELECT is(concord.policy_predicate('sec_test.deal', $$region = '华东'$$), $$(region = '华东'::text)$$,
  'a table that exists gets its predicate as before');
RESET ROLE;

------------------------------------------------------------------------------
-- source_check of a cursor source whose cursor path has an array index
-- (its report was built in memory SPI had freed; a large one crashed)
------------------------------------------------------------------------------

SET LOCAL ROLE tap_crash_sync;
SELECT concord.source_create('sec_cursor', jsonb_build_object(
  'request', jsonb_build_object('url', :'u' || '/echo',
     'headers', (SELECT jsonb_object_agg('x-h' || g, repeat('v', 10000)) FROM generate_series(1, 90) g)),
  'pagination', '{"type": "cursor", "cursor_path": "$.data[-1].id"}'::jsonb,
  'records', '$', 'target', '{"table": "sec_test.echoed", "create": true, "primary_key": "id"}'::jsonb,
  'columns', '[{"name": "id", "path": "$.method"}, {"name": "h", "path": "$.headers"}]'::jsonb)) IS NOT NULL AS made \gset
SELECT is((SELECT r ->> 'records' || ' ' || (r -> 'next') || ' ' || (r #>> '{sample,id}') || ' ' ||
                  ((r #>> '{sample,h}')::jsonb ->> 'x-h90' = repeat('v', 10000))
             FROM concord.source_check('sec_cursor') r),
  '1 null GET true', 'source_check of a cursor source with $.data[-1].id: a whole report of about 900 kB');
SELECT is((SELECT count(*) FROM generate_series(1, 3) g, concord.source_check('sec_cursor') r WHERE r ->> 'status' = '200'),
  3::bigint, 'and again, three times');
SELECT concord.source_alter('sec_cursor', jsonb_build_object(
  'request', jsonb_build_object('url', :'u' || '/echo?data=x'),
  'pagination', '{"type": "cursor", "cursor_path": "$.query.data[-9223372036854775808]"}'::jsonb,
  'records', '$', 'target', '{"table": "sec_test.echoed", "primary_key": "id"}'::jsonb,
  'columns', '[{"name": "id", "path": "$.method"}, {"name": "h", "path": "$.headers"}]'::jsonb)) IS NOT NULL AS altered \gset
SELECT is((SELECT r -> 'next' FROM concord.source_check('sec_cursor') r), 'null'::jsonb,
  'a cursor path with the most negative index names nothing');
RESET ROLE;

------------------------------------------------------------------------------
-- Masks are LEAKPROOF: extreme arguments hide, never fail, never show all
------------------------------------------------------------------------------

SELECT is(concord.mask_partial('13812345678', 2147483647, '***', 2147483647), '***',
  'mask_partial with the largest ends shows the pad only (the sum does not wrap around)');
SELECT is(concord.mask_partial('13812345678', -2147483648, '#', -1), '#',
  'and with negative ends, the pad only');
SELECT is(concord.mask_partial('13812345678', 3, '****', 4), '138****5678', 'ordinary ends as before');

------------------------------------------------------------------------------
-- Identity functions on long inputs: bounded, and a statement_timeout
-- stops them
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.token_set_similarity(repeat('x ', 600000), 'x')$$, '54000',
  'argument 1 of token_set_similarity has 1200000 bytes, more than the limit of 1048576',
  'token_set_similarity refuses a text over 1 MB');
SELECT throws_ok($$SELECT concord.levenshtein('x', repeat('张', 5000))$$, '54000',
  'argument 2 has 5000 characters, more than the limit of 4000', 'an edit distance refuses a text over 4,000 characters');
SET LOCAL statement_timeout = '5s';
SELECT is(concord.token_set_similarity((SELECT string_agg(g::text, ' ') FROM generate_series(1, 100000) g),
                                       (SELECT string_agg(g::text, ' ') FROM generate_series(50001, 150000) g)),
  1 / 3::double precision, '100,000 distinct words each: compared in well under 5 s (it was quadratic)');
RESET statement_timeout;

INSERT INTO t0 VALUES (clock_timestamp());
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.outcome($$SELECT count(*) FROM generate_series(1, 1000) g
                             WHERE concord.token_set_similarity(repeat(g || ' x ', 100000), repeat('y ', 100000)) > 0$$),
  '57014: canceling statement due to statement timeout', 'statement_timeout stops token_set_similarity');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '2 s', 'promptly');

UPDATE t0 SET t = clock_timestamp();
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.outcome($$SELECT length(concord.to_pinyin(repeat('é张', 200000)))$$),
  '57014: canceling statement due to statement timeout', 'statement_timeout stops a transliteration of 400,000 characters');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '2 s', 'promptly (ICU gets long texts in pieces)');

SELECT is(left(concord.normalize_company('某某' || repeat('公司', 100000)), 20), '某某',
  'a company name ending in 100,000 legal forms is folded at once (it was quadratic)');

SELECT * FROM finish();
ROLLBACK;
