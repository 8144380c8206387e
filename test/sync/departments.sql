-- sync: a source uses only the secrets its owner may use.  Two
-- departments' people, 销售 (sales) and 财务 (finance), LOGIN roles holding
-- only concord_sync, each with a token granted to her: neither can name the
-- other's in a source's auth or headers (checked at source_create and
-- source_alter, whoever alters, for the source's owner), a revoked grant
-- stops the next run, and a credential typed into request.headers is
-- refused like one in auth.  In a transaction rolled back.
BEGIN;
SELECT plan(18);
\ir setup.psql

CREATE ROLE 销售 LOGIN IN ROLE concord_sync;
CREATE ROLE 财务 LOGIN IN ROLE concord_sync;
GRANT USAGE, CREATE ON SCHEMA sync_test TO 销售, 财务;
-- both the stub's bearer token (sales' for auth.token, finance's as a whole
-- Authorization header), so either would work upstream
SELECT concord.secret_set('tap_dep_sales_token', 'stub-token-789'),
       concord.secret_set('tap_dep_fin_token', 'Bearer stub-token-789') \gset
SELECT concord.secret_grant('tap_dep_sales_token', '销售'),
       concord.secret_grant('tap_dep_fin_token', '财务') \gset
SELECT pg_temp.stub('/sync/dep/reset', '{"n": 9, "auth": "bearer"}') ->> 'ok' AS reset \gset

CREATE FUNCTION pg_temp.try(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;
-- a customers source of namespace dep into table sync_test.<table>, with extra
CREATE FUNCTION pg_temp.dep_spec(tbl text, extra jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT pg_temp.spec('dep', 'customers', 'page',
    jsonb_build_object('target', jsonb_build_object('table', 'sync_test.' || tbl, 'create', true, 'primary_key', 'id')) || extra)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.dep_spec(text, jsonb) TO PUBLIC;
CREATE FUNCTION pg_temp.create_as(tbl text, secret text, place text DEFAULT 'auth') RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_' || tbl,
    pg_temp.dep_spec(tbl, CASE place
      WHEN 'auth' THEN jsonb_build_object('auth', jsonb_build_object('type', 'bearer', 'token', jsonb_build_object('secret', secret)))
      ELSE jsonb_build_object('request', jsonb_build_object('url', current_setting('concord_test.stub_url') || '/sync/dep/customers/page',
             'headers', jsonb_build_object('Authorization', jsonb_build_object('secret', secret)))) END)))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.create_as(text, text, text) TO PUBLIC;

------------------------------------------------------------------------------
-- Each department its own token, in auth and in headers
------------------------------------------------------------------------------

SET LOCAL ROLE 销售;
SELECT is(pg_temp.create_as('sales', 'tap_dep_sales_token'), 'ok', '销售 defines a source with sales'' token');
SELECT is(pg_temp.sync('dep_sales'), 'ok', 'and runs it');
SELECT is((SELECT count(*)::int FROM sync_test.sales), 9, 'the rows arrived');
SELECT is(pg_temp.create_as('sales_x', 'tap_dep_fin_token'),
  '42501: permission denied for secret "tap_dep_fin_token" named by source "dep_sales_x"',
  '销售 cannot name finance''s token in auth');
SELECT is(pg_temp.create_as('sales_h', 'tap_dep_fin_token', 'headers'),
  '42501: permission denied for secret "tap_dep_fin_token" named by source "dep_sales_h"',
  'nor in request.headers');
SELECT is(pg_temp.try(format('SELECT concord.source_alter(%L, %L)', 'dep_sales',
    pg_temp.dep_spec('sales', '{"auth": {"type": "bearer", "token": {"secret": "tap_dep_fin_token"}}}'))),
  '42501: permission denied for secret "tap_dep_fin_token" named by source "dep_sales"',
  'nor switch her source to it');
RESET ROLE;

