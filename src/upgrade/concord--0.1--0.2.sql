/* concord — upgrade from 0.1 (the first release, src/upgrade/concord--0.1.sql,
 * never edited) to 0.2.  Every change to concord's SQL objects after 0.1 is
 * made here too, so that ALTER EXTENSION concord UPDATE gives what
 * CREATE EXTENSION concord gives (test/packaging/upgrade.sql compares
 * them). */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION concord UPDATE" to load this file. \quit

-- 0.2: one function lists a relation's grants (governed views, published
-- views and extension_cleanup use it); metric_define checks cycles once.
-- Who holds which privilege on a relation, besides its owner: governed
-- views, published views and DROP EXTENSION move or keep readers with it.
CREATE FUNCTION @extschema@.relation_grants(rel regclass)
RETURNS TABLE (who text, priv text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
         x.privilege_type
    FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) x
   WHERE c.oid = rel AND x.grantee <> c.relowner;
END;
COMMENT ON FUNCTION @extschema@.relation_grants(regclass) IS
  'The privileges granted on a relation, as (grantee, privilege), the owner''s left out; a grantee ready for GRANT (quoted, or PUBLIC)';

CREATE OR REPLACE FUNCTION @extschema@.metric_define(name text, type text, model text DEFAULT NULL, agg text DEFAULT NULL,
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
AS $fn$
#variable_conflict use_column
DECLARE
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

  SELECT l.version, l.spec, l.description, l.owner INTO latest FROM @extschema@.metric_latest l WHERE l.name = metric_define.name;
  IF latest.version IS NOT NULL THEN
    IF NOT pg_catalog.pg_has_role(current_user, latest.owner, 'MEMBER') THEN
      RAISE EXCEPTION 'metric "%" belongs to "%"', name, latest.owner
        USING ERRCODE = 'insufficient_privilege', HINT = 'Only its owner (or a member of that role) may change a metric.';
    END IF;
    IF latest.spec = spec AND latest.description IS NOT DISTINCT FROM description
       AND (owner IS NULL OR owner = latest.owner) THEN
      RETURN latest.version;            -- nothing changed: no new version
    END IF;
  END IF;
  IF owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
    RAISE EXCEPTION 'role "%" does not exist', owner USING ERRCODE = 'undefined_object';
  END IF;
  v := coalesce(latest.version, 0) + 1;
  INSERT INTO @extschema@.metric (name, version, type, spec, compiled, depends, lineage, description, owner)
  VALUES (name, v, type, spec, compiled, deps, lineage, description, coalesce(owner, latest.owner, current_user::text));
  PERFORM @extschema@.audit_record('metric_define', name, NULL, spec || jsonb_build_object('version', v));
  -- views published for BI tools answer with the new version at once
  PERFORM @extschema@.metric_publish_refresh(name);
  RETURN v;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.metric_publish_build(nsp text, rel text, metrics text[], dimensions text[], grain text,
                                                 filters text, time_zone text, reshape boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v regclass;
  c record;
  readers jsonb := '[]';
BEGIN
  -- a question of another shape: the view is made anew, its readers kept
  IF reshape AND pg_catalog.to_regclass(format('%I.%I', nsp, rel)) IS NOT NULL THEN
    SELECT coalesce(jsonb_agg(g.who), '[]') INTO readers
      FROM @extschema@.relation_grants(pg_catalog.to_regclass(format('%I.%I', nsp, rel))) g WHERE g.priv = 'SELECT';
    EXECUTE format('DROP VIEW %I.%I', nsp, rel);
  END IF;
  EXECUTE format('CREATE OR REPLACE VIEW %I.%I WITH (security_invoker = true) AS %s', nsp, rel,
                 -- (from the models, not a rollup: a view's SQL is fixed, a rollup's freshness is not)
                 @extschema@.metric_sql(metrics, dimensions, grain, filters, NULL, NULL, NULL, NULL, time_zone, false));
  v := format('%I.%I', nsp, rel)::regclass;
  FOR c IN SELECT e #>> '{}' AS who FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT SELECT ON %s TO %s', v, c.who);
  END LOOP;
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
    format('concord metrics %s%s%s%s, answered as the reader (row policies apply). Made by concord.metric_publish.',
           array_to_string(metrics, ', '),
           CASE WHEN cardinality(dimensions) > 0 THEN ' by ' || array_to_string(dimensions, ', ') ELSE '' END,
           CASE WHEN grain IS NOT NULL THEN format(' per %s (%s)', grain, time_zone) ELSE '' END,
           CASE WHEN filters IS NOT NULL THEN ' where ' || filters ELSE '' END));
  IF grain IS NOT NULL THEN
    EXECUTE format('COMMENT ON COLUMN %s.metric_time IS %L', v,
                   format('The first day of the %s, in time zone %s', grain, time_zone));
  END IF;
  FOR c IN SELECT x AS out, d.description, d.model, d.name
             FROM unnest(dimensions) x
             LEFT JOIN @extschema@.metric_dimension d ON (position('.' IN x) = 0 AND d.name = x) OR d.model || '.' || d.name = x LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c.out,
                   coalesce(c.description || ' ', '') || format('(dimension %s of model %s)', c.name, c.model));
  END LOOP;
  FOR c IN SELECT k.name, k.description, k.latest_version, k.certified, k.certified_version, k.owner
             FROM @extschema@.metric_catalog k WHERE k.name = ANY (metrics) LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c.name,
                   coalesce(c.description || ' ', '') || format('(metric %s version %s, %s; owner %s)', c.name, c.latest_version,
                     CASE WHEN c.certified THEN 'certified' WHEN c.certified_version IS NOT NULL
                          THEN format('not certified: version %s is', c.certified_version) ELSE 'not certified' END, c.owner));
  END LOOP;
  RETURN v;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.extension_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r record;
  g record;
