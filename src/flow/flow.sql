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
  'may define endpoints and enqueue messages to them (concord.endpoint_create, outbox_enqueue, outbox_retry)');

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
  max_in_flight integer NOT NULL DEFAULT 32 CHECK (max_in_flight BETWEEN 1 AND 256),
  max_attempts  integer NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
  timeout_ms    integer NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 100 AND 600000),
  enabled       boolean NOT NULL DEFAULT true,
  description   text,
  defined_by    regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  senders       regrole[] NOT NULL DEFAULT '{}',
  defined_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  unsigned      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.endpoint IS
  'Named delivery endpoints: URL (within concord.http_allow), the secret that signs bodies, caps, attempts, timeout; its owner and the roles that may send to it';
COMMENT ON COLUMN @extschema@.endpoint.defined_by IS
  'The endpoint''s owner: the role that defined it (only she, roles with her privileges and concord_admin may change it)';
COMMENT ON COLUMN @extschema@.endpoint.senders IS
  'Roles besides the owner that may send to the endpoint (outbox_enqueue, event rules, alerts)';
COMMENT ON COLUMN @extschema@.endpoint.unsigned IS
  'True for an endpoint defined without a signing secret (unsigned => true): its bodies carry no X-Concord-Signature';
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
  enqueued_by     regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
  enqueued_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  delivered_at    timestamptz,
  UNIQUE (endpoint, idempotency_key)
);
CREATE INDEX outbox_due ON @extschema@.outbox (endpoint, id) WHERE status = 'pending';
CREATE INDEX outbox_in_flight ON @extschema@.outbox (lease_until) WHERE status = 'in_flight';
-- (when the next retry falls due: the worker's sleep)
CREATE INDEX outbox_next_due ON @extschema@.outbox (next_attempt_at) WHERE status = 'pending';
-- (messages are data: pg_dump keeps them, delivered or not)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_id_seq', '');
COMMENT ON TABLE @extschema@.outbox IS
  'Messages to endpoints, written in the enqueuing transaction and delivered by the background worker: pending, in_flight (leased), delivered or dead';
COMMENT ON COLUMN @extschema@.outbox.enqueued_by IS
  'The role that sent the message (the definer, for an event rule''s or an alert''s)';

-- Each role sees the endpoints it owns or may send to, and the messages it
-- sent or that reach an endpoint it owns; nobody writes either table but
-- concord's API (which runs as concord's owner).
ALTER TABLE @extschema@.endpoint ENABLE ROW LEVEL SECURITY;
CREATE POLICY endpoint_visible ON @extschema@.endpoint FOR SELECT
  USING (@extschema@.manages(defined_by) OR @extschema@.manages_any(pg_catalog.to_regrole(current_user), senders));
ALTER TABLE @extschema@.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY outbox_visible ON @extschema@.outbox FOR SELECT
  USING (@extschema@.manages(enqueued_by)
         OR EXISTS (SELECT 1 FROM @extschema@.endpoint e
                     WHERE e.name OPERATOR(pg_catalog.=) outbox.endpoint AND @extschema@.manages(e.defined_by)));

-- Wakes this database's worker when the enqueuing transaction commits.
CREATE FUNCTION @extschema@.flow_wake()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_flow_wake'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.flow_wake() IS
  'Asks this database''s concord worker to deliver as soon as the current transaction commits (false when no worker runs)';

