/* concord — core helpers for Citus (optional; see docs/scaling.md).  Joined
 * after src/concord.sql into concord--<version>.sql by the Makefile: every
 * component may ask whether a table is a Citus table, and refuse what
 * Citus cannot run. */

-- Citus (optional; docs/scaling.md): components ask whether a table's rows
-- live in shards on worker nodes.
CREATE FUNCTION @extschema@.citus_table(tbl regclass)
RETURNS boolean
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'concord_citus_table_sql';
COMMENT ON FUNCTION @extschema@.citus_table(regclass) IS
  'True if the table is a Citus distributed or reference table (false where Citus is not installed)';

-- What needs triggers on a table (audit trails, write rules, event rules,
-- rollups' change notes, identity's change tracking) cannot be had on a
-- Citus table: Citus refuses triggers on distributed tables, and theirs
-- would run on the workers, far from concord's tables.  Said in concord's
-- words before Citus says it in its own.
CREATE FUNCTION @extschema@.citus_no_triggers(tbl regclass, what text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF @extschema@.citus_table(tbl) THEN
    RAISE EXCEPTION '% cannot work on Citus table %', what, tbl
      USING ERRCODE = 'feature_not_supported',
            DETAIL = 'It needs triggers on the table, and Citus allows none on distributed tables.',
            HINT = coalesce(hint || ' ', '') || 'docs/scaling.md lists what works on Citus tables.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.citus_no_triggers(regclass, text, text) IS
  'Internal: refuses, in concord''s words, what needs triggers on a Citus table';
