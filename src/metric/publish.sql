/* concord — metric: views for BI and report tools.  Joined into
 * concord--<version>.sql by the Makefile after query.sql.
 *
 * metric_publish() makes an ordinary view (by default in schema metrics)
 * answering a set of metrics by dimensions and grain, with comments from
 * the definitions on the view and every column, so a JDBC client sees
 * them in its schema browser.  The views are security_invoker: a report
 * tool connected as a person reads the rows that person's row policies
 * show.  A metric redefined or certified rebuilds the views that use it,
 * in the same transaction.
 *
 * A report tool adds up a view's rows (totals, a coarser grain).  Each
 * metric column's comment says whether that gives the right number; a
 * ratio whose numerator and denominator add up gets them as columns too
 * (its components), so sum(numerator) / sum(denominator) over any rows is
 * the ratio of those rows; what does not add up (distinct counts,
 * averages, running totals) is read from a view published at the grain
 * and dimensions wanted. */

CREATE TABLE @extschema@.metric_publication (
  view_name   regclass PRIMARY KEY,
  metrics     text[] NOT NULL,
  dimensions  text[] NOT NULL DEFAULT '{}',
  grain       text,
  filters     text,
  time_zone   text NOT NULL,
  published_by regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  published_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_publication IS
  'Views made by metric_publish: the question each answers, rebuilt when a metric in it is redefined';
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
  'The publication''s owner: the role that first published it, and its view''s owner';
COMMENT ON COLUMN @extschema@.metric_publication.published_at IS
  'When it was last published';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_publication', '');

-- Forgets publications whose view was dropped (DROP VIEW is how one ends).
CREATE FUNCTION @extschema@.metric_publication_tidy()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  DELETE FROM @extschema@.metric_publication p WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name);
END;
COMMENT ON FUNCTION @extschema@.metric_publication_tidy() IS
  'Internal: forgets the publications whose view was dropped';

-- Does a metric add up over a view's rows (sum it for a total): a simple
-- sum or count, at the version that answers.
CREATE FUNCTION @extschema@.metric_adds_up(metric text)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT c.type = 'simple' AND c.compiled ->> 'agg' IN ('sum', 'count')
                   FROM @extschema@.metric_current c WHERE c.name = metric), false);
COMMENT ON FUNCTION @extschema@.metric_adds_up(text) IS
  'Whether a metric adds up over rows (a simple sum or count, at the version that answers): its total over rows is their sum';

-- The components a published view adds for a metric that does not add up
-- but is a ratio of two that do: its numerator and denominator metrics.
CREATE FUNCTION @extschema@.metric_components(metric text)
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT ARRAY[c.spec ->> 'numerator', c.spec ->> 'denominator'] FROM @extschema@.metric_current c
                  WHERE c.name = metric AND c.type = 'ratio'
                    AND @extschema@.metric_adds_up(c.spec ->> 'numerator') AND @extschema@.metric_adds_up(c.spec ->> 'denominator')),
                '{}');
COMMENT ON FUNCTION @extschema@.metric_components(text) IS
  'The numerator and denominator of a ratio metric when both add up over rows (a published view shows them, so sum(numerator) / sum(denominator) is the ratio over any rows); empty otherwise';

-- What a report tool may do with a metric's column over a view's rows, in words.
CREATE FUNCTION @extschema@.metric_additivity(metric text)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE
         WHEN @extschema@.metric_adds_up(c.name) THEN 'Adds up: its sum over rows is their total.'
         WHEN cardinality(@extschema@.metric_components(c.name)) = 2 THEN
           format('Does not add up (a ratio): over any rows it is sum(%s) / sum(%s), columns of this view.',
                  c.spec ->> 'numerator', c.spec ->> 'denominator')
         WHEN c.type = 'simple' AND c.compiled ->> 'agg' = 'count_distinct' THEN
           'Does not add up: what is counted in several rows would be counted again; read a view published at the grain and dimensions wanted.'
         WHEN c.type = 'simple' AND c.compiled ->> 'agg' IN ('min', 'max') THEN
           format('Does not add up: over rows, take the %s.', c.compiled ->> 'agg')
         WHEN c.type = 'simple' THEN
           'Does not add up: an average of averages is not the average; read a view published at the grain and dimensions wanted.'
         WHEN c.type = 'cumulative' THEN
           'Does not add up over time: each bucket''s value already covers the window before its end.'
         WHEN c.type = 'period_over_period' THEN
           'Does not add up: a value of the period before, or a change; read a view published at the grain wanted.'
         WHEN c.type = 'conversion' THEN
           'Does not add up: each row counts distinct entities; read a view published at the grain and dimensions wanted.'
         ELSE 'Does not add up in general (computed from other metrics); read a view published at the grain and dimensions wanted.' END
          FROM @extschema@.metric_current c WHERE c.name = metric);
