/* concord — metric: metric definitions, their versions and certification.
 * Joined into concord--<version>.sql by the Makefile after model.sql.
 *
 * A metric is defined once and gets a new version at every change; the
 * versions stay.  Types:
 *   simple   an aggregate (sum, count, count_distinct, min, max, avg) of an
 *            expression of one model's columns, with an optional filter;
 *   ratio    a numerator metric over a denominator metric (NULL when the
 *            denominator is 0);
 *   derived  an expression over other metrics (revenue - refunds);
 *   cumulative  a simple metric over every row up to the end of each time
 *            bucket (a running total) or over a trailing window of it
 *            (customers active in the 30 days to each day);
 *   period_over_period  a metric a period earlier (offset_by: 1 month,
 *            1 year), as its previous value, the change or the growth in %;
 *   conversion  of the entities (customers) with an event of one model
 *            (a trial), the share with an event of another model (an
 *            order) within a window after it.
 * Every value of a metric is numeric.  Expressions pass the parser and the
 * allowlist and are stored as written and as checked; a metric's filter
 * may also name dimensions of the models its model reaches by joins
 * (completed revenue: payments whose order is completed).
 *
 * Versions: its owner certifies a version, and the certification records
 * the versions of everything the metric is built from (its pins).  A
 * metric answers with its certified version when it has one, else with
 * its latest (concord.metric_current); a certification whose pins no
 * longer answer has lapsed, and says so everywhere (the catalog, the
 * notices of metric_query, the comments of published views). */

CREATE TABLE @extschema@.metric (
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  version     integer NOT NULL CHECK (version > 0),
  type        text NOT NULL CHECK (type IN ('simple', 'ratio', 'derived', 'cumulative', 'period_over_period', 'conversion')),
  spec        jsonb NOT NULL,
  compiled    jsonb NOT NULL,
  depends     text[] NOT NULL DEFAULT '{}',
  lineage     jsonb NOT NULL DEFAULT '{}',
  description text,
  owner       regrole NOT NULL,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (name, version)
);
COMMENT ON TABLE @extschema@.metric IS
  'Metric definitions, every version: type, the definition as given (spec) and as checked (compiled), the metrics it is computed from (depends), the tables and columns it reads (lineage), owner';
COMMENT ON COLUMN @extschema@.metric.name IS
  'The metric''s name, a lower-case identifier; questions ask for it by name';
COMMENT ON COLUMN @extschema@.metric.version IS
  'The version: 1 at the first definition, one more at every change';
COMMENT ON COLUMN @extschema@.metric.type IS
  'simple, ratio, derived, cumulative, period_over_period or conversion';
COMMENT ON COLUMN @extschema@.metric.spec IS
  'The definition as given to metric_create: its non-NULL arguments as a JSON object (type, model, agg, expr, filter, numerator, ...)';
COMMENT ON COLUMN @extschema@.metric.compiled IS
  'The definition as checked: its expressions written back from their parse trees, as metric_sql builds on them';
COMMENT ON COLUMN @extschema@.metric.depends IS
  'The metrics it is computed from directly (ratio, derived, cumulative, period_over_period); empty for simple and conversion metrics';
COMMENT ON COLUMN @extschema@.metric.lineage IS
  'What it reads: {"tables": [...], "columns": [...]} for simple and conversion metrics, {"metrics": [...]} for the others';
COMMENT ON COLUMN @extschema@.metric.description IS
  'What the metric counts, in words; NULL when none was given';
COMMENT ON COLUMN @extschema@.metric.owner IS
  'The role that owns the metric: it and its members may redefine, certify and drop it';
COMMENT ON COLUMN @extschema@.metric.defined_by IS
  'The role that made this version (metric_create)';
COMMENT ON COLUMN @extschema@.metric.defined_at IS
  'When this version was made';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric', '');

