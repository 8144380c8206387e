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
 * Both are C (src/metric/cache.c): they keep the SQL written for each
 * question, per backend, under the generation of the definitions
 * (concord.metric_state), the caller and the settings it depends on, and
 * metric_query keeps its plan too.  The SQL is written here, by
 * metric_sql_build(), in named steps:
 *
 *   metric_sql_question    the question checked; a grain widens the dates
 *                          to whole buckets
 *   metric_sql_nodes       the metrics to compute, each at the version
 *                          that answers (or the latest, latest => true)
 *   metric_sql_dimensions  the dimensions asked for and those the filter
 *                          names; the filter checked over them
 *   metric_sql_part        one query per model (its simple and conversion
 *                          metrics by time bucket and dimensions), one per
 *                          cumulative metric (its base over a window of
 *                          rows, per bucket of the time spine)
 *   metric_sql_from        a model's rows with the joins (one resolver,
 *                          metric_join_path, shared with rollups) and the
 *                          aggregated dimensions a part needs
 *   metric_sql_compose     the parts together: stacked (UNION ALL) and
 *                          grouped by the time bucket and the dimensions,
 *                          so NULL dimension values form one group; a time
 *                          spine gives every bucket of the range a row, for
 *                          each combination of dimension values the answer
 *                          has; a period-over-period metric is its base
 *                          asked a period earlier, joined bucket to bucket
 *   metric_sql_layers      ratio, derived, conversion and period-over-
 *                          period metrics, a layer at a time
 *
 * The rule for empty buckets: with a grain, every bucket from the first to
 * the last of the range (from_date and to_date widened to whole buckets;
 * without them, the first and last buckets of the rows the caller sees)
 * has a row; an additive metric (sum, count, count_distinct, and what is
 * cumulated or shifted from one) is 0 where no row counts, any other
 * metric (min, max, avg, ratios) NULL.  PostgreSQL inlines the parts, so
 * a question of one model plans as the same question written by hand, and
 * the spine and the grouping above it cost a few rows. */

-- How many buckets of a grain there are from the bucket starting on fb to
-- the one starting on tb, both included.
CREATE FUNCTION @extschema@.metric_sql_buckets(grain text, fb date, tb date)
RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE grain
         WHEN 'day' THEN tb - fb + 1
         WHEN 'week' THEN (tb - fb) / 7 + 1
         ELSE ((extract(year FROM tb) - extract(year FROM fb)) * 12 + extract(month FROM tb) - extract(month FROM fb))::integer
              / CASE grain WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END + 1 END;
COMMENT ON FUNCTION @extschema@.metric_sql_buckets(text, date, date) IS
  'Internal to metric_sql: the number of buckets of a grain from the one starting on the first date to the one starting on the second, both included';

-- The question, checked and normalized: a grain widens from_date and
-- to_date to whole buckets (lo, hi: the half-open range of local days read).
CREATE FUNCTION @extschema@.metric_sql_question(metrics text[], dimensions text[], grain text, filters text,
                                                from_date date, to_date date, order_by text[], row_limit integer,
                                                time_zone text, use_rollups boolean, latest boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  unknown text;
  step text;
  fb date;
  tb date;
  buckets integer;
BEGIN
  IF metrics IS NULL OR cardinality(metrics) = 0 THEN
    RAISE EXCEPTION 'metric_sql needs at least one metric' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(coalesce(x, 'NULL'), ', ') INTO unknown FROM unnest(metrics) x
   WHERE x IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name = x);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'unknown metric: %', unknown
      USING ERRCODE = 'undefined_object', HINT = 'concord.metric_catalog lists the metrics.';
  END IF;
  IF cardinality(metrics) <> (SELECT count(DISTINCT x) FROM unnest(metrics) x) THEN
    RAISE EXCEPTION 'a metric is asked for twice: %', array_to_string(metrics, ', ') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(coalesce(dimensions, '{}')) x WHERE x IS NULL) THEN
    RAISE EXCEPTION 'a dimension asked for is NULL' USING ERRCODE = 'null_value_not_allowed';
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
  IF from_date IN ('-infinity', 'infinity') OR to_date IN ('-infinity', 'infinity') THEN
    RAISE EXCEPTION 'from_date and to_date must be days, not infinity' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF row_limit < 0 THEN
    RAISE EXCEPTION 'row_limit must not be negative (got %)', row_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF grain IS NOT NULL THEN
    step := CASE grain WHEN 'quarter' THEN '3 months' ELSE '1 ' || grain END;
    fb := date_trunc(grain, from_date::timestamp)::date;
    tb := date_trunc(grain, to_date::timestamp)::date;
    -- the buckets of the range (every one gets a row): a bounded number
    buckets := @extschema@.metric_sql_buckets(grain, fb, tb);
    IF buckets > 100000 THEN
      RAISE EXCEPTION 'the range from % to % has % buckets of a %', from_date, to_date, buckets, grain
        USING ERRCODE = 'program_limit_exceeded', HINT = 'Ask for at most 100000 buckets: a shorter range or a coarser grain.';
    END IF;
  END IF;
  RETURN jsonb_build_object(
    'metrics', to_jsonb(metrics), 'dimensions', to_jsonb(coalesce(dimensions, '{}')), 'grain', grain, 'filters', filters,
    'step', step,
    -- the first and the last bucket of the range (NULL: the data's)
    'from', fb, 'to', tb,
    -- the local days read: lo <= day < hi
    'lo', CASE WHEN grain IS NOT NULL THEN fb ELSE from_date END,
    'hi', CASE WHEN grain IS NOT NULL THEN (tb + step::interval)::date ELSE to_date + 1 END,
    'buckets', buckets, 'tz', tz, 'order_by', to_jsonb(order_by), 'row_limit', row_limit,
    'use_rollups', coalesce(use_rollups, true), 'latest', coalesce(latest, false));
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_question(text[], text[], text, text, date, date, text[], integer, text, boolean, boolean) IS
  'Internal to metric_sql: the question checked and normalized (a grain widens the dates to whole buckets)';

-- The metrics a question computes: those asked for and what they are
-- computed from (a cumulative metric computes its base itself, from its
-- rows), each at the version that answers (latest: at its latest
-- version), as {"name": {"version", "type", "compiled", "depends",
-- "base_compiled", "additive"}}.  additive: its value where no row counts
-- is 0, not NULL.
CREATE FUNCTION @extschema@.metric_sql_nodes(metrics text[], latest boolean)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE v AS (
          SELECT c.name, c.version, c.type, c.compiled, c.depends FROM @extschema@.metric_current c WHERE NOT latest
          UNION ALL
          SELECT l.name, l.version, l.type, l.compiled, l.depends FROM @extschema@.metric_latest l WHERE latest),
        up(name, depth) AS (
          SELECT x, 1 FROM unnest(metrics) x
          UNION
          SELECT dep, up.depth + 1 FROM up JOIN v ON v.name = up.name, unnest(v.depends) dep
           WHERE v.type <> 'cumulative' AND up.depth < 64),
        w AS (
          SELECT v.*, b.compiled AS base_compiled, b.type AS base_type
            FROM v LEFT JOIN v b ON b.name = v.compiled ->> 'base'
           WHERE v.name IN (SELECT up.name FROM up))
        SELECT jsonb_object_agg(w.name, jsonb_build_object(
                 'version', w.version, 'type', w.type, 'compiled', w.compiled, 'depends', to_jsonb(w.depends),
                 'base_compiled', w.base_compiled,
                 'additive', CASE w.type
                               WHEN 'simple' THEN w.compiled ->> 'agg' IN ('sum', 'count', 'count_distinct')
                               WHEN 'cumulative' THEN w.base_compiled ->> 'agg' IN ('sum', 'count', 'count_distinct')
                               WHEN 'period_over_period' THEN
                                 w.base_type = 'simple' AND w.base_compiled ->> 'agg' IN ('sum', 'count', 'count_distinct')
                                 OR w.base_type = 'cumulative'
                                    AND (SELECT bb.compiled ->> 'agg' FROM v bb WHERE bb.name = w.base_compiled ->> 'base')
                                        IN ('sum', 'count', 'count_distinct')
                               ELSE false END))
          FROM w);
