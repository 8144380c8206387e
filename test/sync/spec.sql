-- sync: source specs are validated on create; every error names the JSON
-- path of the bad value and what was expected.  Source management:
-- create, alter, reset, drop, check.
BEGIN;
SELECT plan(55);
\ir setup.psql

SELECT pg_temp.stub('/sync/spec/reset', '{"n": 12}') ->> 'ok' AS reset \gset
SELECT concord.secret_set('t_spec_token', 'spec-token-value') AS s1 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;

-- a valid spec, and the same with one key replaced (jsonb_set path p)
SELECT pg_temp.spec('spec', 'customers', 'page') AS good \gset
CREATE FUNCTION pg_temp.with(p text[], v jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_set(pg_temp.spec('spec', 'customers', 'page'), p, v) $$;
CREATE FUNCTION pg_temp.without(p text[]) RETURNS jsonb
LANGUAGE sql AS $$ SELECT pg_temp.spec('spec', 'customers', 'page') #- p $$;

------------------------------------------------------------------------------
-- Bad specs: path and expectation in the message, nothing stored
------------------------------------------------------------------------------

SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.without('{request}'))$$,
  '22023', 'invalid spec for source "s1": request is required', 'missing request');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{request,url}', '"ftp://x/y"'))$$,
  '22023', 'invalid spec for source "s1": request.url must be an http:// or https:// URL, not "ftp://x/y"',
  'a URL that is not http(s)');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{request,method}', '"DELETE"'))$$,
  '22023', 'invalid spec for source "s1": request.method must be one of GET, POST, not "DELETE"',
  'a method other than GET or POST');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{request,timeout}', '5'))$$,
  '22023', 'invalid spec for source "s1": unknown key "timeout" in request', 'a misspelt key');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{pagination,type}', '"pages"'))$$,
  '22023', 'invalid spec for source "s1": pagination.type must be one of none, page_number, offset, cursor, link_header, next_url, not "pages"',
  'an unknown pagination type');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{pagination,size}', '"ten"'))$$,
  '22023', 'invalid spec for source "s1": pagination.size must be an integer, not "ten"', 'a page size that is not a number');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{pagination,size}', '0'))$$,
  '22023', 'invalid spec for source "s1": pagination.size must be between 1 and 1000000, not 0', 'a page size of 0');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{pagination,cursor_path}', '"$.next"'))$$,
  '22023', 'invalid spec for source "s1": pagination.cursor_path is not used by pagination type other than cursor',
  'a key of another pagination type');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{pagination}', '{"type": "cursor"}'))$$,
  '22023', 'invalid spec for source "s1": pagination.cursor_path is required', 'cursor pagination without its path');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{records}', '"data[*]"'))$$,
  '22023', 'invalid spec for source "s1": records is not a valid JSON path ("data[*]"): a JSON path starts with "$", as in "$.data[*]"',
  'a records path without $');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{columns,3}', '{"name": "tag", "path": "$.tags[*]", "map": {"VIP": "vip"}}'))$$,
  '22023', 'invalid spec for source "s1": columns[3].map cannot apply to a path with a wildcard, which collects an array',
  'a column path with a wildcard collects an array: no code map on it');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{columns,1,path}', '"$.name["'))$$,
  '22023', 'invalid spec for source "s1": columns[1].path is not a valid JSON path ("$.name["): expected an array index, ''*'' or a quoted name in [] at offset 7',
  'a malformed column path');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{columns}', '[]'))$$,
  '22023', 'invalid spec for source "s1": columns must be a non-empty array, not []', 'no columns');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{columns,2,name}', '"id"'))$$,
  '22023', 'invalid spec for source "s1": columns[2].name repeats column "id"', 'a column twice');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{columns,0,type}', '"bigintt"'))$$,
  '22023', 'invalid spec for source "s1": columns[0].type names no known type: "bigintt"', 'an unknown type');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target,primary_key}', '"code"'))$$,
  '22023', 'invalid spec for source "s1": target.primary_key names "code", which is not one of the columns',
  'a primary key that is not mapped');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.without('{target,primary_key}'))$$,
  '22023', 'invalid spec for source "s1": target.primary_key is required when the table is created',
  'a created table needs a primary key');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{mode}', '{"type": "incremental", "cursor_column": "updated_at", "cursor_param": "updated_since", "delete": "delete"}'))$$,
  '22023', 'invalid spec for source "s1": mode.delete is only for full_refresh: an incremental run does not see rows deleted upstream',
  'deletes need a full refresh');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{mode}', '{"type": "incremental", "cursor_column": "updated", "cursor_param": "since"}'))$$,
  '22023', 'invalid spec for source "s1": mode.cursor_column names "updated", which is not one of the columns',
  'an incremental cursor that is not mapped');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{mode}', '{"type": "incremental", "cursor_column": "name", "cursor_param": "since", "lookback": "1 hour"}'))$$,
  '22023', 'invalid spec for source "s1": mode.lookback needs a date/time or numeric cursor column, not text',
  'a lookback on a text cursor');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{retry}', '{"max_attempts": 0}'))$$,
  '22023', 'invalid spec for source "s1": retry.max_attempts must be between 1 and 100, not 0', 'no attempts');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{rate_limit}', '{"requests_per_second": -1}'))$$,
  '22023', 'invalid spec for source "s1": rate_limit.requests_per_second must be a number above 0 and at most 100000, not -1',
  'a negative rate');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{request,params}', '{"page": 3}'))$$,
  '22023', 'invalid spec for source "s1": request.params.page is also set by the source''s pagination, mode or auth',
  'a parameter the pagination sets');

