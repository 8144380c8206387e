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
-- (mask_hash is not for PUBLIC: whoever may call it can hash guesses and
-- compare them with the masked values.  A mask_hash mask is stored, by the
-- trigger mask_hash_store, so the governed view's readers never call it.)
CREATE FUNCTION @extschema@.mask_hash(value text) RETURNS text
AS 'MODULE_PATHNAME', 'concord_mask_hash' LANGUAGE C STABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_hash(text) IS
  'A keyed HMAC-SHA256 of the value (h: and 16 hex digits) under the secret mask_key: equal values stay equal (joinable), the value cannot be recovered or guessed without the key; NULL (never an error) when the key cannot be read';
CREATE FUNCTION @extschema@.mask_hash_store() RETURNS trigger
AS 'MODULE_PATHNAME', 'concord_mask_hash_store' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.mask_hash_store() IS
  'Trigger of tables with mask_hash masks (arguments: pairs of column and stored column): stores each column''s mask_hash in its concord_masked_<column>, which the governed view reads';
CREATE FUNCTION @extschema@.mask_bucket(value numeric, width numeric) RETURNS numeric
AS 'MODULE_PATHNAME', 'concord_mask_bucket' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.mask_bucket(numeric, numeric) IS
  'The number rounded down to a multiple of width (an amount to its 10,000 band); NULL for a width that is not positive, or a value too large to divide by it';
CREATE FUNCTION @extschema@.mask_date(value date, unit text) RETURNS date
AS 'MODULE_PATHNAME', 'concord_mask_date' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
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

-- Whether relation is a governed view concord made (<table>_governed, in
-- the schema of a table with column masks): what other components ask
-- (metric's models may read one though it is not security_invoker),
-- rather than reading concord.column_mask.
CREATE FUNCTION @extschema@.governed_view_is(relation regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT EXISTS (SELECT 1 FROM @extschema@.column_mask m JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) m.table_name
                  WHERE t.relnamespace OPERATOR(pg_catalog.=) (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) governed_view_is.relation)
                    AND (t.relname OPERATOR(pg_catalog.||) '_governed') OPERATOR(pg_catalog.=)
                        (SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) governed_view_is.relation));
END;
COMMENT ON FUNCTION @extschema@.governed_view_is(regclass) IS
  'Whether a relation is a governed view concord made for a table with column masks';
REVOKE EXECUTE ON FUNCTION @extschema@.governed_view_is(regclass) FROM PUBLIC;

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
  -- (the view's own columns: the table's, less the stored masks' it never shows)
  FOR k IN SELECT a.attname, pg_catalog.col_description(tbl, ta.attnum) AS description, m.column_name IS NOT NULL AS masked
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_attribute ta ON ta.attrelid = tbl AND ta.attname = a.attname AND NOT ta.attisdropped
             LEFT JOIN @extschema@.column_mask m ON m.table_name = tbl AND m.column_name = a.attname
            WHERE a.attrelid = v AND a.attnum > 0 AND NOT a.attisdropped LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, k.attname,
                   coalesce(k.description || ' ', '')
                   || format(CASE WHEN k.masked THEN '(column %s of %s; masked unless the reader may see its clear value, concord.column_mask)'
                                  ELSE '(column %s of %s)' END, pg_catalog.quote_ident(k.attname), tbl));
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_view_comment(regclass, regclass) IS
  'Internal to column_mask_create: comments the columns of the table''s governed view (the table column''s comment, and whether it is masked)';

-- Whether a column of a table holds a stored mask's value (a generated
-- column concord_masked_<column>, or the one mask_hash_store fills, which
-- concord comments "concord: ..."): the governed view never shows it.
CREATE FUNCTION @extschema@.mask_stored_column(tbl regclass, col name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN col OPERATOR(pg_catalog.~~) 'concord\_masked\_%'
   AND (EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
                   AND (a.attgenerated OPERATOR(pg_catalog.=) 's'
                        OR pg_catalog.col_description(tbl, a.attnum) OPERATOR(pg_catalog.~~) 'concord: %'))
        OR EXISTS (SELECT 1 FROM @extschema@.column_mask m
                    WHERE m.table_name OPERATOR(pg_catalog.=) tbl AND m.stored_column OPERATOR(pg_catalog.=) col));
