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
END
$fn$;
COMMENT ON FUNCTION @extschema@.capability_role(text, text) IS
  'Install-time helper: creates a component''s NOLOGIN capability role unless it exists (roles are cluster-wide)';
REVOKE EXECUTE ON FUNCTION @extschema@.capability_role(text, text) FROM PUBLIC;
SELECT @extschema@.capability_role('concord_http', 'may call HTTP APIs from SQL (concord.http*, within concord.http_allow)');

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

CREATE FUNCTION @extschema@.worker_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_worker_wake'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_wake() IS
  'Asks the background launcher to look at every database now (false when concord is not preloaded)';
REVOKE EXECUTE ON FUNCTION @extschema@.worker_wake() FROM PUBLIC;
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
/* concord — http: calling departments' HTTP/JSON APIs from SQL. */

------------------------------------------------------------------------------
-- Destination allowlist (superuser-managed configuration)
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.http_host_pattern_valid(pattern text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_http_host_pattern_valid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.http_host_pattern_valid(text) IS
  'Checks a concord.http_allow host pattern (host name, *.domain, IP address or CIDR block); raises an error naming the problem';

CREATE TABLE @extschema@.http_allow (
  id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  host_pattern  text NOT NULL
                CONSTRAINT http_allow_host_pattern_check
                CHECK (@extschema@.http_host_pattern_valid(host_pattern)),
  port          integer
                CONSTRAINT http_allow_port_check CHECK (port BETWEEN 1 AND 65535),
  allow_private boolean NOT NULL DEFAULT false,
  note          text,
  created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  created_by    name NOT NULL DEFAULT CURRENT_USER,
  CONSTRAINT http_allow_host_port_key UNIQUE NULLS NOT DISTINCT (host_pattern, port)
);
COMMENT ON TABLE @extschema@.http_allow IS
  'Hosts and ports concord.http* may reach; empty means nothing is allowed';
COMMENT ON COLUMN @extschema@.http_allow.host_pattern IS
  'Lower-case host name, *.domain (subdomains only), IP address or CIDR block';
COMMENT ON COLUMN @extschema@.http_allow.port IS
  'Port allowed; NULL means the scheme''s default (80 for http, 443 for https)';
COMMENT ON COLUMN @extschema@.http_allow.allow_private IS
  'A host admitted by name may connect to loopback, private and link-local addresses (never metadata addresses, which must be listed literally)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.http_allow', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.http_allow_id_seq', '');
REVOKE ALL ON @extschema@.http_allow FROM PUBLIC;

CREATE FUNCTION @extschema@.http_allow_host(
  host_pattern text,
  port integer DEFAULT NULL,
  allow_private boolean DEFAULT false,
  note text DEFAULT NULL)
RETURNS @extschema@.http_allow
LANGUAGE sql VOLATILE
BEGIN ATOMIC
  INSERT INTO @extschema@.http_allow AS a (host_pattern, port, allow_private, note)
  VALUES (pg_catalog.lower(pg_catalog.btrim(http_allow_host.host_pattern)),
          http_allow_host.port, http_allow_host.allow_private, http_allow_host.note)
  ON CONFLICT (host_pattern, port) DO UPDATE
    SET allow_private = excluded.allow_private,
        note = COALESCE(excluded.note, a.note)
  RETURNING *;
END;
COMMENT ON FUNCTION @extschema@.http_allow_host(text, integer, boolean, text) IS
  'Allows HTTP requests to a host pattern and port (superuser); returns the allowlist row';

CREATE FUNCTION @extschema@.http_disallow_host(
  host_pattern text,
  port integer DEFAULT NULL)
RETURNS boolean
LANGUAGE sql VOLATILE
BEGIN ATOMIC
  WITH d AS (
    DELETE FROM @extschema@.http_allow a
     WHERE a.host_pattern OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(http_disallow_host.host_pattern))
       AND a.port IS NOT DISTINCT FROM http_disallow_host.port
    RETURNING 1)
  SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM d;
END;
COMMENT ON FUNCTION @extschema@.http_disallow_host(text, integer) IS
  'Removes an allowlist row (superuser); returns whether one existed';

------------------------------------------------------------------------------
-- Requests and responses
------------------------------------------------------------------------------

CREATE TYPE @extschema@.http_response AS (
  status       integer,
  content_type text,
  headers      jsonb,
  body         text,
  body_bytes   bytea,
  elapsed_ms   double precision,
  url          text
);
COMMENT ON TYPE @extschema@.http_response IS
  'An HTTP response: status, content type, headers (lower-case names), body as text (NULL for binary content) and as bytes, elapsed time, final URL';

CREATE TYPE @extschema@.http_request AS (
  method       text,
  url          text,
  params       jsonb,
  headers      jsonb,
  body         text,
  content_type text
);
COMMENT ON TYPE @extschema@.http_request IS
  'One request of concord.http_batch()';

CREATE FUNCTION @extschema@.http_request(
  method text,
  url text,
  params jsonb DEFAULT NULL,
  headers jsonb DEFAULT NULL,
  body text DEFAULT NULL,
  content_type text DEFAULT NULL)
RETURNS @extschema@.http_request
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ROW(method, url, params, headers, body, content_type)::@extschema@.http_request;
COMMENT ON FUNCTION @extschema@.http_request(text, text, jsonb, jsonb, text, text) IS
  'Builds a concord.http_request for concord.http_batch()';