-- credentials: only as secret references, and never echoed
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{auth}', '{"type": "bearer", "token": "pasted-plaintext"}'))$$,
  '22023', 'invalid spec for source "s1": auth.token must be {"secret": "name"}, not a string',
  'a pasted token is refused without being shown');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{auth}', '{"type": "basic", "username": "u"}'))$$,
  '22023', 'invalid spec for source "s1": auth.password is required, as {"secret": "name"}', 'basic without a password');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{auth}', '{"type": "bearer", "token": {"secret": "no_such"}}'))$$,
  '42704', 'secret "no_such" named by source "s1" does not exist', 'an unknown secret');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{auth}', '{"type": "oauth2", "client_id": "c", "client_secret": {"secret": "t_spec_token"}}'))$$,
  '22023', 'invalid spec for source "s1": auth.token_url is required', 'OAuth2 without a token URL');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{auth}', '{"type": "api_key", "in": "cookie", "value": {"secret": "t_spec_token"}}'))$$,
  '22023', 'invalid spec for source "s1": auth.in must be one of header, query, not "cookie"', 'an API key elsewhere');

-- the target table
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target}', '{"table": "sync_test.nowhere", "primary_key": "id"}'))$$,
  '42P01', 'target table sync_test.nowhere of source "s1" does not exist', 'a missing table without create');
CREATE TABLE sync_test.spec_existing (id bigint PRIMARY KEY, name text, status text, city text,
  updated_at timestamptz, lifetime_value numeric, note text);
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target}', '{"table": "sync_test.spec_existing"}'))$$,
  '42703', 'column "phone" of source "s1" does not exist in table sync_test.spec_existing', 'a column the table lacks');
ALTER TABLE sync_test.spec_existing ADD COLUMN phone text;
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target}', '{"table": "sync_test.spec_existing"}'))$$,
  '22023', 'invalid spec for source "s1": columns[6].type is numeric(12,2), but column "lifetime_value" of sync_test.spec_existing is numeric',
  'a type that disagrees with the table');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target}', '{"table": "sync_test.spec_existing", "primary_key": "name"}') #- '{columns,6,type}')$$,
  '42P10', 'cannot load table sync_test.spec_existing for source "s1": no unique index on (name)',
  'a primary key without a unique index');
