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
  owner       regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER),
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
  'Alerts fired and resolved: one open event per rule at most, with what the last check that found trouble found (rows or the metric''s value; a resolved event keeps what fired)';
COMMENT ON COLUMN @extschema@.alert_rule.owner IS
  'The role that defined the alert: its check runs with her privileges, and only she (or roles with her privileges, or concord_admin) may change it';

-- Each role sees its own alerts and their events; only the API writes.
ALTER TABLE @extschema@.alert_rule ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_rule_visible ON @extschema@.alert_rule FOR SELECT USING (@extschema@.manages(owner));
ALTER TABLE @extschema@.alert_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_event_visible ON @extschema@.alert_event FOR SELECT
  USING (EXISTS (SELECT 1 FROM @extschema@.alert_rule r
                  WHERE r.name OPERATOR(pg_catalog.=) alert_event.rule AND @extschema@.manages(r.owner)));

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

CREATE FUNCTION @extschema@.alert_create(name text, query text DEFAULT NULL, metric text DEFAULT NULL, op text DEFAULT NULL,
                                       threshold numeric DEFAULT NULL, metric_window interval DEFAULT '1 day',
                                       every interval DEFAULT '5 minutes', severity text DEFAULT 'warning',
                                       cooldown interval DEFAULT '1 hour', channels jsonb DEFAULT '[]',
                                       description text DEFAULT NULL, replace boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  me regrole := @extschema@.caller();
  prev regrole;
  c jsonb;
BEGIN
  IF name IS NULL OR name OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid alert name "%"', name USING ERRCODE = 'invalid_name';
  END IF;
  SELECT r.owner INTO prev FROM @extschema@.alert_rule r WHERE r.name OPERATOR(pg_catalog.=) alert_create.name FOR UPDATE;
  PERFORM @extschema@.require_redefinable('alert', name, prev, prev IS NOT NULL, replace);
  IF every IS NULL OR every OPERATOR(pg_catalog.<) interval '1 second' THEN
    RAISE EXCEPTION 'alert "%" must be checked every second at most often, not every %', name, coalesce(every::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Give every => an interval of at least 1 second.';
  END IF;
  IF cooldown IS NULL OR cooldown OPERATOR(pg_catalog.<) interval '0' THEN
    RAISE EXCEPTION 'cooldown of alert "%" must not be negative, not %', name, coalesce(cooldown::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (query IS NULL) OPERATOR(pg_catalog.=) (metric IS NULL) THEN
    RAISE EXCEPTION 'alert "%" needs a query or a metric (one of them)', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'query => a SELECT of the offending rows, or metric => name with op and threshold.';
  END IF;
  IF query IS NOT NULL THEN
    PERFORM @extschema@.sql_check_select(query);
    -- it must plan as its definer: tables and columns exist, she may read them
    PERFORM @extschema@.eval_as(me, format('EXPLAIN (COSTS OFF) %s', query));
  ELSE
    IF op IS NULL OR op OPERATOR(pg_catalog.<>) ALL (ARRAY['>', '>=', '<', '<=']) OR threshold IS NULL THEN
      RAISE EXCEPTION 'metric alert "%" needs op (>, >=, <, <=) and a threshold', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- an unknown metric fails here (asked as the definer)
    PERFORM @extschema@.eval_as(me, format('SELECT %s.metric_sql(ARRAY[%L]::pg_catalog.text[])', '@extschema@', metric));
  END IF;
  IF severity IS NULL OR severity OPERATOR(pg_catalog.<>) ALL (ARRAY['info', 'warning', 'critical']) THEN
    RAISE EXCEPTION 'unknown severity "%" for alert "%"', severity, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of info, warning, critical.';
  END IF;
  IF channels IS NULL OR jsonb_typeof(channels) OPERATOR(pg_catalog.<>) 'array' THEN
    RAISE EXCEPTION 'channels of alert "%" must be a JSON array', name USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR c IN SELECT e FROM jsonb_array_elements(channels) e LOOP
    IF c OPERATOR(pg_catalog.?) 'webhook' THEN
      IF NOT EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name OPERATOR(pg_catalog.=) (c OPERATOR(pg_catalog.->>) 'webhook')) THEN
        RAISE EXCEPTION 'unknown endpoint "%" in alert "%"', c OPERATOR(pg_catalog.->>) 'webhook', name USING ERRCODE = 'undefined_object';
      END IF;
      IF NOT @extschema@.endpoint_sendable(c OPERATOR(pg_catalog.->>) 'webhook', me) THEN
        RAISE EXCEPTION 'permission denied to send to endpoint "%" (alert "%")', c OPERATOR(pg_catalog.->>) 'webhook', name
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'Its owner lets a role send with concord.endpoint_create(..., senders => ..., replace => true).';
      END IF;
      IF coalesce(c OPERATOR(pg_catalog.->>) 'format', 'json') OPERATOR(pg_catalog.<>) ALL (ARRAY['json', 'dingtalk', 'wecom', 'feishu', 'slack']) THEN
        RAISE EXCEPTION 'unknown format "%" in alert "%"', c OPERATOR(pg_catalog.->>) 'format', name
          USING ERRCODE = 'invalid_parameter_value', HINT = 'Use one of json, dingtalk, wecom, feishu, slack.';
      END IF;
    ELSIF NOT c OPERATOR(pg_catalog.?) 'notify' OR (c OPERATOR(pg_catalog.->>) 'notify') OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]{0,62}$' THEN
      RAISE EXCEPTION 'channel % of alert "%" must be {"webhook": endpoint, "format": ...} or {"notify": channel}', c, name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  INSERT INTO @extschema@.alert_rule AS r (name, query, metric, op, threshold, metric_window, every, severity, cooldown,
                                          channels, owner, description)
  VALUES (name, query, metric, op, threshold, metric_window, every, severity, cooldown, channels,
          coalesce(prev, me), description)
  ON CONFLICT ON CONSTRAINT alert_rule_pkey DO UPDATE
    SET query = excluded.query, metric = excluded.metric, op = excluded.op, threshold = excluded.threshold,
        metric_window = excluded.metric_window, every = excluded.every, severity = excluded.severity,
        cooldown = excluded.cooldown, channels = excluded.channels,
        description = excluded.description, next_check_at = pg_catalog.now(), enabled = true;
  PERFORM @extschema@.audit_record('alert_rule', name, NULL,
    jsonb_build_object('query', query, 'metric', metric, 'op', op, 'threshold', threshold, 'every', every,
                       'severity', severity, 'channels', channels));
  RETURN name;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_create(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text, boolean) IS
  'Defines an alert (an existing one only with replace => true, as its owner): a query of offending rows, or a metric over the last metric_window compared with a threshold; checked every `every` as its definer; channels [{"webhook": endpoint, "format": json|dingtalk|wecom|feishu|slack}, {"notify": channel}]';
-- Deprecated (0.2): the old name of alert_create(), kept for one release.
SELECT @extschema@.deprecated_alias('alert_rule', '@extschema@.alert_create(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text, boolean)');

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
               CASE WHEN r.query IS NOT NULL THEN format('%s offending row%s', ev.detail ->> 'count',
                                                     CASE WHEN ev.detail ->> 'count' = '1' THEN '' ELSE 's' END)
                    ELSE format('%s = %s (threshold %s %s)', r.metric, ev.detail ->> 'value', r.op, r.threshold) END;
BEGIN
  FOR c IN SELECT e FROM jsonb_array_elements(r.channels) e LOOP
    IF c ? 'webhook' THEN
      IF NOT @extschema@.endpoint_sendable(c ->> 'webhook', r.owner) THEN
        RAISE EXCEPTION 'alert "%": % may no longer send to endpoint "%"', r.name, r.owner, c ->> 'webhook'
          USING ERRCODE = 'insufficient_privilege';
      END IF;
      PERFORM @extschema@.outbox_put(c ->> 'webhook',
        @extschema@.alert_format(coalesce(c ->> 'format', (SELECT e.format FROM @extschema@.endpoint e WHERE e.name = c ->> 'webhook'),
                                          'json'), title, body,
                                 jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'detail', ev.detail)),
        format('alert-%s-%s-%s', ev.id, what, extract(epoch FROM pg_catalog.clock_timestamp())), '{}', r.owner);
    ELSE
      -- NOTIFY is heard by any role that LISTENs: identifiers only, never
      -- a value; listeners read the event (alert_event) as what they may see
      PERFORM pg_catalog.pg_notify(c ->> 'notify',
        jsonb_build_object('rule', r.name, 'event', ev.id, 'state', what, 'severity', ev.severity)::text);
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
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  r @extschema@.alert_rule;
  ev @extschema@.alert_event;
  found_trouble boolean;
  found jsonb;
  v numeric;
  state text;