CREATE TABLE @extschema@.metric_certification (
  name         text PRIMARY KEY,
  version      integer NOT NULL,
  certified_by regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  certified_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  pins         jsonb NOT NULL DEFAULT '{}',
  FOREIGN KEY (name, version) REFERENCES @extschema@.metric (name, version) ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.metric_certification IS
  'The certified version of each metric, by whom and when';
COMMENT ON COLUMN @extschema@.metric_certification.name IS
  'The metric (concord.metric.name)';
COMMENT ON COLUMN @extschema@.metric_certification.version IS
  'Its certified version';
COMMENT ON COLUMN @extschema@.metric_certification.certified_by IS
  'The role that certified it (metric_certify), the metric''s owner or one of its members';
COMMENT ON COLUMN @extschema@.metric_certification.certified_at IS
  'When it was certified';
COMMENT ON COLUMN @extschema@.metric_certification.pins IS
  'The versions of everything the certified version is built from, as they answered when it was certified ({"revenue": 1}); when one of them answers with another version, the certification has lapsed';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_certification', '');
SELECT @extschema@.metric_state_triggers(t)
  FROM unnest(ARRAY['@extschema@.metric'::regclass, '@extschema@.metric_certification'::regclass]) t;

-- The latest version of each metric.
CREATE VIEW @extschema@.metric_latest AS
  SELECT DISTINCT ON (m.name) m.* FROM @extschema@.metric m ORDER BY m.name, m.version DESC;
COMMENT ON VIEW @extschema@.metric_latest IS 'The latest version of every metric';
COMMENT ON COLUMN @extschema@.metric_latest.name IS
  'The metric''s name';
COMMENT ON COLUMN @extschema@.metric_latest.version IS
  'Its latest version, the one queries use';
COMMENT ON COLUMN @extschema@.metric_latest.type IS
  'simple, ratio, derived, cumulative, period_over_period or conversion';
COMMENT ON COLUMN @extschema@.metric_latest.spec IS
  'The definition as given to metric_create (JSON object of its non-NULL arguments)';
COMMENT ON COLUMN @extschema@.metric_latest.compiled IS
  'The definition as checked, as metric_sql builds on it';
COMMENT ON COLUMN @extschema@.metric_latest.depends IS
  'The metrics it is computed from directly';
COMMENT ON COLUMN @extschema@.metric_latest.lineage IS
  'What it reads: {"tables": [...], "columns": [...]} or {"metrics": [...]}';
COMMENT ON COLUMN @extschema@.metric_latest.description IS
  'What the metric counts, in words';
COMMENT ON COLUMN @extschema@.metric_latest.owner IS
  'The role that owns the metric';
COMMENT ON COLUMN @extschema@.metric_latest.defined_by IS
  'The role that made this version';
COMMENT ON COLUMN @extschema@.metric_latest.defined_at IS
  'When this version was made';

-- The version of each metric that answers questions: the certified one
-- when there is one (a new version is a draft until its owner certifies
-- it), else the latest.
CREATE VIEW @extschema@.metric_current AS
  SELECT m.* FROM @extschema@.metric_latest l
    JOIN @extschema@.metric m ON m.name = l.name
     AND m.version = coalesce((SELECT c.version FROM @extschema@.metric_certification c WHERE c.name = l.name), l.version);
COMMENT ON VIEW @extschema@.metric_current IS
  'The version of every metric that answers questions: its certified version, or its latest when none is certified';
COMMENT ON COLUMN @extschema@.metric_current.name IS
  'The metric''s name';
COMMENT ON COLUMN @extschema@.metric_current.version IS
  'The version that answers: the certified one, else the latest';
COMMENT ON COLUMN @extschema@.metric_current.type IS
  'simple, ratio, derived, cumulative, period_over_period or conversion';
COMMENT ON COLUMN @extschema@.metric_current.spec IS
  'That version''s definition as given to metric_create (JSON object of its non-NULL arguments)';
COMMENT ON COLUMN @extschema@.metric_current.compiled IS
  'That version''s definition as checked, as metric_sql builds on it';
COMMENT ON COLUMN @extschema@.metric_current.depends IS
  'The metrics that version is computed from directly';
COMMENT ON COLUMN @extschema@.metric_current.lineage IS
  'What it reads: {"tables": [...], "columns": [...]} or {"metrics": [...]}';
COMMENT ON COLUMN @extschema@.metric_current.description IS
  'What the metric counts, in words (that version''s)';
COMMENT ON COLUMN @extschema@.metric_current.owner IS
  'The role that owns the metric';
COMMENT ON COLUMN @extschema@.metric_current.defined_by IS
  'The role that made that version';
COMMENT ON COLUMN @extschema@.metric_current.defined_at IS
  'When that version was made';

-- The versions everything a version of a metric is built from answers
-- with now (or, given versions {"name": version}, with those): what a
-- certification pins.
CREATE FUNCTION @extschema@.metric_pins(name text, version integer, versions jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE cur AS (
          SELECT c.name, coalesce((versions ->> c.name)::integer, c.version) AS version FROM @extschema@.metric_current c),
        up(n, depth) AS (
          SELECT d, 1 FROM @extschema@.metric m, unnest(m.depends) d WHERE m.name = $1 AND m.version = $2
          UNION
          SELECT d, up.depth + 1 FROM up JOIN cur ON cur.name = up.n
            JOIN @extschema@.metric m ON m.name = cur.name AND m.version = cur.version, unnest(m.depends) d
           WHERE up.depth < 64)
        SELECT coalesce(jsonb_object_agg(cur.name, cur.version), '{}') FROM (SELECT DISTINCT up.n FROM up) u JOIN cur ON cur.name = u.n);
COMMENT ON FUNCTION @extschema@.metric_pins(text, integer, jsonb) IS
  'The versions that the metrics a version of a metric is built from answer with now (or with the versions given), at every depth: what certifying it pins';

-- Whether a version of a metric answers certified, in words: 'certified',
-- 'not certified', 'not certified (version 1 is)', or 'certification
-- lapsed: revenue answers with version 2, certified with version 1'.
-- versions: the versions a question uses, when not those of metric_current.
CREATE FUNCTION @extschema@.metric_certification_state(name text, version integer, versions jsonb DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE
                 WHEN c.version IS NULL THEN 'not certified'
                 WHEN c.version <> $2 THEN format('not certified (version %s is)', c.version)
                 ELSE coalesce('certification lapsed: ' || (
                        SELECT string_agg(format('%s answers with version %s, certified with version %s', p.key,
                                                 coalesce(now.version::text, 'none'), p.value), '; ' ORDER BY p.key)
                          FROM jsonb_each_text(c.pins) p
                          LEFT JOIN LATERAL (SELECT coalesce((versions ->> p.key)::integer, x.version) AS version
                                               FROM @extschema@.metric_current x WHERE x.name = p.key) now ON true
                         WHERE now.version IS NULL OR now.version::text <> p.value), 'certified') END
          FROM (SELECT 1) one LEFT JOIN @extschema@.metric_certification c ON c.name = $1);
COMMENT ON FUNCTION @extschema@.metric_certification_state(text, integer, jsonb) IS
  'Whether a version of a metric answers certified: certified, not certified (and which version is), or certification lapsed (which of its pins answer with another version); versions: those a question uses';

-- Metrics a metric is computed from, through every level (its own name
-- included when there is a cycle): by its latest version and by the one
-- that answers, so that neither may come to depend on itself.
CREATE FUNCTION @extschema@.metric_closure(names text[])
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE up(name, depth) AS (
          SELECT d, 1 FROM unnest(names) d
          UNION
          SELECT d, up.depth + 1 FROM up JOIN (SELECT l.name, l.depends FROM @extschema@.metric_latest l
                                               UNION ALL
                                               SELECT c.name, c.depends FROM @extschema@.metric_current c) l ON l.name = up.name,
                 unnest(l.depends) d
           WHERE up.depth < 64)
        SELECT coalesce(array_agg(DISTINCT up.name), '{}') FROM up);