BEGIN
  -- Citus: the drops below reach the workers; Citus lets a transaction drop
  -- a distributed schema (the member mirror) only over one connection per
  -- node
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  -- views published for BI tools
  FOR r IN SELECT p.view_name FROM @extschema@.metric_publication p
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name) LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s', r.view_name);
  END LOOP;
  -- governed views: their readers get the table back
  FOR r IN SELECT DISTINCT m.table_name, pg_catalog.to_regclass(m.table_name::text || '_governed') AS v
             FROM @extschema@.column_mask m LOOP
    IF r.v IS NOT NULL THEN
      FOR g IN SELECT * FROM @extschema@.relation_grants(r.v) LOOP
        EXECUTE format('GRANT %s ON %s TO %s', g.priv, r.table_name, g.who);
      END LOOP;
      EXECUTE format('DROP VIEW %s', r.v);
    END IF;
  END LOOP;
  -- row security concord turned on, where only concord's policies are left
  FOR r IN SELECT DISTINCT t AS tbl FROM (
             SELECT p.table_name AS t FROM @extschema@.row_policy p
             UNION SELECT a.table_name FROM @extschema@.access_request a) s
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.t) LOOP
    FOR g IN SELECT pol.polname FROM pg_catalog.pg_policy pol
              WHERE pol.polrelid = r.tbl AND pol.polname LIKE 'concord\_%' LOOP
      EXECUTE format('DROP POLICY %I ON %s', g.polname, r.tbl);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.polrelid = r.tbl) THEN
      EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', r.tbl);
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.tbl);
    END IF;
  END LOOP;
  -- rollups (their triggers on the models' tables) and event rules (theirs)
  FOR r IN SELECT x.name FROM @extschema@.metric_rollup x LOOP
    PERFORM @extschema@.metric_rollup_drop(r.name);
  END LOOP;
  FOR r IN SELECT x.name FROM @extschema@.event_rule x LOOP
    PERFORM @extschema@.event_rule_drop(r.name);
  END LOOP;
  -- the Citus mirror of members and departments (citus_prepare)
  DROP SCHEMA IF EXISTS concord_citus CASCADE;
  -- the schema of published views, if nothing else is in it
  IF pg_catalog.to_regnamespace('metrics') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typnamespace = pg_catalog.to_regnamespace('metrics')) THEN
    DROP SCHEMA metrics;
  END IF;
END
$fn$;

-- 0.2: Citus (docs/scaling.md): concord.citus_table and citus_no_triggers,
-- the mirror of members and departments (src/policy/citus.sql),
-- citus_distribute; masks and what needs triggers refused on Citus tables;
-- the mirror dropped with the extension (extension_cleanup, above).
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

CREATE FUNCTION @extschema@.citus_mirror()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  mirror constant text := format('concord_citus.%I', TG_TABLE_NAME);
  key constant text := CASE TG_TABLE_NAME WHEN 'member' THEN 'role_name' ELSE 'name' END;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    EXECUTE 'TRUNCATE ' || mirror;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    EXECUTE format('DELETE FROM %s WHERE %I = ($1).%I', mirror, key, key) USING OLD;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
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
    PERFORM @extschema@.row_policy(p.name, tbl, p.predicate);
  END LOOP;
  RETURN tbl;
END
$fn$;
COMMENT ON FUNCTION @extschema@.citus_distribute(regclass, text, text) IS
  'On a Citus coordinator: distributes a table by a column (or, without one, makes it a reference table) and compiles its row policies again for Citus, in one transaction';
