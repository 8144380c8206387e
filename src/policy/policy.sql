/* concord — policy: departments, members and row policies.  Joined after
 * identity into concord--<version>.sql by the Makefile. */

-- Who may define departments, members and policies (besides superusers).
SELECT @extschema@.capability_role('concord_policy', 'may define departments, members, row policies, masks, write rules and audited tables, and read the audit log');

-- Departments form a tree: the head of sales sees what every sales team sees.
CREATE TABLE @extschema@.department (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  parent      text REFERENCES @extschema@.department (name),
  label       text,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  CHECK (parent IS DISTINCT FROM name)
);
COMMENT ON TABLE @extschema@.department IS
  'Departments (a tree: parent is the department above), e.g. sales > sales_east';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.department', '');

-- Members: a database role in a department, with a title and attributes
-- (region, customer segment, ...) that row policies may read.
CREATE TABLE @extschema@.member (
  role_name   text PRIMARY KEY,
  department  text NOT NULL REFERENCES @extschema@.department (name),
  title       text,
  attributes  jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.member IS
  'Members: a database role, its department, title and attributes (jsonb object) that row policies read through concord.member()';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.member', '');

-- Row policies as defined; each is compiled into a PostgreSQL policy.
CREATE TABLE @extschema@.row_policy (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  table_name  regclass NOT NULL,
  predicate   text NOT NULL,
  compiled    text NOT NULL,
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.row_policy IS
  'Row policies: who sees which rows of a table, as written (predicate) and as checked and compiled into a PostgreSQL policy (compiled)';
COMMENT ON COLUMN @extschema@.row_policy.compiled IS
  'The predicate written back from its checked parse tree, member lookups as scalar subqueries (evaluated once per query)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.row_policy', '');

CREATE FUNCTION @extschema@.department_add(name text, parent text DEFAULT NULL, label text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid department name: %', coalesce(pg_catalog.quote_literal(name), 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A department name is lower-case letters, digits and underscores, starting with a letter (sales, sales_east).';
  END IF;
  IF parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.department d WHERE d.name = department_add.parent) THEN
    RAISE EXCEPTION 'unknown parent department "%" of department "%"', parent, name
      USING ERRCODE = 'undefined_object', HINT = 'Add the parent department first.';
  END IF;
  INSERT INTO @extschema@.department AS d (name, parent, label)
  VALUES (department_add.name, department_add.parent, department_add.label)
  ON CONFLICT ON CONSTRAINT department_pkey DO UPDATE SET parent = excluded.parent, label = excluded.label;
  PERFORM @extschema@.audit_record('department_add', name, NULL,
                                   jsonb_build_object('parent', parent, 'label', label));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.department_add(text, text, text) IS
  'Adds a department (or changes its parent and label); returns its name';

CREATE FUNCTION @extschema@.member_set(role_name text, department text, title text DEFAULT NULL,
                                       attributes jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = member_set.role_name) THEN
    RAISE EXCEPTION 'role "%" does not exist', role_name
      USING ERRCODE = 'undefined_object', HINT = 'Create the role first (CREATE ROLE ... LOGIN).';
  END IF;
  IF department IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.department d WHERE d.name = member_set.department) THEN
    RAISE EXCEPTION 'unknown department "%" for member "%"', department, role_name
      USING ERRCODE = 'undefined_object', HINT = 'Add it with concord.department_add(name, parent).';
  END IF;
  IF attributes IS NULL OR pg_catalog.jsonb_typeof(attributes) <> 'object' THEN
    RAISE EXCEPTION 'attributes of member "%" must be a JSON object, not %', role_name, coalesce(attributes::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For example {"region": "华东"}.';
  END IF;
  INSERT INTO @extschema@.member AS m (role_name, department, title, attributes)
  VALUES (member_set.role_name, member_set.department, member_set.title, member_set.attributes)
  ON CONFLICT ON CONSTRAINT member_pkey DO UPDATE
    SET department = excluded.department, title = excluded.title, attributes = excluded.attributes,
        updated_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('member_set', role_name, NULL,
                                   jsonb_build_object('department', department, 'title', title, 'attributes', attributes));
  RETURN role_name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.member_set(text, text, text, jsonb) IS
  'Makes a role a member of a department, with a title and attributes (or changes them); returns the role';

-- What row policies read: the membership of the query's current user,
-- nothing a session can set (no custom setting, no application_name).  In
-- C (member.c): the member table is read as the extension's owner, so
-- members need no privilege on it and see only their own attributes.
CREATE FUNCTION @extschema@.member(attribute text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_member'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.member(text) IS
  'The current user''s member attribute (department, title, or a key of its attributes); NULL for a non-member';

CREATE FUNCTION @extschema@.member_in(department text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_member_in'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.member_in(text) IS
  'Whether the current user is a member of the department or of one below it';

CREATE FUNCTION @extschema@.policy_predicate(tbl regclass, predicate text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_policy_predicate'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.policy_predicate(regclass, text) IS
  'Checks a row policy predicate against the allowlist and returns it as concord would compile it';

-- The checks every named governance object (a row policy, a write rule)
-- makes of its name, table and condition.  defined_on: the table the
-- name is already defined on, if any.
CREATE FUNCTION @extschema@.policy_object_check(kind text, name text, tbl regclass, condition text, defined_on regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,50}$' THEN
    RAISE EXCEPTION 'invalid % name: %', kind, coalesce(pg_catalog.quote_literal(name), 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A name is lower-case letters, digits and underscores, starting with a letter.';
  END IF;
  IF tbl IS NULL OR condition IS NULL THEN
    RAISE EXCEPTION '% "%" needs a table and a condition', kind, name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF defined_on IS NOT NULL AND defined_on <> tbl THEN
    RAISE EXCEPTION '% "%" is defined on another table', kind, name
      USING ERRCODE = 'duplicate_object', HINT = 'Drop it first, or pick another name.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.policy_object_check(text, text, regclass, text, regclass) IS
  'Internal: the checks of a row policy''s or write rule''s name, table and condition';

CREATE FUNCTION @extschema@.row_policy(name text, tbl regclass, predicate text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
AS $fn$
DECLARE
  compiled text;
BEGIN
  PERFORM @extschema@.policy_object_check('row policy', name, tbl, predicate,
            (SELECT p.table_name FROM @extschema@.row_policy p WHERE p.name = row_policy.name));
  compiled := @extschema@.policy_predicate(tbl, predicate);
  -- one statement's work: the PostgreSQL policy, row security on and
  -- forced (the owner too), and the definition -- or none of it
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'concord_' || name, tbl);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                 'concord_' || name, tbl, compiled, compiled);
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  INSERT INTO @extschema@.row_policy AS p (name, table_name, predicate, compiled)
  VALUES (row_policy.name, tbl, row_policy.predicate, compiled)
  ON CONFLICT ON CONSTRAINT row_policy_pkey DO UPDATE
    SET predicate = excluded.predicate, compiled = excluded.compiled,
        defined_by = current_user, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('row_policy', name, NULL,
                                   jsonb_build_object('table', tbl::text, 'predicate', predicate, 'compiled', compiled));
  RETURN compiled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.row_policy(text, regclass, text) IS
  'Defines (or redefines) a row policy: the rows of the table a member sees and writes; checks the predicate, compiles it into a forced PostgreSQL policy and returns the compiled condition';

-- Dropping a row policy or a write rule: the definition, the PostgreSQL
-- object it was compiled into, and an audit entry.
CREATE FUNCTION @extschema@.policy_object_drop(kind text, name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
AS $fn$
DECLARE
  tbl regclass;
  cond text;
BEGIN
  IF kind = 'row policy' THEN
    DELETE FROM @extschema@.row_policy r WHERE r.name = policy_object_drop.name RETURNING r.table_name, r.predicate INTO tbl, cond;
  ELSE
    DELETE FROM @extschema@.write_rule r WHERE r.name = policy_object_drop.name RETURNING r.table_name, r.predicate INTO tbl, cond;
  END IF;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF kind = 'row policy' THEN
    -- (row security stays on: a table without policies shows nothing)
    EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'concord_' || name, tbl);
  ELSE
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_wr_' || name, tbl);
  END IF;
  PERFORM @extschema@.audit_record(replace(kind, ' ', '_') || '_drop', name,
                                   jsonb_build_object('table', tbl::text, 'condition', cond), NULL);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.policy_object_drop(text, text) IS
  'Internal: drops a row policy or write rule, the object it was compiled into, and records it';

CREATE FUNCTION @extschema@.row_policy_drop(name text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.policy_object_drop('row policy', name);
COMMENT ON FUNCTION @extschema@.row_policy_drop(text) IS
  'Drops a row policy; row security stays on, so a table left without policies shows no rows to members';

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
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE @extschema@.column_mask IS
  'Column masks: what a column shows (mask) to those a condition (visible_to) does not let see its clear value, as written and as compiled into the table''s governed view';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.column_mask', '');

CREATE FUNCTION @extschema@.policy_mask(tbl regclass, col text, mask text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_policy_mask'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.policy_mask(regclass, text, text) IS
  'Checks a column mask (an expression of that column only, of its type) and returns it as concord would compile it';

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
  SELECT string_agg(CASE WHEN m.column_name IS NULL THEN pg_catalog.quote_ident(a.attname)
                         ELSE format('CASE WHEN %s THEN %I ELSE %s END AS %I',
                                     m.compiled_visible, a.attname, m.compiled_mask, a.attname) END,
                    ', ' ORDER BY a.attnum)
    INTO cols
    FROM pg_catalog.pg_attribute a
    LEFT JOIN @extschema@.column_mask m ON m.table_name = tbl AND m.column_name = a.attname
   WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped;
  -- who reads the view now (a rebuilt view keeps them) and who reads the
  -- table (they move to the view)
  SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object(
           'who', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
           'priv', x.privilege_type)), '[]')
    INTO readers
    FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) x
   WHERE c.oid IN (tbl, coalesce(pg_catalog.to_regclass(format('%I.%I', nsp, rel || '_governed')), tbl))
     AND x.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') AND x.grantee <> c.relowner;
  EXECUTE format('DROP VIEW IF EXISTS %I.%I', nsp, rel || '_governed');
  EXECUTE format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT %s FROM %s', nsp, rel || '_governed', cols, tbl);
  v := format('%I.%I', nsp, rel || '_governed')::regclass;
  EXECUTE format('ALTER VIEW %s OWNER TO %I', v, owner);
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
                 format('Governed view of %s: rows by its row policies, masked columns by concord.column_mask', tbl));
  FOR g IN SELECT e ->> 'who' AS who, e ->> 'priv' AS priv FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT %s ON %s TO %s', g.priv, v, g.who);
    EXECUTE format('REVOKE %s ON %s FROM %s', g.priv, tbl, g.who);
  END LOOP;
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governed_view_build(regclass) IS
  'Internal to column_mask: (re)builds the table''s governed view and moves the table''s SELECT grants to it';

CREATE FUNCTION @extschema@.column_mask(tbl regclass, col text, mask text, visible_to text DEFAULT 'false')
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cm text;
  cv text;
BEGIN
  IF tbl IS NULL OR col IS NULL OR mask IS NULL OR visible_to IS NULL THEN
    RAISE EXCEPTION 'column_mask needs a table, a column, a mask and who sees the clear value'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  cm := @extschema@.policy_mask(tbl, col, mask);
  cv := @extschema@.policy_predicate(tbl, visible_to);
  INSERT INTO @extschema@.column_mask AS m (table_name, column_name, mask, visible_to, compiled_mask, compiled_visible)
  VALUES (tbl, col, mask, visible_to, cm, cv)
  ON CONFLICT ON CONSTRAINT column_mask_pkey DO UPDATE
    SET mask = excluded.mask, visible_to = excluded.visible_to, compiled_mask = excluded.compiled_mask,
        compiled_visible = excluded.compiled_visible, defined_by = current_user, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('column_mask', tbl::text || '.' || col, NULL,
                                   jsonb_build_object('mask', mask, 'visible_to', visible_to));
  RETURN @extschema@.governed_view_build(tbl);
END
$fn$;
COMMENT ON FUNCTION @extschema@.column_mask(regclass, text, text, text) IS
  'Masks a column for everyone visible_to does not cover (default: everyone): checks both, stores them and (re)builds the table''s governed view <table>_governed; returns the view';

CREATE FUNCTION @extschema@.column_mask_drop(tbl regclass, col text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  DELETE FROM @extschema@.column_mask m WHERE m.table_name = tbl AND m.column_name = col;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('column_mask_drop', tbl::text || '.' || col);
  PERFORM @extschema@.governed_view_build(tbl);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.column_mask_drop(regclass, text) IS
  'Removes a column''s mask; the governed view shows the column in clear again';

-- Write rules: which changes a table accepts, by whom and in which state
-- of the row (process-state rules: only finance edits invoice_amount, and
-- only while the contract is signed; a closed contract is edited by
-- nobody).  Enforced by a row trigger per rule, carrying the compiled
-- condition as its argument (the writer needs no access to this table).
CREATE TABLE @extschema@.write_rule (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  table_name  regclass NOT NULL,
  columns     text[],
  operations  text[] NOT NULL,
  predicate   text NOT NULL,
  compiled    text NOT NULL,
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.write_rule IS
  'Write rules: a change of the columns (NULL: any) by the operations is allowed only where the condition holds -- on the row as it was (UPDATE, DELETE) or as inserted (INSERT)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.write_rule', '');

-- The trigger of a write rule: TG_ARGV = name, columns (a text[] literal,
-- empty for any), compiled condition.  Not SECURITY DEFINER: the condition
-- asks about the writer (concord.member reads the current user).
CREATE FUNCTION @extschema@.write_rule_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  cols text[] := TG_ARGV[1]::text[];
  c text;
  touched boolean := cardinality(cols) = 0 OR TG_OP <> 'UPDATE';
  diff boolean;
  ok boolean;
BEGIN
  FOREACH c IN ARRAY cols LOOP
    EXIT WHEN touched;
    EXECUTE format('SELECT ($1).%1$I IS DISTINCT FROM ($2).%1$I', c) INTO diff USING OLD, NEW;
    touched := diff;
  END LOOP;
  IF NOT touched THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) r', TG_ARGV[2]) INTO ok USING NEW;
  ELSE
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) r', TG_ARGV[2]) INTO ok USING OLD;
  END IF;
  IF NOT ok THEN
    RAISE EXCEPTION 'write rule "%" forbids this % on %', TG_ARGV[0], TG_OP, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = format('The rule allows %s only where: %s', CASE WHEN cardinality(cols) > 0 AND TG_OP = 'UPDATE'
                              THEN 'changes of ' || array_to_string(cols, ', ') ELSE 'it' END, TG_ARGV[2]),
            HINT = 'Ask someone the rule allows, or a governance change (concord.write_rule).';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.write_rule_check() IS
  'Trigger of the write rules (one trigger per rule; its arguments are the rule)';

CREATE FUNCTION @extschema@.write_rule(name text, tbl regclass, predicate text, columns text[] DEFAULT NULL,
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
COMMENT ON FUNCTION @extschema@.write_rule(text, regclass, text, text[], text[]) IS
  'Defines (or redefines) a write rule: changes of the columns (NULL: any) by the operations (default UPDATE and DELETE) are allowed only where the condition holds on the row as it was (as inserted, for INSERT); returns the compiled condition';

CREATE FUNCTION @extschema@.write_rule_drop(name text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.policy_object_drop('write rule', name);
COMMENT ON FUNCTION @extschema@.write_rule_drop(text) IS 'Drops a write rule and its trigger';

-- The audit log: governance changes and the rows written to audited
-- tables, each entry chained to the one before by SHA-256 (audit.c).
-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE TABLE @extschema@.audit_log (
  id            bigserial PRIMARY KEY,
  at            timestamptz NOT NULL,
  actor         text NOT NULL,
  session_actor text NOT NULL,
  action        text NOT NULL,
  object        text NOT NULL,
  old           jsonb,
  new           jsonb,
  prev_hash     bytea,
  hash          bytea NOT NULL
);
COMMENT ON TABLE @extschema@.audit_log IS
  'Append-only audit trail: who (the acting role and its session''s) did what (action) to what (object), with the values before and after; hash = SHA-256 of the entry and the previous entry''s hash (see audit_verify)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');

CREATE FUNCTION @extschema@.audit_log_refuse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RAISE EXCEPTION 'concord.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Entries are never changed or removed; concord.audit_verify() checks the chain.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_log_refuse() IS 'Trigger keeping concord.audit_log append-only';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON @extschema@.audit_log
  FOR EACH ROW EXECUTE FUNCTION @extschema@.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON @extschema@.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.audit_log_refuse();

CREATE FUNCTION @extschema@.audit_hash(prev bytea, id bigint, at timestamptz, actor text, action text,
                                       object text, old jsonb, new jsonb)
RETURNS bytea
AS 'MODULE_PATHNAME', 'concord_audit_hash'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.audit_hash(bytea, bigint, timestamptz, text, text, text, jsonb, jsonb) IS
  'SHA-256 of an audit entry''s fields (each length-prefixed) after the previous entry''s hash';

CREATE FUNCTION @extschema@.audit_record(action text, object text, old jsonb DEFAULT NULL, new jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'concord_audit_record'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb) IS
  'Appends an audit entry in the name of the current user (governance functions call it); returns its id';

CREATE FUNCTION @extschema@.audit_row()
RETURNS trigger
AS 'MODULE_PATHNAME', 'concord_audit_row'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.audit_row() IS
  'Trigger of audited tables: an audit entry per row inserted, updated or deleted, with the values before and after';

CREATE FUNCTION @extschema@.audit_table(tbl regclass)
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
  EXECUTE format('CREATE TRIGGER concord_audit AFTER INSERT OR UPDATE OR DELETE ON %s'
                 ' FOR EACH ROW EXECUTE FUNCTION %s.audit_row()', tbl, '@extschema@');
  PERFORM @extschema@.audit_record('audit_table', tbl::text);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.audit_table(regclass) IS
  'Marks a table audited: every row written to it is an audit entry from now on; false if it already was';

CREATE FUNCTION @extschema@.audit_verify()
RETURNS TABLE (entries bigint, intact boolean, first_broken bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  WITH c AS (
    SELECT l.id,
           l.hash = @extschema@.audit_hash(l.prev_hash, l.id, l.at, l.actor, l.action, l.object, l.old, l.new)
           AND l.prev_hash IS NOT DISTINCT FROM lag(l.hash) OVER (ORDER BY l.id) AS ok
      FROM @extschema@.audit_log l)
  SELECT count(*), coalesce(bool_and(c.ok), true), min(c.id) FILTER (WHERE NOT c.ok) FROM c
$fn$;
COMMENT ON FUNCTION @extschema@.audit_verify() IS
  'Checks the audit chain: every entry''s hash is that of its fields and the previous entry''s hash; the first entry that is not, if any (an entry changed, removed or inserted)';

-- Time-bound exceptions: a member asks to see rows her row policies do
-- not show (who, what, why, until); a member with approval rights who is
-- not she approves; the rows are hers until the time is up -- checked
-- when used, against the statement's clock, so no job has to run for the
-- grant to end.  access_tidy() removes what has expired.  Every step is
-- an audit entry.
CREATE TABLE @extschema@.access_request (
  id            bigserial PRIMARY KEY,
  role_name     text NOT NULL,
  table_name    regclass NOT NULL,
  predicate     text NOT NULL,
  compiled      text NOT NULL,
  reason        text NOT NULL CHECK (btrim(reason) <> ''),
  valid_until   timestamptz NOT NULL,
  status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected', 'expired')),
  requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  decided_by    text,
  decided_at    timestamptz
);
COMMENT ON TABLE @extschema@.access_request IS
  'Requests for time-bound access to rows beyond a member''s row policies: who, which rows (a predicate), why, until when, and who decided';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request_id_seq', '');

-- Whether grant id is approved and not yet expired, now (the statement's
-- clock, not the transaction's start).  Read as the extension's owner.
CREATE FUNCTION @extschema@.access_active(id bigint)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT coalesce((SELECT r.status = 'approved' AND pg_catalog.statement_timestamp() < r.valid_until
                     FROM @extschema@.access_request r WHERE r.id = access_active.id), false)
$fn$;
COMMENT ON FUNCTION @extschema@.access_active(bigint) IS
  'Whether an access grant is approved and still valid at the start of the current statement';

CREATE FUNCTION @extschema@.access_request(tbl regclass, predicate text, reason text, valid_until timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  compiled text;
  id bigint;
BEGIN
  -- (session_user: this function runs as its owner; the audit entry's
  -- session_actor is the requester too)
  IF NOT EXISTS (SELECT 1 FROM @extschema@.member m WHERE m.role_name = session_user) THEN
    RAISE EXCEPTION 'role "%" is no member: only members request access', session_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF tbl IS NULL OR predicate IS NULL OR reason IS NULL OR btrim(reason) = '' OR valid_until IS NULL THEN
    RAISE EXCEPTION 'an access request needs a table, which rows, a reason and an end'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF valid_until <= pg_catalog.now() OR valid_until > pg_catalog.now() + interval '90 days' THEN
    RAISE EXCEPTION 'access must end within 90 days from now, not at %', valid_until
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  compiled := @extschema@.policy_predicate(tbl, predicate);
  INSERT INTO @extschema@.access_request AS r (role_name, table_name, predicate, compiled, reason, valid_until)
  VALUES (session_user, tbl, predicate, compiled, reason, valid_until)
  RETURNING r.id INTO id;
  PERFORM @extschema@.audit_record('access_request', id::text, NULL,
    jsonb_build_object('role', session_user, 'table', tbl::text, 'rows', predicate, 'reason', reason, 'until', valid_until));
  RETURN id;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_request(regclass, text, text, timestamptz) IS
  'A member asks to see more rows of a table (a predicate) for a reason until a time (at most 90 days); returns the request''s id';

CREATE FUNCTION @extschema@.access_decide(id bigint, approve boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r @extschema@.access_request;
BEGIN
  SELECT * INTO r FROM @extschema@.access_request a WHERE a.id = access_decide.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no access request %', id USING ERRCODE = 'no_data_found';
  END IF;
  IF r.status <> 'requested' THEN
    RAISE EXCEPTION 'access request % is already %', id, r.status USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- (session_user: this function runs as its owner)
  IF NOT coalesce((SELECT (m.attributes ->> 'approver')::boolean FROM @extschema@.member m
                    WHERE m.role_name = session_user), false) THEN
    RAISE EXCEPTION 'role "%" may not decide access requests', session_user
      USING ERRCODE = 'insufficient_privilege', HINT = 'Approvers are members with the attribute {"approver": true}.';
  END IF;
  IF r.role_name = session_user THEN
    RAISE EXCEPTION 'role "%" may not decide its own access request', session_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF r.valid_until <= pg_catalog.now() THEN
    RAISE EXCEPTION 'access request % expired at %', id, r.valid_until USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE @extschema@.access_request a
     SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END, decided_by = session_user, decided_at = pg_catalog.now()
   WHERE a.id = r.id;
  IF approve THEN
    -- a policy of its own: her rows, while the grant lasts
    EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR SELECT TO PUBLIC USING (current_user = %L AND (SELECT %s.access_active(%s)) AND (%s))',
                   'concord_grant_' || r.id, r.table_name, r.role_name, '@extschema@', r.id, r.compiled);
  END IF;
  PERFORM @extschema@.audit_record(CASE WHEN approve THEN 'access_approve' ELSE 'access_reject' END, id::text);
  RETURN CASE WHEN approve THEN 'approved' ELSE 'rejected' END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_decide(bigint, boolean) IS
  'Approves or rejects an access request; by a member with {"approver": true} who is not the requester';

CREATE FUNCTION @extschema@.access_approve(id bigint) RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN @extschema@.access_decide(id, true);
COMMENT ON FUNCTION @extschema@.access_approve(bigint) IS 'Approves an access request (see access_decide)';
CREATE FUNCTION @extschema@.access_reject(id bigint) RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN @extschema@.access_decide(id, false);
COMMENT ON FUNCTION @extschema@.access_reject(bigint) IS 'Rejects an access request (see access_decide)';

-- Expired grants: marked expired, their policies dropped.  Nothing depends
-- on it running (an expired grant already shows nothing).
CREATE FUNCTION @extschema@.access_tidy()
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
AS $fn$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN UPDATE @extschema@.access_request a SET status = 'expired'
            WHERE a.status IN ('approved', 'requested') AND a.valid_until <= pg_catalog.now()
           RETURNING a.id, a.table_name LOOP
    -- (a table dropped since has taken its policies with it)
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.table_name) THEN
      EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'concord_grant_' || r.id, r.table_name);
    END IF;
    PERFORM @extschema@.audit_record('access_expire', r.id::text);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_tidy() IS
  'Marks expired access requests and grants expired and drops their policies; returns how many';

-- What a role would see of a table: the policies, masks and write rules
-- that apply, and the rows and a sample as that role sees them -- read as
-- that role (SET ROLE inside a subtransaction that is then rolled back),
-- not recomputed by hand.  Through the governed view if the table has
-- one (what members read), else the table.
CREATE FUNCTION @extschema@.explain_access(role_name text, tbl regclass, sample integer DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  src text;
  n bigint;
  rows jsonb;
  failure text;
BEGIN
  IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = explain_access.role_name) THEN
    RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
  END IF;
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'explain_access needs a table' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF sample IS NULL OR sample < 0 OR sample > 100 THEN
    RAISE EXCEPTION 'sample must be between 0 and 100 rows, not %', sample USING ERRCODE = 'invalid_parameter_value';
  END IF;
  src := coalesce((SELECT format('%I.%I', n.nspname, c.relname || '_governed')
                     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = tbl AND pg_catalog.to_regclass(format('%I.%I', n.nspname, c.relname || '_governed')) IS NOT NULL),
                  tbl::text);
  BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role_name);
    BEGIN
      EXECUTE format('SELECT count(*) FROM %s', src) INTO n;
      EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(s)), ''[]'') FROM (SELECT * FROM %s LIMIT %s) s', src, sample) INTO rows;
    EXCEPTION WHEN insufficient_privilege THEN
      failure := SQLERRM;
    END;
    -- (undo SET ROLE and anything the reads did)
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'concord.explain_access: done';
  EXCEPTION WHEN raise_exception THEN
    IF SQLERRM <> 'concord.explain_access: done' THEN
      RAISE;
    END IF;
  END;
  RETURN jsonb_build_object(
    'role', role_name,
    'table', tbl::text,
    'read_through', src,
    'member', (SELECT jsonb_build_object('department', m.department, 'title', m.title, 'attributes', m.attributes)
                 FROM @extschema@.member m WHERE m.role_name = explain_access.role_name),
    'row_policies', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', p.name, 'predicate', p.compiled) ORDER BY p.name), '[]')
                       FROM @extschema@.row_policy p WHERE p.table_name = tbl),
    'masks', (SELECT coalesce(jsonb_agg(jsonb_build_object('column', m.column_name, 'mask', m.compiled_mask,
                                                           'clear_for', m.compiled_visible) ORDER BY m.column_name), '[]')
                FROM @extschema@.column_mask m WHERE m.table_name = tbl),
    'write_rules', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', w.name, 'columns', w.columns,
                                                                 'operations', w.operations, 'condition', w.compiled) ORDER BY w.name), '[]')
                      FROM @extschema@.write_rule w WHERE w.table_name = tbl),
    'grants', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'rows', a.compiled, 'until', a.valid_until) ORDER BY a.id), '[]')
                 FROM @extschema@.access_request a WHERE a.table_name = tbl AND a.role_name = explain_access.role_name
                  AND a.status = 'approved' AND a.valid_until > pg_catalog.now()),
    'rows', n,
    'sample', rows,
    'refused', failure);
