/* concord — policy: departments, members and row policies.  Joined after
 * identity into concord--<version>.sql by the Makefile; the policy
 * component's other parts (mask.sql, rules.sql, audit.sql, access.sql)
 * follow it. */

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

-- Governance is granted, not public; member() and member_in() are what
-- every policy calls, so every role may.
SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'department_add(text, text, text)', 'member_set(text, text, text, jsonb)',
    'policy_predicate(regclass, text)', 'row_policy(text, regclass, text)', 'row_policy_drop(text)',
    'policy_object_check(text, text, regclass, text, regclass)', 'policy_object_drop(text, text)']);
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.row_policy, @extschema@.member, @extschema@.department TO concord_policy;
