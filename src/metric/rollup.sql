/* concord — metric: rollups.  Joined into concord--<version>.sql by the
 * Makefile after publish.sql.
 *
 * metric_rollup_create() materializes simple metrics at a time grain and a set of
 * dimensions into a table of schema concord_rollup.  metric_sql() answers
 * from it when that is provably the same answer for the caller:
 *   - the question needs only metrics, dimensions and filter dimensions
 *     the rollup has, at its grain or a coarser one, over whole buckets,
 *     in its time zone; count_distinct and avg, which do not add up, only
 *     at exactly its grain and dimensions;
 *   - the metrics are at the versions it was built from (those that answer);
 *   - nothing changed in the tables it reads since it was refreshed: a
 *     statement trigger on each of them notes every change (and the
 *     earliest time it touched) in concord.metric_rollup_change, and a
 *     note the caller's snapshot sees makes the rollup stale for her;
 *   - the caller may read every table it reads, and row security hides
 *     none of their rows from her (a rollup holds every row's numbers).
 * Otherwise the question goes to the models, as if there were no rollup.
 * metric_rollup_refresh() recomputes the buckets from the earliest change
 * on (all of them when a dimension's table changed, on a truncate, or when
 * asked). */

CREATE SCHEMA concord_rollup;
COMMENT ON SCHEMA concord_rollup IS 'concord: tables of metric rollups (concord.metric_rollup)';
GRANT USAGE ON SCHEMA concord_rollup TO PUBLIC;
-- (its tables belong to concord's owner: nobody can change the numbers a
-- rollup answers with)

CREATE TABLE @extschema@.metric_rollup (
  name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  table_name   regclass NOT NULL,
  metrics      text[] NOT NULL,
  aggs         jsonb NOT NULL,
  versions     jsonb NOT NULL,
  dimensions   text[] NOT NULL DEFAULT '{}',
  grain        text NOT NULL CHECK (grain IN ('day', 'week', 'month', 'quarter', 'year')),
  time_zone    text NOT NULL,
  relations    regclass[] NOT NULL,
  refreshed_at timestamptz,
  row_count    bigint,
  created_by   regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_rollup IS
  'Rollups: simple metrics (at the versions in versions) materialized by dimensions and grain in a table of concord_rollup, over the tables in relations';
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
  'The rollup''s owner: the role that made it (metric_rollup_create); its table is concord''s';
COMMENT ON COLUMN @extschema@.metric_rollup.created_at IS
  'When it was made';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_rollup', '');
-- (a rollup made, refreshed or dropped changes what metric_sql may answer from)
SELECT @extschema@.metric_state_triggers('@extschema@.metric_rollup');

CREATE TABLE @extschema@.metric_rollup_change (
  id     bigserial PRIMARY KEY,
  rollup text NOT NULL REFERENCES @extschema@.metric_rollup ON DELETE CASCADE,
  since  timestamp NOT NULL,
  at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX ON @extschema@.metric_rollup_change (rollup);
-- (a restored rollup is only as fresh as these notes say)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_rollup_change', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_rollup_change_id_seq', '');
COMMENT ON TABLE @extschema@.metric_rollup_change IS
  'Changes to the tables of rollups since their last refresh: the earliest local time a change touched (-infinity: any)';
COMMENT ON COLUMN @extschema@.metric_rollup_change.id IS
  'Numbers the changes in the order they were noted';
COMMENT ON COLUMN @extschema@.metric_rollup_change.rollup IS
  'The rollup whose tables changed (metric_rollup.name)';
COMMENT ON COLUMN @extschema@.metric_rollup_change.since IS
  'The earliest time the change touched, as local time (a timestamptz in the rollup''s time zone); -infinity when it may touch any bucket';
COMMENT ON COLUMN @extschema@.metric_rollup_change.at IS
  'When the change was noted';

-- May the current user read a rollup's rows?  Only when she may read all
-- of the tables it sums, and row security hides none of their rows.
CREATE FUNCTION @extschema@.metric_rollup_readable(rollup text)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT bool_and(pg_catalog.has_table_privilege(t, 'SELECT') AND NOT pg_catalog.row_security_active(t))
                   FROM @extschema@.metric_rollup r, unnest(r.relations) t WHERE r.name = rollup), false);
COMMENT ON FUNCTION @extschema@.metric_rollup_readable(text) IS
  'Whether the current user may read every table a rollup sums and row security hides none of their rows from her';