END
$fn$;
COMMENT ON FUNCTION @extschema@.explain_access(text, regclass, integer) IS
  'What a role would see of a table: its membership, the row policies, masks, write rules and grants that apply, and the row count and a sample read as that role (in a subtransaction rolled back afterwards)';

-- Governance is granted, not public; member() and member_in() are what
-- every policy calls, so every role may.
SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'department_add(text, text, text)', 'member_set(text, text, text, jsonb)',
    'policy_predicate(regclass, text)', 'row_policy(text, regclass, text)', 'row_policy_drop(text)',
    'policy_object_check(text, text, regclass, text, regclass)', 'policy_object_drop(text, text)',
    'policy_mask(regclass, text, text)', 'governed_view_build(regclass)',
    'column_mask(regclass, text, text, text)', 'column_mask_drop(regclass, text)',
    'write_rule(text, regclass, text, text[], text[])', 'write_rule_drop(text)',
    'audit_record(text, text, jsonb, jsonb)', 'audit_table(regclass)', 'audit_verify()', 'access_tidy()',
    'explain_access(text, regclass, integer)']);
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.row_policy, @extschema@.column_mask, @extschema@.write_rule TO concord_policy;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.member, @extschema@.department TO concord_policy;
GRANT SELECT ON @extschema@.audit_log TO concord_policy;
