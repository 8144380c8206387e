-- sync template yonyou, against the Yonyou YonBIP stand-in: an
-- access_token from /open-auth/selfAppAuth/getAccessToken for the app's
-- key, signed with its secret (HMAC-SHA256 of appKey<key>timestamp<ms>,
-- base64), as a query parameter; customers by pageIndex/pageSize in the
-- JSON body to recordCount; code "200" in every answer: an expired token
-- (its code) renewed once, 429 retried, a wrong secret refused (a bad
-- signature); incremental on pubts inside the body's filter.  In a
-- transaction rolled back.
BEGIN;
SELECT plan(12);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_yy_secret', 'stub-yonyou-secret') AS s1,
       concord.secret_set('tap_yy_wrong', 'wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.yy(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('yonyou', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'yonyou'), 'app_key', 'stubyonyouappkey',
    'app_secret', 'tap_yy_secret') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tyy1', 'yonyou', '{"n": 230, "faults": [{"kind": "expire", "request": 2}, {"kind": "429", "request": 4}]}') AS r \gset
SELECT is(pg_temp.yy('yy_customers', 'tyy1'), 'yy_customers', 'a source from the yonyou template');
SELECT is(pg_temp.vsync('yy_customers'), 'ok', 'it syncs: the token expires on page 2, a 429 on page 3');
SELECT results_eq($$SELECT pages, records, retries FROM pg_temp.vrun('yy_customers')$$, $$VALUES (3::bigint, 230::bigint, 2)$$,
  'three pages of 100 to recordCount; two retries');
SELECT is((pg_temp.vstats('tyy1') ->> 'tokens_issued')::int, 2, 'two tokens, each got with a valid signature');
SELECT is((pg_temp.vstats('tyy1') ->> 'last_body')::jsonb,
  '{"simpleVOs": [{"op": "egt", "field": "pubts", "value1": "1970-01-01 00:00:00"}], "pageIndex": 3, "pageSize": 100}',
  'pageIndex and pageSize in the body, beside the filter from the start');
SELECT results_eq(
  $$SELECT id, code, name, contact_name, region, pubts FROM sync_vendor.yy_customers ORDER BY id$$,
  $$SELECT (t ->> 'id')::bigint, t ->> 'code', t -> 'name' ->> 'zh_CN', t ->> 'contactName', t ->> 'region',
           (t ->> 'pubts')::timestamp FROM pg_temp.vtruth('tyy1') t ORDER BY 1$$,
  'every customer: the Chinese name from name.zh_CN, pubts as a timestamp');

SELECT pg_temp.yy('yy_wrong', 'tyy1', '{"app_secret": "tap_yy_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('yy_wrong'),
  '^28000: source "yy_wrong" could not get a token from \S+/getAccessToken\?\S*signature=\*\*\*\S*: status 200$',
  'a wrong secret: a bad signature, refused; the signature not shown');

-- incremental: pubts >= the newest pubts, in Yonyou's form
SELECT pg_temp.vmutate('tyy1', '{"update": [4, 5], "add": 3}') AS m \gset
SELECT is(pg_temp.vsync('yy_customers'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, inserted, updated FROM pg_temp.vrun('yy_customers')$$, $$VALUES (6::bigint, 3::bigint, 2::bigint)$$,
  'the three new, the two changed, and the newest of before');
SELECT is((pg_temp.vstats('tyy1') ->> 'last_body')::jsonb #>> '{simpleVOs,0,value1}', '2026-01-01 11:50:00',
  'the cursor (the newest pubts, Beijing time as Yonyou writes it) went into the filter as yyyy-MM-dd HH:mm:ss');
SELECT is((SELECT count(*)::int FROM sync_vendor.yy_customers), 233, 'every customer once');
SELECT throws_ok($$SELECT concord.source_create_from_template('yy_x', 'yonyou', '{"table": "x", "app_key": "k", "app_secret": "s"}')$$,
  '22023', 'template "yonyou" needs parameter "base_url"', 'the tenant''s gateway is required');

SELECT * FROM finish();
ROLLBACK;
