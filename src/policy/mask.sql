/* concord — policy: masks, column masks and governed views.  Joined into concord--<version>.sql
 * by the Makefile after policy.sql. */

-- Masks: what a role that may not see a value sees instead.  Never an
-- error for any value (a value a mask cannot read is hidden whole), so
-- they are LEAKPROOF: called in a WHERE clause over a security barrier
-- view, they reveal nothing through errors.
CREATE FUNCTION @extschema@.mask_phone(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_phone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_phone(text) IS
  'A phone number with all but its first 3 and last 4 digits hidden (138****5678); the country code dropped';
CREATE FUNCTION @extschema@.mask_email(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_email' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_email(text) IS
  'An email address with its local part hidden but the first character (z***@example.com)';
CREATE FUNCTION @extschema@.mask_name(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_name(text) IS
  'A person''s name with all but its first character hidden (张*)';
CREATE FUNCTION @extschema@.mask_cn_id(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_cn_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_cn_id(text) IS
  'A resident ID number with all but its first 3 and last 4 characters hidden (the date of birth never shows)';
CREATE FUNCTION @extschema@.mask_bank_card(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_bank_card' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_bank_card(text) IS
  'A bank card number with all but its first 4 and last 4 digits hidden';
CREATE FUNCTION @extschema@.mask_partial(value text, prefix integer, pad text, suffix integer) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_partial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_partial(text, integer, text, integer) IS
  'The first prefix characters, pad, the last suffix characters; only pad when that would show everything';
CREATE FUNCTION @extschema@.mask_hash(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_hash' LANGUAGE C STABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_hash(text) IS
  'A keyed HMAC-SHA256 of the value (h: and 16 hex digits) under the secret mask_key: equal values stay equal (joinable), the value cannot be recovered or guessed without the key';
CREATE FUNCTION @extschema@.mask_bucket(value numeric, width numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
RETURN CASE WHEN width > 0 THEN pg_catalog.floor(value / width) * width END;
COMMENT ON FUNCTION @extschema@.mask_bucket(numeric, numeric) IS
  'The number rounded down to a multiple of width (an amount to its 10,000 band); NULL for a width that is not positive';
CREATE FUNCTION @extschema@.mask_date(value date, unit text) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
RETURN CASE WHEN unit IN ('month', 'quarter', 'year') THEN pg_catalog.date_trunc(unit, value::timestamp)::date END;
COMMENT ON FUNCTION @extschema@.mask_date(date, text) IS
  'The date cut to the first day of its month, quarter or year (a birth date to its year); NULL for another unit';

-- Column masks, served through a governed view of the table.
CREATE TABLE @extschema@.column_mask (
  table_name  regclass NOT NULL,
  column_name text NOT NULL,
  mask        text NOT NULL,
  visible_to  text NOT NULL,
  compiled_mask     text NOT NULL,
  compiled_visible  text NOT NULL,
  stored_column     name,
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE @extschema@.column_mask IS
  'Column masks: what a column shows (mask) to those a condition (visible_to) does not let see its clear value, as written and as compiled into the table''s governed view; stored_column names the generated column holding the masked value when the mask is stored';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.column_mask', '');

CREATE FUNCTION @extschema@.policy_mask(tbl regclass, col text, mask text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_policy_mask'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.policy_mask(regclass, text, text) IS
  'Checks a column mask (an expression of that column only, of its type) and returns it as concord would compile it';

-- The comments of a governed view's columns: the table column's comment,
-- where it comes from, whether it is masked.
CREATE FUNCTION @extschema@.governed_view_comment(tbl regclass, v regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  k record;
BEGIN
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_view_comment(regclass, regclass) IS
  'Internal to column_mask: comments the columns of the table''s governed view (the table column''s comment, and whether it is masked)';

-- The governed view of a table: <table>_governed in the table's schema,
-- every column in order, a masked one as CASE WHEN <visible_to> THEN
-- <column> ELSE <mask> END.  security_barrier; owned by the table's owner,
-- so the table's forced row security applies to it (a superuser's view
-- would bypass it); the grants to read and write the table move to the
-- view.  The view is updatable where its columns are the table's: a
-- masked column cannot be written through it, and the conditions of an
-- UPDATE or DELETE through it see masked values, not clear ones.
CREATE FUNCTION @extschema@.governed_view_build(tbl regclass)
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
  PERFORM @extschema@.governed_view_comment(tbl, v);
  FOR g IN SELECT e ->> 'who' AS who, e ->> 'priv' AS priv FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT %s ON %s TO %s', g.priv, v, g.who);
    EXECUTE format('REVOKE %s ON %s FROM %s', g.priv, tbl, g.who);
  END LOOP;
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_view_build(regclass) IS
  'Internal to column_mask: (re)builds the table''s governed view and moves the table''s SELECT grants to it';

-- A stored mask: the masked value kept in a generated column of the
-- table, concord_masked_<column>, computed when a row is written, so that
-- reading the governed view costs no mask call per row.  The mask must be
-- immutable (mask_hash, keyed by a secret that can change, is not); adding,
-- changing or dropping a stored mask rewrites the table.  The governed view
-- never shows a generated concord_masked_* column.
CREATE FUNCTION @extschema@.mask_store(tbl regclass, col text, compiled_mask text)
RETURNS name
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  target text := 'concord_masked_' || col;
  msg text;
BEGIN
  -- The table is rewritten as concord's owner: the generated column's type
  -- must be PostgreSQL's own, not a domain (its checks are someone's code).
  IF (SELECT t.typtype OPERATOR(pg_catalog.=) 'd' OR t.oid OPERATOR(pg_catalog.>=) 16384
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
       WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col) THEN
    RAISE EXCEPTION 'column "%" of table % has type %, which a stored mask cannot have', col, tbl,
                    (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col)
      USING ERRCODE = 'datatype_mismatch',
            HINT = 'A stored mask needs a column of a built-in type (not a domain); store => false masks any column as it is read.';
  END IF;
  IF pg_catalog.octet_length(target) > 63 THEN
    RAISE EXCEPTION 'column name "%" of table % is too long for a stored mask', col, tbl
      USING ERRCODE = 'name_too_long',
            HINT = 'A stored mask''s column is concord_masked_<column>, at most 63 bytes; store => false works for any name.';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = target AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'table % already has a column "%", where the stored mask of "%" would go', tbl, target, col
      USING ERRCODE = 'duplicate_column', HINT = 'Rename that column, or use store => false.';
  END IF;
  BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s GENERATED ALWAYS AS (%s) STORED', tbl, target,
                   (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = tbl AND a.attname = col), compiled_mask);
  EXCEPTION WHEN invalid_object_definition THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
    RAISE EXCEPTION 'mask % of %.% cannot be stored: %', compiled_mask, tbl, col, msg
      USING ERRCODE = 'invalid_object_definition',
            HINT = 'Only an immutable mask can be stored (mask_hash depends on a secret that can change); use store => false.';
  END;
  EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, target,
                 format('concord: the masked value of %s, read by the governed view (column_mask with store => true)', col));
  RETURN target;
END
$fn$;
COMMENT ON FUNCTION @extschema@.mask_store(regclass, text, text) IS
  'Internal to column_mask: adds the generated column concord_masked_<column> holding a stored mask''s value';

CREATE FUNCTION @extschema@.column_mask(tbl regclass, col text, mask text, visible_to text DEFAULT 'false',
                                        store boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  cm text;
  cv text;
  old record;
  sc name;
BEGIN
  IF tbl IS NULL OR col IS NULL OR mask IS NULL OR visible_to IS NULL OR store IS NULL THEN
    RAISE EXCEPTION 'column_mask needs a table, a column, a mask and who sees the clear value'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.require_table_owner(me, tbl, format('a mask of column "%s"', col));
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
  INSERT INTO @extschema@.column_mask AS m (table_name, column_name, mask, visible_to, compiled_mask, compiled_visible, stored_column,
                                            defined_by)
  VALUES (tbl, col, mask, visible_to, cm, cv, sc, me)
  ON CONFLICT ON CONSTRAINT column_mask_pkey DO UPDATE
    SET mask = excluded.mask, visible_to = excluded.visible_to, compiled_mask = excluded.compiled_mask,
        compiled_visible = excluded.compiled_visible, stored_column = excluded.stored_column,
        defined_by = excluded.defined_by, defined_at = pg_catalog.now();
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
COMMENT ON FUNCTION @extschema@.column_mask(regclass, text, text, text, boolean) IS
  'Masks a column for everyone visible_to does not cover (default: everyone): checks both, stores them and (re)builds the table''s governed view <table>_governed; returns the view. store => true keeps the masked value in a generated column, concord_masked_<column>, so that reads cost no mask call';

CREATE FUNCTION @extschema@.column_mask_drop(tbl regclass, col text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  sc name;
BEGIN
  PERFORM @extschema@.require_table_owner(@extschema@.caller(), tbl, format('a mask of column "%s"', col));
  DELETE FROM @extschema@.column_mask m WHERE m.table_name = tbl AND m.column_name = col RETURNING m.stored_column INTO sc;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('column_mask_drop', tbl::text || '.' || col);
  PERFORM @extschema@.governed_view_build(tbl);
  IF sc IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, sc);
  END IF;
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.column_mask_drop(regclass, text) IS
  'Removes a column''s mask; the governed view shows the column in clear again';

SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'policy_mask(regclass, text, text)',
    'column_mask(regclass, text, text, text, boolean)', 'column_mask_drop(regclass, text)']);
-- (internal: run by column_mask, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.governed_view_build(regclass), @extschema@.governed_view_comment(regclass, regclass),
                           @extschema@.mask_store(regclass, text, text) FROM PUBLIC;
GRANT SELECT ON @extschema@.column_mask TO concord_policy;