REVOKE EXECUTE ON FUNCTION @extschema@.citus_distribute(regclass, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.column_mask(tbl regclass, col text, mask text, visible_to text DEFAULT 'false',
                                        store boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cm text;
  cv text;
  old record;
  sc name;
BEGIN
  IF tbl IS NULL OR col IS NULL OR mask IS NULL OR visible_to IS NULL OR store IS NULL THEN
    RAISE EXCEPTION 'column_mask needs a table, a column, a mask and who sees the clear value'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- Citus runs a view's shard queries as its reader, not its owner
  -- (citusdata/citus#1683): the governed view could not read the table
  IF @extschema@.citus_table(tbl) THEN
    RAISE EXCEPTION 'masks cannot work on Citus table %', tbl
      USING ERRCODE = 'feature_not_supported',
            DETAIL = 'Citus runs the shard queries of a view as the user reading it, and a member may not read the table.',
            HINT = 'Keep the masked columns in a table that stays on the coordinator (docs/scaling.md).';
  END IF;
  cm := @extschema@.policy_mask(tbl, col, mask);
  cv := @extschema@.policy_predicate(tbl, visible_to);
  SELECT m.compiled_mask, m.stored_column INTO old
    FROM @extschema@.column_mask m WHERE m.table_name = tbl AND m.column_name = col;
  -- a stored column is kept while it holds this very mask
  IF store AND old.compiled_mask = cm THEN
    sc := old.stored_column;
  END IF;
  INSERT INTO @extschema@.column_mask AS m (table_name, column_name, mask, visible_to, compiled_mask, compiled_visible, stored_column)
  VALUES (tbl, col, mask, visible_to, cm, cv, sc)
  ON CONFLICT ON CONSTRAINT column_mask_pkey DO UPDATE
    SET mask = excluded.mask, visible_to = excluded.visible_to, compiled_mask = excluded.compiled_mask,
        compiled_visible = excluded.compiled_visible, stored_column = excluded.stored_column,
        defined_by = current_user, defined_at = pg_catalog.now();
  IF old.stored_column IS NOT NULL AND sc IS NULL THEN
    -- the view stops reading the old stored column, which then goes
    PERFORM @extschema@.governed_view_build(tbl);
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, old.stored_column);
  END IF;
  IF store AND sc IS NULL THEN
    sc := @extschema@.mask_store(tbl, col, cm);
    UPDATE @extschema@.column_mask m SET stored_column = sc WHERE m.table_name = tbl AND m.column_name = col;
  END IF;
  PERFORM @extschema@.audit_record('column_mask', tbl::text || '.' || col, NULL,
                                   jsonb_build_object('mask', mask, 'visible_to', visible_to, 'store', store));
  RETURN @extschema@.governed_view_build(tbl);
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.identity_source_add(
  name text, source_table regclass, key_column text, columns jsonb, priority integer DEFAULT 100,
  track_changes boolean DEFAULT true)
RETURNS @extschema@.identity_source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  kinds constant text[] := ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at'];
  k text;
  col text;
  typ regtype;
  att @extschema@.identity_attribute;
  row @extschema@.identity_source;
BEGIN
  IF name IS NULL OR source_table IS NULL OR key_column IS NULL OR columns IS NULL THEN
    RAISE EXCEPTION 'name, source_table, key_column and columns must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF jsonb_typeof(columns) <> 'object' THEN
    RAISE EXCEPTION 'columns of identity source "%" must be a JSON object of kind: column, not %', name, jsonb_typeof(columns)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"name": "customer_name", "phone": "mobile", "updated_at": "modified_at"}.';
  END IF;
  PERFORM 1 FROM pg_attribute a WHERE a.attrelid = source_table AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key column "%" of identity source "%" does not exist in table %', key_column, name, source_table
      USING ERRCODE = 'undefined_column';
  END IF;
  FOR k, col IN SELECT e.key, e.value #>> '{}' FROM jsonb_each(columns) e LOOP
    SELECT * INTO att FROM @extschema@.identity_attribute a WHERE a.name = k;
    IF NOT k = ANY (kinds) AND att.name IS NULL THEN
      RAISE EXCEPTION 'unknown attribute kind "%" for identity source "%"', k, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Known kinds: ' || array_to_string(kinds, ', ') || coalesce(', ' ||
                       (SELECT string_agg(a.name, ', ' ORDER BY a.name) FROM @extschema@.identity_attribute a), '') ||
                     '; declare others with concord.identity_attribute_add.';
    END IF;
    IF jsonb_typeof(columns -> k) <> 'string' THEN
      RAISE EXCEPTION 'attribute "%" of identity source "%" must name a column, not %', k, name, columns -> k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = source_table AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" does not exist in table %', col, k, name, source_table
        USING ERRCODE = 'undefined_column';
    END IF;
    IF k = 'updated_at' AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
      RAISE EXCEPTION 'column "%" (updated_at) of identity source "%" must be a date or timestamp, not %', col, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF att.compare = 'date' AND typ NOT IN ('date'::regtype, 'timestamptz'::regtype, 'timestamp'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a date) of identity source "%" must be a date or timestamp, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Register a view that converts it, e.g. to_date(col, ''YYYY-MM-DD'').';
    END IF;
    IF att.compare = 'number' AND typ NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype,
                                             'real'::regtype, 'double precision'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a number) of identity source "%" must be numeric, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF k <> 'updated_at' AND att.compare IS DISTINCT FROM 'date' AND att.compare IS DISTINCT FROM 'number'
       AND typ NOT IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype,
                       'bigint'::regtype, 'integer'::regtype, 'numeric'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" must be text, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END LOOP;
  IF NOT (columns ?| ARRAY['name', 'phone', 'email', 'id_number']) THEN
    RAISE EXCEPTION 'identity source "%" needs at least one of name, phone, email, id_number', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Company and address alone cannot tell people apart.';
  END IF;
  INSERT INTO @extschema@.identity_source AS s (name, source_table, key_column, columns, priority)
  VALUES (identity_source_add.name, identity_source_add.source_table, identity_source_add.key_column,
          identity_source_add.columns, identity_source_add.priority)
  RETURNING * INTO row;
  IF track_changes THEN
    PERFORM @extschema@.citus_no_triggers(source_table, 'tracking changes',
                                          'Pass track_changes => false and run concord.resolve() after the table changes.');
  END IF;
  IF track_changes THEN
    -- the caller needs the TRIGGER privilege on the table (its owner has it)
    FOR k IN SELECT unnest(ARRAY['insert', 'update', 'delete']) LOOP
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s REFERENCING %s FOR EACH STATEMENT'
                     ' EXECUTE FUNCTION %s.identity_queue_rows(%L, %L)',
                     'concord_identity_' || k || '_' || identity_source_add.name, k, source_table,
                     CASE k WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                            WHEN 'update' THEN 'NEW TABLE AS new_rows OLD TABLE AS old_rows'
                            ELSE 'OLD TABLE AS old_rows' END,
                     '@extschema@', identity_source_add.name, key_column);
    END LOOP;
  END IF;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'identity source "%" already exists', identity_source_add.name
    USING ERRCODE = 'duplicate_object';
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.audit_table(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'audit_table needs a table' USING ERRCODE = 'null_value_not_allowed';
  END IF;
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

CREATE OR REPLACE FUNCTION @extschema@.write_rule(name text, tbl regclass, predicate text, columns text[] DEFAULT NULL,
                                       operations text[] DEFAULT ARRAY['UPDATE', 'DELETE'])
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
AS $fn$
DECLARE
  compiled text;
  c text;
  ops text[];
BEGIN
  PERFORM @extschema@.policy_object_check('write rule', name, tbl, predicate,
            (SELECT w.table_name FROM @extschema@.write_rule w WHERE w.name = write_rule.name));
  SELECT array_agg(DISTINCT upper(o) ORDER BY upper(o)) INTO ops FROM unnest(operations) o;
  IF ops IS NULL OR NOT ops <@ ARRAY['DELETE', 'INSERT', 'UPDATE'] THEN
    RAISE EXCEPTION 'invalid operations of write rule "%": %', name, coalesce(operations::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Operations are INSERT, UPDATE and DELETE.';
  END IF;
  IF cardinality(columns) = 0 THEN
    columns := NULL;
  END IF;
  FOREACH c IN ARRAY coalesce(columns, '{}') LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = c
                    AND a.attnum > 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'column "%" of table % does not exist', c, tbl
        USING ERRCODE = 'undefined_column';
    END IF;
  END LOOP;
  PERFORM @extschema@.citus_no_triggers(tbl, 'a write rule');
  compiled := @extschema@.policy_predicate(tbl, predicate);
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_wr_' || name, tbl);
  EXECUTE format('CREATE TRIGGER %I BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION %s.write_rule_check(%L, %L, %L)',
                 'concord_wr_' || name, array_to_string(ops, ' OR '), tbl, '@extschema@',
                 name, coalesce(columns, '{}')::text, compiled);
  INSERT INTO @extschema@.write_rule AS w (name, table_name, columns, operations, predicate, compiled)
  VALUES (write_rule.name, tbl, columns, ops, predicate, compiled)
  ON CONFLICT ON CONSTRAINT write_rule_pkey DO UPDATE
    SET columns = excluded.columns, operations = excluded.operations, predicate = excluded.predicate,
        compiled = excluded.compiled, defined_by = current_user, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('write_rule', name, NULL,
                                   jsonb_build_object('table', tbl::text, 'columns', columns, 'operations', ops,
                                                      'condition', predicate));
  RETURN compiled;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.event_rule(name text, tbl regclass, events text[], condition text, actions jsonb,
                                       description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_column
DECLARE
  cond text;
  a jsonb;
  c text;
  missing text;
  rowtype regtype;
  fn text;
  evs text[];
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,50}$' THEN
    RAISE EXCEPTION 'invalid event rule name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rule name is a lower-case identifier, e.g. contract_signed.';
  END IF;
  IF tbl IS NULL OR (SELECT k.relkind FROM pg_catalog.pg_class k WHERE k.oid = tbl) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'event rule "%" needs a table', name USING ERRCODE = 'wrong_object_type';
  END IF;
  evs := ARRAY(SELECT DISTINCT lower(e) FROM unnest(events) e ORDER BY 1);
  IF cardinality(evs) = 0 OR NOT evs <@ ARRAY['insert', 'update', 'delete'] THEN
    RAISE EXCEPTION 'events of rule "%" must be some of insert, update, delete (got %)', name, events
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the condition: over NEW and OLD, rows of the table (OLD is NULL on
  -- insert, NEW on delete)
  rowtype := (SELECT k.reltype FROM pg_catalog.pg_class k WHERE k.oid = tbl)::regtype;
  IF condition IS NOT NULL THEN
    cond := @extschema@.expr_check_over('', ARRAY['new', 'old'], ARRAY[rowtype, rowtype], condition, true);
  END IF;
  -- the actions, checked now rather than at the first firing
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
          USING ERRCODE = 'undefined_object', HINT = 'Define it with concord.endpoint_define.';
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
      IF NOT pg_catalog.has_table_privilege(pg_catalog.to_regclass(a ->> 'insert'), 'INSERT') THEN
        RAISE EXCEPTION 'permission denied to insert into % (rule "%")', pg_catalog.to_regclass(a ->> 'insert'), name
          USING ERRCODE = 'insufficient_privilege', HINT = 'A rule''s actions run with its definer''s privileges.';
      END IF;
    ELSIF a ->> 'notify' !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'invalid channel "%" in rule "%"', a ->> 'notify', name USING ERRCODE = 'invalid_name';
    END IF;
  END LOOP;

  INSERT INTO @extschema@.event_rule AS r (name, table_name, events, condition, compiled, actions, description)
  VALUES (name, tbl, evs, condition, cond, actions, description)
  ON CONFLICT ON CONSTRAINT event_rule_pkey DO UPDATE
    SET table_name = excluded.table_name, events = excluded.events, condition = excluded.condition,
        compiled = excluded.compiled, actions = excluded.actions, description = excluded.description,
        defined_by = current_user, defined_at = pg_catalog.now(), enabled = true;
  -- its trigger function: the condition compiled in, the actions as the definer
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
  EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn, format('concord event rule %s on %s', name, tbl));
  PERFORM @extschema@.citus_no_triggers(tbl, 'an event rule');
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' || name, tbl);
  EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                 'concord_rule_' || name, array_to_string(ARRAY(SELECT upper(e) FROM unnest(evs) e), ' OR '), tbl, fn);
  PERFORM @extschema@.audit_record('event_rule', name, NULL,
    jsonb_build_object('table', tbl::text, 'events', evs, 'condition', condition, 'actions', actions));
  RETURN name;
