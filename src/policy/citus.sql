/* concord — policy on Citus (optional; see docs/scaling.md).  Joined after
 * access.sql into concord--<version>.sql by the Makefile.
 *
 * On a Citus cluster, Citus ships each distributed table's row policies to
 * its shards, and a shard query on a worker evaluates concord.member() and
 * concord.member_in() there.  The worker's own concord.member is empty, and
 * a shard query may not read a distributed or reference table (Citus
 * forbids nested distributed queries), so citus_prepare() keeps a mirror of
 * concord.member and concord.department in Citus reference tables: every
 * node holds a placement, a plain table that member.c reads on that node.
 * The mirror is written by triggers on concord's tables in the writing
 * transaction (Citus commits reference tables on every node with two-phase
 * commit): a membership granted or revoked on the coordinator holds on
 * every node at the same commit. */

CREATE FUNCTION @extschema@.citus_mirror()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  mirror constant text := format('concord_citus.%I', TG_TABLE_NAME);
  key constant text := CASE WHEN TG_TABLE_NAME OPERATOR(pg_catalog.=) 'member' THEN 'role_name' ELSE 'name' END;
BEGIN
  IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
    EXECUTE 'TRUNCATE ' OPERATOR(pg_catalog.||) mirror;
    RETURN NULL;
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) ANY (ARRAY['UPDATE', 'DELETE']) THEN
    EXECUTE format('DELETE FROM %s WHERE %I = ($1).%I', mirror, key, key) USING OLD;
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']) THEN
    EXECUTE format('INSERT INTO %s SELECT ($1).*', mirror) USING NEW;
  END IF;
  RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.citus_mirror() IS
  'Internal: the trigger that copies a change of concord.member or concord.department into its Citus mirror (concord_citus)';
REVOKE EXECUTE ON FUNCTION @extschema@.citus_mirror() FROM PUBLIC;

CREATE FUNCTION @extschema@.citus_prepare()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  owner constant regrole := (SELECT c.relowner::regrole FROM pg_catalog.pg_class c
                              WHERE c.oid = '@extschema@.member'::regclass);
  t text;
BEGIN
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
    RAISE EXCEPTION 'Citus is not installed in database "%"', pg_catalog.current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'On one node concord needs no preparation; on a Citus cluster run CREATE EXTENSION citus on the coordinator first.';
  END IF;
  IF pg_catalog.to_regnamespace('concord_citus') IS NOT NULL THEN
    -- prepared already, or a schema of that name made by someone else
    -- (member() would not read it: it reads only a mirror of concord's owner)
    IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'concord_citus') <> owner
       OR pg_catalog.to_regclass('concord_citus.member') IS NULL THEN
      RAISE EXCEPTION 'schema concord_citus exists and is not concord''s mirror'
        USING ERRCODE = 'duplicate_schema',
              HINT = 'Drop or rename that schema; concord.citus_prepare() makes it.';
    END IF;
    RETURN 'concord_citus';
  END IF;
  CREATE SCHEMA concord_citus;
  EXECUTE format('ALTER SCHEMA concord_citus OWNER TO %s', owner);
  COMMENT ON SCHEMA concord_citus IS
    'concord''s mirror of its members and departments in Citus reference tables, read by row policies on every node (concord.citus_prepare)';
  FOREACH t IN ARRAY ARRAY['department', 'member'] LOOP
    EXECUTE format('CREATE TABLE concord_citus.%I (LIKE @extschema@.%I)', t, t);
    EXECUTE format('ALTER TABLE concord_citus.%I OWNER TO %s', t, owner);
    EXECUTE format('COMMENT ON TABLE concord_citus.%I IS %L', t,
                   format('The mirror of concord.%s on every node (a Citus reference table), written by a trigger on it', t));
    PERFORM pg_catalog.create_reference_table(format('concord_citus.%I', t)::regclass);
    EXECUTE format('INSERT INTO concord_citus.%I SELECT * FROM @extschema@.%I', t, t);
    EXECUTE format('CREATE TRIGGER concord_citus_mirror AFTER INSERT OR UPDATE OR DELETE ON @extschema@.%I'
                   ' FOR EACH ROW EXECUTE FUNCTION @extschema@.citus_mirror()', t);
    EXECUTE format('CREATE TRIGGER concord_citus_mirror_truncate AFTER TRUNCATE ON @extschema@.%I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.citus_mirror()', t);
  END LOOP;
  RETURN 'concord_citus';
END
$fn$;
COMMENT ON FUNCTION @extschema@.citus_prepare() IS
  'On a Citus coordinator: mirrors concord''s members and departments to every node (schema concord_citus, reference tables), so that row policies on distributed tables hold on the workers; returns the schema';
REVOKE EXECUTE ON FUNCTION @extschema@.citus_prepare() FROM PUBLIC;

-- Distributing a table that has row policies: Citus ships a table's
-- policies to its shards and refuses ("Subqueries are not supported in
-- policies on distributed tables") the scalar subqueries concord compiles
-- member lookups into on one node.  citus_distribute() drops the table's
-- concord policies, distributes it (or makes it a reference table), and
-- compiles them again for Citus -- in one transaction.
CREATE FUNCTION @extschema@.citus_distribute(tbl regclass, distribution_column text DEFAULT NULL,
                                             colocate_with text DEFAULT 'default')
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  p record;
BEGIN
  IF tbl IS NULL OR colocate_with IS NULL THEN
    RAISE EXCEPTION 'citus_distribute needs a table (and colocate_with)' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF pg_catalog.to_regclass('concord_citus.member') IS NULL THEN
    RAISE EXCEPTION 'concord is not prepared for Citus in database "%"', pg_catalog.current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run SELECT concord.citus_prepare() on the coordinator first.';
  END IF;
  IF @extschema@.citus_table(tbl) THEN
    RAISE EXCEPTION 'table % is already a Citus table', tbl
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.column_mask m WHERE m.table_name = tbl) THEN
    RAISE EXCEPTION 'table % has masks, which cannot work on a Citus table', tbl
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Keep the masked columns in a table that stays on the coordinator (docs/scaling.md), or drop the masks first.';
  END IF;
  FOR p IN SELECT r.name FROM @extschema@.row_policy r WHERE r.table_name = tbl LOOP
    EXECUTE format('DROP POLICY %I ON %s', 'concord_' || p.name, tbl);
  END LOOP;
  IF distribution_column IS NULL THEN
    PERFORM pg_catalog.create_reference_table(tbl);
  ELSE
    PERFORM pg_catalog.create_distributed_table(tbl, distribution_column, colocate_with => colocate_with);
  END IF;
  FOR p IN SELECT r.name, r.predicate FROM @extschema@.row_policy r WHERE r.table_name = tbl ORDER BY r.name LOOP
    PERFORM @extschema@.row_policy_create(p.name, tbl, p.predicate);
  END LOOP;
  RETURN tbl;
END
$fn$;
COMMENT ON FUNCTION @extschema@.citus_distribute(regclass, text, text) IS
  'On a Citus coordinator: distributes a table by a column (or, without one, makes it a reference table) and compiles its row policies again for Citus, in one transaction';
REVOKE EXECUTE ON FUNCTION @extschema@.citus_distribute(regclass, text, text) FROM PUBLIC;
