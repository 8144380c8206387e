-- sync template feishu, against the Feishu stand-in: a
-- tenant_access_token from /open-apis/auth/v3/tenant_access_token/internal
-- (app id and secret in a JSON body), as a bearer token; users of a
-- department by page_token while has_more; code in every answer: an
-- invalid token (HTTP 400, code 99991663) renewed once, the frequency
-- limit (HTTP 429, code 99991400, x-ogw-ratelimit-reset) waited out; the
-- sub-departments.  In a transaction rolled back.
BEGIN;
SELECT plan(12);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_fs_secret', 'stub-feishu-secret') AS s1,
       concord.secret_set('tap_fs_wrong', 'wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.fs(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('feishu', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'feishu'), 'app_id', 'cli_stubapp',
    'app_secret', 'tap_fs_secret') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tfs1', 'feishu', '{"n": 120, "faults": [{"kind": "expire", "request": 2}, {"kind": "ratelimit", "request": 4}]}') AS r \gset
SELECT is(pg_temp.fs('fs_users', 'tfs1'), 'fs_users', 'a source from the feishu template');
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is(pg_temp.vsync('fs_users'), 'ok', 'it syncs: the token is invalid on page 2, the rate limit on page 3');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '1 second', 'the reset of the rate limit was waited for');
SELECT results_eq($$SELECT pages, records, retries FROM pg_temp.vrun('fs_users')$$, $$VALUES (3::bigint, 120::bigint, 2)$$,
  'three pages of 50 while has_more; two retries');
SELECT is((pg_temp.vstats('tfs1') ->> 'tokens_issued')::int, 2, 'two tenant_access_tokens');
SELECT matches(pg_temp.vstats('tfs1') -> 'urls' ->> 4, 'page_token=', 'later pages ask with the page_token given');
SELECT results_eq(
  $$SELECT open_id, name, mobile, department_ids, is_resigned, join_time FROM sync_vendor.fs_users ORDER BY open_id$$,
  $$SELECT t ->> 'open_id', t ->> 'name', t ->> 'mobile', ARRAY(SELECT jsonb_array_elements_text(t -> 'department_ids')),
           (t -> 'status' ->> 'is_resigned')::boolean, to_timestamp((t ->> 'join_time')::bigint)
      FROM pg_temp.vtruth('tfs1') t ORDER BY 1$$,
  'every user: department_ids as text[], status flags, join_time from Unix seconds');

SELECT pg_temp.fs('fs_wrong', 'tfs1', '{"app_secret": "tap_fs_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('fs_wrong'),
  '^28000: source "fs_wrong" could not get a token from \S+/tenant_access_token/internal: status 200$',
  'a wrong app secret: code 10014 from the token endpoint, 28000');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements_text(pg_temp.vstats('tfs1') -> 'bodies') b WHERE b ~ 'wrong'), 0,
  'the app secret went in the token request''s body only, never to the data endpoints');

SELECT pg_temp.vreset('tfs2', 'feishu', '{"n": 10, "departments": 3}') AS r \gset
SELECT pg_temp.fs('fs_depts', 'tfs2', '{"object": "departments"}') AS c \gset
SELECT is(pg_temp.vsync('fs_depts'), 'ok', 'the sub-departments');
SELECT results_eq($$SELECT department_id, name, member_count, is_deleted FROM sync_vendor.fs_depts ORDER BY 1$$,
  $$VALUES ('D001', '部门 1', 1, false), ('D002', '部门 2', 2, false), ('D003', '部门 3', 3, false)$$, 'the three of them');
SELECT is(pg_temp.vstats('tfs2') -> 'last_query', '{"fetch_child": "true", "page_size": "50", "department_id_type": "open_department_id"}',
  'asked with fetch_child, 50 a page');

SELECT * FROM finish();
ROLLBACK;