END
$fn$;

-- 0.2: comments on every column a BI user sees (issue 9): the metric
-- tables and views of schema concord; the columns of governed views
-- (governed_view_build) and of rollup tables (metric_rollup); schema
-- metrics when metric_publish makes it.
COMMENT ON COLUMN @extschema@.metric_model.name IS
  'The model''s name, a lower-case identifier; metrics name their model by it';
COMMENT ON COLUMN @extschema@.metric_model.relation IS
  'The table or view the model''s metrics aggregate (a governed view too)';
COMMENT ON COLUMN @extschema@.metric_model.time_column IS
  'The date, timestamp or timestamptz column that grains and date ranges apply to; NULL when the model has none';
COMMENT ON COLUMN @extschema@.metric_model.description IS
  'What the model''s rows are, in words (e.g. 订单（销售系统）)';
COMMENT ON COLUMN @extschema@.metric_model.defined_by IS
  'The role that last defined the model (model_define)';
COMMENT ON COLUMN @extschema@.metric_model.defined_at IS
  'When the model was last defined';
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
COMMENT ON COLUMN @extschema@.metric_certification.name IS
  'The metric (concord.metric.name)';
COMMENT ON COLUMN @extschema@.metric_certification.version IS
  'Its certified version';
COMMENT ON COLUMN @extschema@.metric_certification.certified_by IS
  'The role that certified it (metric_certify), the metric''s owner or one of its members';