-- Statement trigger on a rollup's tables: notes the change and the
-- earliest local time it touched.  Arguments: rollup, time column ('' for
-- a table whose changes may touch any bucket), time zone ('' for a column
-- without one).
CREATE FUNCTION @extschema@.metric_rollup_note()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t text;
  n bigint := 0;
  nulls bigint := 0;
  m timestamp;
  since timestamp := 'infinity';
BEGIN
  IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' OR TG_ARGV[1] OPERATOR(pg_catalog.=) '' THEN
    since := '-infinity';
  ELSE
    -- converted with the owner's rights: only a built-in type's cast or
    -- operator, never one the table's owner made (checked at every firing)
    PERFORM @extschema@.require_builtin_column(TG_RELID, TG_ARGV[1]);
    t := CASE WHEN TG_ARGV[2] OPERATOR(pg_catalog.=) '' THEN format('%I::pg_catalog.timestamp', TG_ARGV[1])
              ELSE format('%I AT TIME ZONE %L', TG_ARGV[1], TG_ARGV[2]) END;
    IF TG_OP OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE']) THEN
      EXECUTE format('SELECT count(*), count(*) - count(%s), min(%s) FROM new_rows', t, t) INTO n, nulls, m;
      since := least(since, m);
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) ANY (ARRAY['UPDATE', 'DELETE']) THEN
      EXECUTE format('SELECT count(*) + $1, count(*) - count(%s) + $2, min(%s) FROM old_rows', t, t) USING n, nulls INTO n, nulls, m;
      since := least(since, m);
    END IF;
    IF n OPERATOR(pg_catalog.=) 0 THEN
      RETURN NULL;                    -- no row changed
    END IF;
    IF nulls > 0 THEN
      since := '-infinity';           -- rows without a time: their bucket is NULL
    END IF;
  END IF;
  INSERT INTO @extschema@.metric_rollup_change (rollup, since) VALUES (TG_ARGV[0], since);
  RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_note() IS
  'Trigger of rollups'' tables: notes each change and the earliest local time it touched in concord.metric_rollup_change';

