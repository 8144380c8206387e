/* concord — flow: event rules.  Joined into concord--<version>.sql by the
 * Makefile after flow.sql.
 *
 * An event rule fires inside the transaction that changed a row: on
 * INSERT, UPDATE or DELETE of a table, when a condition over NEW and OLD
 * holds (checked by the parser and the allowlist, e.g.
 * NEW.status = '已签约' AND OLD.status IS DISTINCT FROM '已签约'), it runs
 * its actions:
 *   {"webhook": "<endpoint>", "payload": <template>}   a message to the outbox
 *   {"insert": "<table>", "values": <template>}        a task row for another department
 *   {"notify": "<channel>", "payload": <template>}     NOTIFY
 * A template is JSON whose strings "$new.<column>" and "$old.<column>" become
 * that column's value, and "$rule", "$table", "$op" what they say; the
 * columns are checked when the rule is defined.  Each rule is a row
 * trigger calling a function made for it, SECURITY DEFINER as the rule's
 * definer: the actions run with the definer's privileges, which are checked
 * when the rule is defined.  Every firing is recorded in
 * concord.event_firing. */

CREATE SCHEMA concord_rules;
COMMENT ON SCHEMA concord_rules IS 'concord: the trigger functions of event rules (concord.event_rule)';
-- (the functions are made by concord.event_rule_create and owned by their rule's
-- definer; nobody else creates anything here)
GRANT USAGE ON SCHEMA concord_rules TO concord_flow;

CREATE TABLE @extschema@.event_rule (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  table_name  regclass NOT NULL,
  events      text[] NOT NULL CHECK (events <@ ARRAY['insert', 'update', 'delete'] AND cardinality(events) > 0),
  condition   text,
  compiled    text,
  actions     jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
  enabled     boolean NOT NULL DEFAULT true,
  description text,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.event_rule IS
  'Event rules: on which changes of a table, under which condition over NEW and OLD, which actions run (webhook, insert, notify)';
COMMENT ON COLUMN @extschema@.event_rule.defined_by IS
  'The rule''s owner and definer: its actions run with her privileges';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_rule', '');

CREATE TABLE @extschema@.event_firing (
  id        bigserial PRIMARY KEY,
  rule      text NOT NULL,
  op        text NOT NULL,
  fired_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  fired_by  text NOT NULL DEFAULT session_user,
  row_key   jsonb,
  outcomes  jsonb NOT NULL
);
CREATE INDEX ON @extschema@.event_firing (rule, fired_at);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_firing', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_firing_id_seq', '');
COMMENT ON TABLE @extschema@.event_firing IS
  'Every firing of an event rule: when, by whom, on which row, and what each action did (the outbox message, the inserted row, the channel)';

-- Each role sees the rules it owns and their firings; only the API writes.
ALTER TABLE @extschema@.event_rule ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_rule_visible ON @extschema@.event_rule FOR SELECT USING (@extschema@.manages(defined_by));
ALTER TABLE @extschema@.event_firing ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_firing_visible ON @extschema@.event_firing FOR SELECT
  USING (EXISTS (SELECT 1 FROM @extschema@.event_rule r
                  WHERE r.name OPERATOR(pg_catalog.=) event_firing.rule AND @extschema@.manages(r.defined_by)));