COMMENT ON COLUMN @extschema@.metric_certification.certified_at IS
  'When it was certified';
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
COMMENT ON COLUMN @extschema@.metric_publication.view_name IS
  'The view metric_publish made (schema-qualified); DROP VIEW ends the publication';
COMMENT ON COLUMN @extschema@.metric_publication.metrics IS
  'The metrics it answers, one column each, by name';
COMMENT ON COLUMN @extschema@.metric_publication.dimensions IS
  'The dimensions it answers by, one column each (name or model.name)';
COMMENT ON COLUMN @extschema@.metric_publication.grain IS
  'The time grain of its metric_time column: day, week, month, quarter or year; NULL for totals without a time column';
COMMENT ON COLUMN @extschema@.metric_publication.filters IS
  'The condition over dimensions its rows are limited to, as given; NULL for none';
COMMENT ON COLUMN @extschema@.metric_publication.time_zone IS
  'The time zone in which a timestamptz becomes a day (e.g. Asia/Shanghai)';
COMMENT ON COLUMN @extschema@.metric_publication.published_by IS
  'The role that last published it (metric_publish)';
COMMENT ON COLUMN @extschema@.metric_publication.published_at IS
  'When it was last published';
COMMENT ON COLUMN @extschema@.metric_rollup.name IS
  'The rollup''s name, a lower-case identifier, and its table''s in concord_rollup';
COMMENT ON COLUMN @extschema@.metric_rollup.table_name IS
  'Its table, concord_rollup.<name>: one row per time bucket and dimension values';
COMMENT ON COLUMN @extschema@.metric_rollup.metrics IS
  'The simple metrics it holds, one column each (those behind the metrics asked for)';
COMMENT ON COLUMN @extschema@.metric_rollup.aggs IS
  'Each metric''s aggregate, {"metric": "sum"}: count_distinct and avg are used only at exactly its grain and dimensions';
COMMENT ON COLUMN @extschema@.metric_rollup.versions IS
  'The version of each metric it was computed from, {"metric": version}; it answers only while they are the latest';
COMMENT ON COLUMN @extschema@.metric_rollup.dimensions IS
  'The dimensions it is broken down by (name or model.name)';
COMMENT ON COLUMN @extschema@.metric_rollup.grain IS
  'Its time grain: day, week, month, quarter or year';
COMMENT ON COLUMN @extschema@.metric_rollup.time_zone IS
  'The time zone in which a timestamptz becomes a day (e.g. Asia/Shanghai); it answers only questions in that zone';
COMMENT ON COLUMN @extschema@.metric_rollup.relations IS
  'The tables it reads: its metrics'' models and the tables joined to reach its dimensions, each with its change triggers';
COMMENT ON COLUMN @extschema@.metric_rollup.refreshed_at IS
  'When it was last refreshed; NULL before the first refresh';
COMMENT ON COLUMN @extschema@.metric_rollup.row_count IS
  'Rows in its table at the last refresh';
COMMENT ON COLUMN @extschema@.metric_rollup.created_by IS
  'The role that made it (metric_rollup)';
COMMENT ON COLUMN @extschema@.metric_rollup.created_at IS
  'When it was made';
COMMENT ON COLUMN @extschema@.metric_rollup_change.id IS
  'Numbers the changes in the order they were noted';
COMMENT ON COLUMN @extschema@.metric_rollup_change.rollup IS
  'The rollup whose tables changed (metric_rollup.name)';
COMMENT ON COLUMN @extschema@.metric_rollup_change.since IS
  'The earliest time the change touched, as local time (a timestamptz in the rollup''s time zone); -infinity when it may touch any bucket';
COMMENT ON COLUMN @extschema@.metric_rollup_change.at IS
  'When the change was noted';

CREATE OR REPLACE FUNCTION @extschema@.governed_view_build(tbl regclass)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
AS $fn$
DECLARE
  nsp text;
  rel text;
  owner text;
  cols text;
  v regclass;
  g record;
  k record;
  readers jsonb;