COMMENT ON FUNCTION @extschema@.metric_sql_nodes(text[], boolean) IS
  'Internal to metric_sql: the metrics a question computes, each at the version that answers (or its latest), with whether it is 0 where no row counts';

-- The dimensions of a question: those asked for (by name, or model.name
-- when two models have it), then those only the filter names (by name,
-- or model__name); and the filter checked over them (columns of d).
-- Returns {"dims": [{"out", "model", "name", "compiled", "type",
-- "aggregate", "asked"}], "filter": ...}.
CREATE FUNCTION @extschema@.metric_sql_dimensions(metrics text[], dimensions text[], filters text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  dims jsonb := '[]';
  fdims text[] := '{}';
  ds text;
  i integer;
  cand record;
  fcompiled text;
BEGIN
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
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(dims) e WHERE e ->> 'out' = ds) THEN
      IF i = 0 THEN
        RAISE EXCEPTION 'dimension "%" is asked for twice', ds USING ERRCODE = 'invalid_parameter_value';
      END IF;
      CONTINUE;
    END IF;
    IF i = 0 AND ds = ANY (metrics) THEN
      RAISE EXCEPTION '"%" is asked for as a metric and as a dimension', ds USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*) AS cnt, min(x.model) AS model, min(x.name) AS name,
           string_agg(x.model || '.' || x.name, ', ' ORDER BY x.model) AS names
      INTO cand
      FROM @extschema@.metric_dimension x
     WHERE x.model || '.' || x.name = ds
        OR i = 1 AND x.model || '__' || x.name = ds
        OR position('.' IN ds) = 0 AND x.name = ds
           AND NOT (i = 1 AND EXISTS (SELECT 1 FROM @extschema@.metric_dimension y WHERE y.model || '__' || y.name = ds));
    IF cand.cnt = 0 THEN
      RAISE EXCEPTION 'unknown dimension "%"%', ds, CASE WHEN i = 1 THEN ' in the filter' ELSE '' END
        USING ERRCODE = 'undefined_object', HINT = 'concord.metric_dimension lists the dimensions of every model.';
    ELSIF cand.cnt > 1 THEN
      RAISE EXCEPTION 'dimension "%" is ambiguous: %', ds, cand.names
        USING ERRCODE = 'ambiguous_column',
              HINT = 'Ask for it as model.dimension (in the filter: model__dimension).';
    END IF;
    dims := dims || (SELECT jsonb_strip_nulls(jsonb_build_object('out', ds, 'model', x.model, 'name', x.name, 'compiled', x.compiled,
                                                                 'type', x.type::text, 'aggregate', x.aggregate, 'asked', i = 0))
                       FROM @extschema@.metric_dimension x WHERE x.model = cand.model AND x.name = cand.name);
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
  RETURN jsonb_strip_nulls(jsonb_build_object('dims', dims, 'filter', fcompiled));
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_dimensions(text[], text[], text) IS
  'Internal to metric_sql: the dimensions a question asks for and those its filter names, and the filter checked over them';

-- A model's rows as a FROM clause: its relation, the joins to the models
-- in targets (each by metric_join_path, the resolver rollups use too), the
-- LEFT JOINs giving the aggregated dimensions in aggs ("model.dimension")
-- their values, and the LATERAL rows in laterals (metrics' filters over
-- dimensions).  Returns {"sql", "relations"}.
CREATE FUNCTION @extschema@.metric_sql_from(mdl text, targets text[], aggs text[], laterals text[])
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  rel regclass;
  edges text[] := '{}';
  path text[];
  t text;
  edge text;
  j record;
  a text;
  from_sql text;
  rels regclass[];