-- The columns a template refers to ("$new.x", "$old.x"), each once.
CREATE FUNCTION @extschema@.event_template_columns(tpl jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT
RETURN ARRAY(SELECT DISTINCT substring(v #>> '{}' FROM '^\$(?:new|old)\.(.+)$')
               FROM jsonb_path_query(tpl, 'strict $.**') v
              WHERE jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\$(new|old)\.');
COMMENT ON FUNCTION @extschema@.event_template_columns(jsonb) IS
  'The columns a template''s "$new.<column>" and "$old.<column>" strings name';

-- A template filled from the row: "$new.x" -> NEW's x, and so on.
CREATE FUNCTION @extschema@.event_template(tpl jsonb, new jsonb, old jsonb, meta jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  s text;
BEGIN
  CASE jsonb_typeof(tpl)
    WHEN 'object' THEN
      RETURN coalesce((SELECT jsonb_object_agg(e.key, @extschema@.event_template(e.value, new, old, meta))
                         FROM jsonb_each(tpl) e), '{}');
    WHEN 'array' THEN
      RETURN coalesce((SELECT jsonb_agg(@extschema@.event_template(e, new, old, meta) ORDER BY o)
                         FROM jsonb_array_elements(tpl) WITH ORDINALITY a(e, o)), '[]');
    WHEN 'string' THEN
      s := tpl #>> '{}';
      IF s LIKE '$new.%' THEN
        RETURN coalesce(new -> substr(s, 6), 'null');
      ELSIF s LIKE '$old.%' THEN
        RETURN coalesce(old -> substr(s, 6), 'null');
      ELSIF s IN ('$rule', '$table', '$op') THEN
        RETURN meta -> substr(s, 2);
      END IF;
      RETURN tpl;
    ELSE
      RETURN tpl;
  END CASE;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_template(jsonb, jsonb, jsonb, jsonb) IS
  'A template filled from a row: "$new.<column>", "$old.<column>", "$rule", "$table", "$op" replaced by their values';

-- Records a firing of a rule its caller owns (event_fire, as the rule's
-- owner, calls it).
CREATE FUNCTION @extschema@.event_firing_record(rule text, op text, row_key jsonb, outcomes jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.event_rule r WHERE r.name OPERATOR(pg_catalog.=) event_firing_record.rule
                    AND @extschema@.manages(@extschema@.caller(), r.defined_by)) THEN
    RAISE EXCEPTION 'unknown event rule "%"', rule USING ERRCODE = 'undefined_object';
  END IF;
  INSERT INTO @extschema@.event_firing (rule, op, row_key, outcomes, fired_by)
  VALUES (rule, op, row_key, outcomes, session_user);
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_firing_record(text, text, jsonb, jsonb) IS
  'Internal to event rules: records a firing of a rule the caller owns';

-- Runs a rule's actions for one row, as the rule's definer (its trigger
-- function is SECURITY DEFINER); records the firing.
CREATE FUNCTION @extschema@.event_fire(rule text, op text, new jsonb, old jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  a jsonb;
  meta jsonb;
  outcomes jsonb := '[]';
  v jsonb;
  cols text;
  id bigint;
BEGIN
  -- (row security: only the rule's owner, whose trigger calls this, sees it)
  SELECT * INTO r FROM @extschema@.event_rule x WHERE x.name = event_fire.rule;
  IF r.name IS NULL THEN
    RAISE EXCEPTION 'unknown event rule "%"', rule USING ERRCODE = 'undefined_object';
  END IF;
  meta := jsonb_build_object('rule', rule, 'table', r.table_name::text, 'op', op);
  FOR a IN SELECT e FROM jsonb_array_elements(r.actions) e LOOP
    IF a ? 'webhook' THEN
      v := @extschema@.event_template(coalesce(a -> 'payload', '{}'), new, old, meta);
      -- a chat receiver gets the payload as its text message
      v := coalesce((SELECT @extschema@.alert_format(e.format, format('[concord] %s (%s %s)', rule, op, r.table_name), v::text, v)
                       FROM @extschema@.endpoint e WHERE e.name = a ->> 'webhook' AND e.format <> 'json'), v);
      id := @extschema@.outbox_enqueue(a ->> 'webhook', v, NULL,
              jsonb_build_object('X-Concord-Rule', rule));
      outcomes := outcomes || jsonb_build_object('webhook', a ->> 'webhook', 'outbox_id', id);
    ELSIF a ? 'insert' THEN
      v := @extschema@.event_template(a -> 'values', new, old, meta);
      SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(v) k;
      EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1)',
                     (a ->> 'insert')::regclass, cols, cols, (a ->> 'insert')::regclass) USING v;
      outcomes := outcomes || jsonb_build_object('insert', a ->> 'insert');
    ELSIF a ? 'notify' THEN
      v := @extschema@.event_template(coalesce(a -> 'payload', jsonb_build_object('rule', '$rule', 'op', '$op')), new, old, meta);
      PERFORM pg_catalog.pg_notify(a ->> 'notify', v::text);
      outcomes := outcomes || jsonb_build_object('notify', a ->> 'notify');
    END IF;
  END LOOP;
  PERFORM @extschema@.event_firing_record(rule, op, coalesce(new, old), outcomes);
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_fire(text, text, jsonb, jsonb) IS
  'Internal to event rules: runs a rule''s actions for one changed row, as the rule''s owner, and records the firing';

-- Internal to event_rule_create: an event rule's actions, checked when it
-- is defined rather than at its first firing, against its table and what
-- its definer (me) may do.
CREATE FUNCTION @extschema@.event_rule_check_actions(name text, tbl regclass, actions jsonb, me regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  a jsonb;
  missing text;
BEGIN
  IF actions IS NULL OR jsonb_typeof(actions) <> 'array' OR jsonb_array_length(actions) = 0 THEN
    RAISE EXCEPTION 'actions of rule "%" must be a non-empty JSON array', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. [{"webhook": "marketing", "payload": {"contract": "$new.contract_no"}}, {"notify": "contracts"}]';
  END IF;
  FOR a IN SELECT e FROM jsonb_array_elements(actions) e LOOP
    IF jsonb_typeof(a) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(a) k WHERE k IN ('webhook', 'insert', 'notify')) <> 1 THEN
      RAISE EXCEPTION 'action % of rule "%" must have exactly one of webhook, insert, notify', a, name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(x, ', ') INTO missing FROM unnest(@extschema@.event_template_columns(a)) x
     WHERE @extschema@.metric_column_type(tbl, x) IS NULL;
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'rule "%" refers to columns % that % does not have', name, missing, tbl
        USING ERRCODE = 'undefined_column';
    END IF;
    IF a ? 'webhook' THEN
      IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name = a ->> 'webhook') THEN
        RAISE EXCEPTION 'unknown endpoint "%" in rule "%"', a ->> 'webhook', name
          USING ERRCODE = 'undefined_object', HINT = 'Define it with concord.endpoint_create.';
      END IF;
      IF NOT @extschema@.endpoint_sendable(a ->> 'webhook', me) THEN
        RAISE EXCEPTION 'permission denied to send to endpoint "%" (rule "%")', a ->> 'webhook', name
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'Its owner lets a role send with concord.endpoint_create(..., senders => ..., replace => true).';
      END IF;
    ELSIF a ? 'insert' THEN
      IF pg_catalog.to_regclass(a ->> 'insert') IS NULL THEN
        RAISE EXCEPTION 'unknown table "%" in rule "%"', a ->> 'insert', name USING ERRCODE = 'undefined_table';
      END IF;
      IF jsonb_typeof(a -> 'values') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'insert action of rule "%" needs "values": {"column": value or "$new.column"}', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      SELECT string_agg(k, ', ') INTO missing FROM jsonb_object_keys(a -> 'values') k
       WHERE @extschema@.metric_column_type(pg_catalog.to_regclass(a ->> 'insert'), k) IS NULL;
      IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'table % has no columns % (rule "%")', pg_catalog.to_regclass(a ->> 'insert'), missing, name
          USING ERRCODE = 'undefined_column';
      END IF;
      IF NOT pg_catalog.has_table_privilege(me, pg_catalog.to_regclass(a ->> 'insert'), 'INSERT') THEN
        RAISE EXCEPTION 'permission denied to insert into % (rule "%")', pg_catalog.to_regclass(a ->> 'insert'), name
          USING ERRCODE = 'insufficient_privilege', HINT = 'A rule''s actions run with its definer''s privileges.';
      END IF;
    ELSIF a ->> 'notify' !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'invalid channel "%" in rule "%"', a ->> 'notify', name USING ERRCODE = 'invalid_name';
    ELSE
      -- any role may LISTEN: a NOTIFY payload names the row (its primary
      -- key), never other values of it
      SELECT string_agg(x, ', ' ORDER BY x) INTO missing
        FROM unnest(@extschema@.event_template_columns(a)) x
       WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                           JOIN pg_catalog.pg_attribute t
                             ON t.attrelid OPERATOR(pg_catalog.=) i.indrelid
                            AND t.attnum OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])
                          WHERE i.indrelid OPERATOR(pg_catalog.=) tbl AND i.indisprimary
                            AND t.attname OPERATOR(pg_catalog.=) x::pg_catalog.name);
      IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the NOTIFY payload of rule "%" names columns % of %, which are not its primary key', name, missing, tbl
          USING ERRCODE = 'insufficient_privilege',
                DETAIL = 'Any role may LISTEN to any channel, so a payload may carry only what identifies the row.',
                HINT = 'Send values through a webhook, or name the primary key and let listeners read the row as themselves.';
      END IF;
    END IF;
  END LOOP;

