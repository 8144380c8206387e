/* concord — policy: what DROP EXTENSION concord undoes of policy's,
 * registered with core (src/uninstall.sql runs it).  Joined into
 * concord--<version>.sql by the Makefile after guard.sql. */

-- What DROP EXTENSION concord undoes of policy's (registered with core,
-- run by extension_cleanup): governed views (their readers get the table
-- back), concord's row policies and the row security it turned on where
-- only they were left, the Citus mirror of members and departments.
CREATE FUNCTION @extschema@.policy_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
  g record;
BEGIN
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
  -- the Citus mirror of members and departments (citus_prepare)
  DROP SCHEMA IF EXISTS concord_citus CASCADE;
END
$fn$;
COMMENT ON FUNCTION @extschema@.policy_cleanup() IS
  'Run at DROP EXTENSION concord (extension_cleanup): drops governed views (their readers'' grants back on the tables), concord''s policies and the row security it turned on, the Citus mirror';
REVOKE EXECUTE ON FUNCTION @extschema@.policy_cleanup() FROM PUBLIC;
SELECT @extschema@.component_register('policy', 'cleanup', 'policy_cleanup', 50);