-- The comments of a rollup table's columns: its time bucket, each
-- dimension and each metric, from their definitions.
CREATE FUNCTION @extschema@.metric_rollup_comment(tbl regclass, leaves text[], dimensions text[], grain text, tz text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
BEGIN
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_comment(regclass, text[], text[], text, text) IS
  'Internal to metric_rollup_create: comments the columns of a rollup table (its time bucket, dimensions and metrics)';
REVOKE EXECUTE ON FUNCTION @extschema@.metric_rollup_comment(regclass, text[], text[], text, text) FROM PUBLIC;

-- The query that fills a rollup's table: its simple metrics, at the
-- versions that answer, by its dimensions and grain, from the models (or
-- the buckets from since on); only the buckets that have rows, no spine.
-- Returns {"sql", "relations"}.
CREATE FUNCTION @extschema@.metric_rollup_query(leaves text[], dimensions text[], grain text, tz text, since date DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
AS $fn$
BEGIN
  RETURN @extschema@.metric_sql_compose(
    @extschema@.metric_sql_question(leaves, dimensions, grain, NULL, since, NULL, '{}', NULL, tz, false, false),
    @extschema@.metric_sql_nodes(leaves, false), @extschema@.metric_sql_dimensions(leaves, dimensions, NULL), NULL, false);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_query(text[], text[], text, text, date) IS
  'Internal to rollups: the query of a rollup''s rows (its simple metrics by its dimensions and grain, from since on), without the spine, and the relations it reads';

-- The column whose times a change to rel touches, for a rollup's change
-- notes: for every model of the rollup that reads rel, rel holds the times
-- of its rows -- its own table with its own time column, or the table it
-- takes its time from through a join (orders, for payments dated by their
-- order: a changed order moves only its own payments, in its own buckets).
-- NULL when a change may touch any bucket: a dimension's table, a table an
-- aggregated dimension reads, the table of a model dated through a join.
CREATE FUNCTION @extschema@.metric_rollup_time_column(rel regclass, leaves text[], dimensions text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  m record;
  col text;
  c text;
  targets text[];
  joined regclass[];
  aggregated regclass[];
BEGIN
  FOR m IN SELECT mm.name, mm.relation, mm.time_column, mm.time_model, tm.relation AS trel,
                  array_agg(l.compiled) AS compiled
             FROM @extschema@.metric_current l
             JOIN @extschema@.metric_model mm ON mm.name = l.compiled ->> 'model'
             LEFT JOIN @extschema@.metric_model tm ON tm.name = mm.time_model
            WHERE l.name = ANY (leaves)
            GROUP BY mm.name, mm.relation, mm.time_column, mm.time_model, tm.relation LOOP
    -- what the model's part reads besides its own table: the tables on the
    -- joins to its dimensions, its time and its filters' dimensions, and
    -- those its aggregated dimensions read
    SELECT array_agg(DISTINCT d.model) FILTER (WHERE d.model <> m.name),
           array_agg(DISTINCT s.relation) FILTER (WHERE d.aggregate IS NOT NULL)
      INTO targets, aggregated
      FROM @extschema@.metric_dimension d
      LEFT JOIN @extschema@.metric_model s ON s.name = d.aggregate ->> 'from'
     WHERE d.name = ANY (dimensions) OR d.model || '.' || d.name = ANY (dimensions)
        OR EXISTS (SELECT 1 FROM unnest(m.compiled) x, jsonb_array_elements(coalesce(x -> 'filter_names', '[]')) f
                    WHERE f ->> 'model' = d.model AND f ->> 'dimension' = d.name);
    targets := coalesce(targets, '{}') || CASE WHEN m.time_model IS NOT NULL THEN ARRAY[m.time_model] ELSE '{}' END;
    SELECT array_agg(DISTINCT x.relation) INTO joined
      FROM unnest(targets) t, unnest(@extschema@.metric_join_path(m.name, t)) e
      JOIN @extschema@.metric_model x ON x.name = split_part(e, '>', 2);
    IF rel = ANY (coalesce(aggregated, '{}')) THEN
      RETURN NULL;
    ELSIF rel = m.relation THEN
      c := CASE WHEN m.time_model IS NULL THEN m.time_column END;
    ELSIF rel = m.trel THEN
      c := m.time_column;
    ELSIF rel = ANY (coalesce(joined, '{}')) THEN
      RETURN NULL;
    ELSE
      CONTINUE;                       -- this model does not read it
    END IF;
    IF c IS NULL OR col IS NOT NULL AND col <> c THEN
      RETURN NULL;
    END IF;
    col := c;
  END LOOP;
  RETURN col;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_time_column(regclass, text[], text[]) IS
  'Internal to metric_rollup_create: the column of a table a rollup reads whose times its changes touch (the table the rows of every model reading it are dated by), or NULL when a change may touch any bucket';

CREATE FUNCTION @extschema@.metric_rollup_create(name text, metrics text[], dimensions text[] DEFAULT '{}',
                                          grain text DEFAULT 'day', time_zone text DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  leaves text[];
  bad text;
  mdls text[];
  rels regclass[];
  q jsonb;
  tbl regclass;
  r record;
  ev text;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid rollup name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rollup name is a lower-case identifier, e.g. revenue_daily.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_rollup x WHERE x.name OPERATOR(pg_catalog.=) metric_rollup_create.name) THEN
    RAISE EXCEPTION 'rollup "%" already exists', name
      USING ERRCODE = 'duplicate_object', HINT = 'Drop it first (concord.metric_rollup_drop), or refresh it.';
  END IF;
  IF grain IS NULL OR grain OPERATOR(pg_catalog.<>) ALL (ARRAY['day', 'week', 'month', 'quarter', 'year']) THEN
    RAISE EXCEPTION 'unknown time grain "%"', grain
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of day, week, month, quarter, year.';
  END IF;
  -- the simple metrics the asked ones are computed from
  SELECT string_agg(l.name OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) l.type OPERATOR(pg_catalog.||) ')', ', ') INTO bad FROM @extschema@.metric_current l
   WHERE l.name OPERATOR(pg_catalog.=) ANY (@extschema@.metric_closure(metrics)) AND l.type OPERATOR(pg_catalog.=) ANY (ARRAY['cumulative', 'period_over_period', 'conversion']);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'metrics % are not rolled up', bad
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Roll up their base metrics: cumulative and period-over-period ones are computed from them.';
  END IF;
  -- (unknown metrics and dimensions fail here, with metric_sql's errors)
  PERFORM @extschema@.metric_sql_build(metrics, dimensions, grain, NULL, NULL, NULL, '{}', NULL, tz, false, false);
  SELECT array_agg(l.name ORDER BY l.name), array_agg(DISTINCT l.compiled OPERATOR(pg_catalog.->>) 'model') INTO leaves, mdls
    FROM @extschema@.metric_current l WHERE l.name OPERATOR(pg_catalog.=) ANY (@extschema@.metric_closure(metrics)) AND l.type OPERATOR(pg_catalog.=) 'simple';
  -- the tables it reads: the metrics' models, those on the joins to the
  -- dimensions' models and to where its models take their time from, those
  -- its aggregated dimensions and its metrics' filters read
  q := @extschema@.metric_rollup_query(leaves, dimensions, grain, tz);
  rels := ARRAY(SELECT (x OPERATOR(pg_catalog.#>>) '{}')::oid::regclass FROM jsonb_array_elements(q OPERATOR(pg_catalog.->) 'relations') x);
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t
   WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t) OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::pg_catalog."char"[]);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'rollup "%" would read views: %', name, bad
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'What a view shows may depend on who reads it, so no rollup of it can be proven the same for everyone.';
  END IF;
  -- its definer puts triggers on the tables it reads: she needs the right to
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t
   WHERE NOT pg_catalog.has_table_privilege(me, t, 'TRIGGER') OR NOT pg_catalog.has_table_privilege(me, t, 'SELECT');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'permission denied to roll up %: a rollup needs SELECT and TRIGGER on the tables it reads', bad
      USING ERRCODE = 'insufficient_privilege', HINT = 'Build rollups as the tables'' owner.';
  END IF;
  EXECUTE format('CREATE TABLE concord_rollup.%I AS %s WITH NO DATA', name, q OPERATOR(pg_catalog.->>) 'sql');
  tbl := format('concord_rollup.%I', name)::regclass;
  EXECUTE format('CREATE INDEX ON %s (metric_time)', tbl);
  EXECUTE format('COMMENT ON TABLE %s IS %L', tbl,
                 format('concord rollup %s: %s by %s per %s (%s); read it through concord.metric_query', name,
                        array_to_string(leaves, ', '), CASE WHEN array_to_string(dimensions, ', ') OPERATOR(pg_catalog.<>) '' THEN array_to_string(dimensions, ', ')
                             ELSE 'nothing' END, grain, tz));
  PERFORM @extschema@.metric_rollup_comment(tbl, leaves, dimensions, grain, tz);
  -- read directly, it shows rows only to those it could be used for
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY concord_rollup_reader ON %s FOR SELECT TO PUBLIC USING ((SELECT %I.metric_rollup_readable(%L)))',
                 tbl, '@extschema@', name);
  EXECUTE format('GRANT SELECT ON %s TO PUBLIC', tbl);
  INSERT INTO @extschema@.metric_rollup (name, table_name, metrics, aggs, versions, dimensions, grain, time_zone, relations,
                                         created_by)
  SELECT metric_rollup_create.name, tbl, leaves,
         jsonb_object_agg(l.name, l.compiled OPERATOR(pg_catalog.->>) 'agg'), jsonb_object_agg(l.name, l.version),
         coalesce(metric_rollup_create.dimensions, '{}'), metric_rollup_create.grain, tz, rels, me
    FROM @extschema@.metric_current l WHERE l.name OPERATOR(pg_catalog.=) ANY (leaves);
  -- every change to its tables is noted: with the earliest time it touched
  -- when the table holds the times of the rows of every model that reads
  -- it (orders, for orders and for payments dated by their order), else
  -- as a change that may touch any bucket
  FOR r IN SELECT t AS rel, @extschema@.metric_rollup_time_column(t, leaves, dimensions) AS tcol
             FROM unnest(rels) t LOOP
    PERFORM @extschema@.citus_no_triggers(r.rel, 'a rollup');
    FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %I.metric_rollup_note(%L, %L, %L)',
        left('concord_rollup_' OPERATOR(pg_catalog.||) name, 60) OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) left(ev, 1), ev, r.rel,
        CASE WHEN ev OPERATOR(pg_catalog.=) 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
             WHEN ev OPERATOR(pg_catalog.=) 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
             WHEN ev OPERATOR(pg_catalog.=) 'delete' THEN 'REFERENCING OLD TABLE AS old_rows' ELSE '' END,
        '@extschema@', name, coalesce(r.tcol, ''),
        CASE WHEN r.tcol IS NOT NULL AND @extschema@.metric_column_type(r.rel, r.tcol) OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN tz ELSE '' END);
    END LOOP;
  END LOOP;
  PERFORM @extschema@.metric_rollup_refresh(name, true);
  PERFORM @extschema@.audit_record('metric_rollup', name, NULL,
    jsonb_build_object('metrics', leaves, 'dimensions', dimensions, 'grain', grain, 'time_zone', tz));
  RETURN tbl;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_create(text, text[], text[], text, text) IS
  'Materializes the simple metrics behind the given ones by dimensions and grain (in time_zone) into concord_rollup.<name>, fills it, and watches its tables for changes; metric_query then answers from it when that is provably the same answer for the caller';
-- Deprecated (0.2): the old name of metric_rollup_create(), kept for one release.
SELECT @extschema@.deprecated_alias('metric_rollup', '@extschema@.metric_rollup_create(text, text[], text[], text, text)');

CREATE FUNCTION @extschema@.metric_rollup_refresh(name text, full_refresh boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  since timestamp;
  ids bigint[];
  b date;
  n bigint;
  total bigint;
  stale_versions boolean;
BEGIN
  SELECT * INTO r FROM @extschema@.metric_rollup x WHERE x.name OPERATOR(pg_catalog.=) metric_rollup_refresh.name FOR UPDATE;
  IF r.name IS NULL THEN
    RAISE EXCEPTION 'unknown rollup "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  SELECT EXISTS (SELECT 1 FROM @extschema@.metric_current l
                  WHERE l.name OPERATOR(pg_catalog.=) ANY (r.metrics) AND (l.version::text OPERATOR(pg_catalog.<>) (r.versions OPERATOR(pg_catalog.->>) l.name) OR l.type OPERATOR(pg_catalog.<>) 'simple'))
    INTO stale_versions;
  IF stale_versions AND EXISTS (SELECT 1 FROM @extschema@.metric_current l WHERE l.name OPERATOR(pg_catalog.=) ANY (r.metrics) AND l.type OPERATOR(pg_catalog.<>) 'simple') THEN
    RAISE EXCEPTION 'rollup "%" holds metrics that are no longer simple', name
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Drop it and roll up the metrics again.';
  END IF;
  SELECT min(c.since), array_agg(c.id) INTO since, ids FROM @extschema@.metric_rollup_change c WHERE c.rollup OPERATOR(pg_catalog.=) r.name;
  IF NOT full_refresh AND NOT stale_versions AND ids IS NULL AND r.refreshed_at IS NOT NULL THEN
    RETURN 0;                         -- nothing changed
  END IF;
  IF full_refresh OR stale_versions OR r.refreshed_at IS NULL OR since OPERATOR(pg_catalog.=) '-infinity' THEN
    EXECUTE format('DELETE FROM %s', r.table_name);
    EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS q', r.table_name,
                   @extschema@.metric_rollup_query(r.metrics, r.dimensions, r.grain, r.time_zone) OPERATOR(pg_catalog.->>) 'sql');
  ELSE
    -- the buckets from the earliest change on
    b := date_trunc(r.grain, since)::date;
    EXECUTE format('DELETE FROM %s WHERE metric_time >= %L::pg_catalog.date', r.table_name, pg_catalog.to_char(b, 'YYYY-MM-DD'));
    EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS q', r.table_name,
                   @extschema@.metric_rollup_query(r.metrics, r.dimensions, r.grain, r.time_zone, b) OPERATOR(pg_catalog.->>) 'sql');
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM @extschema@.metric_rollup_change c WHERE c.id OPERATOR(pg_catalog.=) ANY (ids);
  EXECUTE format('SELECT count(*) FROM %s', r.table_name) INTO total;
  UPDATE @extschema@.metric_rollup x SET refreshed_at = pg_catalog.now(), row_count = total,
         versions = (SELECT jsonb_object_agg(l.name, l.version) FROM @extschema@.metric_current l WHERE l.name OPERATOR(pg_catalog.=) ANY (r.metrics))
   WHERE x.name OPERATOR(pg_catalog.=) r.name;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_refresh(text, boolean) IS
  'Brings a rollup up to date: the buckets from the earliest change on (all of them when full_refresh, on a truncate, a change to a dimension''s table, or a metric redefined); returns the rows written';