END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_check_actions(text, regclass, jsonb, regrole) IS
  'Internal to event_rule_create: checks a rule''s actions (one of webhook, insert, notify each; the columns, endpoints and tables they name; what its definer may do with them)';

-- Internal to event_rule_create: an event rule's trigger function, the
-- condition compiled in, SECURITY DEFINER as the rule's definer (me) so
-- that its actions run with her rights, and its trigger on the table.
CREATE FUNCTION @extschema@.event_rule_trigger_build(name text, tbl regclass, evs text[], cond text, me regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  fn text;
BEGIN
  fn := format('concord_rules.%I', 'rule_' || name);
  EXECUTE format($f$CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
  IF %s THEN
    PERFORM %I.event_fire(%L, lower(TG_OP),
      CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END,
      CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END);
  END IF;
  RETURN NULL;
END
$body$$f$, fn, coalesce(cond, 'true'), '@extschema@', name);
  -- SECURITY DEFINER as the rule's definer: its actions run with her rights
  EXECUTE format('ALTER FUNCTION %s() OWNER TO %s', fn, me);
  EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn, format('concord event rule %s on %s', name, tbl));
  PERFORM @extschema@.citus_no_triggers(tbl, 'an event rule');
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' || name, tbl);
  EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                 'concord_rule_' || name, array_to_string(ARRAY(SELECT upper(e) FROM unnest(evs) e), ' OR '), tbl, fn);
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_trigger_build(text, regclass, text[], text, regrole) IS
  'Internal to event_rule_create: (re)makes a rule''s trigger function in concord_rules, owned by its definer, and its trigger on the table';