SET LOCAL ROLE 财务;
SELECT is(pg_temp.create_as('fin', 'tap_dep_fin_token', 'headers'), 'ok', '财务 defines a source with finance''s token in a header');
SELECT is(pg_temp.sync('dep_fin'), 'ok', 'and runs it');
SELECT is(pg_temp.create_as('fin_x', 'tap_dep_sales_token'),
  '42501: permission denied for secret "tap_dep_sales_token" named by source "dep_fin_x"',
  '财务 cannot name sales'' token');
RESET ROLE;

-- a superuser changing 销售's source: the secrets are still 销售's to use
SELECT is(pg_temp.try(format('SELECT concord.source_alter(%L, %L)', 'dep_sales',
    pg_temp.dep_spec('sales', '{"auth": {"type": "bearer", "token": {"secret": "tap_dep_fin_token"}}}'))),
  '42501: permission denied for secret "tap_dep_fin_token" named by source "dep_sales"',
  'a superuser altering 销售''s source cannot give it finance''s token either');

------------------------------------------------------------------------------
-- Checked again at every run
------------------------------------------------------------------------------

SELECT concord.secret_revoke('tap_dep_sales_token', '销售') AS revoked \gset
SET LOCAL ROLE 销售;
SELECT is(pg_temp.sync('dep_sales'),
  '42501: permission denied for secret "tap_dep_sales_token" named by source "dep_sales"',
  'once the grant is revoked, the next run of her source fails');
SELECT is(pg_temp.try('SELECT concord.source_check(''dep_sales'')'),
  '42501: permission denied for secret "tap_dep_sales_token" named by source "dep_sales"',
  'and so does source_check');
RESET ROLE;
SELECT concord.secret_grant('tap_dep_sales_token', '销售') AS regranted \gset
SET LOCAL ROLE 销售;
SELECT is(pg_temp.sync('dep_sales'), 'ok', 'granted again, it runs');
RESET ROLE;

------------------------------------------------------------------------------
-- Credentials typed into request.headers are refused like those in auth
------------------------------------------------------------------------------

SET LOCAL ROLE 销售;
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_lit',
    pg_temp.dep_spec('lit', jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/dep/customers/page',
      'headers', '{"Authorization": "Bearer stub-token-789"}'::jsonb))))),
  '22023: invalid spec for source "dep_lit": request.headers.Authorization must be {"secret": "name"}, not a string',
  'a literal Authorization header');
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_lit',
    pg_temp.dep_spec('lit', jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/dep/customers/page',
      'headers', '{"X-Api-Key": "stub-key-123"}'::jsonb))))),
  '22023: invalid spec for source "dep_lit": request.headers.X-Api-Key must be {"secret": "name"}, not a string',
  'a literal X-Api-Key header');
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_lit',
    pg_temp.dep_spec('lit', jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/dep/customers/page',
      'headers', '{"X-Forwarded-Auth-For": "x"}'::jsonb))))),
  '22023: invalid spec for source "dep_lit": request.headers.X-Forwarded-Auth-For must be {"secret": "name"}, not a string',
  'a header named like a credential');
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_lit',
    pg_temp.dep_spec('lit', jsonb_build_object('request', jsonb_build_object('url', :'u' || '/sync/dep/customers/page',
      'headers', '{"X-Upstream": "Bearer stub-token-789"}'::jsonb))))),
  '22023: invalid spec for source "dep_lit": request.headers.X-Upstream looks like a credential: it must be {"secret": "name"}',
  'a value that looks like a bearer token, whatever the header''s name');
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'dep_lit',
    pg_temp.dep_spec('lit', jsonb_build_object(
      'request', jsonb_build_object('url', :'u' || '/sync/dep/customers/page', 'headers', '{"X-Department": "销售", "Accept-Language": "zh-CN"}'::jsonb),
      'auth', '{"type": "bearer", "token": {"secret": "tap_dep_sales_token"}}'::jsonb)))),
  'ok', 'plain headers stay plain');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
