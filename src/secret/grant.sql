/* concord — secret: who may use each secret (src/secret/grant.c), and
 * secrets read from a file.  Joined into concord--<version>.sql by the
 * Makefile after the components that use secrets (http, sync, flow),
 * because their capability roles get EXECUTE on secret_usable here; no
 * part before it needs these objects while the script runs. */

CREATE TABLE @extschema@.secret_grant (
  secret      text NOT NULL
              REFERENCES @extschema@.secret (name) ON DELETE CASCADE ON UPDATE CASCADE,
  grantee     regrole NOT NULL,
  granted_by  regrole NOT NULL,
  granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (secret, grantee)
);
COMMENT ON TABLE @extschema@.secret_grant IS
  'Roles allowed to use a secret besides its owner (concord.secret.created_by) and superusers; members that inherit a grantee''s privileges may too';
COMMENT ON COLUMN @extschema@.secret_grant.grantee IS
  'The role allowed to use the secret (a group role reaches its members that inherit)';
COMMENT ON COLUMN @extschema@.secret_grant.granted_by IS
  'The owner or superuser who granted it';
REVOKE ALL ON @extschema@.secret_grant FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.secret_grant', '');

CREATE FUNCTION @extschema@.secret_grant(name text, role regrole)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_secret_grant'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_grant(text, regrole) IS
  'Allows a role (and the roles that inherit its privileges) to use a secret in requests, sources and endpoints; for the secret''s owner or a superuser; true if the grant is new';

CREATE FUNCTION @extschema@.secret_revoke(name text, role regrole)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_secret_revoke'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_revoke(text, regrole) IS
  'Takes back a grant of concord.secret_grant; for the secret''s owner or a superuser; true if there was one';

CREATE FUNCTION @extschema@.secret_usable(name text, role regrole)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_secret_usable'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.secret_usable(text, regrole) IS
  'Whether a role may use a secret: a superuser, its owner, or a role with the privileges of a grantee (false if the secret does not exist); checked again at every use';

CREATE FUNCTION @extschema@.secret_set_file(name text, path text)
RETURNS void
AS 'MODULE_PATHNAME', 'concord_secret_set_file'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_set_file(text, text) IS
  'Stores or replaces a secret whose value is read from a file on the database server (absolute path, regular file, at most 64 kB, one trailing line break dropped), so that no statement text holds it; superusers only';

REVOKE EXECUTE ON FUNCTION
  @extschema@.secret_grant(text, regrole),
  @extschema@.secret_revoke(text, regrole),
  @extschema@.secret_usable(text, regrole),
  @extschema@.secret_set_file(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.secret_usable(text, regrole) TO concord_http, concord_sync, concord_flow;
