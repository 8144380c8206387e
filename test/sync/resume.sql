-- sync: data and state commit together per batch of pages, so a run that
-- is killed, canceled or fails part-way resumes at the next run with
-- nothing lost and nothing duplicated.  These runs must commit, so they run
-- in other sessions (dblink) on sources and tables of their own, which
-- are removed at the end.  Those sessions log in as tap_resume_syncer, a
-- role holding concord_sync alone (docs/sync.md), who owns the sources;
-- the set-up and the clean-up are a superuser's (session tap_sync).
BEGIN;
SELECT plan(30);
-- (no tap_syncer: its membership would lock concord_sync until the end of
-- this transaction, and a second session makes tap_resume_syncer a member)
\set sync_no_syncer 1
\ir setup.psql

SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_sync', :'conn') AS c1 \gset

-- Run SQL in the committing session (a SELECT's rows are counted).
CREATE FUNCTION pg_temp.admin(q text) RETURNS text
LANGUAGE sql AS $$
  SELECT CASE WHEN q ~* '^\s*SELECT'
    THEN (SELECT x FROM dblink('tap_sync', format('SELECT count(*)::text FROM (%s) s', q)) AS t(x text))
    ELSE dblink_exec('tap_sync', q) END
$$;

-- Run a sync in the committing session of tap_resume_syncer: 'ok' or
-- "SQLSTATE: message".
CREATE FUNCTION pg_temp.remote_sync(name text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM dblink_exec('tap_syncer', format('CALL concord.sync(%L)', name));
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Wait (up to 10 s) until a run of name has committed at least n pages.
CREATE FUNCTION pg_temp.wait_pages(name text, n int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE got bigint;
BEGIN
  FOR i IN 1..500 LOOP
    SELECT pages INTO got FROM concord.sync_run WHERE source = name ORDER BY run_id DESC LIMIT 1;
    EXIT WHEN got >= n;
    PERFORM pg_sleep(0.02);
  END LOOP;
  RETURN got;
END $$;

\ir ../harness/backends.psql

-- Collect the victim's result, whatever it is.
CREATE FUNCTION pg_temp.drain() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM * FROM dblink_get_result('tap_victim') AS r(x text);
  RETURN 'ok';
EXCEPTION
  -- WHEN OTHERS does not catch a cancel: name it
  WHEN query_canceled THEN
    RETURN SQLSTATE;
  WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;

CREATE FUNCTION pg_temp.runs(name text) RETURNS SETOF concord.sync_run
LANGUAGE sql AS $$ SELECT * FROM concord.sync_run WHERE source = name ORDER BY run_id $$;

-- what an earlier, interrupted run of this file left
CREATE FUNCTION pg_temp.clean() RETURNS text
LANGUAGE sql AS $$
  SELECT pg_temp.admin('SELECT concord.source_drop(n, true) FROM unnest(ARRAY[''tap_kill'', ''tap_cancel'', ''tap_fail'']) n')
      || pg_temp.admin('DELETE FROM concord.sync_run WHERE source IN (''tap_kill'', ''tap_cancel'', ''tap_fail'')')
      || pg_temp.admin('DROP SCHEMA IF EXISTS sync_tap CASCADE')
      || pg_temp.admin(format('SELECT concord.http_disallow_host(''127.0.0.0/8'', %s)', current_setting('concord_test.stub_port')))
      || pg_temp.admin($d$DO $x$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_resume_syncer') THEN
                              DROP OWNED BY tap_resume_syncer; DROP ROLE tap_resume_syncer; END IF; END $x$ $d$)
$$;
SELECT pg_temp.clean() AS cleaned \gset

-- committed set-up: the allowlist row, the login, its schema; its sessions
SELECT pg_temp.admin(format('SELECT concord.http_allow_host(''127.0.0.0/8'', %s, note => ''tap sync resume'')', :'p')) AS a1,
       pg_temp.admin('CREATE ROLE tap_resume_syncer LOGIN IN ROLE concord_sync') AS a2,
       pg_temp.admin('CREATE SCHEMA sync_tap AUTHORIZATION tap_resume_syncer') AS a2s \gset
SELECT dblink_connect('tap_syncer', :'conn' || ' user=tap_resume_syncer') AS c1s,
       dblink_connect('tap_victim', :'conn' || ' user=tap_resume_syncer application_name=tap_sync_victim') AS c2 \gset
-- three sources of the login's
CREATE FUNCTION pg_temp.syncer(q text) RETURNS text
LANGUAGE sql AS $$ SELECT x FROM dblink('tap_syncer', format('SELECT count(*)::text FROM (%s) s', q)) AS t(x text) $$;
SELECT pg_temp.syncer(format('SELECT concord.source_create(%L, %L)', 'tap_kill',
         pg_temp.spec('res', 'customers', 'page',
           '{"target": {"table": "sync_tap.kill", "create": true, "primary_key": "id"}, "batch_pages": 1}'))) AS a3,
       pg_temp.syncer(format('SELECT concord.source_create(%L, %L)', 'tap_cancel',
         pg_temp.spec('res', 'contracts', 'cursor',
           '{"target": {"table": "sync_tap.cancel", "create": true, "primary_key": "contract_no"}, "batch_pages": 1}'))) AS a4,
       pg_temp.syncer(format('SELECT concord.source_create(%L, %L)', 'tap_fail',
         pg_temp.spec('resf', 'invoices', 'offset',
           '{"target": {"table": "sync_tap.fail", "create": true, "primary_key": "invoice_no"}, "batch_pages": 2,
             "mode": {"type": "full_refresh", "delete": "delete"},
             "retry": {"max_attempts": 2, "backoff_ms": 10}}'))) AS a5 \gset

------------------------------------------------------------------------------
-- A backend killed mid-run
------------------------------------------------------------------------------

-- 60 customers in 9 pages of 7, each page 150 ms late
SELECT pg_temp.stub('/sync/res/reset', '{"n": 60, "slow_ms": 150}') ->> 'ok' AS reset \gset
SELECT is(dblink_send_query('tap_victim', 'CALL concord.sync(''tap_kill'')'), 1, 'a second session starts a slow sync');
SELECT pg_temp.active_pid('tap_sync_victim', 'CALL concord.sync%') AS victim \gset
SELECT cmp_ok(pg_temp.wait_pages('tap_kill', 3), '>=', 3::bigint, 'three pages are committed while it runs');
SELECT ok(pg_terminate_backend(:victim), 'its backend is killed');
SELECT ok(pg_temp.gone(:victim), 'the backend is gone');
SELECT dblink_disconnect('tap_victim') AS d \gset

SELECT is((SELECT status FROM pg_temp.runs('tap_kill') LIMIT 1), 'running', 'the killed run is still marked running');
SELECT ok((SELECT count(*) BETWEEN 21 AND 59 FROM sync_tap.kill), 'the committed pages are in the table, not all of them');
SELECT isnt((SELECT pass_run_id FROM concord.sync_state WHERE source = 'tap_kill'), NULL,
  'the position of the pass is committed with them');

SELECT is(pg_temp.remote_sync('tap_kill'), 'ok', 'the next run');
SELECT results_eq($$SELECT status, resumed FROM pg_temp.runs('tap_kill')$$,
  $$VALUES ('interrupted', false), ('succeeded', true)$$,
  'the killed run is marked interrupted; the next one resumed its pass');
SELECT ok((SELECT pages < 9 FROM pg_temp.runs('tap_kill') OFFSET 1), 'the resumed run fetched only the pages left');
SELECT results_eq($$SELECT id, name, phone, status, city, updated_at, lifetime_value FROM sync_tap.kill ORDER BY id$$,
  $$SELECT * FROM pg_temp.upstream_customers('res') ORDER BY id$$,
  'the table holds exactly the upstream data: nothing lost, nothing twice');

------------------------------------------------------------------------------
-- A run canceled mid-way
------------------------------------------------------------------------------

SELECT dblink_connect('tap_victim', :'conn' || ' user=tap_resume_syncer application_name=tap_sync_victim') AS c3 \gset
SELECT is(dblink_send_query('tap_victim', 'CALL concord.sync(''tap_cancel'')'), 1, 'a second session starts another slow sync');
SELECT pg_temp.active_pid('tap_sync_victim', 'CALL concord.sync%') AS victim \gset
SELECT cmp_ok(pg_temp.wait_pages('tap_cancel', 2), '>=', 2::bigint, 'two pages are committed');
SELECT ok(pg_cancel_backend(:victim), 'its query is canceled');
SELECT is(pg_temp.drain(), '57014', 'the sync reports the cancel');
SELECT pg_temp.drain() AS drained \gset
SELECT results_eq($$SELECT status, error_code FROM pg_temp.runs('tap_cancel')$$,
  $$VALUES ('canceled', '57014')$$, 'the canceled run recorded itself as canceled, with the cancel''s SQLSTATE');
SELECT is(pg_temp.remote_sync('tap_cancel'), 'ok', 'the next run');
SELECT is((SELECT resumed FROM pg_temp.runs('tap_cancel') OFFSET 1), true, 'it resumed the canceled pass');
SELECT is((SELECT string_agg(contract_no, ',' ORDER BY contract_no) FROM sync_tap.cancel),
  (SELECT string_agg(e->>'contract_no', ',' ORDER BY e->>'contract_no')
     FROM jsonb_array_elements(pg_temp.stub_get('/sync/res/contracts/all')) e),
  'every contract, once');

------------------------------------------------------------------------------
-- A run that fails (a page that keeps failing) and its resumption
------------------------------------------------------------------------------

-- a first complete pass loads the 40 invoices
SELECT pg_temp.stub('/sync/resf/reset', '{"n": 40}') ->> 'ok' AS reset \gset
SELECT is(pg_temp.remote_sync('tap_fail'), 'ok', 'a first full refresh');

-- then invoice 40 goes upstream, and page 4 keeps failing
SELECT pg_temp.stub('/sync/resf/reset', '{"n": 39, "faults": [{"style": "offset", "page": 4, "kind": "500", "times": -1}]}') ->> 'ok' AS reset \gset
SELECT matches(pg_temp.remote_sync('tap_fail'), '^08000: .*source "tap_fail": page 4 from .* answered status 500',
  'the second run fails at page 4');
SELECT results_eq($$SELECT status, pages, records, error_code FROM pg_temp.runs('tap_fail') OFFSET 1$$,
  $$VALUES ('failed', 2::bigint, 14::bigint, '08000')$$,
  'the failed run counts what it committed (pages 1-2, not page 3 of the failed batch) and records the error');
SELECT is((SELECT count(*)::int FROM sync_tap.fail), 40, 'nothing was deleted by the unfinished pass');
SELECT results_eq($$SELECT next_offset, pass_pages FROM concord.sync_state WHERE source = 'tap_fail'$$,
  $$VALUES (14::bigint, 2::bigint)$$, 'the pass stopped after the committed batch');

-- the API recovers
SELECT pg_temp.stub('/sync/resf/reset', '{"n": 39}') ->> 'ok' AS reset \gset
SELECT is(pg_temp.remote_sync('tap_fail'), 'ok', 'the next run succeeds');
SELECT results_eq($$SELECT resumed, pages, deleted FROM pg_temp.runs('tap_fail') OFFSET 2$$,
  $$VALUES (true, 4::bigint, 1::bigint)$$,
  'it resumed at page 3 and, the pass complete, deleted the invoice gone upstream');
SELECT is((SELECT string_agg(invoice_no, ',' ORDER BY invoice_no) FROM sync_tap.fail),
  (SELECT string_agg(e->>'invoice_no', ',' ORDER BY e->>'invoice_no')
     FROM jsonb_array_elements(pg_temp.stub_get('/sync/resf/invoices/all')) e),
  'the table holds exactly the upstream invoices');

------------------------------------------------------------------------------
-- One run of a source at a time
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/res/reset', '{"n": 60, "slow_ms": 100}') ->> 'ok' AS reset \gset
SELECT set_config('tap.runs_before', coalesce(max(run_id), 0)::text, false) AS runs_before
  FROM concord.sync_run WHERE source = 'tap_kill' \gset
SELECT is(dblink_send_query('tap_victim', 'CALL concord.sync(''tap_kill'')'), 1, 'a run in the second session');
SELECT pg_temp.active_pid('tap_sync_victim', 'CALL concord.sync%') AS victim \gset
-- (its statement being active is not enough: under load the second run
-- could take the source's run lock first; a page committed by the new run
-- says the first holds it)
DO $$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM concord.sync_run r WHERE r.source = 'tap_kill'
                         AND r.run_id > current_setting('tap.runs_before')::bigint AND r.pages >= 1);
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SELECT is(pg_temp.remote_sync('tap_kill'), '55P03: source "tap_kill" is being synced by another session',
  'a second run of the same source is refused while the first runs');
SELECT ok(pg_cancel_backend(:victim), 'stop the first run');
SELECT pg_temp.drain() AS drained1, pg_temp.drain() AS drained2 \gset

SELECT * FROM finish();
ROLLBACK;

-- Clean up what the committing session made, now that this session holds
-- no lock on those tables.
\o /dev/null
-- (the dblink connections outlive the rolled-back transaction)
SELECT x FROM dblink('tap_sync', 'SELECT count(*)::text FROM (SELECT concord.source_drop(n, true) FROM unnest(ARRAY[''tap_kill'', ''tap_cancel'', ''tap_fail'']) n) s') AS t(x text);
SELECT dblink_exec('tap_sync', 'DELETE FROM concord.sync_run WHERE source IN (''tap_kill'', ''tap_cancel'', ''tap_fail'')');
SELECT dblink_exec('tap_sync', 'DROP SCHEMA IF EXISTS sync_tap CASCADE');
SELECT x FROM dblink('tap_sync', format('SELECT concord.http_disallow_host(''127.0.0.0/8'', %s)::text', :'p')) AS t(x text);
SELECT dblink_disconnect('tap_syncer'), dblink_disconnect('tap_victim');
SELECT dblink_exec('tap_sync', 'DROP OWNED BY tap_resume_syncer; DROP ROLE tap_resume_syncer');
SELECT dblink_disconnect('tap_sync');
\o
