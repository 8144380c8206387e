/* concord — policy: write rules.  Joined into concord--<version>.sql
 * by the Makefile after mask.sql. */

-- Write rules: which changes a table accepts, by whom and in which state
-- of the row (process-state rules: only finance edits invoice_amount, and
-- only while the contract is signed; a closed contract is edited by
-- nobody).  Enforced by a row trigger per rule, carrying the compiled
-- condition as its argument (the writer needs no access to this table).
CREATE TABLE @extschema@.write_rule (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  table_name  regclass NOT NULL,
  columns     text[],
  operations  text[] NOT NULL,
  predicate   text NOT NULL,
  compiled    text NOT NULL,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.write_rule IS
  'Write rules: a change of the columns (NULL: any) by the operations is allowed only where the condition holds -- on the row as it was (UPDATE, DELETE) or as inserted (INSERT)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.write_rule', '');

-- The trigger of a write rule: TG_ARGV = name, columns (a text[] literal,
-- empty for any), compiled condition.  Not SECURITY DEFINER: the condition
-- asks about the writer (concord.member reads the current user).
CREATE FUNCTION @extschema@.write_rule_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cols text[] := TG_ARGV[1]::text[];
  c text;
  touched boolean := cardinality(cols) = 0 OR TG_OP <> 'UPDATE';
  diff boolean;
  ok boolean;
BEGIN
  FOREACH c IN ARRAY cols LOOP
    EXIT WHEN touched;
    EXECUTE format('SELECT ($1).%1$I IS DISTINCT FROM ($2).%1$I', c) INTO diff USING OLD, NEW;
    touched := diff;
  END LOOP;
  IF NOT touched THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) r', TG_ARGV[2]) INTO ok USING NEW;
  ELSE
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) r', TG_ARGV[2]) INTO ok USING OLD;
  END IF;
  IF NOT ok THEN
    RAISE EXCEPTION 'write rule "%" forbids this % on %', TG_ARGV[0], TG_OP, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = format('The rule allows %s only where: %s', CASE WHEN cardinality(cols) > 0 AND TG_OP = 'UPDATE'
                              THEN 'changes of ' || array_to_string(cols, ', ') ELSE 'it' END, TG_ARGV[2]),
            HINT = 'Ask someone the rule allows, or a governance change (concord.write_rule_create).';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.write_rule_check() IS
  'Trigger of the write rules (one trigger per rule; its arguments are the rule)';

CREATE FUNCTION @extschema@.write_rule_create(name text, tbl regclass, predicate text, columns text[] DEFAULT NULL,
                                       operations text[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  compiled text;
  c text;
  ops text[];
BEGIN
  PERFORM @extschema@.require_table_owner(me, tbl, format('write rule "%s"', name));
  PERFORM @extschema@.policy_object_check('write rule', name, tbl, predicate,
            (SELECT w.table_name FROM @extschema@.write_rule w WHERE w.name OPERATOR(pg_catalog.=) write_rule_create.name));
  IF cardinality(columns) OPERATOR(pg_catalog.=) 0 THEN
    columns := NULL;
  END IF;
  -- by default a rule on columns watches changes of them (UPDATE), one on
  -- whole rows watches UPDATE and DELETE: a DELETE changes no column, so a
  -- rule about who edits invoice_amount does not forbid others' deletes
  -- unless it says DELETE
  IF operations IS NULL THEN
    operations := CASE WHEN columns IS NULL THEN ARRAY['UPDATE', 'DELETE'] ELSE ARRAY['UPDATE'] END;
  END IF;
  SELECT array_agg(DISTINCT upper(o) ORDER BY upper(o)) INTO ops FROM unnest(operations) o;
  IF ops IS NULL OR NOT ops OPERATOR(pg_catalog.<@) ARRAY['DELETE', 'INSERT', 'UPDATE'] THEN
    RAISE EXCEPTION 'invalid operations of write rule "%": %', name, coalesce(operations::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Operations are INSERT, UPDATE and DELETE.';
  END IF;
  FOREACH c IN ARRAY coalesce(columns, '{}') LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) c
                    AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'column "%" of table % does not exist', c, tbl
        USING ERRCODE = 'undefined_column';
    END IF;
  END LOOP;
  PERFORM @extschema@.citus_no_triggers(tbl, 'a write rule');
  compiled := @extschema@.policy_predicate(tbl, predicate);
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_wr_' OPERATOR(pg_catalog.||) name, tbl);
  EXECUTE format('CREATE TRIGGER %I BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION %s.write_rule_check(%L, %L, %L)',
                 'concord_wr_' OPERATOR(pg_catalog.||) name, array_to_string(ops, ' OR '), tbl, '@extschema@',
                 name, coalesce(columns, '{}')::text, compiled);
  INSERT INTO @extschema@.write_rule AS w (name, table_name, columns, operations, predicate, compiled, defined_by)
  VALUES (write_rule_create.name, tbl, columns, ops, predicate, compiled, me)
  ON CONFLICT ON CONSTRAINT write_rule_pkey DO UPDATE
    SET columns = excluded.columns, operations = excluded.operations, predicate = excluded.predicate,
        compiled = excluded.compiled, defined_by = excluded.defined_by, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('write_rule', name, NULL,
                                   jsonb_build_object('table', tbl::text, 'columns', columns, 'operations', ops,
                                                      'condition', predicate));
  -- (inheritance children get its trigger too; partitions have it already)
  PERFORM @extschema@.governance_sync(tbl);
  RETURN compiled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.write_rule_create(text, regclass, text, text[], text[]) IS
  'Defines (or redefines) a write rule: changes of the columns (NULL: any) by the operations (default: UPDATE, and DELETE when the rule is not on columns) are allowed only where the condition holds on the row as it was (as inserted, for INSERT); an INSERT or DELETE it watches is checked whatever the columns; returns the compiled condition';
-- Deprecated (0.2): the old name of write_rule_create(), kept for one release.
SELECT @extschema@.deprecated_alias('write_rule', '@extschema@.write_rule_create(text, regclass, text, text[], text[])');

CREATE FUNCTION @extschema@.write_rule_drop(name text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
RETURN @extschema@.policy_object_drop('write rule', name);
COMMENT ON FUNCTION @extschema@.write_rule_drop(text) IS 'Drops a write rule and its trigger';

SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'write_rule_create(text, regclass, text, text[], text[])', 'write_rule(text, regclass, text, text[], text[])', 'write_rule_drop(text)']);
GRANT SELECT ON @extschema@.write_rule TO concord_policy;
