-- sync template wecom, against the WeCom stand-in: an access_token from
-- /cgi-bin/gettoken for the corp id and an app's secret, as a query
-- parameter; user ids by cursor (a string) in the JSON body until the
-- next cursor is empty; errcode in every answer: an expired token (42001)
-- renewed once, the frequency limit (45009) retried; the departments and
-- the users of a department.  In a transaction rolled back.
BEGIN;
SELECT plan(15);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_wc_secret', 'stub-wecom-secret') AS s1,
       concord.secret_set('tap_wc_wrong', 'wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.wc(name text, ns text, extra jsonb DEFAULT '{}', over jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('wecom', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'wecom'), 'corp_id', 'wwstubcorpid',
    'corp_secret', 'tap_wc_secret') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}' || over)).name
$$;

SELECT pg_temp.vreset('twc1', 'wecom', '{"n": 100, "faults": [{"kind": "ratelimit", "request": 2}]}') AS r \gset
SELECT is(pg_temp.wc('wc_ids', 'twc1', '{}', '{"pagination": {"type": "cursor", "in": "body", "cursor_param": "cursor",
    "cursor_path": "$.next_cursor", "size_param": "limit", "size": 40}}'), 'wc_ids',
  'a source from the wecom template (pages of 40 for the test)');
SELECT is(pg_temp.vsync('wc_ids'), 'ok', 'it syncs');
SELECT results_eq($$SELECT pages, records, retries FROM pg_temp.vrun('wc_ids')$$, $$VALUES (3::bigint, 100::bigint, 1)$$,
  'three pages of 40 until the next cursor is empty; the frequency limit retried');
SELECT is((pg_temp.vstats('twc1') ->> 'last_body')::jsonb ->> 'cursor', encode('80', 'base64'),
  'the cursor goes in the body as the string the API gave');
SELECT results_eq($$SELECT userid, department FROM sync_vendor.wc_ids ORDER BY 1$$,
  $$SELECT 'zhang' || lpad(i::text, 4, '0'), (1 + i % 3)::bigint FROM generate_series(1, 100) i ORDER BY 1$$,
  'every user id with its department');
SELECT pg_temp.vreset('twc3', 'wecom', '{"n": 100, "token_ttl": 1}') AS r \gset
SELECT pg_temp.wc('wc_ttl', 'twc3', '{}', '{"pagination": {"type": "cursor", "in": "body", "cursor_param": "cursor",
    "cursor_path": "$.next_cursor", "size_param": "limit", "size": 10}, "rate_limit": {"requests_per_second": 4}}') AS c \gset
SELECT is(pg_temp.vsync('wc_ttl'), 'ok', 'tokens living 1 s, ten pages at 4 a second');
SELECT results_eq($$SELECT (s ->> 'tokens_issued')::int > 1, (s ->> 'auth_failures')::int FROM pg_temp.vstats('twc3') s$$,
  $$VALUES (true, 0)$$, 'a token is renewed before it expires (halfway through a short life): no request is refused');

-- a token that dies before the time gettoken said: 42001, renewed once
SELECT pg_temp.vreset('twc4', 'wecom', '{"n": 60, "token_ttl": 1.2, "expires_in": 7200}') AS r \gset
SELECT pg_temp.wc('wc_expired', 'twc4', '{}', '{"pagination": {"type": "cursor", "in": "body", "cursor_param": "cursor",
    "cursor_path": "$.next_cursor", "size_param": "limit", "size": 10}, "rate_limit": {"requests_per_second": 2}}') AS c \gset
SELECT is(pg_temp.vsync('wc_expired'), 'ok', 'a token that expires early (errcode 42001) is renewed, the walk goes on');
SELECT results_eq($$SELECT (s ->> 'tokens_issued')::int >= 2, (s ->> 'auth_failures')::int >= 1, (r).records
                      FROM pg_temp.vstats('twc4') s, (SELECT pg_temp.vrun('wc_expired') r) x$$,
  $$VALUES (true, true, 60::bigint)$$, 'refused once per token, renewed, every user id loaded');

SELECT pg_temp.wc('wc_wrong', 'twc1', '{"corp_secret": "tap_wc_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('wc_wrong'), '^28000: source "wc_wrong" could not get a token from \S+/cgi-bin/gettoken\?\S+: status 200$',
  'a wrong corp secret: gettoken answers errcode 40001; 28000');

SELECT pg_temp.vreset('twc2', 'wecom', '{"n": 20, "departments": 3}') AS r \gset
SELECT pg_temp.wc('wc_depts', 'twc2', '{"object": "departments"}') AS c \gset
SELECT is(pg_temp.vsync('wc_depts'), 'ok', 'the departments');
SELECT results_eq($$SELECT id, name, parentid, department_leader FROM sync_vendor.wc_depts ORDER BY 1$$,
  $$VALUES (1::bigint, '总部', 0::bigint, '{zhang0001}'::text[]), (2, '部门 2', 1, '{}'), (3, '部门 3', 1, '{}'), (4, '部门 4', 1, '{}')$$,
  'the tree, leaders as text[]');
SELECT pg_temp.wc('wc_users', 'twc2', '{"object": "users", "department_id": 2}') AS c \gset
SELECT is(pg_temp.vsync('wc_users'), 'ok', 'the users of department 2');
SELECT results_eq($$SELECT userid, department, position FROM sync_vendor.wc_users ORDER BY 1$$,
  $$SELECT t ->> 'userid', ARRAY(SELECT jsonb_array_elements_text(t -> 'department'))::bigint[], t ->> 'position'
      FROM pg_temp.vtruth('twc2') t WHERE t -> 'department' = '[2]' ORDER BY 1$$, 'with their details');
SELECT is(pg_temp.vstats('twc2') -> 'last_query' ->> 'department_id', '2', 'asked for department 2');

SELECT * FROM finish();
ROLLBACK;
