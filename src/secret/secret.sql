/* concord — secret: credentials encrypted at rest, resolved only in C. */

CREATE TABLE @extschema@.secret (
  name        text PRIMARY KEY
              CONSTRAINT secret_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  key_id      text NOT NULL,
  sealed      bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  created_by  name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE @extschema@.secret IS
  'Named secrets, AES-256-GCM encrypted (nonce | ciphertext | tag, the name as associated data) under the key in concord.secret_key_file';
COMMENT ON COLUMN @extschema@.secret.key_id IS
  'First 8 bytes of SHA-256 of the key that sealed the value, in hex';
REVOKE ALL ON @extschema@.secret FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.secret', '');

-- Whether a secret of that name exists: how the other components (flow's
-- endpoints and headers) ask, rather than reading concord.secret.  For
-- concord's own code that runs as its owner; not for PUBLIC.
CREATE FUNCTION @extschema@.secret_exists(name text)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT EXISTS (SELECT 1 FROM @extschema@.secret s WHERE s.name OPERATOR(pg_catalog.=) secret_exists.name);
END;
COMMENT ON FUNCTION @extschema@.secret_exists(text) IS
  'Whether a secret of that name exists (for concord''s own code; never its value)';
REVOKE EXECUTE ON FUNCTION @extschema@.secret_exists(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.secret_set(name text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'concord_secret_set'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_set(text, text) IS
  'Stores or replaces a secret, encrypted; its value can never be read back through SQL';

CREATE FUNCTION @extschema@.secret_drop(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_secret_drop'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_drop(text) IS
  'Removes a secret; returns whether it existed';

CREATE FUNCTION @extschema@.secret_rotate_key()
RETURNS integer
AS 'MODULE_PATHNAME', 'concord_secret_rotate_key'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.secret_rotate_key() IS
  'Creates a new key, re-encrypts every secret under it and makes it current when the transaction commits; returns the number of secrets';

REVOKE EXECUTE ON FUNCTION
  @extschema@.secret_set(text, text),
  @extschema@.secret_drop(text),
  @extschema@.secret_rotate_key()
FROM PUBLIC;