BEGIN
  -- one check of an alert at a time (the worker's round and a manual
  -- check): the rule's row, read once and locked, then its open event,
  -- always in that order.  (A caller who may not check it is refused just
  -- after; her error releases the lock.)
  SELECT * INTO r FROM @extschema@.alert_rule x WHERE x.name OPERATOR(pg_catalog.=) alert_check.name FOR UPDATE;
  IF r.name IS NULL THEN
    RAISE EXCEPTION 'unknown alert "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM @extschema@.require_manages('alert', name, r.owner, 'check');
  -- the check, as the owner (eval_as: read-only, rolled back, and no
  -- function the query calls can change role, even in the worker)
  IF r.query IS NOT NULL THEN
    PERFORM @extschema@.sql_check_select(r.query);
    found := @extschema@.eval_as(r.owner, format(
      'SELECT pg_catalog.jsonb_build_object(''count'', pg_catalog.count(*), ''rows'','
      ' COALESCE(pg_catalog.jsonb_agg(s.q) FILTER (WHERE s.n OPERATOR(pg_catalog.<=) 20), ''[]''::pg_catalog.jsonb))'
      ' FROM (SELECT q, pg_catalog.row_number() OVER () AS n FROM (%s' OPERATOR(pg_catalog.||) E'\n' OPERATOR(pg_catalog.||) ') q) s', r.query));
    found_trouble := (found OPERATOR(pg_catalog.->>) 'count')::bigint OPERATOR(pg_catalog.>) 0;
  ELSE
    found := @extschema@.eval_as(r.owner, format(
      'SELECT pg_catalog.jsonb_build_object(''value'', j OPERATOR(pg_catalog.->) %L::pg_catalog.text)'
      ' FROM %s.metric_query(ARRAY[%L]::pg_catalog.text[], from_date => %L::pg_catalog.date,'
      ' to_date => %L::pg_catalog.date) j',
      r.metric, '@extschema@', r.metric, (pg_catalog.now() OPERATOR(pg_catalog.-) r.metric_window)::date, pg_catalog.now()::date));
    v := (found OPERATOR(pg_catalog.->>) 'value')::numeric;
    found := jsonb_build_object('value', v);
    EXECUTE format('SELECT $1 %s $2', r.op) INTO found_trouble USING v, r.threshold;
    found_trouble := coalesce(found_trouble, false);
  END IF;

  SELECT * INTO ev FROM @extschema@.alert_event e WHERE e.rule OPERATOR(pg_catalog.=) r.name AND e.resolved_at IS NULL FOR UPDATE;
  IF found_trouble THEN
    IF ev.id IS NULL THEN
      INSERT INTO @extschema@.alert_event AS e (rule, severity, detail) VALUES (r.name, r.severity, found) RETURNING e.* INTO ev;
      PERFORM @extschema@.alert_notify(r, ev, 'firing');
      UPDATE @extschema@.alert_event e SET notified_at = pg_catalog.now() WHERE e.id OPERATOR(pg_catalog.=) ev.id;
      state := 'fired';
    ELSE
      UPDATE @extschema@.alert_event e SET last_seen_at = pg_catalog.now(), detail = found
       WHERE e.id OPERATOR(pg_catalog.=) ev.id RETURNING e.* INTO ev;
      IF ev.notified_at IS NULL OR ev.notified_at OPERATOR(pg_catalog.+) r.cooldown OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
        PERFORM @extschema@.alert_notify(r, ev, 'still firing');
        UPDATE @extschema@.alert_event e SET notified_at = pg_catalog.now() WHERE e.id OPERATOR(pg_catalog.=) ev.id;
        state := 'firing, notified again';
      ELSE
        state := 'firing';
      END IF;
    END IF;
  ELSIF ev.id IS NOT NULL THEN
    -- (its detail stays what fired: the check that resolves it found nothing)
    UPDATE @extschema@.alert_event e SET resolved_at = pg_catalog.now()
     WHERE e.id OPERATOR(pg_catalog.=) ev.id RETURNING e.* INTO ev;
    PERFORM @extschema@.alert_notify(r, ev, 'resolved');
    state := 'resolved';
  ELSE
    state := 'ok';
  END IF;
  UPDATE @extschema@.alert_rule x SET last_check_at = pg_catalog.now(), next_check_at = pg_catalog.now() OPERATOR(pg_catalog.+) r.every, last_error = NULL
   WHERE x.name OPERATOR(pg_catalog.=) r.name;
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
    -- an alert another session is checking (or changing) is passed over,
    -- never waited for: two rounds at once neither wait nor deadlock, and
    -- one that another round has just checked is no longer due
    PERFORM FROM @extschema@.alert_rule x
      WHERE x.name OPERATOR(pg_catalog.=) r.name AND x.enabled AND x.next_check_at OPERATOR(pg_catalog.<=) pg_catalog.now()
      FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
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