BEGIN
  SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner) INTO nsp, rel, owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
  -- the view reads the table as its owner: one that row security binds
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner AND (r.rolsuper OR r.rolbypassrls)) THEN
    RAISE EXCEPTION 'table % is owned by "%", whom row security does not bind: its governed view would show every row', tbl, owner
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('Give the table an owner that is neither superuser nor BYPASSRLS, e.g. CREATE ROLE %I NOLOGIN; ALTER TABLE %s OWNER TO %I.',
                          rel || '_owner', tbl, rel || '_owner');
  END IF;
  -- (a stored mask's generated column is read in place of the mask, and
  -- not shown itself)
  SELECT string_agg(CASE WHEN m.column_name IS NULL THEN pg_catalog.quote_ident(a.attname)
                         ELSE format('CASE WHEN %s THEN %I ELSE %s END AS %I',
                                     m.compiled_visible, a.attname,
                                     coalesce(pg_catalog.quote_ident(m.stored_column), m.compiled_mask), a.attname) END,
                    ', ' ORDER BY a.attnum)
    INTO cols
    FROM pg_catalog.pg_attribute a
    LEFT JOIN @extschema@.column_mask m ON m.table_name = tbl AND m.column_name = a.attname
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND NOT (a.attgenerated = 's' AND a.attname LIKE 'concord\_masked\_%');
  -- who reads the view now (a rebuilt view keeps them) and who reads the
  -- table (they move to the view)
  SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object('who', gr.who, 'priv', gr.priv)), '[]')
    INTO readers
    FROM unnest(ARRAY[tbl, pg_catalog.to_regclass(format('%I.%I', nsp, rel || '_governed'))]) r,
         LATERAL @extschema@.relation_grants(r) gr
   WHERE gr.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE');
  EXECUTE format('DROP VIEW IF EXISTS %I.%I', nsp, rel || '_governed');
  EXECUTE format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT %s FROM %s', nsp, rel || '_governed', cols, tbl);
  v := format('%I.%I', nsp, rel || '_governed')::regclass;
  EXECUTE format('ALTER VIEW %s OWNER TO %I', v, owner);
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
                 format('Governed view of %s: rows by its row policies, masked columns by concord.column_mask', tbl));
  -- each column: the table column's comment, where it comes from, whether it is masked
  FOR k IN SELECT a.attname, pg_catalog.col_description(tbl, a.attnum) AS description, m.column_name IS NOT NULL AS masked
             FROM pg_catalog.pg_attribute a
             LEFT JOIN @extschema@.column_mask m ON m.table_name = tbl AND m.column_name = a.attname
            WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
              AND NOT (a.attgenerated = 's' AND a.attname LIKE 'concord\_masked\_%') LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, k.attname,
                   coalesce(k.description || ' ', '')
                   || format(CASE WHEN k.masked THEN '(column %s of %s; masked unless the reader may see its clear value, concord.column_mask)'
                                  ELSE '(column %s of %s)' END, pg_catalog.quote_ident(k.attname), tbl));
  END LOOP;
  FOR g IN SELECT e ->> 'who' AS who, e ->> 'priv' AS priv FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT %s ON %s TO %s', g.priv, v, g.who);
    EXECUTE format('REVOKE %s ON %s FROM %s', g.priv, tbl, g.who);
  END LOOP;
  RETURN v;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.metric_publish(view_name text, metrics text[], dimensions text[] DEFAULT '{}',
                                           grain text DEFAULT NULL, filters text DEFAULT NULL, time_zone text DEFAULT NULL,
                                           schema_name text DEFAULT 'metrics', readers text[] DEFAULT '{}')
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v regclass;
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  r text;
BEGIN
  IF view_name IS NULL OR view_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid view name "%"', view_name
      USING ERRCODE = 'invalid_name', HINT = 'A view name is a lower-case identifier, e.g. revenue_by_region_month.';
  END IF;
  IF schema_name IS NULL OR schema_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid schema name "%"', schema_name USING ERRCODE = 'invalid_name';
  END IF;
  IF pg_catalog.to_regclass(format('%I.%I', schema_name, view_name)) IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_publication p
                      WHERE p.view_name = pg_catalog.to_regclass(format('%I.%I', metric_publish.schema_name, metric_publish.view_name))) THEN
    RAISE EXCEPTION 'relation %.% exists and is not a metric publication', schema_name, view_name
      USING ERRCODE = 'duplicate_table', HINT = 'Choose another name.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = metric_publish.schema_name) THEN
    EXECUTE format('CREATE SCHEMA %I', schema_name);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', schema_name,
                   'concord: views of metrics for BI and report tools, answered as the reader (concord.metric_publish)');
  END IF;
  v := @extschema@.metric_publish_build(schema_name, view_name, metrics, coalesce(dimensions, '{}'), grain, filters, tz, true);
  INSERT INTO @extschema@.metric_publication AS p (view_name, metrics, dimensions, grain, filters, time_zone)
  VALUES (v, metrics, coalesce(dimensions, '{}'), grain, filters, tz)
  ON CONFLICT ON CONSTRAINT metric_publication_pkey DO UPDATE
    SET metrics = excluded.metrics, dimensions = excluded.dimensions, grain = excluded.grain, filters = excluded.filters,
        time_zone = excluded.time_zone, published_by = current_user, published_at = pg_catalog.now();
  FOREACH r IN ARRAY coalesce(readers, '{}') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
    EXECUTE format('GRANT SELECT ON %s TO %s', v, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
  END LOOP;
  PERFORM @extschema@.audit_record('metric_publish', v::text, NULL,
                                   jsonb_build_object('metrics', metrics, 'dimensions', dimensions, 'grain', grain,
                                                      'filters', filters, 'time_zone', tz, 'readers', readers));
  RETURN v;
END
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.metric_rollup(name text, metrics text[], dimensions text[] DEFAULT '{}',
                                          grain text DEFAULT 'day', time_zone text DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_column
DECLARE
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  leaves text[];
  bad text;
  mdls text[];
  rels regclass[];
  q text;
  tbl regclass;
  r record;
  ev text;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid rollup name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rollup name is a lower-case identifier, e.g. revenue_daily.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_rollup x WHERE x.name = metric_rollup.name) THEN
    RAISE EXCEPTION 'rollup "%" already exists', name
      USING ERRCODE = 'duplicate_object', HINT = 'Drop it first (concord.metric_rollup_drop), or refresh it.';
  END IF;
  IF grain IS NULL OR grain NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'unknown time grain "%"', grain
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of day, week, month, quarter, year.';
  END IF;
  -- the simple metrics the asked ones are computed from
  SELECT string_agg(l.name || ' (' || l.type || ')', ', ') INTO bad FROM @extschema@.metric_latest l
   WHERE l.name = ANY (@extschema@.metric_closure(metrics)) AND l.type IN ('cumulative', 'period_over_period');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'metrics % are not rolled up', bad
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Roll up their base metrics: cumulative and period-over-period ones are computed from them.';
  END IF;
  -- (unknown metrics and dimensions fail in metric_sql, with its errors)
  q := @extschema@.metric_sql(metrics, dimensions, grain, NULL, NULL, NULL, NULL, NULL, tz, false);
  SELECT array_agg(l.name ORDER BY l.name), array_agg(DISTINCT l.compiled ->> 'model') INTO leaves, mdls
    FROM @extschema@.metric_latest l WHERE l.name = ANY (@extschema@.metric_closure(metrics)) AND l.type = 'simple';
  -- the tables it reads: the metrics' models and those on the joins to the dimensions' models
  WITH RECURSIVE p(node, path) AS (
    SELECT m, ARRAY[m] FROM unnest(mdls) m
    UNION ALL
    SELECT j.to_model, p.path || j.to_model FROM p JOIN @extschema@.metric_join j ON j.model = p.node
     WHERE cardinality(p.path) < 9)
  SELECT array_agg(DISTINCT x.relation) INTO rels FROM @extschema@.metric_model x
   WHERE x.name = ANY (mdls)
      OR x.name IN (SELECT unnest(p.path) FROM p WHERE p.node IN (
                      SELECT d.model FROM @extschema@.metric_dimension d
                       WHERE d.name = ANY (dimensions) OR d.model || '.' || d.name = ANY (dimensions)));
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t
   WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t) NOT IN ('r', 'p');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'rollup "%" would read views: %', name, bad
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'What a view shows may depend on who reads it, so no rollup of it can be proven the same for everyone.';
  END IF;
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t WHERE pg_catalog.row_security_active(t);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'row security hides rows of % from you: a rollup you build would miss them', bad
      USING ERRCODE = 'insufficient_privilege', HINT = 'Build rollups as the tables'' owner or a role with BYPASSRLS.';
  END IF;
  q := @extschema@.metric_sql(leaves, dimensions, grain, NULL, NULL, NULL, NULL, NULL, tz, false);
  EXECUTE format('CREATE TABLE concord_rollup.%I AS %s WITH NO DATA', name, q);
  tbl := format('concord_rollup.%I', name)::regclass;
  EXECUTE format('CREATE INDEX ON %s (metric_time)', tbl);
  EXECUTE format('COMMENT ON TABLE %s IS %L', tbl,
                 format('concord rollup %s: %s by %s per %s (%s); read it through concord.metric_query', name,
                        array_to_string(leaves, ', '), coalesce(nullif(array_to_string(dimensions, ', '), ''), 'nothing'), grain, tz));
  EXECUTE format('COMMENT ON COLUMN %s.metric_time IS %L', tbl, format('The first day of the %s, in time zone %s', grain, tz));
  FOR r IN SELECT x AS out, d.description, d.model, d.name
             FROM unnest(dimensions) x
             LEFT JOIN @extschema@.metric_dimension d ON (position('.' IN x) = 0 AND d.name = x) OR d.model || '.' || d.name = x LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, r.out,
                   coalesce(r.description || ' ', '') || format('(dimension %s of model %s)', r.name, r.model));
  END LOOP;
  FOR r IN SELECT l.name, l.description, l.compiled ->> 'agg' AS agg FROM @extschema@.metric_latest l WHERE l.name = ANY (leaves) LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, r.name,
                   coalesce(r.description || ' ', '') || format('(metric %s: %s over each bucket)', r.name, r.agg));
  END LOOP;
  -- read directly, it shows rows only to those it could be used for
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY concord_rollup_reader ON %s FOR SELECT TO PUBLIC USING ((SELECT %I.metric_rollup_readable(%L)))',
                 tbl, '@extschema@', name);
  EXECUTE format('GRANT SELECT ON %s TO PUBLIC', tbl);
  INSERT INTO @extschema@.metric_rollup (name, table_name, metrics, aggs, versions, dimensions, grain, time_zone, relations)
  SELECT metric_rollup.name, tbl, leaves,
         jsonb_object_agg(l.name, l.compiled ->> 'agg'), jsonb_object_agg(l.name, l.version),
         coalesce(metric_rollup.dimensions, '{}'), metric_rollup.grain, tz, rels
    FROM @extschema@.metric_latest l WHERE l.name = ANY (leaves);
  -- every change to its tables is noted
  FOR r IN SELECT t AS rel, (SELECT m.time_column FROM @extschema@.metric_model m
                               WHERE m.relation = t AND m.name = ANY (mdls) AND m.time_column IS NOT NULL LIMIT 1) AS tcol
             FROM unnest(rels) t LOOP
    PERFORM @extschema@.citus_no_triggers(r.rel, 'a rollup');
    FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %I.metric_rollup_note(%L, %L, %L)',
        left('concord_rollup_' || name, 60) || '_' || left(ev, 1), ev, r.rel,
        CASE ev WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows' ELSE '' END,
        '@extschema@', name, coalesce(r.tcol, ''),
        CASE WHEN r.tcol IS NOT NULL AND @extschema@.metric_column_type(r.rel, r.tcol) = 'timestamptz'::regtype THEN tz ELSE '' END);
    END LOOP;
  END LOOP;
  PERFORM @extschema@.metric_rollup_refresh(name, true);
  PERFORM @extschema@.audit_record('metric_rollup', name, NULL,
    jsonb_build_object('metrics', leaves, 'dimensions', dimensions, 'grain', grain, 'time_zone', tz));
  RETURN tbl;
