/* concord — metric: answering metrics by name.  Joined into
 * concord--<version>.sql by the Makefile after metric.sql.
 *
 * metric_sql() writes the SQL for a question (metrics, dimensions, a time
 * grain, a filter over dimensions, a date range, an order and a limit);
 * metric_query() runs it and returns its rows.  Both run as the caller
 * (no SECURITY DEFINER), so the rows a metric counts are the rows the
 * caller's row policies show.  The SQL is built only from checked
 * expressions (stored when models and metrics were defined, or checked
 * now for the filter) and quoted names, never from text as typed.
 *
 * Shape of the SQL: for each model that some of the metrics aggregate, an
 * inner query reads the model's rows (with its many-to-one joins) and
 * computes the time bucket, the dimensions and each metric's input; the
 * query around it filters and aggregates.  Models are combined by a full
 * join on the time bucket and the dimensions; ratio and derived metrics
 * are computed in layers over that.  PostgreSQL flattens the inner
 * queries, so the plan is the one of the same question written by hand. */

CREATE FUNCTION @extschema@.metric_sql(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                       filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                       order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                       time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  needed text[];
  unknown text;
  dims jsonb := '[]';           -- [{out, model, name, compiled, type}], requested then filter-only
  fdims text[] := '{}';
  ds text;
  cand record;
  n integer;
  models text[];
  mdl text;
  mrec record;
  path text[];
  joins text[];
  edge text;
  jrec record;
  inner_cols text[];
  outer_cols text[];
  group_keys text[];
  keys text[] := '{}';
  aggs text[];
  from_sql text;
  where_sql text[];
  fcompiled text;
  parts text[] := '{}';
  part_metrics text[] := '{}';
  sql text;
  available text[];
  pending text[];
  layer text[];
  lrec record;
  out_cols text[];
  ord text[] := '{}';
  o text;
  i integer;
  tt regtype;
  d jsonb;
  plist jsonb;
  part jsonb;
  rollup text;
  ltime text;
  step text;
BEGIN
  -- the question
  IF metrics IS NULL OR cardinality(metrics) = 0 THEN
    RAISE EXCEPTION 'metric_sql needs at least one metric' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(x, ', ') INTO unknown FROM unnest(metrics) x
   WHERE NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name = x);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'unknown metric: %', unknown
      USING ERRCODE = 'undefined_object', HINT = 'concord.metric_catalog lists the metrics.';
  END IF;
  IF grain IS NOT NULL AND grain NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'unknown time grain "%"', grain
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of day, week (ISO, from Monday), month, quarter, year.';
  END IF;
  -- (pg_timezone_names reads the whole zone database: asking the zone is cheaper)
  BEGIN
    PERFORM pg_catalog.timezone(tz, pg_catalog.now());
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'unknown time zone "%"', tz
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, e.g. Asia/Shanghai.';
  END;
  IF from_date > to_date THEN
    RAISE EXCEPTION 'from_date % is after to_date %', from_date, to_date USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF row_limit < 0 THEN
    RAISE EXCEPTION 'row_limit must not be negative (got %)', row_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF cardinality(metrics) <> (SELECT count(DISTINCT x) FROM unnest(metrics) x) THEN
    RAISE EXCEPTION 'a metric is asked for twice: %', array_to_string(metrics, ', ') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the metrics to compute: those asked for and what they are computed
  -- from (a cumulative metric computes its base itself)
  WITH RECURSIVE up(name, depth) AS (
    SELECT x, 1 FROM unnest(metrics) x
    UNION
    SELECT dep, up.depth + 1 FROM up JOIN @extschema@.metric_latest l ON l.name = up.name, unnest(l.depends) dep
     WHERE l.type <> 'cumulative' AND up.depth < 64)
  SELECT array_agg(DISTINCT up.name) INTO needed FROM up;
  SELECT coalesce(array_agg(DISTINCT l.compiled ->> 'model' ORDER BY l.compiled ->> 'model'), '{}') INTO models
    FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type IN ('simple', 'conversion');

  -- dimensions: asked for, then those only the filter uses
  IF filters IS NOT NULL THEN
    fdims := @extschema@.expr_names(filters);
  END IF;
  FOR ds, i IN SELECT x, 0 FROM unnest(coalesce(dimensions, '{}')) x UNION ALL SELECT x, 1 FROM unnest(fdims) x LOOP
    IF ds = 'metric_time' THEN
      IF i = 0 THEN
        RAISE EXCEPTION 'metric_time is not a dimension to ask for: give a grain instead' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      RAISE EXCEPTION 'the filter cannot use metric_time: give from_date and to_date instead' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CONTINUE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(dims) e WHERE e ->> 'out' = ds);
    IF i = 0 AND ds = ANY (metrics) THEN
      RAISE EXCEPTION '"%" is asked for as a metric and as a dimension', ds USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*), min(x.model) AS model, min(x.name) AS name, string_agg(x.model || '.' || x.name, ', ' ORDER BY x.model) AS names
      INTO cand
      FROM @extschema@.metric_dimension x
     WHERE (position('.' IN ds) = 0 AND x.name = ds) OR x.model || '.' || x.name = ds;
    IF cand.count = 0 THEN
      RAISE EXCEPTION 'unknown dimension "%"%', ds, CASE WHEN i = 1 THEN ' in the filter' ELSE '' END
        USING ERRCODE = 'undefined_object', HINT = 'concord.metric_dimension lists the dimensions of every model.';
    ELSIF cand.count > 1 THEN
      RAISE EXCEPTION 'dimension "%" is ambiguous: %', ds, cand.names
        USING ERRCODE = 'ambiguous_column', HINT = 'Ask for it as model.dimension (the filter names dimensions that are unique).';
    END IF;
    SELECT jsonb_build_object('out', ds, 'model', x.model, 'name', x.name, 'compiled', x.compiled, 'type', x.type::text)
      INTO d FROM @extschema@.metric_dimension x WHERE x.model = cand.model AND x.name = cand.name;
    dims := dims || d;
  END LOOP;
  IF filters IS NOT NULL THEN
    IF cardinality(fdims) = 0 THEN
      RAISE EXCEPTION 'the filter uses no dimension: %', filters
        USING ERRCODE = 'invalid_parameter_value', HINT = 'A filter is a condition over dimensions, e.g. region = ''华东''.';
    END IF;
    fcompiled := @extschema@.expr_check_over('d', fdims,
                   ARRAY(SELECT (SELECT (e ->> 'type')::regtype FROM jsonb_array_elements(dims) e WHERE e ->> 'out' = f)
                           FROM unnest(fdims) f), filters, true);
  END IF;
  IF grain IS NOT NULL THEN
    keys := keys || 'metric_time'::text;
  END IF;
  keys := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM unnest(coalesce(dimensions, '{}')) x);

  -- the parts: one query per model for its simple metrics by time bucket,
  -- one per cumulative metric (its base over a window of rows, per
  -- bucket), one per period-over-period metric (its base a period before)
  plist := '[]';
  FOREACH mdl IN ARRAY models LOOP
    plist := plist || jsonb_build_object('kind', 'bucket', 'model', mdl, 'metrics',
      (SELECT jsonb_agg(jsonb_build_object('name', l.name, 'compiled', l.compiled) ORDER BY l.name)
         FROM @extschema@.metric_latest l
        WHERE l.name = ANY (needed) AND l.type IN ('simple', 'conversion') AND l.compiled ->> 'model' = mdl));
  END LOOP;
  FOR lrec IN SELECT l.name, l.type, l.compiled, b.compiled AS base FROM @extschema@.metric_latest l
                LEFT JOIN @extschema@.metric_latest b ON b.name = l.compiled ->> 'base'
               WHERE l.name = ANY (needed) AND l.type IN ('cumulative', 'period_over_period') ORDER BY l.name LOOP
    IF grain IS NULL THEN
      RAISE EXCEPTION '% metric "%" needs a time grain', replace(lrec.type, '_', '-'), lrec.name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give grain => day, week, month, quarter or year.';
    END IF;
    IF lrec.type = 'cumulative' THEN
      plist := plist || jsonb_build_object('kind', 'cumulative', 'model', lrec.base ->> 'model', 'trailing', lrec.compiled ->> 'trailing',
                                           'metrics', jsonb_build_array(jsonb_build_object('name', lrec.name, 'compiled', lrec.base)));
    ELSE
      plist := plist || jsonb_build_object('kind', 'shifted', 'name', lrec.name, 'base', lrec.compiled ->> 'base',
                                           'offset', lrec.compiled ->> 'offset');
    END IF;
  END LOOP;

  -- a rollup that gives this caller provably the same answer stands in
  -- for the per-model queries
  IF use_rollups AND cardinality(models) > 0
     AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'conversion') THEN
    rollup := @extschema@.metric_rollup_pick(
      ARRAY(SELECT l.name FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'simple'),
      coalesce(dimensions, '{}'), fdims, grain, tz, from_date, to_date);
    IF rollup IS NOT NULL THEN
      plist := jsonb_build_array(jsonb_build_object('kind', 'rollup', 'name', rollup))
               || jsonb_path_query_array(plist, '$[*] ? (@.kind != "bucket")');
    END IF;
  END IF;

  FOR part IN SELECT e FROM jsonb_array_elements(plist) e LOOP
    IF part ->> 'kind' = 'rollup' THEN
      parts := parts || @extschema@.metric_rollup_sql(part ->> 'name',
        ARRAY(SELECT l.name FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'simple' ORDER BY l.name),
        coalesce(dimensions, '{}'), grain, fcompiled, from_date, to_date);
      part_metrics := part_metrics || ARRAY(SELECT format('s%s.%I', cardinality(parts), l.name) FROM @extschema@.metric_latest l
                                              WHERE l.name = ANY (needed) AND l.type = 'simple' ORDER BY l.name);
      CONTINUE;
    END IF;
    IF part ->> 'kind' = 'shifted' THEN
      -- the base metric asked the same question a period earlier, moved on by that period
      o := (part ->> 'offset');
      parts := parts || format(E'SELECT (p.metric_time + %L::interval)::date AS metric_time%s,\n       p.%I AS %I\n  FROM (%s) AS p',
        o, (SELECT string_agg(format(', p.%I', x), '') FROM unnest(coalesce(dimensions, '{}')) x),
        part ->> 'base', 'prev__' || (part ->> 'name'),
        @extschema@.metric_sql(ARRAY[part ->> 'base'], dimensions, grain, filters,
                               (from_date - o::interval)::date, (to_date - o::interval)::date, NULL, NULL, tz, use_rollups));
      part_metrics := part_metrics || format('s%s.%I', cardinality(parts), 'prev__' || (part ->> 'name'));
      CONTINUE;
    END IF;
    mdl := part ->> 'model';
    SELECT m.* INTO mrec FROM @extschema@.metric_model m WHERE m.name = mdl;
    IF (grain IS NOT NULL OR from_date IS NOT NULL OR to_date IS NOT NULL) AND mrec.time_column IS NULL THEN
      RAISE EXCEPTION 'model "%" has no time column: its metrics have no time grain or date range', mdl
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the model a time column (concord.model_define).';
    END IF;
    tt := @extschema@.metric_column_type(mrec.relation, mrec.time_column);
    -- the model's time as a local timestamp (a timestamptz in the zone asked for)
    ltime := CASE WHEN mrec.time_column IS NULL THEN NULL
                  WHEN tt = 'timestamptz'::regtype THEN format('%I.%I AT TIME ZONE %L', mdl, mrec.time_column, tz)
                  ELSE format('%I.%I::timestamp', mdl, mrec.time_column) END;
    joins := '{}';
    FOR d IN SELECT e FROM jsonb_array_elements(dims) e LOOP
      CONTINUE WHEN d ->> 'model' = mdl;
      WITH RECURSIVE p(node, path) AS (
        SELECT mdl, ARRAY[]::text[]
        UNION ALL
        SELECT j.to_model, p.path || (j.model || '>' || j.to_model)
          FROM p JOIN @extschema@.metric_join j ON j.model = p.node
         WHERE cardinality(p.path) < 8)
      SELECT p.path INTO path FROM p WHERE p.node = d ->> 'model' ORDER BY cardinality(p.path) LIMIT 1;
      IF path IS NULL THEN
        RAISE EXCEPTION 'dimension "%" (model %) cannot be reached from model "%" by declared joins', d ->> 'out', d ->> 'model', mdl
          USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Declare a many-to-one join with concord.model_join(%L, %L, ...), or leave the dimension out.', mdl, d ->> 'model');
      END IF;
      FOREACH edge IN ARRAY path LOOP
        IF NOT edge = ANY (joins) THEN
          joins := joins || edge;
        END IF;
      END LOOP;
    END LOOP;
    from_sql := format('%s AS %I', mrec.relation, mdl);
    FOREACH edge IN ARRAY joins LOOP
      SELECT j.*, m.relation INTO jrec FROM @extschema@.metric_join j JOIN @extschema@.metric_model m ON m.name = j.to_model
       WHERE j.model = split_part(edge, '>', 1) AND j.to_model = split_part(edge, '>', 2);
      from_sql := from_sql || format(E'\n           LEFT JOIN %s AS %I ON %I.%I = %I.%I',
                                     jrec.relation, jrec.to_model, jrec.to_model, jrec.to_column, jrec.model, jrec.from_column);
    END LOOP;

    inner_cols := '{}';
    outer_cols := '{}';
    group_keys := '{}';
    IF part ->> 'kind' = 'cumulative' THEN
      inner_cols := inner_cols || format('%s AS t', ltime);
      outer_cols := outer_cols || 's.metric_time::date AS metric_time'::text;
      group_keys := group_keys || 's.metric_time'::text;
    ELSIF grain IS NOT NULL THEN
      inner_cols := inner_cols || format('date_trunc(%L, %s)::date AS metric_time', grain, ltime);
      outer_cols := outer_cols || 'd.metric_time'::text;
      group_keys := group_keys || 'd.metric_time'::text;
    END IF;
    FOR d IN SELECT e FROM jsonb_array_elements(dims) e LOOP
      inner_cols := inner_cols || format('%s AS %I', d ->> 'compiled', d ->> 'out');
    END LOOP;
    FOR ds IN SELECT x FROM unnest(coalesce(dimensions, '{}')) x LOOP
      outer_cols := outer_cols || format('d.%I', ds);
      group_keys := group_keys || format('d.%I', ds);
    END LOOP;
    FOR lrec IN SELECT x ->> 'name' AS name, x -> 'compiled' AS compiled FROM jsonb_array_elements(part -> 'metrics') x LOOP
      IF lrec.compiled ? 'conv_entity' THEN
        -- a conversion: each entity with the first event, and whether the
        -- same entity has the second within the window after it
        o := CASE WHEN left(lrec.compiled ->> 'conv_time', 3) = 'tz:'
                  THEN format('conv.%I AT TIME ZONE %L', substr(lrec.compiled ->> 'conv_time', 4), tz)
                  ELSE format('conv.%I::timestamp', lrec.compiled ->> 'conv_time') END;
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'entity', 'e__' || lrec.name);
        inner_cols := inner_cols || format('%s AS %I', coalesce(lrec.compiled ->> 'filter', 'true'), 'f__' || lrec.name);
        inner_cols := inner_cols || format(E'EXISTS (SELECT 1 FROM %s AS conv\n                        WHERE %s = %s AND %s >= %s AND %s < %s + %L::interval%s) AS %I',
          lrec.compiled ->> 'conv_relation', lrec.compiled ->> 'conv_entity', lrec.compiled ->> 'entity',
          o, ltime, o, ltime, lrec.compiled ->> 'window',
          CASE WHEN lrec.compiled ? 'conv_filter' THEN ' AND ' || (lrec.compiled ->> 'conv_filter') ELSE '' END,
          'c__' || lrec.name);
        outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I)::numeric AS %I',
                                           'e__' || lrec.name, 'f__' || lrec.name, 'opps__' || lrec.name);
        outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I AND d.%I)::numeric AS %I',
                                           'e__' || lrec.name, 'f__' || lrec.name, 'c__' || lrec.name, 'conv__' || lrec.name);
        part_metrics := part_metrics || format('s%s.%I', cardinality(parts) + 1, 'opps__' || lrec.name)
                                     || format('s%s.%I', cardinality(parts) + 1, 'conv__' || lrec.name);
        CONTINUE;
      END IF;
      IF lrec.compiled ? 'expr' THEN
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'expr', 'v__' || lrec.name);
      END IF;
      IF lrec.compiled ? 'filter' THEN
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'filter', 'f__' || lrec.name);
      END IF;
      outer_cols := outer_cols || format('%s%s::numeric AS %I',
        CASE lrec.compiled ->> 'agg'
          WHEN 'count_distinct' THEN format('count(DISTINCT d.%I)', 'v__' || lrec.name)
          WHEN 'count' THEN CASE WHEN lrec.compiled ? 'expr' THEN format('count(d.%I)', 'v__' || lrec.name) ELSE 'count(*)' END
          ELSE format('%s(d.%I)', lrec.compiled ->> 'agg', 'v__' || lrec.name) END,
        CASE WHEN lrec.compiled ? 'filter' THEN format(' FILTER (WHERE d.%I)', 'f__' || lrec.name) ELSE '' END,
        lrec.name);
      part_metrics := part_metrics || format('s%s.%I', cardinality(parts) + 1, lrec.name);
    END LOOP;
    IF cardinality(inner_cols) = 0 THEN
      inner_cols := ARRAY['1 AS one'];
    END IF;
    where_sql := '{}';
    -- (a cumulative metric reads the rows before the range too)
    IF from_date IS NOT NULL AND part ->> 'kind' = 'bucket' THEN
      where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
        THEN format('%I.%I >= (%L::timestamp AT TIME ZONE %L)', mdl, mrec.time_column, from_date, tz)
        ELSE format('%I.%I >= %L::date', mdl, mrec.time_column, from_date) END;
    END IF;
    IF to_date IS NOT NULL THEN
      where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
        THEN format('%I.%I < (%L::timestamp AT TIME ZONE %L)', mdl, mrec.time_column, to_date + 1, tz)
        ELSE format('%I.%I < %L::date', mdl, mrec.time_column, to_date + 1) END;
    END IF;
    IF part ->> 'kind' = 'bucket' THEN
      parts := parts || format(E'SELECT %s\n  FROM (SELECT %s\n          FROM %s%s) AS d%s%s',
        array_to_string(outer_cols, E',\n         '),
        array_to_string(inner_cols, E',\n               '),
        from_sql,
        CASE WHEN cardinality(where_sql) > 0 THEN E'\n         WHERE ' || array_to_string(where_sql, E'\n           AND ') ELSE '' END,
        CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
        CASE WHEN cardinality(group_keys) > 0 THEN E'\n GROUP BY ' || array_to_string(group_keys, ', ') ELSE '' END);
    ELSE
      -- each bucket of the range (or of the rows' times) joined to the rows
      -- before its end: all of them, or those of the trailing window
      step := CASE grain WHEN 'quarter' THEN '3 months' ELSE '1 ' || grain END;
      parts := parts || format(E'SELECT %s\n  FROM generate_series(%s, %s, %L::interval) AS s(metric_time)\n'
                               || E'  JOIN (SELECT %s\n          FROM %s%s) AS d\n'
                               || E'    ON d.t < s.metric_time + %L::interval%s%s\n GROUP BY %s',
        array_to_string(outer_cols, E',\n         '),
        CASE WHEN from_date IS NOT NULL THEN format('date_trunc(%L, %L::timestamp)', grain, from_date)
             ELSE format('(SELECT date_trunc(%L, min(%s)) FROM %s AS %I)', grain, ltime, mrec.relation, mdl) END,
        CASE WHEN to_date IS NOT NULL THEN format('date_trunc(%L, %L::timestamp)', grain, to_date)
             ELSE format('(SELECT date_trunc(%L, max(%s)) FROM %s AS %I)', grain, ltime, mrec.relation, mdl) END,
        step,
        array_to_string(inner_cols, E',\n               '),
        from_sql,
        CASE WHEN cardinality(where_sql) > 0 THEN E'\n         WHERE ' || array_to_string(where_sql, E'\n           AND ') ELSE '' END,
        step,
        CASE WHEN part ->> 'trailing' IS NOT NULL
             THEN format(' AND d.t >= s.metric_time + %L::interval - %L::interval', step, part ->> 'trailing') ELSE '' END,
        CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
        array_to_string(group_keys, ', '));
    END IF;
  END LOOP;

  -- the models together
  IF cardinality(parts) = 1 THEN
    sql := parts[1];
  ELSE
    sql := format(E'SELECT %s\n  FROM (%s) AS s1',
                  array_to_string(keys || part_metrics, E',\n       '), parts[1]);
    FOR i IN 2 .. cardinality(parts) LOOP
      sql := sql || format(E'\n  %s (%s) AS s%s%s',
                           CASE WHEN cardinality(keys) > 0 THEN 'FULL JOIN' ELSE 'CROSS JOIN' END, parts[i], i,
                           CASE WHEN cardinality(keys) > 0 THEN format(' USING (%s)', array_to_string(keys, ', ')) ELSE '' END);
    END LOOP;
  END IF;

  -- ratio and derived metrics, a layer at a time
  SELECT coalesce(array_agg(l.name), '{}') INTO available FROM @extschema@.metric_latest l
   WHERE l.name = ANY (needed) AND l.type IN ('simple', 'cumulative');
  SELECT coalesce(array_agg(l.name), '{}') INTO pending FROM @extschema@.metric_latest l
   WHERE l.name = ANY (needed) AND l.type NOT IN ('simple', 'cumulative');
  WHILE cardinality(pending) > 0 LOOP
    layer := '{}';
    FOR lrec IN SELECT l.name, l.compiled FROM @extschema@.metric_latest l
                 WHERE l.name = ANY (pending) AND l.depends <@ available ORDER BY l.name LOOP
      layer := layer || format('(%s)::numeric AS %I', lrec.compiled ->> 'expr', lrec.name);
    END LOOP;
    IF cardinality(layer) = 0 THEN
      RAISE EXCEPTION 'metrics % depend on each other', array_to_string(pending, ', ') USING ERRCODE = 'invalid_recursion';
    END IF;
    sql := format(E'SELECT m.*,\n       %s\n  FROM (%s) AS m', array_to_string(layer, E',\n       '), sql);
    SELECT array_agg(l.name) INTO out_cols FROM @extschema@.metric_latest l
     WHERE l.name = ANY (pending) AND l.depends <@ available;
    available := available || out_cols;
    pending := ARRAY(SELECT x FROM unnest(pending) x WHERE NOT x = ANY (out_cols));
  END LOOP;

  -- what was asked for, in order
  out_cols := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM unnest(metrics) x);
  FOREACH o IN ARRAY coalesce(order_by, CASE WHEN grain IS NOT NULL THEN ARRAY['metric_time'] ELSE '{}' END
                                         || coalesce(dimensions, '{}')) LOOP
    ds := CASE WHEN left(o, 1) = '-' THEN substr(o, 2) ELSE o END;
    IF NOT pg_catalog.quote_ident(ds) = ANY (out_cols) THEN
      RAISE EXCEPTION 'cannot order by "%": it is not a dimension or metric of the question', ds
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Order by metric_time, an asked dimension or metric; -name for descending.';
    END IF;
    ord := ord || (pg_catalog.quote_ident(ds) || CASE WHEN left(o, 1) = '-' THEN ' DESC' ELSE '' END);
  END LOOP;
  RETURN format(E'SELECT %s\n  FROM (%s) AS r%s%s',
                array_to_string(ARRAY(SELECT 'r.' || c FROM unnest(out_cols) c), ', '), sql,
                CASE WHEN cardinality(ord) > 0 THEN E'\n ORDER BY ' || array_to_string(ord, ', ') ELSE '' END,
                CASE WHEN row_limit IS NOT NULL THEN E'\n LIMIT ' || row_limit ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql(text[], text[], text, text, date, date, text[], integer, text, boolean) IS
  'The SQL that answers metrics by dimensions and time grain (day, week, month, quarter, year in time_zone), filtered by a condition over dimensions, between two dates (both included), ordered (-name: descending) and limited; from a rollup when one gives provably the same answer to the caller (unless use_rollups is false)';

CREATE FUNCTION @extschema@.metric_query(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                         filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                         order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                         time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  q text := @extschema@.metric_sql(metrics, dimensions, grain, filters, from_date, to_date, order_by, row_limit, time_zone,
                                   use_rollups);
  r record;
BEGIN
  -- an answer from a version nobody certified says so
  FOR r IN SELECT c.name, c.latest_version, c.certified_version FROM @extschema@.metric_catalog c
            WHERE c.name = ANY (metrics) AND NOT c.certified ORDER BY c.name LOOP
    RAISE NOTICE 'metric "%" version % is not certified%', r.name, r.latest_version,
      CASE WHEN r.certified_version IS NOT NULL THEN format(' (version %s is)', r.certified_version) ELSE '' END;
  END LOOP;
  RETURN QUERY EXECUTE format('SELECT pg_catalog.to_jsonb(q) FROM (%s) AS q', q);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_query(text[], text[], text, text, date, date, text[], integer, text, boolean) IS
  'Answers metrics (as metric_sql writes the question) with a row of jsonb per answer row, run as the caller under the caller''s row policies; a NOTICE names metrics whose latest version is not certified';

-- Grants: the catalog is readable by everyone (one definition of revenue
-- for all); defining is concord_metric's; answering is everyone's, as
-- themselves.
GRANT SELECT ON @extschema@.metric_model, @extschema@.metric_dimension, @extschema@.metric_join,
                @extschema@.metric, @extschema@.metric_certification, @extschema@.metric_latest,
                @extschema@.metric_catalog TO PUBLIC;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'model_define(text, regclass, text, jsonb, text)', 'model_join(text, text, text, text, boolean)',
    'model_drop(text)',
    'metric_define(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text)',
    'metric_certify(text, integer)', 'metric_drop(text)']);
REVOKE EXECUTE ON FUNCTION @extschema@.model_relation_check(text, regclass, regrole) FROM PUBLIC;