CREATE FUNCTION @extschema@.metric_rollup_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  t regclass;
  ev text;
BEGIN
  SELECT * INTO r FROM @extschema@.metric_rollup x WHERE x.name OPERATOR(pg_catalog.=) metric_rollup_drop.name FOR UPDATE;
  IF r.name IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('rollup', name, r.created_by, 'drop');
  FOREACH t IN ARRAY r.relations LOOP
    FOREACH ev IN ARRAY ARRAY['i', 'u', 'd', 't'] LOOP
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', left('concord_rollup_' OPERATOR(pg_catalog.||) r.name, 60) OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) ev, t);
    END LOOP;
  END LOOP;
  EXECUTE format('DROP TABLE IF EXISTS %s', r.table_name);
  DELETE FROM @extschema@.metric_rollup x WHERE x.name OPERATOR(pg_catalog.=) r.name;
  PERFORM @extschema@.audit_record('metric_rollup_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_drop(text) IS
  'Drops a rollup: its table, its triggers and its definition';

-- The rollups (the one with the fewest rows first) whose rows give a
-- question the answer the models would, by what they hold: its metrics at
-- the versions the question uses (versions), its dimensions and those of
-- its filter, a grain they add up to, whole buckets of its grain between
-- lo and hi (the local days read, hi excluded), its time zone; count_distinct
-- and avg only at exactly its grain and dimensions.  Whether one may
-- answer a caller now is metric_rollup_usable's to say.
CREATE FUNCTION @extschema@.metric_rollup_candidates(leaves text[], dimensions text[], filter_dims text[], grain text,
                                                     time_zone text, lo date, hi date, versions jsonb)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  exact boolean;
  found text[] := '{}';
BEGIN
  FOR r IN SELECT * FROM @extschema@.metric_rollup x
            WHERE x.refreshed_at IS NOT NULL AND metric_rollup_candidates.leaves <@ x.metrics
              AND metric_rollup_candidates.dimensions <@ x.dimensions
              AND coalesce(metric_rollup_candidates.filter_dims, '{}') <@ x.dimensions
            ORDER BY x.row_count, x.name LOOP
    -- time: its zone, a grain it adds up to, whole buckets
    CONTINUE WHEN (grain IS NOT NULL OR lo IS NOT NULL OR hi IS NOT NULL) AND r.time_zone <> time_zone;
    CONTINUE WHEN grain IS NOT NULL AND NOT (grain = r.grain OR r.grain = 'day' AND grain <> 'day'
                                           OR r.grain = 'month' AND grain IN ('quarter', 'year')
                                           OR r.grain = 'quarter' AND grain = 'year');
    CONTINUE WHEN lo IS NOT NULL AND date_trunc(r.grain, lo::timestamp)::date <> lo;
    CONTINUE WHEN hi IS NOT NULL AND date_trunc(r.grain, hi::timestamp)::date <> hi;
    -- count_distinct and avg do not add up: exactly its grain and dimensions
    exact := coalesce(grain = r.grain, false) AND dimensions @> r.dimensions AND coalesce(filter_dims, '{}') <@ dimensions;
    CONTINUE WHEN NOT exact AND EXISTS (SELECT 1 FROM jsonb_each_text(r.aggs) a
                                         WHERE a.key = ANY (leaves) AND a.value IN ('count_distinct', 'avg'));
    -- the versions it was built from
    CONTINUE WHEN EXISTS (SELECT 1 FROM unnest(leaves) l WHERE (versions ->> l) IS DISTINCT FROM (r.versions ->> l));
    found := found || r.name;
  END LOOP;
  RETURN found;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_candidates(text[], text[], text[], text, text, date, date, jsonb) IS
  'Internal to metric_sql: the rollups whose rows give a question the models'' answer (fewest rows first), by what they hold; metric_rollup_usable says whether one may answer the caller now';

-- May a rollup answer the current user now?  Nothing changed in its
-- tables since its refresh (as her snapshot sees it), and she reads every
-- row of them.
CREATE FUNCTION @extschema@.metric_rollup_usable(rollup text)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM @extschema@.metric_rollup r WHERE r.name = $1 AND r.refreshed_at IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_rollup_change c WHERE c.rollup = $1)
       AND @extschema@.metric_rollup_readable($1);
