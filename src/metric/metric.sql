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
 * allowlist and are stored as written and as checked.  Its owner certifies
 * a version; queries use the latest version and say when it is not the
 * certified one. */

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
  'The definition as given to metric_define: its non-NULL arguments as a JSON object (type, model, agg, expr, filter, numerator, ...)';
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
  'The role that made this version (metric_define)';
COMMENT ON COLUMN @extschema@.metric.defined_at IS
  'When this version was made';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric', '');

CREATE TABLE @extschema@.metric_certification (
  name         text PRIMARY KEY,
  version      integer NOT NULL,
  certified_by regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  certified_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_certification', '');

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
  'The definition as given to metric_define (JSON object of its non-NULL arguments)';
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

-- Metrics a metric is computed from, through every level (its own name
-- included when there is a cycle).
CREATE FUNCTION @extschema@.metric_closure(names text[])
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE up(name, depth) AS (
          SELECT d, 1 FROM unnest(names) d
          UNION
          SELECT d, up.depth + 1 FROM up JOIN @extschema@.metric_latest l ON l.name = up.name, unnest(l.depends) d
           WHERE up.depth < 64)
        SELECT coalesce(array_agg(DISTINCT up.name), '{}') FROM up);
COMMENT ON FUNCTION @extschema@.metric_closure(text[]) IS
  'The metrics the given ones are computed from, at any depth, the given ones included';

