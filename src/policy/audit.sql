/* concord — policy: the audit log.  Joined into concord--<version>.sql
 * by the Makefile after rules.sql. */

-- The audit log: governance changes and the rows written to audited
-- tables, each entry chained to the one before by SHA-256 (audit.c).
-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks; entries
-- removed behind the triggers' back are found against a checkpoint
-- (audit_checkpoint, audit_verify(checkpoint)).
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

-- The lock that serializes appends: one row that every append locks and
-- updates (with the id and hash of the entry it appended).  Only the log's
-- owner may read or lock this table.  Not dumped: the chain's head is the
-- log's last entry, which is what an append chains to.
CREATE TABLE @extschema@.audit_head (
  one   boolean PRIMARY KEY DEFAULT true CHECK (one),
  id    bigint,
  hash  bytea
);
COMMENT ON TABLE @extschema@.audit_head IS
  'The head of the audit chain (the last entry''s id and hash), locked by every append to serialize them; concord''s own, nobody else''s to read or lock';
INSERT INTO @extschema@.audit_head DEFAULT VALUES;

CREATE FUNCTION @extschema@.audit_hash(prev bytea, id bigint, at timestamptz, actor text, session_actor text, action text,
                                       object text, old jsonb, new jsonb)
RETURNS bytea
AS 'MODULE_PATHNAME', 'concord_audit_hash'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.audit_hash(bytea, bigint, timestamptz, text, text, text, text, jsonb, jsonb) IS
  'SHA-256 of every field of an audit entry (each length-prefixed) after the previous entry''s hash';

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