BEGIN
  SELECT m.relation INTO rel FROM @extschema@.metric_model m WHERE m.name = mdl;
  rels := ARRAY[rel];
  FOREACH t IN ARRAY targets LOOP
    path := @extschema@.metric_join_path(mdl, t);
    IF path IS NULL THEN
      RAISE EXCEPTION 'model "%" cannot be reached from model "%" by declared joins', t, mdl
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Declare a many-to-one join with concord.model_join(%L, %L, ...).', mdl, t);
    END IF;
    FOREACH edge IN ARRAY path LOOP
      IF NOT edge = ANY (edges) THEN
        edges := edges || edge;
      END IF;
    END LOOP;
  END LOOP;
  from_sql := format('%s AS %I', rel, mdl);
  FOREACH edge IN ARRAY edges LOOP
    SELECT x.*, m.relation INTO j FROM @extschema@.metric_join x JOIN @extschema@.metric_model m ON m.name = x.to_model
     WHERE x.model = split_part(edge, '>', 1) AND x.to_model = split_part(edge, '>', 2);
    from_sql := from_sql || format(E'\n          LEFT JOIN %s AS %I ON %I.%I = %I.%I',
                                   j.relation, j.to_model, j.to_model, j.to_column, j.model, j.from_column);
    rels := rels || j.relation;
  END LOOP;
  FOREACH a IN ARRAY aggs LOOP
    from_sql := from_sql || E'\n          ' || @extschema@.metric_dimension_join(split_part(a, '.', 1), split_part(a, '.', 2));
    rels := rels || (SELECT m.relation FROM @extschema@.metric_dimension d
                       JOIN @extschema@.metric_model m ON m.name = d.aggregate ->> 'from'
                      WHERE d.model = split_part(a, '.', 1) AND d.name = split_part(a, '.', 2));
  END LOOP;
  FOREACH a IN ARRAY laterals LOOP
    from_sql := from_sql || E'\n          CROSS JOIN LATERAL ' || a;
  END LOOP;
  RETURN jsonb_build_object('sql', from_sql, 'relations', to_jsonb(ARRAY(SELECT DISTINCT x::oid FROM unnest(rels) x)));
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_from(text, text[], text[], text[]) IS
  'Internal to metric_sql: a model''s rows as a FROM clause, with the declared joins to the models a question needs, aggregated dimensions and filter rows';

