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
  admin       regrole,
  CHECK (parent IS DISTINCT FROM name)
);
COMMENT ON TABLE @extschema@.department IS
  'Departments (a tree: parent is the department above), e.g. sales > sales_east';
COMMENT ON COLUMN @extschema@.department.admin IS
  'The role that administers the department and those below it (adds sub-departments and members); NULL: its parents'' admins';
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
  defined_by  regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.row_policy IS
  'Row policies: who sees which rows of a table, as written (predicate) and as checked and compiled into a PostgreSQL policy (compiled)';
COMMENT ON COLUMN @extschema@.row_policy.compiled IS
  'The predicate written back from its checked parse tree, member lookups as scalar subqueries (evaluated once per query)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.row_policy', '');

-- Whether a role administers a department: it has the privileges of the
-- admin of the department or of one above it (strictly above: only those
-- above), of concord_admin, or is a superuser.
CREATE FUNCTION @extschema@.department_admin(who regrole, dept text, strictly_above boolean DEFAULT false)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.manages(who, 0::pg_catalog.oid::pg_catalog.regrole)
    OR EXISTS (WITH RECURSIVE up(name, parent, admin, depth) AS (
                 SELECT d.name, d.parent, d.admin, 0 FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) dept
                 UNION ALL
                 SELECT d.name, d.parent, d.admin, up.depth OPERATOR(pg_catalog.+) 1
                   FROM @extschema@.department d JOIN up ON d.name OPERATOR(pg_catalog.=) up.parent
                  WHERE up.depth OPERATOR(pg_catalog.<) 64)
               SELECT 1 FROM up
                WHERE up.admin IS NOT NULL AND (NOT strictly_above OR up.depth OPERATOR(pg_catalog.>) 0)
                  AND @extschema@.manages_any(who, ARRAY[up.admin]));
COMMENT ON FUNCTION @extschema@.department_admin(regrole, text, boolean) IS
  'Whether the role administers the department: it has the privileges of its admin or of the admin of a department above it (strictly_above: only above), of concord_admin, or is a superuser';

CREATE FUNCTION @extschema@.department_create(name text, parent text DEFAULT NULL, label text DEFAULT NULL,
                                           admin regrole DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  old @extschema@.department;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid department name: %', coalesce(pg_catalog.quote_literal(name), 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A department name is lower-case letters, digits and underscores, starting with a letter (sales, sales_east).';
  END IF;
  SELECT * INTO old FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) department_create.name FOR UPDATE;
  -- rights first: a department is changed by those above it, a new one made
  -- by the admins of its parent (a top-level one by concord_admin)
  IF old.name IS NOT NULL AND NOT @extschema@.department_admin(me, name, true) THEN
    RAISE EXCEPTION 'permission denied to change department "%"', name
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'A department is changed by the admins of the departments above it, or concord_admin.';
  END IF;
  IF parent IS NULL AND NOT @extschema@.manages(me, 0::pg_catalog.oid::pg_catalog.regrole) THEN
    RAISE EXCEPTION 'permission denied to make top-level department "%"', name
      USING ERRCODE = 'insufficient_privilege', HINT = 'Top-level departments are made by concord_admin (or a superuser).';
  END IF;
  IF parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) department_create.parent) THEN
    RAISE EXCEPTION 'unknown parent department "%" of department "%"', parent, name
      USING ERRCODE = 'undefined_object', HINT = 'Add the parent department first.';
  END IF;
  IF parent IS NOT NULL AND NOT @extschema@.department_admin(me, parent) THEN
    RAISE EXCEPTION 'permission denied to add a department under "%"', parent
      USING ERRCODE = 'insufficient_privilege', HINT = 'Sub-departments are added by the admins of the department (or above it).';
  END IF;
  IF parent IS NOT NULL AND old.name IS NOT NULL
     AND name OPERATOR(pg_catalog.=) ANY (ARRAY(WITH RECURSIVE up(n, depth) AS (
           SELECT parent, 0 UNION ALL
           SELECT d.parent, up.depth OPERATOR(pg_catalog.+) 1 FROM @extschema@.department d
             JOIN up ON d.name OPERATOR(pg_catalog.=) up.n WHERE d.parent IS NOT NULL AND up.depth OPERATOR(pg_catalog.<) 64)
         SELECT up.n FROM up)) THEN
    RAISE EXCEPTION 'department "%" cannot be put under "%", which is below it', name, parent
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO @extschema@.department AS d (name, parent, label, admin)
  VALUES (department_create.name, department_create.parent, department_create.label, department_create.admin)
  ON CONFLICT ON CONSTRAINT department_pkey DO UPDATE SET parent = excluded.parent, label = excluded.label, admin = excluded.admin;
  PERFORM @extschema@.audit_record('department_add', name, NULL,
                                   jsonb_build_object('parent', parent, 'label', label, 'admin', admin));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.department_create(text, text, text, regrole) IS
  'Adds a department (or changes its parent, label and admin): a top-level one by concord_admin, one below by the admins of its parent; returns its name';
-- Deprecated (0.2): the old name of department_create(), kept for one release.
SELECT @extschema@.deprecated_alias('department_add', '@extschema@.department_create(text, text, text, regrole)');

