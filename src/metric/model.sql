/* concord — metric: semantic models, their dimensions and the joins between
 * them.  Joined into concord--<version>.sql by the Makefile after policy.
 *
 * A semantic model is a table or view (a governed view too) that metrics
 * aggregate: its time column (its own, or a column of a model it reaches
 * by many-to-one joins: payments take their orders' dates) and its
 * dimensions, each an expression of its columns checked by the parser and
 * an allowlist (concord.expr_check, core's), or an aggregate over the rows of a
 * model that joins to it (a customer's first order date).
 * Joins go from a model to another along declared keys, many-to-one only:
 * each row of the first finds at most one row of the second, which
 * concord proves by a unique index on the second's key (or the definer
 * declares it, safe => true, for a view), so a join never multiplies the
 * rows a metric counts. */

SELECT @extschema@.capability_role('concord_metric',
  'may define semantic models and metrics, version and certify them (concord.model_create, metric_create, metric_certify)');

CREATE TABLE @extschema@.metric_model (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  relation    regclass NOT NULL,
  time_column text,
  description text,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  time_model  text
);
COMMENT ON TABLE @extschema@.metric_model IS
  'Semantic models: the table or view a metric aggregates, with its time column';
COMMENT ON COLUMN @extschema@.metric_model.name IS
  'The model''s name, a lower-case identifier; metrics name their model by it';
COMMENT ON COLUMN @extschema@.metric_model.relation IS
  'The table or view the model''s metrics aggregate (a governed view too)';
COMMENT ON COLUMN @extschema@.metric_model.time_column IS
  'The date, timestamp or timestamptz column that grains and date ranges apply to (of time_model''s relation when time_model is set); NULL when the model has none';
COMMENT ON COLUMN @extschema@.metric_model.description IS
  'What the model''s rows are, in words (e.g. 订单（销售系统）)';
COMMENT ON COLUMN @extschema@.metric_model.defined_by IS
  'The model''s owner: the role that first defined it (only she, roles with her privileges and concord_admin may change it)';
COMMENT ON COLUMN @extschema@.metric_model.defined_at IS
  'When the model was last defined';
COMMENT ON COLUMN @extschema@.metric_model.time_model IS
  'The model whose time_column the rows take, reached by declared many-to-one joins (payments take their order''s date); NULL: the model''s own column';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_model', '');

CREATE TABLE @extschema@.metric_dimension (
  model       text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  expr        text NOT NULL,
  compiled    text NOT NULL,
  type        regtype NOT NULL,
  description text,
  aggregate   jsonb,
  PRIMARY KEY (model, name)
);
COMMENT ON TABLE @extschema@.metric_dimension IS
  'Dimensions of semantic models: a name, the expression of the model''s columns as written and as checked, its type';
COMMENT ON COLUMN @extschema@.metric_dimension.model IS
  'The semantic model the dimension belongs to (metric_model.name)';
COMMENT ON COLUMN @extschema@.metric_dimension.name IS
  'The dimension''s name, a lower-case identifier; questions ask for it by name, or as model.name when two models have it';
COMMENT ON COLUMN @extschema@.metric_dimension.expr IS
  'The expression of the model''s columns as given to model_create (an aggregated dimension: its definition, as JSON)';
COMMENT ON COLUMN @extschema@.metric_dimension.compiled IS
  'The expression as checked (parser and allowlist) and written back from its parse tree, columns qualified by the model''s name (an aggregated dimension: its value, read from the aggregate''s alias)';
COMMENT ON COLUMN @extschema@.metric_dimension.type IS
  'The type of the expression''s values';
COMMENT ON COLUMN @extschema@.metric_dimension.description IS
  'What the dimension is, in words; NULL when none was given';
COMMENT ON COLUMN @extschema@.metric_dimension.aggregate IS
  'For a dimension aggregated from another model''s rows (a customer''s first order date): {"from": model, "agg": ..., "expr": ..., "filter": ..., "alias": ...}, each expression as checked; NULL for an expression of the model''s own columns';
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

