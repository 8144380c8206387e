-- Cancel, statement_timeout and termination interrupt a call or a batch
-- promptly, and the backend stays usable.  The second-session part needs a
-- committed allowlist row: a dblink session commits it (127.0.0.1 and the
-- stub port exactly, a row other tests also create) and removes it at the
-- end.  Everything else is rolled back.
BEGIN;
SELECT plan(22);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset

CREATE TEMP TABLE t0 (t timestamptz);

-- pgTAP's throws_ok cannot see a cancel: PL/pgSQL's WHEN OTHERS does not
-- catch query_canceled, so catch it by name.
CREATE FUNCTION pg_temp.canceled(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'not canceled';
EXCEPTION
  WHEN query_canceled THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
  WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\ir ../harness/backends.psql

------------------------------------------------------------------------------
-- statement_timeout in this session
------------------------------------------------------------------------------

-- The allowlist row, committed by another session (this transaction must
-- not hold the same key, or that session would wait for it).
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_admin', :'conn') AS c1 \gset
SELECT id > 0 AS committed FROM dblink('tap_admin', format(
  'SELECT (concord.http_allow_host(''127.0.0.1'', %s, note => ''tap cancel test'')).id', :'p')) AS t(id bigint) \gset
-- The calls, here and in the second session, are made by a login holding
-- concord_http alone (docs/http.md), committed too so that the second
-- session can log in as it; dropped at the end.
SELECT status FROM dblink('tap_admin', $$
  DROP ROLE IF EXISTS tap_http_cancel; CREATE ROLE tap_http_cancel LOGIN IN ROLE concord_http$$) AS t(status text) \gset
GRANT ALL ON t0 TO tap_http_cancel;
SET LOCAL ROLE tap_http_cancel;

INSERT INTO t0 VALUES (clock_timestamp());
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.canceled(format('SELECT concord.http_get(%L)', :'u' || '/delay/5000')),
  '57014: canceling statement due to statement timeout', 'statement_timeout interrupts a call');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms',
  'the call returned long before the server would have answered');

UPDATE t0 SET t = clock_timestamp();
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.canceled(format('SELECT * FROM concord.http_batch(ARRAY(SELECT concord.http_request(''GET'', %L) FROM generate_series(1, 20)))',
                                 :'u' || '/delay/5000')),
  '57014: canceling statement due to statement timeout', 'statement_timeout interrupts a batch');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms',
  'the batch returned long before the server would have answered');

UPDATE t0 SET t = clock_timestamp();
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.canceled(format('SELECT concord.http_get(%L)', :'u' || '/slow-body?ms=200&chunks=20')),
  '57014: canceling statement due to statement timeout', 'statement_timeout interrupts a body that trickles in');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms',
  'the transfer stopped mid-body');

SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'the backend calls again after a timeout');
SELECT is((SELECT count(*)::int FROM concord.http_batch(
             ARRAY(SELECT concord.http_request('GET', :'u' || '/json') FROM generate_series(1, 10)))
           WHERE status = 200), 10, 'and runs batches again');

------------------------------------------------------------------------------
-- pg_cancel_backend and pg_terminate_backend from this session
------------------------------------------------------------------------------

-- This session is the operator's (a superuser's): dblink and the signals;
-- the second session is the concord_http login.
RESET ROLE;
SELECT dblink_connect('tap_victim', :'conn' || ' user=tap_http_cancel application_name=tap_victim') AS c2 \gset

-- a single call
SELECT is(dblink_send_query('tap_victim', format('SELECT status FROM concord.http_get(%L)', :'u' || '/delay/5000')), 1,
  'a second session starts a slow call');
SELECT pg_temp.active_pid('tap_victim', '%concord.http%') AS victim \gset
UPDATE t0 SET t = clock_timestamp();
SELECT ok(pg_cancel_backend(:victim), 'its backend is sent a cancel');
SELECT is(pg_temp.canceled($$SELECT * FROM dblink_get_result('tap_victim') AS r(status int)$$),
  '57014: canceling statement due to user request', 'the call is canceled');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1 s',
  'the cancel took effect promptly');
SELECT count(*) AS drained FROM dblink_get_result('tap_victim') AS r(status int) \gset
SELECT is((SELECT status FROM dblink('tap_victim', format('SELECT status FROM concord.http_get(%L)', :'u' || '/json')) AS r(status int)),
  200, 'the canceled session makes further calls');

-- a batch
SELECT is(dblink_send_query('tap_victim', format(
    'SELECT count(*) FROM concord.http_batch(ARRAY(SELECT concord.http_request(''GET'', %L) FROM generate_series(1, 10)))',
    :'u' || '/delay/5000')), 1,
  'the second session starts a slow batch');
SELECT pg_temp.active_pid('tap_victim', '%concord.http%') AS victim \gset
UPDATE t0 SET t = clock_timestamp();
SELECT ok(pg_cancel_backend(:victim), 'its backend is sent a cancel');
SELECT is(pg_temp.canceled($$SELECT * FROM dblink_get_result('tap_victim') AS r(n bigint)$$),
  '57014: canceling statement due to user request', 'the batch is canceled');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1 s',
  'the cancel stopped all ten transfers promptly');
SELECT count(*) AS drained FROM dblink_get_result('tap_victim') AS r(n bigint) \gset
SELECT is((SELECT n FROM dblink('tap_victim', format(
             'SELECT count(*) FROM concord.http_batch(ARRAY(SELECT concord.http_request(''GET'', %L) FROM generate_series(1, 10))) WHERE status = 200',
             :'u' || '/json')) AS r(n bigint)),
  10::bigint, 'the canceled session runs batches again');

-- termination
SELECT is(dblink_send_query('tap_victim', format('SELECT status FROM concord.http_get(%L)', :'u' || '/delay/5000')), 1,
  'the second session starts another slow call');
SELECT pg_temp.active_pid('tap_victim', '%concord.http%') AS victim \gset
UPDATE t0 SET t = clock_timestamp();
SELECT ok(pg_terminate_backend(:victim), 'its backend is terminated');
SELECT ok(pg_temp.gone(:victim), 'the backend exits');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1 s',
  'termination took effect promptly');
SELECT pg_temp.canceled($$SELECT * FROM dblink_get_result('tap_victim') AS r(status int)$$) IS NOT NULL AS drained \gset

-- clean up the committed row (the role goes after the rollback, once this
-- transaction's grant to it has gone)
SELECT removed FROM dblink('tap_admin', format(
  'SELECT concord.http_disallow_host(''127.0.0.1'', %s)', :'p')) AS t(removed boolean) \gset
SELECT dblink_disconnect('tap_victim') AS d1, dblink_disconnect('tap_admin') AS d2 \gset

SELECT * FROM finish();
ROLLBACK;
DROP ROLE tap_http_cancel;