COMMENT ON FUNCTION @extschema@.mask_stored_column(regclass, name) IS
  'Internal to column_mask_create: whether the column holds a stored mask''s value (never shown by the governed view)';

-- The privileges others hold on a table's columns or on the table, one row
-- each, with who granted them: what moves from a masked table to its
-- governed view.
CREATE FUNCTION @extschema@.relation_privileges(rel regclass)
RETURNS TABLE (col name, grantee oid, grantor oid, priv text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT NULL::pg_catalog.name, x.grantee, x.grantor, x.privilege_type
    FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) x
   WHERE c.oid OPERATOR(pg_catalog.=) rel AND x.grantee OPERATOR(pg_catalog.<>) c.relowner
  UNION ALL
  SELECT a.attname, x.grantee, x.grantor, x.privilege_type
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid,
         LATERAL pg_catalog.aclexplode(a.attacl) x
   WHERE c.oid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
     AND x.grantee OPERATOR(pg_catalog.<>) c.relowner;
END;
COMMENT ON FUNCTION @extschema@.relation_privileges(regclass) IS
  'The privileges granted on a relation and on its columns (col NULL: the relation), the owner''s left out, with their grantors';

-- Moves what others may do with a masked table to its governed view v (or,
-- v NULL, takes it away: a child of a masked table): reading and writing
-- the table or its columns, and REFERENCES and TRIGGER, which would let
-- them probe or watch its clear values.  Returns what it moved, one line
-- each ("SELECT (phone) to li_na").
CREATE FUNCTION @extschema@.governed_grants_move(tbl regclass, v regclass)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  g record;
  who text;
  cols text;
  moved text[] := '{}';
BEGIN
  FOR g IN SELECT * FROM @extschema@.relation_privileges(tbl) p
            WHERE p.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REFERENCES', 'TRIGGER')
            ORDER BY p.col NULLS FIRST, p.grantee, p.priv LOOP
    who := CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END;
    cols := CASE WHEN g.col IS NULL THEN '' ELSE format(' (%I)', g.col) END;
    IF v IS NOT NULL AND g.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
       AND (g.col IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = v AND a.attname = g.col
                                       AND NOT a.attisdropped)) THEN
      EXECUTE format('GRANT %s%s ON %s TO %s', g.priv, cols, v, who);
    END IF;
    -- (as the table's owner: a grant someone else made with a grant
    -- option goes with the CASCADE of that someone's own)
    EXECUTE format('REVOKE %s%s ON %s FROM %s CASCADE', g.priv, cols, tbl, who);
    moved := moved || format('%s%s to %s', g.priv, cols, who);
  END LOOP;
  RETURN moved;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_grants_move(regclass, regclass) IS
  'Internal: moves the privileges others hold on a masked table (and on its columns) to its governed view, or takes them away (no view: a child of a masked table); returns what it moved';

-- The governed view of a table: <table>_governed in the table's schema,
-- every column in order, a masked one as CASE WHEN <visible_to> THEN
-- <column> ELSE <mask> END.  security_barrier; owned by the table's owner,
-- so the table's forced row security applies to it (a superuser's view
-- would bypass it); the grants to read and write the table (and its
-- columns) move to the view.  The view is updatable where its columns are
-- the table's: a masked column cannot be written through it, and the
-- conditions of an UPDATE or DELETE through it see masked values, not
-- clear ones.
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
  old regclass;
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
  -- (a stored mask's column is read in place of the mask, and not shown
  -- itself)
  SELECT string_agg(CASE WHEN m.column_name IS NULL THEN pg_catalog.quote_ident(a.attname)
                         ELSE format('CASE WHEN %s THEN %I ELSE %s END AS %I',
                                     m.compiled_visible, a.attname,
                                     coalesce(pg_catalog.quote_ident(m.stored_column), m.compiled_mask), a.attname) END,
                    ', ' ORDER BY a.attnum)
    INTO cols
    FROM pg_catalog.pg_attribute a
    LEFT JOIN @extschema@.column_mask m ON m.table_name = tbl AND m.column_name = a.attname
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
     AND NOT @extschema@.mask_stored_column(tbl, a.attname);
  -- who reads the view now, or its columns (a rebuilt view keeps them)
  old := pg_catalog.to_regclass(format('%I.%I', nsp, rel || '_governed'));
  SELECT coalesce(jsonb_agg(jsonb_build_object('who', CASE WHEN p.grantee = 0 THEN 'PUBLIC'
                                                           ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(p.grantee)) END,
                                               'priv', p.priv, 'col', p.col)), '[]')
    INTO readers
    FROM @extschema@.relation_privileges(old) p
   WHERE p.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE');
  EXECUTE format('DROP VIEW IF EXISTS %I.%I', nsp, rel || '_governed');
  EXECUTE format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT %s FROM %s', nsp, rel || '_governed', cols, tbl);
  v := format('%I.%I', nsp, rel || '_governed')::regclass;
  EXECUTE format('ALTER VIEW %s OWNER TO %I', v, owner);
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
                 format('Governed view of %s: rows by its row policies, masked columns by concord.column_mask', tbl));
  PERFORM @extschema@.governed_view_comment(tbl, v);
  FOR g IN SELECT e ->> 'who' AS who, e ->> 'priv' AS priv, e ->> 'col' AS col FROM jsonb_array_elements(readers) e LOOP
    IF g.col IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = v AND a.attname = g.col) THEN
      EXECUTE format('GRANT %s%s ON %s TO %s', g.priv, CASE WHEN g.col IS NULL THEN '' ELSE format(' (%I)', g.col) END, v, g.who);
    END IF;
  END LOOP;
  -- and who reads or writes the table, or its columns, now does so through the view
  PERFORM @extschema@.governed_grants_move(tbl, v);
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_view_build(regclass) IS
  'Internal to column_mask_create: (re)builds the table''s governed view and moves the privileges on the table and its columns to it';