CREATE FUNCTION @extschema@.audit_table_create(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'audit_table_create needs a table' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.require_table_owner(@extschema@.caller(), tbl, 'an audit trail');
  IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::pg_catalog."char"[]) THEN
    RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) tbl AND t.tgname OPERATOR(pg_catalog.=) 'concord_audit') THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.citus_no_triggers(tbl, 'an audit trail');
  EXECUTE format('CREATE TRIGGER concord_audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                 ' FOR EACH ROW EXECUTE FUNCTION %s.audit_row()', tbl, '@extschema@');
  PERFORM @extschema@.audit_record('audit_table', tbl::text);
  -- (inheritance children get its trigger too; partitions have it already)
  PERFORM @extschema@.governance_sync(tbl);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_table_create(regclass) IS
  'Marks a table audited: every row written to it is an audit entry from now on; false if it already was';
-- Deprecated (0.2): the old name of audit_table_create(), kept for one release.
SELECT @extschema@.deprecated_alias('audit_table', '@extschema@.audit_table_create(regclass)');

CREATE FUNCTION @extschema@.audit_verify()
RETURNS TABLE (entries bigint, intact boolean, first_broken bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  WITH c AS (
    SELECT l.id,
           l.hash = @extschema@.audit_hash(l.prev_hash, l.id, l.at, l.actor, l.session_actor, l.action, l.object, l.old, l.new)
           AND l.prev_hash IS NOT DISTINCT FROM lag(l.hash) OVER (ORDER BY l.id) AS ok
      FROM @extschema@.audit_log l)
  SELECT count(*), coalesce(bool_and(c.ok), true), min(c.id) FILTER (WHERE NOT c.ok) FROM c
$fn$;
COMMENT ON FUNCTION @extschema@.audit_verify() IS
  'Checks the audit chain: every entry''s hash is that of its fields and the previous entry''s hash; the first entry that is not, if any (an entry changed, removed or inserted). Entries removed from the end, or a chain recomputed after a change, need audit_verify(checkpoint)';

-- An external anchor: the head of the chain, to be kept where whoever
-- could rewrite the log cannot (another system, a signed mail, a ticket).
-- Its hash commits to every entry up to it.  With endpoint, it is also sent
-- there (concord.outbox_enqueue, as the caller, who must be allowed to
-- send through the endpoint), once per head.
CREATE FUNCTION @extschema@.audit_checkpoint(endpoint text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cp jsonb;
BEGIN
  SELECT jsonb_build_object('id', l.id, 'hash', encode(l.hash, 'hex'), 'at', l.at)
    INTO cp FROM @extschema@.audit_log l ORDER BY l.id DESC LIMIT 1;
  cp := coalesce(cp, jsonb_build_object('id', 0, 'hash', NULL, 'at', NULL));
  IF endpoint IS NOT NULL THEN
    -- (flow's API, called by name: the policy component does not depend on flow)
    EXECUTE format('SELECT %s.outbox_enqueue($1, $2, $3)', '@extschema@')
      USING endpoint, jsonb_build_object('audit_checkpoint', cp), 'concord-audit-checkpoint-' || (cp ->> 'id');
  END IF;
  RETURN cp;
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_checkpoint(text) IS
  'The head of the audit chain as {"id", "hash", "at"}: keep it outside the database and give it to audit_verify(checkpoint) later; with endpoint, also sends it there through the outbox';

-- The chain checked against a checkpoint taken earlier: intact only if
-- every entry is as hashed, each chained to the one before, and the entry
-- the checkpoint names is still there with the checkpoint's hash -- so an
-- entry changed or removed up to it, even with every later hash
-- recomputed, and entries removed from the end (up to the whole log), are
-- found.  detail says what is wrong.
CREATE FUNCTION @extschema@.audit_verify(checkpoint jsonb)
RETURNS TABLE (entries bigint, intact boolean, first_broken bigint, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cp_id bigint;
  cp_hash bytea;
  v record;
  at_cp record;
BEGIN
  BEGIN
    cp_id := (checkpoint ->> 'id')::bigint;
    cp_hash := decode(checkpoint ->> 'hash', 'hex');
  EXCEPTION WHEN OTHERS THEN
    cp_id := NULL;
  END;
  IF checkpoint IS NULL OR cp_id IS NULL OR cp_id < 0 OR (cp_id > 0 AND cp_hash IS NULL) THEN
    RAISE EXCEPTION 'invalid audit checkpoint: %', coalesce(checkpoint::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass what concord.audit_checkpoint() returned: {"id": ..., "hash": "..."}.';
  END IF;
  SELECT * INTO v FROM @extschema@.audit_verify();
  entries := v.entries;
  IF NOT v.intact THEN
    intact := false;
    first_broken := v.first_broken;
    detail := format('entry %s is not chained to the entry before it, or not as hashed', v.first_broken);
    RETURN NEXT;
    RETURN;
  END IF;
  IF cp_id = 0 THEN
    intact := true;
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT l.id, l.hash INTO at_cp FROM @extschema@.audit_log l WHERE l.id = cp_id;
  IF at_cp.id IS NULL THEN
    intact := false;
    first_broken := cp_id;
    detail := CASE WHEN NOT EXISTS (SELECT 1 FROM @extschema@.audit_log l WHERE l.id > cp_id)
                   THEN format('entry %s, the checkpoint''s, is gone: entries were removed from the end of the log', cp_id)
                   ELSE format('entry %s, the checkpoint''s, is gone: the log was rewritten', cp_id) END;
  ELSIF at_cp.hash IS DISTINCT FROM cp_hash THEN
    intact := false;
    first_broken := cp_id;
    detail := format('entry %s does not have the checkpoint''s hash: an entry up to it was changed, removed or inserted, and the chain recomputed', cp_id);
  ELSE
    intact := true;
  END IF;
  RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_verify(jsonb) IS
  'Checks the audit chain against a checkpoint (audit_checkpoint()): intact only if the chain holds and the checkpoint''s entry is there with its hash; detail says what was found';

SELECT @extschema@.grant_routines('concord_policy', ARRAY['audit_table_create(regclass)', 'audit_table(regclass)', 'audit_verify()',
                                                          'audit_verify(jsonb)', 'audit_checkpoint(text)']);
-- Only concord writes the log: audit_record is for its API functions (which
-- run as its owner), audit_row for the triggers audit_table_create makes.
REVOKE EXECUTE ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb), @extschema@.audit_row() FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_log TO concord_policy;
