/* concord — metric: views for BI and report tools.  Joined into
 * concord--<version>.sql by the Makefile after query.sql.
 *
 * metric_publish() makes an ordinary view (by default in schema metrics)
 * answering a set of metrics by dimensions and grain, with comments from
 * the definitions on the view and every column, so a JDBC/ODBC client sees
 * them in its schema browser.  The views are security_invoker: a report
 * tool connected as a person reads the rows that person's row policies
 * show.  A metric redefined rebuilds the views that use it, in the same
 * transaction. */

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
  -- the publication's owner owns its view (a view made anew is hers again)
  EXECUTE format('ALTER VIEW %s OWNER TO %s', v,
                 coalesce((SELECT p.published_by FROM @extschema@.metric_publication p WHERE p.view_name OPERATOR(pg_catalog.=) v),
                          @extschema@.caller()));
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
COMMENT ON FUNCTION @extschema@.metric_publish_build(text, text, text[], text[], text, text, text, boolean) IS
  'Internal to metric_publish: (re)creates a publication''s security_invoker view and its comments';

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
  SELECT p.published_by INTO prev FROM @extschema@.metric_publication p
   WHERE p.view_name OPERATOR(pg_catalog.=) pg_catalog.to_regclass(format('%I.%I', metric_publish.schema_name, metric_publish.view_name));
  PERFORM @extschema@.require_manages('publication', format('%s.%s', schema_name, view_name), prev, 'publish');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = metric_publish.schema_name) THEN
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
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
    EXECUTE format('GRANT SELECT ON %s TO %s', v, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
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
-- others); called by metric_define when a metric changes.
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

GRANT SELECT ON @extschema@.metric_publication TO PUBLIC;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'metric_publish(text, text[], text[], text, text, text, text, text[])']);
-- (internal: run by the API above and metric_define, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.metric_publish_build(text, text, text[], text[], text, text, text, boolean),
                           @extschema@.metric_publication_tidy(), @extschema@.metric_publish_refresh(text) FROM PUBLIC;