COMMENT ON FUNCTION @extschema@.metric_additivity(text) IS
  'Whether a metric''s values add up over rows, and what to do instead when they do not, in words (the comments of published views)';

-- (Re)creates a publication's view from its question; returns it.
CREATE FUNCTION @extschema@.metric_publish_build(nsp text, rel text, metrics text[], dimensions text[], grain text,
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
  cols text[];
BEGIN
  -- the metrics, then the components of those that do not add up
  cols := metrics || ARRAY(SELECT DISTINCT x FROM unnest(metrics) m, unnest(@extschema@.metric_components(m)) x
                            WHERE NOT x = ANY (metrics) ORDER BY x);
  -- a question of another shape (other columns): the view is made anew, its readers kept
  v := pg_catalog.to_regclass(format('%I.%I', nsp, rel));
  IF v IS NOT NULL AND (reshape OR ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                                         WHERE a.attrelid OPERATOR(pg_catalog.=) v AND a.attnum > 0 AND NOT a.attisdropped
                                         ORDER BY a.attnum)
                                   IS DISTINCT FROM CASE WHEN grain IS NOT NULL THEN ARRAY['metric_time'] ELSE '{}' END
                                                    || dimensions || cols) THEN
    SELECT coalesce(jsonb_agg(g.who), '[]') INTO readers
      FROM @extschema@.relation_grants(v) g WHERE g.priv = 'SELECT';
    EXECUTE format('DROP VIEW %I.%I', nsp, rel);
  END IF;
  EXECUTE format('CREATE OR REPLACE VIEW %I.%I WITH (security_invoker = true) AS %s', nsp, rel,
                 -- (from the models, not a rollup: a view's SQL is fixed, a rollup's freshness is not)
                 @extschema@.metric_sql(cols, dimensions, grain, filters, NULL, NULL, NULL, NULL, time_zone, false));
  v := format('%I.%I', nsp, rel)::regclass;
  -- the publication's owner owns its view (a view made anew is hers again)
  EXECUTE format('ALTER VIEW %s OWNER TO %s', v,
                 coalesce((SELECT p.published_by FROM @extschema@.metric_publication p WHERE p.view_name OPERATOR(pg_catalog.=) v),
                          @extschema@.caller()));
  FOR c IN SELECT e #>> '{}' AS who FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT SELECT ON %s TO %s', v, c.who);
  END LOOP;
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
    format('concord metrics %s%s%s%s, answered as the reader (row policies apply). One row per %s.%s Made by concord.metric_publish.',
           array_to_string(metrics, ', '),
           CASE WHEN cardinality(dimensions) > 0 THEN ' by ' || array_to_string(dimensions, ', ') ELSE '' END,
           CASE WHEN grain IS NOT NULL THEN format(' per %s (%s)', grain, time_zone) ELSE '' END,
           CASE WHEN filters IS NOT NULL THEN ' where ' || filters ELSE '' END,
           coalesce(nullif(array_to_string(CASE WHEN grain IS NOT NULL THEN ARRAY[grain] ELSE '{}' END || dimensions, ' and '), ''),
                    'question: the totals'),
           CASE WHEN EXISTS (SELECT 1 FROM unnest(metrics) m WHERE NOT @extschema@.metric_adds_up(m))
                THEN format(' Adding up rows gives the right total for %s only; each column''s comment says what to do with the others.',
                            coalesce(nullif(array_to_string(ARRAY(SELECT m FROM unnest(cols) m WHERE @extschema@.metric_adds_up(m)), ', '), ''),
                                     'none of its columns'))
                ELSE ' Its metrics add up over rows.' END));
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
  FOR c IN SELECT k.name, (SELECT a.description FROM @extschema@.metric_current a WHERE a.name = k.name) AS description,
                  k.answering_version, k.latest_version, k.certification, k.certified_with, k.owner,
                  NOT k.name = ANY (metrics) AS component
             FROM @extschema@.metric_catalog k WHERE k.name = ANY (cols) LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c.name,
                   coalesce(c.description || ' ', '')
                   || format('(metric %s version %s answers, %s%s%s; owner %s) ', c.name, c.answering_version,
                             c.certification,
                             CASE WHEN c.certification = 'certified' AND c.certified_with <> '{}'
                                  THEN ' with ' || (SELECT string_agg(format('%s version %s', p.key, p.value), ', ' ORDER BY p.key)
                                                      FROM jsonb_each_text(c.certified_with) p) ELSE '' END,
                             CASE WHEN c.latest_version <> c.answering_version
                                  THEN format('; version %s is a draft', c.latest_version) ELSE '' END, c.owner)
                   || CASE WHEN c.component
                           THEN format('Component of %s: ', (SELECT string_agg(m, ', ') FROM unnest(metrics) m
                                                              WHERE c.name = ANY (@extschema@.metric_components(m))))
                           ELSE '' END
                   || @extschema@.metric_additivity(c.name));
  END LOOP;
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish_build(text, text, text[], text[], text, text, text, boolean) IS
  'Internal to metric_publish: (re)creates a publication''s security_invoker view (its metrics, and the components of ratios that do not add up) and its comments (which version answers, certified or not, and what adds up over rows)';