-- The generation of the metric definitions: every transaction that
-- changes a model, dimension, join, metric, certification or rollup moves
-- it on as it commits, so a backend that keeps the SQL it wrote for a
-- question (src/metric/cache.c) keeps it under the generation its snapshot
-- saw, and never answers from SQL written for other definitions.  A
-- statement trigger on each of those tables (metric_state_touch, C) tells
-- the backend: its own changes are seen at once (its kept questions are
-- written anew, in the transaction and after it rolls back), and at
-- commit it moves the generation on, as concord's owner.  The row is
-- locked only while committing: a transaction that defines a metric and
-- stays open blocks no other definer.  The numbers come from a sequence: a
-- generation is never given twice.
CREATE SEQUENCE @extschema@.metric_generation_seq;
CREATE TABLE @extschema@.metric_state (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  generation bigint NOT NULL
);
INSERT INTO @extschema@.metric_state VALUES (true, 0);
COMMENT ON TABLE @extschema@.metric_state IS
  'The generation of the metric definitions, one row: moved on by every committed change to models, dimensions, joins, metrics, certifications and rollups';
COMMENT ON COLUMN @extschema@.metric_state.one IS
  'Always true: the table has one row';
COMMENT ON COLUMN @extschema@.metric_state.generation IS
  'A number that changes with every committed change to a metric definition; SQL that metric_sql wrote is reused only for the generation it was written for';

CREATE FUNCTION @extschema@.metric_state_touch()
RETURNS trigger
AS 'MODULE_PATHNAME', 'concord_metric_state_touch'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.metric_state_touch() IS
  'Trigger of the metric definition tables: this backend''s transaction changed a definition; its kept questions are written anew, and the generation of the definitions moves on when it commits';
CREATE FUNCTION @extschema@.metric_state_triggers(rel regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  EXECUTE format('CREATE TRIGGER metric_state_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION %I.metric_state_touch()', rel, '@extschema@');
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_state_triggers(regclass) IS
  'Internal to the install script: the trigger that moves the generation of the metric definitions on, on a definition table';
SELECT @extschema@.metric_state_triggers(t)
  FROM unnest(ARRAY['@extschema@.metric_model'::regclass, '@extschema@.metric_dimension'::regclass,
                    '@extschema@.metric_join'::regclass]) t;

-- The one resolver of join paths, for questions and rollups alike: the
-- shortest chain of declared many-to-one joins from a model to another
-- (ties broken by the names, so the same question always gets the same
-- SQL), as edges 'from>to'; empty from a model to itself, NULL when no
-- chain of joins reaches it.
CREATE FUNCTION @extschema@.metric_join_path(source text, target text)
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE p(node, path) AS (
          SELECT source, ARRAY[]::text[]
          UNION ALL
          SELECT j.to_model, p.path || (j.model || '>' || j.to_model)
            FROM p JOIN @extschema@.metric_join j ON j.model = p.node
           WHERE cardinality(p.path) < 8)
        SELECT p.path FROM p WHERE p.node = target ORDER BY cardinality(p.path), p.path::text LIMIT 1);
COMMENT ON FUNCTION @extschema@.metric_join_path(text, text) IS
  'The shortest chain of declared many-to-one joins from a model to another, as edges ''from>to'' (empty for the model itself, NULL when none reaches it); used by questions and rollups alike';