-- The triggers that keep a masked table's masks whole, rebuilt from its
-- masks whenever they change:
--  concord_mask_hash   stores each mask_hash mask's value (mask_hash_store);
--  concord_unmask      refuses an UPDATE of a column a mask's visible_to
--                      reads by a writer who does not see that mask's clear
--                      value in the row (mask_unmask_check): she could
--                      otherwise make it visible to herself (owner_role =
--                      current_user) and read it.
CREATE FUNCTION @extschema@.mask_guard_build(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  hashes text;
  guards text;
BEGIN
  EXECUTE format('DROP TRIGGER IF EXISTS concord_mask_hash ON %s', tbl);
  EXECUTE format('DROP TRIGGER IF EXISTS concord_unmask ON %s', tbl);
  SELECT string_agg(format('%L, %L', m.column_name, m.stored_column), ', ' ORDER BY m.column_name) INTO hashes
    FROM @extschema@.column_mask m
   WHERE m.table_name = tbl AND m.stored_column IS NOT NULL
     AND m.compiled_mask = format('%s.mask_hash(%I)', '@extschema@', m.column_name);
  IF hashes IS NOT NULL THEN
    EXECUTE format('CREATE TRIGGER concord_mask_hash BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s.mask_hash_store(%s)',
                   tbl, '@extschema@', hashes);
  END IF;
  SELECT string_agg(format('%L, %L, %L', m.column_name, d.cols::text, m.compiled_visible), ', ' ORDER BY m.column_name) INTO guards
    FROM @extschema@.column_mask m,
         LATERAL (SELECT @extschema@.expr_columns(tbl, m.compiled_visible) AS cols) d
   WHERE m.table_name = tbl AND cardinality(d.cols) > 0;
  IF guards IS NOT NULL THEN
    EXECUTE format('CREATE TRIGGER concord_unmask BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s.mask_unmask_check(%s)',
                   tbl, '@extschema@', guards);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.mask_guard_build(regclass) IS
  'Internal to column_mask_create: (re)makes the table''s triggers concord_mask_hash (stored mask_hash values) and concord_unmask (no unmasking by UPDATE)';

-- Trigger concord_unmask: TG_ARGV = triples (masked column, the columns its
-- visible_to reads as a text[] literal, compiled visible_to).  A change of
-- those columns is for those who see the clear value in the row as it was
-- (and for the table's owner); anyone else could set them so that she
-- sees it.  Not SECURITY DEFINER: visible_to asks about the writer.
CREATE FUNCTION @extschema@.mask_unmask_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cols text[];
  c text;
  diff boolean;
  ok boolean;
BEGIN
  IF pg_catalog.pg_has_role(current_user, (SELECT r.relowner FROM pg_catalog.pg_class r WHERE r.oid = TG_RELID), 'USAGE') THEN
    RETURN NEW;
  END IF;
  FOR i IN 0 .. TG_NARGS / 3 - 1 LOOP
    cols := TG_ARGV[3 * i + 1]::text[];
    FOREACH c IN ARRAY cols LOOP
      EXECUTE format('SELECT ($1).%1$I IS DISTINCT FROM ($2).%1$I', c) INTO diff USING OLD, NEW;
      IF diff THEN
        EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) r', TG_ARGV[3 * i + 2]) INTO ok USING OLD;
        IF NOT ok THEN
          RAISE EXCEPTION 'changing column "%" of %.% would change who sees the clear value of column "%", which you do not see',
                          c, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[3 * i]
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Who sees it clear is decided by: %s', TG_ARGV[3 * i + 2]),
                  HINT = 'Someone who sees the clear value (or the table''s owner) may change it.';
        END IF;
        EXIT;
      END IF;
    END LOOP;
  END LOOP;
  RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION @extschema@.mask_unmask_check() IS
  'Trigger concord_unmask of masked tables: refuses a change of a column a mask''s visible_to reads by a writer who does not see that mask''s clear value';

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
                 format('concord: the masked value of %s, read by the governed view (column_mask_create with store => true)', col));
  RETURN target;
