-- sync: least privilege.  Sources are for members of concord_sync; a run
-- writes as the role that runs it; a source belongs to its owner; state
-- tables cannot be forged; credentials reach no table and no log.
BEGIN;
SELECT plan(24);
\ir setup.psql

CREATE ROLE tap_sync_user LOGIN IN ROLE concord_sync;
CREATE ROLE tap_sync_other LOGIN IN ROLE concord_sync;
CREATE ROLE tap_nobody LOGIN;
GRANT USAGE, CREATE ON SCHEMA sync_test TO tap_sync_user, tap_sync_other;
SELECT concord.secret_set('t_priv_token', 'stub-token-789') AS s \gset
SELECT concord.secret_grant('t_priv_token', 'tap_sync_user') AS g \gset
SELECT pg_temp.stub('/sync/prv/reset', '{"n": 10, "auth": "bearer"}') ->> 'ok' AS reset \gset

CREATE FUNCTION pg_temp.try(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

------------------------------------------------------------------------------
-- Without concord_sync: nothing
------------------------------------------------------------------------------

SET LOCAL ROLE tap_nobody;
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'prv_x', pg_temp.spec('prv', 'customers', 'page'))),
  '42501: permission denied for function source_create', 'a role without concord_sync cannot define sources');
SELECT is(pg_temp.try('CALL concord.sync(''prv_x'')'), '42501: permission denied for procedure sync',
  'nor run them');
SELECT is(pg_temp.try('SELECT * FROM concord.source'), '42501: permission denied for table source', 'nor read them');
SELECT is(pg_temp.try('SELECT * FROM concord.sync_run'), '42501: permission denied for table sync_run', 'nor their runs');
SELECT is(pg_temp.try('SELECT * FROM concord.sync_reject'), '42501: permission denied for table sync_reject',
  'nor the rejected records');
SELECT is(pg_temp.try('SELECT concord.source_schedule(''prv_x'', ''@hourly'')'),
  '42501: permission denied for function source_schedule', 'nor schedule them');
RESET ROLE;

------------------------------------------------------------------------------
-- A member of concord_sync: its own sources and tables
------------------------------------------------------------------------------

SET LOCAL ROLE tap_sync_user;
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'prv_mine',
    pg_temp.spec('prv', 'customers', 'page', '{"auth": {"type": "bearer", "token": {"secret": "t_priv_token"}}}'))),
  'ok', 'a member defines a source (the table is created as the member)');
SELECT is((SELECT tableowner::text FROM pg_tables WHERE schemaname = 'sync_test' AND tablename = 'prv_customers'),
  'tap_sync_user', 'the member owns the table the source created');
SELECT is(pg_temp.try('CALL concord.sync(''prv_mine'')'), 'ok', 'and runs it, with a secret it cannot read');
SELECT is((SELECT count(*)::int FROM sync_test.prv_customers), 10, 'the rows arrived');
SELECT is((SELECT run_by::text FROM concord.sync_run WHERE source = 'prv_mine'), 'tap_sync_user', 'the run records who ran it');
SELECT is(pg_temp.try('SELECT * FROM concord.secret'), '42501: permission denied for table secret',
  'the member cannot read the secrets table');
SELECT is(pg_temp.try('INSERT INTO concord.sync_run (source, status) VALUES (''prv_mine'', ''succeeded'')'),
  '42501: permission denied for table sync_run', 'nor forge a run');
SELECT is(pg_temp.try('UPDATE concord.sync_state SET cursor_value = NULL'),
  '42501: permission denied for table sync_state', 'nor move a cursor');
SELECT is(pg_temp.try('UPDATE concord.source SET spec = ''{}'''),
  '42501: permission denied for table source', 'nor edit a spec behind the functions');
RESET ROLE;

-- a table the member may not write
CREATE TABLE sync_test.prv_locked (id bigint PRIMARY KEY, name text);
GRANT SELECT ON sync_test.prv_locked TO tap_sync_user;
SET LOCAL ROLE tap_sync_user;
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'prv_locked',
    pg_temp.spec('prv', 'customers', 'page', '{"auth": {"type": "bearer", "token": {"secret": "t_priv_token"}},
      "target": {"table": "sync_test.prv_locked"}, "columns": [{"name": "id"}, {"name": "name"}]}'))),
  '42501: permission denied to insert into table prv_locked for source "prv_locked"',
  'a source cannot target a table its owner may not write');
RESET ROLE;

-- a source of someone else
SET LOCAL ROLE tap_sync_other;
SELECT is(pg_temp.try(format('SELECT concord.source_alter(%L, %L)', 'prv_mine', pg_temp.spec('prv', 'customers', 'page'))),
  '42501: must be the owner of source "prv_mine" (tap_sync_user) to change it', 'another member cannot alter it');
SELECT is(pg_temp.try('SELECT concord.source_drop(''prv_mine'')'),
  '42501: must be the owner of source "prv_mine" (tap_sync_user) to change it', 'nor drop it');
SELECT is(pg_temp.try('SELECT concord.source_reset(''prv_mine'')'),
  '42501: must be the owner of source "prv_mine" (tap_sync_user) to change it', 'nor reset it');
SELECT is(pg_temp.try('CALL concord.sync(''prv_mine'')'),
  '42501: must be the owner of source "prv_mine" (tap_sync_user) to run it',
  'nor run it (a run uses the credentials its owner may use)');
RESET ROLE;

-- the allowlist holds for sources too
SET LOCAL ROLE tap_sync_user;
SELECT is(pg_temp.try(format('SELECT concord.source_create(%L, %L)', 'prv_far',
    pg_temp.spec('prv', 'customers', 'page', '{"request": {"url": "http://127.0.0.2:9/x"},
      "target": {"table": "sync_test.prv_far", "create": true, "primary_key": "id"}}'))), 'ok',
  'a source may name any URL');
SELECT matches(pg_temp.try('CALL concord.sync(''prv_far'')'),
  '^42501: source "prv_far": page 1: destination 127.0.0.2 port 9 is not allowed',
  'but a run reaches only hosts in concord.http_allow');
SELECT is(pg_temp.try('SELECT concord.source_drop(''prv_mine'', true)'), 'ok', 'the owner drops its source and table');
RESET ROLE;

SELECT is((SELECT count(*)::int FROM concord.sync_run r WHERE r::text LIKE '%stub-token-789%'), 0,
  'the token is in no run row');

SELECT * FROM finish();
ROLLBACK;