CREATE FUNCTION @extschema@.event_rule_create(name text, tbl regclass, events text[], condition text, actions jsonb,
                                       description text DEFAULT NULL, replace boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  old @extschema@.event_rule;
  cond text;
  rowtype regtype;
  evs text[];
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,50}$' THEN
    RAISE EXCEPTION 'invalid event rule name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rule name is a lower-case identifier, e.g. contract_signed.';
  END IF;
  SELECT * INTO old FROM @extschema@.event_rule x WHERE x.name OPERATOR(pg_catalog.=) event_rule_create.name FOR UPDATE;
  PERFORM @extschema@.require_redefinable('event rule', name, old.defined_by, old.name IS NOT NULL, replace);
  IF tbl IS NULL OR (SELECT k.relkind FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) tbl) OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::pg_catalog."char"[]) THEN
    RAISE EXCEPTION 'event rule "%" needs a table', name USING ERRCODE = 'wrong_object_type';
  END IF;
  -- the rule's trigger goes on the table as if its definer made it
  IF NOT pg_catalog.has_table_privilege(me, tbl, 'TRIGGER') THEN
    RAISE EXCEPTION 'permission denied to create a trigger on % (rule "%")', tbl, name
      USING ERRCODE = 'insufficient_privilege', HINT = 'An event rule needs the TRIGGER privilege on its table (its owner has it).';
  END IF;
  evs := ARRAY(SELECT DISTINCT lower(e) FROM unnest(events) e ORDER BY 1);
  IF cardinality(evs) OPERATOR(pg_catalog.=) 0 OR NOT evs OPERATOR(pg_catalog.<@) ARRAY['insert', 'update', 'delete'] THEN
    RAISE EXCEPTION 'events of rule "%" must be some of insert, update, delete (got %)', name, events
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the condition: over NEW and OLD, rows of the table (OLD is NULL on
  -- insert, NEW on delete)
  rowtype := (SELECT k.reltype FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) tbl)::regtype;
  IF condition IS NOT NULL THEN
    cond := @extschema@.expr_check_over('', ARRAY['new', 'old'], ARRAY[rowtype, rowtype], condition, true);
  END IF;
  -- the actions, checked now rather than at the first firing
  PERFORM @extschema@.event_rule_check_actions(name, tbl, actions, me);

  INSERT INTO @extschema@.event_rule AS r (name, table_name, events, condition, compiled, actions, description, defined_by)
  VALUES (name, tbl, evs, condition, cond, actions, description, me)
  ON CONFLICT ON CONSTRAINT event_rule_pkey DO UPDATE
    SET table_name = excluded.table_name, events = excluded.events, condition = excluded.condition,
        compiled = excluded.compiled, actions = excluded.actions, description = excluded.description,
        defined_by = excluded.defined_by, defined_at = pg_catalog.now(), enabled = true;
  IF old.name IS NOT NULL THEN
    -- the rule may have moved to another table
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' OPERATOR(pg_catalog.||) name, old.table_name);
  END IF;
  PERFORM @extschema@.event_rule_trigger_build(name, tbl, evs, cond, me);
  PERFORM @extschema@.audit_record('event_rule', name, NULL,
    jsonb_build_object('table', tbl::text, 'events', evs, 'condition', condition, 'actions', actions));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_create(text, regclass, text[], text, jsonb, text, boolean) IS
  'Defines an event rule (an existing one only with replace => true, as its owner): on insert/update/delete of a table, when the condition over NEW and OLD holds, run the actions (webhook, insert, notify) in the same transaction';