COMMENT ON FUNCTION @extschema@.metric_closure(text[]) IS
  'The metrics the given ones are computed from, at any depth (by their latest versions and by those that answer), the given ones included';

-- A metric's filter, checked: over the model's columns (status =
-- 'paid'), or also over dimensions of the models its model reaches by
-- joins, by name or as model__dimension (completed revenue of payments:
-- status = 'completed', the status of the payment's order).  Returns
-- {"filter": ...}, with "filter_alias" and "filter_names" (what each name
-- is: a column, or a model's dimension) when it names dimensions: the
-- filter is then written over filter_alias, a row of those values that
-- metric_sql joins in (LATERAL) from the current definitions.
CREATE FUNCTION @extschema@.metric_filter_compile(metric text, model text, rel regclass, filter text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  names text[];
  n text;
  t regtype;
  d record;
  items jsonb := '[]';
  types regtype[] := '{}';
  alias text := @extschema@.metric_alias('f_', metric);
BEGIN
  BEGIN
    RETURN jsonb_build_object('filter', @extschema@.expr_check(rel, model, filter, true));
  EXCEPTION WHEN undefined_column THEN
    NULL;                             -- it names something else too: dimensions
  END;
  names := @extschema@.expr_names(filter);
  FOREACH n IN ARRAY names LOOP
    t := @extschema@.metric_column_type(rel, n);
    IF t IS NOT NULL THEN
      items := items || jsonb_build_object('name', n, 'column', n);
    ELSE
      SELECT count(*) AS cnt, min(x.model) AS model, min(x.name) AS name, min(x.type::text)::regtype AS type,
             string_agg(x.model || '__' || x.name, ', ' ORDER BY x.model) AS all_names
        INTO d
        FROM @extschema@.metric_dimension x
       WHERE (x.model || '__' || x.name = n
              OR x.name = n AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_dimension y WHERE y.model || '__' || y.name = n))
         AND @extschema@.metric_join_path(model, x.model) IS NOT NULL;
      IF d.cnt = 0 THEN
        RAISE EXCEPTION 'column or dimension "%" does not exist for the filter of metric "%"', n, metric
          USING ERRCODE = 'undefined_column',
                HINT = format('A metric''s filter names columns of %s, or dimensions of the models model %s reaches by joins (as name or model__name).', rel, model);
      ELSIF d.cnt > 1 THEN
        RAISE EXCEPTION 'dimension "%" in the filter of metric "%" is ambiguous: %', n, metric, d.all_names
          USING ERRCODE = 'ambiguous_column', HINT = 'Name it as model__dimension.';
      END IF;
      t := d.type;
      items := items || jsonb_build_object('name', n, 'model', d.model, 'dimension', d.name);
    END IF;
    types := types || t;
  END LOOP;
  RETURN jsonb_build_object('filter', @extschema@.expr_check_over(alias, names, types, filter, true),
                            'filter_alias', alias, 'filter_names', items);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_filter_compile(text, text, regclass, text) IS
  'Internal to metric_create: a metric''s filter checked over its model''s columns, or also over dimensions of the models its model reaches by joins (name or model__name)';
REVOKE EXECUTE ON FUNCTION @extschema@.metric_filter_compile(text, text, regclass, text) FROM PUBLIC;

-- The columns that tell a relation's rows apart: its primary key, else a
-- unique index of plain NOT NULL columns without a predicate; NULL when
-- it has neither (a view).
CREATE FUNCTION @extschema@.metric_row_key(rel regclass)
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
          FROM pg_catalog.pg_index i
         WHERE i.indrelid = rel AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
           AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k(attnum) JOIN pg_catalog.pg_attribute a
                             ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE NOT a.attnotnull)
         ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1);
