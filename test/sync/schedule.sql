-- sync: schedules through pg_cron (installed in the test database by the
-- harness, with pg_cron preloaded).  The job's command is run here by hand
-- rather than waiting for the minute to turn; the demo shows pg_cron
-- running it.  Where pg_cron is not installed for the server's major (see
-- pg_cron_available in test/harness/lib.sh), every assertion skips.
BEGIN;
SELECT plan(12);
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') AS no_cron \gset
\if :no_cron
SELECT skip('pg_cron is not installed for PostgreSQL ' || current_setting('server_version'), 12);
\else
\ir setup.psql
-- as a role holding concord_sync, with the grant docs/sync.md asks of a
-- role other than a superuser
GRANT USAGE ON SCHEMA cron TO tap_syncer;
SET LOCAL ROLE tap_syncer;

SELECT pg_temp.stub('/sync/sch/reset', '{"n": 10}') ->> 'ok' AS reset \gset
SELECT concord.source_create('sch', pg_temp.spec('sch', 'tickets', 'page')) IS NOT NULL AS created \gset

SELECT has_extension('pg_cron', 'pg_cron is installed in the test database');

SELECT ok(concord.source_schedule('sch', '*/5 * * * *') > 0, 'source_schedule returns the pg_cron job id');
SELECT is((SELECT string_agg(format('%s | %s | %s | %s', jobname, schedule, command, username), '; ')
             FROM cron.job WHERE jobname LIKE 'concord sync %'),
  format('concord sync sch | */5 * * * * | CALL concord.sync(''sch'') | %s', current_user),
  'one job, named after the source, calling concord.sync as the scheduling role');

SELECT ok(concord.source_schedule('sch', '@hourly') > 0, 'scheduling again');
SELECT is((SELECT count(*) || ' ' || min(schedule) FROM cron.job WHERE jobname = 'concord sync sch'), '1 @hourly',
  'replaces the schedule instead of adding a job');

-- what pg_cron will run
SELECT command AS cmd FROM cron.job WHERE jobname = 'concord sync sch' \gset
CREATE FUNCTION pg_temp.run(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT is(pg_temp.run(:'cmd'), 'ok', 'the job''s command runs the source');
SELECT is((SELECT count(*)::int FROM sync_test.sch_tickets), 10, 'and loads it');

SELECT throws_ok($$SELECT concord.source_schedule('sch', 'every tuesday')$$, '22023',
  'invalid schedule "every tuesday" for source "sch"', 'a schedule pg_cron does not understand');
SELECT throws_ok($$SELECT concord.source_schedule('nope', '@hourly')$$, '42704',
  'source "nope" does not exist', 'an unknown source');
SELECT throws_ok($$SELECT concord.source_schedule('sch', NULL)$$, '22004',
  'source name and schedule must not be null', 'a null schedule');

SELECT is(concord.source_unschedule('sch'), true, 'unschedule removes the job');
SELECT ok(concord.source_schedule('sch', '@daily') > 0 AND concord.source_drop('sch', true)
          AND NOT EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'concord sync sch'),
  'dropping a source removes its schedule');
\endif

SELECT * FROM finish();
ROLLBACK;
