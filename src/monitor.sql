/* concord — core: monitoring.  Joined into concord--<version>.sql by the
 * Makefile right after src/concord.sql, before every component.
 *
 * metrics_text() puts together, in Prometheus' text exposition format for
 * a scraper, the lines of every component that registered a function of
 * kind 'metrics' in concord.component_hook (http: calls per host; sync:
 * syncs per source; flow: the outbox and alerts), and core's own: the
 * worker (monitor_worker).  Each component's monitor_* views are its own. */

-- This database's concord worker as pg_stat_activity shows it to concord's
-- owner.  A role without pg_read_all_stats sees another role's backend
-- with backend_type and datname NULL, so monitor_worker, read by a member
-- of concord_flow, would show no worker.  Only the worker's row, whose
-- activity is concord's own label of what it does, never a user's SQL.
-- It runs as concord's owner the way the API does (concord.run_as:
-- security-restricted, search_path pinned), not as SECURITY DEFINER.
CREATE FUNCTION @extschema@.worker_activity()
RETURNS TABLE (pid int, started timestamptz, state text, doing text, since timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
BEGIN ATOMIC
  SELECT a.pid, a.backend_start, a.state, a.query, a.state_change
    FROM pg_catalog.pg_stat_activity a
   WHERE a.backend_type OPERATOR(pg_catalog.=) 'concord worker'
     AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
END;
COMMENT ON FUNCTION @extschema@.worker_activity() IS
  'Internal to monitor_worker: this database''s concord worker in pg_stat_activity, seen with its owner''s rights';
REVOKE EXECUTE ON FUNCTION @extschema@.worker_activity() FROM PUBLIC;

CREATE VIEW @extschema@.monitor_worker AS
  SELECT w.pid, w.started, w.state, w.doing, w.since,
         pg_catalog.current_setting('concord.worker_naptime_ms') AS naptime
    FROM @extschema@.worker_activity() w;
COMMENT ON VIEW @extschema@.monitor_worker IS
  'This database''s concord worker: its process, what it is doing and since when (no row: no worker; is concord in shared_preload_libraries?)';

-- A label value in Prometheus' text format: backslash, quote and line
-- break escaped.
CREATE FUNCTION @extschema@.prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(coalesce(v, ''), E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n');
COMMENT ON FUNCTION @extschema@.prom_label(text) IS
  'Internal to metrics_text: a label value escaped for Prometheus'' text exposition format';

-- core's lines of metrics_text(): whether the worker runs.
CREATE FUNCTION @extschema@.core_metrics_lines()
RETURNS TABLE (ord int, line text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT 12 AS ord, '# HELP concord_worker_up Whether this database''s concord worker runs (1) or not (0)' AS line
  UNION ALL SELECT 12, '# TYPE concord_worker_up gauge'
  UNION ALL SELECT 12, format('concord_worker_up %s', (SELECT count(*) FROM @extschema@.monitor_worker));
END;
COMMENT ON FUNCTION @extschema@.core_metrics_lines() IS
  'Internal to metrics_text: whether this database''s worker runs, in Prometheus'' text exposition format';
REVOKE EXECUTE ON FUNCTION @extschema@.core_metrics_lines() FROM PUBLIC;
SELECT @extschema@.component_register('core', 'metrics', 'core_metrics_lines', 0);

CREATE FUNCTION @extschema@.metrics_text()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- (counts and names of every component's objects, for the operator's scraper)
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  h record;
  q text := '';
  result text;
BEGIN
  FOR h IN SELECT c.function_name FROM @extschema@.component_hook c
            WHERE c.kind OPERATOR(pg_catalog.=) 'metrics' ORDER BY c.seq, c.function_name LOOP
    q := q OPERATOR(pg_catalog.||) CASE WHEN q OPERATOR(pg_catalog.=) '' THEN '' ELSE ' UNION ALL ' END
           OPERATOR(pg_catalog.||) format('SELECT x.ord, x.line FROM %I.%I() x', '@extschema@', h.function_name);
  END LOOP;
  EXECUTE 'SELECT pg_catalog.string_agg(s.line, E''\n'' ORDER BY s.ord, s.line) OPERATOR(pg_catalog.||) E''\n'' FROM ('
          OPERATOR(pg_catalog.||) q OPERATOR(pg_catalog.||) ') s' INTO result;
  RETURN result;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metrics_text() IS
  'Everything the monitor_* views show, in Prometheus'' text exposition format (a HELP and a TYPE line for every metric)';
REVOKE EXECUTE ON FUNCTION @extschema@.metrics_text() FROM PUBLIC;