COMMENT ON FUNCTION @extschema@.metric_row_key(regclass) IS
  'The columns that tell a relation''s rows apart (its primary key, else a unique index of NOT NULL columns), or NULL';

-- A simple or conversion metric's lineage: its tables, the columns it
-- reads (those of its filter included) and the dimensions its filter
-- names (model.dimension).
CREATE FUNCTION @extschema@.metric_lineage(tables text[], columns text[], compiled jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_strip_nulls(jsonb_build_object(
  'tables', to_jsonb(tables),
  'columns', to_jsonb(ARRAY(SELECT DISTINCT c FROM unnest(columns || ARRAY(
                 SELECT e ->> 'column' FROM jsonb_array_elements(coalesce(compiled -> 'filter_names', '[]')) e
                  WHERE e ? 'column')) c WHERE c IS NOT NULL ORDER BY c)),
  'dimensions', (SELECT jsonb_agg(DISTINCT (e ->> 'model') || '.' || (e ->> 'dimension'))
                   FROM jsonb_array_elements(coalesce(compiled -> 'filter_names', '[]')) e WHERE e ? 'dimension')));
COMMENT ON FUNCTION @extschema@.metric_lineage(text[], text[], jsonb) IS
  'Internal to metric_create: the lineage of a simple or conversion metric (tables, columns, dimensions its filter names)';

CREATE FUNCTION @extschema@.metric_create(name text, type text, model text DEFAULT NULL, agg text DEFAULT NULL,
                                          expr text DEFAULT NULL, filter text DEFAULT NULL,
                                          numerator text DEFAULT NULL, denominator text DEFAULT NULL,
                                          description text DEFAULT NULL, owner text DEFAULT NULL,
                                          base text DEFAULT NULL, trailing_window interval DEFAULT NULL,
                                          offset_by interval DEFAULT NULL, calc text DEFAULT NULL,
                                          entity text DEFAULT NULL, conversion_model text DEFAULT NULL,
                                          conversion_filter text DEFAULT NULL, conversion_entity text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  new_owner regrole;
  spec jsonb;
  compiled jsonb;
  deps text[] := '{}';
  lineage jsonb := '{}';
  rel regclass;
  latest record;
  v integer;
  missing text;
  et regtype;
  cm record;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid metric name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A metric name is a lower-case identifier, e.g. revenue.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_dimension d WHERE d.name OPERATOR(pg_catalog.=) metric_create.name) OR name OPERATOR(pg_catalog.=) 'metric_time' THEN
    RAISE EXCEPTION 'metric name "%" is already a dimension''s', name
      USING ERRCODE = 'duplicate_object', HINT = 'Metrics and dimensions share the columns of a query: give the metric another name.';
  END IF;
  IF type IS NULL OR type OPERATOR(pg_catalog.<>) ALL (ARRAY['simple', 'ratio', 'derived', 'cumulative', 'period_over_period', 'conversion']) THEN
    RAISE EXCEPTION 'unknown metric type "%" for metric "%"', type, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of simple, ratio, derived, cumulative, period_over_period, conversion.';
  END IF;
  IF type OPERATOR(pg_catalog.<>) 'conversion' AND (entity IS NOT NULL OR conversion_model IS NOT NULL OR conversion_filter IS NOT NULL
                               OR conversion_entity IS NOT NULL) THEN
    RAISE EXCEPTION 'entity and conversion_* belong to conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  spec := jsonb_strip_nulls(jsonb_build_object('type', type, 'model', model, 'agg', agg, 'expr', expr, 'filter', filter,
                                               'numerator', numerator, 'denominator', denominator, 'base', base,
                                               'trailing_window', trailing_window, 'offset_by', offset_by, 'calc', calc,
                                               'entity', entity, 'conversion_model', conversion_model,
                                               'conversion_filter', conversion_filter, 'conversion_entity', conversion_entity));
  IF type OPERATOR(pg_catalog.<>) ALL (ARRAY['cumulative', 'period_over_period', 'conversion'])
     AND (base IS NOT NULL OR trailing_window IS NOT NULL OR offset_by IS NOT NULL OR calc IS NOT NULL) THEN
    RAISE EXCEPTION 'base, trailing_window, offset_by and calc belong to cumulative, period_over_period and conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF type OPERATOR(pg_catalog.<>) 'simple' AND EXISTS (SELECT 1 FROM @extschema@.metric_latest l
                                   WHERE l.type OPERATOR(pg_catalog.=) 'cumulative' AND l.compiled OPERATOR(pg_catalog.->>) 'base' OPERATOR(pg_catalog.=) metric_create.name) THEN
    RAISE EXCEPTION 'metric "%" must stay simple: cumulative metrics are computed from it', name
      USING ERRCODE = 'dependent_objects_still_exist';
  END IF;

  IF type OPERATOR(pg_catalog.=) 'simple' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a simple metric has no numerator or denominator (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'For a ratio, use type => ''ratio''.';
    END IF;
    SELECT m.relation INTO rel FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) metric_create.model;
    IF rel IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', model, name
        USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_create.';
    END IF;
    IF agg IS NULL OR agg OPERATOR(pg_catalog.<>) ALL (ARRAY['sum', 'count', 'count_distinct', 'min', 'max', 'avg']) THEN
      RAISE EXCEPTION 'unknown aggregate "%" for metric "%"', agg, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of sum, count, count_distinct, min, max, avg.';
    END IF;
    IF expr IS NULL AND agg OPERATOR(pg_catalog.<>) 'count' THEN
      RAISE EXCEPTION 'metric "%" needs an expression to %', name, agg
        USING ERRCODE = 'null_value_not_allowed';
    END IF;
    compiled := jsonb_build_object('model', model, 'agg', agg);
    IF expr IS NOT NULL THEN
      compiled := compiled OPERATOR(pg_catalog.||) jsonb_build_object('expr', @extschema@.expr_check(rel, model, expr, false));
      et := @extschema@.expr_type(rel, model, expr);
      IF agg OPERATOR(pg_catalog.=) ANY (ARRAY['sum', 'avg', 'min', 'max']) AND (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) et) OPERATOR(pg_catalog.<>) 'N' THEN
        RAISE EXCEPTION 'metric "%": % of % is not a number', name, agg, et
          USING ERRCODE = 'datatype_mismatch', HINT = 'A metric''s value is a number: sum, avg, min and max take numeric expressions.';
      END IF;
    END IF;
    IF filter IS NOT NULL THEN
      compiled := compiled OPERATOR(pg_catalog.||) @extschema@.metric_filter_compile(name, model, rel, filter);
    END IF;
    lineage := @extschema@.metric_lineage(ARRAY[rel::text], coalesce(@extschema@.expr_names(expr), '{}')
                                          OPERATOR(pg_catalog.||) CASE WHEN compiled OPERATOR(pg_catalog.?) 'filter_names' THEN '{}' ELSE coalesce(@extschema@.expr_names(filter), '{}') END,
                                          compiled);
  ELSIF type OPERATOR(pg_catalog.=) 'conversion' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL OR base IS NOT NULL OR offset_by IS NOT NULL OR agg IS NOT NULL OR expr IS NOT NULL THEN
      RAISE EXCEPTION 'a conversion metric takes model, entity, filter, conversion_model, conversion_entity, conversion_filter, trailing_window and calc only (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT m.relation, m.time_column INTO latest FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) metric_create.model;
    SELECT m.relation, m.time_column, m.time_model INTO cm FROM @extschema@.metric_model m WHERE m.name OPERATOR(pg_catalog.=) metric_create.conversion_model;
    IF latest.relation IS NULL OR cm.relation IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', CASE WHEN latest.relation IS NULL THEN model ELSE conversion_model END, name
        USING ERRCODE = 'undefined_object', HINT = 'A conversion metric needs model and conversion_model, both defined with concord.model_create.';
    END IF;
    IF latest.time_column IS NULL OR cm.time_column IS NULL THEN
      RAISE EXCEPTION 'conversion metric "%" needs models with a time column', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cm.time_model IS NOT NULL THEN
      RAISE EXCEPTION 'conversion metric "%": model "%" takes its time from model "%"', name, conversion_model, cm.time_model
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'The conversion events need a time column of their own relation.';
    END IF;
    IF entity IS NULL OR trailing_window IS NULL OR trailing_window OPERATOR(pg_catalog.<=) interval '0' THEN
      RAISE EXCEPTION 'conversion metric "%" needs an entity (e.g. customer_id) and a positive trailing_window (the time allowed to convert)', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(calc, 'rate') OPERATOR(pg_catalog.<>) ALL (ARRAY['rate', 'conversions', 'opportunities']) THEN
      RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of rate, conversions, opportunities.';
    END IF;
    et := @extschema@.expr_type(latest.relation, model, entity);
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname OPERATOR(pg_catalog.=) '=' AND o.oprleft OPERATOR(pg_catalog.=) et
                      AND o.oprright OPERATOR(pg_catalog.=) @extschema@.expr_type(cm.relation, 'conv', coalesce(conversion_entity, entity))) THEN
      RAISE EXCEPTION 'conversion metric "%": the entities % and % cannot be compared', name, entity, coalesce(conversion_entity, entity)
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    compiled := jsonb_strip_nulls(jsonb_build_object(
      'model', model,
      'entity', @extschema@.expr_check(latest.relation, model, entity, false),
      'conv_relation', cm.relation::text,
      -- the first event and the conversion read the same rows: an event
      -- is never its own conversion (another row by its key, or a later time)
      'conv_other', CASE WHEN cm.relation OPERATOR(pg_catalog.=) latest.relation THEN
                      (SELECT format('ROW(%s) IS DISTINCT FROM ROW(%s)',
                                     string_agg(format('conv.%I', k), ', ' ORDER BY n), string_agg(format('%I.%I', model, k), ', ' ORDER BY n))
                         FROM unnest(@extschema@.metric_row_key(cm.relation)) WITH ORDINALITY AS u(k, n)
                        HAVING count(*) OPERATOR(pg_catalog.>) 0) END,
      'conv_later', CASE WHEN cm.relation OPERATOR(pg_catalog.=) latest.relation AND @extschema@.metric_row_key(cm.relation) IS NULL THEN true END,
      'conv_time', CASE WHEN @extschema@.metric_column_type(cm.relation, cm.time_column) OPERATOR(pg_catalog.=) 'timestamptz'::regtype
                        THEN 'tz:' ELSE '' END OPERATOR(pg_catalog.||) cm.time_column,
      'conv_entity', @extschema@.expr_check(cm.relation, 'conv', coalesce(conversion_entity, entity), false),
      'conv_filter', CASE WHEN conversion_filter IS NOT NULL THEN @extschema@.expr_check(cm.relation, 'conv', conversion_filter, true) END,
      'window', trailing_window,
      'expr', CASE
                WHEN coalesce(calc, 'rate') OPERATOR(pg_catalog.=) 'rate' THEN format('(m.%I / NULLIF(m.%I, 0))', 'conv__' OPERATOR(pg_catalog.||) name, 'opps__' OPERATOR(pg_catalog.||) name)
                WHEN calc OPERATOR(pg_catalog.=) 'conversions' THEN format('m.%I', 'conv__' OPERATOR(pg_catalog.||) name)
                ELSE format('m.%I', 'opps__' OPERATOR(pg_catalog.||) name) END));
    IF filter IS NOT NULL THEN
      compiled := compiled OPERATOR(pg_catalog.||) @extschema@.metric_filter_compile(name, model, latest.relation, filter);
    END IF;
    lineage := @extschema@.metric_lineage(ARRAY[latest.relation::text, cm.relation::text],
                                          @extschema@.expr_names(entity) OPERATOR(pg_catalog.||) coalesce(@extschema@.expr_names(conversion_entity), '{}')
                                          OPERATOR(pg_catalog.||) coalesce(@extschema@.expr_names(conversion_filter), '{}')
                                          OPERATOR(pg_catalog.||) CASE WHEN compiled OPERATOR(pg_catalog.?) 'filter_names' THEN '{}' ELSE coalesce(@extschema@.expr_names(filter), '{}') END,
                                          compiled);
  ELSIF type OPERATOR(pg_catalog.=) ANY (ARRAY['cumulative', 'period_over_period']) THEN
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL OR expr IS NOT NULL OR numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from a base metric only (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give base => the metric, and trailing_window, or offset_by and calc.';
    END IF;
    SELECT l.type INTO missing FROM @extschema@.metric_latest l WHERE l.name OPERATOR(pg_catalog.=) base;
    IF missing IS NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, coalesce(base, '(no base)')
        USING ERRCODE = 'undefined_object', HINT = 'Give base => an existing metric.';
    END IF;
    IF type OPERATOR(pg_catalog.=) 'cumulative' THEN
      IF missing OPERATOR(pg_catalog.<>) 'simple' THEN
        RAISE EXCEPTION 'cumulative metric "%" needs a simple base metric; "%" is %', name, base, missing
          USING ERRCODE = 'invalid_parameter_value',
                HINT = 'It aggregates the base''s rows over a window, which a ratio or derived metric does not have.';
      END IF;
      IF offset_by IS NOT NULL OR calc IS NOT NULL THEN
        RAISE EXCEPTION 'cumulative metric "%" takes trailing_window, not offset_by or calc', name USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF trailing_window OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'trailing window of metric "%" must be positive (got %)', name, trailing_window USING ERRCODE = 'invalid_parameter_value';
      END IF;
      compiled := jsonb_strip_nulls(jsonb_build_object('base', base, 'trailing', trailing_window));
    ELSE
      IF trailing_window IS NOT NULL OR offset_by IS NULL OR offset_by OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'period_over_period metric "%" needs a positive offset_by (e.g. 1 month, 1 year), and no trailing_window', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF coalesce(calc, 'previous') OPERATOR(pg_catalog.<>) ALL (ARRAY['previous', 'change', 'growth_pct']) THEN
        RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
          USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of previous, change, growth_pct.';
      END IF;
      compiled := jsonb_build_object('base', base, 'offset', offset_by, 'expr',
        CASE
          WHEN coalesce(calc, 'previous') OPERATOR(pg_catalog.=) 'previous' THEN format('m.%I', 'prev__' OPERATOR(pg_catalog.||) name)
          WHEN calc OPERATOR(pg_catalog.=) 'change' THEN format('(m.%I - m.%I)', base, 'prev__' OPERATOR(pg_catalog.||) name)
          ELSE format('((m.%I - m.%I) / NULLIF(abs(m.%I), 0) * 100)', base, 'prev__' OPERATOR(pg_catalog.||) name, 'prev__' OPERATOR(pg_catalog.||) name) END);
    END IF;
    deps := ARRAY[base];
  ELSE
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from other metrics: no model, aggregate or filter (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Put the filter on the metrics it is computed from.';
    END IF;
    IF type OPERATOR(pg_catalog.=) 'ratio' THEN
      IF numerator IS NULL OR denominator IS NULL OR expr IS NOT NULL THEN
        RAISE EXCEPTION 'ratio metric "%" needs a numerator and a denominator metric, and no expression', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      deps := ARRAY[numerator, denominator];
      compiled := jsonb_build_object('expr', format('(m.%I / NULLIF(m.%I, 0))', numerator, denominator));
    ELSE
      IF expr IS NULL OR numerator IS NOT NULL OR denominator IS NOT NULL THEN
        RAISE EXCEPTION 'derived metric "%" needs an expression over other metrics, and no numerator or denominator', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      deps := @extschema@.expr_names(expr);
      IF cardinality(deps) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'derived metric "%" uses no metric: %', name, expr USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END IF;
    SELECT string_agg(d, ', ') INTO missing FROM unnest(deps) d
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name OPERATOR(pg_catalog.=) d);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, missing
        USING ERRCODE = 'undefined_object', HINT = 'Define them first with concord.metric_create.';
    END IF;
    IF type OPERATOR(pg_catalog.=) 'derived' THEN
      compiled := jsonb_build_object('expr', @extschema@.expr_check_over('m', deps,
                    array_fill('numeric'::regtype, ARRAY[cardinality(deps)]), expr, false));
    END IF;
  END IF;
  -- a metric computed from others: no cycle, and they are its lineage
  IF type OPERATOR(pg_catalog.=) ANY (ARRAY['ratio', 'derived', 'cumulative', 'period_over_period']) THEN
    IF name OPERATOR(pg_catalog.=) ANY (@extschema@.metric_closure(deps)) THEN
      RAISE EXCEPTION 'metric "%" would be computed from itself (through %)', name, array_to_string(deps, ', ')
        USING ERRCODE = 'invalid_recursion';
    END IF;
    lineage := jsonb_build_object('metrics', to_jsonb(deps));
  END IF;

  IF owner IS NOT NULL THEN
    new_owner := pg_catalog.to_regrole(pg_catalog.quote_ident(owner));
    IF new_owner IS NULL THEN
      RAISE EXCEPTION 'role "%" does not exist', owner USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT @extschema@.manages(me, new_owner) THEN
      RAISE EXCEPTION 'permission denied to give metric "%" to role "%"', name, owner
        USING ERRCODE = 'insufficient_privilege', HINT = 'A metric''s owner is its definer or a role whose privileges she has.';
    END IF;
  END IF;
  SELECT l.version, l.spec, l.description, l.owner INTO latest FROM @extschema@.metric_latest l WHERE l.name OPERATOR(pg_catalog.=) metric_create.name;
  IF latest.version IS NOT NULL THEN
    PERFORM @extschema@.require_manages('metric', name, latest.owner, 'change');
    IF latest.spec OPERATOR(pg_catalog.=) spec AND latest.description IS NOT DISTINCT FROM description
       AND (new_owner IS NULL OR new_owner OPERATOR(pg_catalog.=) latest.owner) THEN
      RETURN latest.version;            -- nothing changed: no new version
    END IF;
  END IF;
  v := coalesce(latest.version, 0) OPERATOR(pg_catalog.+) 1;
  INSERT INTO @extschema@.metric (name, version, type, spec, compiled, depends, lineage, description, owner, defined_by)
  VALUES (name, v, type, spec, compiled, deps, lineage, description, coalesce(new_owner, latest.owner, me), me);
  PERFORM @extschema@.audit_record('metric_define', name, NULL, spec OPERATOR(pg_catalog.||) jsonb_build_object('version', v));
  -- views published for BI tools answer with the new version at once
  PERFORM @extschema@.metric_publish_refresh(name);
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_create(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text) IS
  'Defines a metric (simple, ratio, derived, cumulative, period_over_period or conversion), checking everything first; a change makes a new version, an unchanged definition none; returns the version';
-- Deprecated (0.2): the old name of metric_create(), kept for one release.
SELECT @extschema@.deprecated_alias('metric_define', '@extschema@.metric_create(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text)');

CREATE FUNCTION @extschema@.metric_certify(name text, version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  m record;
  pins jsonb;
BEGIN
  SELECT x.version, x.owner INTO m FROM @extschema@.metric x
   WHERE x.name OPERATOR(pg_catalog.=) metric_certify.name AND x.version OPERATOR(pg_catalog.=) coalesce(metric_certify.version,
           (SELECT l.version FROM @extschema@.metric_latest l WHERE l.name OPERATOR(pg_catalog.=) metric_certify.name));
  IF m.version IS NULL THEN
    RAISE EXCEPTION 'unknown metric "%"%', name, CASE WHEN version IS NOT NULL THEN format(' version %s', version) ELSE '' END
      USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT @extschema@.manages(@extschema@.caller(), m.owner) THEN
    RAISE EXCEPTION 'only the owner of metric "%" (%) may certify it', name, m.owner
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- what it is built from is certified with it, at the versions that answer now
  pins := @extschema@.metric_pins(name, m.version);
  INSERT INTO @extschema@.metric_certification AS c (name, version, certified_by, pins)
  VALUES (name, m.version, @extschema@.caller(), pins)
  ON CONFLICT ON CONSTRAINT metric_certification_pkey DO UPDATE
    SET version = excluded.version, certified_by = excluded.certified_by, certified_at = pg_catalog.now(), pins = excluded.pins;
  PERFORM @extschema@.audit_record('metric_certify', name, NULL, jsonb_build_object('version', m.version, 'pins', pins));
  PERFORM @extschema@.metric_publish_refresh(name);    -- (the views' comments say what is certified)
  RETURN m.version;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_certify(text, integer) IS
  'Certifies a version of a metric (default: its latest), with the versions that the metrics it is built from answer with now; from then on that version answers; only its owner may';

CREATE FUNCTION @extschema@.metric_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  users text;
  o regrole;
BEGIN
  SELECT l.owner INTO o FROM @extschema@.metric_latest l WHERE l.name OPERATOR(pg_catalog.=) metric_drop.name;
  IF o IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('metric', name, o, 'change');
  SELECT string_agg(DISTINCT l.name, ', ' ORDER BY l.name) INTO users
    FROM (SELECT x.name, x.depends FROM @extschema@.metric_latest x UNION ALL SELECT x.name, x.depends FROM @extschema@.metric_current x) l
   WHERE metric_drop.name OPERATOR(pg_catalog.=) ANY (l.depends);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop or redefine those first.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  SELECT string_agg(p.view_name::text, ', ' ORDER BY p.view_name::text) INTO users
    FROM @extschema@.metric_publication p WHERE metric_drop.name OPERATOR(pg_catalog.=) ANY (@extschema@.metric_closure(p.metrics));
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is published in views: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those views first (DROP VIEW, then they are no longer publications).';
  END IF;
  DELETE FROM @extschema@.metric m WHERE m.name OPERATOR(pg_catalog.=) metric_drop.name;
  PERFORM @extschema@.audit_record('metric_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_drop(text) IS
  'Drops a metric and all its versions; refused while another metric is computed from it';

CREATE VIEW @extschema@.metric_catalog AS
  SELECT l.name, l.version AS latest_version, l.type, l.description, l.owner::pg_catalog.text AS owner,
         c.version AS certified_version,
         @extschema@.metric_certification_state(l.name, a.version) = 'certified' AS certified,
         l.spec AS definition, l.lineage,
         ARRAY(SELECT u.name FROM @extschema@.metric_latest u WHERE l.name = ANY (u.depends) ORDER BY u.name) AS used_by,
         l.defined_by::pg_catalog.text AS defined_by, l.defined_at,
         a.version AS answering_version,
         @extschema@.metric_certification_state(l.name, a.version) AS certification,
         c.pins AS certified_with
    FROM @extschema@.metric_latest l
    JOIN @extschema@.metric_current a ON a.name = l.name
    LEFT JOIN @extschema@.metric_certification c ON c.name = l.name;
COMMENT ON VIEW @extschema@.metric_catalog IS
  'Every metric: latest version, the version that answers, type, description, owner, certification (which version, with what it is built from, and whether it holds), definition, lineage and the metrics computed from it';
COMMENT ON COLUMN @extschema@.metric_catalog.name IS
  'The metric''s name; ask for it by this name (metric_query, metric_publish)';
COMMENT ON COLUMN @extschema@.metric_catalog.latest_version IS
  'Its latest version (a draft until certified, when another version is certified)';
COMMENT ON COLUMN @extschema@.metric_catalog.type IS
  'simple, ratio, derived, cumulative, period_over_period or conversion';
COMMENT ON COLUMN @extschema@.metric_catalog.description IS
  'What the metric counts, in words';
COMMENT ON COLUMN @extschema@.metric_catalog.owner IS
  'The role that owns the metric and certifies its versions';
COMMENT ON COLUMN @extschema@.metric_catalog.certified_version IS
  'The certified version; NULL when none is';
COMMENT ON COLUMN @extschema@.metric_catalog.certified IS
  'Whether its answers are certified: the version that answers is certified and everything it is built from answers with the versions certified with it';
COMMENT ON COLUMN @extschema@.metric_catalog.definition IS
  'The latest definition as given to metric_create (JSON object of its non-NULL arguments)';
COMMENT ON COLUMN @extschema@.metric_catalog.lineage IS
  'What the latest version reads: {"tables": [...], "columns": [...], "dimensions": [...]} for simple and conversion metrics, {"metrics": [...]} for the others';
COMMENT ON COLUMN @extschema@.metric_catalog.used_by IS
  'The metrics computed from it directly (by their latest versions), by name';
COMMENT ON COLUMN @extschema@.metric_catalog.defined_by IS
  'The role that made the latest version';
COMMENT ON COLUMN @extschema@.metric_catalog.defined_at IS
  'When the latest version was made';
COMMENT ON COLUMN @extschema@.metric_catalog.answering_version IS
  'The version that answers questions (metric_query, metric_sql, published views): the certified one, else the latest';
COMMENT ON COLUMN @extschema@.metric_catalog.certification IS
  'In words: certified; not certified (and which version is); or certification lapsed (which of the metrics it is built from answer with other versions than certified with it)';
COMMENT ON COLUMN @extschema@.metric_catalog.certified_with IS
  'The versions of the metrics it is built from that the certification covers ({"revenue": 1}); NULL when none is certified';
