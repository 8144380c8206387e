-- Secrets per department: each secret is usable only by the roles its
-- owner granted it to (and superusers), whoever holds concord_http.
-- Two departments' people, 销售 (sales) and 财务 (finance), LOGIN roles
-- holding only concord_http, each unable to send the other's secret in a
-- request header; grants to groups reach members that inherit, not
-- NOINHERIT ones; only owners and superusers grant; secret_set and
-- secret_set_file are for superusers, and the file is checked.  In a
-- transaction rolled back (its roles too).
BEGIN;
SELECT plan(39);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

CREATE ROLE 销售 LOGIN IN ROLE concord_http;
CREATE ROLE 财务 LOGIN IN ROLE concord_http;
SELECT concord.secret_set('tap_sales_crm', 'sales-crm-token-1111'),
       concord.secret_set('tap_fin_billing', 'finance-billing-key-2222') \gset

-- the value the stub received in header X-Api-Key, or the error
CREATE FUNCTION pg_temp.sent(secret text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  got text;
BEGIN
  SELECT body::jsonb #>> '{headers,x-api-key}' INTO got
    FROM concord.http_get(current_setting('concord_test.stub_url') || '/echo',
                          headers => jsonb_build_object('X-Api-Key', jsonb_build_object('secret', secret)));
  RETURN got;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the hint of the error a statement raises
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN h;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.sent(text), pg_temp.hint_of(text) TO PUBLIC;

------------------------------------------------------------------------------
-- Before any grant, concord_http is not enough
------------------------------------------------------------------------------

SET LOCAL ROLE 销售;
SELECT is(pg_temp.sent('tap_sales_crm'), '42501: permission denied for secret "tap_sales_crm"',
  'without a grant, 销售 may not send even her department''s secret');
RESET ROLE;
SELECT is(pg_temp.sent('tap_sales_crm'), 'sales-crm-token-1111', 'a superuser may use every secret');

SELECT ok(concord.secret_grant('tap_sales_crm', '销售'), 'the owner grants sales'' token to 销售');
SELECT ok(concord.secret_grant('tap_fin_billing', '财务'), 'and finance''s key to 财务');
SELECT ok(NOT concord.secret_grant('tap_fin_billing', '财务'), 'granting again changes nothing (false)');
SELECT is((SELECT string_agg(format('%s %s %s', secret, pg_get_userbyid(grantee), pg_get_userbyid(granted_by)), ', ' ORDER BY secret)
             FROM concord.secret_grant WHERE secret LIKE 'tap\_%'),
  'tap_fin_billing 财务 postgres, tap_sales_crm 销售 postgres',
  'the grants are rows of concord.secret_grant, with who granted them');

------------------------------------------------------------------------------
-- Each department its own secret, not the other's
------------------------------------------------------------------------------

SET LOCAL ROLE 销售;
SELECT is(pg_temp.sent('tap_sales_crm'), 'sales-crm-token-1111', '销售 sends sales'' token');
SELECT is(pg_temp.sent('tap_fin_billing'), '42501: permission denied for secret "tap_fin_billing"',
  '销售 may not send finance''s key');
SELECT is(pg_temp.hint_of(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo',
                                 '{"X-Api-Key": {"secret": "tap_fin_billing"}}')),
  'Role 销售 may not use it. Its owner (postgres) or a superuser can allow it: SELECT concord.secret_grant(''tap_fin_billing'', ''销售'');',
  'the hint names the role and the call that would allow it');
SELECT throws_ok($$SELECT * FROM concord.secret_grant$$, '42501', 'permission denied for table secret_grant',
  '销售 cannot read the grants');
SELECT throws_ok($$SELECT concord.secret_grant('tap_fin_billing', '销售')$$, '42501',
  'permission denied for function secret_grant', 'nor grant herself finance''s key');
SELECT is(concord.secret_usable('tap_sales_crm', '销售'), true, 'secret_usable (for concord_http): 销售 may use sales'' token');
SELECT is(concord.secret_usable('tap_fin_billing', '销售'), false, 'but not finance''s key');
SELECT is(concord.secret_usable('no_such_secret', '销售'), false, 'nor a secret that does not exist');
RESET ROLE;

SET LOCAL ROLE 财务;
SELECT is(pg_temp.sent('tap_fin_billing'), 'finance-billing-key-2222', '财务 sends finance''s key');
SELECT is(pg_temp.sent('tap_sales_crm'), '42501: permission denied for secret "tap_sales_crm"',
  '财务 may not send sales'' token');
SELECT is(pg_temp.sent('no_such_secret'), '42704: secret "no_such_secret" does not exist',
  'a secret that does not exist is still reported as such');
RESET ROLE;

------------------------------------------------------------------------------
-- Groups: a grant to a group reaches the members that inherit
------------------------------------------------------------------------------

