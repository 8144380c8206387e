-- Secrets and the server log: with the default logging settings no line of
-- the server log holds a secret's plaintext after a first secret_set (its
-- LOG line "created secret key file"), failed secret_set calls (refused by
-- concord, unknown to the parser, inside a DO block), a refused
-- source_create with a pasted token, and secret_set_file.  The statements
-- run for real in a second session (dblink), so that their lines reach the
-- server log; a control statement shows that a statement is logged
-- otherwise.  What the second session stores is removed at the end.
\o /dev/null
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SELECT dblink_connect('tap_slog', :'conn') AS c \gset
\o

BEGIN;
SELECT plan(17);

CREATE FUNCTION pg_temp.remote(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM * FROM dblink('tap_slog', q) AS t(x text);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the server log from here on
SELECT current_setting('data_directory') || '/../postgres.log' AS logfile \gset
SELECT (pg_stat_file(:'logfile')).size AS log_start \gset
CREATE FUNCTION pg_temp.log_has(needle text) RETURNS boolean LANGUAGE sql AS $$
  SELECT position(needle IN pg_read_file(current_setting('data_directory') || '/../postgres.log',
                                         current_setting('tap.log_start')::bigint, 100000000)) > 0
$$;
SELECT set_config('tap.log_start', :'log_start', true) AS s \gset

CREATE TEMP TABLE plain (v text);
INSERT INTO plain VALUES ('tap-log-PLAIN-a1'), ('tap-log-PLAIN-b2'), ('tap-log-PLAIN-c3'), ('tap-log-PLAIN-d4'),
                         ('tap-log-PLAIN-e5'), ('tap-log-PLAIN-f6'), ('tap-log-PLAIN-g7');

-- a key file of its own, new on every run: the first secret_set creates it
SELECT format('%s/tap_log_%s.key', current_setting('data_directory'), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) AS keyfile,
       current_setting('data_directory') || '/tap_log_secret.txt' AS valuefile \gset
COPY (SELECT 'tap-log-PLAIN-g7') TO :'valuefile';

SELECT is(pg_temp.remote(format('SET concord.secret_key_file = %L', :'keyfile')), 'ok', 'the second session uses a new key file');
SELECT is(pg_temp.remote($$SELECT concord.secret_set('tap_log_a', 'tap-log-PLAIN-a1')$$), 'ok',
  'the first secret_set creates the key file');
SELECT is(pg_temp.remote($$SELECT concord.secret_set('bad name!', 'tap-log-PLAIN-b2')$$),
  '22023: invalid secret name "bad name!"', 'a secret_set concord refuses');
SELECT matches(pg_temp.remote($$SELECT concord.secret_set('tap_log_c', 'tap-log-PLAIN-c3', 'one too many')$$),
  '^42883: function concord\.secret_set\(unknown, unknown, unknown\) does not exist', 'a secret_set the parser refuses');
SELECT is(pg_temp.remote($q$DO $d$ BEGIN PERFORM concord.secret_set('bad name?', 'tap-log-PLAIN-d4'); END $d$$q$),
  '22023: invalid secret name "bad name?"', 'a secret_set failing inside a DO block');
SELECT matches(pg_temp.remote($$SELECT concord.source_create('tap_log_src', '{"request": {"url": "http://127.0.0.1:9/x",
    "headers": {"Authorization": "Bearer tap-log-PLAIN-e5"}}, "records": "$", "target": {"table": "tap_log_t"},
    "columns": [{"name": "id"}]}')$$),
  '^22023: invalid spec for source "tap_log_src": request\.headers\.Authorization must be \{"secret": "name"\}',
  'a source_create with a token pasted into a header is refused');
SELECT matches(pg_temp.remote($$SELECT concord.source_create('tap_log_src', '{"request": {"url": "http://127.0.0.1:9/x"},
    "auth": {"type": "bearer", "token": "tap-log-PLAIN-f6"}, "records": "$", "target": {"table": "tap_log_t"},
    "columns": [{"name": "id"}]}')$$),
  '^22023: invalid spec for source "tap_log_src": auth\.token must be \{"secret": "name"\}, not a string',
  'and one with a token pasted into auth');
SELECT is(pg_temp.remote(format('SELECT concord.secret_set_file(%L, %L)', 'tap_log_g', :'valuefile')), 'ok',
  'secret_set_file');
SELECT is(pg_temp.remote(format('SELECT concord.secret_set_file(%L, %L)', 'bad name!', :'valuefile')),
  '22023: invalid secret name "bad name!"', 'and a failed one');
SELECT is(pg_temp.remote('SELECT 1/0 AS tap_log_control'), '22012: division by zero', 'a control statement fails');
SELECT is(pg_temp.remote($$SELECT concord.secret_drop('tap_log_a') AND concord.secret_drop('tap_log_g')$$), 'ok',
  'the second session''s secrets are dropped');

-- the lines are there, without the statements
SELECT ok(pg_temp.log_has(format('LOG:  concord created secret key file "%s"', :'keyfile')),
  'the server log has the LOG line of the new key file');
SELECT ok(pg_temp.log_has('ERROR:  invalid secret name "bad name!"') AND pg_temp.log_has('ERROR:  invalid secret name "bad name?"'),
  'and the errors of secret_set');
SELECT ok(pg_temp.log_has('ERROR:  invalid spec for source "tap_log_src"'), 'and the refusal of source_create');
SELECT ok(pg_temp.log_has('STATEMENT:  SELECT 1/0 AS tap_log_control'),
  'a statement is logged with its error when it carries no secret (the settings are the default ones)');
SELECT is((SELECT string_agg(v, ', ') FROM plain WHERE pg_temp.log_has(v)), NULL,
  'no line of the server log holds a plaintext');
SELECT is(pg_temp.log_has($$secret_set('bad name?'$$), false, 'not even as the context of a DO block (SQL statement "SELECT concord.secret_set(...)")');

SELECT * FROM finish();
ROLLBACK;

\o /dev/null
SELECT dblink_disconnect('tap_slog');
\o