-- A name for an alias the SQL gives something of a model (an aggregated
-- dimension, a metric's filter): readable when it fits in an identifier,
-- made unique by a hash when it does not.
CREATE FUNCTION @extschema@.metric_alias(prefix text, name text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.octet_length(prefix || name) <= 63 THEN prefix || name
            ELSE pg_catalog.left(prefix || name, 50) || '_' || pg_catalog.left(pg_catalog.md5(prefix || name), 12) END;
COMMENT ON FUNCTION @extschema@.metric_alias(text, text) IS
  'An alias for something of a model in generated SQL: prefix || name, shortened with a hash when longer than an identifier may be';

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
-- (security_invoker), or a governed view (column_mask_create), whose base table's
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
        AND NOT @extschema@.governed_view_is(relation) THEN
    RAISE EXCEPTION 'model "%" cannot read view %: it runs as its owner', model, relation
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'Row policies of the tables under it would apply to the view''s owner, not to each reader.',
            HINT = format('ALTER VIEW %s SET (security_invoker = true), or model the table (or its governed view).', relation);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_relation_check(text, regclass, regrole) IS
  'Internal to model_create: the relation is one its definer may read and that answers each reader under her own row policies';

CREATE FUNCTION @extschema@.model_create(name text, relation regclass, time_column text DEFAULT NULL,
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
  tmodel text;
  tcol text := time_column;
  trel regclass;
  tt regtype;
  dim record;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid model name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A model name is a lower-case identifier, e.g. orders.';
  END IF;
  SELECT m.defined_by INTO prev FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_create.name FOR UPDATE;
  PERFORM @extschema@.require_manages('model', name, prev, 'redefine');
  IF relation IS NULL THEN
    RAISE EXCEPTION 'model "%" needs a table or view', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.model_relation_check(name, relation, me);
  -- the time: a column of the relation, or model.column of a model the
  -- rows reach by joins (checked when asked: the joins may come later)
  trel := relation;
  IF time_column IS NOT NULL AND position('.' IN time_column) OPERATOR(pg_catalog.>) 0
     AND split_part(time_column, '.', 1) OPERATOR(pg_catalog.<>) model_create.name THEN
    tmodel := split_part(time_column, '.', 1);
    tcol := substr(time_column, length(tmodel) OPERATOR(pg_catalog.+) 2);
    SELECT m.relation INTO trel FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) tmodel;
    IF trel IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for the time of model "%"', tmodel, name
        USING ERRCODE = 'undefined_object',
              HINT = 'A model takes its time from its own column, or from model.column of a model its rows reach by joins (define that model first).';
    END IF;
  ELSIF time_column IS NOT NULL AND position('.' IN time_column) OPERATOR(pg_catalog.>) 0 THEN
    tcol := substr(time_column, length(name) OPERATOR(pg_catalog.+) 2);
  END IF;
  IF tcol IS NOT NULL THEN
    tt := @extschema@.metric_column_type(trel, tcol);
    IF tt IS NULL THEN
      RAISE EXCEPTION 'column "%" of % does not exist', tcol, trel
        USING ERRCODE = 'undefined_column',
              HINT = 'The time column of a model is one of its columns, or model.column of a model its rows reach by joins.';
    ELSIF tt OPERATOR(pg_catalog.<>) ALL (ARRAY['date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype]) THEN
      RAISE EXCEPTION 'time column "%" of % is %, not a date or a timestamp', tcol, trel, tt
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END IF;
  IF dimensions IS NULL OR jsonb_typeof(dimensions) OPERATOR(pg_catalog.<>) 'object' THEN
    RAISE EXCEPTION 'dimensions of model "%" must be a JSON object of name: expression', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. {"region": "region", "size": {"expr": "CASE WHEN employees > 500 THEN ''large'' ELSE ''small'' END", "description": "company size"}}';
  END IF;

  INSERT INTO @extschema@.metric_model AS m (name, relation, time_column, time_model, description, defined_by)
  VALUES (model_create.name, relation, tcol, tmodel, description, coalesce(prev, me))
  ON CONFLICT ON CONSTRAINT metric_model_pkey DO UPDATE
    SET relation = excluded.relation, time_column = excluded.time_column, time_model = excluded.time_model,
        description = excluded.description, defined_at = pg_catalog.now();
  DELETE FROM @extschema@.metric_dimension x WHERE x.model OPERATOR(pg_catalog.=) model_create.name;
  FOR d IN SELECT e.key, e.value FROM jsonb_each(dimensions) e LOOP
    IF d.key OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' OR d.key OPERATOR(pg_catalog.=) 'metric_time' THEN
      RAISE EXCEPTION 'invalid dimension name "%" in model "%"', d.key, name
        USING ERRCODE = 'invalid_name',
              HINT = 'A dimension name is a lower-case identifier; metric_time is the time dimension every query has.';
    END IF;
    IF jsonb_typeof(d.value) OPERATOR(pg_catalog.=) 'object' AND d.value OPERATOR(pg_catalog.?) 'from' THEN
      dim := @extschema@.model_dimension_aggregate(name, relation, d.key, d.value);
    ELSIF jsonb_typeof(d.value) OPERATOR(pg_catalog.=) 'string' OR (jsonb_typeof(d.value) OPERATOR(pg_catalog.=) 'object' AND jsonb_typeof(d.value OPERATOR(pg_catalog.->) 'expr') OPERATOR(pg_catalog.=) 'string') THEN
      SELECT coalesce(d.value OPERATOR(pg_catalog.->>) 'expr', d.value OPERATOR(pg_catalog.#>>) '{}') AS expr INTO dim;
      SELECT dim.expr, @extschema@.expr_check(relation, model_create.name, dim.expr, false) AS compiled,
             @extschema@.expr_type(relation, model_create.name, dim.expr) AS type, NULL::jsonb AS aggregate INTO dim;
    ELSE
      RAISE EXCEPTION 'dimension "%" of model "%" is not an expression', d.key, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Give a dimension as "expression", {"expr": "expression", "description": "..."}, or an aggregate of another model''s rows, {"from": "orders", "agg": "min", "expr": "order_date"}.';
    END IF;
    INSERT INTO @extschema@.metric_dimension (model, name, expr, compiled, type, description, aggregate)
    VALUES (model_create.name, d.key, dim.expr, dim.compiled, dim.type,
            CASE WHEN jsonb_typeof(d.value) OPERATOR(pg_catalog.=) 'object' THEN d.value OPERATOR(pg_catalog.->>) 'description' END, dim.aggregate);
  END LOOP;
  PERFORM @extschema@.audit_record('model_define', name, NULL,
                                   jsonb_build_object('relation', relation::text, 'time_column', time_column,
                                                      'dimensions', dimensions));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_create(text, regclass, text, jsonb, text) IS
  'Defines (or redefines, atomically) a semantic model: a table or view, its time column (its own, or model.column of a model its rows reach by joins) and its dimensions ({"name": "expression"}, or {"name": {"from": model, "agg": ..., "expr": ..., "filter": ..., "then": ...}} aggregated from another model''s rows), each checked by the parser and the allowlist';
-- Deprecated (0.2): the old name of model_create(), kept for one release.
SELECT @extschema@.deprecated_alias('model_define', '@extschema@.model_create(text, regclass, text, jsonb, text)');

-- An aggregated dimension of model (on relation rel): an aggregate of the
-- rows of another model that joins to it many-to-one (a customer's first
-- order date, her number of orders), then, if given, an expression of
-- that value ("then": CASE WHEN value > 1 THEN 'returning' ...).  Returns
-- (expr, compiled, type, aggregate) for metric_dimension.
CREATE FUNCTION @extschema@.model_dimension_aggregate(model text, rel regclass, dim text, spec jsonb,
                                                      OUT expr text, OUT compiled text, OUT type regtype, OUT aggregate jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  src text := spec ->> 'from';
  srel regclass;
  j record;
  agg text := spec ->> 'agg';
  e text;
  f text;
  vt regtype;
  alias text := @extschema@.metric_alias(model || '__', dim);
BEGIN
  SELECT m.relation INTO srel FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) src;
  IF srel IS NULL THEN
    RAISE EXCEPTION 'unknown model "%" for dimension "%" of model "%"', src, dim, model
      USING ERRCODE = 'undefined_object', HINT = 'An aggregated dimension reads the rows of another model: define it first.';
  END IF;
  SELECT x.from_column, x.to_column INTO j FROM @extschema@.metric_join x
   WHERE x.model OPERATOR(pg_catalog.=) src AND x.to_model OPERATOR(pg_catalog.=) model;
  IF j.from_column IS NULL THEN
    RAISE EXCEPTION 'dimension "%" of model "%" aggregates model "%", which has no join to it', dim, model, src
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Declare the many-to-one join first: concord.model_join(%L, %L, ...).', src, model);
  END IF;
  IF agg IS NULL OR agg NOT IN ('count', 'count_distinct', 'sum', 'avg', 'min', 'max') THEN
    RAISE EXCEPTION 'unknown aggregate "%" for dimension "%" of model "%"', agg, dim, model
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of sum, count, count_distinct, min, max, avg.';
  END IF;
  IF spec ? 'expr' AND jsonb_typeof(spec -> 'expr') <> 'string' OR spec ? 'filter' AND jsonb_typeof(spec -> 'filter') <> 'string'
     OR spec ? 'then' AND jsonb_typeof(spec -> 'then') <> 'string' THEN
    RAISE EXCEPTION 'dimension "%" of model "%": expr, filter and then are expressions (strings)', dim, model
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT count(*) FROM jsonb_object_keys(spec) k WHERE k NOT IN ('from', 'agg', 'expr', 'filter', 'then', 'description')) > 0 THEN
    RAISE EXCEPTION 'dimension "%" of model "%" has keys other than from, agg, expr, filter, then, description', dim, model
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF spec ->> 'expr' IS NULL AND agg <> 'count' THEN
    RAISE EXCEPTION 'dimension "%" of model "%" needs an expression to %', dim, model, agg USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF spec ->> 'expr' IS NOT NULL THEN
    e := @extschema@.expr_check(srel, src, spec ->> 'expr', false);
    vt := @extschema@.expr_type(srel, src, spec ->> 'expr');
    IF agg IN ('sum', 'avg') AND (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) vt) <> 'N' THEN
      RAISE EXCEPTION 'dimension "%" of model "%": % of % is not a number', dim, model, agg, vt
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END IF;
  IF spec ->> 'filter' IS NOT NULL THEN
    f := @extschema@.expr_check(srel, src, spec ->> 'filter', true);
  END IF;
  vt := CASE WHEN agg IN ('count', 'count_distinct') THEN 'bigint'::regtype
             WHEN agg IN ('sum', 'avg') THEN 'numeric'::regtype ELSE vt END;
  IF spec ->> 'then' IS NOT NULL THEN
    compiled := @extschema@.expr_check_over(alias, ARRAY['value'], ARRAY[vt], spec ->> 'then', false);
    -- its type: the checked expression (built-in immutable functions only) over a NULL value
    EXECUTE format('SELECT pg_catalog.pg_typeof(%s)::pg_catalog.regtype FROM (SELECT NULL::%s AS value) AS %I', compiled, vt, alias)
      INTO type;
  ELSE
    compiled := format('%I.value', alias);
    type := vt;
  END IF;
  expr := spec::text;
  aggregate := jsonb_strip_nulls(jsonb_build_object('from', src, 'agg', agg, 'expr', e, 'filter', f, 'alias', alias,
                                                    'value_type', vt::text));
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_dimension_aggregate(text, regclass, text, jsonb) IS
  'Internal to model_create: checks a dimension aggregated from another model''s rows and returns it as metric_dimension keeps it';
REVOKE EXECUTE ON FUNCTION @extschema@.model_dimension_aggregate(text, regclass, text, jsonb) FROM PUBLIC;

-- The LEFT JOIN that gives an aggregated dimension its value: the rows of
-- the model it aggregates, grouped by the key they join on, read as the
-- caller (her row policies) from the dimension's model itself, so that
-- a customer without orders has 0 orders, not none.
CREATE FUNCTION @extschema@.metric_dimension_join(model text, dim text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  a jsonb;
  j record;
  v text;
BEGIN
  SELECT d.aggregate INTO a FROM @extschema@.metric_dimension d
   WHERE d.model OPERATOR(pg_catalog.=) model AND d.name OPERATOR(pg_catalog.=) dim;
  IF a IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT x.from_column, x.to_column, s.relation AS srel, t.relation AS trel INTO j
    FROM @extschema@.metric_join x
    JOIN @extschema@.metric_model s ON s.name OPERATOR(pg_catalog.=) x.model
    JOIN @extschema@.metric_model t ON t.name OPERATOR(pg_catalog.=) x.to_model
   WHERE x.model OPERATOR(pg_catalog.=) (a ->> 'from') AND x.to_model OPERATOR(pg_catalog.=) model;
  IF j.from_column IS NULL THEN
    RAISE EXCEPTION 'dimension "%" of model "%" aggregates model "%", which has no join to it any more', dim, model, a ->> 'from'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Declare the join again (concord.model_join(%L, %L, ...)) or redefine the model.', a ->> 'from', model);
  END IF;
  v := CASE a ->> 'agg'
         WHEN 'count' THEN format('count(%s)', coalesce(a ->> 'expr', format('%I.%I', a ->> 'from', j.from_column)))
         WHEN 'count_distinct' THEN format('count(DISTINCT %s)', a ->> 'expr')
         WHEN 'sum' THEN format('coalesce(sum(%s), 0)::numeric', a ->> 'expr')
         WHEN 'avg' THEN format('avg(%s)::numeric', a ->> 'expr')
         ELSE format('%s(%s)', a ->> 'agg', a ->> 'expr') END
       || CASE WHEN a ? 'filter' THEN format(' FILTER (WHERE %s)', a ->> 'filter') ELSE '' END;
  RETURN format(E'LEFT JOIN (SELECT __key.%3$I AS key, %4$s AS value\n                        FROM %5$s AS __key\n'
                || E'                        LEFT JOIN %6$s AS %7$I ON %7$I.%8$I = __key.%3$I\n'
                || E'                       GROUP BY __key.%3$I) AS %1$I ON %1$I.key = %2$I.%3$I',
                a ->> 'alias', model, j.to_column, v, j.trel, j.srel, a ->> 'from', j.from_column);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_dimension_join(text, text) IS
  'The LEFT JOIN (SQL) that gives an aggregated dimension its value in a question''s FROM clause: the aggregate of the other model''s rows per key of the dimension''s model; NULL for a dimension of the model''s own columns';

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
  SELECT m.relation, m.defined_by INTO a, owner FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_join.model;
  SELECT m.relation INTO b FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_join.to_model;
  IF a IS NULL OR b IS NULL THEN
    RAISE EXCEPTION 'unknown model "%"', CASE WHEN a IS NULL THEN model ELSE to_model END
      USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_create.';
  END IF;
  PERFORM @extschema@.require_manages('model', model, owner, 'add a join to');
  IF model OPERATOR(pg_catalog.=) to_model THEN
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
                  WHERE o.oprname OPERATOR(pg_catalog.=) '=' AND o.oprleft OPERATOR(pg_catalog.=) ta AND o.oprright OPERATOR(pg_catalog.=) tb AND o.oprresult OPERATOR(pg_catalog.=) 'boolean'::regtype) THEN
    RAISE EXCEPTION 'cannot join %.% (%) to %.% (%): no = operator for these types', model, from_column, ta, to_model, to_column, tb
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  -- many-to-one: a unique index on exactly the key, without a predicate
  IF NOT safe AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid OPERATOR(pg_catalog.=) b AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
          AND i.indkey[0] OPERATOR(pg_catalog.=) (SELECT x.attnum FROM pg_catalog.pg_attribute x WHERE x.attrelid OPERATOR(pg_catalog.=) b AND x.attname OPERATOR(pg_catalog.=) to_column)) THEN
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
  PERFORM @extschema@.audit_record('model_join', model OPERATOR(pg_catalog.||) ' -> ' OPERATOR(pg_catalog.||) to_model, NULL,
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
    FROM @extschema@.metric m WHERE m.compiled OPERATOR(pg_catalog.->>) 'model' OPERATOR(pg_catalog.=) model_drop.name;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'model "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those metrics first (concord.metric_drop).';
  END IF;
  SELECT string_agg(x, ', ' ORDER BY x) INTO users FROM (
    SELECT m.name OPERATOR(pg_catalog.||) ' (its time)' AS x FROM @extschema@.metric_model m WHERE m.time_model OPERATOR(pg_catalog.=) model_drop.name
    UNION ALL
    SELECT d.model OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) d.name FROM @extschema@.metric_dimension d WHERE d.aggregate OPERATOR(pg_catalog.->>) 'from' OPERATOR(pg_catalog.=) model_drop.name) u;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'model "%" is used by other models: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Redefine those models first (concord.model_create).';
  END IF;
  DELETE FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) model_drop.name;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('model_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_drop(text) IS
  'Drops a semantic model with its dimensions and joins; refused while a metric uses it';
