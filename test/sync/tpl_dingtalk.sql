-- sync template dingtalk, against the DingTalk stand-in: an access_token
-- from /gettoken for the app's key and secret, sent as a query parameter;
-- users by cursor in the JSON body (a number) while has_more; errcode in
-- every answer: a token that expires mid-walk (40014) renewed once, the
-- rate limit (90018) retried, a wrong secret refused by /gettoken; the
-- sub-departments.  In a transaction rolled back.
BEGIN;
SELECT plan(13);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_dt_secret', 'stub-dingtalk-secret') AS s1,
       concord.secret_set('tap_dt_wrong', 'wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.dt(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('dingtalk', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'dingtalk'), 'app_key', 'dingstubappkey',
    'app_secret', 'tap_dt_secret') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tdt1', 'dingtalk', '{"n": 250, "faults": [{"kind": "expire", "request": 2}, {"kind": "ratelimit", "request": 4}]}') AS r \gset
SELECT is(pg_temp.dt('dt_users', 'tdt1'), 'dt_users', 'a source from the dingtalk template');
SELECT is(pg_temp.vsync('dt_users'), 'ok', 'it syncs: the token expires on page 2, the rate limit on page 3');
SELECT results_eq($$SELECT pages, records, retries FROM pg_temp.vrun('dt_users')$$, $$VALUES (3::bigint, 250::bigint, 2)$$,
  'three pages of 100; two retries: the renewal (40014) and the rate limit (90018)');
SELECT results_eq($$SELECT (s ->> 'tokens_issued')::int, (s ->> 'data_requests')::int FROM pg_temp.vstats('tdt1') s$$,
  $$VALUES (2, 5)$$, 'two tokens; five requests for three pages');
SELECT is((pg_temp.vstats('tdt1') ->> 'last_body')::jsonb, '{"dept_id": 1, "language": "zh_CN", "cursor": 200, "size": 100}',
  'the cursor goes in the body as the number the API gave');
SELECT is(pg_temp.vstats('tdt1') -> 'urls' ->> 0 ~ '\?access_token=[^&]+$', true, 'the token goes as access_token');
SELECT results_eq(
  $$SELECT userid, name, mobile, title, dept_id_list, hired_date, admin FROM sync_vendor.dt_users ORDER BY userid$$,
  $$SELECT t ->> 'userid', t ->> 'name', t ->> 'mobile', t ->> 'title',
           ARRAY(SELECT jsonb_array_elements_text(t -> 'dept_id_list'))::bigint[],
           to_timestamp((t ->> 'hired_date')::bigint / 1000.0), (t ->> 'admin')::boolean
      FROM pg_temp.vtruth('tdt1') t ORDER BY 1$$,
  'every user: dept_id_list as bigint[], hired_date from Unix milliseconds');

SELECT pg_temp.dt('dt_wrong', 'tdt1', '{"app_secret": "tap_dt_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('dt_wrong'),
  '^28000: source "dt_wrong" could not get a token from \S+/gettoken\?appkey=\*\*\*&appsecret=\*\*\*: status 200$',
  'a wrong app secret: /gettoken answers errcode 40089; key and secret not shown');
SELECT is((SELECT error FROM pg_temp.vrun('dt_wrong')) IS NULL, true, '(the failed run rolled back with the test''s block)');

-- the rate limit that never ends: the API's code, after the attempts
SELECT pg_temp.vreset('tdt2', 'dingtalk', '{"n": 50, "faults": [{"kind": "ratelimit", "times": -1}]}') AS r \gset
SELECT pg_temp.dt('dt_busy', 'tdt2') AS c \gset
SELECT matches(pg_temp.vsync('dt_busy'),
  '^08000: source "dt_busy": page 1 from \S+ answered error 90018: ',
  'a rate limit past max_attempts: 08000 with the API''s code and message');

SELECT pg_temp.vreset('tdt3', 'dingtalk', '{"n": 10, "departments": 4}') AS r \gset
SELECT pg_temp.dt('dt_depts', 'tdt3', '{"object": "departments"}') AS c \gset
SELECT is(pg_temp.vsync('dt_depts'), 'ok', 'the sub-departments');
SELECT results_eq($$SELECT dept_id, name, parent_id FROM sync_vendor.dt_depts ORDER BY 1$$,
  $$VALUES (2::bigint, '部门 2', 1::bigint), (3, '部门 3', 1), (4, '部门 4', 1), (5, '部门 5', 1)$$, 'the four of them');
SELECT throws_ok($$SELECT concord.source_template_spec('dingtalk', '{"table": "x", "app_key": "k", "app_secret": "s", "incremental": true}')$$,
  '22023', 'template "dingtalk": the contact API has no change filter; use incremental false', 'no incremental mode');

SELECT * FROM finish();
ROLLBACK;