END
$fn$;
COMMENT ON FUNCTION @extschema@.mask_store(regclass, text, text) IS
  'Internal to column_mask_create: adds the generated column concord_masked_<column> holding a stored mask''s value';

-- A mask_hash mask's stored column: concord_masked_<column>, a plain text
-- column that the trigger mask_hash_store fills when a row is written
-- (mask_hash is not immutable, so it cannot be a generated column), filled
-- now for the rows there are (written as concord's owner, no trigger
-- fired: what changes is concord's, not the rows' data).
CREATE FUNCTION @extschema@.mask_hash_column(tbl regclass, col text)
RETURNS name
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  target text := 'concord_masked_' || col;
  repl text := pg_catalog.current_setting('session_replication_role');
BEGIN
  IF pg_catalog.octet_length(target) > 63 THEN
    RAISE EXCEPTION 'column name "%" of table % is too long for a mask_hash mask', col, tbl
      USING ERRCODE = 'name_too_long',
            HINT = 'A mask_hash mask keeps its values in concord_masked_<column>, at most 63 bytes.';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = target AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'table % already has a column "%", where the stored mask of "%" would go', tbl, target, col
      USING ERRCODE = 'duplicate_column', HINT = 'Rename that column.';
  END IF;
  EXECUTE format('ALTER TABLE %s ADD COLUMN %I pg_catalog.text', tbl, target);
  EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, target,
                 format('concord: mask_hash(%s), written by the trigger concord_mask_hash, read by the governed view', col));
  PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
  EXECUTE format('UPDATE %s SET %I = %s.mask_hash(%I)', tbl, target, '@extschema@', col);
  PERFORM pg_catalog.set_config('session_replication_role', repl, true);
  RETURN target;
END
$fn$;
COMMENT ON FUNCTION @extschema@.mask_hash_column(regclass, text) IS
  'Internal to column_mask_create: adds and fills concord_masked_<column>, where a mask_hash mask''s values are stored';