CREATE FUNCTION @extschema@.alert_enable(name text, enabled boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  r @extschema@.alert_rule;
BEGIN
  IF enabled IS NULL THEN
    RAISE EXCEPTION 'enabled must be true or false' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT * INTO r FROM @extschema@.alert_rule x WHERE x.name OPERATOR(pg_catalog.=) alert_enable.name FOR UPDATE;
  IF r.name IS NULL OR NOT @extschema@.manages(@extschema@.caller(), r.owner) THEN
    RAISE EXCEPTION 'unknown alert "%"', name USING ERRCODE = 'undefined_object';
  END IF;
  UPDATE @extschema@.alert_rule x SET enabled = alert_enable.enabled,
         next_check_at = CASE WHEN alert_enable.enabled THEN pg_catalog.now() ELSE x.next_check_at END
   WHERE x.name OPERATOR(pg_catalog.=) r.name;
  PERFORM @extschema@.audit_record('alert_enable', name, NULL, jsonb_build_object('enabled', enabled));
  RETURN enabled;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_enable(text, boolean) IS
  'Enables or disables an alert (its owner''s, or as concord_admin) without dropping it';

CREATE FUNCTION @extschema@.alert_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_column
DECLARE
  owner regrole;
BEGIN
  SELECT r.owner INTO owner FROM @extschema@.alert_rule r WHERE r.name OPERATOR(pg_catalog.=) alert_drop.name FOR UPDATE;
  IF owner IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('alert', name, owner, 'drop');
  DELETE FROM @extschema@.alert_rule r WHERE r.name OPERATOR(pg_catalog.=) alert_drop.name;
  PERFORM @extschema@.audit_record('alert_drop', name);
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.alert_drop(text) IS
  'Drops an alert (its owner''s, or as concord_admin) and its events; true if it existed';

GRANT SELECT ON @extschema@.alert_rule, @extschema@.alert_event TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY[
    'sql_check_select(text)', 'alert_format(text, text, text, jsonb)',
    'alert_create(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text, boolean)', 'alert_rule(text, text, text, text, numeric, interval, interval, text, interval, jsonb, text, boolean)',
    'alert_check(text)', 'alert_enable(text, boolean)', 'alert_drop(text)']);
REVOKE EXECUTE ON FUNCTION @extschema@.alert_notify(@extschema@.alert_rule, @extschema@.alert_event, text) FROM PUBLIC;
