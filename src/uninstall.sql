/* concord — what DROP EXTENSION concord does first.  Joined last into
 * concord--<version>.sql by the Makefile, before finish.sql.
 *
 * DROP EXTENSION concord CASCADE drops what depends on concord's functions
 * (row policies, governed views, triggers, stored masks), but it would
 * leave behind what only concord's tables know about, and tables changed
 * for concord: row security forced on with no policy left (nobody could
 * read the table), the readers' grants moved to a governed view that is
 * gone, the views published for BI tools.  The extension's utility hook
 * (src/policy/explain_guard.c) calls extension_cleanup() at DROP EXTENSION
 * concord, in the same transaction: if the drop fails, nothing changed. */

CREATE FUNCTION @extschema@.extension_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r record;
  g record;
BEGIN
  -- Citus: the drops below reach the workers; Citus lets a transaction drop
  -- a distributed schema (the member mirror) only over one connection per
  -- node
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  -- views published for BI tools
  FOR r IN SELECT p.view_name FROM @extschema@.metric_publication p
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name) LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s', r.view_name);
  END LOOP;
  -- governed views: their readers get the table back
  FOR r IN SELECT DISTINCT m.table_name, pg_catalog.to_regclass(m.table_name::text || '_governed') AS v
             FROM @extschema@.column_mask m LOOP
    IF r.v IS NOT NULL THEN
      FOR g IN SELECT * FROM @extschema@.relation_grants(r.v) LOOP
        EXECUTE format('GRANT %s ON %s TO %s', g.priv, r.table_name, g.who);
      END LOOP;
      EXECUTE format('DROP VIEW %s', r.v);
    END IF;
  END LOOP;
  -- row security concord turned on, where only concord's policies are left
  FOR r IN SELECT DISTINCT t AS tbl FROM (
             SELECT p.table_name AS t FROM @extschema@.row_policy p
             UNION SELECT a.table_name FROM @extschema@.access_request a) s
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.t) LOOP
    FOR g IN SELECT pol.polname FROM pg_catalog.pg_policy pol
              WHERE pol.polrelid = r.tbl AND pol.polname LIKE 'concord\_%' LOOP
      EXECUTE format('DROP POLICY %I ON %s', g.polname, r.tbl);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.polrelid = r.tbl) THEN
      EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', r.tbl);
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.tbl);
    END IF;
  END LOOP;
  -- rollups (their triggers on the models' tables) and event rules (theirs)
  FOR r IN SELECT x.name FROM @extschema@.metric_rollup x LOOP
    PERFORM @extschema@.metric_rollup_drop(r.name);
  END LOOP;
  FOR r IN SELECT x.name FROM @extschema@.event_rule x LOOP
    PERFORM @extschema@.event_rule_drop(r.name);
  END LOOP;
  -- the Citus mirror of members and departments (citus_prepare)
  DROP SCHEMA IF EXISTS concord_citus CASCADE;
  -- the schema of published views, if nothing else is in it
  IF pg_catalog.to_regnamespace('metrics') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typnamespace = pg_catalog.to_regnamespace('metrics')) THEN
    DROP SCHEMA metrics;
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.extension_cleanup() IS
  'Run at DROP EXTENSION concord (by the extension''s utility hook): drops published views and governed views (their readers'' grants back on the tables), concord''s policies and the row security it turned on, rollups and event rules';
REVOKE EXECUTE ON FUNCTION @extschema@.extension_cleanup() FROM PUBLIC;
