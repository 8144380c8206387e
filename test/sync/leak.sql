-- sync: a credential's plaintext is nowhere a run leaves traces — no table
-- of the database, no server log line — whether the run succeeds or fails.
-- The runs commit and fail for real in a second session (dblink), so that
-- their errors reach the server log: a login holding concord_sync alone
-- (docs/sync.md), tap_leak_syncer, whose sources they are (the call log on
-- for its sessions).  The allowlist, the secrets and their grants, and
-- the search of every table and of the log, are a superuser's; what the
-- sessions create is removed at the end.
\o /dev/null
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_leak', :'conn') AS c \gset
-- What this test (or an interrupted run of it) leaves, removed through the
-- second session (made before the test's transaction, so it outlives it).
CREATE FUNCTION pg_temp.clean_leak() RETURNS text
LANGUAGE sql AS $f$
  SELECT dblink_exec('tap_leak', format($q$DO $d$ BEGIN
    PERFORM concord.source_drop(n, true) FROM unnest(ARRAY['tap_leak_ok', 'tap_leak_bad', 'tap_leak_oauth']) n;
    DELETE FROM concord.sync_run WHERE source LIKE 'tap\_leak\_%%';
    DELETE FROM concord.http_call_log WHERE url LIKE '%%/sync/leak%%';
    PERFORM concord.secret_drop(n) FROM unnest(ARRAY['tap_leak_right', 'tap_leak_wrong', 'tap_leak_client']) n;
    DROP SCHEMA IF EXISTS sync_leak CASCADE;
    PERFORM concord.http_disallow_host('127.0.0.0/8', %s);
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_leak_syncer') THEN
      DROP OWNED BY tap_leak_syncer;
      DROP ROLE tap_leak_syncer;
    END IF;
  END $d$$q$, current_setting('concord_test.stub_port')))
$f$;
\o

BEGIN;
SELECT plan(7);
-- (no tap_syncer: its membership would lock concord_sync until the end of
-- this transaction, and the second session makes tap_leak_syncer a member)
\set sync_no_syncer 1
\ir setup.psql


-- q run in the session of tap_leak_syncer: 'ok' or "SQLSTATE: message"
CREATE FUNCTION pg_temp.remote(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM dblink_exec('tap_leak_run', q);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the server log from here on (what earlier tests wrote is not this test's)
SELECT current_setting('data_directory') || '/../postgres.log' AS logfile \gset
SELECT (pg_stat_file(:'logfile')).size AS log_start \gset

SELECT pg_temp.clean_leak() AS cleaned \gset

CREATE TEMP TABLE plain (v text);
INSERT INTO plain VALUES ('stub-token-789'), ('leak-wrong-token-5353'), ('stub-secret-000');

SELECT pg_temp.stub('/sync/leak/reset', '{"n": 15, "auth": "bearer"}') ->> 'ok' AS r1,
       pg_temp.stub('/sync/leako/reset', '{"n": 15, "auth": "oauth2"}') ->> 'ok' AS r2 \gset

-- committed by a superuser: allowlist, secrets, the login and its schema
SELECT dblink_exec('tap_leak', format($q$DO $d$ BEGIN
  PERFORM concord.http_allow_host('127.0.0.0/8', %s, note => 'tap sync leak');
  PERFORM concord.secret_set('tap_leak_right', 'stub-token-789');
  PERFORM concord.secret_set('tap_leak_wrong', 'leak-wrong-token-5353');
  PERFORM concord.secret_set('tap_leak_client', 'stub-secret-000');
  CREATE ROLE tap_leak_syncer LOGIN IN ROLE concord_sync;
  ALTER ROLE tap_leak_syncer SET concord.http_log = on;
  PERFORM concord.secret_grant(n, 'tap_leak_syncer') FROM unnest(ARRAY['tap_leak_right', 'tap_leak_wrong', 'tap_leak_client']) n;
  CREATE SCHEMA sync_leak AUTHORIZATION tap_leak_syncer;
END $d$$q$, :'p')) AS admin_setup \gset
SELECT dblink_connect('tap_leak_run', :'conn' || ' user=tap_leak_syncer') AS c2 \gset
-- and the login's sources, in its session
SELECT pg_temp.remote(format($q$DO $d$ BEGIN
  PERFORM concord.source_create('tap_leak_ok', %L);
  PERFORM concord.source_create('tap_leak_bad', %L);
  PERFORM concord.source_create('tap_leak_oauth', %L);
END $d$$q$,
  pg_temp.spec('leak', 'customers', 'page', '{"auth": {"type": "bearer", "token": {"secret": "tap_leak_right"}},
    "target": {"table": "sync_leak.ok", "create": true, "primary_key": "id"}}'),
  pg_temp.spec('leak', 'customers', 'page', '{"auth": {"type": "bearer", "token": {"secret": "tap_leak_wrong"}},
    "target": {"table": "sync_leak.bad", "create": true, "primary_key": "id"}}'),
  pg_temp.spec('leako', 'customers', 'page', jsonb_build_object('auth', jsonb_build_object(
    'type', 'oauth2', 'token_url', :'u' || '/sync/leako/oauth/token', 'client_id', 'concord',
    'client_secret', jsonb_build_object('secret', 'tap_leak_client')),
    'target', '{"table": "sync_leak.oauth", "create": true, "primary_key": "id"}'::jsonb)))) AS setup \gset
SELECT is(:'setup'::text, 'ok', 'sources with credentials are set up in a second session');

SELECT is(pg_temp.remote('CALL concord.sync(''tap_leak_ok'')'), 'ok', 'a run with the right token');
SELECT is(pg_temp.remote('CALL concord.sync(''tap_leak_oauth'')'), 'ok', 'an OAuth2 run');
SELECT matches(pg_temp.remote('CALL concord.sync(''tap_leak_bad'')'),
  '^28000: source "tap_leak_bad": page 1 from .* answered status 401',
  'a run with a wrong token fails (and its error goes to the server log)');

-- every table of the database, every row as text
CREATE FUNCTION pg_temp.tables_with(needle text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  t regclass;
  hits text := '';
  n bigint;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND s.nspname NOT IN ('pg_catalog', 'information_schema')
              AND s.nspname NOT LIKE 'pg_toast%' AND s.nspname NOT LIKE 'pg_temp%'
  LOOP
    EXECUTE format('SELECT count(*) FROM %s x WHERE x::text LIKE %L', t, '%' || needle || '%') INTO n;
    IF n > 0 THEN hits := hits || t::text || ' '; END IF;
  END LOOP;
  RETURN hits;
END $$;

SELECT is((SELECT string_agg(pg_temp.tables_with(v), '') FROM plain), '',
  'no table of the database holds a credential''s plaintext');
SELECT cmp_ok((SELECT count(*)::int FROM concord.http_call_log WHERE url LIKE '%/sync/leak%'), '>=', 6,
  'the runs were logged in the call log (and it was searched)');

SELECT is((SELECT count(*)::int FROM plain
            WHERE position(v IN pg_read_file(:'logfile', :log_start, 100000000)) > 0), 0,
  'no line of the server log holds a credential''s plaintext');

SELECT * FROM finish();
ROLLBACK;

\o /dev/null
SELECT dblink_disconnect('tap_leak_run');
SELECT pg_temp.clean_leak();
SELECT dblink_disconnect('tap_leak');
\o
