/* concord — what DROP EXTENSION concord does first.  Joined last into
 * concord--<version>.sql by the Makefile, before finish.sql.
 *
 * DROP EXTENSION concord CASCADE drops what depends on concord's functions
 * (row policies, governed views, triggers, stored masks), but it would
 * leave behind what only concord's tables know about, and tables changed
 * for concord: row security forced on with no policy left (nobody could
 * read the table), the readers' grants moved to a governed view that is
 * gone, the views published for BI tools.  Each component registers its
 * cleanup function in concord.component_hook (policy_cleanup,
 * metric_cleanup, flow_cleanup); core's utility hook (src/dropext.c) calls
 * extension_cleanup() at DROP EXTENSION concord, in the same transaction:
 * if the drop fails, nothing changed. */

CREATE FUNCTION @extschema@.extension_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r record;
BEGIN
  -- Citus: the drops below reach the workers; Citus lets a transaction drop
  -- a distributed schema (the member mirror) only over one connection per
  -- node
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  -- every component's cleanup, the last registered first: a component is
  -- cleaned up before those it uses (flow, metric, policy)
  FOR r IN SELECT h.function_name FROM @extschema@.component_hook h
            WHERE h.kind OPERATOR(pg_catalog.=) 'cleanup' ORDER BY h.seq DESC, h.function_name LOOP
    EXECUTE format('SELECT %I.%I()', '@extschema@', r.function_name);
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.extension_cleanup() IS
  'Run at DROP EXTENSION concord (by the extension''s utility hook): every component''s registered cleanup (concord.component_hook), the last registered first';
REVOKE EXECUTE ON FUNCTION @extschema@.extension_cleanup() FROM PUBLIC;