-- Deprecated (0.2): the old name of event_rule_create(), kept for one release.
SELECT @extschema@.deprecated_alias('event_rule', '@extschema@.event_rule_create(text, regclass, text[], text, jsonb, text, boolean)');

CREATE FUNCTION @extschema@.event_rule_enable(name text, enabled boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  t regclass;
BEGIN
  IF enabled IS NULL THEN
    RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  UPDATE @extschema@.event_rule r SET enabled = event_rule_enable.enabled
   WHERE r.name OPERATOR(pg_catalog.=) event_rule_enable.name
     AND @extschema@.manages(@extschema@.caller(), r.defined_by)
  RETURNING r.table_name INTO t;
  IF t IS NULL THEN
    RAISE EXCEPTION 'unknown event rule "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t, CASE WHEN enabled THEN 'ENABLE' ELSE 'DISABLE' END, 'concord_rule_' OPERATOR(pg_catalog.||) name);
  PERFORM @extschema@.audit_record('event_rule_enable', name, NULL, jsonb_build_object('enabled', enabled));
  RETURN enabled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_enable(text, boolean) IS
  'Enables or disables an event rule without dropping it';

CREATE FUNCTION @extschema@.event_rule_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  t regclass;
  owner regrole;
BEGIN
  SELECT r.defined_by INTO owner FROM @extschema@.event_rule r WHERE r.name OPERATOR(pg_catalog.=) event_rule_drop.name;
  PERFORM @extschema@.require_manages('event rule', name, owner, 'drop');
  DELETE FROM @extschema@.event_rule r WHERE r.name OPERATOR(pg_catalog.=) event_rule_drop.name RETURNING r.table_name INTO t;
  IF t IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' OPERATOR(pg_catalog.||) name, t);
  EXECUTE format('DROP FUNCTION IF EXISTS concord_rules.%I()', 'rule_' OPERATOR(pg_catalog.||) name);
  PERFORM @extschema@.audit_record('event_rule_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_drop(text) IS
  'Drops an event rule, its trigger and its function; its firings stay recorded';

GRANT SELECT ON @extschema@.event_rule, @extschema@.event_firing TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'event_rule_create(text, regclass, text[], text, jsonb, text, boolean)', 'event_rule(text, regclass, text[], text, jsonb, text, boolean)', 'event_rule_enable(text, boolean)',
    'event_rule_drop(text)', 'event_fire(text, text, jsonb, jsonb)', 'event_firing_record(text, text, jsonb, jsonb)']);
GRANT EXECUTE ON FUNCTION @extschema@.metric_column_type(regclass, text) TO concord_flow;
REVOKE EXECUTE ON FUNCTION @extschema@.event_rule_check_actions(text, regclass, jsonb, regrole),
                           @extschema@.event_rule_trigger_build(text, regclass, text[], text, regrole) FROM PUBLIC;

-- What DROP EXTENSION concord undoes of flow's (registered with core, run
-- by extension_cleanup): event rules, with their triggers.
CREATE FUNCTION @extschema@.flow_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT x.name FROM @extschema@.event_rule x LOOP
    PERFORM @extschema@.event_rule_drop(r.name);
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.flow_cleanup() IS
  'Run at DROP EXTENSION concord (extension_cleanup): drops the event rules, with their triggers';
REVOKE EXECUTE ON FUNCTION @extschema@.flow_cleanup() FROM PUBLIC;
SELECT @extschema@.component_register('flow', 'cleanup', 'flow_cleanup', 70);