CREATE FUNCTION @extschema@.metric_publish(view_name text, metrics text[], dimensions text[] DEFAULT '{}',
                                           grain text DEFAULT NULL, filters text DEFAULT NULL, time_zone text DEFAULT NULL,
                                           schema_name text DEFAULT 'metrics', readers text[] DEFAULT '{}')
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  prev regrole;
  v regclass;
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  r text;
BEGIN
  IF view_name IS NULL OR view_name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid view name "%"', view_name
      USING ERRCODE = 'invalid_name', HINT = 'A view name is a lower-case identifier, e.g. revenue_by_region_month.';
  END IF;
  IF schema_name IS NULL OR schema_name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid schema name "%"', schema_name USING ERRCODE = 'invalid_name';
  END IF;
  IF pg_catalog.to_regclass(format('%I.%I', schema_name, view_name)) IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_publication p
                      WHERE p.view_name OPERATOR(pg_catalog.=) pg_catalog.to_regclass(format('%I.%I', metric_publish.schema_name, metric_publish.view_name))) THEN
    RAISE EXCEPTION 'relation %.% exists and is not a metric publication', schema_name, view_name
      USING ERRCODE = 'duplicate_table', HINT = 'Choose another name.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  SELECT p.published_by INTO prev FROM @extschema@.metric_publication p
   WHERE p.view_name OPERATOR(pg_catalog.=) pg_catalog.to_regclass(format('%I.%I', metric_publish.schema_name, metric_publish.view_name));
  PERFORM @extschema@.require_manages('publication', format('%s.%s', schema_name, view_name), prev, 'publish');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) metric_publish.schema_name) THEN
    EXECUTE format('CREATE SCHEMA %I', schema_name);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', schema_name,
                   'concord: views of metrics for BI and report tools, answered as the reader (concord.metric_publish)');
  ELSIF NOT pg_catalog.has_schema_privilege(me, schema_name, 'CREATE')
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                         WHERE n.nspname OPERATOR(pg_catalog.=) metric_publish.schema_name
                           AND n.nspowner OPERATOR(pg_catalog.=) (SELECT c.relowner FROM pg_catalog.pg_class c
                                                                    WHERE c.oid OPERATOR(pg_catalog.=) '@extschema@.metric_publication'::pg_catalog.regclass)
                           AND pg_catalog.obj_description(n.oid, 'pg_namespace') OPERATOR(pg_catalog.~~) 'concord: views of metrics%') THEN
    RAISE EXCEPTION 'permission denied to publish into schema %', schema_name
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Publish into a schema you may create in, or into one concord made for publications (the default, metrics).';
  END IF;
  -- (its publishers reach their views there)
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, me);
  v := @extschema@.metric_publish_build(schema_name, view_name, metrics, coalesce(dimensions, '{}'), grain, filters, tz, true);
  INSERT INTO @extschema@.metric_publication AS p (view_name, metrics, dimensions, grain, filters, time_zone, published_by)
  VALUES (v, metrics, coalesce(dimensions, '{}'), grain, filters, tz, coalesce(prev, me))
  ON CONFLICT ON CONSTRAINT metric_publication_pkey DO UPDATE
    SET metrics = excluded.metrics, dimensions = excluded.dimensions, grain = excluded.grain, filters = excluded.filters,
        time_zone = excluded.time_zone, published_at = pg_catalog.now();
  FOREACH r IN ARRAY coalesce(readers, '{}') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, CASE WHEN r OPERATOR(pg_catalog.=) 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
    EXECUTE format('GRANT SELECT ON %s TO %s', v, CASE WHEN r OPERATOR(pg_catalog.=) 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
  END LOOP;
  PERFORM @extschema@.audit_record('metric_publish', v::text, NULL,
                                   jsonb_build_object('metrics', metrics, 'dimensions', dimensions, 'grain', grain,
                                                      'filters', filters, 'time_zone', tz, 'readers', readers));
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish(text, text[], text[], text, text, text, text, text[]) IS
  'Makes (or remakes) a security_invoker view answering metrics by dimensions and grain, commented from the definitions, for BI tools; readers get SELECT on it';

-- Rebuilds the publications that use a metric (directly or through
-- others); called by metric_create when a metric changes.
CREATE FUNCTION @extschema@.metric_publish_refresh(metric text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  p record;
  n integer := 0;
BEGIN
  PERFORM @extschema@.metric_publication_tidy();
  FOR p IN SELECT x.*, c.relname, s.nspname FROM @extschema@.metric_publication x
             JOIN pg_catalog.pg_class c ON c.oid = x.view_name JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
            WHERE metric_publish_refresh.metric IS NULL OR metric_publish_refresh.metric = ANY (@extschema@.metric_closure(x.metrics))
            ORDER BY x.view_name::text LOOP
    PERFORM @extschema@.metric_publish_build(p.nspname, p.relname, p.metrics, p.dimensions, p.grain, p.filters, p.time_zone);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish_refresh(text) IS
  'Rebuilds the views of the publications using a metric (all, without one); returns how many';

-- The comments of published views as rows, for clients that do not show
-- comments: psqlODBC (13, Debian's odbc-postgresql) returns empty REMARKS
-- from SQLTables and SQLColumns (test/bi/odbc.sh), so Excel or WPS over
-- ODBC read what a column means here.  Runs as its reader: the views she
-- may read.
CREATE VIEW @extschema@.metric_publication_columns WITH (security_invoker = true) AS
  SELECT p.view_name::pg_catalog.text AS view_name, a.attnum::integer AS position, a.attname::pg_catalog.text AS column_name,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
         pg_catalog.col_description(p.view_name, a.attnum) AS remarks,
         pg_catalog.obj_description(p.view_name, 'pg_class') AS view_remarks
    FROM @extschema@.metric_publication p
    JOIN pg_catalog.pg_attribute a ON a.attrelid = p.view_name AND a.attnum > 0 AND NOT a.attisdropped
   WHERE pg_catalog.has_table_privilege(p.view_name, 'SELECT');
COMMENT ON VIEW @extschema@.metric_publication_columns IS
  'The columns of the published metric views the reader may read, with their comments as rows (ODBC clients show no comments: query this instead)';
COMMENT ON COLUMN @extschema@.metric_publication_columns.view_name IS
  'The published view (schema-qualified)';
COMMENT ON COLUMN @extschema@.metric_publication_columns.position IS
  'The column''s position in the view, from 1';
COMMENT ON COLUMN @extschema@.metric_publication_columns.column_name IS
  'The column''s name';
COMMENT ON COLUMN @extschema@.metric_publication_columns.data_type IS
  'The column''s type';
COMMENT ON COLUMN @extschema@.metric_publication_columns.remarks IS
  'The column''s comment: for a metric, its description, the version that answers and its certification, and whether it adds up over rows';
COMMENT ON COLUMN @extschema@.metric_publication_columns.view_remarks IS
  'The view''s comment: what it answers, one row per what, and which of its columns add up';

GRANT SELECT ON @extschema@.metric_publication TO PUBLIC;
GRANT SELECT ON @extschema@.metric_publication_columns TO PUBLIC;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'metric_publish(text, text[], text[], text, text, text, text, text[])']);
-- (internal: run by the API above and metric_create, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.metric_publish_build(text, text, text[], text[], text, text, text, boolean),
                           @extschema@.metric_publication_tidy(), @extschema@.metric_publish_refresh(text) FROM PUBLIC;