CREATE FUNCTION @extschema@.http(
  method text,
  url text,
  params jsonb DEFAULT NULL,
  headers jsonb DEFAULT NULL,
  body text DEFAULT NULL,
  content_type text DEFAULT NULL,
  timeout_ms integer DEFAULT NULL,
  connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL,
  max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
AS 'MODULE_PATHNAME', 'concord_http'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.http(text, text, jsonb, jsonb, text, text, integer, integer, integer, integer) IS
  'Sends one HTTP request and returns its response; any failure is an error';

CREATE FUNCTION @extschema@.http(request @extschema@.http_request)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http((request).method, (request).url, (request).params,
                        (request).headers, (request).body, (request).content_type);
COMMENT ON FUNCTION @extschema@.http(@extschema@.http_request) IS
  'Sends one HTTP request given as a concord.http_request';

CREATE FUNCTION @extschema@.http_get(url text, params jsonb DEFAULT NULL, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('GET', url, params, headers, NULL, NULL, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_get(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP GET';

CREATE FUNCTION @extschema@.http_head(url text, params jsonb DEFAULT NULL, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('HEAD', url, params, headers, NULL, NULL, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_head(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP HEAD';

CREATE FUNCTION @extschema@.http_delete(url text, params jsonb DEFAULT NULL, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('DELETE', url, params, headers, NULL, NULL, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_delete(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP DELETE';

CREATE FUNCTION @extschema@.http_post(url text, body text, content_type text DEFAULT 'text/plain; charset=utf-8', headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('POST', url, NULL, headers, body, content_type, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_post(text, text, text, jsonb, integer, integer, integer, integer) IS 'HTTP POST of a text body';

CREATE FUNCTION @extschema@.http_post(url text, body jsonb, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('POST', url, NULL, headers, body::text, 'application/json', timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_post(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP POST of a JSON body';

CREATE FUNCTION @extschema@.http_put(url text, body text, content_type text DEFAULT 'text/plain; charset=utf-8', headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('PUT', url, NULL, headers, body, content_type, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_put(text, text, text, jsonb, integer, integer, integer, integer) IS 'HTTP PUT of a text body';

CREATE FUNCTION @extschema@.http_put(url text, body jsonb, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('PUT', url, NULL, headers, body::text, 'application/json', timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_put(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP PUT of a JSON body';

CREATE FUNCTION @extschema@.http_patch(url text, body text, content_type text DEFAULT 'text/plain; charset=utf-8', headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('PATCH', url, NULL, headers, body, content_type, timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_patch(text, text, text, jsonb, integer, integer, integer, integer) IS 'HTTP PATCH of a text body';

CREATE FUNCTION @extschema@.http_patch(url text, body jsonb, headers jsonb DEFAULT NULL,
  timeout_ms integer DEFAULT NULL, connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL, max_redirects integer DEFAULT NULL)
RETURNS @extschema@.http_response
LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.http('PATCH', url, NULL, headers, body::text, 'application/json', timeout_ms, connect_timeout_ms, max_response_bytes, max_redirects);
COMMENT ON FUNCTION @extschema@.http_patch(text, jsonb, jsonb, integer, integer, integer, integer) IS 'HTTP PATCH of a JSON body';

CREATE FUNCTION @extschema@.http_batch(
  requests @extschema@.http_request[],
  max_connections integer DEFAULT NULL,
  max_host_connections integer DEFAULT NULL,
  timeout_ms integer DEFAULT NULL,
  connect_timeout_ms integer DEFAULT NULL,
  max_response_bytes integer DEFAULT NULL,
  max_redirects integer DEFAULT NULL)
RETURNS TABLE (
  ord          integer,
  method       text,
  status       integer,
  content_type text,
  headers      jsonb,
  body         text,
  body_bytes   bytea,
  elapsed_ms   double precision,
  url          text,
  error_code   text,
  error        text)
AS 'MODULE_PATHNAME', 'concord_http_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 100;
COMMENT ON FUNCTION @extschema@.http_batch(@extschema@.http_request[], integer, integer, integer, integer, integer, integer) IS
  'Sends many HTTP requests concurrently; one row per request in input order, failures as per-row errors';

------------------------------------------------------------------------------
-- Pure helpers
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.http_address_class(address text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_http_address_class'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.http_address_class(text) IS
  'The destination guard''s class of an IP address: public, loopback, private, link_local, metadata, unspecified, multicast or reserved';

CREATE FUNCTION @extschema@.http_redact_url(url text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_http_redact_url'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.http_redact_url(text) IS
  'A URL with credentials and secret-looking query values replaced by ***, as shown in errors and the call log';

------------------------------------------------------------------------------
-- Call log
------------------------------------------------------------------------------

CREATE TABLE @extschema@.http_call_log (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  called_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  role_name      name NOT NULL,
  method         text NOT NULL,
  url            text NOT NULL,
  status         integer,
  response_bytes bigint,
  elapsed_ms     double precision,
  error_code     text,
  error          text
);
CREATE INDEX http_call_log_called_at_idx ON @extschema@.http_call_log (called_at);
COMMENT ON TABLE @extschema@.http_call_log IS
  'One row per HTTP call while concord.http_log is on (URLs redacted); each role reads its own rows';
ALTER TABLE @extschema@.http_call_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY http_call_log_own_rows ON @extschema@.http_call_log
  FOR SELECT USING (role_name OPERATOR(pg_catalog.=) CURRENT_USER);
REVOKE ALL ON @extschema@.http_call_log FROM PUBLIC;

------------------------------------------------------------------------------
-- Privileges: network functions are not for PUBLIC
------------------------------------------------------------------------------

REVOKE EXECUTE ON FUNCTION
  @extschema@.http(text, text, jsonb, jsonb, text, text, integer, integer, integer, integer),
  @extschema@.http(@extschema@.http_request),
  @extschema@.http_get(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_head(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_delete(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_post(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_post(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_put(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_put(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_patch(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_patch(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_batch(@extschema@.http_request[], integer, integer, integer, integer, integer, integer),
  @extschema@.http_allow_host(text, integer, boolean, text),
  @extschema@.http_disallow_host(text, integer)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
  @extschema@.http(text, text, jsonb, jsonb, text, text, integer, integer, integer, integer),
  @extschema@.http(@extschema@.http_request),
  @extschema@.http_get(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_head(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_delete(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_post(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_post(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_put(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_put(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_patch(text, text, text, jsonb, integer, integer, integer, integer),
  @extschema@.http_patch(text, jsonb, jsonb, integer, integer, integer, integer),
  @extschema@.http_batch(@extschema@.http_request[], integer, integer, integer, integer, integer, integer)
TO concord_http;
GRANT SELECT ON @extschema@.http_call_log TO concord_http;
/* concord — sync: departments' APIs kept in step with tables. */

SELECT @extschema@.capability_role('concord_sync', 'may define and run API sources (concord.source_*, concord.sync)');

------------------------------------------------------------------------------
-- Sources (configuration) and their state
------------------------------------------------------------------------------

CREATE TABLE @extschema@.source (
  name        text PRIMARY KEY
              CONSTRAINT source_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  spec        jsonb NOT NULL
              CONSTRAINT source_spec_check CHECK (pg_catalog.jsonb_typeof(spec) = 'object'),
  owner       name NOT NULL DEFAULT CURRENT_USER,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.source IS
  'API sources: each spec describes one API (request, auth, pagination, records, mapping, mode) and its target table';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.source', '');
REVOKE ALL ON @extschema@.source FROM PUBLIC;

CREATE TABLE @extschema@.sync_state (
  source           text PRIMARY KEY
                   REFERENCES @extschema@.source (name) ON DELETE CASCADE,
  cursor_value     text,
  pass_run_id      bigint,
  pass_since       text,
  pass_max_cursor  text,
  next_page        bigint,
  next_offset      bigint,
  next_cursor      text,
  next_url         text,
  pass_pages       bigint,
  pass_records     bigint,
  updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.sync_state IS
  'Per source: the incremental cursor of the last complete pass, and the position of a pass in progress (committed with each batch of pages)';
COMMENT ON COLUMN @extschema@.sync_state.cursor_value IS
  'Largest cursor column value loaded by the last complete pass (JSON text: ISO 8601 for times)';
COMMENT ON COLUMN @extschema@.sync_state.pass_run_id IS
  'The run that started the pass in progress; NULL when no pass is in progress';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_state', '');
REVOKE ALL ON @extschema@.sync_state FROM PUBLIC;

CREATE TABLE @extschema@.sync_run (
  run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source         text NOT NULL,
  status         text NOT NULL
                 CONSTRAINT sync_run_status_check
                 CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  started_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  finished_at    timestamptz,
  resumed        boolean NOT NULL DEFAULT false,
  pages          bigint NOT NULL DEFAULT 0,
  requests       integer NOT NULL DEFAULT 0,
  retries        integer NOT NULL DEFAULT 0,
  records        bigint NOT NULL DEFAULT 0,
  inserted       bigint NOT NULL DEFAULT 0,
  updated        bigint NOT NULL DEFAULT 0,
  unchanged      bigint NOT NULL DEFAULT 0,
  deleted        bigint NOT NULL DEFAULT 0,
  rejected       bigint NOT NULL DEFAULT 0,
  since          text,
  cursor_before  text,
  cursor_after   text,
  error_code     text,
  error          text,
  run_by         name NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_run_run_id_seq', '');
CREATE INDEX sync_run_source_idx ON @extschema@.sync_run (source, run_id);
COMMENT ON TABLE @extschema@.sync_run IS
  'One row per run of concord.sync(): counts, status and error; counters are committed with each batch';
COMMENT ON COLUMN @extschema@.sync_run.resumed IS
  'The run continued a pass that an earlier run left unfinished';
COMMENT ON COLUMN @extschema@.sync_run.run_by IS
  'The role the run wrote as (the current user of the CALL)';
COMMENT ON COLUMN @extschema@.sync_run.since IS
  'Value sent in the incremental cursor parameter (the stored cursor less the lookback)';
REVOKE ALL ON @extschema@.sync_run FROM PUBLIC;

CREATE TABLE @extschema@.sync_reject (
  reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      bigint NOT NULL REFERENCES @extschema@.sync_run (run_id) ON DELETE CASCADE,
  source      text NOT NULL,
  page        integer NOT NULL,
  record      jsonb NOT NULL,
  reason      text NOT NULL,
  error_code  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_reject', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_reject_reject_id_seq', '');
CREATE INDEX sync_reject_run_idx ON @extschema@.sync_reject (run_id);
COMMENT ON TABLE @extschema@.sync_reject IS
  'Records a run could not load (bad type, missing key, constraint), with the raw record and the reason';
REVOKE ALL ON @extschema@.sync_reject FROM PUBLIC;

CREATE TABLE @extschema@.sync_seen (
  source  text NOT NULL,
  run_id  bigint NOT NULL,
  keys    text[] NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sync_seen', '');
CREATE INDEX sync_seen_source_idx ON @extschema@.sync_seen (source);
COMMENT ON TABLE @extschema@.sync_seen IS
  'Keys loaded by the full-refresh pass in progress, per page; rows whose keys are absent are deleted when the pass completes';
REVOKE ALL ON @extschema@.sync_seen FROM PUBLIC;

------------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.source_create(name text, spec jsonb)
RETURNS @extschema@.source
AS 'MODULE_PATHNAME', 'concord_source_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_create(text, jsonb) IS
  'Defines an API source from a spec (validated; the target table is created when the spec says so); returns the source row';

CREATE FUNCTION @extschema@.source_alter(name text, spec jsonb, reset_state boolean DEFAULT false)
RETURNS @extschema@.source
AS 'MODULE_PATHNAME', 'concord_source_alter'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_alter(text, jsonb, boolean) IS
  'Replaces a source''s spec (owner or superuser); reset_state forgets its cursor and any pass in progress';

CREATE FUNCTION @extschema@.source_drop(name text, drop_table boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_source_drop'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_drop(text, boolean) IS
  'Removes a source, its state and its pg_cron schedule (owner or superuser); drop_table also drops the target table; returns whether it existed';

CREATE FUNCTION @extschema@.source_reset(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_source_reset'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_reset(text) IS
  'Forgets a source''s incremental cursor and any pass in progress, so the next run starts from the beginning';

CREATE FUNCTION @extschema@.source_check(name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'concord_source_check'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.source_check(text) IS
  'Fetches the first page of a source and reports what a run would do with it (records, mapping problems, next page); writes nothing';

CREATE PROCEDURE @extschema@.sync(source text)
AS 'MODULE_PATHNAME', 'concord_sync'
LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.sync(text) IS
  'Runs a source: fetches its pages and upserts them into the target, committing data and state per batch of pages (CALL outside a transaction block)';

CREATE FUNCTION @extschema@.source_schedule(source_name text, schedule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  job bigint;
BEGIN
  IF source_name IS NULL OR schedule IS NULL THEN
    RAISE EXCEPTION 'source name and schedule must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.source s WHERE s.name OPERATOR(pg_catalog.=) source_name) THEN
    RAISE EXCEPTION 'source "%" does not exist', source_name
      USING ERRCODE = 'undefined_object',
            HINT = 'Create it first with concord.source_create(name, spec).';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'cannot schedule source "%": pg_cron is not installed in database "%"',
                    source_name, pg_catalog.current_database()
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Install the Debian package postgresql-15-cron, add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron.';
  END IF;
  BEGIN
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
      INTO job
      USING 'concord sync ' OPERATOR(pg_catalog.||) source_name, schedule,
            pg_catalog.format('CALL %I.sync(%L)', '@extschema@', source_name);
  EXCEPTION WHEN invalid_parameter_value OR internal_error OR data_exception THEN
    RAISE EXCEPTION 'invalid schedule "%" for source "%"', schedule, source_name
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = SQLERRM,
            HINT = 'Use a cron expression such as ''*/5 * * * *'' (every five minutes) or ''@hourly''.';
  END;
  RETURN job;
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_schedule(text, text) IS
  'Schedules CALL concord.sync(source) with pg_cron (job name "concord sync <source>", run as the calling role); returns the pg_cron job id';

CREATE FUNCTION @extschema@.source_unschedule(source_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  found boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RETURN false;
  END IF;
  -- a role without access to pg_cron cannot have scheduled anything
  IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1)'
    INTO found USING 'concord sync ' OPERATOR(pg_catalog.||) source_name;
  IF found THEN
    EXECUTE 'SELECT cron.unschedule($1)' USING 'concord sync ' OPERATOR(pg_catalog.||) source_name;
  END IF;
  RETURN found;
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_unschedule(text) IS
  'Removes the pg_cron schedule of a source; returns whether there was one';

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

-- every routine above is for concord_sync, none for PUBLIC
SELECT @extschema@.grant_routines('concord_sync', ARRAY[
    'source_create(text, jsonb)', 'source_alter(text, jsonb, boolean)', 'source_drop(text, boolean)',
    'source_reset(text)', 'source_check(text)', 'source_schedule(text, text)', 'source_unschedule(text)',
    'sync(text)']);
GRANT SELECT ON @extschema@.source, @extschema@.sync_state, @extschema@.sync_run,
  @extschema@.sync_reject TO concord_sync;
-- the delete at the end of a full-refresh pass runs as the caller and reads
-- the keys of the pass
GRANT SELECT ON @extschema@.sync_seen TO concord_sync;
/* concord — identity: one customer across the departments' systems.
 * This part: normalizers, script handling and similarity functions. */

------------------------------------------------------------------------------
-- Normalizers: IMMUTABLE, STRICT, PARALLEL SAFE (usable in indexes)
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.normalize_phone(phone text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_phone'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_phone(text) IS
  'A phone number in E.164 form (+8613812345678, +862112345678;ext=801), whatever its writing; NULL if it is not a usable number (see phone_problem)';

CREATE FUNCTION @extschema@.phone_problem(phone text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_phone_problem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_problem(text) IS
  'Why normalize_phone gives NULL for a number; NULL when the number is fine';

CREATE FUNCTION @extschema@.normalize_email(email text, strip_plus boolean DEFAULT false)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_email'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_email(text, boolean) IS
  'An email address trimmed, half-width and lower-case (strip_plus: name+tag@host becomes name@host); NULL unless it looks like local@domain.tld';

CREATE FUNCTION @extschema@.normalize_name(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_name(text) IS
  'A person''s name for comparison in its script: half-width, simplified Chinese, lower-case Latin, separators as single spaces';

CREATE FUNCTION @extschema@.name_key(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_name_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_key(text) IS
  'A name''s cross-script key: pinyin syllables or words joined, starting where the string is smallest (张三, 張三, Zhang San and San Zhang all give "sanzhang")';

CREATE FUNCTION @extschema@.name_syllables(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_name_syllables'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_syllables(text) IS
  'A name''s pinyin syllables (or Latin words), sorted: what matching compares when two name keys differ (董振华 / 董军 share one of four)';

CREATE FUNCTION @extschema@.normalize_company(company text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_company'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_company(text) IS
  'A company name without legal forms (有限公司, Co., Ltd., Inc., ...), parenthesised parts or a leading province or municipality; half-width, simplified, lower case';

CREATE TYPE @extschema@.address_parts AS (
  province text,
  city     text,
  district text,
  detail   text
);
COMMENT ON TYPE @extschema@.address_parts IS 'An address split into its administrative levels and the rest';

CREATE FUNCTION @extschema@.address_parts(address text)
RETURNS @extschema@.address_parts AS 'MODULE_PATHNAME', 'concord_address_parts'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.address_parts(text) IS
  'Province (full form), city, district or county, and the rest of a Chinese address';

CREATE FUNCTION @extschema@.normalize_address(address text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_address'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_address(text) IS
  'An address as "province city district detail" (a municipality once), half-width, simplified, without white space inside parts';

CREATE FUNCTION @extschema@.normalize_cn_id(id text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_cn_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_cn_id(text) IS
  'A resident ID number in its 18-character form (15-character ones converted), checksum and date of birth validated; NULL if invalid (see cn_id_problem)';

CREATE FUNCTION @extschema@.cn_id_problem(id text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_cn_id_problem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cn_id_problem(text) IS
  'Why normalize_cn_id gives NULL; NULL when the number is valid';

CREATE FUNCTION @extschema@.to_halfwidth(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_halfwidth'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_halfwidth(text) IS 'Full-width forms to half-width (ICU Fullwidth-Halfwidth)';

CREATE FUNCTION @extschema@.to_simplified(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_simplified'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_simplified(text) IS 'Traditional Chinese to simplified (ICU Hant-Hans)';

CREATE FUNCTION @extschema@.to_pinyin(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_pinyin'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_pinyin(text) IS 'Chinese to pinyin without tones, lower case (ICU Han-Latin; Latin-ASCII; Lower)';

------------------------------------------------------------------------------
-- Similarity
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.levenshtein(a text, b text)
RETURNS integer AS 'MODULE_PATHNAME', 'concord_levenshtein'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.levenshtein(text, text) IS 'Edit distance in characters (insert, delete, substitute)';

CREATE FUNCTION @extschema@.damerau_levenshtein(a text, b text)
RETURNS integer AS 'MODULE_PATHNAME', 'concord_damerau_levenshtein'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.damerau_levenshtein(text, text) IS 'Edit distance in characters counting a swap of neighbours as one (optimal string alignment)';

CREATE FUNCTION @extschema@.jaro_winkler(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_jaro_winkler'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.jaro_winkler(text, text) IS 'Jaro-Winkler similarity in [0, 1], on characters';

CREATE FUNCTION @extschema@.token_set_similarity(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_token_set_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.token_set_similarity(text, text) IS 'Shared distinct words over all distinct words (Jaccard), order ignored';

CREATE FUNCTION @extschema@.name_similarity(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_name_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_similarity(text, text) IS 'Jaro-Winkler of two names'' pinyin keys: across scripts, character sets and word order';

------------------------------------------------------------------------------
-- Resolution: sources, records, clusters, stable customer IDs
------------------------------------------------------------------------------

SELECT @extschema@.capability_role('concord_identity', 'may register identity sources and resolve customers');

CREATE TABLE @extschema@.identity_source (
  name          text PRIMARY KEY
                CONSTRAINT identity_source_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  source_table  regclass NOT NULL,
  key_column    name NOT NULL,
  columns       jsonb NOT NULL,
  priority      integer NOT NULL DEFAULT 100,
  created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_source IS
  'Tables whose rows describe customers: the key column and which columns carry name, phone, email, company, address, id_number, updated_at';
COMMENT ON COLUMN @extschema@.identity_source.priority IS
  'Survivorship tie-break: a lower number wins when two values are equally recent';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_source', '');

CREATE TABLE @extschema@.identity_record (
  -- (no foreign key: a million rows would check it one by one; dropping a
  -- source deletes its rows, and a full resolve keeps only registered ones)
  source      text NOT NULL,
  key         text NOT NULL,
  name_key    text,
  syllables   text,
  phone       text,
  email       text,
  company     text,
  address     text,
  id_number   text,
  updated_at  timestamptz,
  original    jsonb NOT NULL,
  extra       jsonb,
  PRIMARY KEY (source, key)
);

-- The indexes of identity_record -- its lookup indexes (partial: a missing
-- value is never looked up) -- and of customer_link, with their primary
-- keys.  A full resolve that brings many new rows drops them and builds
-- them again after the load -- a sorted build instead of an insert into
-- six indexes per row: 9 s instead of 17 s for a million rows, 4.6 s
-- instead of 7 s for a million links -- hence this function, run as the
-- extension's owner, which alone may.
CREATE FUNCTION @extschema@.identity_bulk_indexes(tbl text, present boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  idx record;
BEGIN
  IF tbl NOT IN ('identity_record', 'customer_link') THEN
    RAISE EXCEPTION 'no bulk indexes for table "%"', tbl USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR idx IN
    SELECT 'identity_record_' || col || '_idx' AS name,
           format('(%I%s) WHERE %I IS NOT NULL', col,
                  -- (a name with its employer: 王伟 at 华信软件 is looked up directly)
                  CASE col WHEN 'name_key' THEN ', company' ELSE '' END, col) AS def
      FROM unnest(ARRAY['phone', 'email', 'name_key', 'id_number', 'company']) col
     WHERE tbl = 'identity_record'
    UNION ALL
    SELECT 'identity_record_extra_idx', 'USING gin (extra jsonb_path_ops) WHERE extra IS NOT NULL'
     WHERE tbl = 'identity_record'
    UNION ALL
    SELECT 'customer_link_customer_idx', '(customer_id)' WHERE tbl = 'customer_link'
  LOOP
    IF present THEN
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s.%I %s', idx.name, '@extschema@', tbl, idx.def);
    ELSE
      EXECUTE format('DROP INDEX IF EXISTS %s.%I', '@extschema@', idx.name);
    END IF;
  END LOOP;
  -- and the primary key
  IF present AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                              WHERE conname = tbl || '_pkey'
                                AND conrelid = format('%s.%I', '@extschema@', tbl)::regclass) THEN
    EXECUTE format('ALTER TABLE %s.%I ADD CONSTRAINT %I PRIMARY KEY (source, key)', '@extschema@', tbl, tbl || '_pkey');
  ELSIF NOT present THEN
    EXECUTE format('ALTER TABLE %s.%I DROP CONSTRAINT IF EXISTS %I', '@extschema@', tbl, tbl || '_pkey');
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_bulk_indexes(text, boolean) IS
  'Internal to resolve: makes (true) or drops (false) the primary key and lookup indexes of identity_record or customer_link';

-- After a full resolve the tables it rewrote get fresh statistics, so that
-- the incremental runs that follow look rows up by index rather than scan
-- a million of them (ANALYZE needs the owner, hence SECURITY DEFINER).
CREATE FUNCTION @extschema@.identity_analyze(golden boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF golden THEN
    EXECUTE format('ANALYZE %s.customer', '@extschema@');
  ELSE
    EXECUTE format('ANALYZE %1$s.identity_record, %1$s.customer_link', '@extschema@');
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_analyze(boolean) IS
  'Internal to resolve: fresh statistics for identity_record and customer_link, or (golden) for customer';

SELECT @extschema@.identity_bulk_indexes('identity_record', true);
COMMENT ON TABLE @extschema@.identity_record IS
  'Every source row, normalized for matching (refreshed by resolve); original holds the values as the source wrote them';

-- How many people share a widely held value, as the last full resolve
-- counted them.  An incremental run takes these spreads instead of
-- counting distinct names behind an employer of 20,000 rows again (a
-- few more rows move such a weight by hundredths of a bit); values held
-- by fewer rows, or new since, are counted as they are.  Derived data: not
-- dumped, rebuilt by every full resolve.
CREATE TABLE @extschema@.identity_value_stat (
  attribute  text NOT NULL CHECK (attribute IN ('name_key', 'phone', 'email', 'company', 'id_number')),
  value      text NOT NULL,
  records    integer NOT NULL,
  spread     integer NOT NULL,
  PRIMARY KEY (attribute, value)
);
COMMENT ON TABLE @extschema@.identity_value_stat IS
  'Values held by many rows at the last full resolve, with how many rows held them and how many people share them (distinct names; distinct phones behind a name): incremental runs weigh agreements with these';

-- How many rows identity_record holds and how many customers there are:
-- counted by every full resolve, kept up to date by incremental ones (and
-- identity_source_drop): the population scale of the weights needs the
-- first, resolve reports the second, and counting a million rows cost an
-- incremental run a tenth of a second each.  Derived, not dumped.
CREATE TABLE @extschema@.identity_population (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  records  bigint NOT NULL CHECK (records >= 0),
  customers bigint CHECK (customers >= 0)
);
COMMENT ON TABLE @extschema@.identity_population IS
  'How many rows concord.identity_record holds (the population the match weights scale with) and how many customers there are, as resolve counted them (one row)';

CREATE SEQUENCE @extschema@.customer_id_seq;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_seq', '');

CREATE TABLE @extschema@.customer_link (
  source       text NOT NULL,
  key          text NOT NULL,
  customer_id  bigint NOT NULL,
  how          text NOT NULL,
  score        double precision,
  linked_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (source, key)
);
CREATE INDEX customer_link_customer_idx ON @extschema@.customer_link (customer_id);
COMMENT ON TABLE @extschema@.customer_link IS
  'Each source row''s customer ID, how it was linked (a rule, "score", or "alone") and its best match score';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_link', '');

CREATE TABLE @extschema@.customer_id_history (
  event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id  bigint NOT NULL,
  event        text NOT NULL CONSTRAINT customer_id_history_event_check
               CHECK (event IN ('created', 'merged', 'split')),
  other_id     bigint,
  at           timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX customer_id_history_customer_idx ON @extschema@.customer_id_history (customer_id);
COMMENT ON TABLE @extschema@.customer_id_history IS
  'What happened to customer IDs: created; merged (customer_id went into other_id); split (customer_id was split from other_id)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_history_event_id_seq', '');

CREATE TABLE @extschema@.customer (
  customer_id  bigint PRIMARY KEY,
  name         text,
  phone        text,
  email        text,
  company      text,
  address      text,
  id_number    text,
  records      integer NOT NULL,
  chosen_from  jsonb NOT NULL,
  updated_at   timestamptz
);
COMMENT ON TABLE @extschema@.customer IS
  'The golden record: one row per customer ID, each value chosen from its rows by the attribute''s survivorship rule (most recent by default; see identity_survivorship); chosen_from names the source row of each';
-- (derived by resolve, but kept by pg_dump: a restored database answers at once)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer', '');

CREATE TABLE @extschema@.identity_survivorship (
  attribute   text PRIMARY KEY CONSTRAINT identity_survivorship_attribute_check
              CHECK (attribute IN ('name', 'phone', 'email', 'company', 'address', 'id_number')),
  rule        text NOT NULL CONSTRAINT identity_survivorship_rule_check
              CHECK (rule IN ('most_recent', 'source_priority', 'longest', 'most_frequent')),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_survivorship IS
  'Which of a customer''s values the golden record keeps, per attribute: most_recent (the default), source_priority, longest, most_frequent; never a missing one';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_survivorship', '');

CREATE TABLE @extschema@.identity_constraint (
  constraint_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind           text NOT NULL CONSTRAINT identity_constraint_kind_check CHECK (kind IN ('must_link', 'cannot_link')),
  source_a       text NOT NULL,
  key_a          text NOT NULL,
  source_b       text NOT NULL,
  key_b          text NOT NULL,
  reason         text NOT NULL CONSTRAINT identity_constraint_reason_check CHECK (btrim(reason) <> ''),
  created_by     name NOT NULL DEFAULT CURRENT_USER,
  created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_constraint IS
  'Manual decisions, kept across resolves and audited: two source rows are one customer (must_link) or are not (cannot_link)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_constraint', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_constraint_constraint_id_seq', '');

CREATE TABLE @extschema@.identity_event (
  name             text PRIMARY KEY
                   CONSTRAINT identity_event_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  event_table      regclass NOT NULL,
  identity_source  text NOT NULL REFERENCES @extschema@.identity_source (name) ON DELETE CASCADE,
  key_column       name NOT NULL,
  at_column        name NOT NULL,
  label            text NOT NULL,
  detail_columns   name[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_event IS
  'Event mappings: rows of event_table are events (label, at at_column) of the customer whose identity_source row key_column names';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_event', '');

CREATE TABLE @extschema@.customer_event (
  customer_id  bigint NOT NULL,
  at           timestamptz,
  event        text NOT NULL,
  label        text NOT NULL,
  source       text NOT NULL,
  key          text NOT NULL,
  detail       jsonb NOT NULL
);
CREATE INDEX customer_event_customer_idx ON @extschema@.customer_event (customer_id, at);
COMMENT ON TABLE @extschema@.customer_event IS
  'Every mapped event of every customer (rebuilt by resolve): what happened when, from which row';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_event', '');

CREATE TABLE @extschema@.identity_queue (
  source     text NOT NULL,
  key        text NOT NULL,
  queued_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE @extschema@.identity_review (
  source_a  text NOT NULL,
  key_a     text NOT NULL,
  source_b  text NOT NULL,
  key_b     text NOT NULL,
  score     double precision NOT NULL,
  found_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (source_a, key_a, source_b, key_b)
);
CREATE INDEX identity_review_b_idx ON @extschema@.identity_review (source_b, key_b);
COMMENT ON TABLE @extschema@.identity_review IS
  'Pairs of rows that scored between the review and the match threshold and are in two customers: the strongest pair of each two customers, for a person to decide (rebuilt by resolve)';

COMMENT ON TABLE @extschema@.identity_queue IS
  'Source rows inserted, updated or deleted since the last resolve (written by the sources'' triggers, emptied by resolve and resolve_incremental)';

-- Statement-level trigger of a tracked source (one per event: transition
-- tables allow no more): queues the keys of the rows changed.  Runs as the
-- extension's owner so that whoever may write the source table need not
-- be granted the queue.
CREATE FUNCTION @extschema@.identity_queue_rows()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('INSERT INTO %s.identity_queue (source, key) SELECT $1, n.%I::text FROM new_rows n',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format('INSERT INTO %s.identity_queue (source, key) SELECT $1, o.%I::text FROM old_rows o',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  ELSE
    -- an update queues the old key and the new one, once if they are equal
    EXECUTE format('INSERT INTO %1$s.identity_queue (source, key)'
                   ' SELECT $1, n.%2$I::text FROM new_rows n UNION SELECT $1, o.%2$I::text FROM old_rows o',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  END IF;
  RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_queue_rows() IS
  'Trigger of tracked identity sources: queues the keys of changed rows for resolve_incremental';
REVOKE EXECUTE ON FUNCTION @extschema@.identity_queue_rows() FROM PUBLIC;

CREATE TABLE @extschema@.identity_attribute (
  name        text PRIMARY KEY
              CONSTRAINT identity_attribute_name_check CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'
                AND name NOT IN ('name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at', 'model')),
  compare     text NOT NULL CONSTRAINT identity_attribute_compare_check
              CHECK (compare IN ('exact', 'date', 'number', 'string')),
  tolerance   double precision CONSTRAINT identity_attribute_tolerance_check
              CHECK ((compare = 'number') = (tolerance IS NOT NULL) AND (tolerance IS NULL OR tolerance >= 0)),
  block       boolean NOT NULL DEFAULT false CONSTRAINT identity_attribute_block_check CHECK (NOT block OR compare = 'exact'),
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_attribute IS
  'Attributes beyond the built-in kinds (a date of birth, a passport number, a segment) and how they compare: exact, date (day/month swaps and year typos come close), number (within tolerance comes close), string (Jaro-Winkler >= 0.9 comes close); block: rows sharing a value are compared';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_attribute', '');

CREATE TABLE @extschema@.identity_weight (
  attribute   text NOT NULL,
  level       text NOT NULL,
  weight      double precision NOT NULL
              CONSTRAINT identity_weight_range_check CHECK (weight BETWEEN -100 AND 100),
  origin      text NOT NULL DEFAULT 'manual'
              CONSTRAINT identity_weight_origin_check CHECK (origin IN ('default', 'manual', 'estimated')),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (attribute, level),
  CONSTRAINT identity_weight_slot_check CHECK ((attribute, level) IN (
    ('id_number', 'agree'), ('id_number', 'disagree'), ('phone', 'agree'), ('phone', 'agree_landline'),
    ('phone', 'disagree'), ('email', 'agree'), ('email', 'disagree'), ('name', 'exact'), ('name', 'close'),
    ('name', 'near'), ('name', 'partial'), ('name', 'disagree'), ('company', 'agree'), ('company', 'close'), ('company', 'disagree'),
    ('address', 'agree'), ('address', 'disagree'), ('model', 'match_threshold'), ('model', 'review_threshold'),
    ('model', 'rule_name_min'))
    -- a declared attribute (concord.identity_attribute): its three levels
    OR (attribute NOT IN ('id_number', 'phone', 'email', 'name', 'company', 'address', 'model')
        AND level IN ('agree', 'close', 'disagree'))),
  -- thresholds a pair can fall under, and a similarity
  CONSTRAINT identity_weight_threshold_check
    CHECK (attribute <> 'model' OR level NOT IN ('match_threshold', 'review_threshold') OR weight > 0),
  CONSTRAINT identity_weight_similarity_check
    CHECK (attribute <> 'model' OR level <> 'rule_name_min' OR (weight > 0 AND weight <= 1))
);
COMMENT ON TABLE @extschema@.identity_weight IS
  'The matching model: log2(m/u) weight per attribute and agreement level, the match threshold and the phone rule''s name similarity; set by hand or by identity_estimate_weights';
INSERT INTO @extschema@.identity_weight (attribute, level, weight, origin) VALUES
  ('id_number', 'agree', 12, 'default'), ('id_number', 'disagree', -6, 'default'),
  ('phone', 'agree', 9, 'default'), ('phone', 'agree_landline', 4, 'default'), ('phone', 'disagree', -4, 'default'),
  ('email', 'agree', 9, 'default'), ('email', 'disagree', -2, 'default'),
  ('name', 'exact', 5, 'default'), ('name', 'close', 3, 'default'), ('name', 'near', 1, 'default'),
  ('name', 'partial', 0.5, 'default'), ('name', 'disagree', -4, 'default'),
  ('company', 'agree', 8, 'default'), ('company', 'close', 1.5, 'default'), ('company', 'disagree', -1, 'default'),
  ('address', 'agree', 3, 'default'), ('address', 'disagree', -1, 'default'),
  ('model', 'match_threshold', 8, 'default'), ('model', 'review_threshold', 4, 'default'),
  ('model', 'rule_name_min', 0.9, 'default');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_weight', 'WHERE origin <> ''default''');

CREATE FUNCTION @extschema@.identity_source_add(
  name text, source_table regclass, key_column text, columns jsonb, priority integer DEFAULT 100,
  track_changes boolean DEFAULT true)
RETURNS @extschema@.identity_source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  kinds constant text[] := ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at'];
  k text;
  col text;
  typ regtype;
  att @extschema@.identity_attribute;
  row @extschema@.identity_source;
BEGIN
  IF name IS NULL OR source_table IS NULL OR key_column IS NULL OR columns IS NULL THEN
    RAISE EXCEPTION 'name, source_table, key_column and columns must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF jsonb_typeof(columns) <> 'object' THEN
    RAISE EXCEPTION 'columns of identity source "%" must be a JSON object of kind: column, not %', name, jsonb_typeof(columns)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"name": "customer_name", "phone": "mobile", "updated_at": "modified_at"}.';
  END IF;
  PERFORM 1 FROM pg_attribute a WHERE a.attrelid = source_table AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key column "%" of identity source "%" does not exist in table %', key_column, name, source_table
      USING ERRCODE = 'undefined_column';
  END IF;
  FOR k, col IN SELECT e.key, e.value #>> '{}' FROM jsonb_each(columns) e LOOP
    SELECT * INTO att FROM @extschema@.identity_attribute a WHERE a.name = k;
    IF NOT k = ANY (kinds) AND att.name IS NULL THEN
      RAISE EXCEPTION 'unknown attribute kind "%" for identity source "%"', k, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Known kinds: ' || array_to_string(kinds, ', ') || coalesce(', ' ||
                       (SELECT string_agg(a.name, ', ' ORDER BY a.name) FROM @extschema@.identity_attribute a), '') ||
                     '; declare others with concord.identity_attribute_add.';
    END IF;
    IF jsonb_typeof(columns -> k) <> 'string' THEN
      RAISE EXCEPTION 'attribute "%" of identity source "%" must name a column, not %', k, name, columns -> k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = source_table AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" does not exist in table %', col, k, name, source_table
        USING ERRCODE = 'undefined_column';
    END IF;
    IF k = 'updated_at' AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
      RAISE EXCEPTION 'column "%" (updated_at) of identity source "%" must be a date or timestamp, not %', col, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF att.compare = 'date' AND typ NOT IN ('date'::regtype, 'timestamptz'::regtype, 'timestamp'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a date) of identity source "%" must be a date or timestamp, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Register a view that converts it, e.g. to_date(col, ''YYYY-MM-DD'').';
    END IF;
    IF att.compare = 'number' AND typ NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype,
                                             'real'::regtype, 'double precision'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a number) of identity source "%" must be numeric, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF k <> 'updated_at' AND att.compare IS DISTINCT FROM 'date' AND att.compare IS DISTINCT FROM 'number'
       AND typ NOT IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype,
                       'bigint'::regtype, 'integer'::regtype, 'numeric'::regtype) THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" must be text, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END LOOP;
  IF NOT (columns ?| ARRAY['name', 'phone', 'email', 'id_number']) THEN
    RAISE EXCEPTION 'identity source "%" needs at least one of name, phone, email, id_number', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Company and address alone cannot tell people apart.';
  END IF;
  INSERT INTO @extschema@.identity_source AS s (name, source_table, key_column, columns, priority)
  VALUES (identity_source_add.name, identity_source_add.source_table, identity_source_add.key_column,
          identity_source_add.columns, identity_source_add.priority)
  RETURNING * INTO row;
  IF track_changes THEN
    -- the caller needs the TRIGGER privilege on the table (its owner has it)
    FOR k IN SELECT unnest(ARRAY['insert', 'update', 'delete']) LOOP
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s REFERENCING %s FOR EACH STATEMENT'
                     ' EXECUTE FUNCTION %s.identity_queue_rows(%L, %L)',
                     'concord_identity_' || k || '_' || identity_source_add.name, k, source_table,
                     CASE k WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                            WHEN 'update' THEN 'NEW TABLE AS new_rows OLD TABLE AS old_rows'
                            ELSE 'OLD TABLE AS old_rows' END,
                     '@extschema@', identity_source_add.name, key_column);
    END LOOP;
  END IF;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'identity source "%" already exists', identity_source_add.name
    USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_source_add(text, regclass, text, jsonb, integer, boolean) IS
  'Registers a table whose rows describe customers: its key column and the columns carrying each kind of attribute; with track_changes, triggers queue changed rows for resolve_incremental';

CREATE FUNCTION @extschema@.identity_attribute_add(
  name text, compare text, tolerance double precision DEFAULT NULL, block boolean DEFAULT false,
  agree double precision DEFAULT NULL, close double precision DEFAULT NULL, disagree double precision DEFAULT NULL)
RETURNS @extschema@.identity_attribute
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  row @extschema@.identity_attribute;
  w_agree float8;
  w_close float8;
  w_disagree float8;
BEGIN
  IF name IS NULL OR compare IS NULL OR block IS NULL THEN
    RAISE EXCEPTION 'name, compare and block must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name = ANY (ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at', 'model']) THEN
    RAISE EXCEPTION '"%" is a built-in attribute kind', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the attribute something else, e.g. "birth_date".';
  END IF;
  IF name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid attribute name "%"', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use lower-case letters, digits and underscores.';
  END IF;
  IF NOT compare = ANY (ARRAY['exact', 'date', 'number', 'string']) THEN
    RAISE EXCEPTION 'unknown comparison "%" for attribute "%"', compare, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Comparisons: exact, date, number, string.';
  END IF;
  IF compare = 'number' AND (tolerance IS NULL OR tolerance < 0 OR tolerance = 'infinity' OR tolerance = 'NaN') THEN
    RAISE EXCEPTION 'attribute "%" compared as a number needs a tolerance of 0 or more, not %', name, coalesce(tolerance::text, 'null')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Numbers no further apart than the tolerance count as close.';
  END IF;
  IF compare <> 'number' AND tolerance IS NOT NULL THEN
    RAISE EXCEPTION 'a tolerance is for attributes compared as numbers, not as %', compare
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF block AND compare <> 'exact' THEN
    RAISE EXCEPTION 'only an attribute compared exactly can be a blocking key, not one compared as %', compare
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT count(*) FROM @extschema@.identity_attribute) >= 16 THEN
    RAISE EXCEPTION 'there are 16 declared attributes already' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- weights: log2(m/u) of each level; by default what such an attribute is
  -- worth when nothing is known about it
  w_agree := coalesce(agree, CASE compare WHEN 'date' THEN 6 WHEN 'exact' THEN 4 ELSE 3 END);
  w_close := CASE WHEN compare = 'exact' THEN NULL ELSE coalesce(close, CASE compare WHEN 'date' THEN 3 ELSE 1.5 END) END;
  w_disagree := coalesce(disagree, CASE compare WHEN 'date' THEN -3 WHEN 'exact' THEN -2 ELSE -1 END);
  IF compare = 'exact' AND close IS NOT NULL THEN
    RAISE EXCEPTION 'an attribute compared exactly has no "close" level' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF abs(w_agree) > 30 OR abs(coalesce(w_close, 0)) > 30 OR abs(w_disagree) > 30
     OR w_agree = 'NaN' OR w_close = 'NaN' OR w_disagree = 'NaN' THEN
    RAISE EXCEPTION 'weights of attribute "%" must be between -30 and 30 (log2 of a likelihood ratio)', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT (w_agree > w_disagree AND (w_close IS NULL OR (w_close <= w_agree AND w_close >= w_disagree))) THEN
    RAISE EXCEPTION 'weights of attribute "%" must order agree (%) >= close (%) >= disagree (%)', name, w_agree,
      coalesce(w_close::text, '-'), w_disagree
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Agreement is evidence for a match, disagreement against.';
  END IF;
  INSERT INTO @extschema@.identity_attribute (name, compare, tolerance, block)
  VALUES (name, compare, tolerance, block) RETURNING * INTO row;
  INSERT INTO @extschema@.identity_weight (attribute, level, weight, origin)
  SELECT name, l.level, l.weight, 'manual'
    FROM (VALUES ('agree', w_agree), ('close', w_close), ('disagree', w_disagree)) l(level, weight)
   WHERE l.weight IS NOT NULL;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'attribute "%" already exists', identity_attribute_add.name USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_attribute_add(text, text, double precision, boolean, double precision, double precision, double precision) IS
  'Declares an attribute beyond the built-in kinds and how it compares (exact, date, number with a tolerance, string), with its weights; sources then map a column to it by name';

CREATE FUNCTION @extschema@.identity_attribute_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  users text;
BEGIN
  SELECT string_agg(s.name, ', ' ORDER BY s.name) INTO users FROM @extschema@.identity_source s WHERE s.columns ? name;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'attribute "%" is used by identity sources %', name, users
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Drop those sources first, or register them again without it.';
  END IF;
  DELETE FROM @extschema@.identity_weight w WHERE w.attribute = name;
  DELETE FROM @extschema@.identity_attribute a WHERE a.name = name;
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_attribute_drop(text) IS
  'Removes a declared attribute no source uses, with its weights; returns whether it existed';

CREATE FUNCTION @extschema@.identity_survivorship_set(attribute text, rule text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
  IF attribute IS NULL OR rule IS NULL THEN
    RAISE EXCEPTION 'attribute and rule must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT attribute = ANY (ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number']) THEN
    RAISE EXCEPTION 'the golden record has no attribute "%"', attribute
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Attributes: name, phone, email, company, address, id_number.';
  END IF;
  IF NOT rule = ANY (ARRAY['most_recent', 'source_priority', 'longest', 'most_frequent']) THEN
    RAISE EXCEPTION 'unknown survivorship rule "%" for attribute "%"', rule, attribute
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Rules: most_recent, source_priority, longest, most_frequent.';
  END IF;
  INSERT INTO @extschema@.identity_survivorship AS v (attribute, rule) VALUES (attribute, rule)
  ON CONFLICT ON CONSTRAINT identity_survivorship_pkey DO UPDATE SET rule = excluded.rule, updated_at = pg_catalog.now();
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_survivorship_set(text, text) IS
  'Sets which value of a customer''s rows the golden record keeps for an attribute (most_recent, source_priority, longest, most_frequent); the next resolve applies it';

CREATE FUNCTION @extschema@.identity_event_add(
  name text, event_table regclass, identity_source text, key_column text, at_column text, label text,
  detail_columns text[] DEFAULT '{}')
RETURNS @extschema@.identity_event
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  col text;
  typ regtype;
  row @extschema@.identity_event;
BEGIN
  IF name IS NULL OR event_table IS NULL OR identity_source IS NULL OR key_column IS NULL
     OR at_column IS NULL OR label IS NULL THEN
    RAISE EXCEPTION 'name, event_table, identity_source, key_column, at_column and label must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.identity_source s WHERE s.name = identity_event_add.identity_source) THEN
    RAISE EXCEPTION 'identity source "%" does not exist', identity_source
      USING ERRCODE = 'undefined_object',
            HINT = 'Register it first with concord.identity_source_add.';
  END IF;
  FOREACH col IN ARRAY ARRAY[key_column, at_column] || coalesce(detail_columns, '{}') LOOP
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = event_table AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of event "%" does not exist in table %', col, name, event_table
        USING ERRCODE = 'undefined_column';
    END IF;
    IF col = at_column AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
      RAISE EXCEPTION 'column "%" (at) of event "%" must be a date or timestamp, not %', col, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END LOOP;
  INSERT INTO @extschema@.identity_event (name, event_table, identity_source, key_column, at_column, label, detail_columns)
  VALUES (identity_event_add.name, identity_event_add.event_table, identity_event_add.identity_source,
          identity_event_add.key_column, identity_event_add.at_column, identity_event_add.label,
          coalesce(identity_event_add.detail_columns, '{}'))
  RETURNING * INTO row;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'event "%" already exists', identity_event_add.name
    USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_event_add(text, regclass, text, text, text, text, text[]) IS
  'Declares that rows of a table are events of the customer whose identity-source row they name (a contract signed, an invoice issued, a ticket opened)';

CREATE FUNCTION @extschema@.identity_source_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t regclass;
  k text;
  n bigint;
BEGIN
  SELECT s.source_table INTO t FROM @extschema@.identity_source s WHERE s.name = identity_source_drop.name;
  IF t IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) t) THEN
    FOREACH k IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_identity_' || k || '_' || identity_source_drop.name, t);
    END LOOP;
  END IF;
  -- the links of its rows go; the customers are rebuilt by the next resolve
  DELETE FROM @extschema@.customer_link l WHERE l.source = identity_source_drop.name;
  DELETE FROM @extschema@.identity_queue q WHERE q.source = identity_source_drop.name;
  DELETE FROM @extschema@.identity_record r WHERE r.source = identity_source_drop.name;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE @extschema@.identity_population p SET records = p.records - n;
  -- (the spreads the last full run kept counted its rows: counted afresh)
  DELETE FROM @extschema@.identity_value_stat;
  DELETE FROM @extschema@.identity_review v
   WHERE v.source_a = identity_source_drop.name OR v.source_b = identity_source_drop.name;
  DELETE FROM @extschema@.identity_source s WHERE s.name = identity_source_drop.name;
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_source_drop(text) IS
  'Removes an identity source, its rows'' links and its event mappings; returns whether it existed';

CREATE FUNCTION @extschema@.identity_event_drop(name text)
RETURNS boolean
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH d AS (DELETE FROM @extschema@.identity_event e WHERE e.name OPERATOR(pg_catalog.=) identity_event_drop.name RETURNING 1)
  SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM d;
END;
COMMENT ON FUNCTION @extschema@.identity_event_drop(text) IS 'Removes an event mapping; returns whether it existed';

-- Neighbours of an incremental run: the rows sharing a value with a
-- changed row (pg_temp.identity_vals), other than those in
-- pg_temp.identity_scope, with their normalized values; a row sharing two
-- values comes twice (the reader drops the second, next to it in key order).  Read by
-- identity_cluster with the scope: they are compared with the changed rows;
-- their customers stay as they are unless a changed row joins or bridges
-- them.  (A value shared by more than max_block rows makes no pairs: its
-- rows stay out, or one 王伟 would pull in every 王伟.  Each value is counted
-- and its rows fetched through its index: a few thousand lookups, where a
-- join would read the million rows.)
CREATE FUNCTION @extschema@.identity_neighbours(max_block integer)
RETURNS TABLE (source text, key text, name_key text, syllables text, phone text, email text, company text,
               address text, id_number text, extra jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    SELECT r.source, r.key, r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra
    FROM (
          SELECT r.* FROM (SELECT DISTINCT v.phone FROM identity_vals v WHERE v.phone IS NOT NULL) v
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM @extschema@.identity_record r WHERE r.phone = v.phone) c
            CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r WHERE r.phone = v.phone OFFSET 0) r
           WHERE c.n <= max_block
    UNION ALL
          SELECT r.* FROM (SELECT DISTINCT v.email FROM identity_vals v WHERE v.email IS NOT NULL) v
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM @extschema@.identity_record r WHERE r.email = v.email) c
            CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r WHERE r.email = v.email OFFSET 0) r
           WHERE c.n <= max_block
    UNION ALL
          SELECT r.* FROM (SELECT DISTINCT v.name_key FROM identity_vals v WHERE v.name_key IS NOT NULL) v
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM @extschema@.identity_record r WHERE r.name_key = v.name_key) c
            CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r WHERE r.name_key = v.name_key OFFSET 0) r
           WHERE c.n <= max_block
    UNION ALL
          -- a name and an employer together (王伟 at 华信软件)
          SELECT r.*
            FROM (SELECT DISTINCT v.name_key, v.company FROM identity_vals v
                   WHERE v.name_key IS NOT NULL AND v.company IS NOT NULL) v
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM @extschema@.identity_record r
                                 WHERE r.name_key = v.name_key AND r.company = v.company) c
            CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r
                                 WHERE r.name_key = v.name_key AND r.company = v.company OFFSET 0) r
           WHERE c.n <= max_block
    UNION ALL
          SELECT r.* FROM (SELECT DISTINCT v.id_number FROM identity_vals v WHERE v.id_number IS NOT NULL) v
            CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r WHERE r.id_number = v.id_number OFFSET 0) r
    -- declared blocking attributes (a passport number): by the index on extra
    UNION ALL
          SELECT r.*
            FROM identity_vals v
            JOIN @extschema@.identity_attribute a ON a.block AND v.extra ? a.name
            JOIN @extschema@.identity_record r ON r.extra @> jsonb_build_object(a.name, v.extra ->> a.name)) r
    WHERE NOT EXISTS (SELECT 1 FROM identity_scope x WHERE x.source = r.source AND x.key = r.key);
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_neighbours(integer) IS
  'Internal to resolve_incremental: the rows sharing a value with a changed row, outside the scope';

CREATE FUNCTION @extschema@.identity_cluster(max_block integer, scoped boolean DEFAULT false)
RETURNS TABLE (source text, key text, cluster integer, how text, score double precision, pairs integer,
               old_customer bigint, old_how text, old_score double precision)
AS 'MODULE_PATHNAME', 'concord_identity_cluster'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_cluster(integer, boolean) IS
  'Internal to resolve: blocks, scores and clusters the normalized records';

CREATE FUNCTION @extschema@.identity_golden(scoped boolean)
RETURNS SETOF @extschema@.customer
AS 'MODULE_PATHNAME', 'concord_identity_golden'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_golden(boolean) IS
  'Internal to resolve: the golden record of every linked customer (scoped: of those in pg_temp.identity_touched), each value from the most recent row that has one';

CREATE FUNCTION @extschema@.identity_level_counts(sample integer)
RETURNS TABLE (attribute text, level text, random_pairs bigint, linked_pairs bigint)
AS 'MODULE_PATHNAME', 'concord_identity_level_counts'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_level_counts(integer) IS
  'Internal to identity_estimate_weights: agreement levels among random pairs of rows and among the pairs in one customer';

CREATE FUNCTION @extschema@.identity_estimate_weights(sample integer DEFAULT 100000, apply boolean DEFAULT false)
RETURNS TABLE (attribute text, level text, m double precision, u double precision,
               estimated double precision, current double precision)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH c AS (SELECT * FROM @extschema@.identity_level_counts(identity_estimate_weights.sample)),
  t AS (SELECT c.attribute, sum(c.random_pairs) AS r, sum(c.linked_pairs) AS l FROM c GROUP BY c.attribute),
  -- an attribute no pair compared on either side keeps its weight
  e AS (SELECT w.attribute, w.level,
               CASE WHEN t.l > 0 AND t.r > 0 THEN (coalesce(c.linked_pairs, 0) + 0.5) / (t.l + 1) END AS m,
               CASE WHEN t.l > 0 AND t.r > 0 THEN (coalesce(c.random_pairs, 0) + 0.5) / (t.r + 1) END AS u,
               w.weight AS current
          FROM @extschema@.identity_weight w
          LEFT JOIN c ON c.attribute = w.attribute AND c.level = w.level
          LEFT JOIN t ON t.attribute = w.attribute
         WHERE w.attribute <> 'model'),
  upd AS (UPDATE @extschema@.identity_weight w
             SET weight = round(log(2, (e.m / e.u)::numeric), 2), origin = 'estimated', updated_at = now()
            FROM e
           WHERE identity_estimate_weights.apply AND e.m IS NOT NULL
             AND w.attribute = e.attribute AND w.level = e.level
          RETURNING w.attribute)
  SELECT e.attribute, e.level, e.m::float8, e.u::float8, round(log(2, (e.m / e.u)::numeric), 2)::float8, e.current
    FROM e ORDER BY e.attribute, e.level;
END;
COMMENT ON FUNCTION @extschema@.identity_estimate_weights(integer, boolean) IS
  'One estimation step: u from random pairs of rows, m from the pairs the current links put together; weight = log2(m/u). Advisory: with apply the weights are stored (resolve again to use them), and the match threshold must then be reviewed';

CREATE FUNCTION @extschema@.why_matched(source_a text, key_a text, source_b text, key_b text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'concord_identity_compare'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.why_matched(text, text, text, text) IS
  'How two source rows compare: per attribute the values, agreement level and weight, the total score, the rule, and whether they match';

CREATE FUNCTION @extschema@.identity_load(source_name text, keys text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
DECLARE
  src @extschema@.identity_source;
  c jsonb;
  sel text;
BEGIN
  SELECT * INTO src FROM @extschema@.identity_source s WHERE s.name = source_name;
  IF keys IS NOT NULL THEN
    DELETE FROM @extschema@.identity_record r WHERE r.source = source_name AND r.key = ANY (keys);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) src.source_table) THEN
    RAISE EXCEPTION 'the table of identity source "%" no longer exists', src.name
      USING ERRCODE = 'undefined_table',
            HINT = 'Remove the source with concord.identity_source_drop(name), or register it again.';
  END IF;
  c := src.columns;
  -- all rows: into resolve's stage (pg_temp.identity_stage); some: in place
  sel := format(
    'INSERT INTO %s (source, key, name_key, syllables, phone, email, company, address, id_number, updated_at, original, extra)'
    ' SELECT %L, t.%I::text, %s, %s, %s, %s, %s, %s, %s, %s, jsonb_strip_nulls(jsonb_build_object(%s)), %s'
    ' FROM %s t WHERE t.%I IS NOT NULL%s',
    CASE WHEN keys IS NULL THEN 'pg_temp.identity_stage' ELSE '@extschema@.identity_record' END, src.name, src.key_column,
    CASE WHEN c ? 'name' THEN format('%s.name_key(t.%I::text)', '@extschema@', c->>'name') ELSE 'NULL' END,
    CASE WHEN c ? 'name' THEN format('%s.name_syllables(t.%I::text)', '@extschema@', c->>'name') ELSE 'NULL' END,
    CASE WHEN c ? 'phone' THEN format('%s.normalize_phone(t.%I::text)', '@extschema@', c->>'phone') ELSE 'NULL' END,
    CASE WHEN c ? 'email' THEN format('%s.normalize_email(t.%I::text)', '@extschema@', c->>'email') ELSE 'NULL' END,
    CASE WHEN c ? 'company' THEN format('%s.normalize_company(t.%I::text)', '@extschema@', c->>'company') ELSE 'NULL' END,
    CASE WHEN c ? 'address' THEN format('%s.normalize_address(t.%I::text)', '@extschema@', c->>'address') ELSE 'NULL' END,
    CASE WHEN c ? 'id_number' THEN format('%s.normalize_cn_id(t.%I::text)', '@extschema@', c->>'id_number') ELSE 'NULL' END,
    CASE WHEN c ? 'updated_at' THEN format('t.%I::timestamptz', c->>'updated_at') ELSE 'NULL' END,
    coalesce((SELECT string_agg(format('%L, t.%I::text', e.key, e.value #>> '{}'), ', ')
                FROM jsonb_each(c) e WHERE e.key <> 'updated_at'), ''),
    -- declared attributes, in the form their comparison reads
    coalesce((SELECT 'nullif(jsonb_strip_nulls(jsonb_build_object(' ||
                     string_agg(format('%L, %s', a.name,
                       CASE a.compare
                         WHEN 'date' THEN format('to_char(t.%I::date, ''YYYY-MM-DD'')', c->>a.name)
                         WHEN 'number' THEN format('t.%I::numeric::text', c->>a.name)
                         ELSE format('nullif(lower(btrim(%s.to_halfwidth(t.%I::text))), '''')', '@extschema@', c->>a.name)
                       END), ', ' ORDER BY a.name) || ')), ''{}'')'
                FROM @extschema@.identity_attribute a WHERE c ? a.name), 'NULL'),
    src.source_table, src.key_column,
    -- some keys only: as the key column's type, so that its index finds them
    CASE WHEN keys IS NULL THEN '' ELSE format(' AND t.%I = ANY ($1::%s[])', src.key_column,
      (SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid OPERATOR(pg_catalog.=) src.source_table AND a.attname OPERATOR(pg_catalog.=) src.key_column)) END);
  EXECUTE sel USING keys;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_load(text, text[]) IS
  'Internal to resolve: (re)reads a source''s rows -- all, or those with the given keys -- normalized, as the caller';

CREATE FUNCTION @extschema@.identity_apply(max_block integer, scoped boolean)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  ev @extschema@.identity_event;
  n_gone bigint;
  bulk boolean;
  n_made bigint;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  -- 2. clusters
  IF to_regclass('pg_temp.identity_cl') IS NOT NULL THEN
    DROP TABLE identity_cl, identity_n, identity_keep, identity_id;
  END IF;
  IF to_regclass('pg_temp.identity_touched') IS NOT NULL THEN
    DROP TABLE identity_touched;
  END IF;
  IF to_regclass('pg_temp.identity_review_found') IS NOT NULL THEN
    DROP TABLE identity_review_found;
  END IF;
  -- filled by identity_cluster
  CREATE TEMP TABLE identity_review_found (source_a text, key_a text, source_b text, key_b text, score float8)
    ON COMMIT DROP;
  CREATE TEMP TABLE identity_cl ON COMMIT DROP AS
    SELECT x.* FROM @extschema@.identity_cluster(max_block, scoped) x;
  -- (scoped: the rows of customers no changed row joined are not there,
  -- they stay as they were; one row, cluster -1, counts them and their pairs)
  SELECT count(x.source) + coalesce(sum(x.score) FILTER (WHERE x.cluster < 0), 0),
         coalesce(sum(x.pairs), 0) / 2
    INTO records, pairs FROM identity_cl x;
  IF scoped THEN
    DELETE FROM identity_cl x WHERE x.cluster < 0;
  END IF;
  ANALYZE identity_cl (source, key, cluster);

  RAISE DEBUG 'concord.resolve: clustered after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  -- 3. stable IDs.  Each old ID stays with the cluster holding most of its
  --    rows (ties: the first cluster); a cluster keeps the smallest (oldest)
  --    ID that stays with it, and the others staying there are merged into
  --    it.  A cluster no ID stays with gets a new ID: split off the IDs of
  --    its rows, or created if its rows had none.
  -- (scoped: identity_cluster knows the links the rows had)
  IF scoped THEN
    CREATE TEMP TABLE identity_n ON COMMIT DROP AS
      SELECT x.cluster, x.old_customer AS customer_id, count(*) AS n
      FROM identity_cl x WHERE x.old_customer IS NOT NULL
      GROUP BY 1, 2;
  ELSE
    CREATE TEMP TABLE identity_n ON COMMIT DROP AS
      SELECT x.cluster, l.customer_id, count(*) AS n
      FROM identity_cl x JOIN @extschema@.customer_link l USING (source, key)
      GROUP BY 1, 2;
  END IF;
  CREATE TEMP TABLE identity_keep ON COMMIT DROP AS
    SELECT DISTINCT ON (n.customer_id) n.customer_id, n.cluster
    FROM identity_n n ORDER BY n.customer_id, n.n DESC, n.cluster;
  CREATE TEMP TABLE identity_id ON COMMIT DROP AS
    SELECT k.cluster, min(k.customer_id) AS customer_id, false AS is_new
    FROM identity_keep k GROUP BY k.cluster;
  INSERT INTO @extschema@.customer_id_history (customer_id, event, other_id)
    SELECT k.customer_id, 'merged', i.customer_id
    FROM identity_keep k JOIN identity_id i USING (cluster)
    WHERE k.customer_id <> i.customer_id;
  GET DIAGNOSTICS merged = ROW_COUNT;
  INSERT INTO identity_id (cluster, customer_id, is_new)
    SELECT n.cluster, nextval('@extschema@.customer_id_seq'), true
    FROM (SELECT DISTINCT x.cluster FROM identity_cl x
           WHERE NOT EXISTS (SELECT 1 FROM identity_id i WHERE i.cluster = x.cluster)
           ORDER BY x.cluster) n;
  GET DIAGNOSTICS new_ids = ROW_COUNT;
  INSERT INTO @extschema@.customer_id_history (customer_id, event, other_id)
    SELECT DISTINCT i.customer_id, 'split', n.customer_id
    FROM identity_id i JOIN identity_n n USING (cluster)
    WHERE i.is_new;
  split := (SELECT count(*) FROM identity_id i
             WHERE i.is_new AND EXISTS (SELECT 1 FROM identity_n n WHERE n.cluster = i.cluster));
  INSERT INTO @extschema@.customer_id_history (customer_id, event)
    SELECT i.customer_id, 'created' FROM identity_id i
    WHERE i.is_new AND NOT EXISTS (SELECT 1 FROM identity_n n WHERE n.cluster = i.cluster);

  RAISE DEBUG 'concord.resolve: IDs assigned after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  CREATE INDEX ON identity_id (cluster);
  ANALYZE identity_id, identity_keep;
  -- 4. the links: changed only where the ID or the linkage changed
  -- the customers this run may change: all, or those of the rows in scope
  IF scoped THEN
    -- new customers, merged ones, and those that hold or held a core row
    -- (a neighbour's customer nothing joined is as it was)
    CREATE TEMP TABLE identity_touched ON COMMIT DROP AS
      SELECT i.customer_id FROM identity_id i WHERE i.is_new
      UNION SELECT k.customer_id FROM identity_keep k JOIN identity_id i USING (cluster) WHERE k.customer_id <> i.customer_id
      UNION SELECT i.customer_id FROM identity_id i
             WHERE i.cluster IN (SELECT x.cluster FROM identity_cl x JOIN identity_scope s ON s.source = x.source AND s.key = x.key
                                  WHERE s.core)
      UNION SELECT s.old_customer_id FROM identity_scope s WHERE s.core AND s.old_customer_id IS NOT NULL;
  ELSE
    -- (a full run rebuilds every customer: no list needed)
    CREATE TEMP TABLE identity_touched (customer_id bigint) ON COMMIT DROP;
  END IF;
  IF scoped THEN
    -- (the changed rows no longer in identity_record: deleted at the source)
    DELETE FROM @extschema@.customer_link l
     USING identity_scope s
     WHERE s.changed AND s.source = l.source AND s.key = l.key
       AND NOT EXISTS (SELECT 1 FROM @extschema@.identity_record r WHERE r.source = l.source AND r.key = l.key);
  ELSE
    DELETE FROM @extschema@.customer_link l
     WHERE NOT EXISTS (SELECT 1 FROM identity_cl x WHERE x.source = l.source AND x.key = l.key);
  END IF;
  -- (an update of what changed and an insert of what is new: cheaper than
  -- ON CONFLICT for a million rows)
  UPDATE @extschema@.customer_link l
     SET customer_id = i.customer_id, how = x.how, score = x.score, linked_at = pg_catalog.now()
    FROM identity_cl x JOIN identity_id i USING (cluster)
   WHERE l.source = x.source AND l.key = x.key
     AND (NOT scoped OR (x.old_customer, x.old_how, x.old_score) IS DISTINCT FROM (i.customer_id, x.how, x.score))
     AND (l.customer_id, l.how, l.score) IS DISTINCT FROM (i.customer_id, x.how, x.score);
  -- (most links new, a first resolve: the indexes are built after them)
  bulk := NOT scoped AND records > 50000
          AND (SELECT count(*) FROM @extschema@.customer_link) < records / 2;
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('customer_link', false);
  END IF;
  -- (the rows with their IDs first: planned with the anti-join, that join
  -- was a nested loop over both temporary tables)
  -- (scoped: the rows without a link before are the new ones)
  WITH x AS MATERIALIZED (SELECT x.source, x.key, i.customer_id, x.how, x.score
                            FROM identity_cl x JOIN identity_id i USING (cluster)
                           WHERE NOT scoped OR x.old_customer IS NULL)
  INSERT INTO @extschema@.customer_link (source, key, customer_id, how, score)
    SELECT x.source, x.key, x.customer_id, x.how, x.score FROM x
    WHERE scoped OR NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source = x.source AND l.key = x.key);
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('customer_link', true);
  END IF;
  -- the rows of a merged customer a scoped run did not read follow it
  IF scoped THEN
    UPDATE @extschema@.customer_link l SET customer_id = i.customer_id, linked_at = pg_catalog.now()
      FROM identity_keep k JOIN identity_id i USING (cluster)
     WHERE k.customer_id <> i.customer_id AND l.customer_id = k.customer_id;
  END IF;

  -- the pairs to review: those of the rows in this run are replaced
  IF scoped THEN
    -- those this run compared again: of a changed row, or of two core rows
    DELETE FROM @extschema@.identity_review v
     WHERE (v.source_a, v.key_a) IN (SELECT s.source, s.key FROM identity_scope s WHERE s.changed)
        OR (v.source_b, v.key_b) IN (SELECT s.source, s.key FROM identity_scope s WHERE s.changed)
        OR ((v.source_a, v.key_a) IN (SELECT s.source, s.key FROM identity_scope s WHERE s.core)
            AND (v.source_b, v.key_b) IN (SELECT s.source, s.key FROM identity_scope s WHERE s.core));
  ELSE
    DELETE FROM @extschema@.identity_review;
  END IF;
  INSERT INTO @extschema@.identity_review AS v (source_a, key_a, source_b, key_b, score)
    SELECT f.source_a, f.key_a, f.source_b, f.key_b, f.score FROM identity_review_found f
    -- a pair someone already decided is not asked again
    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.identity_constraint c
                       WHERE (c.source_a, c.key_a, c.source_b, c.key_b) IN ((f.source_a, f.key_a, f.source_b, f.key_b),
                                                                           (f.source_b, f.key_b, f.source_a, f.key_a)))
  ON CONFLICT (source_a, key_a, source_b, key_b) DO UPDATE SET score = excluded.score;
  DROP TABLE identity_review_found;

  RAISE DEBUG 'concord.resolve: linked after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  -- (a full run may have written most rows just now: the golden record's
  -- join of links and rows is planned on their statistics -- without
  -- them, a million index lookups)
  IF NOT scoped THEN
    PERFORM @extschema@.identity_analyze(false);
  END IF;
  -- 5. the golden record
  IF scoped THEN
    DELETE FROM @extschema@.customer c WHERE c.customer_id IN (SELECT customer_id FROM identity_touched);
  ELSE
    DELETE FROM @extschema@.customer;
  END IF;
  GET DIAGNOSTICS n_gone = ROW_COUNT;
  -- each attribute from the first row that has it in survivorship order
  -- (identity_golden: one sort, one pass)
  INSERT INTO @extschema@.customer (customer_id, name, phone, email, company, address, id_number, records, chosen_from, updated_at)
    SELECT * FROM @extschema@.identity_golden(scoped);
  GET DIAGNOSTICS n_made = ROW_COUNT;
  -- how many customers there are: counted by a full run, kept up to date
  -- by the others (a count of half a million rows cost a tenth of a second)
  IF scoped THEN
    UPDATE @extschema@.identity_population p SET customers = p.customers - n_gone + n_made
     RETURNING p.customers INTO customers;
  END IF;
  IF customers IS NULL THEN
    customers := (SELECT count(*) FROM @extschema@.customer);
    UPDATE @extschema@.identity_population p SET customers = identity_apply.customers;
  END IF;

  RAISE DEBUG 'concord.resolve: golden record built after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  -- 6. the timeline: every mapped event, of the customer its row names
  IF scoped THEN
    DELETE FROM @extschema@.customer_event e WHERE e.customer_id IN (SELECT customer_id FROM identity_touched);
  ELSE
    DELETE FROM @extschema@.customer_event;
  END IF;
  FOR ev IN SELECT * FROM @extschema@.identity_event ORDER BY identity_event.name LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) ev.event_table) THEN
      RAISE EXCEPTION 'the table of event "%" no longer exists', ev.name
        USING ERRCODE = 'undefined_table',
              HINT = 'Remove the event with concord.identity_event_drop(name), or declare it again.';
    END IF;
    EXECUTE format(
      'INSERT INTO %s.customer_event (customer_id, at, event, label, source, key, detail)'
      ' SELECT l.customer_id, e.%I::timestamptz, %L, %L, %L, e.%I::text, jsonb_strip_nulls(jsonb_build_object(%s))'
      ' FROM %s e JOIN %s.customer_link l ON l.source = %L AND l.key = e.%I::text'
      ' WHERE NOT $1 OR l.customer_id IN (SELECT t.customer_id FROM identity_touched t)',
      '@extschema@', ev.at_column, ev.name, ev.label, ev.identity_source, ev.key_column,
      coalesce((SELECT string_agg(format('%L, e.%I', d, d), ', ') FROM unnest(ev.detail_columns) d), ''),
      ev.event_table, '@extschema@', ev.identity_source, ev.key_column) USING scoped;
  END LOOP;

  IF NOT scoped THEN
    PERFORM @extschema@.identity_analyze(true);
  END IF;
  RAISE DEBUG 'concord.resolve: timeline built after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  IF to_regclass('pg_temp.identity_touched') IS NOT NULL THEN
    DROP TABLE identity_touched;
  END IF;
  RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_apply(integer, boolean) IS
  'Internal to resolve: clusters the normalized rows (all, or those in pg_temp.identity_scope), keeps IDs stable, rebuilds links, golden records and timelines of the customers touched';

CREATE FUNCTION @extschema@.resolve(max_block integer DEFAULT 200)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
DECLARE
  s text;
  n_new bigint;
  bulk boolean;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF max_block IS NULL OR max_block < 2 OR max_block > 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- one resolve at a time
  PERFORM pg_advisory_xact_lock(hashtext('concord.resolve'), 1131);
  -- a full run covers whatever was queued
  DELETE FROM @extschema@.identity_queue;
  -- every source's rows, normalized, into a stage; then only what changed
  -- into identity_record (a rerun on unchanged data writes nothing)
  IF to_regclass('pg_temp.identity_stage') IS NOT NULL THEN
    DROP TABLE identity_stage;
  END IF;
  CREATE TEMP TABLE identity_stage (LIKE @extschema@.identity_record) ON COMMIT DROP;
  FOR s IN SELECT name FROM @extschema@.identity_source ORDER BY name LOOP
    PERFORM @extschema@.identity_load(s, NULL);
  END LOOP;
  -- (statistics of the columns joined on only: ANALYZE of every column of a
  -- wide table cost 0.4 s, even for 30,000 rows)
  ANALYZE identity_stage (source, key);
  RAISE DEBUG 'concord.resolve: % rows read and normalized after % ms', (SELECT count(*) FROM identity_stage),
    round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  DELETE FROM @extschema@.identity_record r
   WHERE NOT EXISTS (SELECT 1 FROM identity_stage t WHERE t.source = r.source AND t.key = r.key);
  UPDATE @extschema@.identity_record r
     SET name_key = t.name_key, syllables = t.syllables, phone = t.phone, email = t.email, company = t.company,
         address = t.address, id_number = t.id_number, updated_at = t.updated_at, original = t.original, extra = t.extra
    FROM identity_stage t
   WHERE r.source = t.source AND r.key = t.key
     AND (r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.updated_at, r.original, r.extra)
         IS DISTINCT FROM
         (t.name_key, t.syllables, t.phone, t.email, t.company, t.address, t.id_number, t.updated_at, t.original, t.extra);
  -- many rows and most of them new (a first resolve): the lookup indexes
  -- are built after the load
  bulk := (SELECT count(*) FROM identity_stage) > 50000
          AND (SELECT count(*) FROM @extschema@.identity_record) < (SELECT count(*) FROM identity_stage) / 2;
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('identity_record', false);
  END IF;
  -- (stored in name order: the rows of a name block, which an incremental
  -- run reads through the name index, then lie on a few pages rather than
  -- one page each)
  INSERT INTO @extschema@.identity_record
    SELECT t.* FROM identity_stage t
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.identity_record r WHERE r.source = t.source AND r.key = t.key)
     ORDER BY t.name_key COLLATE "C", t.company COLLATE "C";
  GET DIAGNOSTICS n_new = ROW_COUNT;
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('identity_record', true);
  END IF;
  DROP TABLE identity_stage;
  RAISE DEBUG 'concord.resolve: % new rows stored after % ms', n_new,
    round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  RETURN QUERY SELECT * FROM @extschema@.identity_apply(max_block, false);
END
$fn$;
COMMENT ON FUNCTION @extschema@.resolve(integer) IS
  'Full resolve: reads every registered source, matches and clusters its rows, keeps customer IDs stable, rebuilds the golden record; returns what it did';


CREATE FUNCTION @extschema@.resolve_incremental(max_block integer DEFAULT 200)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
DECLARE
  s record;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF max_block IS NULL OR max_block < 2 OR max_block > 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('concord.resolve'), 1131);
  IF to_regclass('pg_temp.identity_scope') IS NOT NULL THEN
    DROP TABLE identity_scope, identity_changed, identity_vals;
  END IF;

  -- the rows changed since the last resolve (queued by the sources' triggers)
  CREATE TEMP TABLE identity_changed ON COMMIT DROP AS
    WITH q AS (DELETE FROM @extschema@.identity_queue RETURNING source, key)
    SELECT DISTINCT q.source, q.key FROM q
    WHERE EXISTS (SELECT 1 FROM @extschema@.identity_source x WHERE x.name = q.source);
  -- their values before and after: every row sharing one is in scope
  CREATE TEMP TABLE identity_vals ON COMMIT DROP AS
    SELECT false AS is_new, r.name_key, r.phone, r.email, r.id_number, r.extra, r.company FROM @extschema@.identity_record r
    JOIN identity_changed c USING (source, key);
  FOR s IN SELECT c.source, pg_catalog.array_agg(c.key) AS keys FROM identity_changed c GROUP BY c.source LOOP
    PERFORM @extschema@.identity_load(s.source, s.keys);
  END LOOP;
  INSERT INTO identity_vals
    SELECT true, r.name_key, r.phone, r.email, r.id_number, r.extra, r.company FROM @extschema@.identity_record r
    JOIN identity_changed c USING (source, key);
  -- rows new less rows gone: the population the weights scale with
  UPDATE @extschema@.identity_population p
     SET records = p.records + (SELECT count(*) FILTER (WHERE v.is_new) - count(*) FILTER (WHERE NOT v.is_new)
                                  FROM identity_vals v);
  DELETE FROM identity_vals v WHERE NOT v.is_new;

  RAISE DEBUG 'concord.resolve_incremental: changed rows read after % ms', round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  -- scope.  Core: the changed rows and every row of the customers they
  -- belonged to, clustered afresh.  (Neighbours, the rows sharing a value
  -- with a changed row, are read with them by identity_cluster: see
  -- identity_neighbours.)  Each row of the scope carries its normalized
  -- values, read once here, and its customer before the run.
  CREATE TEMP TABLE identity_scope (
    source text, key text, old_customer_id bigint, old_how text, old_score double precision,
    core boolean, changed boolean, present boolean,
    name_key text, syllables text, phone text, email text, company text, address text, id_number text, extra jsonb)
    ON COMMIT DROP;
  -- (present: a changed row deleted at the source is not)
  INSERT INTO identity_scope
    SELECT c.source, c.key, l.customer_id, l.how, l.score, true, true, r.source IS NOT NULL,
           r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra
      FROM identity_changed c
      LEFT JOIN @extschema@.identity_record r ON r.source = c.source AND r.key = c.key
      LEFT JOIN @extschema@.customer_link l ON l.source = c.source AND l.key = c.key;
  INSERT INTO identity_scope
    SELECT l2.source, l2.key, l2.customer_id, l2.how, l2.score, true, false, true,
           r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra
      FROM (SELECT DISTINCT sc.old_customer_id FROM identity_scope sc WHERE sc.old_customer_id IS NOT NULL) c
      JOIN @extschema@.customer_link l2 ON l2.customer_id = c.old_customer_id
      JOIN @extschema@.identity_record r ON r.source = l2.source AND r.key = l2.key
     WHERE NOT EXISTS (SELECT 1 FROM identity_changed x WHERE x.source = l2.source AND x.key = l2.key);
  ANALYZE identity_scope (source, key, core, changed, old_customer_id);

  RAISE DEBUG 'concord.resolve_incremental: % rows of the changed rows'' customers after % ms', (SELECT count(*) FROM identity_scope),
    round(extract(epoch FROM pg_catalog.clock_timestamp() - t0) * 1000);
  RETURN QUERY SELECT * FROM @extschema@.identity_apply(max_block, true);
END
$fn$;
COMMENT ON FUNCTION @extschema@.resolve_incremental(integer) IS
  'Resolves only what changed since the last resolve: the queued rows, the rows sharing a value with them and the customers they belong to; gives what a full resolve would';

CREATE FUNCTION @extschema@.customer_merge(a bigint, b bigint, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  ra record;
  rb record;
  survivor bigint;
BEGIN
  IF a IS NULL OR b IS NULL OR reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'customer_merge needs two customer IDs and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF a = b THEN
    RAISE EXCEPTION 'cannot merge customer % with itself', a USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT l.source, l.key INTO ra FROM @extschema@.customer_link l WHERE l.customer_id = a
   ORDER BY l.source COLLATE "C", l.key COLLATE "C" LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % does not exist', a USING ERRCODE = 'no_data_found',
      HINT = 'A merged ID lives on as concord.customer_id_now(id).';
  END IF;
  SELECT l.source, l.key INTO rb FROM @extschema@.customer_link l WHERE l.customer_id = b
   ORDER BY l.source COLLATE "C", l.key COLLATE "C" LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % does not exist', b USING ERRCODE = 'no_data_found',
      HINT = 'A merged ID lives on as concord.customer_id_now(id).';
  END IF;
  -- a merge undoes any split between the two
  DELETE FROM @extschema@.identity_constraint c
   WHERE c.kind = 'cannot_link'
     AND ((c.source_a, c.key_a) IN (SELECT l.source, l.key FROM @extschema@.customer_link l WHERE l.customer_id IN (a, b)))
     AND ((c.source_b, c.key_b) IN (SELECT l.source, l.key FROM @extschema@.customer_link l WHERE l.customer_id IN (a, b)));
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason)
  VALUES ('must_link', ra.source, ra.key, rb.source, rb.key, reason);
  -- the two customers are resolved again (with whatever else is queued)
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (ra.source, ra.key), (rb.source, rb.key);
  PERFORM @extschema@.resolve_incremental();
  SELECT l.customer_id INTO survivor FROM @extschema@.customer_link l WHERE (l.source, l.key) = (ra.source, ra.key);
  RETURN survivor;
END
$fn$;
COMMENT ON FUNCTION @extschema@.customer_merge(bigint, bigint, text) IS
  'Makes two customers one, for good (a must-link kept across resolves); resolves the two again and returns the surviving ID';

CREATE FUNCTION @extschema@.customer_split(source text, key text, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
  cid bigint;
  n int;
BEGIN
  IF source IS NULL OR key IS NULL OR reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'customer_split needs a source, a key and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT l.customer_id INTO cid FROM @extschema@.customer_link l WHERE l.source = source AND l.key = key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key, source
      USING ERRCODE = 'no_data_found',
            HINT = 'Rows are linked by concord.resolve().';
  END IF;
  -- the row is not any of its customer's other rows, and stays so
  DELETE FROM @extschema@.identity_constraint c
   WHERE c.kind = 'must_link'
     AND ((c.source_a = source AND c.key_a = key) OR (c.source_b = source AND c.key_b = key));
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason)
  SELECT 'cannot_link', source, key, l.source, l.key, reason
    FROM @extschema@.customer_link l
   WHERE l.customer_id = cid AND (l.source, l.key) <> (source, key);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n = 0 THEN
    RAISE EXCEPTION 'row "%" of identity source "%" is the only row of customer %', key, source, cid
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (source, key);
  PERFORM @extschema@.resolve_incremental();
  SELECT l.customer_id INTO cid FROM @extschema@.customer_link l WHERE l.source = source AND l.key = key;
  RETURN cid;
END
$fn$;
COMMENT ON FUNCTION @extschema@.customer_split(text, text, text) IS
  'Takes a source row out of its customer, for good (cannot-links kept across resolves); resolves its customer again and returns the row''s new customer ID';

CREATE FUNCTION @extschema@.identity_review_decide(
  source_a text, key_a text, source_b text, key_b text, same boolean, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
  IF source_a IS NULL OR key_a IS NULL OR source_b IS NULL OR key_b IS NULL OR same IS NULL
     OR reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'identity_review_decide needs two rows (source and key each), a decision and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF (source_a, key_a) = (source_b, key_b) THEN
    RAISE EXCEPTION 'row "%" of identity source "%" cannot be compared with itself', key_a, source_a
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source = source_a AND l.key = key_a) THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key_a, source_a
      USING ERRCODE = 'no_data_found', HINT = 'Rows are linked by concord.resolve().';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source = source_b AND l.key = key_b) THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key_b, source_b
      USING ERRCODE = 'no_data_found', HINT = 'Rows are linked by concord.resolve().';
  END IF;
  -- a new decision replaces an earlier one about the same two rows
  DELETE FROM @extschema@.identity_constraint c
   WHERE (c.source_a, c.key_a, c.source_b, c.key_b) IN ((source_a, key_a, source_b, key_b),
                                                       (source_b, key_b, source_a, key_a));
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason)
  VALUES (CASE WHEN same THEN 'must_link' ELSE 'cannot_link' END, source_a, key_a, source_b, key_b, reason);
  DELETE FROM @extschema@.identity_review v
   WHERE (v.source_a, v.key_a, v.source_b, v.key_b) IN ((source_a, key_a, source_b, key_b),
                                                       (source_b, key_b, source_a, key_a));
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (source_a, key_a), (source_b, key_b);
  PERFORM @extschema@.resolve_incremental();
  RETURN (SELECT l.customer_id FROM @extschema@.customer_link l WHERE l.source = source_a AND l.key = key_a);
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_review_decide(text, text, text, text, boolean, text) IS
  'Decides a pair of rows under review: the same customer (a must-link) or not (a cannot-link), kept across resolves and audited; resolves the two again and returns the customer ID of the first row';

-- (one pair per two customers: the strongest; incremental runs can leave
-- an older pair of the same two beside a new one)
CREATE VIEW @extschema@.customer_review AS
  SELECT DISTINCT ON (LEAST(la.customer_id, lb.customer_id), GREATEST(la.customer_id, lb.customer_id))
         v.score, la.customer_id AS customer_a, lb.customer_id AS customer_b,
         v.source_a, v.key_a, v.source_b, v.key_b, ra.original AS row_a, rb.original AS row_b, v.found_at
  FROM @extschema@.identity_review v
       JOIN @extschema@.customer_link la ON la.source = v.source_a AND la.key = v.key_a
       JOIN @extschema@.customer_link lb ON lb.source = v.source_b AND lb.key = v.key_b
       JOIN @extschema@.identity_record ra ON ra.source = v.source_a AND ra.key = v.key_a
       JOIN @extschema@.identity_record rb ON rb.source = v.source_b AND rb.key = v.key_b
  WHERE la.customer_id <> lb.customer_id
  ORDER BY LEAST(la.customer_id, lb.customer_id), GREATEST(la.customer_id, lb.customer_id), v.score DESC,
           v.source_a, v.key_a, v.source_b, v.key_b;
COMMENT ON VIEW @extschema@.customer_review IS
  'The review queue: two customers that may be one, the pair of rows that says so with its score and the rows as their sources wrote them (query ORDER BY score DESC; decide with identity_review_decide, explain with why_matched)';

CREATE VIEW @extschema@.customer_360 AS
  SELECT c.*,
         (SELECT jsonb_object_agg(x.source, x.n) FROM (SELECT l.source, count(*) AS n FROM @extschema@.customer_link l
                                                        WHERE l.customer_id = c.customer_id GROUP BY l.source) x) AS rows_by_source,
         (SELECT jsonb_object_agg(x.event, jsonb_build_object('count', x.n, 'latest', x.latest, 'label', x.label))
            FROM (SELECT e.event, min(e.label) AS label, count(*) AS n, max(e.at) AS latest
                    FROM @extschema@.customer_event e WHERE e.customer_id = c.customer_id GROUP BY e.event) x) AS events,
         (SELECT max(e.at) FROM @extschema@.customer_event e WHERE e.customer_id = c.customer_id) AS last_event_at
  FROM @extschema@.customer c;
COMMENT ON VIEW @extschema@.customer_360 IS
  'The golden record, the rows each source has for the customer, and per mapped event its count and latest time';

CREATE VIEW @extschema@.customer_timeline AS
  SELECT e.customer_id, e.at, e.event, e.label, e.source, e.key, e.detail
  FROM @extschema@.customer_event e;
COMMENT ON VIEW @extschema@.customer_timeline IS
  'Every event about a customer from all sources (query it ORDER BY customer_id, at)';

CREATE FUNCTION @extschema@.customer_id_now(customer_id bigint)
RETURNS bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH RECURSIVE hop(id, depth) AS (
    SELECT customer_id_now.customer_id, 0
    UNION ALL
    SELECT h.other_id, hop.depth + 1
      FROM hop JOIN @extschema@.customer_id_history h ON h.customer_id = hop.id AND h.event = 'merged'
     WHERE hop.depth < 100)
  SELECT id FROM hop ORDER BY depth DESC LIMIT 1;
END;
COMMENT ON FUNCTION @extschema@.customer_id_now(bigint) IS 'Where customer ID X went: the ID it was merged into, following merges (X itself if it still stands)';

-- every function above is for concord_identity, none for PUBLIC
SELECT @extschema@.grant_routines('concord_identity', ARRAY[
    'identity_source_add(text, regclass, text, jsonb, integer, boolean)', 'identity_source_drop(text)',
    'identity_event_add(text, regclass, text, text, text, text, text[])', 'identity_event_drop(text)',
    'customer_merge(bigint, bigint, text)', 'customer_split(text, text, text)',
    'identity_cluster(integer, boolean)', 'identity_neighbours(integer)', 'identity_golden(boolean)', 'identity_load(text, text[])',
    'identity_bulk_indexes(text, boolean)', 'identity_analyze(boolean)', 'identity_apply(integer, boolean)',
    'resolve(integer)', 'resolve_incremental(integer)', 'why_matched(text, text, text, text)',
    'identity_level_counts(integer)', 'identity_estimate_weights(integer, boolean)',
    'identity_review_decide(text, text, text, text, boolean, text)',
    'identity_attribute_add(text, text, double precision, boolean, double precision, double precision, double precision)',
    'identity_attribute_drop(text)', 'identity_survivorship_set(text, text)']);
REVOKE ALL ON @extschema@.identity_source, @extschema@.identity_record, @extschema@.customer_link,
  @extschema@.identity_value_stat, @extschema@.identity_population,
  @extschema@.identity_queue, @extschema@.identity_weight, @extschema@.identity_review, @extschema@.customer_review,
  @extschema@.identity_attribute, @extschema@.identity_survivorship,
  @extschema@.identity_constraint, @extschema@.identity_event, @extschema@.customer_event,
  @extschema@.customer_timeline,
  @extschema@.customer_id_history, @extschema@.customer, @extschema@.customer_360 FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.identity_source, @extschema@.identity_record,
  @extschema@.customer_link, @extschema@.customer TO concord_identity;
GRANT SELECT, INSERT ON @extschema@.customer_id_history TO concord_identity;
GRANT SELECT, INSERT, DELETE ON @extschema@.identity_value_stat TO concord_identity;
GRANT SELECT, INSERT, UPDATE ON @extschema@.identity_population TO concord_identity;
GRANT SELECT, INSERT, DELETE ON @extschema@.identity_constraint TO concord_identity;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.identity_weight TO concord_identity;
GRANT SELECT, INSERT, DELETE ON @extschema@.identity_attribute TO concord_identity;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.identity_survivorship TO concord_identity;
GRANT SELECT, INSERT, DELETE ON @extschema@.identity_queue TO concord_identity;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.identity_review TO concord_identity;
GRANT SELECT ON @extschema@.customer_review TO concord_identity;
GRANT SELECT ON @extschema@.customer_360, @extschema@.customer_timeline TO concord_identity;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.identity_event, @extschema@.customer_event TO concord_identity;
GRANT USAGE ON SEQUENCE @extschema@.customer_id_seq TO concord_identity;
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
  defined_by  text NOT NULL DEFAULT current_user,
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
AS $fn$
DECLARE
  cm text;
  cv text;
  old record;
  sc name;
BEGIN
  IF tbl IS NULL OR col IS NULL OR mask IS NULL OR visible_to IS NULL OR store IS NULL THEN
    RAISE EXCEPTION 'column_mask needs a table, a column, a mask and who sees the clear value'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  cm := @extschema@.policy_mask(tbl, col, mask);
  cv := @extschema@.policy_predicate(tbl, visible_to);
  SELECT m.compiled_mask, m.stored_column INTO old
    FROM @extschema@.column_mask m WHERE m.table_name = tbl AND m.column_name = col;
  -- a stored column is kept while it holds this very mask
  IF store AND old.compiled_mask = cm THEN
    sc := old.stored_column;
  END IF;
  INSERT INTO @extschema@.column_mask AS m (table_name, column_name, mask, visible_to, compiled_mask, compiled_visible, stored_column)
  VALUES (tbl, col, mask, visible_to, cm, cv, sc)
  ON CONFLICT ON CONSTRAINT column_mask_pkey DO UPDATE
    SET mask = excluded.mask, visible_to = excluded.visible_to, compiled_mask = excluded.compiled_mask,
        compiled_visible = excluded.compiled_visible, stored_column = excluded.stored_column,
        defined_by = current_user, defined_at = pg_catalog.now();
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
AS $fn$
DECLARE
  sc name;
BEGIN
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
    'policy_mask(regclass, text, text)', 'governed_view_build(regclass)',
    'mask_store(regclass, text, text)',
    'column_mask(regclass, text, text, text, boolean)', 'column_mask_drop(regclass, text)']);
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.column_mask TO concord_policy;
/* concord — policy: write rules.  Joined into concord--<version>.sql
 * by the Makefile after mask.sql. */

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

SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'write_rule(text, regclass, text, text[], text[])', 'write_rule_drop(text)']);
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.write_rule TO concord_policy;
/* concord — policy: the audit log.  Joined into concord--<version>.sql
 * by the Makefile after rules.sql. */

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

SELECT @extschema@.grant_routines('concord_policy', ARRAY[
    'audit_record(text, text, jsonb, jsonb)', 'audit_table(regclass)', 'audit_verify()']);
GRANT SELECT ON @extschema@.audit_log TO concord_policy;
/* concord — policy: time-bound access and explain_access.  Joined into concord--<version>.sql
 * by the Makefile after audit.sql. */

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
    'groups', (WITH RECURSIVE mine(oid) AS (
                 SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = explain_access.role_name
                 UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN mine ON a.member = mine.oid)
               SELECT coalesce(jsonb_agg(jsonb_build_object('group', m.role_name, 'department', m.department,
                                                            'attributes', m.attributes) ORDER BY m.role_name), '[]')
                 FROM @extschema@.member m JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name
                 JOIN mine ON mine.oid = r.oid
                WHERE m.role_name <> explain_access.role_name),
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

SELECT @extschema@.grant_routines('concord_policy', ARRAY['access_tidy()', 'explain_access(text, regclass, integer)']);
/* concord — metric: semantic models, their dimensions and the joins between
 * them.  Joined into concord--<version>.sql by the Makefile after policy.
 *
 * A semantic model is a table or view (a governed view too) that metrics
 * aggregate: its time column and its dimensions, each an expression of its
 * columns checked by the parser and an allowlist (concord.expr_check).
 * Joins go from a model to another along declared keys, many-to-one only:
 * each row of the first finds at most one row of the second, which
 * concord proves by a unique index on the second's key (or the definer
 * declares it, safe => true, for a view), so a join never multiplies the
 * rows a metric counts. */

SELECT @extschema@.capability_role('concord_metric',
  'may define semantic models and metrics, version and certify them (concord.model_define, metric_define, metric_certify)');

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

CREATE TABLE @extschema@.metric_model (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  relation    regclass NOT NULL,
  time_column text,
  description text,
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_model IS
  'Semantic models: the table or view a metric aggregates, with its time column';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_model', '');

CREATE TABLE @extschema@.metric_dimension (
  model       text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  expr        text NOT NULL,
  compiled    text NOT NULL,
  type        regtype NOT NULL,
  description text,
  PRIMARY KEY (model, name)
);
COMMENT ON TABLE @extschema@.metric_dimension IS
  'Dimensions of semantic models: a name, the expression of the model''s columns as written and as checked, its type';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_dimension', '');

CREATE TABLE @extschema@.metric_join (
  model         text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  to_model      text NOT NULL REFERENCES @extschema@.metric_model ON DELETE CASCADE,
  from_column   text NOT NULL,
  to_column     text NOT NULL,
  declared_safe boolean NOT NULL DEFAULT false,
  PRIMARY KEY (model, to_model),
  CHECK (model <> to_model)
);
COMMENT ON TABLE @extschema@.metric_join IS
  'Many-to-one joins between semantic models: each row of model matches at most one row of to_model on from_column = to_column (proven by a unique index, or declared safe)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_join', '');

-- Is col a column of rel?  (its type, or NULL)
CREATE FUNCTION @extschema@.metric_column_type(rel regclass, col text)
RETURNS regtype
LANGUAGE sql STABLE STRICT
RETURN (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped);
COMMENT ON FUNCTION @extschema@.metric_column_type(regclass, text) IS
  'The type of a column of a relation, or NULL when it has no such column';

CREATE FUNCTION @extschema@.model_define(name text, relation regclass, time_column text DEFAULT NULL,
                                         dimensions jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  d record;
  dexpr text;
  ddesc text;
  tt regtype;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid model name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A model name is a lower-case identifier, e.g. orders.';
  END IF;
  IF relation IS NULL THEN
    RAISE EXCEPTION 'model "%" needs a table or view', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF time_column IS NOT NULL THEN
    tt := @extschema@.metric_column_type(relation, time_column);
    IF tt IS NULL THEN
      RAISE EXCEPTION 'column "%" of % does not exist', time_column, relation
        USING ERRCODE = 'undefined_column', HINT = 'The time column of a model is one of its columns.';
    ELSIF tt NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN
      RAISE EXCEPTION 'time column "%" of % is %, not a date or a timestamp', time_column, relation, tt
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END IF;
  IF dimensions IS NULL OR jsonb_typeof(dimensions) <> 'object' THEN
    RAISE EXCEPTION 'dimensions of model "%" must be a JSON object of name: expression', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. {"region": "region", "size": {"expr": "CASE WHEN employees > 500 THEN ''large'' ELSE ''small'' END", "description": "company size"}}';
  END IF;

  INSERT INTO @extschema@.metric_model AS m (name, relation, time_column, description)
  VALUES (model_define.name, relation, time_column, description)
  ON CONFLICT ON CONSTRAINT metric_model_pkey DO UPDATE
    SET relation = excluded.relation, time_column = excluded.time_column, description = excluded.description,
        defined_by = current_user, defined_at = pg_catalog.now();
  DELETE FROM @extschema@.metric_dimension x WHERE x.model = model_define.name;
  FOR d IN SELECT e.key, e.value FROM jsonb_each(dimensions) e LOOP
    IF d.key !~ '^[a-z][a-z0-9_]{0,62}$' OR d.key = 'metric_time' THEN
      RAISE EXCEPTION 'invalid dimension name "%" in model "%"', d.key, name
        USING ERRCODE = 'invalid_name',
              HINT = 'A dimension name is a lower-case identifier; metric_time is the time dimension every query has.';
    END IF;
    IF jsonb_typeof(d.value) = 'string' THEN
      dexpr := d.value #>> '{}';
    ELSIF jsonb_typeof(d.value) = 'object' AND jsonb_typeof(d.value -> 'expr') = 'string' THEN
      dexpr := d.value ->> 'expr';
      ddesc := d.value ->> 'description';
    ELSE
      RAISE EXCEPTION 'dimension "%" of model "%" is not an expression', d.key, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Give a dimension as "expression" or {"expr": "expression", "description": "..."}.';
    END IF;
    INSERT INTO @extschema@.metric_dimension (model, name, expr, compiled, type, description)
    VALUES (model_define.name, d.key, dexpr, @extschema@.expr_check(relation, model_define.name, dexpr, false),
            @extschema@.expr_type(relation, model_define.name, dexpr), ddesc);
    ddesc := NULL;
  END LOOP;
  PERFORM @extschema@.audit_record('model_define', name, NULL,
                                   jsonb_build_object('relation', relation::text, 'time_column', time_column,
                                                      'dimensions', dimensions));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_define(text, regclass, text, jsonb, text) IS
  'Defines (or redefines, atomically) a semantic model: a table or view, its time column and its dimensions ({"name": "expression"}), each checked by the parser and the allowlist';

CREATE FUNCTION @extschema@.model_join(model text, to_model text, from_column text, to_column text,
                                       safe boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  a regclass;
  b regclass;
  ta regtype;
  tb regtype;
BEGIN
  SELECT m.relation INTO a FROM @extschema@.metric_model m WHERE m.name = model_join.model;
  SELECT m.relation INTO b FROM @extschema@.metric_model m WHERE m.name = model_join.to_model;
  IF a IS NULL OR b IS NULL THEN
    RAISE EXCEPTION 'unknown model "%"', CASE WHEN a IS NULL THEN model ELSE to_model END
      USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_define.';
  END IF;
  IF model = to_model THEN
    RAISE EXCEPTION 'model "%" cannot join itself', model USING ERRCODE = 'invalid_parameter_value';
  END IF;
  ta := @extschema@.metric_column_type(a, from_column);
  tb := @extschema@.metric_column_type(b, to_column);
  IF ta IS NULL OR tb IS NULL THEN
    RAISE EXCEPTION 'column "%" of % does not exist',
                    CASE WHEN ta IS NULL THEN from_column ELSE to_column END, CASE WHEN ta IS NULL THEN a ELSE b END
      USING ERRCODE = 'undefined_column';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
                  WHERE o.oprname = '=' AND o.oprleft = ta AND o.oprright = tb AND o.oprresult = 'boolean'::regtype) THEN
    RAISE EXCEPTION 'cannot join %.% (%) to %.% (%): no = operator for these types', model, from_column, ta, to_model, to_column, tb
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  -- many-to-one: a unique index on exactly the key, without a predicate
  IF NOT safe AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = b AND i.indisunique AND i.indpred IS NULL AND i.indnkeyatts = 1
          AND i.indkey[0] = (SELECT x.attnum FROM pg_catalog.pg_attribute x WHERE x.attrelid = b AND x.attname = to_column)) THEN
    RAISE EXCEPTION 'join from "%" to "%" could multiply rows: %.% is not unique', model, to_model, b, to_column
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A metric of the first model would count a row once for every matching row of the second.',
            HINT = format('Add a unique index on %s (%I), or, if each row of %s matches at most one row (%s is a view), declare it with safe => true.',
                          b, to_column, model, b);
  END IF;
  INSERT INTO @extschema@.metric_join AS j (model, to_model, from_column, to_column, declared_safe)
  VALUES (model, to_model, from_column, to_column, safe)
  ON CONFLICT ON CONSTRAINT metric_join_pkey DO UPDATE
    SET from_column = excluded.from_column, to_column = excluded.to_column, declared_safe = excluded.declared_safe;
  PERFORM @extschema@.audit_record('model_join', model || ' -> ' || to_model, NULL,
                                   jsonb_build_object('on', format('%s = %s', from_column, to_column), 'safe', safe));
  RETURN format('%s.%s = %s.%s', model, from_column, to_model, to_column);
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_join(text, text, text, text, boolean) IS
  'Declares a many-to-one join from a model to another (model.from_column = to_model.to_column); refused unless to_column is unique or safe => true';

CREATE FUNCTION @extschema@.model_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  users text;
BEGIN
  SELECT string_agg(DISTINCT m.name, ', ') INTO users
    FROM @extschema@.metric m WHERE m.compiled ->> 'model' = model_drop.name;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'model "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those metrics first (concord.metric_drop).';
  END IF;
  DELETE FROM @extschema@.metric_model m WHERE m.name = model_drop.name;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.audit_record('model_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.model_drop(text) IS
  'Drops a semantic model with its dimensions and joins; refused while a metric uses it';
/* concord — metric: metric definitions, their versions and certification.
 * Joined into concord--<version>.sql by the Makefile after model.sql.
 *
 * A metric is defined once and gets a new version at every change; the
 * versions stay.  Types:
 *   simple   an aggregate (sum, count, count_distinct, min, max, avg) of an
 *            expression of one model's columns, with an optional filter;
 *   ratio    a numerator metric over a denominator metric (NULL when the
 *            denominator is 0);
 *   derived  an expression over other metrics (revenue - refunds);
 *   cumulative  a simple metric over every row up to the end of each time
 *            bucket (a running total) or over a trailing window of it
 *            (customers active in the 30 days to each day);
 *   period_over_period  a metric a period earlier (offset_by: 1 month,
 *            1 year), as its previous value, the change or the growth in %;
 *   conversion  of the entities (customers) with an event of one model
 *            (a trial), the share with an event of another model (an
 *            order) within a window after it.
 * Every value of a metric is numeric.  Expressions pass the parser and the
 * allowlist and are stored as written and as checked.  Its owner certifies
 * a version; queries use the latest version and say when it is not the
 * certified one. */

CREATE TABLE @extschema@.metric (
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  version     integer NOT NULL CHECK (version > 0),
  type        text NOT NULL CHECK (type IN ('simple', 'ratio', 'derived', 'cumulative', 'period_over_period', 'conversion')),
  spec        jsonb NOT NULL,
  compiled    jsonb NOT NULL,
  depends     text[] NOT NULL DEFAULT '{}',
  lineage     jsonb NOT NULL DEFAULT '{}',
  description text,
  owner       text NOT NULL,
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (name, version)
);
COMMENT ON TABLE @extschema@.metric IS
  'Metric definitions, every version: type, the definition as given (spec) and as checked (compiled), the metrics it is computed from (depends), the tables and columns it reads (lineage), owner';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric', '');

CREATE TABLE @extschema@.metric_certification (
  name         text PRIMARY KEY,
  version      integer NOT NULL,
  certified_by text NOT NULL DEFAULT current_user,
  certified_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  FOREIGN KEY (name, version) REFERENCES @extschema@.metric (name, version) ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.metric_certification IS
  'The certified version of each metric, by whom and when';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_certification', '');

-- The latest version of each metric.
CREATE VIEW @extschema@.metric_latest AS
  SELECT DISTINCT ON (m.name) m.* FROM @extschema@.metric m ORDER BY m.name, m.version DESC;
COMMENT ON VIEW @extschema@.metric_latest IS 'The latest version of every metric';

-- Metrics a metric is computed from, through every level (its own name
-- included when there is a cycle).
CREATE FUNCTION @extschema@.metric_closure(names text[])
RETURNS text[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE up(name, depth) AS (
          SELECT d, 1 FROM unnest(names) d
          UNION
          SELECT d, up.depth + 1 FROM up JOIN @extschema@.metric_latest l ON l.name = up.name, unnest(l.depends) d
           WHERE up.depth < 64)
        SELECT coalesce(array_agg(DISTINCT up.name), '{}') FROM up);
COMMENT ON FUNCTION @extschema@.metric_closure(text[]) IS
  'The metrics the given ones are computed from, at any depth, the given ones included';

CREATE FUNCTION @extschema@.metric_define(name text, type text, model text DEFAULT NULL, agg text DEFAULT NULL,
                                          expr text DEFAULT NULL, filter text DEFAULT NULL,
                                          numerator text DEFAULT NULL, denominator text DEFAULT NULL,
                                          description text DEFAULT NULL, owner text DEFAULT NULL,
                                          base text DEFAULT NULL, trailing_window interval DEFAULT NULL,
                                          offset_by interval DEFAULT NULL, calc text DEFAULT NULL,
                                          entity text DEFAULT NULL, conversion_model text DEFAULT NULL,
                                          conversion_filter text DEFAULT NULL, conversion_entity text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  spec jsonb;
  compiled jsonb;
  deps text[] := '{}';
  lineage jsonb := '{}';
  rel regclass;
  latest record;
  v integer;
  missing text;
  et regtype;
  cm record;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid metric name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A metric name is a lower-case identifier, e.g. revenue.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_dimension d WHERE d.name = metric_define.name) OR name = 'metric_time' THEN
    RAISE EXCEPTION 'metric name "%" is already a dimension''s', name
      USING ERRCODE = 'duplicate_object', HINT = 'Metrics and dimensions share the columns of a query: give the metric another name.';
  END IF;
  IF type IS NULL OR type NOT IN ('simple', 'ratio', 'derived', 'cumulative', 'period_over_period', 'conversion') THEN
    RAISE EXCEPTION 'unknown metric type "%" for metric "%"', type, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of simple, ratio, derived, cumulative, period_over_period, conversion.';
  END IF;
  IF type <> 'conversion' AND (entity IS NOT NULL OR conversion_model IS NOT NULL OR conversion_filter IS NOT NULL
                               OR conversion_entity IS NOT NULL) THEN
    RAISE EXCEPTION 'entity and conversion_* belong to conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  spec := jsonb_strip_nulls(jsonb_build_object('type', type, 'model', model, 'agg', agg, 'expr', expr, 'filter', filter,
                                               'numerator', numerator, 'denominator', denominator, 'base', base,
                                               'trailing_window', trailing_window, 'offset_by', offset_by, 'calc', calc,
                                               'entity', entity, 'conversion_model', conversion_model,
                                               'conversion_filter', conversion_filter, 'conversion_entity', conversion_entity));
  IF type NOT IN ('cumulative', 'period_over_period', 'conversion')
     AND (base IS NOT NULL OR trailing_window IS NOT NULL OR offset_by IS NOT NULL OR calc IS NOT NULL) THEN
    RAISE EXCEPTION 'base, trailing_window, offset_by and calc belong to cumulative, period_over_period and conversion metrics (metric "%")', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF type <> 'simple' AND EXISTS (SELECT 1 FROM @extschema@.metric_latest l
                                   WHERE l.type = 'cumulative' AND l.compiled ->> 'base' = metric_define.name) THEN
    RAISE EXCEPTION 'metric "%" must stay simple: cumulative metrics are computed from it', name
      USING ERRCODE = 'dependent_objects_still_exist';
  END IF;

  IF type = 'simple' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a simple metric has no numerator or denominator (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'For a ratio, use type => ''ratio''.';
    END IF;
    SELECT m.relation INTO rel FROM @extschema@.metric_model m WHERE m.name = metric_define.model;
    IF rel IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', model, name
        USING ERRCODE = 'undefined_object', HINT = 'Define it first with concord.model_define.';
    END IF;
    IF agg IS NULL OR agg NOT IN ('sum', 'count', 'count_distinct', 'min', 'max', 'avg') THEN
      RAISE EXCEPTION 'unknown aggregate "%" for metric "%"', agg, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of sum, count, count_distinct, min, max, avg.';
    END IF;
    IF expr IS NULL AND agg <> 'count' THEN
      RAISE EXCEPTION 'metric "%" needs an expression to %', name, agg
        USING ERRCODE = 'null_value_not_allowed';
    END IF;
    compiled := jsonb_build_object('model', model, 'agg', agg);
    IF expr IS NOT NULL THEN
      compiled := compiled || jsonb_build_object('expr', @extschema@.expr_check(rel, model, expr, false));
      et := @extschema@.expr_type(rel, model, expr);
      IF agg IN ('sum', 'avg', 'min', 'max') AND (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid = et) <> 'N' THEN
        RAISE EXCEPTION 'metric "%": % of % is not a number', name, agg, et
          USING ERRCODE = 'datatype_mismatch', HINT = 'A metric''s value is a number: sum, avg, min and max take numeric expressions.';
      END IF;
    END IF;
    IF filter IS NOT NULL THEN
      compiled := compiled || jsonb_build_object('filter', @extschema@.expr_check(rel, model, filter, true));
    END IF;
    lineage := jsonb_build_object('tables', jsonb_build_array(rel::text),
                                  'columns', to_jsonb(ARRAY(SELECT DISTINCT c FROM unnest(
                                    coalesce(@extschema@.expr_names(expr), '{}') || coalesce(@extschema@.expr_names(filter), '{}')) c
                                    ORDER BY c)));
  ELSIF type = 'conversion' THEN
    IF numerator IS NOT NULL OR denominator IS NOT NULL OR base IS NOT NULL OR offset_by IS NOT NULL OR agg IS NOT NULL OR expr IS NOT NULL THEN
      RAISE EXCEPTION 'a conversion metric takes model, entity, filter, conversion_model, conversion_entity, conversion_filter, trailing_window and calc only (metric "%")', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT m.relation, m.time_column INTO latest FROM @extschema@.metric_model m WHERE m.name = metric_define.model;
    SELECT m.relation, m.time_column INTO cm FROM @extschema@.metric_model m WHERE m.name = metric_define.conversion_model;
    IF latest.relation IS NULL OR cm.relation IS NULL THEN
      RAISE EXCEPTION 'unknown model "%" for metric "%"', CASE WHEN latest.relation IS NULL THEN model ELSE conversion_model END, name
        USING ERRCODE = 'undefined_object', HINT = 'A conversion metric needs model and conversion_model, both defined with concord.model_define.';
    END IF;
    IF latest.time_column IS NULL OR cm.time_column IS NULL THEN
      RAISE EXCEPTION 'conversion metric "%" needs models with a time column', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF entity IS NULL OR trailing_window IS NULL OR trailing_window <= interval '0' THEN
      RAISE EXCEPTION 'conversion metric "%" needs an entity (e.g. customer_id) and a positive trailing_window (the time allowed to convert)', name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(calc, 'rate') NOT IN ('rate', 'conversions', 'opportunities') THEN
      RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of rate, conversions, opportunities.';
    END IF;
    et := @extschema@.expr_type(latest.relation, model, entity);
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname = '=' AND o.oprleft = et
                      AND o.oprright = @extschema@.expr_type(cm.relation, 'conv', coalesce(conversion_entity, entity))) THEN
      RAISE EXCEPTION 'conversion metric "%": the entities % and % cannot be compared', name, entity, coalesce(conversion_entity, entity)
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    compiled := jsonb_strip_nulls(jsonb_build_object(
      'model', model,
      'entity', @extschema@.expr_check(latest.relation, model, entity, false),
      'filter', CASE WHEN filter IS NOT NULL THEN @extschema@.expr_check(latest.relation, model, filter, true) END,
      'conv_relation', cm.relation::text,
      'conv_time', CASE WHEN @extschema@.metric_column_type(cm.relation, cm.time_column) = 'timestamptz'::regtype
                        THEN 'tz:' ELSE '' END || cm.time_column,
      'conv_entity', @extschema@.expr_check(cm.relation, 'conv', coalesce(conversion_entity, entity), false),
      'conv_filter', CASE WHEN conversion_filter IS NOT NULL THEN @extschema@.expr_check(cm.relation, 'conv', conversion_filter, true) END,
      'window', trailing_window,
      'expr', CASE coalesce(calc, 'rate')
                WHEN 'rate' THEN format('(m.%I / NULLIF(m.%I, 0))', 'conv__' || name, 'opps__' || name)
                WHEN 'conversions' THEN format('m.%I', 'conv__' || name)
                ELSE format('m.%I', 'opps__' || name) END));
    lineage := jsonb_build_object('tables', jsonb_build_array(latest.relation::text, cm.relation::text),
                                  'columns', to_jsonb(ARRAY(SELECT DISTINCT c FROM unnest(
                                    @extschema@.expr_names(entity) || coalesce(@extschema@.expr_names(filter), '{}')
                                    || coalesce(@extschema@.expr_names(conversion_entity), '{}')
                                    || coalesce(@extschema@.expr_names(conversion_filter), '{}')) c ORDER BY c)));
  ELSIF type IN ('cumulative', 'period_over_period') THEN
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL OR expr IS NOT NULL OR numerator IS NOT NULL OR denominator IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from a base metric only (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give base => the metric, and trailing_window, or offset_by and calc.';
    END IF;
    SELECT l.type INTO missing FROM @extschema@.metric_latest l WHERE l.name = base;
    IF missing IS NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, coalesce(base, '(no base)')
        USING ERRCODE = 'undefined_object', HINT = 'Give base => an existing metric.';
    END IF;
    IF type = 'cumulative' THEN
      IF missing <> 'simple' THEN
        RAISE EXCEPTION 'cumulative metric "%" needs a simple base metric; "%" is %', name, base, missing
          USING ERRCODE = 'invalid_parameter_value',
                HINT = 'It aggregates the base''s rows over a window, which a ratio or derived metric does not have.';
      END IF;
      IF offset_by IS NOT NULL OR calc IS NOT NULL THEN
        RAISE EXCEPTION 'cumulative metric "%" takes trailing_window, not offset_by or calc', name USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF trailing_window <= interval '0' THEN
        RAISE EXCEPTION 'trailing window of metric "%" must be positive (got %)', name, trailing_window USING ERRCODE = 'invalid_parameter_value';
      END IF;
      compiled := jsonb_strip_nulls(jsonb_build_object('base', base, 'trailing', trailing_window));
    ELSE
      IF trailing_window IS NOT NULL OR offset_by IS NULL OR offset_by <= interval '0' THEN
        RAISE EXCEPTION 'period_over_period metric "%" needs a positive offset_by (e.g. 1 month, 1 year), and no trailing_window', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      IF coalesce(calc, 'previous') NOT IN ('previous', 'change', 'growth_pct') THEN
        RAISE EXCEPTION 'unknown calc "%" for metric "%"', calc, name
          USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of previous, change, growth_pct.';
      END IF;
      compiled := jsonb_build_object('base', base, 'offset', offset_by, 'expr',
        CASE coalesce(calc, 'previous')
          WHEN 'previous' THEN format('m.%I', 'prev__' || name)
          WHEN 'change' THEN format('(m.%I - m.%I)', base, 'prev__' || name)
          ELSE format('((m.%I - m.%I) / NULLIF(abs(m.%I), 0) * 100)', base, 'prev__' || name, 'prev__' || name) END);
    END IF;
    deps := ARRAY[base];
    IF name = ANY (@extschema@.metric_closure(deps)) THEN
      RAISE EXCEPTION 'metric "%" would be computed from itself (through %)', name, base USING ERRCODE = 'invalid_recursion';
    END IF;
    lineage := jsonb_build_object('metrics', to_jsonb(deps));
  ELSE
    IF model IS NOT NULL OR agg IS NOT NULL OR filter IS NOT NULL THEN
      RAISE EXCEPTION 'a % metric is computed from other metrics: no model, aggregate or filter (metric "%")', type, name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Put the filter on the metrics it is computed from.';
    END IF;
    IF type = 'ratio' THEN
      IF numerator IS NULL OR denominator IS NULL OR expr IS NOT NULL THEN
        RAISE EXCEPTION 'ratio metric "%" needs a numerator and a denominator metric, and no expression', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      deps := ARRAY[numerator, denominator];
      compiled := jsonb_build_object('expr', format('(m.%I / NULLIF(m.%I, 0))', numerator, denominator));
    ELSE
      IF expr IS NULL OR numerator IS NOT NULL OR denominator IS NOT NULL THEN
        RAISE EXCEPTION 'derived metric "%" needs an expression over other metrics, and no numerator or denominator', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      deps := @extschema@.expr_names(expr);
      IF cardinality(deps) = 0 THEN
        RAISE EXCEPTION 'derived metric "%" uses no metric: %', name, expr USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END IF;
    SELECT string_agg(d, ', ') INTO missing FROM unnest(deps) d
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name = d);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'metric "%" uses unknown metrics: %', name, missing
        USING ERRCODE = 'undefined_object', HINT = 'Define them first with concord.metric_define.';
    END IF;
    IF name = ANY (@extschema@.metric_closure(deps)) THEN
      RAISE EXCEPTION 'metric "%" would be computed from itself (through %)', name, array_to_string(deps, ', ')
        USING ERRCODE = 'invalid_recursion';
    END IF;
    IF type = 'derived' THEN
      compiled := jsonb_build_object('expr', @extschema@.expr_check_over('m', deps,
                    array_fill('numeric'::regtype, ARRAY[cardinality(deps)]), expr, false));
    END IF;
    lineage := jsonb_build_object('metrics', to_jsonb(deps));
  END IF;

  SELECT l.version, l.spec, l.description, l.owner INTO latest FROM @extschema@.metric_latest l WHERE l.name = metric_define.name;
  IF latest.version IS NOT NULL THEN
    IF NOT pg_catalog.pg_has_role(current_user, latest.owner, 'MEMBER') THEN
      RAISE EXCEPTION 'metric "%" belongs to "%"', name, latest.owner
        USING ERRCODE = 'insufficient_privilege', HINT = 'Only its owner (or a member of that role) may change a metric.';
    END IF;
    IF latest.spec = spec AND latest.description IS NOT DISTINCT FROM description
       AND (owner IS NULL OR owner = latest.owner) THEN
      RETURN latest.version;            -- nothing changed: no new version
    END IF;
  END IF;
  IF owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
    RAISE EXCEPTION 'role "%" does not exist', owner USING ERRCODE = 'undefined_object';
  END IF;
  v := coalesce(latest.version, 0) + 1;
  INSERT INTO @extschema@.metric (name, version, type, spec, compiled, depends, lineage, description, owner)
  VALUES (name, v, type, spec, compiled, deps, lineage, description, coalesce(owner, latest.owner, current_user::text));
  PERFORM @extschema@.audit_record('metric_define', name, NULL, spec || jsonb_build_object('version', v));
  -- views published for BI tools answer with the new version at once
  PERFORM @extschema@.metric_publish_refresh(name);
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_define(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text) IS
  'Defines a metric (simple, ratio, derived, cumulative, period_over_period or conversion), checking everything first; a change makes a new version, an unchanged definition none; returns the version';

CREATE FUNCTION @extschema@.metric_certify(name text, version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  m record;
BEGIN
  SELECT x.version, x.owner INTO m FROM @extschema@.metric x
   WHERE x.name = metric_certify.name AND x.version = coalesce(metric_certify.version,
           (SELECT l.version FROM @extschema@.metric_latest l WHERE l.name = metric_certify.name));
  IF m.version IS NULL THEN
    RAISE EXCEPTION 'unknown metric "%"%', name, CASE WHEN version IS NOT NULL THEN format(' version %s', version) ELSE '' END
      USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT pg_catalog.pg_has_role(current_user, m.owner, 'MEMBER') THEN
    RAISE EXCEPTION 'only the owner of metric "%" (%) may certify it', name, m.owner
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO @extschema@.metric_certification AS c (name, version) VALUES (name, m.version)
  ON CONFLICT ON CONSTRAINT metric_certification_pkey DO UPDATE
    SET version = excluded.version, certified_by = current_user, certified_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('metric_certify', name, NULL, jsonb_build_object('version', m.version));
  PERFORM @extschema@.metric_publish_refresh(name);    -- (the views' comments say what is certified)
  RETURN m.version;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_certify(text, integer) IS
  'Certifies a version of a metric (default: its latest); only its owner may';

CREATE FUNCTION @extschema@.metric_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  users text;
  o text;
BEGIN
  SELECT l.owner INTO o FROM @extschema@.metric_latest l WHERE l.name = metric_drop.name;
  IF o IS NULL THEN
    RETURN false;
  END IF;
  IF NOT pg_catalog.pg_has_role(current_user, o, 'MEMBER') THEN
    RAISE EXCEPTION 'metric "%" belongs to "%"', name, o USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT string_agg(l.name, ', ' ORDER BY l.name) INTO users FROM @extschema@.metric_latest l WHERE metric_drop.name = ANY (l.depends);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is used by metrics: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop or redefine those first.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  SELECT string_agg(p.view_name::text, ', ' ORDER BY p.view_name::text) INTO users
    FROM @extschema@.metric_publication p WHERE metric_drop.name = ANY (@extschema@.metric_closure(p.metrics));
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'metric "%" is published in views: %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those views first (DROP VIEW, then they are no longer publications).';
  END IF;
  DELETE FROM @extschema@.metric m WHERE m.name = metric_drop.name;
  PERFORM @extschema@.audit_record('metric_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_drop(text) IS
  'Drops a metric and all its versions; refused while another metric is computed from it';

CREATE VIEW @extschema@.metric_catalog AS
  SELECT l.name, l.version AS latest_version, l.type, l.description, l.owner,
         c.version AS certified_version, c.version IS NOT DISTINCT FROM l.version AS certified,
         l.spec AS definition, l.lineage,
         ARRAY(SELECT u.name FROM @extschema@.metric_latest u WHERE l.name = ANY (u.depends) ORDER BY u.name) AS used_by,
         l.defined_by, l.defined_at
    FROM @extschema@.metric_latest l
    LEFT JOIN @extschema@.metric_certification c ON c.name = l.name;
COMMENT ON VIEW @extschema@.metric_catalog IS
  'Every metric: latest version, type, description, owner, certified version (and whether the latest is it), definition, lineage and the metrics computed from it';
/* concord — metric: answering metrics by name.  Joined into
 * concord--<version>.sql by the Makefile after metric.sql.
 *
 * metric_sql() writes the SQL for a question (metrics, dimensions, a time
 * grain, a filter over dimensions, a date range, an order and a limit);
 * metric_query() runs it and returns its rows.  Both run as the caller
 * (no SECURITY DEFINER), so the rows a metric counts are the rows the
 * caller's row policies show.  The SQL is built only from checked
 * expressions (stored when models and metrics were defined, or checked
 * now for the filter) and quoted names, never from text as typed.
 *
 * Shape of the SQL: for each model that some of the metrics aggregate, an
 * inner query reads the model's rows (with its many-to-one joins) and
 * computes the time bucket, the dimensions and each metric's input; the
 * query around it filters and aggregates.  Models are combined by a full
 * join on the time bucket and the dimensions; ratio and derived metrics
 * are computed in layers over that.  PostgreSQL flattens the inner
 * queries, so the plan is the one of the same question written by hand. */

CREATE FUNCTION @extschema@.metric_sql(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                       filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                       order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                       time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  needed text[];
  unknown text;
  dims jsonb := '[]';           -- [{out, model, name, compiled, type}], requested then filter-only
  fdims text[] := '{}';
  ds text;
  cand record;
  n integer;
  models text[];
  mdl text;
  mrec record;
  path text[];
  joins text[];
  edge text;
  jrec record;
  inner_cols text[];
  outer_cols text[];
  group_keys text[];
  keys text[] := '{}';
  aggs text[];
  from_sql text;
  where_sql text[];
  fcompiled text;
  parts text[] := '{}';
  part_metrics text[] := '{}';
  sql text;
  available text[];
  pending text[];
  layer text[];
  lrec record;
  out_cols text[];
  ord text[] := '{}';
  o text;
  i integer;
  tt regtype;
  d jsonb;
  plist jsonb;
  part jsonb;
  rollup text;
  ltime text;
  step text;
BEGIN
  -- the question
  IF metrics IS NULL OR cardinality(metrics) = 0 THEN
    RAISE EXCEPTION 'metric_sql needs at least one metric' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(x, ', ') INTO unknown FROM unnest(metrics) x
   WHERE NOT EXISTS (SELECT 1 FROM @extschema@.metric m WHERE m.name = x);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'unknown metric: %', unknown
      USING ERRCODE = 'undefined_object', HINT = 'concord.metric_catalog lists the metrics.';
  END IF;
  IF grain IS NOT NULL AND grain NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'unknown time grain "%"', grain
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of day, week (ISO, from Monday), month, quarter, year.';
  END IF;
  -- (pg_timezone_names reads the whole zone database: asking the zone is cheaper)
  BEGIN
    PERFORM pg_catalog.timezone(tz, pg_catalog.now());
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'unknown time zone "%"', tz
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, e.g. Asia/Shanghai.';
  END;
  IF from_date > to_date THEN
    RAISE EXCEPTION 'from_date % is after to_date %', from_date, to_date USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF row_limit < 0 THEN
    RAISE EXCEPTION 'row_limit must not be negative (got %)', row_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF cardinality(metrics) <> (SELECT count(DISTINCT x) FROM unnest(metrics) x) THEN
    RAISE EXCEPTION 'a metric is asked for twice: %', array_to_string(metrics, ', ') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the metrics to compute: those asked for and what they are computed
  -- from (a cumulative metric computes its base itself)
  WITH RECURSIVE up(name, depth) AS (
    SELECT x, 1 FROM unnest(metrics) x
    UNION
    SELECT dep, up.depth + 1 FROM up JOIN @extschema@.metric_latest l ON l.name = up.name, unnest(l.depends) dep
     WHERE l.type <> 'cumulative' AND up.depth < 64)
  SELECT array_agg(DISTINCT up.name) INTO needed FROM up;
  SELECT coalesce(array_agg(DISTINCT l.compiled ->> 'model' ORDER BY l.compiled ->> 'model'), '{}') INTO models
    FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type IN ('simple', 'conversion');

  -- dimensions: asked for, then those only the filter uses
  IF filters IS NOT NULL THEN
    fdims := @extschema@.expr_names(filters);
  END IF;
  FOR ds, i IN SELECT x, 0 FROM unnest(coalesce(dimensions, '{}')) x UNION ALL SELECT x, 1 FROM unnest(fdims) x LOOP
    IF ds = 'metric_time' THEN
      IF i = 0 THEN
        RAISE EXCEPTION 'metric_time is not a dimension to ask for: give a grain instead' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      RAISE EXCEPTION 'the filter cannot use metric_time: give from_date and to_date instead' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CONTINUE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(dims) e WHERE e ->> 'out' = ds);
    IF i = 0 AND ds = ANY (metrics) THEN
      RAISE EXCEPTION '"%" is asked for as a metric and as a dimension', ds USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*), min(x.model) AS model, min(x.name) AS name, string_agg(x.model || '.' || x.name, ', ' ORDER BY x.model) AS names
      INTO cand
      FROM @extschema@.metric_dimension x
     WHERE (position('.' IN ds) = 0 AND x.name = ds) OR x.model || '.' || x.name = ds;
    IF cand.count = 0 THEN
      RAISE EXCEPTION 'unknown dimension "%"%', ds, CASE WHEN i = 1 THEN ' in the filter' ELSE '' END
        USING ERRCODE = 'undefined_object', HINT = 'concord.metric_dimension lists the dimensions of every model.';
    ELSIF cand.count > 1 THEN
      RAISE EXCEPTION 'dimension "%" is ambiguous: %', ds, cand.names
        USING ERRCODE = 'ambiguous_column', HINT = 'Ask for it as model.dimension (the filter names dimensions that are unique).';
    END IF;
    SELECT jsonb_build_object('out', ds, 'model', x.model, 'name', x.name, 'compiled', x.compiled, 'type', x.type::text)
      INTO d FROM @extschema@.metric_dimension x WHERE x.model = cand.model AND x.name = cand.name;
    dims := dims || d;
  END LOOP;
  IF filters IS NOT NULL THEN
    IF cardinality(fdims) = 0 THEN
      RAISE EXCEPTION 'the filter uses no dimension: %', filters
        USING ERRCODE = 'invalid_parameter_value', HINT = 'A filter is a condition over dimensions, e.g. region = ''华东''.';
    END IF;
    fcompiled := @extschema@.expr_check_over('d', fdims,
                   ARRAY(SELECT (SELECT (e ->> 'type')::regtype FROM jsonb_array_elements(dims) e WHERE e ->> 'out' = f)
                           FROM unnest(fdims) f), filters, true);
  END IF;
  IF grain IS NOT NULL THEN
    keys := keys || 'metric_time'::text;
  END IF;
  keys := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM unnest(coalesce(dimensions, '{}')) x);

  -- the parts: one query per model for its simple metrics by time bucket,
  -- one per cumulative metric (its base over a window of rows, per
  -- bucket), one per period-over-period metric (its base a period before)
  plist := '[]';
  FOREACH mdl IN ARRAY models LOOP
    plist := plist || jsonb_build_object('kind', 'bucket', 'model', mdl, 'metrics',
      (SELECT jsonb_agg(jsonb_build_object('name', l.name, 'compiled', l.compiled) ORDER BY l.name)
         FROM @extschema@.metric_latest l
        WHERE l.name = ANY (needed) AND l.type IN ('simple', 'conversion') AND l.compiled ->> 'model' = mdl));
  END LOOP;
  FOR lrec IN SELECT l.name, l.type, l.compiled, b.compiled AS base FROM @extschema@.metric_latest l
                LEFT JOIN @extschema@.metric_latest b ON b.name = l.compiled ->> 'base'
               WHERE l.name = ANY (needed) AND l.type IN ('cumulative', 'period_over_period') ORDER BY l.name LOOP
    IF grain IS NULL THEN
      RAISE EXCEPTION '% metric "%" needs a time grain', replace(lrec.type, '_', '-'), lrec.name
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give grain => day, week, month, quarter or year.';
    END IF;
    IF lrec.type = 'cumulative' THEN
      plist := plist || jsonb_build_object('kind', 'cumulative', 'model', lrec.base ->> 'model', 'trailing', lrec.compiled ->> 'trailing',
                                           'metrics', jsonb_build_array(jsonb_build_object('name', lrec.name, 'compiled', lrec.base)));
    ELSE
      plist := plist || jsonb_build_object('kind', 'shifted', 'name', lrec.name, 'base', lrec.compiled ->> 'base',
                                           'offset', lrec.compiled ->> 'offset');
    END IF;
  END LOOP;

  -- a rollup that gives this caller provably the same answer stands in
  -- for the per-model queries
  IF use_rollups AND cardinality(models) > 0
     AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'conversion') THEN
    rollup := @extschema@.metric_rollup_pick(
      ARRAY(SELECT l.name FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'simple'),
      coalesce(dimensions, '{}'), fdims, grain, tz, from_date, to_date);
    IF rollup IS NOT NULL THEN
      plist := jsonb_build_array(jsonb_build_object('kind', 'rollup', 'name', rollup))
               || jsonb_path_query_array(plist, '$[*] ? (@.kind != "bucket")');
    END IF;
  END IF;

  FOR part IN SELECT e FROM jsonb_array_elements(plist) e LOOP
    IF part ->> 'kind' = 'rollup' THEN
      parts := parts || @extschema@.metric_rollup_sql(part ->> 'name',
        ARRAY(SELECT l.name FROM @extschema@.metric_latest l WHERE l.name = ANY (needed) AND l.type = 'simple' ORDER BY l.name),
        coalesce(dimensions, '{}'), grain, fcompiled, from_date, to_date);
      part_metrics := part_metrics || ARRAY(SELECT format('s%s.%I', cardinality(parts), l.name) FROM @extschema@.metric_latest l
                                              WHERE l.name = ANY (needed) AND l.type = 'simple' ORDER BY l.name);
      CONTINUE;
    END IF;
    IF part ->> 'kind' = 'shifted' THEN
      -- the base metric asked the same question a period earlier, moved on by that period
      o := (part ->> 'offset');
      parts := parts || format(E'SELECT (p.metric_time + %L::interval)::date AS metric_time%s,\n       p.%I AS %I\n  FROM (%s) AS p',
        o, (SELECT string_agg(format(', p.%I', x), '') FROM unnest(coalesce(dimensions, '{}')) x),
        part ->> 'base', 'prev__' || (part ->> 'name'),
        @extschema@.metric_sql(ARRAY[part ->> 'base'], dimensions, grain, filters,
                               (from_date - o::interval)::date, (to_date - o::interval)::date, NULL, NULL, tz, use_rollups));
      part_metrics := part_metrics || format('s%s.%I', cardinality(parts), 'prev__' || (part ->> 'name'));
      CONTINUE;
    END IF;
    mdl := part ->> 'model';
    SELECT m.* INTO mrec FROM @extschema@.metric_model m WHERE m.name = mdl;
    IF (grain IS NOT NULL OR from_date IS NOT NULL OR to_date IS NOT NULL) AND mrec.time_column IS NULL THEN
      RAISE EXCEPTION 'model "%" has no time column: its metrics have no time grain or date range', mdl
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the model a time column (concord.model_define).';
    END IF;
    tt := @extschema@.metric_column_type(mrec.relation, mrec.time_column);
    -- the model's time as a local timestamp (a timestamptz in the zone asked for)
    ltime := CASE WHEN mrec.time_column IS NULL THEN NULL
                  WHEN tt = 'timestamptz'::regtype THEN format('%I.%I AT TIME ZONE %L', mdl, mrec.time_column, tz)
                  ELSE format('%I.%I::timestamp', mdl, mrec.time_column) END;
    joins := '{}';
    FOR d IN SELECT e FROM jsonb_array_elements(dims) e LOOP
      CONTINUE WHEN d ->> 'model' = mdl;
      WITH RECURSIVE p(node, path) AS (
        SELECT mdl, ARRAY[]::text[]
        UNION ALL
        SELECT j.to_model, p.path || (j.model || '>' || j.to_model)
          FROM p JOIN @extschema@.metric_join j ON j.model = p.node
         WHERE cardinality(p.path) < 8)
      SELECT p.path INTO path FROM p WHERE p.node = d ->> 'model' ORDER BY cardinality(p.path) LIMIT 1;
      IF path IS NULL THEN
        RAISE EXCEPTION 'dimension "%" (model %) cannot be reached from model "%" by declared joins', d ->> 'out', d ->> 'model', mdl
          USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Declare a many-to-one join with concord.model_join(%L, %L, ...), or leave the dimension out.', mdl, d ->> 'model');
      END IF;
      FOREACH edge IN ARRAY path LOOP
        IF NOT edge = ANY (joins) THEN
          joins := joins || edge;
        END IF;
      END LOOP;
    END LOOP;
    from_sql := format('%s AS %I', mrec.relation, mdl);
    FOREACH edge IN ARRAY joins LOOP
      SELECT j.*, m.relation INTO jrec FROM @extschema@.metric_join j JOIN @extschema@.metric_model m ON m.name = j.to_model
       WHERE j.model = split_part(edge, '>', 1) AND j.to_model = split_part(edge, '>', 2);
      from_sql := from_sql || format(E'\n           LEFT JOIN %s AS %I ON %I.%I = %I.%I',
                                     jrec.relation, jrec.to_model, jrec.to_model, jrec.to_column, jrec.model, jrec.from_column);
    END LOOP;

    inner_cols := '{}';
    outer_cols := '{}';
    group_keys := '{}';
    IF part ->> 'kind' = 'cumulative' THEN
      inner_cols := inner_cols || format('%s AS t', ltime);
      outer_cols := outer_cols || 's.metric_time::date AS metric_time'::text;
      group_keys := group_keys || 's.metric_time'::text;
    ELSIF grain IS NOT NULL THEN
      inner_cols := inner_cols || format('date_trunc(%L, %s)::date AS metric_time', grain, ltime);
      outer_cols := outer_cols || 'd.metric_time'::text;
      group_keys := group_keys || 'd.metric_time'::text;
    END IF;
    FOR d IN SELECT e FROM jsonb_array_elements(dims) e LOOP
      inner_cols := inner_cols || format('%s AS %I', d ->> 'compiled', d ->> 'out');
    END LOOP;
    FOR ds IN SELECT x FROM unnest(coalesce(dimensions, '{}')) x LOOP
      outer_cols := outer_cols || format('d.%I', ds);
      group_keys := group_keys || format('d.%I', ds);
    END LOOP;
    FOR lrec IN SELECT x ->> 'name' AS name, x -> 'compiled' AS compiled FROM jsonb_array_elements(part -> 'metrics') x LOOP
      IF lrec.compiled ? 'conv_entity' THEN
        -- a conversion: each entity with the first event, and whether the
        -- same entity has the second within the window after it
        o := CASE WHEN left(lrec.compiled ->> 'conv_time', 3) = 'tz:'
                  THEN format('conv.%I AT TIME ZONE %L', substr(lrec.compiled ->> 'conv_time', 4), tz)
                  ELSE format('conv.%I::timestamp', lrec.compiled ->> 'conv_time') END;
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'entity', 'e__' || lrec.name);
        inner_cols := inner_cols || format('%s AS %I', coalesce(lrec.compiled ->> 'filter', 'true'), 'f__' || lrec.name);
        inner_cols := inner_cols || format(E'EXISTS (SELECT 1 FROM %s AS conv\n                        WHERE %s = %s AND %s >= %s AND %s < %s + %L::interval%s) AS %I',
          lrec.compiled ->> 'conv_relation', lrec.compiled ->> 'conv_entity', lrec.compiled ->> 'entity',
          o, ltime, o, ltime, lrec.compiled ->> 'window',
          CASE WHEN lrec.compiled ? 'conv_filter' THEN ' AND ' || (lrec.compiled ->> 'conv_filter') ELSE '' END,
          'c__' || lrec.name);
        outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I)::numeric AS %I',
                                           'e__' || lrec.name, 'f__' || lrec.name, 'opps__' || lrec.name);
        outer_cols := outer_cols || format('count(DISTINCT d.%I) FILTER (WHERE d.%I AND d.%I)::numeric AS %I',
                                           'e__' || lrec.name, 'f__' || lrec.name, 'c__' || lrec.name, 'conv__' || lrec.name);
        part_metrics := part_metrics || format('s%s.%I', cardinality(parts) + 1, 'opps__' || lrec.name)
                                     || format('s%s.%I', cardinality(parts) + 1, 'conv__' || lrec.name);
        CONTINUE;
      END IF;
      IF lrec.compiled ? 'expr' THEN
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'expr', 'v__' || lrec.name);
      END IF;
      IF lrec.compiled ? 'filter' THEN
        inner_cols := inner_cols || format('%s AS %I', lrec.compiled ->> 'filter', 'f__' || lrec.name);
      END IF;
      outer_cols := outer_cols || format('%s%s::numeric AS %I',
        CASE lrec.compiled ->> 'agg'
          WHEN 'count_distinct' THEN format('count(DISTINCT d.%I)', 'v__' || lrec.name)
          WHEN 'count' THEN CASE WHEN lrec.compiled ? 'expr' THEN format('count(d.%I)', 'v__' || lrec.name) ELSE 'count(*)' END
          ELSE format('%s(d.%I)', lrec.compiled ->> 'agg', 'v__' || lrec.name) END,
        CASE WHEN lrec.compiled ? 'filter' THEN format(' FILTER (WHERE d.%I)', 'f__' || lrec.name) ELSE '' END,
        lrec.name);
      part_metrics := part_metrics || format('s%s.%I', cardinality(parts) + 1, lrec.name);
    END LOOP;
    IF cardinality(inner_cols) = 0 THEN
      inner_cols := ARRAY['1 AS one'];
    END IF;
    where_sql := '{}';
    -- (a cumulative metric reads the rows before the range too)
    IF from_date IS NOT NULL AND part ->> 'kind' = 'bucket' THEN
      where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
        THEN format('%I.%I >= (%L::timestamp AT TIME ZONE %L)', mdl, mrec.time_column, from_date, tz)
        ELSE format('%I.%I >= %L::date', mdl, mrec.time_column, from_date) END;
    END IF;
    IF to_date IS NOT NULL THEN
      where_sql := where_sql || CASE WHEN tt = 'timestamptz'::regtype
        THEN format('%I.%I < (%L::timestamp AT TIME ZONE %L)', mdl, mrec.time_column, to_date + 1, tz)
        ELSE format('%I.%I < %L::date', mdl, mrec.time_column, to_date + 1) END;
    END IF;
    IF part ->> 'kind' = 'bucket' THEN
      parts := parts || format(E'SELECT %s\n  FROM (SELECT %s\n          FROM %s%s) AS d%s%s',
        array_to_string(outer_cols, E',\n         '),
        array_to_string(inner_cols, E',\n               '),
        from_sql,
        CASE WHEN cardinality(where_sql) > 0 THEN E'\n         WHERE ' || array_to_string(where_sql, E'\n           AND ') ELSE '' END,
        CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
        CASE WHEN cardinality(group_keys) > 0 THEN E'\n GROUP BY ' || array_to_string(group_keys, ', ') ELSE '' END);
    ELSE
      -- each bucket of the range (or of the rows' times) joined to the rows
      -- before its end: all of them, or those of the trailing window
      step := CASE grain WHEN 'quarter' THEN '3 months' ELSE '1 ' || grain END;
      parts := parts || format(E'SELECT %s\n  FROM generate_series(%s, %s, %L::interval) AS s(metric_time)\n'
                               || E'  JOIN (SELECT %s\n          FROM %s%s) AS d\n'
                               || E'    ON d.t < s.metric_time + %L::interval%s%s\n GROUP BY %s',
        array_to_string(outer_cols, E',\n         '),
        CASE WHEN from_date IS NOT NULL THEN format('date_trunc(%L, %L::timestamp)', grain, from_date)
             ELSE format('(SELECT date_trunc(%L, min(%s)) FROM %s AS %I)', grain, ltime, mrec.relation, mdl) END,
        CASE WHEN to_date IS NOT NULL THEN format('date_trunc(%L, %L::timestamp)', grain, to_date)
             ELSE format('(SELECT date_trunc(%L, max(%s)) FROM %s AS %I)', grain, ltime, mrec.relation, mdl) END,
        step,
        array_to_string(inner_cols, E',\n               '),
        from_sql,
        CASE WHEN cardinality(where_sql) > 0 THEN E'\n         WHERE ' || array_to_string(where_sql, E'\n           AND ') ELSE '' END,
        step,
        CASE WHEN part ->> 'trailing' IS NOT NULL
             THEN format(' AND d.t >= s.metric_time + %L::interval - %L::interval', step, part ->> 'trailing') ELSE '' END,
        CASE WHEN fcompiled IS NOT NULL THEN E'\n WHERE ' || fcompiled ELSE '' END,
        array_to_string(group_keys, ', '));
    END IF;
  END LOOP;

  -- the models together
  IF cardinality(parts) = 1 THEN
    sql := parts[1];
  ELSE
    sql := format(E'SELECT %s\n  FROM (%s) AS s1',
                  array_to_string(keys || part_metrics, E',\n       '), parts[1]);
    FOR i IN 2 .. cardinality(parts) LOOP
      sql := sql || format(E'\n  %s (%s) AS s%s%s',
                           CASE WHEN cardinality(keys) > 0 THEN 'FULL JOIN' ELSE 'CROSS JOIN' END, parts[i], i,
                           CASE WHEN cardinality(keys) > 0 THEN format(' USING (%s)', array_to_string(keys, ', ')) ELSE '' END);
    END LOOP;
  END IF;

  -- ratio and derived metrics, a layer at a time
  SELECT coalesce(array_agg(l.name), '{}') INTO available FROM @extschema@.metric_latest l
   WHERE l.name = ANY (needed) AND l.type IN ('simple', 'cumulative');
  SELECT coalesce(array_agg(l.name), '{}') INTO pending FROM @extschema@.metric_latest l
   WHERE l.name = ANY (needed) AND l.type NOT IN ('simple', 'cumulative');
  WHILE cardinality(pending) > 0 LOOP
    layer := '{}';
    FOR lrec IN SELECT l.name, l.compiled FROM @extschema@.metric_latest l
                 WHERE l.name = ANY (pending) AND l.depends <@ available ORDER BY l.name LOOP
      layer := layer || format('(%s)::numeric AS %I', lrec.compiled ->> 'expr', lrec.name);
    END LOOP;
    IF cardinality(layer) = 0 THEN
      RAISE EXCEPTION 'metrics % depend on each other', array_to_string(pending, ', ') USING ERRCODE = 'invalid_recursion';
    END IF;
    sql := format(E'SELECT m.*,\n       %s\n  FROM (%s) AS m', array_to_string(layer, E',\n       '), sql);
    SELECT array_agg(l.name) INTO out_cols FROM @extschema@.metric_latest l
     WHERE l.name = ANY (pending) AND l.depends <@ available;
    available := available || out_cols;
    pending := ARRAY(SELECT x FROM unnest(pending) x WHERE NOT x = ANY (out_cols));
  END LOOP;

  -- what was asked for, in order
  out_cols := keys || ARRAY(SELECT pg_catalog.quote_ident(x) FROM unnest(metrics) x);
  FOREACH o IN ARRAY coalesce(order_by, CASE WHEN grain IS NOT NULL THEN ARRAY['metric_time'] ELSE '{}' END
                                         || coalesce(dimensions, '{}')) LOOP
    ds := CASE WHEN left(o, 1) = '-' THEN substr(o, 2) ELSE o END;
    IF NOT pg_catalog.quote_ident(ds) = ANY (out_cols) THEN
      RAISE EXCEPTION 'cannot order by "%": it is not a dimension or metric of the question', ds
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Order by metric_time, an asked dimension or metric; -name for descending.';
    END IF;
    ord := ord || (pg_catalog.quote_ident(ds) || CASE WHEN left(o, 1) = '-' THEN ' DESC' ELSE '' END);
  END LOOP;
  RETURN format(E'SELECT %s\n  FROM (%s) AS r%s%s',
                array_to_string(ARRAY(SELECT 'r.' || c FROM unnest(out_cols) c), ', '), sql,
                CASE WHEN cardinality(ord) > 0 THEN E'\n ORDER BY ' || array_to_string(ord, ', ') ELSE '' END,
                CASE WHEN row_limit IS NOT NULL THEN E'\n LIMIT ' || row_limit ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_sql(text[], text[], text, text, date, date, text[], integer, text, boolean) IS
  'The SQL that answers metrics by dimensions and time grain (day, week, month, quarter, year in time_zone), filtered by a condition over dimensions, between two dates (both included), ordered (-name: descending) and limited; from a rollup when one gives provably the same answer to the caller (unless use_rollups is false)';

CREATE FUNCTION @extschema@.metric_query(metrics text[], dimensions text[] DEFAULT '{}', grain text DEFAULT NULL,
                                         filters text DEFAULT NULL, from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                         order_by text[] DEFAULT NULL, row_limit integer DEFAULT NULL,
                                         time_zone text DEFAULT NULL, use_rollups boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  q text := @extschema@.metric_sql(metrics, dimensions, grain, filters, from_date, to_date, order_by, row_limit, time_zone,
                                   use_rollups);
  r record;
BEGIN
  -- an answer from a version nobody certified says so
  FOR r IN SELECT c.name, c.latest_version, c.certified_version FROM @extschema@.metric_catalog c
            WHERE c.name = ANY (metrics) AND NOT c.certified ORDER BY c.name LOOP
    RAISE NOTICE 'metric "%" version % is not certified%', r.name, r.latest_version,
      CASE WHEN r.certified_version IS NOT NULL THEN format(' (version %s is)', r.certified_version) ELSE '' END;
  END LOOP;
  RETURN QUERY EXECUTE format('SELECT pg_catalog.to_jsonb(q) FROM (%s) AS q', q);
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_query(text[], text[], text, text, date, date, text[], integer, text, boolean) IS
  'Answers metrics (as metric_sql writes the question) with a row of jsonb per answer row, run as the caller under the caller''s row policies; a NOTICE names metrics whose latest version is not certified';

-- Grants: the catalog is readable by everyone (one definition of revenue
-- for all); defining is concord_metric's; answering is everyone's, as
-- themselves.
GRANT SELECT ON @extschema@.metric_model, @extschema@.metric_dimension, @extschema@.metric_join,
                @extschema@.metric, @extschema@.metric_certification, @extschema@.metric_latest,
                @extschema@.metric_catalog TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON @extschema@.metric_model, @extschema@.metric_dimension, @extschema@.metric_join,
                @extschema@.metric, @extschema@.metric_certification TO concord_metric;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'model_define(text, regclass, text, jsonb, text)', 'model_join(text, text, text, text, boolean)',
    'model_drop(text)',
    'metric_define(text, text, text, text, text, text, text, text, text, text, text, interval, interval, text, text, text, text, text)',
    'metric_certify(text, integer)', 'metric_drop(text)']);
-- (metric's definitions are audited like policy's)
GRANT EXECUTE ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb) TO concord_metric;
/* concord — metric: views for BI and report tools.  Joined into
 * concord--<version>.sql by the Makefile after query.sql.
 *
 * metric_publish() makes an ordinary view (by default in schema metrics)
 * answering a set of metrics by dimensions and grain, with comments from
 * the definitions on the view and every column, so a JDBC/ODBC client sees
 * them in its schema browser.  The views are security_invoker: a report
 * tool connected as a person reads the rows that person's row policies
 * show.  A metric redefined rebuilds the views that use it, in the same
 * transaction. */

CREATE TABLE @extschema@.metric_publication (
  view_name   regclass PRIMARY KEY,
  metrics     text[] NOT NULL,
  dimensions  text[] NOT NULL DEFAULT '{}',
  grain       text,
  filters     text,
  time_zone   text NOT NULL,
  published_by text NOT NULL DEFAULT current_user,
  published_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_publication IS
  'Views made by metric_publish: the question each answers, rebuilt when a metric in it is redefined';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_publication', '');

-- Forgets publications whose view was dropped (DROP VIEW is how one ends).
CREATE FUNCTION @extschema@.metric_publication_tidy()
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  DELETE FROM @extschema@.metric_publication p WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name);
END;
COMMENT ON FUNCTION @extschema@.metric_publication_tidy() IS
  'Internal: forgets the publications whose view was dropped';

-- (Re)creates a publication's view from its question; returns it.
CREATE FUNCTION @extschema@.metric_publish_build(nsp text, rel text, metrics text[], dimensions text[], grain text,
                                                 filters text, time_zone text, reshape boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v regclass;
  c record;
  readers jsonb := '[]';
BEGIN
  -- a question of another shape: the view is made anew, its readers kept
  IF reshape AND pg_catalog.to_regclass(format('%I.%I', nsp, rel)) IS NOT NULL THEN
    SELECT coalesce(jsonb_agg(DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC'
                                            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END), '[]')
      INTO readers
      FROM pg_catalog.pg_class k, LATERAL pg_catalog.aclexplode(k.relacl) x
     WHERE k.oid = pg_catalog.to_regclass(format('%I.%I', nsp, rel)) AND x.privilege_type = 'SELECT' AND x.grantee <> k.relowner;
    EXECUTE format('DROP VIEW %I.%I', nsp, rel);
  END IF;
  EXECUTE format('CREATE OR REPLACE VIEW %I.%I WITH (security_invoker = true) AS %s', nsp, rel,
                 -- (from the models, not a rollup: a view's SQL is fixed, a rollup's freshness is not)
                 @extschema@.metric_sql(metrics, dimensions, grain, filters, NULL, NULL, NULL, NULL, time_zone, false));
  v := format('%I.%I', nsp, rel)::regclass;
  FOR c IN SELECT e #>> '{}' AS who FROM jsonb_array_elements(readers) e LOOP
    EXECUTE format('GRANT SELECT ON %s TO %s', v, c.who);
  END LOOP;
  EXECUTE format('COMMENT ON VIEW %s IS %L', v,
    format('concord metrics %s%s%s%s, answered as the reader (row policies apply). Made by concord.metric_publish.',
           array_to_string(metrics, ', '),
           CASE WHEN cardinality(dimensions) > 0 THEN ' by ' || array_to_string(dimensions, ', ') ELSE '' END,
           CASE WHEN grain IS NOT NULL THEN format(' per %s (%s)', grain, time_zone) ELSE '' END,
           CASE WHEN filters IS NOT NULL THEN ' where ' || filters ELSE '' END));
  IF grain IS NOT NULL THEN
    EXECUTE format('COMMENT ON COLUMN %s.metric_time IS %L', v,
                   format('The first day of the %s, in time zone %s', grain, time_zone));
  END IF;
  FOR c IN SELECT x AS out, d.description, d.model, d.name
             FROM unnest(dimensions) x
             LEFT JOIN @extschema@.metric_dimension d ON (position('.' IN x) = 0 AND d.name = x) OR d.model || '.' || d.name = x LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c.out,
                   coalesce(c.description || ' ', '') || format('(dimension %s of model %s)', c.name, c.model));
  END LOOP;
  FOR c IN SELECT k.name, k.description, k.latest_version, k.certified, k.certified_version, k.owner
             FROM @extschema@.metric_catalog k WHERE k.name = ANY (metrics) LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', v, c.name,
                   coalesce(c.description || ' ', '') || format('(metric %s version %s, %s; owner %s)', c.name, c.latest_version,
                     CASE WHEN c.certified THEN 'certified' WHEN c.certified_version IS NOT NULL
                          THEN format('not certified: version %s is', c.certified_version) ELSE 'not certified' END, c.owner));
  END LOOP;
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish_build(text, text, text[], text[], text, text, text, boolean) IS
  'Internal to metric_publish: (re)creates a publication''s security_invoker view and its comments';

CREATE FUNCTION @extschema@.metric_publish(view_name text, metrics text[], dimensions text[] DEFAULT '{}',
                                           grain text DEFAULT NULL, filters text DEFAULT NULL, time_zone text DEFAULT NULL,
                                           schema_name text DEFAULT 'metrics', readers text[] DEFAULT '{}')
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v regclass;
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  r text;
BEGIN
  IF view_name IS NULL OR view_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid view name "%"', view_name
      USING ERRCODE = 'invalid_name', HINT = 'A view name is a lower-case identifier, e.g. revenue_by_region_month.';
  END IF;
  IF schema_name IS NULL OR schema_name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid schema name "%"', schema_name USING ERRCODE = 'invalid_name';
  END IF;
  IF pg_catalog.to_regclass(format('%I.%I', schema_name, view_name)) IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM @extschema@.metric_publication p
                      WHERE p.view_name = pg_catalog.to_regclass(format('%I.%I', metric_publish.schema_name, metric_publish.view_name))) THEN
    RAISE EXCEPTION 'relation %.% exists and is not a metric publication', schema_name, view_name
      USING ERRCODE = 'duplicate_table', HINT = 'Choose another name.';
  END IF;
  PERFORM @extschema@.metric_publication_tidy();
  EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', schema_name);
  v := @extschema@.metric_publish_build(schema_name, view_name, metrics, coalesce(dimensions, '{}'), grain, filters, tz, true);
  INSERT INTO @extschema@.metric_publication AS p (view_name, metrics, dimensions, grain, filters, time_zone)
  VALUES (v, metrics, coalesce(dimensions, '{}'), grain, filters, tz)
  ON CONFLICT ON CONSTRAINT metric_publication_pkey DO UPDATE
    SET metrics = excluded.metrics, dimensions = excluded.dimensions, grain = excluded.grain, filters = excluded.filters,
        time_zone = excluded.time_zone, published_by = current_user, published_at = pg_catalog.now();
  FOREACH r IN ARRAY coalesce(readers, '{}') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
    EXECUTE format('GRANT SELECT ON %s TO %s', v, CASE WHEN r = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(r) END);
  END LOOP;
  PERFORM @extschema@.audit_record('metric_publish', v::text, NULL,
                                   jsonb_build_object('metrics', metrics, 'dimensions', dimensions, 'grain', grain,
                                                      'filters', filters, 'time_zone', tz, 'readers', readers));
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish(text, text[], text[], text, text, text, text, text[]) IS
  'Makes (or remakes) a security_invoker view answering metrics by dimensions and grain, commented from the definitions, for BI tools; readers get SELECT on it';

-- Rebuilds the publications that use a metric (directly or through
-- others); called by metric_define when a metric changes.
CREATE FUNCTION @extschema@.metric_publish_refresh(metric text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  p record;
  n integer := 0;
BEGIN
  PERFORM @extschema@.metric_publication_tidy();
  FOR p IN SELECT x.*, c.relname, s.nspname FROM @extschema@.metric_publication x
             JOIN pg_catalog.pg_class c ON c.oid = x.view_name JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
            WHERE metric_publish_refresh.metric IS NULL OR metric_publish_refresh.metric = ANY (@extschema@.metric_closure(x.metrics))
            ORDER BY x.view_name::text LOOP
    PERFORM @extschema@.metric_publish_build(p.nspname, p.relname, p.metrics, p.dimensions, p.grain, p.filters, p.time_zone);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_publish_refresh(text) IS
  'Rebuilds the views of the publications using a metric (all, without one); returns how many';

GRANT SELECT ON @extschema@.metric_publication TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON @extschema@.metric_publication TO concord_metric;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'metric_publish_build(text, text, text[], text[], text, text, text, boolean)', 'metric_publication_tidy()',
    'metric_publish(text, text[], text[], text, text, text, text, text[])', 'metric_publish_refresh(text)']);
/* concord — metric: rollups.  Joined into concord--<version>.sql by the
 * Makefile after publish.sql.
 *
 * metric_rollup() materializes simple metrics at a time grain and a set of
 * dimensions into a table of schema concord_rollup.  metric_sql() answers
 * from it when that is provably the same answer for the caller:
 *   - the question needs only metrics, dimensions and filter dimensions
 *     the rollup has, at its grain or a coarser one, over whole buckets,
 *     in its time zone; count_distinct and avg, which do not add up, only
 *     at exactly its grain and dimensions;
 *   - the metrics are at the versions it was built from;
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
GRANT CREATE ON SCHEMA concord_rollup TO concord_metric;

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
  created_by   text NOT NULL DEFAULT current_user,
  created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.metric_rollup IS
  'Rollups: simple metrics (at the versions in versions) materialized by dimensions and grain in a table of concord_rollup, over the tables in relations';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.metric_rollup', '');

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
  IF TG_OP = 'TRUNCATE' OR TG_ARGV[1] = '' THEN
    since := '-infinity';
  ELSE
    t := CASE WHEN TG_ARGV[2] = '' THEN format('%I::timestamp', TG_ARGV[1])
              ELSE format('%I AT TIME ZONE %L', TG_ARGV[1], TG_ARGV[2]) END;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      EXECUTE format('SELECT count(*), count(*) - count(%s), min(%s) FROM new_rows', t, t) INTO n, nulls, m;
      since := least(since, m);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      EXECUTE format('SELECT count(*) + $1, count(*) - count(%s) + $2, min(%s) FROM old_rows', t, t) USING n, nulls INTO n, nulls, m;
      since := least(since, m);
    END IF;
    IF n = 0 THEN
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

CREATE FUNCTION @extschema@.metric_rollup(name text, metrics text[], dimensions text[] DEFAULT '{}',
                                          grain text DEFAULT 'day', time_zone text DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_column
DECLARE
  tz text := coalesce(time_zone, current_setting('TimeZone'));
  leaves text[];
  bad text;
  mdls text[];
  rels regclass[];
  q text;
  tbl regclass;
  r record;
  ev text;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid rollup name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rollup name is a lower-case identifier, e.g. revenue_daily.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.metric_rollup x WHERE x.name = metric_rollup.name) THEN
    RAISE EXCEPTION 'rollup "%" already exists', name
      USING ERRCODE = 'duplicate_object', HINT = 'Drop it first (concord.metric_rollup_drop), or refresh it.';
  END IF;
  IF grain IS NULL OR grain NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'unknown time grain "%"', grain
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of day, week, month, quarter, year.';
  END IF;
  -- the simple metrics the asked ones are computed from
  SELECT string_agg(l.name || ' (' || l.type || ')', ', ') INTO bad FROM @extschema@.metric_latest l
   WHERE l.name = ANY (@extschema@.metric_closure(metrics)) AND l.type IN ('cumulative', 'period_over_period');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'metrics % are not rolled up', bad
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Roll up their base metrics: cumulative and period-over-period ones are computed from them.';
  END IF;
  -- (unknown metrics and dimensions fail in metric_sql, with its errors)
  q := @extschema@.metric_sql(metrics, dimensions, grain, NULL, NULL, NULL, NULL, NULL, tz, false);
  SELECT array_agg(l.name ORDER BY l.name), array_agg(DISTINCT l.compiled ->> 'model') INTO leaves, mdls
    FROM @extschema@.metric_latest l WHERE l.name = ANY (@extschema@.metric_closure(metrics)) AND l.type = 'simple';
  -- the tables it reads: the metrics' models and those on the joins to the dimensions' models
  WITH RECURSIVE p(node, path) AS (
    SELECT m, ARRAY[m] FROM unnest(mdls) m
    UNION ALL
    SELECT j.to_model, p.path || j.to_model FROM p JOIN @extschema@.metric_join j ON j.model = p.node
     WHERE cardinality(p.path) < 9)
  SELECT array_agg(DISTINCT x.relation) INTO rels FROM @extschema@.metric_model x
   WHERE x.name = ANY (mdls)
      OR x.name IN (SELECT unnest(p.path) FROM p WHERE p.node IN (
                      SELECT d.model FROM @extschema@.metric_dimension d
                       WHERE d.name = ANY (dimensions) OR d.model || '.' || d.name = ANY (dimensions)));
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t
   WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t) NOT IN ('r', 'p');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'rollup "%" would read views: %', name, bad
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'What a view shows may depend on who reads it, so no rollup of it can be proven the same for everyone.';
  END IF;
  SELECT string_agg(t::text, ', ') INTO bad FROM unnest(rels) t WHERE pg_catalog.row_security_active(t);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'row security hides rows of % from you: a rollup you build would miss them', bad
      USING ERRCODE = 'insufficient_privilege', HINT = 'Build rollups as the tables'' owner or a role with BYPASSRLS.';
  END IF;
  q := @extschema@.metric_sql(leaves, dimensions, grain, NULL, NULL, NULL, NULL, NULL, tz, false);
  EXECUTE format('CREATE TABLE concord_rollup.%I AS %s WITH NO DATA', name, q);
  tbl := format('concord_rollup.%I', name)::regclass;
  EXECUTE format('CREATE INDEX ON %s (metric_time)', tbl);
  EXECUTE format('COMMENT ON TABLE %s IS %L', tbl,
                 format('concord rollup %s: %s by %s per %s (%s); read it through concord.metric_query', name,
                        array_to_string(leaves, ', '), coalesce(nullif(array_to_string(dimensions, ', '), ''), 'nothing'), grain, tz));
  -- read directly, it shows rows only to those it could be used for
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY concord_rollup_reader ON %s FOR SELECT TO PUBLIC USING ((SELECT %I.metric_rollup_readable(%L)))',
                 tbl, '@extschema@', name);
  EXECUTE format('GRANT SELECT ON %s TO PUBLIC', tbl);
  INSERT INTO @extschema@.metric_rollup (name, table_name, metrics, aggs, versions, dimensions, grain, time_zone, relations)
  SELECT metric_rollup.name, tbl, leaves,
         jsonb_object_agg(l.name, l.compiled ->> 'agg'), jsonb_object_agg(l.name, l.version),
         coalesce(metric_rollup.dimensions, '{}'), metric_rollup.grain, tz, rels
    FROM @extschema@.metric_latest l WHERE l.name = ANY (leaves);
  -- every change to its tables is noted
  FOR r IN SELECT t AS rel, (SELECT m.time_column FROM @extschema@.metric_model m
                               WHERE m.relation = t AND m.name = ANY (mdls) AND m.time_column IS NOT NULL LIMIT 1) AS tcol
             FROM unnest(rels) t LOOP
    FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
      EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %I.metric_rollup_note(%L, %L, %L)',
        left('concord_rollup_' || name, 60) || '_' || left(ev, 1), ev, r.rel,
        CASE ev WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows' ELSE '' END,
        '@extschema@', name, coalesce(r.tcol, ''),
        CASE WHEN r.tcol IS NOT NULL AND @extschema@.metric_column_type(r.rel, r.tcol) = 'timestamptz'::regtype THEN tz ELSE '' END);
    END LOOP;
  END LOOP;
  PERFORM @extschema@.metric_rollup_refresh(name, true);
  PERFORM @extschema@.audit_record('metric_rollup', name, NULL,
    jsonb_build_object('metrics', leaves, 'dimensions', dimensions, 'grain', grain, 'time_zone', tz));
  RETURN tbl;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup(text, text[], text[], text, text) IS
  'Materializes the simple metrics behind the given ones by dimensions and grain (in time_zone) into concord_rollup.<name>, fills it, and watches its tables for changes; metric_query then answers from it when that is provably the same answer for the caller';

CREATE FUNCTION @extschema@.metric_rollup_refresh(name text, full_refresh boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
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
  SELECT * INTO r FROM @extschema@.metric_rollup x WHERE x.name = metric_rollup_refresh.name FOR UPDATE;
  IF r.name IS NULL THEN
    RAISE EXCEPTION 'unknown rollup "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  SELECT EXISTS (SELECT 1 FROM @extschema@.metric_latest l
                  WHERE l.name = ANY (r.metrics) AND (l.version::text <> r.versions ->> l.name OR l.type <> 'simple'))
    INTO stale_versions;
  IF stale_versions AND EXISTS (SELECT 1 FROM @extschema@.metric_latest l WHERE l.name = ANY (r.metrics) AND l.type <> 'simple') THEN
    RAISE EXCEPTION 'rollup "%" holds metrics that are no longer simple', name
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Drop it and roll up the metrics again.';
  END IF;
  SELECT min(c.since), array_agg(c.id) INTO since, ids FROM @extschema@.metric_rollup_change c WHERE c.rollup = r.name;
  IF NOT full_refresh AND NOT stale_versions AND ids IS NULL AND r.refreshed_at IS NOT NULL THEN
    RETURN 0;                         -- nothing changed
  END IF;
  IF full_refresh OR stale_versions OR r.refreshed_at IS NULL OR since = '-infinity' THEN
    EXECUTE format('DELETE FROM %s', r.table_name);
    EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS q', r.table_name,
                   @extschema@.metric_sql(r.metrics, r.dimensions, r.grain, NULL, NULL, NULL, NULL, NULL, r.time_zone, false));
  ELSE
    -- the buckets from the earliest change on
    b := date_trunc(r.grain, since)::date;
    EXECUTE format('DELETE FROM %s WHERE metric_time >= %L', r.table_name, b);
    EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS q', r.table_name,
                   @extschema@.metric_sql(r.metrics, r.dimensions, r.grain, NULL, b, NULL, NULL, NULL, r.time_zone, false));
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM @extschema@.metric_rollup_change c WHERE c.id = ANY (ids);
  EXECUTE format('SELECT count(*) FROM %s', r.table_name) INTO total;
  UPDATE @extschema@.metric_rollup x SET refreshed_at = pg_catalog.now(), row_count = total,
         versions = (SELECT jsonb_object_agg(l.name, l.version) FROM @extschema@.metric_latest l WHERE l.name = ANY (r.metrics))
   WHERE x.name = r.name;
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
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  t regclass;
  ev text;
BEGIN
  SELECT * INTO r FROM @extschema@.metric_rollup x WHERE x.name = metric_rollup_drop.name;
  IF r.name IS NULL THEN
    RETURN false;
  END IF;
  FOREACH t IN ARRAY r.relations LOOP
    FOREACH ev IN ARRAY ARRAY['i', 'u', 'd', 't'] LOOP
      EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', left('concord_rollup_' || r.name, 60) || '_' || ev, t);
    END LOOP;
  END LOOP;
  EXECUTE format('DROP TABLE IF EXISTS %s', r.table_name);
  DELETE FROM @extschema@.metric_rollup x WHERE x.name = r.name;
  PERFORM @extschema@.audit_record('metric_rollup_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_drop(text) IS
  'Drops a rollup: its table, its triggers and its definition';

-- The rollup (the one with the fewest rows) that answers a question
-- exactly as the models would, for the current user; NULL if none does.
CREATE FUNCTION @extschema@.metric_rollup_pick(leaves text[], dimensions text[], filter_dims text[], grain text,
                                               time_zone text, from_date date, to_date date)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  exact boolean;
BEGIN
  FOR r IN SELECT * FROM @extschema@.metric_rollup x
            WHERE x.refreshed_at IS NOT NULL AND metric_rollup_pick.leaves <@ x.metrics
              AND metric_rollup_pick.dimensions <@ x.dimensions AND coalesce(metric_rollup_pick.filter_dims, '{}') <@ x.dimensions
            ORDER BY x.row_count, x.name LOOP
    -- time: its zone, a grain it adds up to, whole buckets
    CONTINUE WHEN (grain IS NOT NULL OR from_date IS NOT NULL OR to_date IS NOT NULL) AND r.time_zone <> time_zone;
    CONTINUE WHEN grain IS NOT NULL AND NOT (grain = r.grain OR r.grain = 'day' AND grain <> 'day'
                                           OR r.grain = 'month' AND grain IN ('quarter', 'year')
                                           OR r.grain = 'quarter' AND grain = 'year');
    CONTINUE WHEN from_date IS NOT NULL AND date_trunc(r.grain, from_date::timestamp)::date <> from_date;
    CONTINUE WHEN to_date IS NOT NULL AND date_trunc(r.grain, (to_date + 1)::timestamp)::date <> to_date + 1;
    -- count_distinct and avg do not add up: exactly its grain and dimensions
    exact := coalesce(grain = r.grain, false) AND dimensions @> r.dimensions AND coalesce(filter_dims, '{}') <@ dimensions;
    CONTINUE WHEN NOT exact AND EXISTS (SELECT 1 FROM jsonb_each_text(r.aggs) a
                                         WHERE a.key = ANY (leaves) AND a.value IN ('count_distinct', 'avg'));
    -- the versions it was built from, nothing changed since (as the caller's snapshot sees it)
    CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.metric_latest l
                           WHERE l.name = ANY (leaves) AND l.version::text <> r.versions ->> l.name);
    CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.metric_rollup_change c WHERE c.rollup = r.name);
    -- the caller reads every row of its tables
    CONTINUE WHEN NOT @extschema@.metric_rollup_readable(r.name);
    RETURN r.name;
  END LOOP;
  RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.metric_rollup_pick(text[], text[], text[], text, text, date, date) IS
  'Internal to metric_sql: the rollup that gives the current user provably the answer the models would, or NULL';

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
GRANT INSERT, UPDATE, DELETE ON @extschema@.metric_rollup, @extschema@.metric_rollup_change TO concord_metric;
GRANT USAGE ON SEQUENCE @extschema@.metric_rollup_change_id_seq TO concord_metric;
SELECT @extschema@.grant_routines('concord_metric', ARRAY[
    'metric_rollup(text, text[], text[], text, text)', 'metric_rollup_refresh(text, boolean)', 'metric_rollup_drop(text)']);
REVOKE EXECUTE ON FUNCTION @extschema@.metric_rollup_note() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.metric_rollup_note() TO concord_metric;   -- (to create its triggers)
/* concord — flow: endpoints and the durable outbox.  Joined into
 * concord--<version>.sql by the Makefile after metric.
 *
 * A message is a row of concord.outbox, written inside the caller's
 * transaction: delivered if that commits, never if it rolls back.  The
 * database's background worker delivers due messages (src/flow/deliver.c)
 * to their endpoint: a POST of the payload, with an Idempotency-Key header
 * and an HMAC-SHA256 signature of the body under the endpoint's secret
 * (X-Concord-Signature: sha256=<hex>).  A 2xx marks it delivered; any other
 * outcome schedules another attempt with exponential backoff and jitter
 * (or the receiver's Retry-After), until max_attempts, then it is dead,
 * with its last error, until concord.outbox_retry(id).  A message is
 * claimed with a lease; a worker that dies leaves the lease to expire and
 * the message is sent again: at least once, never lost. */

SELECT @extschema@.capability_role('concord_flow',
  'may define endpoints and enqueue messages to them (concord.endpoint_define, outbox_enqueue, outbox_retry)');

CREATE FUNCTION @extschema@.flow_check_url(url text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_flow_check_url'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.flow_check_url(text) IS
  'Raises the destination guard''s error unless concord.http_allow admits the URL; true otherwise';

CREATE TABLE @extschema@.endpoint (
  name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  url           text NOT NULL,
  secret_name   text,
  format        text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'dingtalk', 'wecom', 'feishu', 'slack')),
  headers       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
  max_in_flight integer NOT NULL DEFAULT 8 CHECK (max_in_flight BETWEEN 1 AND 256),
  max_attempts  integer NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
  timeout_ms    integer NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 100 AND 600000),
  enabled       boolean NOT NULL DEFAULT true,
  description   text,
  defined_by    text NOT NULL DEFAULT current_user,
  defined_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.endpoint IS
  'Named delivery endpoints: URL (within concord.http_allow), the secret that signs bodies, caps, attempts, timeout';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.endpoint', '');

CREATE TABLE @extschema@.outbox (
  id              bigserial PRIMARY KEY,
  endpoint        text NOT NULL REFERENCES @extschema@.endpoint ON UPDATE CASCADE,
  payload         jsonb NOT NULL,
  headers         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
  idempotency_key text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  lease_until     timestamptz,
  last_status     integer,
  last_error      text,
  enqueued_by     text NOT NULL DEFAULT current_user,
  enqueued_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  delivered_at    timestamptz,
  UNIQUE (endpoint, idempotency_key)
);
CREATE INDEX outbox_due ON @extschema@.outbox (endpoint, id) WHERE status = 'pending';
CREATE INDEX outbox_in_flight ON @extschema@.outbox (lease_until) WHERE status = 'in_flight';
-- (messages are data: pg_dump keeps them, delivered or not)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_id_seq', '');
COMMENT ON TABLE @extschema@.outbox IS
  'Messages to endpoints, written in the enqueuing transaction and delivered by the background worker: pending, in_flight (leased), delivered or dead';

-- Wakes this database's worker when the enqueuing transaction commits.
CREATE FUNCTION @extschema@.flow_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_flow_wake'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.flow_wake() IS
  'Asks this database''s concord worker to deliver as soon as the current transaction commits (false when no worker runs)';

CREATE FUNCTION @extschema@.endpoint_define(name text, url text, secret_name text DEFAULT NULL,
                                            max_in_flight integer DEFAULT 8, max_attempts integer DEFAULT 10,
                                            timeout_ms integer DEFAULT 10000, headers jsonb DEFAULT '{}',
                                            description text DEFAULT NULL, format text DEFAULT 'json')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid endpoint name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'An endpoint name is a lower-case identifier, e.g. finance_billing.';
  END IF;
  IF url IS NULL THEN
    RAISE EXCEPTION 'endpoint "%" needs a URL', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.flow_check_url(url);
  IF secret_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.secret s WHERE s.name = endpoint_define.secret_name) THEN
    RAISE EXCEPTION 'secret "%" does not exist', secret_name
      USING ERRCODE = 'undefined_object', HINT = 'Store it first: SELECT concord.secret_set(name, value) (as a superuser).';
  END IF;
  IF headers IS NULL OR jsonb_typeof(headers) <> 'object' THEN
    RAISE EXCEPTION 'headers of endpoint "%" must be a JSON object', name USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF format IS NULL OR format NOT IN ('json', 'dingtalk', 'wecom', 'feishu', 'slack') THEN
    RAISE EXCEPTION 'unknown format "%" for endpoint "%"', format, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of json, dingtalk, wecom, feishu, slack.';
  END IF;
  INSERT INTO @extschema@.endpoint AS e (name, url, secret_name, max_in_flight, max_attempts, timeout_ms, headers, description, format)
  VALUES (name, url, secret_name, max_in_flight, max_attempts, timeout_ms, headers, description, format)
  ON CONFLICT ON CONSTRAINT endpoint_pkey DO UPDATE
    SET url = excluded.url, secret_name = excluded.secret_name, max_in_flight = excluded.max_in_flight,
        max_attempts = excluded.max_attempts, timeout_ms = excluded.timeout_ms, headers = excluded.headers,
        description = excluded.description, format = excluded.format, defined_by = current_user, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('endpoint_define', name, NULL,
    jsonb_build_object('url', @extschema@.http_redact_url(url), 'secret', secret_name, 'max_in_flight', max_in_flight,
                       'max_attempts', max_attempts, 'timeout_ms', timeout_ms));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.endpoint_define(text, text, text, integer, integer, integer, jsonb, text, text) IS
  'Defines (or redefines) a delivery endpoint: its URL must pass the destination guard now, its secret (by name) must exist; format (json, dingtalk, wecom, feishu, slack) is what its receiver accepts from event rules and alerts';

CREATE FUNCTION @extschema@.outbox_enqueue(endpoint text, payload jsonb, idempotency_key text DEFAULT NULL,
                                           headers jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  id bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name = outbox_enqueue.endpoint) THEN
    RAISE EXCEPTION 'unknown endpoint "%"', endpoint
      USING ERRCODE = 'undefined_object', HINT = 'Define it with concord.endpoint_define.';
  END IF;
  IF payload IS NULL THEN
    RAISE EXCEPTION 'a message to "%" needs a payload', endpoint USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF headers IS NULL OR jsonb_typeof(headers) <> 'object' THEN
    RAISE EXCEPTION 'headers of a message must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO @extschema@.outbox AS o (endpoint, payload, idempotency_key, headers)
  VALUES (endpoint, payload, coalesce(idempotency_key, pg_catalog.gen_random_uuid()::text), headers)
  ON CONFLICT ON CONSTRAINT outbox_endpoint_idempotency_key_key DO NOTHING
  RETURNING o.id INTO id;
  IF id IS NULL THEN
    -- the same key again: the message is already there (enqueueing is idempotent too)
    SELECT o.id INTO id FROM @extschema@.outbox o
     WHERE o.endpoint = outbox_enqueue.endpoint AND o.idempotency_key = outbox_enqueue.idempotency_key;
  END IF;
  PERFORM @extschema@.flow_wake();
  RETURN id;
END
$fn$;
COMMENT ON FUNCTION @extschema@.outbox_enqueue(text, jsonb, text, jsonb) IS
  'Enqueues a message to an endpoint in the current transaction (delivered if it commits); an idempotency key (default: a new UUID) already enqueued returns that message';

CREATE FUNCTION @extschema@.outbox_retry(id bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  st text;
BEGIN
  UPDATE @extschema@.outbox o SET status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), lease_until = NULL
   WHERE o.id = outbox_retry.id AND o.status = 'dead'
  RETURNING o.status INTO st;
  IF st IS NULL THEN
    SELECT o.status INTO st FROM @extschema@.outbox o WHERE o.id = outbox_retry.id;
    IF st IS NULL THEN
      RAISE EXCEPTION 'no outbox message %', id USING ERRCODE = 'undefined_object';
    END IF;
    RAISE EXCEPTION 'outbox message % is %, not dead', id, st
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only a dead message is retried by hand; the worker retries the others.';
  END IF;
  PERFORM @extschema@.flow_wake();
  RETURN st;
END
$fn$;
COMMENT ON FUNCTION @extschema@.outbox_retry(bigint) IS
  'Sends a dead message again: pending, its attempts counted from zero';

GRANT SELECT ON @extschema@.endpoint, @extschema@.outbox TO concord_flow;
GRANT INSERT, UPDATE, DELETE ON @extschema@.endpoint TO concord_flow;
GRANT INSERT, UPDATE ON @extschema@.outbox TO concord_flow;
GRANT USAGE ON SEQUENCE @extschema@.outbox_id_seq TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'flow_check_url(text)', 'flow_wake()',
    'endpoint_define(text, text, text, integer, integer, integer, jsonb, text, text)',
    'outbox_enqueue(text, jsonb, text, jsonb)', 'outbox_retry(bigint)']);
GRANT EXECUTE ON FUNCTION @extschema@.audit_record(text, text, jsonb, jsonb) TO concord_flow;
/* concord — flow: event rules.  Joined into concord--<version>.sql by the
 * Makefile after flow.sql.
 *
 * An event rule fires inside the transaction that changed a row: on
 * INSERT, UPDATE or DELETE of a table, when a condition over NEW and OLD
 * holds (checked by the parser and the allowlist, e.g.
 * NEW.status = '已签约' AND OLD.status IS DISTINCT FROM '已签约'), it runs
 * its actions:
 *   {"webhook": "<endpoint>", "payload": <template>}   a message to the outbox
 *   {"insert": "<table>", "values": <template>}        a task row for another department
 *   {"notify": "<channel>", "payload": <template>}     NOTIFY
 * A template is JSON whose strings "$new.<column>" and "$old.<column>" become
 * that column's value, and "$rule", "$table", "$op" what they say; the
 * columns are checked when the rule is defined.  Each rule is a row
 * trigger calling a function made for it, SECURITY DEFINER as the rule's
 * definer: the actions run with the definer's privileges, which are checked
 * when the rule is defined.  Every firing is recorded in
 * concord.event_firing. */

CREATE SCHEMA concord_rules;
COMMENT ON SCHEMA concord_rules IS 'concord: the trigger functions of event rules (concord.event_rule)';
GRANT CREATE, USAGE ON SCHEMA concord_rules TO concord_flow;

CREATE TABLE @extschema@.event_rule (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,50}$'),
  table_name  regclass NOT NULL,
  events      text[] NOT NULL CHECK (events <@ ARRAY['insert', 'update', 'delete'] AND cardinality(events) > 0),
  condition   text,
  compiled    text,
  actions     jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
  enabled     boolean NOT NULL DEFAULT true,
  description text,
  defined_by  text NOT NULL DEFAULT current_user,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.event_rule IS
  'Event rules: on which changes of a table, under which condition over NEW and OLD, which actions run (webhook, insert, notify)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_rule', '');

CREATE TABLE @extschema@.event_firing (
  id        bigserial PRIMARY KEY,
  rule      text NOT NULL,
  op        text NOT NULL,
  fired_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  fired_by  text NOT NULL DEFAULT session_user,
  row_key   jsonb,
  outcomes  jsonb NOT NULL
);
CREATE INDEX ON @extschema@.event_firing (rule, fired_at);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_firing', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.event_firing_id_seq', '');
COMMENT ON TABLE @extschema@.event_firing IS
  'Every firing of an event rule: when, by whom, on which row, and what each action did (the outbox message, the inserted row, the channel)';

-- The columns a template refers to ("$new.x", "$old.x"), each once.
CREATE FUNCTION @extschema@.event_template_columns(tpl jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT
RETURN ARRAY(SELECT DISTINCT substring(v #>> '{}' FROM '^\$(?:new|old)\.(.+)$')
               FROM jsonb_path_query(tpl, 'strict $.**') v
              WHERE jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\$(new|old)\.');
COMMENT ON FUNCTION @extschema@.event_template_columns(jsonb) IS
  'The columns a template''s "$new.<column>" and "$old.<column>" strings name';

-- A template filled from the row: "$new.x" -> NEW's x, and so on.
CREATE FUNCTION @extschema@.event_template(tpl jsonb, new jsonb, old jsonb, meta jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  s text;
BEGIN
  CASE jsonb_typeof(tpl)
    WHEN 'object' THEN
      RETURN coalesce((SELECT jsonb_object_agg(e.key, @extschema@.event_template(e.value, new, old, meta))
                         FROM jsonb_each(tpl) e), '{}');
    WHEN 'array' THEN
      RETURN coalesce((SELECT jsonb_agg(@extschema@.event_template(e, new, old, meta) ORDER BY o)
                         FROM jsonb_array_elements(tpl) WITH ORDINALITY a(e, o)), '[]');
    WHEN 'string' THEN
      s := tpl #>> '{}';
      IF s LIKE '$new.%' THEN
        RETURN coalesce(new -> substr(s, 6), 'null');
      ELSIF s LIKE '$old.%' THEN
        RETURN coalesce(old -> substr(s, 6), 'null');
      ELSIF s IN ('$rule', '$table', '$op') THEN
        RETURN meta -> substr(s, 2);
      END IF;
      RETURN tpl;
    ELSE
      RETURN tpl;
  END CASE;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_template(jsonb, jsonb, jsonb, jsonb) IS
  'A template filled from a row: "$new.<column>", "$old.<column>", "$rule", "$table", "$op" replaced by their values';

-- Runs a rule's actions for one row, as the rule's definer (its trigger
-- function is SECURITY DEFINER); records the firing.
CREATE FUNCTION @extschema@.event_fire(rule text, op text, new jsonb, old jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  a jsonb;
  meta jsonb;
  outcomes jsonb := '[]';
  v jsonb;
  cols text;
  id bigint;
BEGIN
  SELECT * INTO r FROM @extschema@.event_rule x WHERE x.name = event_fire.rule;
  meta := jsonb_build_object('rule', rule, 'table', r.table_name::text, 'op', op);
  FOR a IN SELECT e FROM jsonb_array_elements(r.actions) e LOOP
    IF a ? 'webhook' THEN
      v := @extschema@.event_template(coalesce(a -> 'payload', '{}'), new, old, meta);
      -- a chat receiver gets the payload as its text message
      v := coalesce((SELECT @extschema@.alert_format(e.format, format('[concord] %s (%s %s)', rule, op, r.table_name), v::text, v)
                       FROM @extschema@.endpoint e WHERE e.name = a ->> 'webhook' AND e.format <> 'json'), v);
      id := @extschema@.outbox_enqueue(a ->> 'webhook', v, NULL,
              jsonb_build_object('X-Concord-Rule', rule));
      outcomes := outcomes || jsonb_build_object('webhook', a ->> 'webhook', 'outbox_id', id);
    ELSIF a ? 'insert' THEN
      v := @extschema@.event_template(a -> 'values', new, old, meta);
      SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(v) k;
      EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1)',
                     (a ->> 'insert')::regclass, cols, cols, (a ->> 'insert')::regclass) USING v;
      outcomes := outcomes || jsonb_build_object('insert', a ->> 'insert');
    ELSIF a ? 'notify' THEN
      v := @extschema@.event_template(coalesce(a -> 'payload', jsonb_build_object('rule', '$rule', 'op', '$op')), new, old, meta);
      PERFORM pg_catalog.pg_notify(a ->> 'notify', v::text);
      outcomes := outcomes || jsonb_build_object('notify', a ->> 'notify');
    END IF;
  END LOOP;
  INSERT INTO @extschema@.event_firing (rule, op, row_key, outcomes)
  VALUES (rule, op, coalesce(new, old), outcomes);
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_fire(text, text, jsonb, jsonb) IS
  'Internal to event rules: runs a rule''s actions for one changed row and records the firing';

CREATE FUNCTION @extschema@.event_rule(name text, tbl regclass, events text[], condition text, actions jsonb,
                                       description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_column
DECLARE
  cond text;
  a jsonb;
  c text;
  missing text;
  rowtype regtype;
  fn text;
  evs text[];
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,50}$' THEN
    RAISE EXCEPTION 'invalid event rule name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'A rule name is a lower-case identifier, e.g. contract_signed.';
  END IF;
  IF tbl IS NULL OR (SELECT k.relkind FROM pg_catalog.pg_class k WHERE k.oid = tbl) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'event rule "%" needs a table', name USING ERRCODE = 'wrong_object_type';
  END IF;
  evs := ARRAY(SELECT DISTINCT lower(e) FROM unnest(events) e ORDER BY 1);
  IF cardinality(evs) = 0 OR NOT evs <@ ARRAY['insert', 'update', 'delete'] THEN
    RAISE EXCEPTION 'events of rule "%" must be some of insert, update, delete (got %)', name, events
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the condition: over NEW and OLD, rows of the table (OLD is NULL on
  -- insert, NEW on delete)
  rowtype := (SELECT k.reltype FROM pg_catalog.pg_class k WHERE k.oid = tbl)::regtype;
  IF condition IS NOT NULL THEN
    cond := @extschema@.expr_check_over('', ARRAY['new', 'old'], ARRAY[rowtype, rowtype], condition, true);
  END IF;
  -- the actions, checked now rather than at the first firing
  IF actions IS NULL OR jsonb_typeof(actions) <> 'array' OR jsonb_array_length(actions) = 0 THEN
    RAISE EXCEPTION 'actions of rule "%" must be a non-empty JSON array', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. [{"webhook": "marketing", "payload": {"contract": "$new.contract_no"}}, {"notify": "contracts"}]';
  END IF;
  FOR a IN SELECT e FROM jsonb_array_elements(actions) e LOOP
    IF jsonb_typeof(a) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(a) k WHERE k IN ('webhook', 'insert', 'notify')) <> 1 THEN
      RAISE EXCEPTION 'action % of rule "%" must have exactly one of webhook, insert, notify', a, name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(x, ', ') INTO missing FROM unnest(@extschema@.event_template_columns(a)) x
     WHERE @extschema@.metric_column_type(tbl, x) IS NULL;
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'rule "%" refers to columns % that % does not have', name, missing, tbl
        USING ERRCODE = 'undefined_column';
    END IF;
    IF a ? 'webhook' THEN
      IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name = a ->> 'webhook') THEN
        RAISE EXCEPTION 'unknown endpoint "%" in rule "%"', a ->> 'webhook', name
          USING ERRCODE = 'undefined_object', HINT = 'Define it with concord.endpoint_define.';
      END IF;
    ELSIF a ? 'insert' THEN
      IF pg_catalog.to_regclass(a ->> 'insert') IS NULL THEN
        RAISE EXCEPTION 'unknown table "%" in rule "%"', a ->> 'insert', name USING ERRCODE = 'undefined_table';
      END IF;
      IF jsonb_typeof(a -> 'values') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'insert action of rule "%" needs "values": {"column": value or "$new.column"}', name
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      SELECT string_agg(k, ', ') INTO missing FROM jsonb_object_keys(a -> 'values') k
       WHERE @extschema@.metric_column_type(pg_catalog.to_regclass(a ->> 'insert'), k) IS NULL;
      IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'table % has no columns % (rule "%")', pg_catalog.to_regclass(a ->> 'insert'), missing, name
          USING ERRCODE = 'undefined_column';
      END IF;
      IF NOT pg_catalog.has_table_privilege(pg_catalog.to_regclass(a ->> 'insert'), 'INSERT') THEN
        RAISE EXCEPTION 'permission denied to insert into % (rule "%")', pg_catalog.to_regclass(a ->> 'insert'), name
          USING ERRCODE = 'insufficient_privilege', HINT = 'A rule''s actions run with its definer''s privileges.';
      END IF;
    ELSIF a ->> 'notify' !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'invalid channel "%" in rule "%"', a ->> 'notify', name USING ERRCODE = 'invalid_name';
    END IF;
  END LOOP;

  INSERT INTO @extschema@.event_rule AS r (name, table_name, events, condition, compiled, actions, description)
  VALUES (name, tbl, evs, condition, cond, actions, description)
  ON CONFLICT ON CONSTRAINT event_rule_pkey DO UPDATE
    SET table_name = excluded.table_name, events = excluded.events, condition = excluded.condition,
        compiled = excluded.compiled, actions = excluded.actions, description = excluded.description,
        defined_by = current_user, defined_at = pg_catalog.now(), enabled = true;
  -- its trigger function: the condition compiled in, the actions as the definer
  fn := format('concord_rules.%I', 'rule_' || name);
  EXECUTE format($f$CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
  IF %s THEN
    PERFORM %I.event_fire(%L, lower(TG_OP),
      CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END,
      CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END);
  END IF;
  RETURN NULL;
END
$body$$f$, fn, coalesce(cond, 'true'), '@extschema@', name);
  EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn, format('concord event rule %s on %s', name, tbl));
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' || name, tbl);
  EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                 'concord_rule_' || name, array_to_string(ARRAY(SELECT upper(e) FROM unnest(evs) e), ' OR '), tbl, fn);
  PERFORM @extschema@.audit_record('event_rule', name, NULL,
    jsonb_build_object('table', tbl::text, 'events', evs, 'condition', condition, 'actions', actions));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule(text, regclass, text[], text, jsonb, text) IS
  'Defines (or redefines) an event rule: on insert/update/delete of a table, when the condition over NEW and OLD holds, run the actions (webhook, insert, notify) in the same transaction';

CREATE FUNCTION @extschema@.event_rule_enable(name text, enabled boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  t regclass;
BEGIN
  UPDATE @extschema@.event_rule r SET enabled = event_rule_enable.enabled WHERE r.name = event_rule_enable.name
  RETURNING r.table_name INTO t;
  IF t IS NULL THEN
    RAISE EXCEPTION 'unknown event rule "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t, CASE WHEN enabled THEN 'ENABLE' ELSE 'DISABLE' END, 'concord_rule_' || name);
  PERFORM @extschema@.audit_record('event_rule_enable', name, NULL, jsonb_build_object('enabled', enabled));
  RETURN enabled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_enable(text, boolean) IS
  'Enables or disables an event rule without dropping it';

CREATE FUNCTION @extschema@.event_rule_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
#variable_conflict use_column
DECLARE
  t regclass;
BEGIN
  DELETE FROM @extschema@.event_rule r WHERE r.name = event_rule_drop.name RETURNING r.table_name INTO t;
  IF t IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_rule_' || name, t);
  EXECUTE format('DROP FUNCTION IF EXISTS concord_rules.%I()', 'rule_' || name);
  PERFORM @extschema@.audit_record('event_rule_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.event_rule_drop(text) IS
  'Drops an event rule, its trigger and its function; its firings stay recorded';

GRANT SELECT ON @extschema@.event_rule, @extschema@.event_firing TO concord_flow;
GRANT INSERT, UPDATE, DELETE ON @extschema@.event_rule TO concord_flow;
GRANT INSERT ON @extschema@.event_firing TO concord_flow;
GRANT USAGE ON SEQUENCE @extschema@.event_firing_id_seq TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'event_rule(text, regclass, text[], text, jsonb, text)', 'event_rule_enable(text, boolean)',
    'event_rule_drop(text)', 'event_fire(text, text, jsonb, jsonb)']);
GRANT EXECUTE ON FUNCTION @extschema@.metric_column_type(regclass, text) TO concord_flow;
/* concord — flow: alerts.  Joined into concord--<version>.sql by the
 * Makefile after rules.sql.
 *
 * An alert rule is a named check: either a query returning the offending
 * rows (tickets open past their SLA) or a metric compared with a threshold
 * (refund rate over the last 7 days > 5%).  It is evaluated by the
 * database's worker when due (every `every`) and on demand
 * (concord.alert_check).  A check that finds trouble opens an event in
 * concord.alert_event and notifies the rule's channels; while the trouble
 * lasts the event stays open and is notified again only after the
 * cooldown; when a check finds none, the event is resolved (and that is
 * notified too).  The check runs as the rule's owner, in a read-only
 * subtransaction rolled back afterwards: her row policies apply, and the
 * query can change nothing.  Channels: a webhook through the outbox, in the
 * format of the receiver (json, dingtalk, wecom, feishu, slack), or NOTIFY. */

CREATE FUNCTION @extschema@.sql_check_select(sql text)
RETURNS text
AS 'MODULE_PATHNAME', 'concord_sql_check_select'
LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION @extschema@.sql_check_select(text) IS
  'The text if it is exactly one plain SELECT (no INTO, no locking, no data-modifying WITH), else an error';

CREATE TABLE @extschema@.alert_rule (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  query       text,
  metric      text,
  op          text CHECK (op IN ('>', '>=', '<', '<=')),
  threshold   numeric,
  metric_window interval,
  every       interval NOT NULL DEFAULT '5 minutes' CHECK (every >= interval '1 second'),
  severity    text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
  cooldown    interval NOT NULL DEFAULT '1 hour',
  channels    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(channels) = 'array'),
  owner       text NOT NULL,
  enabled     boolean NOT NULL DEFAULT true,
  description text,
  next_check_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  last_check_at timestamptz,
  last_error  text,
  defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  CHECK ((query IS NULL) <> (metric IS NULL)),
  CHECK (metric IS NULL OR (op IS NOT NULL AND threshold IS NOT NULL))
);
COMMENT ON TABLE @extschema@.alert_rule IS
  'Alert rules: a query of offending rows or a metric against a threshold, checked every `every` as the owner, with severity, cooldown and channels';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_rule', '');

CREATE TABLE @extschema@.alert_event (
  id            bigserial PRIMARY KEY,
  rule          text NOT NULL REFERENCES @extschema@.alert_rule ON DELETE CASCADE,
  severity      text NOT NULL,
  opened_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  last_seen_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  notified_at   timestamptz,
  resolved_at   timestamptz,
  detail        jsonb NOT NULL
);
CREATE UNIQUE INDEX alert_event_open ON @extschema@.alert_event (rule) WHERE resolved_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_event', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_event_id_seq', '');
COMMENT ON TABLE @extschema@.alert_event IS
  'Alerts fired and resolved: one open event per rule at most, with what the last check found (rows or the metric''s value)';

-- A notification in the format a receiver accepts.
CREATE FUNCTION @extschema@.alert_format(format text, title text, body text, detail jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE format
  WHEN 'dingtalk' THEN jsonb_build_object('msgtype', 'text', 'text', jsonb_build_object('content', title || E'\n' || body))
  WHEN 'wecom' THEN jsonb_build_object('msgtype', 'text', 'text', jsonb_build_object('content', title || E'\n' || body))
  WHEN 'feishu' THEN jsonb_build_object('msg_type', 'text', 'content', jsonb_build_object('text', title || E'\n' || body))
  WHEN 'slack' THEN jsonb_build_object('text', title || E'\n' || body)
  ELSE jsonb_build_object('title', title, 'body', body, 'detail', detail) END;
COMMENT ON FUNCTION @extschema@.alert_format(text, text, text, jsonb) IS
  'An alert notification as JSON for a receiver: json (title, body, detail), dingtalk, wecom, feishu or slack text messages';

CREATE FUNCTION @extschema@.alert_rule(name text, query text DEFAULT NULL, metric text DEFAULT NULL, op text DEFAULT NULL,
                                       threshold numeric DEFAULT NULL, metric_window interval DEFAULT '1 day',
                                       every interval DEFAULT '5 minutes', severity text DEFAULT 'warning',
                                       cooldown interval DEFAULT '1 hour', channels jsonb DEFAULT '[]',
                                       description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  c jsonb;
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid alert name "%"', name USING ERRCODE = 'invalid_name';
  END IF;
  IF (query IS NULL) = (metric IS NULL) THEN
    RAISE EXCEPTION 'alert "%" needs a query or a metric (one of them)', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'query => a SELECT of the offending rows, or metric => name with op and threshold.';
  END IF;
  IF query IS NOT NULL THEN
    PERFORM @extschema@.sql_check_select(query);
    -- it must plan: tables and columns exist (as the owner, nothing run)
    EXECUTE format('EXPLAIN (COSTS OFF) %s', query);
  ELSE
    IF op IS NULL OR op NOT IN ('>', '>=', '<', '<=') OR threshold IS NULL THEN
      RAISE EXCEPTION 'metric alert "%" needs op (>, >=, <, <=) and a threshold', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM @extschema@.metric_sql(ARRAY[metric]);     -- an unknown metric fails here
  END IF;
  IF severity IS NULL OR severity NOT IN ('info', 'warning', 'critical') THEN
    RAISE EXCEPTION 'unknown severity "%" for alert "%"', severity, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of info, warning, critical.';
  END IF;
  IF channels IS NULL OR jsonb_typeof(channels) <> 'array' THEN
    RAISE EXCEPTION 'channels of alert "%" must be a JSON array', name USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR c IN SELECT e FROM jsonb_array_elements(channels) e LOOP
    IF c ? 'webhook' THEN
      IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name = c ->> 'webhook') THEN
        RAISE EXCEPTION 'unknown endpoint "%" in alert "%"', c ->> 'webhook', name USING ERRCODE = 'undefined_object';
      END IF;
      IF coalesce(c ->> 'format', 'json') NOT IN ('json', 'dingtalk', 'wecom', 'feishu', 'slack') THEN
        RAISE EXCEPTION 'unknown format "%" in alert "%"', c ->> 'format', name
          USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of json, dingtalk, wecom, feishu, slack.';
      END IF;
    ELSIF NOT c ? 'notify' OR (c ->> 'notify') !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'channel % of alert "%" must be {"webhook": endpoint, "format": ...} or {"notify": channel}', c, name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  INSERT INTO @extschema@.alert_rule AS r (name, query, metric, op, threshold, metric_window, every, severity, cooldown,
                                          channels, owner, description)
  VALUES (name, query, metric, op, threshold, metric_window, every, severity, cooldown, channels, current_user, description)
  ON CONFLICT ON CONSTRAINT alert_rule_pkey DO UPDATE
    SET query = excluded.query, metric = excluded.metric, op = excluded.op, threshold = excluded.threshold,
        metric_window = excluded.metric_window, every = excluded.every, severity = excluded.severity,
        cooldown = excluded.cooldown, channels = excluded.channels, owner = excluded.owner,
        description = excluded.description, next_check_at = pg_catalog.now(), enabled = true;
  PERFORM @extschema@.audit_record('alert_rule', name, NULL,
    jsonb_build_object('query', query, 'metric', metric, 'op', op, 'threshold', threshold, 'every', every,
                       'severity', severity, 'channels', channels));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_rule(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text) IS
  'Defines (or redefines) an alert: a query of offending rows, or a metric over the last metric_window compared with a threshold; checked every `every` as its definer; channels [{"webhook": endpoint, "format": json|dingtalk|wecom|feishu|slack}, {"notify": channel}]';

-- Sends an event's notification to the rule's channels.
CREATE FUNCTION @extschema@.alert_notify(r @extschema@.alert_rule, ev @extschema@.alert_event, what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  c jsonb;
  title text := format('[%s] %s: %s', upper(ev.severity), r.name, what);
  body text := coalesce(r.description || E'\n', '') ||
               CASE WHEN r.query IS NOT NULL THEN format('%s offending rows', ev.detail ->> 'count')
                    ELSE format('%s = %s (threshold %s %s)', r.metric, ev.detail ->> 'value', r.op, r.threshold) END;
BEGIN
  FOR c IN SELECT e FROM jsonb_array_elements(r.channels) e LOOP
    IF c ? 'webhook' THEN
      PERFORM @extschema@.outbox_enqueue(c ->> 'webhook',
        @extschema@.alert_format(coalesce(c ->> 'format', (SELECT e.format FROM @extschema@.endpoint e WHERE e.name = c ->> 'webhook'),
                                          'json'), title, body,
                                 jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'detail', ev.detail)),
        format('alert-%s-%s-%s', ev.id, what, extract(epoch FROM pg_catalog.clock_timestamp())));
    ELSE
      PERFORM pg_catalog.pg_notify(c ->> 'notify',
        jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'severity', ev.severity, 'detail', ev.detail)::text);
    END IF;
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_notify(@extschema@.alert_rule, @extschema@.alert_event, text) IS
  'Internal to alerts: sends an event (fired, still firing, resolved) to the rule''s channels';

CREATE FUNCTION @extschema@.alert_check(name text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r @extschema@.alert_rule;
  ev @extschema@.alert_event;
  found_trouble boolean;
  found jsonb;
  v numeric;
  msg text;
  state text;
BEGIN
  SELECT * INTO r FROM @extschema@.alert_rule x WHERE x.name = alert_check.name;
  IF r.name IS NULL THEN
    RAISE EXCEPTION 'unknown alert "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT pg_catalog.pg_has_role(current_user, r.owner, 'MEMBER') THEN
    RAISE EXCEPTION 'alert "%" belongs to "%"', name, r.owner USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- the check, as the owner, read-only; the subtransaction is rolled back
  BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r.owner);
    SET LOCAL transaction_read_only = on;
    IF r.query IS NOT NULL THEN
      EXECUTE format('SELECT count(*), coalesce(jsonb_agg(q) FILTER (WHERE n <= 20), ''[]'') FROM (SELECT q, row_number() OVER () AS n FROM (%s) q) s',
                     r.query) INTO v, found;
      found := jsonb_build_object('count', v, 'rows', found);
      found_trouble := v > 0;
    ELSE
      SELECT (j -> r.metric)::text::numeric INTO v
        FROM @extschema@.metric_query(ARRAY[r.metric], from_date => (pg_catalog.now() - r.metric_window)::date,
                                      to_date => pg_catalog.now()::date) j;
      found := jsonb_build_object('value', v);
      EXECUTE format('SELECT $1 %s $2', r.op) INTO found_trouble USING v, r.threshold;
      found_trouble := coalesce(found_trouble, false);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'concord.alert_check: done',
                          DETAIL = jsonb_build_object('trouble', found_trouble, 'detail', found)::text;
  EXCEPTION WHEN raise_exception THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = PG_EXCEPTION_DETAIL;
    IF msg <> 'concord.alert_check: done' THEN
      RAISE;
    END IF;
    found_trouble := (state::jsonb ->> 'trouble')::boolean;
    found := state::jsonb -> 'detail';
  END;

  SELECT * INTO ev FROM @extschema@.alert_event e WHERE e.rule = r.name AND e.resolved_at IS NULL FOR UPDATE;
  IF found_trouble THEN
    IF ev.id IS NULL THEN
      INSERT INTO @extschema@.alert_event AS e (rule, severity, detail) VALUES (r.name, r.severity, found) RETURNING e.* INTO ev;
      PERFORM @extschema@.alert_notify(r, ev, 'firing');
      UPDATE @extschema@.alert_event e SET notified_at = pg_catalog.now() WHERE e.id = ev.id;
      state := 'fired';
    ELSE
      UPDATE @extschema@.alert_event e SET last_seen_at = pg_catalog.now(), detail = found
       WHERE e.id = ev.id RETURNING e.* INTO ev;
      IF ev.notified_at IS NULL OR ev.notified_at + r.cooldown <= pg_catalog.now() THEN
        PERFORM @extschema@.alert_notify(r, ev, 'still firing');
        UPDATE @extschema@.alert_event e SET notified_at = pg_catalog.now() WHERE e.id = ev.id;
        state := 'firing, notified again';
      ELSE
        state := 'firing';
      END IF;
    END IF;
  ELSIF ev.id IS NOT NULL THEN
    UPDATE @extschema@.alert_event e SET resolved_at = pg_catalog.now(), detail = found
     WHERE e.id = ev.id RETURNING e.* INTO ev;
    PERFORM @extschema@.alert_notify(r, ev, 'resolved');
    state := 'resolved';
  ELSE
    state := 'ok';
  END IF;
  UPDATE @extschema@.alert_rule x SET last_check_at = pg_catalog.now(), next_check_at = pg_catalog.now() + r.every, last_error = NULL
   WHERE x.name = r.name;
  RETURN state;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_check(text) IS
  'Checks an alert now, as its owner: ok, fired, firing, firing (notified again after the cooldown) or resolved';

-- The worker's round: every due, enabled alert, each on its own (an error
-- is kept in last_error and the others go on).
CREATE FUNCTION @extschema@.alert_run_due()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
  n integer := 0;
  msg text;
BEGIN
  FOR r IN SELECT x.name, x.every FROM @extschema@.alert_rule x
            WHERE x.enabled AND x.next_check_at <= pg_catalog.now() ORDER BY x.next_check_at LOOP
    BEGIN
      PERFORM @extschema@.alert_check(r.name);
      n := n + 1;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
      UPDATE @extschema@.alert_rule x SET last_error = msg, last_check_at = pg_catalog.now(),
             next_check_at = pg_catalog.now() + r.every WHERE x.name = r.name;
    END;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_run_due() IS
  'Run by the background worker: checks every enabled alert that is due; returns how many were checked';
REVOKE EXECUTE ON FUNCTION @extschema@.alert_run_due() FROM PUBLIC;

GRANT SELECT ON @extschema@.alert_rule, @extschema@.alert_event TO concord_flow;
GRANT INSERT, UPDATE, DELETE ON @extschema@.alert_rule, @extschema@.alert_event TO concord_flow;
GRANT USAGE ON SEQUENCE @extschema@.alert_event_id_seq TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'sql_check_select(text)', 'alert_format(text, text, text, jsonb)',
    'alert_rule(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text)',
    'alert_notify(concord.alert_rule, concord.alert_event, text)', 'alert_check(text)']);
/* concord — flow: monitoring.  Joined into concord--<version>.sql by the
 * Makefile after alerts.sql.
 *
 * Views over concord's own tables -- HTTP calls per host, syncs per source,
 * the outbox per endpoint, alerts, the worker -- and metrics_text(), all of
 * it in Prometheus' text exposition format for a scraper.  monitor_http
 * reads the call log as its caller (security_invoker: each role its own
 * calls, a superuser all of them); the others are concord_flow's, and read
 * the catalog of concord as its owner. */

CREATE VIEW @extschema@.monitor_http WITH (security_invoker = true) AS
  SELECT substring(l.url FROM '^[a-z]+://([^/?#]+)') AS host,
         count(*) AS calls,
         count(*) FILTER (WHERE l.error_code IS NOT NULL OR l.status >= 500) AS errors,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY l.elapsed_ms) AS p50_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY l.elapsed_ms) AS p95_ms,
         coalesce(sum(l.response_bytes), 0) AS bytes,
         max(l.called_at) AS last_call
    FROM @extschema@.http_call_log l
   GROUP BY 1;
COMMENT ON VIEW @extschema@.monitor_http IS
  'HTTP calls per host (from concord.http_call_log, while concord.http_log is on): calls, errors (transport or 5xx), p50/p95 latency, bytes';

CREATE VIEW @extschema@.monitor_sync AS
  SELECT s.name AS source,
         (SELECT max(r.finished_at) FROM @extschema@.sync_run r WHERE r.source = s.name AND r.status = 'succeeded') AS last_success,
         pg_catalog.now() - (SELECT max(r.finished_at) FROM @extschema@.sync_run r
                              WHERE r.source = s.name AND r.status = 'succeeded') AS lag,
         (SELECT count(*) FROM @extschema@.sync_run r WHERE r.source = s.name AND r.status = 'failed'
             AND r.started_at > pg_catalog.now() - interval '1 day') AS failures_24h,
         (SELECT count(*) FROM @extschema@.sync_reject j WHERE j.source = s.name
             AND j.created_at > pg_catalog.now() - interval '1 day') AS rejects_24h
    FROM @extschema@.source s;
COMMENT ON VIEW @extschema@.monitor_sync IS
  'Syncs per source: last success, lag since it, failed runs and rejected records in the last 24 hours';

CREATE VIEW @extschema@.monitor_outbox AS
  SELECT e.name AS endpoint,
         count(o.id) FILTER (WHERE o.status = 'pending') AS pending,
         count(o.id) FILTER (WHERE o.status = 'in_flight') AS in_flight,
         count(o.id) FILTER (WHERE o.status = 'dead') AS dead,
         count(o.id) FILTER (WHERE o.status = 'delivered' AND o.delivered_at > pg_catalog.now() - interval '1 hour') AS delivered_1h,
         pg_catalog.now() - min(o.enqueued_at) FILTER (WHERE o.status IN ('pending', 'in_flight')) AS oldest_waiting,
         round(count(o.id) FILTER (WHERE o.status = 'delivered' AND o.delivered_at > pg_catalog.now() - interval '5 minutes') / 300.0, 3)
           AS delivered_per_s_5m
    FROM @extschema@.endpoint e LEFT JOIN @extschema@.outbox o ON o.endpoint = e.name
   GROUP BY e.name;
COMMENT ON VIEW @extschema@.monitor_outbox IS
  'The outbox per endpoint: pending, in flight, dead, delivered in the last hour, the oldest waiting message''s age, the delivery rate over 5 minutes';

CREATE VIEW @extschema@.monitor_alerts AS
  SELECT r.name AS alert, r.severity, r.enabled,
         (SELECT count(*) FROM @extschema@.alert_event e WHERE e.rule = r.name AND e.resolved_at IS NULL) AS open,
         (SELECT count(*) FROM @extschema@.alert_event e WHERE e.rule = r.name
             AND e.opened_at >= pg_catalog.date_trunc('day', pg_catalog.now())) AS fired_today,
         r.last_check_at, r.next_check_at, r.last_error
    FROM @extschema@.alert_rule r;
COMMENT ON VIEW @extschema@.monitor_alerts IS
  'Alerts: open events, events fired today, last and next check, the last check''s error';

CREATE VIEW @extschema@.monitor_worker AS
  SELECT a.pid, a.backend_start AS started, a.state, a.query AS doing, a.state_change AS since,
         pg_catalog.current_setting('concord.worker_naptime_ms') AS naptime
    FROM pg_catalog.pg_stat_activity a
   WHERE a.backend_type = 'concord worker' AND a.datname = pg_catalog.current_database();
COMMENT ON VIEW @extschema@.monitor_worker IS
  'This database''s concord worker: its process, what it is doing and since when (no row: no worker; is concord in shared_preload_libraries?)';

CREATE FUNCTION @extschema@.metrics_text()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT string_agg(line, E'\n' ORDER BY ord, line) || E'\n' FROM (
    SELECT 1 AS ord, '# HELP concord_http_calls_total HTTP calls in concord.http_call_log, per host' AS line
    UNION ALL SELECT 1, '# TYPE concord_http_calls_total counter'
    UNION ALL SELECT 2, format('concord_http_calls_total{host="%s"} %s', h.host, h.calls) FROM @extschema@.monitor_http h
    UNION ALL SELECT 3, format('concord_http_errors_total{host="%s"} %s', h.host, h.errors) FROM @extschema@.monitor_http h
    UNION ALL SELECT 4, format('concord_http_latency_ms{host="%s",quantile="0.5"} %s', h.host, round(h.p50_ms::numeric, 3)) FROM @extschema@.monitor_http h
    UNION ALL SELECT 4, format('concord_http_latency_ms{host="%s",quantile="0.95"} %s', h.host, round(h.p95_ms::numeric, 3)) FROM @extschema@.monitor_http h
    UNION ALL SELECT 5, '# HELP concord_sync_lag_seconds Seconds since the last successful sync of a source'
    UNION ALL SELECT 5, '# TYPE concord_sync_lag_seconds gauge'
    UNION ALL SELECT 6, format('concord_sync_lag_seconds{source="%s"} %s', s.source, coalesce(round(extract(epoch FROM s.lag)), -1))
                          FROM @extschema@.monitor_sync s
    UNION ALL SELECT 7, format('concord_sync_failures_24h{source="%s"} %s', s.source, s.failures_24h) FROM @extschema@.monitor_sync s
    UNION ALL SELECT 7, format('concord_sync_rejects_24h{source="%s"} %s', s.source, s.rejects_24h) FROM @extschema@.monitor_sync s
    UNION ALL SELECT 8, '# HELP concord_outbox_messages Outbox messages per endpoint and state'
    UNION ALL SELECT 8, '# TYPE concord_outbox_messages gauge'
    UNION ALL SELECT 9, format('concord_outbox_messages{endpoint="%s",state="pending"} %s', o.endpoint, o.pending) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 9, format('concord_outbox_messages{endpoint="%s",state="in_flight"} %s', o.endpoint, o.in_flight) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 9, format('concord_outbox_messages{endpoint="%s",state="dead"} %s', o.endpoint, o.dead) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 10, format('concord_outbox_oldest_waiting_seconds{endpoint="%s"} %s', o.endpoint,
                                coalesce(round(extract(epoch FROM o.oldest_waiting)), 0)) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 10, format('concord_outbox_delivered_per_second{endpoint="%s"} %s', o.endpoint, o.delivered_per_s_5m)
                           FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 11, '# HELP concord_alerts_open Open alert events per alert'
    UNION ALL SELECT 11, '# TYPE concord_alerts_open gauge'
    UNION ALL SELECT 12, format('concord_alerts_open{alert="%s",severity="%s"} %s', a.alert, a.severity, a.open) FROM @extschema@.monitor_alerts a
    UNION ALL SELECT 12, format('concord_alerts_fired_today{alert="%s"} %s', a.alert, a.fired_today) FROM @extschema@.monitor_alerts a
    UNION ALL SELECT 13, format('concord_worker_up %s', (SELECT count(*) FROM @extschema@.monitor_worker))
  ) x;
END;
COMMENT ON FUNCTION @extschema@.metrics_text() IS
  'Everything the monitor_* views show, in Prometheus'' text exposition format';

GRANT SELECT ON @extschema@.monitor_http TO concord_http, concord_flow;
GRANT SELECT ON @extschema@.monitor_sync, @extschema@.monitor_outbox, @extschema@.monitor_alerts,
                @extschema@.monitor_worker TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY['metrics_text()']);
/* concord — what DROP EXTENSION concord does first.  Joined last into
 * concord--<version>.sql by the Makefile, before finish.sql.
 *
 * DROP EXTENSION concord CASCADE drops what depends on concord's functions
 * (row policies, governed views, triggers, stored masks), but it would
 * leave behind what only concord's tables know about, and tables changed
 * for concord: row security forced on with no policy left (nobody could
 * read the table), the readers' grants moved to a governed view that is
 * gone, the views published for BI tools.  The extension's utility hook
 * (src/policy/explain_guard.c) calls extension_cleanup() at DROP EXTENSION
 * concord, in the same transaction: if the drop fails, nothing changed. */

CREATE FUNCTION @extschema@.extension_cleanup()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
  r record;
  g record;
BEGIN
  -- views published for BI tools
  FOR r IN SELECT p.view_name FROM @extschema@.metric_publication p
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p.view_name) LOOP
    EXECUTE format('DROP VIEW IF EXISTS %s', r.view_name);
  END LOOP;
  -- governed views: their readers get the table back
  FOR r IN SELECT DISTINCT m.table_name, pg_catalog.to_regclass(m.table_name::text || '_governed') AS v
             FROM @extschema@.column_mask m LOOP
    IF r.v IS NOT NULL THEN
      FOR g IN SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END AS who,
                      x.privilege_type AS priv
                 FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) x
                WHERE c.oid = r.v AND x.grantee <> c.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s', g.priv, r.table_name, g.who);
      END LOOP;
      EXECUTE format('DROP VIEW %s', r.v);
    END IF;
  END LOOP;
  -- row security concord turned on, where only concord's policies are left
  FOR r IN SELECT DISTINCT t AS tbl FROM (
             SELECT p.table_name AS t FROM @extschema@.row_policy p
             UNION SELECT a.table_name FROM @extschema@.access_request a) s
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.t) LOOP
    FOR g IN SELECT pol.polname FROM pg_catalog.pg_policy pol
              WHERE pol.polrelid = r.tbl AND pol.polname LIKE 'concord\_%' LOOP
      EXECUTE format('DROP POLICY %I ON %s', g.polname, r.tbl);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.polrelid = r.tbl) THEN
      EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', r.tbl);
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.tbl);
    END IF;
  END LOOP;
  -- rollups (their triggers on the models' tables) and event rules (theirs)
  FOR r IN SELECT x.name FROM @extschema@.metric_rollup x LOOP
    PERFORM @extschema@.metric_rollup_drop(r.name);
  END LOOP;
  FOR r IN SELECT x.name FROM @extschema@.event_rule x LOOP
    PERFORM @extschema@.event_rule_drop(r.name);
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
COMMENT ON FUNCTION @extschema@.extension_cleanup() IS
  'Run at DROP EXTENSION concord (by the extension''s utility hook): drops published views and governed views (their readers'' grants back on the tables), concord''s policies and the row security it turned on, rollups and event rules';
REVOKE EXECUTE ON FUNCTION @extschema@.extension_cleanup() FROM PUBLIC;
/* concord — last part of the install script, after every component. */

-- A new installation wants its background worker as soon as it commits,
-- not after the launcher's backoff.
SELECT @extschema@.worker_wake();
