/* concord — sync: departments' APIs kept in step with tables. */

SELECT @extschema@.capability_role('concord_sync', 'may define and run API sources (concord.source_*, concord.sync)');

------------------------------------------------------------------------------
-- Sources (configuration) and their state
------------------------------------------------------------------------------

CREATE TABLE @extschema@.source (
  name        text PRIMARY KEY
              CONSTRAINT source_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  spec        jsonb NOT NULL
              CONSTRAINT source_spec_check CHECK (pg_catalog.jsonb_typeof(spec) = 'object'),
  owner       name NOT NULL DEFAULT CURRENT_USER,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.source IS
  'API sources: each spec describes one API (request, auth, pagination, records, mapping, mode) and its target table';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.source', '');
REVOKE ALL ON @extschema@.source FROM PUBLIC;

CREATE TABLE @extschema@.sync_state (
  source           text PRIMARY KEY
                   REFERENCES @extschema@.source (name) ON DELETE CASCADE,
  cursor_value     text,
  pass_run_id      bigint,
  pass_since       text,
  pass_max_cursor  text,
  next_page        bigint,
  next_offset      bigint,
  next_cursor      text,
  next_url         text,
  pass_pages       bigint,
  pass_records     bigint,
  updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  next_cursor_number boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.sync_state IS
  'Per source: the incremental cursor of the last complete pass, and the position of a pass in progress (committed with each batch of pages)';
COMMENT ON COLUMN @extschema@.sync_state.cursor_value IS
  'Largest cursor column value loaded by the last complete pass (JSON text: ISO 8601 for times)';
COMMENT ON COLUMN @extschema@.sync_state.pass_run_id IS
  'The run that started the pass in progress; NULL when no pass is in progress';
COMMENT ON COLUMN @extschema@.sync_state.next_cursor_number IS
  'The next page''s cursor (next_cursor) was a JSON number: it goes into a JSON body as one';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_state', '');
REVOKE ALL ON @extschema@.sync_state FROM PUBLIC;

CREATE TABLE @extschema@.sync_run (
  run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source         text NOT NULL,
  status         text NOT NULL
                 CONSTRAINT sync_run_status_check
                 CHECK (status IN ('running', 'succeeded', 'failed', 'canceled', 'interrupted')),
  started_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  finished_at    timestamptz,
  resumed        boolean NOT NULL DEFAULT false,
  pages          bigint NOT NULL DEFAULT 0,
  requests       integer NOT NULL DEFAULT 0,
  retries        integer NOT NULL DEFAULT 0,
  records        bigint NOT NULL DEFAULT 0,
  inserted       bigint NOT NULL DEFAULT 0,
  updated        bigint NOT NULL DEFAULT 0,
  unchanged      bigint NOT NULL DEFAULT 0,
  deleted        bigint NOT NULL DEFAULT 0,
  rejected       bigint NOT NULL DEFAULT 0,
  since          text,
  cursor_before  text,
  cursor_after   text,
  error_code     text,
  error          text,
  run_by         name NOT NULL,
  rejects_retried bigint NOT NULL DEFAULT 0,
  rejects_loaded bigint NOT NULL DEFAULT 0
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_run_run_id_seq', '');
CREATE INDEX sync_run_source_idx ON @extschema@.sync_run (source, run_id);
COMMENT ON TABLE @extschema@.sync_run IS
  'One row per run of concord.sync(): counts, status and error; counters are committed with each batch';
COMMENT ON COLUMN @extschema@.sync_run.resumed IS
  'The run continued a pass that an earlier run left unfinished';
COMMENT ON COLUMN @extschema@.sync_run.run_by IS
  'The role the run wrote as (the current user of the CALL)';
COMMENT ON COLUMN @extschema@.sync_run.since IS
  'Value sent in the incremental cursor parameter (the stored cursor less the lookback)';
COMMENT ON COLUMN @extschema@.sync_run.status IS
  'running; succeeded; failed (an error: error_code, error); canceled (a cancel or statement_timeout); interrupted (the server shut down, or the session died: marked by the next run)';
COMMENT ON COLUMN @extschema@.sync_run.rejects_retried IS
  'Rejected records of earlier runs (an incremental source keeps them) tried again at the start of this run';
COMMENT ON COLUMN @extschema@.sync_run.rejects_loaded IS
  'Of rejects_retried, how many loaded this time';
REVOKE ALL ON @extschema@.sync_run FROM PUBLIC;

CREATE TABLE @extschema@.sync_reject (
  reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      bigint NOT NULL REFERENCES @extschema@.sync_run (run_id) ON DELETE CASCADE,
  source      text NOT NULL,
  page        integer NOT NULL,
  record      jsonb NOT NULL,
  reason      text NOT NULL,
  error_code  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  key         text,
  retry       boolean NOT NULL DEFAULT false,
  retries     integer NOT NULL DEFAULT 0,
  resolved    text
              CONSTRAINT sync_reject_resolved_check CHECK (resolved IN ('loaded', 'superseded', 'reset')),
  resolved_run_id bigint,
  resolved_at timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_reject', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_reject_reject_id_seq', '');
CREATE INDEX sync_reject_run_idx ON @extschema@.sync_reject (run_id);
CREATE INDEX sync_reject_source_idx ON @extschema@.sync_reject (source, reject_id);
CREATE INDEX sync_reject_pending_idx ON @extschema@.sync_reject (source, key) WHERE retry AND resolved IS NULL;
COMMENT ON TABLE @extschema@.sync_reject IS
  'Records a run could not load (bad type, missing key, constraint), with the raw record and the reason';
COMMENT ON COLUMN @extschema@.sync_reject.source IS
  'The source whose run rejected the record';
COMMENT ON COLUMN @extschema@.sync_reject.key IS
  'The record''s key as the API wrote it (its key fields; a JSON array of them for a composite key), or NULL when it had none';
COMMENT ON COLUMN @extschema@.sync_reject.retry IS
  'Kept for a retry: an incremental source tries it again at the start of every run until it is resolved';
COMMENT ON COLUMN @extschema@.sync_reject.retries IS
  'How many later runs tried it again (reason and error_code are the latest refusal''s)';
COMMENT ON COLUMN @extschema@.sync_reject.resolved IS
  'NULL while it waits; loaded (a retry loaded it), superseded (a later version of the record arrived), reset (the source was reset)';
COMMENT ON COLUMN @extschema@.sync_reject.resolved_run_id IS
  'The run that resolved it (loaded or superseded)';
COMMENT ON COLUMN @extschema@.sync_reject.resolved_at IS
  'When it was resolved';
REVOKE ALL ON @extschema@.sync_reject FROM PUBLIC;

CREATE TABLE @extschema@.sync_seen (
  source  text NOT NULL,
  run_id  bigint NOT NULL,
  keys    text[] NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_seen', '');
CREATE INDEX sync_seen_source_idx ON @extschema@.sync_seen (source);
COMMENT ON TABLE @extschema@.sync_seen IS
  'Keys loaded by the full-refresh pass in progress, per page; rows whose keys are absent are deleted when the pass completes';
REVOKE ALL ON @extschema@.sync_seen FROM PUBLIC;

------------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.source_create(name text, spec jsonb)
RETURNS @extschema@.source
AS 'MODULE_PATHNAME', 'concord_source_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_create(text, jsonb) IS
  'Defines an API source from a spec (validated; the target table is created when the spec says so); returns the source row';

CREATE FUNCTION @extschema@.source_alter(name text, spec jsonb, reset_state boolean DEFAULT false)
RETURNS @extschema@.source
AS 'MODULE_PATHNAME', 'concord_source_alter'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_alter(text, jsonb, boolean) IS
  'Replaces a source''s spec (owner or superuser); reset_state forgets its cursor and any pass in progress';

CREATE FUNCTION @extschema@.source_drop(name text, drop_table boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_source_drop'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_drop(text, boolean) IS
  'Removes a source, its state and its pg_cron schedule (owner or superuser); drop_table also drops the target table; returns whether it existed';

CREATE FUNCTION @extschema@.source_reset(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_source_reset'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_reset(text) IS
  'Forgets a source''s incremental cursor and any pass in progress, so the next run starts from the beginning';

CREATE FUNCTION @extschema@.source_check(name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'concord_source_check'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_check(text) IS
  'Fetches the first page of a source and reports what a run would do with it (records, mapping problems, next page); writes nothing';

CREATE PROCEDURE @extschema@.sync(source text)
AS 'MODULE_PATHNAME', 'concord_sync'
LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.sync(text) IS
  'Runs a source: fetches its pages and upserts them into the target, committing data and state per batch of pages (CALL outside a transaction block)';

CREATE FUNCTION @extschema@.source_schedule(source_name text, schedule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  job bigint;
BEGIN
  IF source_name IS NULL OR schedule IS NULL THEN
    RAISE EXCEPTION 'source name and schedule must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) source_name) THEN
    RAISE EXCEPTION 'source "%" does not exist', source_name
      USING ERRCODE = 'undefined_object',
            HINT = 'Create it first with concord.source_create(name, spec).';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'cannot schedule source "%": pg_cron is not installed in database "%"',
                    source_name, pg_catalog.current_database()
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Install the Debian package postgresql-15-cron, add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron.';
  END IF;
  BEGIN
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
      INTO job
      USING 'concord sync ' OPERATOR(pg_catalog.||) source_name, schedule,
            pg_catalog.format('CALL %I.sync(%L)', '@extschema@', source_name);
  EXCEPTION WHEN invalid_parameter_value OR internal_error OR data_exception THEN
    RAISE EXCEPTION 'invalid schedule "%" for source "%"', schedule, source_name
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = SQLERRM,
            HINT = 'Use a cron expression such as ''*/5 * * * *'' (every five minutes) or ''@hourly''.';
  END;
  RETURN job;
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_schedule(text, text) IS
  'Schedules CALL concord.sync(source) with pg_cron (job name "concord sync <source>", run as the calling role); returns the pg_cron job id';

CREATE FUNCTION @extschema@.source_unschedule(source_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  found boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RETURN false;
  END IF;
  -- a role without access to pg_cron cannot have scheduled anything
  IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1)'
    INTO found USING 'concord sync ' OPERATOR(pg_catalog.||) source_name;
  IF found THEN
    EXECUTE 'SELECT cron.unschedule($1)' USING 'concord sync ' OPERATOR(pg_catalog.||) source_name;
  END IF;
  RETURN found;
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_unschedule(text) IS
  'Removes the pg_cron schedule of a source; returns whether there was one';

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

-- every routine above is for concord_sync, none for PUBLIC
SELECT @extschema@.grant_routines('concord_sync', ARRAY[
    'source_create(text, jsonb)', 'source_alter(text, jsonb, boolean)', 'source_drop(text, boolean)',
    'source_reset(text)', 'source_check(text)', 'source_schedule(text, text)', 'source_unschedule(text)',
    'sync(text)']);
-- Each member reads her own sources and what their runs did (rejected
-- records are data); concord_admin and superusers read all.  Only sync's
-- C code, as the tables' owner, writes them.
CREATE FUNCTION @extschema@.source_visible(source text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM @extschema@.source s
                WHERE s.name OPERATOR(pg_catalog.=) source_visible.source
                  AND @extschema@.manages(coalesce(pg_catalog.to_regrole(pg_catalog.quote_ident(s.owner)),
                                                   0::pg_catalog.oid::pg_catalog.regrole)));
COMMENT ON FUNCTION @extschema@.source_visible(text) IS
  'Whether the current user may see a source and its runs: she has its owner''s privileges (or concord_admin''s)';
ALTER TABLE @extschema@.source ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_visible ON @extschema@.source FOR SELECT
  USING (@extschema@.manages(coalesce(pg_catalog.to_regrole(pg_catalog.quote_ident(owner)), 0::pg_catalog.oid::pg_catalog.regrole)));
ALTER TABLE @extschema@.sync_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY sync_state_visible ON @extschema@.sync_state FOR SELECT USING (@extschema@.source_visible(source));
ALTER TABLE @extschema@.sync_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY sync_run_visible ON @extschema@.sync_run FOR SELECT
  USING (@extschema@.source_visible(source) OR @extschema@.manages(0::pg_catalog.oid::pg_catalog.regrole));
ALTER TABLE @extschema@.sync_reject ENABLE ROW LEVEL SECURITY;
CREATE POLICY sync_reject_visible ON @extschema@.sync_reject FOR SELECT
  USING (@extschema@.source_visible(source) OR @extschema@.manages(0::pg_catalog.oid::pg_catalog.regrole));
ALTER TABLE @extschema@.sync_seen ENABLE ROW LEVEL SECURITY;
CREATE POLICY sync_seen_visible ON @extschema@.sync_seen FOR SELECT USING (@extschema@.source_visible(source));
GRANT SELECT ON @extschema@.source, @extschema@.sync_state, @extschema@.sync_run,
  @extschema@.sync_reject TO concord_sync;
-- the delete at the end of a full-refresh pass runs as the caller and reads
-- the keys of the pass
GRANT SELECT ON @extschema@.sync_seen TO concord_sync;

-- Monitoring: syncs per source, read as the caller (row security shows
-- each her own sources).
CREATE VIEW @extschema@.monitor_sync WITH (security_invoker = true) AS
  SELECT s.name AS source,
         (SELECT max(r.finished_at) FROM @extschema@.sync_run r WHERE r.source = s.name AND r.status = 'succeeded') AS last_success,
         pg_catalog.now() - (SELECT max(r.finished_at) FROM @extschema@.sync_run r
                              WHERE r.source = s.name AND r.status = 'succeeded') AS lag,
         (SELECT count(*) FROM @extschema@.sync_run r WHERE r.source = s.name AND r.status = 'failed'
             AND r.started_at > pg_catalog.now() - interval '1 day') AS failures_24h,
         (SELECT count(*) FROM @extschema@.sync_reject j WHERE j.source = s.name
             AND j.created_at > pg_catalog.now() - interval '1 day') AS rejects_24h
    FROM @extschema@.source s;
COMMENT ON VIEW @extschema@.monitor_sync IS
  'Syncs per source: last success, lag since it, failed runs and rejected records in the last 24 hours';

-- sync's lines of metrics_text() (registered with core, src/monitor.sql).
CREATE FUNCTION @extschema@.sync_metrics_lines()
RETURNS TABLE (ord int, line text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT 4 AS ord, '# HELP concord_sync_lag_seconds Seconds since the last successful sync of a source (-1: never)' AS line
  UNION ALL SELECT 4, '# TYPE concord_sync_lag_seconds gauge'
  UNION ALL SELECT 4, format('concord_sync_lag_seconds{source="%s"} %s', @extschema@.prom_label(s.source),
                               coalesce(round(extract(epoch FROM s.lag)), -1)) FROM @extschema@.monitor_sync s
  UNION ALL SELECT 5, '# HELP concord_sync_failures_24h Failed sync runs of a source in the last 24 hours'
  UNION ALL SELECT 5, '# TYPE concord_sync_failures_24h gauge'
  UNION ALL SELECT 5, format('concord_sync_failures_24h{source="%s"} %s', @extschema@.prom_label(s.source), s.failures_24h) FROM @extschema@.monitor_sync s
  UNION ALL SELECT 6, '# HELP concord_sync_rejects_24h Rows of a source rejected in the last 24 hours'
  UNION ALL SELECT 6, '# TYPE concord_sync_rejects_24h gauge'
  UNION ALL SELECT 6, format('concord_sync_rejects_24h{source="%s"} %s', @extschema@.prom_label(s.source), s.rejects_24h) FROM @extschema@.monitor_sync s;
END;
COMMENT ON FUNCTION @extschema@.sync_metrics_lines() IS
  'Internal to metrics_text: sync lag, failures and rejects per source, in Prometheus'' text exposition format';
REVOKE EXECUTE ON FUNCTION @extschema@.sync_metrics_lines() FROM PUBLIC;
SELECT @extschema@.component_register('sync', 'metrics', 'sync_metrics_lines', 30);
GRANT SELECT ON @extschema@.monitor_sync TO concord_sync;
