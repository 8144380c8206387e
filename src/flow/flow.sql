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