COMMENT ON FUNCTION @extschema@.metric_rollup_usable(text) IS
  'Whether a rollup may answer the current user now: refreshed, nothing changed in its tables since (as her snapshot sees it), and row security hides none of their rows from her';

-- The query over a rollup's table standing in for the per-model queries:
-- its buckets added up to the grain asked for.
CREATE FUNCTION @extschema@.metric_rollup_sql(rollup text, leaves text[], dimensions text[], grain text,
                                              filter_sql text, from_date date, to_date date)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  cols text[] := '{}';
  keys text[] := '{}';
  wh text[] := '{}';
  x text;
BEGIN
  SELECT * INTO r FROM @extschema@.metric_rollup m WHERE m.name = rollup;
  IF grain IS NOT NULL THEN
    cols := cols || CASE WHEN grain = r.grain THEN 'd.metric_time'
                         ELSE format('date_trunc(%L, d.metric_time::timestamp)::date AS metric_time', grain) END;
    keys := keys || '1'::text;
  END IF;
  FOREACH x IN ARRAY dimensions LOOP
    cols := cols || format('d.%I', x);
    keys := keys || format('d.%I', x);
  END LOOP;
  FOREACH x IN ARRAY leaves LOOP
    cols := cols || format('%s::numeric AS %I',
      CASE r.aggs ->> x
        WHEN 'sum' THEN format('sum(d.%I)', x)
        WHEN 'count' THEN CASE WHEN cardinality(keys) = 0 THEN format('coalesce(sum(d.%I), 0)', x) ELSE format('sum(d.%I)', x) END
        WHEN 'min' THEN format('min(d.%I)', x)
        ELSE format('max(d.%I)', x) END, x);     -- max, and the exact ones (one row per group)
  END LOOP;
  IF from_date IS NOT NULL THEN
    wh := wh || format('d.metric_time >= %L::date', from_date);
  END IF;
  IF to_date IS NOT NULL THEN
    wh := wh || format('d.metric_time <= %L::date', to_date);
  END IF;
  IF filter_sql IS NOT NULL THEN
    wh := wh || filter_sql;
  END IF;
  RETURN format(E'SELECT %s\n  FROM %s AS d%s%s', array_to_string(cols, E',\n         '), r.table_name,
                CASE WHEN cardinality(wh) > 0 THEN E'\n WHERE ' || array_to_string(wh, E'\n   AND ') ELSE '' END,
                CASE WHEN cardinality(keys) > 0 THEN E'\n GROUP BY ' || array_to_string(keys, ', ') ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_sql(text, text[], text[], text, text, date, date) IS
  'Internal to metric_sql: the query that answers from a rollup''s table, its buckets added up to the grain asked for';

GRANT SELECT ON @extschema@.metric_rollup TO PUBLIC;
GRANT SELECT ON @extschema@.metric_rollup_change TO PUBLIC;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'metric_rollup_create(text, text[], text[], text, text)', 'metric_rollup(text, text[], text[], text, text)', 'metric_rollup_refresh(text, boolean)', 'metric_rollup_drop(text)']);
-- (its triggers are made by metric_rollup_create, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.metric_rollup_note(),
                           @extschema@.metric_rollup_time_column(regclass, text[], text[]) FROM PUBLIC;

-- What DROP EXTENSION concord undoes of metric's (registered with core,
-- run by extension_cleanup): the views published for BI tools, rollups
-- (their triggers on the models' tables), and the schema of published
-- views if nothing else is in it.
CREATE FUNCTION @extschema@.metric_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
BEGIN
  -- views published for BI tools
  FOR r IN SELECT p.view_name FROM @extschema@.metric_publication p
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name) LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s', r.view_name);
  END LOOP;
  -- rollups (their triggers on the models' tables)
  FOR r IN SELECT x.name FROM @extschema@.metric_rollup x LOOP
    PERFORM @extschema@.metric_rollup_drop(r.name);
  END LOOP;
  -- the schema of published views, if nothing else is in it
  IF pg_catalog.to_regnamespace('metrics') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = pg_catalog.to_regnamespace('metrics'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typnamespace = pg_catalog.to_regnamespace('metrics')) THEN
    DROP SCHEMA metrics;
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_cleanup() IS
  'Run at DROP EXTENSION concord (extension_cleanup): drops the views published for BI tools, rollups, and the schema metrics if it is left empty';
REVOKE EXECUTE ON FUNCTION @extschema@.metric_cleanup() FROM PUBLIC;
SELECT @extschema@.component_register('metric', 'cleanup', 'metric_cleanup', 60);