CREATE ROLE tap_sales_team NOLOGIN IN ROLE concord_http;
CREATE ROLE tap_sales_rep LOGIN IN ROLE tap_sales_team;
CREATE ROLE tap_sales_noinherit LOGIN NOINHERIT IN ROLE tap_sales_team;
SELECT ok(concord.secret_grant('tap_sales_crm', 'tap_sales_team'), 'a grant to a group role');
SELECT is(concord.secret_usable('tap_sales_crm', 'tap_sales_rep'), true, 'reaches a member that inherits');
SELECT is(concord.secret_usable('tap_sales_crm', 'tap_sales_noinherit'), false, 'not a NOINHERIT member');
SET LOCAL ROLE tap_sales_rep;
SELECT is(pg_temp.sent('tap_sales_crm'), 'sales-crm-token-1111', 'the member sends it');
RESET ROLE;
SET LOCAL ROLE tap_sales_noinherit;
SET LOCAL ROLE tap_sales_team;
SELECT is(pg_temp.sent('tap_sales_crm'), 'sales-crm-token-1111', 'the NOINHERIT member, once she takes on the group''s role');
RESET ROLE;

------------------------------------------------------------------------------
-- Revoking, dropping; who may grant
------------------------------------------------------------------------------

SELECT ok(concord.secret_revoke('tap_sales_crm', '销售'), 'the owner revokes 销售''s grant');
SELECT ok(NOT concord.secret_revoke('tap_sales_crm', '销售'), 'revoking again: false');
SET LOCAL ROLE 销售;
SELECT is(pg_temp.sent('tap_sales_crm'), '42501: permission denied for secret "tap_sales_crm"',
  'the next request of 销售 is refused');
RESET ROLE;
GRANT EXECUTE ON FUNCTION concord.secret_grant(text, regrole), concord.secret_set(text, text),
  concord.secret_set_file(text, text) TO 财务;
SET LOCAL ROLE 财务;
SELECT throws_ok($$SELECT concord.secret_grant('tap_sales_crm', '财务')$$, '42501',
  'must be the owner of secret "tap_sales_crm" to grant its use',
  'even with EXECUTE, only the owner or a superuser grants a secret');
SELECT throws_ok($$SELECT concord.secret_set('tap_fin_own', 'x')$$, '42501',
  'must be superuser to call concord.secret_set', 'and only superusers set secrets');
SELECT throws_ok($$SELECT concord.secret_set_file('tap_fin_own', '/etc/hostname')$$, '42501',
  'must be superuser to call concord.secret_set_file', 'or set them from a file');
RESET ROLE;
SELECT throws_ok($$SELECT concord.secret_grant('no_such_secret', '销售')$$, '42704',
  'secret "no_such_secret" does not exist', 'a grant of a secret that does not exist');
SELECT throws_ok($$SELECT concord.secret_grant('tap_sales_crm', 'no_such_role')$$, '42704',
  'role "no_such_role" does not exist', 'a grant to a role that does not exist');
SELECT ok(concord.secret_drop('tap_fin_billing'), 'dropping a secret');
SELECT is((SELECT count(*)::int FROM concord.secret_grant WHERE secret = 'tap_fin_billing'), 0, 'drops its grants');

------------------------------------------------------------------------------
-- secret_set_file: the value from a file on the server
------------------------------------------------------------------------------

SELECT current_setting('data_directory') AS dd \gset
\set file_ok :dd '/tap_secret_file.txt'
\set file_empty :dd '/tap_secret_empty.txt'
\set file_large :dd '/tap_secret_large.txt'
COPY (SELECT 'file-secret-3333') TO :'file_ok';
SELECT lives_ok(format('SELECT concord.secret_set_file(%L, %L)', 'tap_from_file', :'dd' || '/tap_secret_file.txt'),
  'secret_set_file reads a file the server can read');
SELECT is(pg_temp.sent('tap_from_file'), 'file-secret-3333', 'its value is the file without its trailing line break');
SELECT throws_ok($$SELECT concord.secret_set_file('tap_from_file', 'tap_secret_file.txt')$$, '22023',
  'secret file path "tap_secret_file.txt" is not absolute', 'a relative path is refused');
SELECT throws_ok(format('SELECT concord.secret_set_file(%L, %L)', 'tap_from_file', :'dd' || '/no_such_file'), '58P01',
  format('could not open secret file "%s/no_such_file": No such file or directory', :'dd'), 'a missing file');
SELECT throws_ok(format('SELECT concord.secret_set_file(%L, %L)', 'tap_from_file', :'dd'), '42809',
  format('secret file "%s" is not a regular file', :'dd'), 'a directory');
COPY (SELECT '') TO :'file_empty';
SELECT throws_ok(format('SELECT concord.secret_set_file(%L, %L)', 'tap_from_file', :'dd' || '/tap_secret_empty.txt'), '22023',
  format('secret file "%s/tap_secret_empty.txt" is empty', :'dd'), 'an empty file (a line break only)');
COPY (SELECT repeat('x', 70000)) TO :'file_large';
SELECT throws_ok(format('SELECT concord.secret_set_file(%L, %L)', 'tap_from_file', :'dd' || '/tap_secret_large.txt'), '54000',
  format('secret file "%s/tap_secret_large.txt" has 70001 bytes, more than the 65536 a secret may have', :'dd'),
  'a file larger than 64 kB');

SELECT * FROM finish();
ROLLBACK;