CREATE FUNCTION @extschema@.metric_define(name text, type text, model text DEFAULT NULL, agg text DEFAULT NULL,
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
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid metric name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A metric name is a lower-case identifier, e.g. revenue.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_dimension d WHERE d.name = metric_define.name) OR name = 'metric_time' THEN
    RAISE EXCEPTION 'metric name "%" is already a dimension''s', name
      USING ERRCODE = 'duplicate_object', HINT = 'Metrics and dimensions share the columns of a query: give the metric another name.';
  END IF;
  IF type IS NULL OR type NOT IN ('simple', 'ratio', 'derived', 'cumulative', 'period_over_period', 'conversion') THEN
    RAISE EXCEPTION 'unknown metric type "%" for metric "%"', type, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of simple, ratio, derived, cumulative, period_over_period, conversion.';
  END IF;
  IF type <> 'conversion' AND (entity IS NOT NULL OR conversion_model IS NOT NULL OR conversion_filter IS NOT NULL
                               OR conversion_entity IS NOT NULL) THEN
    RAISE EXCEPTION 'entity and conversion_* belong to conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  spec := jsonb_strip_nulls(jsonb_build_object('type', type, 'model', model, 'agg', agg, 'expr', expr, 'filter', filter,
                                               'numerator', numerator, 'denominator', denominator, 'base', base,
                                               'trailing_window', trailing_window, 'offset_by', offset_by, 'calc', calc,
                                               'entity', entity, 'conversion_model', conversion_model,
                                               'conversion_filter', conversion_filter, 'conversion_entity', conversion_entity));
  IF type NOT IN ('cumulative', 'period_over_period', 'conversion')
     AND (base IS NOT NULL OR trailing_window IS NOT NULL OR offset_by IS NOT NULL OR calc IS NOT NULL) THEN
    RAISE EXCEPTION 'base, trailing_window, offset_by and calc belong to cumulative, period_over_period and conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF type <> 'simple' AND EXISTS (SELECT 1 FROM @extschema@.metric_latest l
                                   WHERE l.type = 'cumulative' AND l.compiled ->> 'base' = metric_define.name) THEN
    RAISE EXCEPTION 'metric "%" must stay simple: cumulative metrics are computed from it', name
      USING ERRCODE = 'dependent_objects_still_exist';
  END IF;

  IF type = 'simple' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a simple metric has no numerator or denominator (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'For a ratio, use type => ''ratio''.';
    END IF;
    SELECT m.relation INTO rel FROM @extschema@.metric_model m WHERE m.name = metric_define.model;
    IF rel IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', model, name
        USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_define.';
    END IF;
    IF agg IS NULL OR agg NOT IN ('sum', 'count', 'count_distinct', 'min', 'max', 'avg') THEN
      RAISE EXCEPTION 'unknown aggregate "%" for metric "%"', agg, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of sum, count, count_distinct, min, max, avg.';
    END IF;
    IF expr IS NULL AND agg <> 'count' THEN
      RAISE EXCEPTION 'metric "%" needs an expression to %', name, agg
        USING ERRCODE = 'null_value_not_allowed';
    END IF;
    compiled := jsonb_build_object('model', model, 'agg', agg);
    IF expr IS NOT NULL THEN
      compiled := compiled || jsonb_build_object('expr', @extschema@.expr_check(rel, model, expr, false));
      et := @extschema@.expr_type(rel, model, expr);
      IF agg IN ('sum', 'avg', 'min', 'max') AND (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid = et) <> 'N' THEN
        RAISE EXCEPTION 'metric "%": % of % is not a number', name, agg, et
          USING ERRCODE = 'datatype_mismatch', HINT = 'A metric''s value is a number: sum, avg, min and max take numeric expressions.';
      END IF;
    END IF;
    IF filter IS NOT NULL THEN
      compiled := compiled || jsonb_build_object('filter', @extschema@.expr_check(rel, model, filter, true));
    END IF;
    lineage := jsonb_build_object('tables', jsonb_build_array(rel::text),
                                  'columns', to_jsonb(ARRAY(SELECT DISTINCT c FROM unnest(
                                    coalesce(@extschema@.expr_names(expr), '{}') || coalesce(@extschema@.expr_names(filter), '{}')) c
                                    ORDER BY c)));
  ELSIF type = 'conversion' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL OR base IS NOT NULL OR offset_by IS NOT NULL OR agg IS NOT NULL OR expr IS NOT NULL THEN
      RAISE EXCEPTION 'a conversion metric takes model, entity, filter, conversion_model, conversion_entity, conversion_filter, trailing_window and calc only (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT m.relation, m.time_column INTO latest FROM @extschema@.metric_model m WHERE m.name = metric_define.model;
    SELECT m.relation, m.time_column INTO cm FROM @extschema@.metric_model m WHERE m.name = metric_define.conversion_model;
    IF latest.relation IS NULL OR cm.relation IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', CASE WHEN latest.relation IS NULL THEN model ELSE conversion_model END, name
        USING ERRCODE = 'undefined_object', HINT = 'A conversion metric needs model and conversion_model, both defined with concord.model_define.';
    END IF;
    IF latest.time_column IS NULL OR cm.time_column IS NULL THEN
      RAISE EXCEPTION 'conversion metric "%" needs models with a time column', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF entity IS NULL OR trailing_window IS NULL OR trailing_window <= interval '0' THEN
      RAISE EXCEPTION 'conversion metric "%" needs an entity (e.g. customer_id) and a positive trailing_window (the time allowed to convert)', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(calc, 'rate') NOT IN ('rate', 'conversions', 'opportunities') THEN
      RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of rate, conversions, opportunities.';
    END IF;
    et := @extschema@.expr_type(latest.relation, model, entity);
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname = '=' AND o.oprleft = et
                      AND o.oprright = @extschema@.expr_type(cm.relation, 'conv', coalesce(conversion_entity, entity))) THEN
      RAISE EXCEPTION 'conversion metric "%": the entities % and % cannot be compared', name, entity, coalesce(conversion_entity, entity)
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    compiled := jsonb_strip_nulls(jsonb_build_object(
      'model', model,
      'entity', @extschema@.expr_check(latest.relation, model, entity, false),
      'filter', CASE WHEN filter IS NOT NULL THEN @extschema@.expr_check(latest.relation, model, filter, true) END,
      'conv_relation', cm.relation::text,
      'conv_time', CASE WHEN @extschema@.metric_column_type(cm.relation, cm.time_column) = 'timestamptz'::regtype
                        THEN 'tz:' ELSE '' END || cm.time_column,
      'conv_entity', @extschema@.expr_check(cm.relation, 'conv', coalesce(conversion_entity, entity), false),
      'conv_filter', CASE WHEN conversion_filter IS NOT NULL THEN @extschema@.expr_check(cm.relation, 'conv', conversion_filter, true) END,
      'window', trailing_window,
      'expr', CASE coalesce(calc, 'rate')
                WHEN 'rate' THEN format('(m.%I / NULLIF(m.%I, 0))', 'conv__' || name, 'opps__' || name)
                WHEN 'conversions' THEN format('m.%I', 'conv__' || name)
                ELSE format('m.%I', 'opps__' || name) END));
    lineage := jsonb_build_object('tables', jsonb_build_array(latest.relation::text, cm.relation::text),
                                  'columns', to_jsonb(ARRAY(SELECT DISTINCT c FROM unnest(
                                    @extschema@.expr_names(entity) || coalesce(@extschema@.expr_names(filter), '{}')
                                    || coalesce(@extschema@.expr_names(conversion_entity), '{}')
                                    || coalesce(@extschema@.expr_names(conversion_filter), '{}')) c ORDER BY c)));
  ELSIF type IN ('cumulative', 'period_over_period') THEN
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL OR expr IS NOT NULL OR numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from a base metric only (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give base => the metric, and trailing_window, or offset_by and calc.';
    END IF;
    SELECT l.type INTO missing FROM @extschema@.metric_latest l WHERE l.name = base;
    IF missing IS NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, coalesce(base, '(no base)')
        USING ERRCODE = 'undefined_object', HINT = 'Give base => an existing metric.';
    END IF;
    IF type = 'cumulative' THEN
      IF missing <> 'simple' THEN
        RAISE EXCEPTION 'cumulative metric "%" needs a simple base metric; "%" is %', name, base, missing
          USING ERRCODE = 'invalid_parameter_value',
                HINT = 'It aggregates the base''s rows over a window, which a ratio or derived metric does not have.';
      END IF;
      IF offset_by IS NOT NULL OR calc IS NOT NULL THEN
        RAISE EXCEPTION 'cumulative metric "%" takes trailing_window, not offset_by or calc', name USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF trailing_window <= interval '0' THEN
        RAISE EXCEPTION 'trailing window of metric "%" must be positive (got %)', name, trailing_window USING ERRCODE = 'invalid_parameter_value';
      END IF;
      compiled := jsonb_strip_nulls(jsonb_build_object('base', base, 'trailing', trailing_window));
    ELSE
      IF trailing_window IS NOT NULL OR offset_by IS NULL OR offset_by <= interval '0' THEN
        RAISE EXCEPTION 'period_over_period metric "%" needs a positive offset_by (e.g. 1 month, 1 year), and no trailing_window', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF coalesce(calc, 'previous') NOT IN ('previous', 'change', 'growth_pct') THEN
        RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
          USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of previous, change, growth_pct.';
      END IF;
      compiled := jsonb_build_object('base', base, 'offset', offset_by, 'expr',
        CASE coalesce(calc, 'previous')
          WHEN 'previous' THEN format('m.%I', 'prev__' || name)
          WHEN 'change' THEN format('(m.%I - m.%I)', base, 'prev__' || name)
          ELSE format('((m.%I - m.%I) / NULLIF(abs(m.%I), 0) * 100)', base, 'prev__' || name, 'prev__' || name) END);
    END IF;
    deps := ARRAY[base];
  ELSE
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from other metrics: no model, aggregate or filter (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Put the filter on the metrics it is computed from.';
    END IF;
    IF type = 'ratio' THEN
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
      IF cardinality(deps) = 0 THEN
        RAISE EXCEPTION 'derived metric "%" uses no metric: %', name, expr USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END IF;
    SELECT string_agg(d, ', ') INTO missing FROM unnest(deps) d
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name = d);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, missing
        USING ERRCODE = 'undefined_object', HINT = 'Define them first with concord.metric_define.';
    END IF;
    IF type = 'derived' THEN
      compiled := jsonb_build_object('expr', @extschema@.expr_check_over('m', deps,
                    array_fill('numeric'::regtype, ARRAY[cardinality(deps)]), expr, false));
    END IF;
  END IF;
  -- a metric computed from others: no cycle, and they are its lineage
  IF type IN ('ratio', 'derived', 'cumulative', 'period_over_period') THEN
    IF name = ANY (@extschema@.metric_closure(deps)) THEN
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
  SELECT l.version, l.spec, l.description, l.owner INTO latest FROM @extschema@.metric_latest l WHERE l.name = metric_define.name;
  IF latest.version IS NOT NULL THEN
    PERFORM @extschema@.require_manages('metric', name, latest.owner, 'change');
    IF latest.spec = spec AND latest.description IS NOT DISTINCT FROM description
       AND (new_owner IS NULL OR new_owner = latest.owner) THEN
      RETURN latest.version;            -- nothing changed: no new version
    END IF;
  END IF;
  v := coalesce(latest.version, 0) + 1;
  INSERT INTO @extschema@.metric (name, version, type, spec, compiled, depends, lineage, description, owner, defined_by)
  VALUES (name, v, type, spec, compiled, deps, lineage, description, coalesce(new_owner, latest.owner, me), me);
  PERFORM @extschema@.audit_record('metric_define', name, NULL, spec || jsonb_build_object('version', v));
  -- views published for BI tools answer with the new version at once
  PERFORM @extschema@.metric_publish_refresh(name);
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_define(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text) IS
  'Defines a metric (simple, ratio, derived, cumulative, period_over_period or conversion), checking everything first; a change makes a new version, an unchanged definition none; returns the version';

CREATE FUNCTION @extschema@.metric_certify(name text, version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  m record;
BEGIN
  SELECT x.version, x.owner INTO m FROM @extschema@.metric x
   WHERE x.name = metric_certify.name AND x.version = coalesce(metric_certify.version,
           (SELECT l.version FROM @extschema@.metric_latest l WHERE l.name = metric_certify.name));
  IF m.version IS NULL THEN
    RAISE EXCEPTION 'unknown metric "%"%', name, CASE WHEN version IS NOT NULL THEN format(' version %s', version) ELSE '' END
      USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT @extschema@.manages(@extschema@.caller(), m.owner) THEN
    RAISE EXCEPTION 'only the owner of metric "%" (%) may certify it', name, m.owner
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO @extschema@.metric_certification AS c (name, version, certified_by) VALUES (name, m.version, @extschema@.caller())
  ON CONFLICT ON CONSTRAINT metric_certification_pkey DO UPDATE
    SET version = excluded.version, certified_by = excluded.certified_by, certified_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('metric_certify', name, NULL, jsonb_build_object('version', m.version));
  PERFORM @extschema@.metric_publish_refresh(name);    -- (the views' comments say what is certified)
  RETURN m.version;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_certify(text, integer) IS
  'Certifies a version of a metric (default: its latest); only its owner may';

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
  SELECT l.owner INTO o FROM @extschema@.metric_latest l WHERE l.name = metric_drop.name;
  IF o IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('metric', name, o, 'change');
  SELECT string_agg(l.name, ', ' ORDER BY l.name) INTO users FROM @extschema@.metric_latest l WHERE metric_drop.name = ANY (l.depends);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop or redefine those first.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  SELECT string_agg(p.view_name::text, ', ' ORDER BY p.view_name::text) INTO users
    FROM @extschema@.metric_publication p WHERE metric_drop.name = ANY (@extschema@.metric_closure(p.metrics));
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is published in views: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those views first (DROP VIEW, then they are no longer publications).';
  END IF;
  DELETE FROM @extschema@.metric m WHERE m.name = metric_drop.name;
  PERFORM @extschema@.audit_record('metric_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_drop(text) IS
  'Drops a metric and all its versions; refused while another metric is computed from it';

CREATE VIEW @extschema@.metric_catalog AS
  SELECT l.name, l.version AS latest_version, l.type, l.description, l.owner::pg_catalog.text AS owner,
         c.version AS certified_version, c.version IS NOT DISTINCT FROM l.version AS certified,
         l.spec AS definition, l.lineage,
         ARRAY(SELECT u.name FROM @extschema@.metric_latest u WHERE l.name = ANY (u.depends) ORDER BY u.name) AS used_by,
         l.defined_by::pg_catalog.text AS defined_by, l.defined_at
    FROM @extschema@.metric_latest l
    LEFT JOIN @extschema@.metric_certification c ON c.name = l.name;
COMMENT ON VIEW @extschema@.metric_catalog IS
  'Every metric: latest version, type, description, owner, certified version (and whether the latest is it), definition, lineage and the metrics computed from it';
COMMENT ON COLUMN @extschema@.metric_catalog.name IS
  'The metric''s name; ask for it by this name (metric_query, metric_publish)';
COMMENT ON COLUMN @extschema@.metric_catalog.latest_version IS
  'Its latest version, the one queries use';
COMMENT ON COLUMN @extschema@.metric_catalog.type IS
  'simple, ratio, derived, cumulative, period_over_period or conversion';
COMMENT ON COLUMN @extschema@.metric_catalog.description IS
  'What the metric counts, in words';
COMMENT ON COLUMN @extschema@.metric_catalog.owner IS
  'The role that owns the metric and certifies its versions';
COMMENT ON COLUMN @extschema@.metric_catalog.certified_version IS
  'The certified version; NULL when none is';
COMMENT ON COLUMN @extschema@.metric_catalog.certified IS
  'Whether the latest version is the certified one';
COMMENT ON COLUMN @extschema@.metric_catalog.definition IS
  'The latest definition as given to metric_define (JSON object of its non-NULL arguments)';
COMMENT ON COLUMN @extschema@.metric_catalog.lineage IS
  'What it reads: {"tables": [...], "columns": [...]} for simple and conversion metrics, {"metrics": [...]} for the others';
COMMENT ON COLUMN @extschema@.metric_catalog.used_by IS
  'The metrics computed from it directly, by name';
COMMENT ON COLUMN @extschema@.metric_catalog.defined_by IS
  'The role that made the latest version';
COMMENT ON COLUMN @extschema@.metric_catalog.defined_at IS
  'When the latest version was made';