-- The header values of an endpoint or a message: strings of one line, or
-- {"secret": name} for a secret the sender may use.
CREATE FUNCTION @extschema@.flow_check_headers(headers jsonb, what text, sender regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  h record;
BEGIN
  IF headers IS NULL OR jsonb_typeof(headers) OPERATOR(pg_catalog.<>) 'object' THEN
    RAISE EXCEPTION 'headers of % must be a JSON object', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR h IN SELECT e.key, e.value FROM jsonb_each(headers) e LOOP
    IF h.key OPERATOR(pg_catalog.!~) '^[A-Za-z0-9!#$%&''*+.^_`|~-]+$' OR pg_catalog.length(h.key) OPERATOR(pg_catalog.>) 256 THEN
      RAISE EXCEPTION 'invalid header name "%" in %', h.key, what
        USING ERRCODE = 'invalid_parameter_value', HINT = 'A header name is a token: letters, digits and !#$%&''*+.^_`|~-.';
    ELSIF jsonb_typeof(h.value) OPERATOR(pg_catalog.=) 'string' THEN
      IF (h.value #>> '{}') OPERATOR(pg_catalog.~) '[\r\n\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' THEN
        RAISE EXCEPTION 'header "%" in % has a line break or a control character', h.key, what
          USING ERRCODE = 'invalid_parameter_value', HINT = 'A header value is one line of text.';
      END IF;
    ELSIF jsonb_typeof(h.value) OPERATOR(pg_catalog.=) 'object' AND h.value ? 'secret'
          AND jsonb_typeof(h.value -> 'secret') OPERATOR(pg_catalog.=) 'string'
          AND (SELECT count(*) FROM jsonb_object_keys(h.value)) OPERATOR(pg_catalog.=) 1 THEN
      IF NOT @extschema@.secret_exists(h.value ->> 'secret') THEN
        RAISE EXCEPTION 'secret "%" (header "%" in %) does not exist', h.value ->> 'secret', h.key, what
          USING ERRCODE = 'undefined_object', HINT = 'A superuser stores it with concord.secret_set(name, value).';
      END IF;
      IF NOT @extschema@.secret_usable(h.value ->> 'secret', sender) THEN
        RAISE EXCEPTION 'permission denied for secret "%" (header "%" in %)', h.value ->> 'secret', h.key, what
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'Its owner lets a role use it with concord.secret_grant(name, role).';
      END IF;
    ELSE
      RAISE EXCEPTION 'header "%" in % must be a string or {"secret": name}, not %', h.key, what, h.value
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.flow_check_headers(jsonb, text, regrole) IS
  'Internal to flow: header values must be one-line strings or {"secret": name} of an existing secret';

CREATE FUNCTION @extschema@.endpoint_create(name text, url text, secret_name text DEFAULT NULL,
                                            max_in_flight integer DEFAULT 32, max_attempts integer DEFAULT 10,
                                            timeout_ms integer DEFAULT 10000, headers jsonb DEFAULT '{}',
                                            description text DEFAULT NULL, format text DEFAULT 'json',
                                            senders regrole[] DEFAULT '{}', unsigned boolean DEFAULT false,
                                            replace boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  old @extschema@.endpoint;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid endpoint name "%"', name
      USING ERRCODE = 'invalid_name', HINT = 'An endpoint name is a lower-case identifier, e.g. finance_billing.';
  END IF;
  SELECT * INTO old FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) endpoint_create.name FOR UPDATE;
  PERFORM @extschema@.require_redefinable('endpoint', name, old.defined_by, old.name IS NOT NULL, replace);
  IF url IS NULL THEN
    RAISE EXCEPTION 'endpoint "%" needs a URL', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.flow_check_url(url);
  IF unsigned IS NULL THEN
    RAISE EXCEPTION 'unsigned of endpoint "%" must be true or false', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF secret_name IS NULL AND NOT unsigned THEN
    RAISE EXCEPTION 'endpoint "%" needs a signing secret', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name one with secret_name => (every body is signed with it), or pass unsigned => true for a receiver that checks no signature.';
  END IF;
  IF secret_name IS NOT NULL AND unsigned THEN
    RAISE EXCEPTION 'endpoint "%" cannot be unsigned and have a signing secret', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave out unsigned => true, or secret_name.';
  END IF;
  IF secret_name IS NOT NULL AND NOT @extschema@.secret_exists(secret_name) THEN
    RAISE EXCEPTION 'secret "%" does not exist', secret_name
      USING ERRCODE = 'undefined_object', HINT = 'Store it first: SELECT concord.secret_set(name, value) (as a superuser).';
  END IF;
  IF secret_name IS NOT NULL AND NOT @extschema@.secret_usable(secret_name, coalesce(old.defined_by, me)) THEN
    RAISE EXCEPTION 'permission denied for secret "%" (endpoint "%")', secret_name, name
      USING ERRCODE = 'insufficient_privilege', HINT = 'Its owner lets a role use it with concord.secret_grant(name, role).';
  END IF;
  PERFORM @extschema@.flow_check_headers(headers, format('endpoint "%s"', name), coalesce(old.defined_by, me));
  IF format IS NULL OR format OPERATOR(pg_catalog.<>) ALL (ARRAY['json', 'dingtalk', 'wecom', 'feishu', 'slack']) THEN
    RAISE EXCEPTION 'unknown format "%" for endpoint "%"', format, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of json, dingtalk, wecom, feishu, slack.';
  END IF;
  IF max_in_flight IS NULL OR NOT (max_in_flight OPERATOR(pg_catalog.>=) 1 AND max_in_flight OPERATOR(pg_catalog.<=) 256) THEN
    RAISE EXCEPTION 'max_in_flight of endpoint "%" must be between 1 and 256, not %', name, coalesce(max_in_flight::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_attempts IS NULL OR NOT (max_attempts OPERATOR(pg_catalog.>=) 1 AND max_attempts OPERATOR(pg_catalog.<=) 100) THEN
    RAISE EXCEPTION 'max_attempts of endpoint "%" must be between 1 and 100, not %', name, coalesce(max_attempts::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF timeout_ms IS NULL OR NOT (timeout_ms OPERATOR(pg_catalog.>=) 100 AND timeout_ms OPERATOR(pg_catalog.<=) 600000) THEN
    RAISE EXCEPTION 'timeout_ms of endpoint "%" must be between 100 and 600000, not %', name, coalesce(timeout_ms::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF senders IS NULL OR array_position(senders, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'senders of endpoint "%" must be a list of roles', name USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO @extschema@.endpoint AS e (name, url, secret_name, max_in_flight, max_attempts, timeout_ms, headers,
                                         description, format, defined_by, senders, unsigned)
  VALUES (name, url, secret_name, max_in_flight, max_attempts, timeout_ms, headers, description, format,
          coalesce(old.defined_by, me), senders, unsigned)
  ON CONFLICT ON CONSTRAINT endpoint_pkey DO UPDATE
    SET url = excluded.url, secret_name = excluded.secret_name, max_in_flight = excluded.max_in_flight,
        max_attempts = excluded.max_attempts, timeout_ms = excluded.timeout_ms, headers = excluded.headers,
        description = excluded.description, format = excluded.format, senders = excluded.senders,
        unsigned = excluded.unsigned, defined_at = pg_catalog.now();
  PERFORM @extschema@.audit_record('endpoint_define', name, NULL,
    jsonb_build_object('url', @extschema@.http_redact_url(url), 'secret', secret_name, 'unsigned', unsigned,
                       'max_in_flight', max_in_flight, 'max_attempts', max_attempts, 'timeout_ms', timeout_ms,
                       'senders', senders, 'replaced', old.name IS NOT NULL));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.endpoint_create(text, text, text, integer, integer, integer, jsonb, text, text, regrole[], boolean, boolean) IS
  'Defines a delivery endpoint (an existing one only with replace => true, as its owner): its URL must pass the destination guard now; every body is signed with its secret (by name; it must exist), unless it is defined unsigned => true; format (json, dingtalk, wecom, feishu, slack) is what its receiver accepts from event rules and alerts; senders are the roles besides the owner that may send to it';
-- Deprecated (0.2): the old name of endpoint_create(), kept for one release.
SELECT @extschema@.deprecated_alias('endpoint_define', '@extschema@.endpoint_create(text, text, text, integer, integer, integer, jsonb, text, text, regrole[], boolean, boolean)');

-- Disable or enable an endpoint: while disabled its messages wait (pending).
CREATE FUNCTION @extschema@.endpoint_enable(name text, enabled boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  owner regrole;
BEGIN
  IF enabled IS NULL THEN
    RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT e.defined_by INTO owner FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) endpoint_enable.name FOR UPDATE;
  IF owner IS NULL OR NOT @extschema@.manages(@extschema@.caller(), owner) THEN
    RAISE EXCEPTION 'unknown endpoint "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  UPDATE @extschema@.endpoint e SET enabled = endpoint_enable.enabled WHERE e.name OPERATOR(pg_catalog.=) endpoint_enable.name;
  PERFORM @extschema@.audit_record('endpoint_enable', name, NULL, jsonb_build_object('enabled', enabled));
  IF enabled THEN
    PERFORM @extschema@.flow_wake();
  END IF;
  RETURN enabled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.endpoint_enable(text, boolean) IS
  'Disables or enables an endpoint (its owner''s, or as concord_admin): while disabled its messages stay pending, none is sent';

-- Drop an endpoint and the messages it holds.
CREATE FUNCTION @extschema@.endpoint_drop(name text, discard_pending boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  owner regrole;
  waiting bigint;
  users text;
BEGIN
  SELECT e.defined_by INTO owner FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) endpoint_drop.name FOR UPDATE;
  IF owner IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('endpoint', name, owner, 'drop');
  SELECT pg_catalog.string_agg(u, ', ' ORDER BY u) INTO users FROM (
    SELECT 'event rule ' OPERATOR(pg_catalog.||) r.name AS u FROM @extschema@.event_rule r, jsonb_array_elements(r.actions) a
     WHERE a OPERATOR(pg_catalog.->>) 'webhook' OPERATOR(pg_catalog.=) endpoint_drop.name
    UNION
    SELECT 'alert ' OPERATOR(pg_catalog.||) r.name FROM @extschema@.alert_rule r, jsonb_array_elements(r.channels) c
     WHERE c OPERATOR(pg_catalog.->>) 'webhook' OPERATOR(pg_catalog.=) endpoint_drop.name) x;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'endpoint "%" is used by %', name, users
      USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop them or point them at another endpoint first.';
  END IF;
  SELECT count(*) INTO waiting FROM @extschema@.outbox o
   WHERE o.endpoint OPERATOR(pg_catalog.=) endpoint_drop.name AND o.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'in_flight']);
  IF waiting OPERATOR(pg_catalog.>) 0 AND discard_pending IS NOT TRUE THEN
    RAISE EXCEPTION 'endpoint "%" has % message(s) not yet delivered', name, waiting
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Wait for them (concord.monitor_outbox), or pass discard_pending => true to drop them with it.';
  END IF;
  DELETE FROM @extschema@.outbox o WHERE o.endpoint OPERATOR(pg_catalog.=) endpoint_drop.name;
  DELETE FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) endpoint_drop.name;
  PERFORM @extschema@.audit_record('endpoint_drop', name, NULL, jsonb_build_object('discarded', waiting));
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.endpoint_drop(text, boolean) IS
  'Drops an endpoint (its owner''s, or as concord_admin) with its messages; refused while an event rule or an alert sends to it, or while messages wait unless discard_pending => true; false if it did not exist';

-- May the role send to the endpoint?  Its owner's, a sender's or an
-- admin's privileges.
CREATE FUNCTION @extschema@.endpoint_sendable(endpoint text, sender regrole)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM @extschema@.endpoint e
                WHERE e.name OPERATOR(pg_catalog.=) endpoint
                  AND (@extschema@.manages(sender, e.defined_by) OR @extschema@.manages_any(sender, e.senders)));
COMMENT ON FUNCTION @extschema@.endpoint_sendable(text, regrole) IS
  'Whether the role may send to the endpoint: it has the privileges of its owner, of one of its senders, or of concord_admin';

-- A message into the outbox, for sender (internal: outbox_enqueue and
-- alerts check the sender first).
CREATE FUNCTION @extschema@.outbox_put(endpoint text, payload jsonb, idempotency_key text, headers jsonb, sender regrole)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  id bigint;
BEGIN
  IF idempotency_key IS NOT NULL AND (idempotency_key OPERATOR(pg_catalog.=) ''
                                      OR pg_catalog.length(idempotency_key) OPERATOR(pg_catalog.>) 255
                                      OR idempotency_key OPERATOR(pg_catalog.~) '[\r\n\x01-\x1f\x7f]') THEN
    RAISE EXCEPTION 'invalid idempotency key %', pg_catalog.quote_literal(idempotency_key)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'An idempotency key is 1 to 255 characters of one line (or NULL for a new UUID).';
  END IF;
  INSERT INTO @extschema@.outbox AS o (endpoint, payload, idempotency_key, headers, enqueued_by)
  VALUES (endpoint, payload, coalesce(idempotency_key, pg_catalog.gen_random_uuid()::pg_catalog.text), headers, sender)
  ON CONFLICT ON CONSTRAINT outbox_endpoint_idempotency_key_key DO NOTHING
  RETURNING o.id INTO id;
  IF id IS NULL THEN
    -- the same key again: the message is already there (enqueueing is idempotent too)
    SELECT o.id INTO id FROM @extschema@.outbox o
     WHERE o.endpoint OPERATOR(pg_catalog.=) outbox_put.endpoint
       AND o.idempotency_key OPERATOR(pg_catalog.=) outbox_put.idempotency_key;
  END IF;
  PERFORM @extschema@.flow_wake();
  RETURN id;
END
$fn$;
COMMENT ON FUNCTION @extschema@.outbox_put(text, jsonb, text, jsonb, regrole) IS
  'Internal to flow: writes a message for a sender already checked';

CREATE FUNCTION @extschema@.outbox_enqueue(endpoint text, payload jsonb, idempotency_key text DEFAULT NULL,
                                           headers jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) outbox_enqueue.endpoint) THEN
    RAISE EXCEPTION 'unknown endpoint "%"', endpoint
      USING ERRCODE = 'undefined_object', HINT = 'Define it with concord.endpoint_create.';
  END IF;
  IF NOT @extschema@.endpoint_sendable(endpoint, me) THEN
    RAISE EXCEPTION 'permission denied to send to endpoint "%"', endpoint
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Its owner lets a role send with concord.endpoint_create(..., senders => ..., replace => true).';
  END IF;
  IF payload IS NULL THEN
    RAISE EXCEPTION 'a message to "%" needs a payload', endpoint USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM @extschema@.flow_check_headers(headers, format('a message to "%s"', endpoint), me);
  RETURN @extschema@.outbox_put(endpoint, payload, idempotency_key, headers, me);
END
$fn$;
COMMENT ON FUNCTION @extschema@.outbox_enqueue(text, jsonb, text, jsonb) IS
  'Enqueues a message to an endpoint the caller may send to, in the current transaction (delivered if it commits); an idempotency key (default: a new UUID) already enqueued returns that message';

CREATE FUNCTION @extschema@.outbox_retry(id bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  m record;
BEGIN
  SELECT o.status, o.enqueued_by, e.defined_by INTO m
    FROM @extschema@.outbox o JOIN @extschema@.endpoint e ON e.name OPERATOR(pg_catalog.=) o.endpoint
   WHERE o.id OPERATOR(pg_catalog.=) outbox_retry.id FOR UPDATE OF o;
  IF m.status IS NULL OR NOT (@extschema@.manages(me, m.enqueued_by) OR @extschema@.manages(me, m.defined_by)) THEN
    -- (another's message is as unknown as a missing one)
    RAISE EXCEPTION 'no outbox message %', id USING ERRCODE = 'undefined_object';
  END IF;
  IF m.status OPERATOR(pg_catalog.<>) 'dead' THEN
    RAISE EXCEPTION 'outbox message % is %, not dead', id, m.status
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only a dead message is retried by hand; the worker retries the others.';
  END IF;
  UPDATE @extschema@.outbox o SET status = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), lease_until = NULL
   WHERE o.id OPERATOR(pg_catalog.=) outbox_retry.id;
  PERFORM @extschema@.flow_wake();
  RETURN 'pending';
END
$fn$;
COMMENT ON FUNCTION @extschema@.outbox_retry(bigint) IS
  'Sends a dead message again (its sender''s or its endpoint owner''s): pending, its attempts counted from zero';

-- members read (row security shows each her own); only the API writes
GRANT SELECT ON @extschema@.endpoint, @extschema@.outbox TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'flow_check_url(text)', 'flow_wake()',
    'endpoint_create(text, text, text, integer, integer, integer, jsonb, text, text, regrole[], boolean, boolean)', 'endpoint_define(text, text, text, integer, integer, integer, jsonb, text, text, regrole[], boolean, boolean)',
    'endpoint_enable(text, boolean)', 'endpoint_drop(text, boolean)',
    'endpoint_sendable(text, regrole)',
    'outbox_enqueue(text, jsonb, text, jsonb)', 'outbox_retry(bigint)']);
REVOKE EXECUTE ON FUNCTION @extschema@.outbox_put(text, jsonb, text, jsonb, regrole),
                           @extschema@.flow_check_headers(jsonb, text, regrole) FROM PUBLIC;