END
$fn$;

-- governed views and rollup tables made before 0.2 get their columns'
-- comments now, as 0.2 makes them (not rebuilt: other views may use them)
DO $upgrade$
DECLARE
  r record;
  k record;
BEGIN
  FOR k IN SELECT g.oid::regclass AS v, a.attname, t.table_name AS tbl, m.column_name IS NOT NULL AS masked,
                  pg_catalog.col_description(t.table_name, ta.attnum) AS description
             FROM (SELECT DISTINCT x.table_name FROM @extschema@.column_mask x) t
             JOIN pg_catalog.pg_class tc ON tc.oid = t.table_name
             JOIN pg_catalog.pg_class g ON g.relnamespace = tc.relnamespace AND g.relname = tc.relname || '_governed'
             JOIN pg_catalog.pg_attribute a ON a.attrelid = g.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_catalog.pg_attribute ta ON ta.attrelid = t.table_name AND ta.attname = a.attname AND NOT ta.attisdropped
             LEFT JOIN @extschema@.column_mask m ON m.table_name = t.table_name AND m.column_name = a.attname LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', k.v, k.attname,
                   coalesce(k.description || ' ', '')
                   || format(CASE WHEN k.masked THEN '(column %s of %s; masked unless the reader may see its clear value, concord.column_mask)'
                                  ELSE '(column %s of %s)' END, pg_catalog.quote_ident(k.attname), k.tbl));
  END LOOP;
  FOR r IN SELECT x.table_name, x.metrics, x.dimensions, x.grain, x.time_zone FROM @extschema@.metric_rollup x LOOP
    EXECUTE format('COMMENT ON COLUMN %s.metric_time IS %L', r.table_name,
                   format('The first day of the %s, in time zone %s', r.grain, r.time_zone));
    FOR k IN SELECT x AS out, d.description, d.model, d.name
               FROM unnest(r.dimensions) x
               LEFT JOIN @extschema@.metric_dimension d ON (position('.' IN x) = 0 AND d.name = x) OR d.model || '.' || d.name = x LOOP
      EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', r.table_name, k.out,
                     coalesce(k.description || ' ', '') || format('(dimension %s of model %s)', k.name, k.model));
    END LOOP;
    FOR k IN SELECT l.name, l.description, l.compiled ->> 'agg' AS agg FROM @extschema@.metric_latest l WHERE l.name = ANY (r.metrics) LOOP
      EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', r.table_name, k.name,
                     coalesce(k.description || ' ', '') || format('(metric %s: %s over each bucket)', k.name, k.agg));
    END LOOP;
  END LOOP;