SELECT throws_ok($$SELECT concord.source_create('s1', pg_temp.with('{target}', '{"table": "sync_test.spec_existing", "unmapped_column": "note"}') #- '{columns,6,type}')$$,
  '22023', 'invalid spec for source "s1": target.unmapped_column must name a jsonb column of sync_test.spec_existing, not "note"',
  'the unmapped column must be jsonb');
SELECT lives_ok($$SELECT concord.source_create('s_existing', pg_temp.with('{target}', '{"table": "sync_test.spec_existing"}') #- '{columns,6,type}')$$,
  'an existing table: its primary key and column types are used');

-- names and nulls
SELECT throws_ok(format('SELECT concord.source_create(%L, %L)', '1bad name', :'good'),
  '42602', 'invalid source name "1bad name"', 'a bad source name');
SELECT throws_ok($$SELECT concord.source_create(NULL, '{}')$$, '22004', 'source name must not be null', 'a null name');
SELECT throws_ok($$SELECT concord.source_create('s1', NULL)$$, '22004', 'source spec must not be null', 'a null spec');
SELECT throws_ok($$SELECT concord.source_create('s1', '[1, 2]')$$, '22023',
  'invalid spec for source "s1": (the spec) must be a JSON object, not an array', 'a spec that is not an object');
SELECT is((SELECT count(*)::int FROM concord.source WHERE name = 's1'), 0, 'no bad spec was stored');
SELECT is(to_regclass('sync_test.spec_customers'), NULL, 'no table was created for a bad spec');

------------------------------------------------------------------------------
-- Create, alter, reset, check, drop
------------------------------------------------------------------------------

SELECT is((concord.source_create('s_good', :'good')).spec -> 'target' ->> 'table', 'sync_test.spec_customers',
  'create: the stored spec names the table schema-qualified');
SELECT has_pk('sync_test', 'spec_customers', 'the created table has the primary key');
SELECT col_type_is('sync_test', 'spec_customers', 'lifetime_value', 'numeric(12,2)', 'columns get the spec''s types');
SELECT col_type_is('sync_test', 'spec_customers', 'name', 'text', 'a column without a type is text');
SELECT throws_ok(format('SELECT concord.source_create(%L, %L)', 's_good', :'good'),
  '42710', 'source "s_good" already exists', 'a duplicate');

SELECT is(concord.source_check('s_good') - 'url' - 'sample',
  jsonb_build_object('source', 's_good', 'status', 200, 'requests', 1, 'retries', 0, 'since', NULL,
    'records', 7, 'total', 12, 'next', jsonb_build_object('page', 2),
    'target', jsonb_build_object('table', 'sync_test.spec_customers', 'exists', true), 'rejects', '[]'::jsonb),
  'source_check: one request, 7 records of 12, the next page, no rejects');
SELECT is(concord.source_check('s_good') -> 'sample' ->> 'name', '张伟', 'source_check shows the first record as mapped');
SELECT is((SELECT count(*)::int FROM sync_test.spec_customers), 0, 'source_check writes nothing');

CALL concord.sync('s_good');
SELECT is((SELECT count(*)::int FROM sync_test.spec_customers), 12, 'the source syncs');
SELECT is((concord.source_alter('s_good', jsonb_set(:'good', '{batch_pages}', '5'))).spec ->> 'batch_pages', '5',
  'alter replaces the spec');
SELECT throws_ok($$SELECT concord.source_alter('nope', '{}')$$, '42704', 'source "nope" does not exist', 'alter of an unknown source');
SELECT is(concord.source_reset('s_good'), true, 'reset forgets the state');
SELECT is(concord.source_drop('s_good', true), true, 'drop removes the source and, asked, its table');
SELECT is(to_regclass('sync_test.spec_customers'), NULL, 'the table is gone');
SELECT is(concord.source_drop('s_good'), false, 'dropping a source that does not exist returns false');

SELECT * FROM finish();
ROLLBACK;