-- The SQL of one part: kind bucket (a model's simple and conversion
-- metrics by time bucket and dimensions) or cumulative (one cumulative
-- metric: its base's rows before the end of each bucket of the spine, or
-- in the trailing window before it).  Returns {"sql", "relations", and for
-- a cumulative part "bounds": the first and last bucket of its rows}.
CREATE FUNCTION @extschema@.metric_sql_part(q jsonb, part jsonb, dm jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  mdl text := part ->> 'model';
  grain text := q ->> 'grain';
  tz text := q ->> 'tz';
  kind text := part ->> 'kind';
  mrec record;
  trel regclass;
  tt regtype;
  talias text;
  ltime text;
  targets text[] := '{}';
  aggs text[] := '{}';
  laterals text[] := '{}';
  inner_cols text[] := '{}';
  outer_cols text[] := '{}';
  group_keys text[] := '{}';
  where_sql text[] := '{}';
  d jsonb;
  m record;
  x jsonb;
  lat text[];
  fr jsonb;
  o text;
  fcompiled text := dm ->> 'filter';
  inner_sql text;
BEGIN
  SELECT mm.* INTO mrec FROM @extschema@.metric_model mm WHERE mm.name = mdl;
  IF (grain IS NOT NULL OR q ->> 'lo' IS NOT NULL OR q ->> 'hi' IS NOT NULL) AND mrec.time_column IS NULL THEN
    RAISE EXCEPTION 'model "%" has no time column: its metrics have no time grain or date range', mdl
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the model a time column (concord.model_create).';
  END IF;
  -- the model's time, as a local timestamp (a timestamptz in the zone asked
  -- for), on its own rows or on those of the model it takes its time from
  IF mrec.time_column IS NOT NULL THEN
    talias := coalesce(mrec.time_model, mdl);
    trel := coalesce((SELECT mm.relation FROM @extschema@.metric_model mm WHERE mm.name = mrec.time_model), mrec.relation);
    tt := @extschema@.metric_column_type(trel, mrec.time_column);
    IF tt IS NULL THEN
      RAISE EXCEPTION 'time column "%" of model "%" (%) does not exist any more', mrec.time_column, talias, trel
        USING ERRCODE = 'undefined_column', HINT = 'Redefine the model (concord.model_create).';
    END IF;
    ltime := CASE WHEN tt = 'timestamptz'::regtype THEN format('%I.%I AT TIME ZONE %L', talias, mrec.time_column, tz)
                  ELSE format('%I.%I::timestamp', talias, mrec.time_column) END;
    IF mrec.time_model IS NOT NULL AND (grain IS NOT NULL OR q ->> 'lo' IS NOT NULL OR q ->> 'hi' IS NOT NULL
                                        OR part @? '$.metrics[*].compiled.conv_entity') THEN
      IF @extschema@.metric_join_path(mdl, mrec.time_model) IS NULL THEN
        RAISE EXCEPTION 'model "%" takes its time from model "%", which no declared join reaches', mdl, mrec.time_model
          USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Declare a many-to-one join with concord.model_join(%L, %L, ...).', mdl, mrec.time_model);
      END IF;
      targets := targets || mrec.time_model;
    END IF;
  END IF;
  -- the dimensions: their models reached by joins, aggregated ones joined in
  FOR d IN SELECT e FROM jsonb_array_elements(dm -> 'dims') e LOOP
    IF d ->> 'model' <> mdl THEN
      IF @extschema@.metric_join_path(mdl, d ->> 'model') IS NULL THEN
        RAISE EXCEPTION 'dimension "%" (model %) cannot be reached from model "%" by declared joins', d ->> 'out', d ->> 'model', mdl
          USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Declare a many-to-one join with concord.model_join(%L, %L, ...), or leave the dimension out.', mdl, d ->> 'model');
      END IF;
      targets := targets || (d ->> 'model');
    END IF;
    IF d ? 'aggregate' AND NOT (d ->> 'model') || '.' || (d ->> 'name') = ANY (aggs) THEN
      aggs := aggs || ((d ->> 'model') || '.' || (d ->> 'name'));
    END IF;
  END LOOP;
  -- the metrics' filters over dimensions: a LATERAL row of what they name
  FOR m IN SELECT e ->> 'name' AS name, e -> 'compiled' AS compiled FROM jsonb_array_elements(part -> 'metrics') e LOOP
    CONTINUE WHEN NOT m.compiled ? 'filter_names';
    lat := '{}';
    FOR x IN SELECT e FROM jsonb_array_elements(m.compiled -> 'filter_names') e LOOP
      IF x ? 'column' THEN
        lat := lat || format('%I.%I AS %I', mdl, x ->> 'column', x ->> 'name');
        CONTINUE;
      END IF;
      SELECT jsonb_build_object('compiled', dd.compiled, 'aggregate', dd.aggregate IS NOT NULL) INTO fr
        FROM @extschema@.metric_dimension dd WHERE dd.model = x ->> 'model' AND dd.name = x ->> 'dimension';
      IF fr IS NULL OR @extschema@.metric_join_path(mdl, x ->> 'model') IS NULL THEN
        RAISE EXCEPTION 'the filter of metric "%" names dimension %.%, which model "%" no longer has or reaches', m.name,
                        x ->> 'model', x ->> 'dimension', mdl
          USING ERRCODE = 'undefined_object', HINT = 'Redefine the metric or the model.';
      END IF;
      IF x ->> 'model' <> mdl THEN
        targets := targets || (x ->> 'model');
      END IF;
      IF (fr ->> 'aggregate')::boolean AND NOT (x ->> 'model') || '.' || (x ->> 'dimension') = ANY (aggs) THEN
        aggs := aggs || ((x ->> 'model') || '.' || (x ->> 'dimension'));
      END IF;
      lat := lat || format('%s AS %I', fr ->> 'compiled', x ->> 'name');
    END LOOP;
    laterals := laterals || format('(SELECT %s) AS %I', array_to_string(lat, ', '), m.compiled ->> 'filter_alias');
  END LOOP;
  fr := @extschema@.metric_sql_from(mdl, ARRAY(SELECT DISTINCT t FROM unnest(targets) t ORDER BY t), aggs, laterals);

  -- the columns: the time bucket (a cumulative part: the time itself), the
  -- dimensions, and each metric's input
  IF kind = 'cumulative' THEN
    inner_cols := inner_cols || format('%s AS t', ltime);
    outer_cols := outer_cols || 's.metric_time'::text;
    group_keys := group_keys || 's.metric_time'::text;
  ELSIF grain IS NOT NULL THEN
    inner_cols := inner_cols || format('date_trunc(%L, %s)::date AS metric_time', grain, ltime);
    outer_cols := outer_cols || 'd.metric_time'::text;
    group_keys := group_keys || 'd.metric_time'::text;
  END IF;
  FOR d IN SELECT e FROM jsonb_array_elements(dm -> 'dims') e LOOP
    inner_cols := inner_cols || format('%s AS %I', d ->> 'compiled', d ->> 'out');
    IF (d ->> 'asked')::boolean THEN
      outer_cols := outer_cols || format('d.%I', d ->> 'out');
      group_keys := group_keys || format('d.%I', d ->> 'out');
    END IF;
  END LOOP;
  FOR m IN SELECT e ->> 'name' AS name, e -> 'compiled' AS compiled FROM jsonb_array_elements(part -> 'metrics') e LOOP
    IF m.compiled ? 'conv_entity' THEN
      -- a conversion: each entity with the first event, and whether the
      -- same entity has the second from the first's time to the end of
      -- the window after it, both included (never the event itself)
      o := CASE WHEN left(m.compiled ->> 'conv_time', 3) = 'tz:'
                THEN format('conv.%I AT TIME ZONE %L', substr(m.compiled ->> 'conv_time', 4), tz)
                ELSE format('conv.%I::timestamp', m.compiled ->> 'conv_time') END;
      inner_cols := inner_cols || format('%s AS %I', m.compiled ->> 'entity', 'e__' || m.name);
      inner_cols := inner_cols || format('%s AS %I', coalesce(m.compiled ->> 'filter', 'true'), 'f__' || m.name);
      inner_cols := inner_cols || format(E'EXISTS (SELECT 1 FROM %s AS conv\n                        WHERE %s = %s AND %s %s %s AND %s <= %s + %L::interval%s%s) AS %I',
        m.compiled ->> 'conv_relation', m.compiled ->> 'conv_entity', m.compiled ->> 'entity',
        o, CASE WHEN m.compiled ? 'conv_later' THEN '>' ELSE '>=' END, ltime, o, ltime, m.compiled ->> 'window',
        CASE WHEN m.compiled ? 'conv_other' THEN ' AND ' || (m.compiled ->> 'conv_other') ELSE '' END,
        CASE WHEN m.compiled ? 'conv_filter' THEN ' AND ' || (m.compiled ->> 'conv_filter') ELSE '' END,
        'c__' || m.name);
      outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I)::numeric AS %I',
                                         'e__' || m.name, 'f__' || m.name, 'opps__' || m.name);
      outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I AND d.%I)::numeric AS %I',
                                         'e__' || m.name, 'f__' || m.name, 'c__' || m.name, 'conv__' || m.name);
      CONTINUE;
    END IF;
    IF m.compiled ? 'expr' THEN
      inner_cols := inner_cols || format('%s AS %I', m.compiled ->> 'expr', 'v__' || m.name);
    END IF;
    IF m.compiled ? 'filter' THEN
      inner_cols := inner_cols || format('%s AS %I', m.compiled ->> 'filter', 'f__' || m.name);
    END IF;
    outer_cols := outer_cols || format('%s%s::numeric AS %I',
      CASE m.compiled ->> 'agg'
        WHEN 'count_distinct' THEN format('count(DISTINCT d.%I)', 'v__' || m.name)
        WHEN 'count' THEN CASE WHEN m.compiled ? 'expr' THEN format('count(d.%I)', 'v__' || m.name) ELSE 'count(*)' END
        ELSE format('%s(d.%I)', m.compiled ->> 'agg', 'v__' || m.name) END,
      CASE WHEN m.compiled ? 'filter' THEN format(' FILTER (WHERE d.%I)', 'f__' || m.name) ELSE '' END,
      m.name);
  END LOOP;
  IF cardinality(inner_cols) = 0 THEN
    inner_cols := ARRAY['1 AS one'];
  END IF;
  -- the days read (a cumulative part reads the rows before the range too)
  IF q ->> 'lo' IS NOT NULL AND kind = 'bucket' THEN
    where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
      THEN format('%I.%I >= (%L::timestamp AT TIME ZONE %L)', talias, mrec.time_column, q ->> 'lo', tz)
      ELSE format('%I.%I >= %L::date', talias, mrec.time_column, q ->> 'lo') END;
  END IF;
  IF q ->> 'hi' IS NOT NULL THEN
    where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
      THEN format('%I.%I < (%L::timestamp AT TIME ZONE %L)', talias, mrec.time_column, q ->> 'hi', tz)
      ELSE format('%I.%I < %L::date', talias, mrec.time_column, q ->> 'hi') END;
  END IF;
  inner_sql := format(E'(SELECT %s\n          FROM %s%s) AS d',
    array_to_string(inner_cols, E',\n               '), fr ->> 'sql',
    CASE WHEN cardinality(where_sql) > 0 THEN E'\n         WHERE ' || array_to_string(where_sql, E'\n           AND ') ELSE '' END);
  IF kind = 'bucket' THEN
    RETURN jsonb_build_object('relations', fr -> 'relations', 'sql', format(E'SELECT %s\n  FROM %s%s%s',
      array_to_string(outer_cols, E',\n       '), inner_sql,
      CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
      CASE WHEN cardinality(group_keys) > 0 THEN E'\n GROUP BY ' || array_to_string(group_keys, ', ') ELSE '' END));
  END IF;
  -- cumulative: each bucket of the spine joined to the rows before its end
  -- (all of them, or those of the trailing window)
  RETURN jsonb_build_object('relations', fr -> 'relations',
    'sql', format(E'SELECT %s\n  FROM spine AS s\n  JOIN %s\n    ON d.t < s.metric_time + %L::interval%s%s\n GROUP BY %s',
      array_to_string(outer_cols, E',\n       '), inner_sql, q ->> 'step',
      CASE WHEN part ->> 'trailing' IS NOT NULL
           THEN format(' AND d.t >= s.metric_time + %L::interval - %L::interval', q ->> 'step', part ->> 'trailing') ELSE '' END,
      CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
      array_to_string(group_keys, ', ')),
    'bounds', format(E'SELECT date_trunc(%L, min(d.t))::date, date_trunc(%L, max(d.t))::date\n    FROM %s%s',
      grain, grain, inner_sql, CASE WHEN fcompiled IS NOT NULL THEN E'\n   WHERE ' || fcompiled ELSE '' END));
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_part(jsonb, jsonb, jsonb) IS
  'Internal to metric_sql: the SQL of one part of a question (a model''s simple and conversion metrics by bucket and dimensions, or one cumulative metric over the spine)';