END
$upgrade$;

-- 0.2: an alert with one offending row says "1 offending row".
CREATE OR REPLACE FUNCTION @extschema@.alert_notify(r @extschema@.alert_rule, ev @extschema@.alert_event, what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  c jsonb;
  title text := format('[%s] %s: %s', upper(ev.severity), r.name, what);
  body text := coalesce(r.description || E'\n', '') ||
               CASE WHEN r.query IS NOT NULL THEN format('%s offending row%s', ev.detail ->> 'count',
                                                     CASE WHEN ev.detail ->> 'count' = '1' THEN '' ELSE 's' END)
                    ELSE format('%s = %s (threshold %s %s)', r.metric, ev.detail ->> 'value', r.op, r.threshold) END;
BEGIN
  FOR c IN SELECT e FROM jsonb_array_elements(r.channels) e LOOP
    IF c ? 'webhook' THEN
      PERFORM @extschema@.outbox_enqueue(c ->> 'webhook',
        @extschema@.alert_format(coalesce(c ->> 'format', (SELECT e.format FROM @extschema@.endpoint e WHERE e.name = c ->> 'webhook'),
                                          'json'), title, body,
                                 jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'detail', ev.detail)),
        format('alert-%s-%s-%s', ev.id, what, extract(epoch FROM pg_catalog.clock_timestamp())));
    ELSE
      PERFORM pg_catalog.pg_notify(c ->> 'notify',
        jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'severity', ev.severity, 'detail', ev.detail)::text);
    END IF;
  END LOOP;
END
$fn$;
