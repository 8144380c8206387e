/* concord — policy: the audit log.  Joined into concord--<version>.sql
 * by the Makefile after rules.sql. */

-- The audit log: governance changes and the rows written to audited
-- tables, each entry chained to the one before by SHA-256 (audit.c).
-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE TABLE @extschema@.audit_log (
  id            bigserial PRIMARY KEY,
  at            timestamptz NOT NULL,
  actor         text NOT NULL,
  session_actor text NOT NULL,
  action        text NOT NULL,
  object        text NOT NULL,
  old           jsonb,
  new           jsonb,
  prev_hash     bytea,
  hash          bytea NOT NULL
);
COMMENT ON TABLE @extschema@.audit_log IS
  'Append-only audit trail: who (the acting role and its session''s) did what (action) to what (object), with the values before and after; hash = SHA-256 of the entry and the previous entry''s hash (see audit_verify)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');

CREATE FUNCTION @extschema@.audit_log_refuse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RAISE EXCEPTION 'concord.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Entries are never changed or removed; concord.audit_verify() checks the chain.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_log_refuse() IS 'Trigger keeping concord.audit_log append-only';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON @extschema@.audit_log
  FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON @extschema@.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.audit_log_refuse();

CREATE FUNCTION @extschema@.audit_hash(prev bytea, id bigint, at timestamptz, actor text, action text,
                                       object text, old jsonb, new jsonb)
RETURNS bytea
AS 'MODULE_PATHNAME', 'concord_audit_hash'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.audit_hash(bytea, bigint, timestamptz, text, text, text, jsonb, jsonb) IS
  'SHA-256 of an audit entry''s fields (each length-prefixed) after the previous entry''s hash';

CREATE FUNCTION @extschema@.audit_record(action text, object text, old jsonb DEFAULT NULL, new jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'concord_audit_record'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb) IS
  'Appends an audit entry in the name of the current user (governance functions call it); returns its id';

CREATE FUNCTION @extschema@.audit_row()
RETURNS trigger
AS 'MODULE_PATHNAME', 'concord_audit_row'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.audit_row() IS
  'Trigger of audited tables: an audit entry per row inserted, updated or deleted, with the values before and after';

CREATE FUNCTION @extschema@.audit_table(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'audit_table needs a table' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.require_table_owner(@extschema@.caller(), tbl, 'an audit trail');
  IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'concord_audit') THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.citus_no_triggers(tbl, 'an audit trail');
  EXECUTE format('CREATE TRIGGER concord_audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                 ' FOR EACH ROW EXECUTE FUNCTION %s.audit_row()', tbl, '@extschema@');
  PERFORM @extschema@.audit_record('audit_table', tbl::text);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_table(regclass) IS
  'Marks a table audited: every row written to it is an audit entry from now on; false if it already was';

CREATE FUNCTION @extschema@.audit_verify()
RETURNS TABLE (entries bigint, intact boolean, first_broken bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  WITH c AS (
    SELECT l.id,
           l.hash = @extschema@.audit_hash(l.prev_hash, l.id, l.at, l.actor, l.action, l.object, l.old, l.new)
           AND l.prev_hash IS NOT DISTINCT FROM lag(l.hash) OVER (ORDER BY l.id) AS ok
      FROM @extschema@.audit_log l)
  SELECT count(*), coalesce(bool_and(c.ok), true), min(c.id) FILTER (WHERE NOT c.ok) FROM c
$fn$;
COMMENT ON FUNCTION @extschema@.audit_verify() IS
  'Checks the audit chain: every entry''s hash is that of its fields and the previous entry''s hash; the first entry that is not, if any (an entry changed, removed or inserted)';

SELECT @extschema@.grant_routines('concord_policy', ARRAY['audit_table(regclass)', 'audit_verify()']);
-- Only concord writes the log: audit_record is for its API functions (which
-- run as its owner), audit_row for the triggers audit_table makes.
REVOKE EXECUTE ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb), @extschema@.audit_row() FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_log TO concord_policy;
