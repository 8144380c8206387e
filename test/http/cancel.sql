-- Cancel and statement_timeout interrupt a call or a batch promptly, and
-- the backend stays usable.  The second-session part commits its own
-- allowlist row through dblink and removes it at the end.
BEGIN;
SELECT plan(10);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

CREATE TEMP TABLE t0 (t timestamptz);

-- pgTAP's throws_ok cannot see a cancel: PL/pgSQL's WHEN OTHERS does not
-- catch query_canceled, so catch it by name.
CREATE FUNCTION pg_temp.canceled(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'not canceled';
EXCEPTION WHEN query_canceled THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- statement_timeout, single call
INSERT INTO t0 VALUES (clock_timestamp());
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.canceled(format('SELECT concord.http_get(%L)', :'u' || '/delay/5000')),
  '57014: canceling statement due to statement timeout', 'statement_timeout interrupts a call');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms',
  'the call returned long before the server would have answered');

-- statement_timeout, batch
UPDATE t0 SET t = clock_timestamp();
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.canceled(format('SELECT * FROM concord.http_batch(ARRAY(SELECT concord.http_request(''GET'', %L) FROM generate_series(1, 20)))',
                                 :'u' || '/delay/5000')),
  '57014: canceling statement due to statement timeout', 'statement_timeout interrupts a batch');
RESET statement_timeout;
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1500 ms',
  'the batch returned long before the server would have answered');
SELECT is((concord.http_get(:'u' || '/json')).status, 200, 'the backend calls again after a timeout');

-- pg_cancel_backend from another session
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_cancel', :'conn');
SELECT id > 0 AS committed FROM dblink('tap_cancel', format(
  'SELECT (concord.http_allow_host(''127.0.0.0/8'', %s, note => ''tap cancel test'')).id', :'p')) AS t(id bigint);
SELECT dblink_connect('tap_victim', :'conn');
SELECT is(dblink_send_query('tap_victim', format('SELECT status FROM concord.http_get(%L)', :'u' || '/delay/5000')), 1,
  'a second session starts a slow call');
SELECT pg_sleep(0.3);
UPDATE t0 SET t = clock_timestamp();
SELECT ok((SELECT pg_cancel_backend(pid) FROM pg_stat_activity
           WHERE query LIKE '%delay/5000%' AND pid <> pg_backend_pid() AND state = 'active'),
  'its backend is sent a cancel');
SELECT is(pg_temp.canceled($$SELECT * FROM dblink_get_result('tap_victim') AS r(status int)$$),
  '57014: canceling statement due to user request', 'the call is canceled');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '<', interval '1 s',
  'the cancel took effect promptly');
SELECT * FROM dblink_get_result('tap_victim') AS r(status int);
SELECT is((SELECT status FROM dblink('tap_victim', format('SELECT status FROM concord.http_get(%L)', :'u' || '/json')) AS r(status int)),
  200, 'the canceled session makes further calls');
SELECT removed FROM dblink('tap_cancel', format(
  'SELECT concord.http_disallow_host(''127.0.0.0/8'', %s)', :'p')) AS t(removed boolean);
SELECT dblink_disconnect('tap_victim');
SELECT dblink_disconnect('tap_cancel');

SELECT * FROM finish();
ROLLBACK;
