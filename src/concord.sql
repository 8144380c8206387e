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
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'concord_http') THEN
    CREATE ROLE concord_http NOLOGIN;
    COMMENT ON ROLE concord_http IS 'concord: may call HTTP APIs from SQL (concord.http*, within concord.http_allow)';
  END IF;
END
$roles$;

CREATE FUNCTION @extschema@.worker_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_worker_wake'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_wake() IS
  'Asks the background launcher to look at every database now (false when concord is not preloaded)';
REVOKE EXECUTE ON FUNCTION @extschema@.worker_wake() FROM PUBLIC;