-- Ratio, derived, conversion and period-over-period metrics over the
-- combined parts (sql, whose columns are the keys and the parts'
-- values), a layer at a time: each layer computes those whose inputs the
-- layers below have.
CREATE FUNCTION @extschema@.metric_sql_layers(nodes jsonb, sql text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  available text[];
  pending text[];
  layer text[];
  done text[];
  n record;
BEGIN
  SELECT coalesce(array_agg(k), '{}') INTO available FROM jsonb_each(nodes) e(k, v) WHERE v ->> 'type' IN ('simple', 'cumulative');
  SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO pending FROM jsonb_each(nodes) e(k, v) WHERE v ->> 'type' NOT IN ('simple', 'cumulative');
  WHILE cardinality(pending) > 0 LOOP
    layer := '{}';
    done := '{}';
    FOR n IN SELECT k, v FROM jsonb_each(nodes) e(k, v)
              WHERE k = ANY (pending) AND ARRAY(SELECT jsonb_array_elements_text(v -> 'depends')) <@ available ORDER BY k LOOP
      layer := layer || format('(%s)::numeric AS %I', n.v -> 'compiled' ->> 'expr', n.k);
      done := done || n.k;
    END LOOP;
    IF cardinality(layer) = 0 THEN
      RAISE EXCEPTION 'metrics % depend on each other', array_to_string(pending, ', ') USING ERRCODE = 'invalid_recursion';
    END IF;
    sql := format(E'SELECT m.*,\n       %s\n  FROM (%s) AS m', array_to_string(layer, E',\n       '), sql);
    available := available || done;
    pending := ARRAY(SELECT x FROM unnest(pending) x WHERE NOT x = ANY (done));
  END LOOP;
  RETURN sql;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_layers(jsonb, text) IS
  'Internal to metric_sql: the ratio, derived, conversion and period-over-period metrics computed over the combined parts, a layer at a time';

-- The time spine of a question with a grain: every bucket from the first
-- to the last of its range, or, where the range is open, of the rows (the
-- min and max of each part's bounds query): the CTEs that make it.
CREATE FUNCTION @extschema@.metric_sql_spine(q jsonb, bounds text[])
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN q ->> 'from' IS NOT NULL AND q ->> 'to' IS NOT NULL THEN
         -- (the number of buckets known: the planner knows how many rows)
         ARRAY[format(E'spine AS (\nSELECT (%L::timestamp + s * %L::interval)::date AS metric_time FROM generate_series(0, %s) AS s\n)',
                      q ->> 'from', q ->> 'step', @extschema@.metric_sql_buckets(q ->> 'grain', (q ->> 'from')::date, (q ->> 'to')::date) - 1)]
       ELSE
         ARRAY[format(E'bounds AS (\nSELECT min(b.lo) AS lo, max(b.hi) AS hi\n  FROM (%s) AS b(lo, hi)\n)',
                      array_to_string(bounds, E'\n        UNION ALL\n        ')),
               format(E'spine AS (\nSELECT s::date AS metric_time\n  FROM bounds, generate_series(%s::timestamp, %s::timestamp, %L::interval) AS s\n)',
                      coalesce(quote_literal(q ->> 'from'), 'bounds.lo'), coalesce(quote_literal(q ->> 'to'), 'bounds.hi'), q ->> 'step')]
       END;
COMMENT ON FUNCTION @extschema@.metric_sql_spine(jsonb, text[]) IS
  'Internal to metric_sql: the CTEs of a question''s time spine, every bucket of its range (or, open, of the rows its parts'' bounds find)';

-- The parts stacked: CTE u, each part's keys and values, NULL for the
-- other parts' values (valcols: [{"col", "additive"}], in order).
CREATE FUNCTION @extschema@.metric_sql_stack(parts jsonb, keys text[], valcols jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN format(E'u(%s) AS (\n%s\n)',
         array_to_string(keys || ARRAY(SELECT pg_catalog.quote_ident(c ->> 'col') FROM jsonb_array_elements(valcols) c), ', '),
         array_to_string(ARRAY(
           SELECT format('SELECT %s FROM %s',
                    array_to_string(ARRAY(SELECT format('%s.%s', p ->> 'cte', x) FROM unnest(keys) x)
                                    || ARRAY(SELECT CASE WHEN p -> 'columns' ? (c ->> 'col') THEN format('%s.%I', p ->> 'cte', c ->> 'col')
                                                         ELSE 'NULL::numeric' END
                                               FROM jsonb_array_elements(valcols) WITH ORDINALITY AS v(c, j) ORDER BY v.j), ', '),
                    p ->> 'cte')
             FROM jsonb_array_elements(parts) WITH ORDINALITY AS e(p, i) ORDER BY e.i), E'\nUNION ALL\n'));
COMMENT ON FUNCTION @extschema@.metric_sql_stack(jsonb, text[], jsonb) IS
  'Internal to metric_sql: the CTE stacking a question''s parts, each part''s keys and values and NULL for the other parts'' values';

-- The stacked parts grouped by the keys: one row per bucket and dimension
-- values (NULL ones too); on_spine: also every bucket of the spine for each
-- combination of them; fill: an additive value is 0 where no row counts.
CREATE FUNCTION @extschema@.metric_sql_grouped(keys text[], valcols jsonb, on_spine boolean, fill boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN format(E'SELECT %s\n  FROM (SELECT * FROM u%s) AS c%s',
    array_to_string(ARRAY(SELECT 'c.' || x FROM unnest(keys) x)
                    || ARRAY(SELECT CASE WHEN fill AND (c ->> 'additive')::boolean THEN format('coalesce(max(c.%1$I), 0)::numeric AS %1$I', c ->> 'col')
                                         ELSE format('max(c.%1$I) AS %1$I', c ->> 'col') END
                               FROM jsonb_array_elements(valcols) WITH ORDINALITY AS v(c, j) ORDER BY v.j), E',\n       '),
    CASE WHEN on_spine THEN
      format(E'\n        UNION ALL\n        SELECT spine.metric_time%s%s FROM spine%s',
             (SELECT coalesce(string_agg(', x.' || x, '' ORDER BY i), '') FROM unnest(keys[2:]) WITH ORDINALITY AS k(x, i)),
             repeat(', NULL', jsonb_array_length(valcols)),
             CASE WHEN cardinality(keys) > 1
                  THEN format(' CROSS JOIN (SELECT DISTINCT %s FROM u) AS x', array_to_string(ARRAY(SELECT 'u.' || x FROM unnest(keys[2:]) x), ', '))
                  ELSE '' END)
    ELSE '' END,
    CASE WHEN cardinality(keys) > 0 THEN E'\n GROUP BY ' || array_to_string(ARRAY(SELECT 'c.' || x FROM unnest(keys) x), ', ') ELSE '' END);
COMMENT ON FUNCTION @extschema@.metric_sql_grouped(text[], jsonb, boolean, boolean) IS
  'Internal to metric_sql: the stacked parts of a question grouped by its keys (and, on its spine, every bucket), an additive value 0 where no row counts when filled';

-- The whole SQL of a question (q from metric_sql_question, nodes from
-- metric_sql_nodes, dm from metric_sql_dimensions): its parts as CTEs
-- (p: a model's, or the rollup's when rollup names one; b and s: a
-- period-over-period metric's base asked a period earlier, and it moved
-- on; c: a cumulative metric's), stacked in u, the time spine, grouped by
-- the keys, the layers, what was asked for in order.  fill: the spine and
-- the zeros (false only for a rollup's own rows).  Returns {"sql",
-- "relations"}.
CREATE FUNCTION @extschema@.metric_sql_compose(q jsonb, nodes jsonb, dm jsonb, rollup text DEFAULT NULL, fill boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  grain text := q ->> 'grain';
  asked text[] := ARRAY(SELECT jsonb_array_elements_text(q -> 'dimensions'));
  keys text[] := '{}';
  ctes text[] := '{}';
  parts jsonb := '[]';        -- [{"cte", "columns": [...]}]
  bounds text[] := '{}';
  valcols jsonb := '[]';      -- [{"col", "additive"}], in order
  rels jsonb := '[]';
  mdl text;
  n record;
  p jsonb;
  r jsonb;
  cols text[];
  k integer := 0;
  shifted_from date;
  shifted_to date;
  body text;
  ord text[] := '{}';
  o text;
  ds text;
  out_cols text[];
  leaves text[];
BEGIN
  IF grain IS NOT NULL THEN
    keys := keys || 'metric_time'::text;
  END IF;
  keys := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM unnest(asked) x);

  -- a rollup stands in for the models' simple metrics
  IF rollup IS NOT NULL THEN
    leaves := ARRAY(SELECT kk FROM jsonb_each(nodes) e(kk, v) WHERE v ->> 'type' = 'simple' ORDER BY kk);
    k := k + 1;
    ctes := ctes || format(E'p%s AS (\n%s\n)', k,
      @extschema@.metric_rollup_sql(rollup, leaves, asked, grain, dm ->> 'filter', (q ->> 'lo')::date, (q ->> 'hi')::date - 1));
    parts := parts || jsonb_build_object('cte', 'p' || k, 'columns', to_jsonb(leaves));
    valcols := valcols || (SELECT jsonb_agg(jsonb_build_object('col', x, 'additive', (nodes -> x ->> 'additive')::boolean) ORDER BY x)
                             FROM unnest(leaves) x);
    bounds := bounds || format('SELECT min(p%s.metric_time), max(p%s.metric_time) FROM p%s', k, k, k);
    rels := rels || jsonb_build_array((SELECT r2.table_name::oid FROM @extschema@.metric_rollup r2 WHERE r2.name = rollup));
  END IF;
  -- one part per model: its simple and conversion metrics
  FOR mdl IN SELECT DISTINCT v -> 'compiled' ->> 'model' FROM jsonb_each(nodes) e(kk, v)
              WHERE v ->> 'type' = 'conversion' OR v ->> 'type' = 'simple' AND rollup IS NULL ORDER BY 1 LOOP
    p := jsonb_build_object('kind', 'bucket', 'model', mdl, 'metrics',
           (SELECT jsonb_agg(jsonb_build_object('name', kk, 'compiled', v -> 'compiled') ORDER BY kk) FROM jsonb_each(nodes) e(kk, v)
             WHERE v -> 'compiled' ->> 'model' = mdl AND (v ->> 'type' = 'conversion' OR v ->> 'type' = 'simple' AND rollup IS NULL)));
    r := @extschema@.metric_sql_part(q, p, dm);
    k := k + 1;
    ctes := ctes || format(E'p%s AS (\n%s\n)', k, r ->> 'sql');
    cols := ARRAY(SELECT c FROM jsonb_array_elements(p -> 'metrics') WITH ORDINALITY AS x(m, i),
                                unnest(CASE WHEN x.m -> 'compiled' ? 'conv_entity'
                                            THEN ARRAY['opps__' || (x.m ->> 'name'), 'conv__' || (x.m ->> 'name')]
                                            ELSE ARRAY[x.m ->> 'name'] END) WITH ORDINALITY AS u(c, j)
                   ORDER BY x.i, u.j);
    parts := parts || jsonb_build_object('cte', 'p' || k, 'columns', to_jsonb(cols));
    valcols := valcols || (SELECT jsonb_agg(jsonb_build_object('col', c,
                                   'additive', c LIKE 'opps\_\_%' OR c LIKE 'conv\_\_%' OR coalesce((nodes -> c ->> 'additive')::boolean, false)))
                             FROM unnest(cols) c);
    bounds := bounds || format('SELECT min(p%s.metric_time), max(p%s.metric_time) FROM p%s', k, k, k);
    rels := rels || (r -> 'relations');
  END LOOP;
  -- the parts on the time spine, period over period (its base asked the
  -- same question a period earlier, shifted on below) and cumulative (its
  -- base's rows over a window, per bucket), in that order
  FOR n IN SELECT kk, v FROM jsonb_each(nodes) e(kk, v) WHERE v ->> 'type' IN ('period_over_period', 'cumulative')
            ORDER BY v ->> 'type' = 'cumulative', kk LOOP
    IF grain IS NULL THEN
      RAISE EXCEPTION '% metric "%" needs a time grain', replace(n.v ->> 'type', '_', '-'), n.kk
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give grain => day, week, month, quarter or year.';
    END IF;
    k := k + 1;
    IF n.v ->> 'type' = 'period_over_period' THEN
      shifted_from := date_trunc(grain, (q ->> 'from')::date - (n.v -> 'compiled' ->> 'offset')::interval)::date;
      shifted_to := date_trunc(grain, (q ->> 'to')::date - (n.v -> 'compiled' ->> 'offset')::interval)::date;
      r := @extschema@.metric_sql_compose(
             q || jsonb_build_object('metrics', jsonb_build_array(n.v -> 'compiled' ->> 'base'), 'order_by', '[]'::jsonb, 'row_limit', NULL,
                                     'from', shifted_from, 'to', shifted_to,
                                     'lo', shifted_from, 'hi', (shifted_to + (q ->> 'step')::interval)::date),
             @extschema@.metric_sql_nodes(ARRAY[n.v -> 'compiled' ->> 'base'], (q ->> 'latest')::boolean), dm);
      ctes := ctes || format(E'b%s AS (\n%s\n)', k, r ->> 'sql');
      bounds := bounds || format('SELECT min(b%s.metric_time), max(b%s.metric_time) FROM b%s', k, k, k);
      parts := parts || jsonb_build_object('cte', 's' || k, 'columns', jsonb_build_array('prev__' || n.kk), 'shifted', k,
                                           'base', n.v -> 'compiled' ->> 'base', 'offset', n.v -> 'compiled' ->> 'offset');
    ELSE
      r := @extschema@.metric_sql_part(q, jsonb_build_object('kind', 'cumulative', 'model', n.v -> 'base_compiled' ->> 'model',
             'trailing', n.v -> 'compiled' ->> 'trailing',
             'metrics', jsonb_build_array(jsonb_build_object('name', n.kk, 'compiled', n.v -> 'base_compiled'))), dm);
      bounds := bounds || (r ->> 'bounds');
      parts := parts || jsonb_build_object('cte', 'c' || k, 'columns', jsonb_build_array(n.kk), 'sql', r ->> 'sql');
    END IF;
    valcols := valcols || jsonb_build_object('col', parts -> -1 -> 'columns' ->> 0, 'additive', (n.v ->> 'additive')::boolean);
    rels := rels || (r -> 'relations');
  END LOOP;

  -- the time spine: every bucket from the first to the last of the range
  IF grain IS NOT NULL AND (fill OR parts @? '$[*] ? (@.cte starts with "c" || @.cte starts with "s")') THEN
    ctes := ctes || @extschema@.metric_sql_spine(q, bounds);
  END IF;
  -- the parts on the spine: a cumulative metric per bucket, a shifted base
  -- moved on to the bucket a period later
  FOR p IN SELECT e FROM jsonb_array_elements(parts) e WHERE e ->> 'cte' ~ '^[cs]' LOOP
    IF p ? 'sql' THEN
      ctes := ctes || format(E'%s AS (\n%s\n)', p ->> 'cte', p ->> 'sql');
    ELSE
      ctes := ctes || format(E'%s AS (\nSELECT spine.metric_time%s, b%s.%I AS %I\n  FROM spine\n  JOIN b%s ON b%s.metric_time = date_trunc(%L, spine.metric_time - %L::interval)::date\n)',
        p ->> 'cte', (SELECT coalesce(string_agg(format(', b%s.%s', p ->> 'shifted', x), ''), '') FROM unnest(keys[2:]) x WHERE grain IS NOT NULL),
        p ->> 'shifted', p ->> 'base', p -> 'columns' ->> 0, p ->> 'shifted', p ->> 'shifted', grain, p ->> 'offset');
    END IF;
  END LOOP;
  -- stacked, then grouped by the keys
  ctes := ctes || @extschema@.metric_sql_stack(parts, keys, valcols);
  body := @extschema@.metric_sql_grouped(keys, valcols, grain IS NOT NULL AND fill, fill);
  body := @extschema@.metric_sql_layers(nodes, body);

  -- what was asked for, in order
  out_cols := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM jsonb_array_elements_text(q -> 'metrics') x);
  FOREACH o IN ARRAY CASE WHEN jsonb_typeof(q -> 'order_by') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(q -> 'order_by'))
                          ELSE CASE WHEN grain IS NOT NULL THEN ARRAY['metric_time'] ELSE '{}' END || asked END LOOP
    ds := CASE WHEN left(o, 1) = '-' THEN substr(o, 2) ELSE o END;
    IF ds IS NULL OR NOT pg_catalog.quote_ident(ds) = ANY (out_cols) THEN
      RAISE EXCEPTION 'cannot order by "%": it is not a dimension or metric of the question', ds
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Order by metric_time, an asked dimension or metric; -name for descending.';
    END IF;
    ord := ord || ('r.' || pg_catalog.quote_ident(ds) || CASE WHEN left(o, 1) = '-' THEN ' DESC' ELSE '' END);
  END LOOP;
  RETURN jsonb_build_object('relations', (SELECT coalesce(jsonb_agg(DISTINCT x), '[]') FROM jsonb_array_elements(rels) x),
    'sql', format(E'WITH %s\nSELECT %s\n  FROM (%s) AS r%s%s',
                  array_to_string(ctes, E',\n'),
                  array_to_string(ARRAY(SELECT 'r.' || c FROM unnest(out_cols) c), ', '), body,
                  CASE WHEN cardinality(ord) > 0 THEN E'\n ORDER BY ' || array_to_string(ord, ', ') ELSE '' END,
                  CASE WHEN q ->> 'row_limit' IS NOT NULL THEN E'\n LIMIT ' || (q ->> 'row_limit') ELSE '' END));
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_compose(jsonb, jsonb, jsonb, text, boolean) IS
  'Internal to metric_sql: the whole SQL of a question from its parts (or a rollup''s), the time spine, the layers and the order';

-- Everything metric_sql and metric_query keep for a question: the SQL from
-- the models, the SQL from each rollup that fits it (used only while the
-- rollup is usable for the caller: concord.metric_rollup_usable), the
-- notices an answer gives, the relations it reads, and the generation of
-- the definitions it was written from (read in the same snapshot).
CREATE FUNCTION @extschema@.metric_sql_build(metrics text[], dimensions text[], grain text, filters text,
                                             from_date date, to_date date, order_by text[], row_limit integer,
                                             time_zone text, use_rollups boolean, latest boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
AS $fn$
#variable_conflict use_variable
DECLARE
  q jsonb := @extschema@.metric_sql_question(metrics, dimensions, grain, filters, from_date, to_date, order_by, row_limit,
                                             time_zone, use_rollups, latest);
  nodes jsonb;
  dm jsonb;
  main jsonb;
  rollups jsonb := '[]';
  notices jsonb := '[]';
  versions jsonb;
  r text;
  v record;
  st text;
BEGIN
  nodes := @extschema@.metric_sql_nodes(metrics, (q ->> 'latest')::boolean);
  dm := @extschema@.metric_sql_dimensions(metrics, dimensions, filters);
  main := @extschema@.metric_sql_compose(q, nodes, dm);
  -- rollups that give the same answer, for whom they are usable
  IF (q ->> 'use_rollups')::boolean AND NOT nodes @? '$.* ? (@.type == "conversion")'
     AND nodes @? '$.* ? (@.type == "simple")' THEN
    FOR r IN SELECT x FROM unnest(@extschema@.metric_rollup_candidates(
               ARRAY(SELECT kk FROM jsonb_each(nodes) e(kk, vv) WHERE vv ->> 'type' = 'simple'),
               ARRAY(SELECT e ->> 'out' FROM jsonb_array_elements(dm -> 'dims') e WHERE (e ->> 'asked')::boolean),
               ARRAY(SELECT e ->> 'out' FROM jsonb_array_elements(dm -> 'dims') e WHERE NOT (e ->> 'asked')::boolean),
               grain, q ->> 'tz', (q ->> 'lo')::date, (q ->> 'hi')::date,
               (SELECT jsonb_object_agg(kk, vv -> 'version') FROM jsonb_each(nodes) e(kk, vv)))) x LOOP
      rollups := rollups || jsonb_build_object('name', r, 'sql', @extschema@.metric_sql_compose(q, nodes, dm, r) ->> 'sql');
    END LOOP;
  END IF;
  -- an answer from a version that is not certified says so
  versions := (SELECT jsonb_object_agg(kk, vv -> 'version') FROM jsonb_each(nodes) e(kk, vv));
  FOR v IN SELECT x AS name, (nodes -> x ->> 'version')::integer AS version FROM unnest(metrics) x ORDER BY x LOOP
    st := @extschema@.metric_certification_state(v.name, v.version, versions);
    IF st <> 'certified' THEN
      notices := notices || to_jsonb(CASE WHEN st LIKE 'not certified%'
                                          THEN format('metric "%s" version %s is not certified%s', v.name, v.version, substr(st, 14))
                                          ELSE format('metric "%s" version %s: %s', v.name, v.version, st) END);
    END IF;
  END LOOP;
  RETURN jsonb_build_object('generation', (SELECT s.generation FROM @extschema@.metric_state s),
                            'sql', main ->> 'sql', 'relations', main -> 'relations', 'rollups', rollups, 'notices', notices);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql_build(text[], text[], text, text, date, date, text[], integer, text, boolean, boolean) IS
  'Internal to metric_sql and metric_query: the SQL of a question from the models and from each rollup that fits it, the notices its answer gives, the relations it reads and the generation of the definitions, as jsonb';

CREATE FUNCTION @extschema@.metric_sql(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                       filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                       order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                       time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true,
                                       latest boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_metric_sql'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.metric_sql(text[], text[], text, text, date, date, text[], integer, text, boolean, boolean) IS
  'The SQL that answers metrics by dimensions and time grain (day, week, month, quarter, year in time_zone; the dates widened to whole buckets, every bucket a row), filtered by a condition over dimensions, between two dates (both included), ordered (-name: descending) and limited; each metric at the version that answers (latest: at its latest); from a rollup when one gives provably the same answer to the caller (unless use_rollups is false)';

CREATE FUNCTION @extschema@.metric_query(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                         filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                         order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                         time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true,
                                         latest boolean DEFAULT false)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'concord_metric_query'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.metric_query(text[], text[], text, text, date, date, text[], integer, text, boolean, boolean) IS
  'Answers metrics (as metric_sql writes the question) with a row of jsonb per answer row, run as the caller under the caller''s row policies; a NOTICE names each metric asked for whose answering version is not certified, or whose certification lapsed';

CREATE FUNCTION @extschema@.metric_sql_cache_stats()
RETURNS TABLE (entries bigint, hits bigint, misses bigint, generation bigint)
AS 'MODULE_PATHNAME', 'concord_metric_sql_cache_stats'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.metric_sql_cache_stats() IS
  'The SQL metric_sql and metric_query keep in this session: questions kept, answers from what was kept and questions written anew, and the generation of the definitions last seen';

-- Grants: the catalog is readable by everyone (one definition of revenue
-- for all); defining is concord_metric's; answering is everyone's, as
-- themselves.
GRANT SELECT ON @extschema@.metric_model, @extschema@.metric_dimension, @extschema@.metric_join,
                @extschema@.metric, @extschema@.metric_certification, @extschema@.metric_latest,
                @extschema@.metric_current, @extschema@.metric_catalog, @extschema@.metric_state TO PUBLIC;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'model_create(text, regclass, text, jsonb, text)', 'model_define(text, regclass, text, jsonb, text)', 'model_join(text, text, text, text, boolean)',
    'model_drop(text)',
    'metric_create(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text)', 'metric_define(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text)',
    'metric_certify(text, integer)', 'metric_drop(text)']);
REVOKE EXECUTE ON FUNCTION @extschema@.model_relation_check(text, regclass, regrole),
                           @extschema@.metric_state_touch(),
                           @extschema@.metric_state_triggers(regclass) FROM PUBLIC;