CREATE FUNCTION @extschema@.department_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  users text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) department_drop.name) THEN
    RETURN false;
  END IF;
  IF NOT @extschema@.department_admin(@extschema@.caller(), name, true) THEN
    RAISE EXCEPTION 'permission denied to drop department "%"', name
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'A department is dropped by the admins of the departments above it, or concord_admin.';
  END IF;
  SELECT string_agg(x, ', ' ORDER BY x) INTO users FROM (
    SELECT d.name AS x FROM @extschema@.department d WHERE d.parent OPERATOR(pg_catalog.=) department_drop.name
    UNION ALL SELECT m.role_name FROM @extschema@.member m WHERE m.department OPERATOR(pg_catalog.=) department_drop.name) u;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'department "%" still has departments or members: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop or move them first (department_drop, member_drop, member_create).';
  END IF;
  DELETE FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) department_drop.name;
  PERFORM @extschema@.audit_record('department_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.department_drop(text) IS
  'Drops an empty department (no departments below it, no members); by the admins of the departments above it';

-- May who set or drop the membership of role, in department (and the one
-- the role is in now)?  Its admins may; nobody changes her own.
CREATE FUNCTION @extschema@.member_check(who regrole, role_name text, department text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  now_in text;
BEGIN
  SELECT m.department INTO now_in FROM @extschema@.member m WHERE m.role_name OPERATOR(pg_catalog.=) member_check.role_name;
  IF NOT @extschema@.department_admin(who, department)
     OR (now_in IS NOT NULL AND NOT @extschema@.department_admin(who, now_in)) THEN
    RAISE EXCEPTION 'permission denied to manage member "%" of department "%"', role_name, coalesce(now_in, department)
      USING ERRCODE = 'insufficient_privilege', HINT = 'Members are managed by the admins of their department (or above it).';
  END IF;
  IF pg_catalog.to_regrole(pg_catalog.quote_ident(role_name)) IS NOT NULL
     AND pg_catalog.pg_has_role(who, pg_catalog.to_regrole(pg_catalog.quote_ident(role_name)), 'USAGE')
     AND NOT @extschema@.manages(who, 0::pg_catalog.oid::pg_catalog.regrole) THEN
    RAISE EXCEPTION 'permission denied to change the membership of "%": it would change your own', role_name
      USING ERRCODE = 'insufficient_privilege', HINT = 'Another admin of the department (or concord_admin) may.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.member_check(regrole, text, text) IS
  'Internal: the rights member_create and member_drop need';

CREATE FUNCTION @extschema@.member_create(role_name text, department text, title text DEFAULT NULL,
                                       attributes jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
BEGIN
  IF department IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.department d WHERE d.name OPERATOR(pg_catalog.=) member_create.department) THEN
    RAISE EXCEPTION 'unknown department "%" for member "%"', department, role_name
      USING ERRCODE = 'undefined_object', HINT = 'Add it with concord.department_create(name, parent).';
  END IF;
  PERFORM @extschema@.member_check(@extschema@.caller(), role_name, department);
  IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) member_create.role_name) THEN
    RAISE EXCEPTION 'role "%" does not exist', role_name
      USING ERRCODE = 'undefined_object', HINT = 'Create the role first (CREATE ROLE ... LOGIN).';
  END IF;
  IF attributes IS NULL OR pg_catalog.jsonb_typeof(attributes) OPERATOR(pg_catalog.<>) 'object' THEN
    RAISE EXCEPTION 'attributes of member "%" must be a JSON object, not %', role_name, coalesce(attributes::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For example {"region": "华东"}.';
  END IF;
  INSERT INTO @extschema@.member AS m (role_name, department, title, attributes)
  VALUES (member_create.role_name, member_create.department, member_create.title, member_create.attributes)
  ON CONFLICT ON CONSTRAINT member_pkey DO UPDATE
    SET department = excluded.department, title = excluded.title, attributes = excluded.attributes,
        updated_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('member_set', role_name, NULL,
                                   jsonb_build_object('department', department, 'title', title, 'attributes', attributes));
  RETURN role_name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.member_create(text, text, text, jsonb) IS
  'Makes a role a member of a department, with a title and attributes (or changes them), by an admin of the department (and of the one it leaves) who is not that role; returns the role';
-- Deprecated (0.2): the old name of member_create(), kept for one release.
SELECT @extschema@.deprecated_alias('member_set', '@extschema@.member_create(text, text, text, jsonb)');

CREATE FUNCTION @extschema@.member_drop(role_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  dept text;
BEGIN
  SELECT m.department INTO dept FROM @extschema@.member m WHERE m.role_name OPERATOR(pg_catalog.=) member_drop.role_name FOR UPDATE;
  IF dept IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.member_check(@extschema@.caller(), role_name, dept);
  DELETE FROM @extschema@.member m WHERE m.role_name OPERATOR(pg_catalog.=) member_drop.role_name;
  PERFORM @extschema@.audit_record('member_drop', role_name, jsonb_build_object('department', dept), NULL);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.member_drop(text) IS
  'Ends a role''s membership, by an admin of its department who is not that role';

-- Whether a role owns a table, or has its owner's privileges: what the
-- DDL of a policy, mask, write rule or audit trail on it needs.
CREATE FUNCTION @extschema@.owns_table(who regrole, tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                WHERE c.oid OPERATOR(pg_catalog.=) tbl AND pg_catalog.pg_has_role(who, c.relowner, 'USAGE'));
COMMENT ON FUNCTION @extschema@.owns_table(regrole, regclass) IS
  'Whether the role owns the table or has its owner''s privileges';

-- Refuses unless the caller owns the table (what the API functions that
-- run as concord's owner check before their DDL on it).
CREATE FUNCTION @extschema@.require_table_owner(who regrole, tbl regclass, what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF tbl IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid USING ERRCODE = 'undefined_table';
  END IF;
  IF tbl IS NOT NULL AND NOT @extschema@.owns_table(who, tbl) THEN
    RAISE EXCEPTION 'must be owner of table % to define %', tbl, what
      USING ERRCODE = 'insufficient_privilege', HINT = 'The table''s owner (or a role with her privileges) defines its governance.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.require_table_owner(regrole, regclass, text) IS
  'Internal: refuses unless the role owns the table';

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

CREATE FUNCTION @extschema@.row_policy_create(name text, tbl regclass, predicate text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  compiled text;
BEGIN
  PERFORM @extschema@.require_table_owner(me, tbl, format('row policy "%s"', name));
  PERFORM @extschema@.policy_object_check('row policy', name, tbl, predicate,
            (SELECT p.table_name FROM @extschema@.row_policy p WHERE p.name OPERATOR(pg_catalog.=) row_policy_create.name));
  compiled := @extschema@.policy_predicate(tbl, predicate);
  -- one statement's work: the PostgreSQL policy, row security on and
  -- forced (the owner too), and the definition -- or none of it
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'concord_' OPERATOR(pg_catalog.||) name, tbl);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                 'concord_' OPERATOR(pg_catalog.||) name, tbl, compiled, compiled);
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  INSERT INTO @extschema@.row_policy AS p (name, table_name, predicate, compiled, defined_by)
  VALUES (row_policy_create.name, tbl, row_policy_create.predicate, compiled, me)
  ON CONFLICT ON CONSTRAINT row_policy_pkey DO UPDATE
    SET predicate = excluded.predicate, compiled = excluded.compiled,
        defined_by = excluded.defined_by, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('row_policy', name, NULL,
                                   jsonb_build_object('table', tbl::text, 'predicate', predicate, 'compiled', compiled));
  -- its partitions and inheritance children get it too
  PERFORM @extschema@.governance_sync(tbl);
  RETURN compiled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.row_policy_create(text, regclass, text) IS
  'Defines (or redefines) a row policy: the rows of the table a member sees and writes; checks the predicate, compiles it into a forced PostgreSQL policy (on the table and on each of its partitions and inheritance children) and returns the compiled condition';
-- Deprecated (0.2): the old name of row_policy_create(), kept for one release.
SELECT @extschema@.deprecated_alias('row_policy', '@extschema@.row_policy_create(text, regclass, text)');

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
    SELECT r.table_name INTO tbl FROM @extschema@.row_policy r WHERE r.name = policy_object_drop.name;
  ELSE
    SELECT r.table_name INTO tbl FROM @extschema@.write_rule r WHERE r.name = policy_object_drop.name;
  END IF;
  PERFORM @extschema@.require_table_owner(@extschema@.caller(), tbl, format('%s "%s"', kind, name));
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
  -- and from its partitions and inheritance children
  PERFORM @extschema@.governance_sync(tbl);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.policy_object_drop(text, text) IS
  'Internal: drops a row policy or write rule, the object it was compiled into, and records it';

CREATE FUNCTION @extschema@.row_policy_drop(name text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
RETURN @extschema@.policy_object_drop('row policy', name);
COMMENT ON FUNCTION @extschema@.row_policy_drop(text) IS
  'Drops a row policy; row security stays on, so a table left without policies shows no rows to members';

-- Governance is granted, not public; member() and member_in() are what
-- every policy calls, so every role may.
SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'department_create(text, text, text, regrole)', 'department_add(text, text, text, regrole)', 'department_drop(text)', 'department_admin(regrole, text, boolean)',
    'member_create(text, text, text, jsonb)', 'member_set(text, text, text, jsonb)', 'member_drop(text)', 'owns_table(regrole, regclass)',
    'policy_predicate(regclass, text)', 'row_policy_create(text, regclass, text)', 'row_policy(text, regclass, text)', 'row_policy_drop(text)']);
-- (internal: run by the API above, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.policy_object_check(text, text, regclass, text, regclass),
                           @extschema@.policy_object_drop(text, text), @extschema@.member_check(regrole, text, text),
                           @extschema@.require_table_owner(regrole, regclass, text) FROM PUBLIC;
-- members of concord_policy read the definitions; only the API writes them
GRANT SELECT ON @extschema@.row_policy, @extschema@.member, @extschema@.department TO concord_policy;
