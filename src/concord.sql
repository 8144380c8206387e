/* concord — core.  Joined first into concord--<version>.sql by the Makefile. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION concord" to load this file. \quit

COMMENT ON SCHEMA @extschema@ IS
  'concord: the governed data hub of the company''s departments (HTTP/API sync, unified customer, policies, metrics, flows)';

-- Roles see nothing they were not granted: every function below is revoked
-- from PUBLIC where it touches the network, secrets or governance.  The
-- schema itself is usable, so granted objects can be reached.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- One NOLOGIN role per capability, so a DBA grants a capability with one
-- GRANT (roles are cluster-wide: create it only once).
CREATE FUNCTION @extschema@.capability_role(name text, description text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = capability_role.name) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', name);
    EXECUTE format('COMMENT ON ROLE %I IS %L', name, 'concord: ' || description);
  END IF;
  -- concord_admin holds every capability
  IF name <> 'concord_admin' AND NOT pg_catalog.pg_has_role('concord_admin', name, 'MEMBER') THEN
    EXECUTE format('GRANT %I TO concord_admin', name);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.capability_role(text, text) IS
  'Install-time helper: creates a component''s NOLOGIN capability role unless it exists (roles are cluster-wide)';
REVOKE EXECUTE ON FUNCTION @extschema@.capability_role(text, text) FROM PUBLIC;
-- Who may change a concord object: its owner (or a role with her
-- privileges), a member of concord_admin, or a superuser.  Row policies on
-- concord's tables show each role its own objects with the same test.
SELECT @extschema@.capability_role('concord_admin',
  'may manage every concord object of every owner (rules, endpoints, alerts, metrics, policies)');

SELECT @extschema@.capability_role('concord_http', 'may call HTTP APIs from SQL (concord.http*, within concord.http_allow)');


-- The registration point of the components' SQL: what core runs for them.
-- A component's install script adds its rows (never a user: only
-- concord's owner writes this table).  kind 'cleanup': a function run at
-- DROP EXTENSION concord by extension_cleanup() (src/uninstall.sql), the
-- highest seq first, so a component is cleaned up before those it
-- uses; kind 'metrics': a function returning (ord int, line text), lines
-- of metrics_text() (src/monitor.sql).
CREATE TABLE @extschema@.component_hook (
  component     text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('cleanup', 'metrics')),
  function_name text NOT NULL CHECK (function_name ~ '^[a-z][a-z0-9_]*$'),
  seq           int NOT NULL,
  PRIMARY KEY (kind, function_name)
);
COMMENT ON TABLE @extschema@.component_hook IS
  'Internal: the functions core runs for each component (kind cleanup: at DROP EXTENSION concord; kind metrics: lines of metrics_text()), written by the install script';

-- Install-time helper: a component registers one of its functions with
-- core (see component_hook).
CREATE FUNCTION @extschema@.component_register(component text, kind text, function_name text, seq int)
RETURNS void
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  INSERT INTO @extschema@.component_hook (component, kind, function_name, seq)
    VALUES (component_register.component, component_register.kind, component_register.function_name, component_register.seq);
END;
COMMENT ON FUNCTION @extschema@.component_register(text, text, text, int) IS
  'Install-time helper: registers a component''s function with core (kind cleanup: run at DROP EXTENSION concord; kind metrics: lines of metrics_text())';
REVOKE EXECUTE ON FUNCTION @extschema@.component_register(text, text, text, int) FROM PUBLIC;

-- The checks of user expressions (src/expr.c): they only parse.
CREATE FUNCTION @extschema@.expr_check(rel regclass, alias text, expr text, condition boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_expr_check'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_check(regclass, text, text, boolean) IS
  'Checks an expression (or, when condition, a condition) over a relation''s columns against concord''s allowlist and returns it written back, columns qualified by alias';
CREATE FUNCTION @extschema@.expr_type(rel regclass, alias text, expr text)
RETURNS regtype
AS 'MODULE_PATHNAME', 'concord_expr_type'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_type(regclass, text, text) IS
  'The type of an expression over a relation''s columns, checked as expr_check does';
CREATE FUNCTION @extschema@.expr_check_over(alias text, names text[], types regtype[], expr text, condition boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_expr_check_over'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_check_over(text, text[], regtype[], text, boolean) IS
  'Checks an expression or condition over named columns of the given types (dimensions, metrics) and returns it written back, columns qualified by alias';
CREATE FUNCTION @extschema@.expr_names(expr text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'concord_expr_names'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expr_names(text) IS
  'The names (column references) an expression uses, each once, in order of first use';

-- The NOTICE of a deprecated name (0.2's renames to one vocabulary:
-- <object>_create / _drop, docs/architecture.md), raised by the wrapper
-- that keeps the old name for one release.
CREATE FUNCTION @extschema@.deprecated(old_name text, new_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RAISE NOTICE 'concord.%() is deprecated: use concord.%()', old_name, new_name
    USING HINT = 'The old name is kept for 0.2 only; it takes the same arguments as the new one.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.deprecated(text, text) IS
  'Internal to the deprecated names: a NOTICE saying which name replaces the one called';

-- Install-time helper: keep old_name as a deprecated name of new_function
-- for one release: a wrapper with the same arguments (and defaults) and
-- result, which raises deprecated()'s NOTICE and calls the new function.
-- Written once here rather than once per renamed function.
CREATE FUNCTION @extschema@.deprecated_alias(old_name text, new_function regprocedure)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  new_name text;
  args text;
BEGIN
  SELECT p.proname, string_agg(format('%I => %I', a.n, a.n), ', ' ORDER BY a.i)
    INTO new_name, args
    FROM pg_catalog.pg_proc p, unnest(p.proargnames) WITH ORDINALITY AS a(n, i)
   WHERE p.oid = new_function
   GROUP BY p.proname;
  EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql VOLATILE '
                 'SET search_path = pg_catalog, pg_temp AS %L',
                 '@extschema@', old_name, pg_catalog.pg_get_function_arguments(new_function),
                 pg_catalog.pg_get_function_result(new_function),
                 format('BEGIN PERFORM %I.deprecated(%L, %L); RETURN %I.%I(%s); END',
                        '@extschema@', old_name, new_name, '@extschema@', new_name, args));
  EXECUTE format('COMMENT ON FUNCTION %I.%I(%s) IS %L', '@extschema@', old_name,
                 pg_catalog.pg_get_function_identity_arguments(new_function),
                 format('Deprecated: the old name of concord.%s(), kept for 0.2 (a NOTICE says so)', new_name));
END
$fn$;
COMMENT ON FUNCTION @extschema@.deprecated_alias(text, regprocedure) IS
  'Install-time helper: makes old_name a deprecated wrapper of new_function (same arguments, a NOTICE, then the call)';
REVOKE EXECUTE ON FUNCTION @extschema@.deprecated_alias(text, regprocedure) FROM PUBLIC;

-- Each component's routines are for its role, none for PUBLIC: the
-- components' install scripts grant them with this.
CREATE FUNCTION @extschema@.grant_routines(grantee text, routines text[])
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY routines LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s.%s FROM PUBLIC', '@extschema@', r);
    EXECUTE format('GRANT EXECUTE ON ROUTINE %s.%s TO %I', '@extschema@', r, grantee);
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.grant_routines(text, text[]) IS
  'Install-time helper: revokes the routines (name(argument types)) from PUBLIC and grants them to the role';
REVOKE EXECUTE ON FUNCTION @extschema@.grant_routines(text, text[]) FROM PUBLIC;

-- Who holds which privilege on a relation, besides its owner: governed
-- views, published views and DROP EXTENSION move or keep readers with it.
CREATE FUNCTION @extschema@.relation_grants(rel regclass)
RETURNS TABLE (who text, priv text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
         x.privilege_type
    FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) x
   WHERE c.oid = rel AND x.grantee <> c.relowner;
END;
COMMENT ON FUNCTION @extschema@.relation_grants(regclass) IS
  'The privileges granted on a relation, as (grantee, privilege), the owner''s left out; a grantee ready for GRANT (quoted, or PUBLIC)';

CREATE FUNCTION @extschema@.worker_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_worker_wake'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_wake() IS
  'Asks the background launcher to look at every database now (false when concord is not preloaded)';
REVOKE EXECUTE ON FUNCTION @extschema@.worker_wake() FROM PUBLIC;

-- Triggers and functions that run as concord's owner convert a column of
-- someone's table only if its type is PostgreSQL's own: the casts of a
-- type someone created are that someone's code.
CREATE FUNCTION @extschema@.require_builtin_column(tbl regclass, col text)
RETURNS regtype
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'concord_require_builtin_column';
COMMENT ON FUNCTION @extschema@.require_builtin_column(regclass, text) IS
  'The column''s type if it is built in (or a domain or array over a built-in type); an error otherwise';

-- A person's query run with her rights and no more, from code that has
-- more (the worker's alert checks, definitions checked as their definer):
-- read-only, rolled back, and unable to change role.
CREATE FUNCTION @extschema@.eval_as(role regrole, sql text)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'concord_eval_as';
COMMENT ON FUNCTION @extschema@.eval_as(regrole, text) IS
  'Runs one statement as the role (which the caller must be able to act as), read-only, under a security-restricted context, rolled back; the first column of its first row if it is jsonb, else NULL';
REVOKE EXECUTE ON FUNCTION @extschema@.eval_as(regrole, text) FROM PUBLIC;

-- The role a running API function of concord's acts for (the one that
-- called it), or the current user outside them (docs/security.md).
CREATE FUNCTION @extschema@.caller()
RETURNS regrole
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'concord_caller_sql';
COMMENT ON FUNCTION @extschema@.caller() IS
  'Inside one of concord''s API functions that run as concord''s owner: the role it acts for; elsewhere the current user';

CREATE FUNCTION @extschema@.manages(owner regrole)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'concord_manages_sql';
COMMENT ON FUNCTION @extschema@.manages(regrole) IS
  'Whether the current user may manage objects the role owns: she has its privileges, or concord_admin''s, or is a superuser';

CREATE FUNCTION @extschema@.manages(role regrole, owner regrole)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'concord_manages_as_sql';
COMMENT ON FUNCTION @extschema@.manages(regrole, regrole) IS
  'Whether the role may manage objects the owner owns: it has the owner''s privileges, or concord_admin''s, or is a superuser';

-- Refuses unless the caller of the API function running now may manage an
-- object owned by owner (nothing to check for an object without one).
CREATE FUNCTION @extschema@.require_manages(kind text, name text, owner regrole, verb text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF owner IS NOT NULL AND NOT @extschema@.manages(@extschema@.caller(), owner) THEN
    RAISE EXCEPTION '% "%" belongs to "%"', kind, name, owner
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('Only its owner, a role with her privileges, or concord_admin may %s it.', verb);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.require_manages(text, text, regrole, text) IS
  'Internal to the API: refuses unless its caller may manage an object owned by the role (its privileges, concord_admin''s, or a superuser)';
REVOKE EXECUTE ON FUNCTION @extschema@.require_manages(text, text, regrole, text) FROM PUBLIC;

-- Refuses to redefine an object that exists unless the caller may
-- manage it (require_manages) and asked to (replace => true).  The one
-- check every _create with a replace argument makes.
CREATE FUNCTION @extschema@.require_redefinable(kind text, name text, owner regrole, present boolean, replace boolean)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  -- (not named found: PL/pgSQL's own FOUND would hide it)
  IF present IS NOT TRUE THEN
    RETURN;
  END IF;
  PERFORM @extschema@.require_manages(kind, name, owner, 'redefine');
  IF replace IS NOT TRUE THEN
    RAISE EXCEPTION '% "%" already exists', kind, name
      USING ERRCODE = 'duplicate_object', HINT = 'Pass replace => true to redefine it, or choose another name.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.require_redefinable(text, text, regrole, boolean, boolean) IS
  'Internal to the API: refuses to redefine an existing object unless its caller may manage it and passed replace => true';
REVOKE EXECUTE ON FUNCTION @extschema@.require_redefinable(text, text, regrole, boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.manages_any(role regrole, owners regrole[])
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'concord_manages_any_sql';
COMMENT ON FUNCTION @extschema@.manages_any(regrole, regrole[]) IS
  'Whether the role has the privileges of any of the roles (or concord_admin''s, or is a superuser)';

-- Concord's own code reading a table with the rights of the role that
-- registered it (identity's sources and events): one statement, as that
-- role, security-restricted; what it writes stays.
CREATE FUNCTION @extschema@.exec_as(role regrole, sql text, param text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'concord_exec_as';
COMMENT ON FUNCTION @extschema@.exec_as(regrole, text, text[]) IS
  'Runs one statement as the role (which the caller must be able to act as), under a security-restricted context, with param as $1; the rows it processed';
REVOKE EXECUTE ON FUNCTION @extschema@.exec_as(regrole, text, text[]) FROM PUBLIC;