CREATE FUNCTION @extschema@.column_mask_create(tbl regclass, col text, mask text, visible_to text DEFAULT 'false',
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
  hashed boolean;
  v regclass;
BEGIN
  IF tbl IS NULL OR col IS NULL OR mask IS NULL OR visible_to IS NULL OR store IS NULL THEN
    RAISE EXCEPTION 'column_mask_create needs a table, a column, a mask and who sees the clear value'
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
  -- a mask_hash mask is stored (mask_hash_store), so that the view's
  -- readers never call mask_hash, which is not theirs to call; it needs
  -- its key now, not at the first read
  hashed := cm OPERATOR(pg_catalog.=) format('%s.mask_hash(%I)', '@extschema@', col);
  IF NOT hashed AND pg_catalog.strpos(cm, '@extschema@.mask_hash(') OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'invalid mask of %.%: mask_hash is a mask of its own, not part of one', tbl, pg_catalog.quote_ident(col)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Use exactly %s.mask_hash(%I): its value is stored when a row is written.', '@extschema@', col);
  END IF;
  IF hashed AND @extschema@.mask_hash('') IS NULL THEN
    RAISE EXCEPTION 'mask % of %.% needs the secret "mask_key", which cannot be read', cm, tbl, pg_catalog.quote_ident(col)
      USING ERRCODE = 'undefined_object',
            HINT = 'A superuser sets it once, to any long random text: SELECT concord.secret_set(''mask_key'', ''...'').';
  END IF;
  SELECT m.compiled_mask, m.stored_column INTO old
    FROM @extschema@.column_mask m WHERE m.table_name OPERATOR(pg_catalog.=) tbl AND m.column_name OPERATOR(pg_catalog.=) col;
  -- a stored column is kept while it holds this very mask
  IF (store OR hashed) AND old.compiled_mask OPERATOR(pg_catalog.=) cm THEN
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
    -- the view and the triggers stop reading the old stored column, which then goes
    PERFORM @extschema@.governed_view_build(tbl);
    PERFORM @extschema@.mask_guard_build(tbl);
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, old.stored_column);
  END IF;
  IF (store OR hashed) AND sc IS NULL THEN
    sc := CASE WHEN hashed THEN @extschema@.mask_hash_column(tbl, col) ELSE @extschema@.mask_store(tbl, col, cm) END;
    UPDATE @extschema@.column_mask m SET stored_column = sc WHERE m.table_name OPERATOR(pg_catalog.=) tbl AND m.column_name OPERATOR(pg_catalog.=) col;
  END IF;
  PERFORM @extschema@.audit_record('column_mask', tbl::text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) col, NULL,
                                   jsonb_build_object('mask', mask, 'visible_to', visible_to, 'store', store OR hashed));
  v := @extschema@.governed_view_build(tbl);
  PERFORM @extschema@.mask_guard_build(tbl);
  PERFORM @extschema@.governance_sync(tbl);
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.column_mask_create(regclass, text, text, text, boolean) IS
  'Masks a column for everyone visible_to does not cover (default: everyone): checks both, stores them and (re)builds the table''s governed view <table>_governed; returns the view. store => true keeps the masked value in a generated column, concord_masked_<column>, so that reads cost no mask call (a mask_hash mask is always stored)';
-- Deprecated (0.2): the old name of column_mask_create(), kept for one release.
SELECT @extschema@.deprecated_alias('column_mask', '@extschema@.column_mask_create(regclass, text, text, text, boolean)');

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
  DELETE FROM @extschema@.column_mask m WHERE m.table_name OPERATOR(pg_catalog.=) tbl AND m.column_name OPERATOR(pg_catalog.=) col RETURNING m.stored_column INTO sc;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('column_mask_drop', tbl::text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) col);
  PERFORM @extschema@.governed_view_build(tbl);
  PERFORM @extschema@.mask_guard_build(tbl);
  IF sc IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %s DROP COLUMN %I', tbl, sc);
  END IF;
  PERFORM @extschema@.governance_sync(tbl);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.column_mask_drop(regclass, text) IS
  'Removes a column''s mask; the governed view shows the column in clear again';

SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'policy_mask(regclass, text, text)',
    'column_mask_create(regclass, text, text, text, boolean)', 'column_mask(regclass, text, text, text, boolean)', 'column_mask_drop(regclass, text)']);
-- (internal: run by column_mask_create, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.governed_view_build(regclass), @extschema@.governed_view_comment(regclass, regclass),
                           @extschema@.mask_store(regclass, text, text), @extschema@.mask_hash_column(regclass, text),
                           @extschema@.mask_guard_build(regclass), @extschema@.governed_grants_move(regclass, regclass),
                           @extschema@.mask_stored_column(regclass, name) FROM PUBLIC;
-- mask_hash: for concord's owner (the stored masks) and for concord_policy
-- (DBAs checking a value); nobody else may hash guesses
SELECT @extschema@.grant_routines('concord_policy', ARRAY['mask_hash(text)']);
GRANT SELECT ON @extschema@.column_mask TO concord_policy;
