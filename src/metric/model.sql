/* concord — metric: semantic models, their dimensions and the joins between
 * them.  Joined into concord--<version>.sql by the Makefile after policy.
 *
 * A semantic model is a table or view (a governed view too) that metrics
 * aggregate: its time column and its dimensions, each an expression of its
 * columns checked by the parser and an allowlist (concord.expr_check).
 * Joins go from a model to another along declared keys, many-to-one only:
 * each row of the first finds at most one row of the second, which
 * concord proves by a unique index on the second's key (or the definer
 * declares it, safe => true, for a view), so a join never multiplies the
 * rows a metric counts. */

SELECT @extschema@.capability_role('concord_metric',
  'may define semantic models and metrics, version and certify them (concord.model_define, metric_define, metric_certify)');

-- The checks of user expressions (src/expr.c): they only parse.
CREATE FUNCTION @extschema@.expr_check(rel regclass, alias text, expr text, condition boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_expr_check'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_check(regclass, text, text, boolean) IS
  'Checks an expression (or, when condition, a condition) over a relation''s columns against concord''s allowlist and returns it written back, columns qualified by alias';
CREATE FUNCTION @extschema@.expr_type(rel regclass, alias text, expr text)
RETURNS regtype
AS 'MODULE_PATHNAME', 'concord_expr_type'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_type(regclass, text, text) IS
  'The type of an expression over a relation''s columns, checked as expr_check does';
CREATE FUNCTION @extschema@.expr_check_over(alias text, names text[], types regtype[], expr text, condition boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_expr_check_over'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_check_over(text, text[], regtype[], text, boolean) IS
  'Checks an expression or condition over named columns of the given types (dimensions, metrics) and returns it written back, columns qualified by alias';
CREATE FUNCTION @extschema@.expr_names(expr text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'concord_expr_names'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expr_names(text) IS
  'The names (column references) an expression uses, each once, in order of first use';

CREATE TABLE @extschema@.metric_model (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  relation    regclass NOT NULL,
  time_column text,
  description text,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_model IS
  'Semantic models: the table or view a metric aggregates, with its time column';
COMMENT ON COLUMN @extschema@.metric_model.name IS
  'The model''s name, a lower-case identifier; metrics name their model by it';
COMMENT ON COLUMN @extschema@.metric_model.relation IS
  'The table or view the model''s metrics aggregate (a governed view too)';
COMMENT ON COLUMN @extschema@.metric_model.time_column IS
  'The date, timestamp or timestamptz column that grains and date ranges apply to; NULL when the model has none';
COMMENT ON COLUMN @extschema@.metric_model.description IS
  'What the model''s rows are, in words (e.g. 订单（销售系统）)';
COMMENT ON COLUMN @extschema@.metric_model.defined_by IS
  'The model''s owner: the role that first defined it (only she, roles with her privileges and concord_admin may change it)';
COMMENT ON COLUMN @extschema@.metric_model.defined_at IS
  'When the model was last defined';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_model', '');

CREATE TABLE @extschema@.metric_dimension (
  model       text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  expr        text NOT NULL,
  compiled    text NOT NULL,
  type        regtype NOT NULL,
  description text,
  PRIMARY KEY (model, name)
);
COMMENT ON TABLE @extschema@.metric_dimension IS
  'Dimensions of semantic models: a name, the expression of the model''s columns as written and as checked, its type';
COMMENT ON COLUMN @extschema@.metric_dimension.model IS
  'The semantic model the dimension belongs to (metric_model.name)';
COMMENT ON COLUMN @extschema@.metric_dimension.name IS
  'The dimension''s name, a lower-case identifier; questions ask for it by name, or as model.name when two models have it';
COMMENT ON COLUMN @extschema@.metric_dimension.expr IS
  'The expression of the model''s columns, as given to model_define';
COMMENT ON COLUMN @extschema@.metric_dimension.compiled IS
  'The expression as checked (parser and allowlist) and written back from its parse tree, columns qualified by the model''s name';
COMMENT ON COLUMN @extschema@.metric_dimension.type IS
  'The type of the expression''s values';
COMMENT ON COLUMN @extschema@.metric_dimension.description IS
  'What the dimension is, in words; NULL when none was given';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_dimension', '');

CREATE TABLE @extschema@.metric_join (
  model         text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  to_model      text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  from_column   text NOT NULL,
  to_column     text NOT NULL,
  declared_safe boolean NOT NULL DEFAULT false,
  PRIMARY KEY (model, to_model),
  CHECK (model <> to_model)
);
COMMENT ON TABLE @extschema@.metric_join IS
  'Many-to-one joins between semantic models: each row of model matches at most one row of to_model on from_column = to_column (proven by a unique index, or declared safe)';
COMMENT ON COLUMN @extschema@.metric_join.model IS
  'The model the join starts from (the many side)';
COMMENT ON COLUMN @extschema@.metric_join.to_model IS
  'The model it reaches (the one side): each row of model matches at most one of its rows';
COMMENT ON COLUMN @extschema@.metric_join.from_column IS
  'The column of model''s relation that holds the key';
COMMENT ON COLUMN @extschema@.metric_join.to_column IS
  'The column of to_model''s relation the key matches, unique there';
COMMENT ON COLUMN @extschema@.metric_join.declared_safe IS
  'Declared many-to-one by its definer (safe => true, for a view) rather than proven by a unique index';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_join', '');

-- Is col a column of rel?  (its type, or NULL)
CREATE FUNCTION @extschema@.metric_column_type(rel regclass, col text)
RETURNS regtype
LANGUAGE sql STABLE STRICT
RETURN (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped);
COMMENT ON FUNCTION @extschema@.metric_column_type(regclass, text) IS
  'The type of a column of a relation, or NULL when it has no such column';

-- What a model may read: a relation its definer may read, that answers
-- each reader with her own rows -- a table, a view that runs as its reader
-- (security_invoker), or a governed view (column_mask), whose base table's
-- forced row security binds its owner too.  A plain view or a materialized
-- view reads as its owner and would give everyone the owner's rows.
CREATE FUNCTION @extschema@.model_relation_check(model text, relation regclass, definer regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  k "char";
  opts text[];
BEGIN
  SELECT c.relkind, c.reloptions INTO k, opts FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relation;
  IF k IS NULL THEN
    RAISE EXCEPTION 'relation with OID % does not exist', relation::pg_catalog.oid USING ERRCODE = 'undefined_table';
  END IF;
  IF NOT pg_catalog.has_table_privilege(definer, relation, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for % (model "%")', relation, model
      USING ERRCODE = 'insufficient_privilege', HINT = 'A model''s definer must be able to read its relation.';
  END IF;
  IF k OPERATOR(pg_catalog.=) 'm' THEN
    RAISE EXCEPTION 'model "%" cannot read materialized view %', model, relation
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'A materialized view holds its owner''s rows: row policies of its tables would not apply to readers.',
            HINT = 'Model its tables, or a view WITH (security_invoker = true) over them.';
  ELSIF k OPERATOR(pg_catalog.=) 'v'
        AND NOT coalesce('security_invoker=true' OPERATOR(pg_catalog.=) ANY (opts)
                         OR 'security_invoker=on' OPERATOR(pg_catalog.=) ANY (opts), false)
        AND NOT EXISTS (SELECT 1 FROM @extschema@.column_mask m JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) m.table_name
                         WHERE t.relnamespace OPERATOR(pg_catalog.=) (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relation)
                           AND (t.relname OPERATOR(pg_catalog.||) '_governed') OPERATOR(pg_catalog.=)
                               (SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relation)) THEN
    RAISE EXCEPTION 'model "%" cannot read view %: it runs as its owner', model, relation
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'Row policies of the tables under it would apply to the view''s owner, not to each reader.',
            HINT = format('ALTER VIEW %s SET (security_invoker = true), or model the table (or its governed view).', relation);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_relation_check(text, regclass, regrole) IS
  'Internal to model_define: the relation is one its definer may read and that answers each reader under her own row policies';

CREATE FUNCTION @extschema@.model_define(name text, relation regclass, time_column text DEFAULT NULL,
                                         dimensions jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  prev regrole;
  d record;
  dexpr text;
  ddesc text;
  tt regtype;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid model name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A model name is a lower-case identifier, e.g. orders.';
  END IF;
  SELECT m.defined_by INTO prev FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_define.name FOR UPDATE;
  PERFORM @extschema@.require_manages('model', name, prev, 'redefine');
  IF relation IS NULL THEN
    RAISE EXCEPTION 'model "%" needs a table or view', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.model_relation_check(name, relation, me);
  IF time_column IS NOT NULL THEN
    tt := @extschema@.metric_column_type(relation, time_column);
    IF tt IS NULL THEN
      RAISE EXCEPTION 'column "%" of % does not exist', time_column, relation
        USING ERRCODE = 'undefined_column', HINT = 'The time column of a model is one of its columns.';
    ELSIF tt NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN
      RAISE EXCEPTION 'time column "%" of % is %, not a date or a timestamp', time_column, relation, tt
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END IF;
  IF dimensions IS NULL OR jsonb_typeof(dimensions) <> 'object' THEN
    RAISE EXCEPTION 'dimensions of model "%" must be a JSON object of name: expression', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. {"region": "region", "size": {"expr": "CASE WHEN employees > 500 THEN ''large'' ELSE ''small'' END", "description": "company size"}}';
  END IF;

  INSERT INTO @extschema@.metric_model AS m (name, relation, time_column, description, defined_by)
  VALUES (model_define.name, relation, time_column, description, coalesce(prev, me))
  ON CONFLICT ON CONSTRAINT metric_model_pkey DO UPDATE
    SET relation = excluded.relation, time_column = excluded.time_column, description = excluded.description,
        defined_at = pg_catalog.now();
  DELETE FROM @extschema@.metric_dimension x WHERE x.model = model_define.name;
  FOR d IN SELECT e.key, e.value FROM jsonb_each(dimensions) e LOOP
    IF d.key !~ '^[a-z][a-z0-9_]{0,62}$' OR d.key = 'metric_time' THEN
      RAISE EXCEPTION 'invalid dimension name "%" in model "%"', d.key, name
        USING ERRCODE = 'invalid_name',
              HINT = 'A dimension name is a lower-case identifier; metric_time is the time dimension every query has.';
    END IF;
    IF jsonb_typeof(d.value) = 'string' THEN
      dexpr := d.value #>> '{}';
    ELSIF jsonb_typeof(d.value) = 'object' AND jsonb_typeof(d.value -> 'expr') = 'string' THEN
      dexpr := d.value ->> 'expr';
      ddesc := d.value ->> 'description';
    ELSE
      RAISE EXCEPTION 'dimension "%" of model "%" is not an expression', d.key, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Give a dimension as "expression" or {"expr": "expression", "description": "..."}.';
    END IF;
    INSERT INTO @extschema@.metric_dimension (model, name, expr, compiled, type, description)
    VALUES (model_define.name, d.key, dexpr, @extschema@.expr_check(relation, model_define.name, dexpr, false),
            @extschema@.expr_type(relation, model_define.name, dexpr), ddesc);
    ddesc := NULL;
  END LOOP;
  PERFORM @extschema@.audit_record('model_define', name, NULL,
                                   jsonb_build_object('relation', relation::text, 'time_column', time_column,
                                                      'dimensions', dimensions));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_define(text, regclass, text, jsonb, text) IS
  'Defines (or redefines, atomically) a semantic model: a table or view, its time column and its dimensions ({"name": "expression"}), each checked by the parser and the allowlist';

CREATE FUNCTION @extschema@.model_join(model text, to_model text, from_column text, to_column text,
                                       safe boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  a regclass;
  b regclass;
  ta regtype;
  tb regtype;
  owner regrole;
BEGIN
  SELECT m.relation, m.defined_by INTO a, owner FROM @extschema@.metric_model m WHERE m.name = model_join.model;
  SELECT m.relation INTO b FROM @extschema@.metric_model m WHERE m.name = model_join.to_model;
  IF a IS NULL OR b IS NULL THEN
    RAISE EXCEPTION 'unknown model "%"', CASE WHEN a IS NULL THEN model ELSE to_model END
      USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_define.';
  END IF;
  PERFORM @extschema@.require_manages('model', model, owner, 'add a join to');
  IF model = to_model THEN
    RAISE EXCEPTION 'model "%" cannot join itself', model USING ERRCODE = 'invalid_parameter_value';
  END IF;
  ta := @extschema@.metric_column_type(a, from_column);
  tb := @extschema@.metric_column_type(b, to_column);
  IF ta IS NULL OR tb IS NULL THEN
    RAISE EXCEPTION 'column "%" of % does not exist',
                    CASE WHEN ta IS NULL THEN from_column ELSE to_column END, CASE WHEN ta IS NULL THEN a ELSE b END
      USING ERRCODE = 'undefined_column';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
                  WHERE o.oprname = '=' AND o.oprleft = ta AND o.oprright = tb AND o.oprresult = 'boolean'::regtype) THEN
    RAISE EXCEPTION 'cannot join %.% (%) to %.% (%): no = operator for these types', model, from_column, ta, to_model, to_column, tb
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  -- many-to-one: a unique index on exactly the key, without a predicate
  IF NOT safe AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = b AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts = 1
          AND i.indkey[0] = (SELECT x.attnum FROM pg_catalog.pg_attribute x WHERE x.attrelid = b AND x.attname = to_column)) THEN
    RAISE EXCEPTION 'join from "%" to "%" could multiply rows: %.% is not unique', model, to_model, b, to_column
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A metric of the first model would count a row once for every matching row of the second.',
            HINT = format('Add a unique index on %s (%I), or, if each row of %s matches at most one row (%s is a view), declare it with safe => true.',
                          b, to_column, model, b);
  END IF;
  INSERT INTO @extschema@.metric_join AS j (model, to_model, from_column, to_column, declared_safe)
  VALUES (model, to_model, from_column, to_column, safe)
  ON CONFLICT ON CONSTRAINT metric_join_pkey DO UPDATE
    SET from_column = excluded.from_column, to_column = excluded.to_column, declared_safe = excluded.declared_safe;
  PERFORM @extschema@.audit_record('model_join', model || ' -> ' || to_model, NULL,
                                   jsonb_build_object('on', format('%s = %s', from_column, to_column), 'safe', safe));
  RETURN format('%s.%s = %s.%s', model, from_column, to_model, to_column);
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_join(text, text, text, text, boolean) IS
  'Declares a many-to-one join from a model to another (model.from_column = to_model.to_column); refused unless to_column is unique or safe => true';

CREATE FUNCTION @extschema@.model_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  users text;
  owner regrole;
BEGIN
  SELECT m.defined_by INTO owner FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_drop.name;
  PERFORM @extschema@.require_manages('model', name, owner, 'drop');
  SELECT string_agg(DISTINCT m.name, ', ') INTO users
    FROM @extschema@.metric m WHERE m.compiled ->> 'model' = model_drop.name;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'model "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those metrics first (concord.metric_drop).';
  END IF;
  DELETE FROM @extschema@.metric_model m WHERE m.name = model_drop.name;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('model_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_drop(text) IS
  'Drops a semantic model with its dimensions and joins; refused while a metric uses it';
