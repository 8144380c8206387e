/* concord — flow: monitoring.  Joined into concord--<version>.sql by the
 * Makefile after alerts.sql.
 *
 * Views over concord's own tables -- HTTP calls per host, syncs per source,
 * the outbox per endpoint, alerts, the worker -- and metrics_text(), all of
 * it in Prometheus' text exposition format for a scraper.  monitor_http
 * reads the call log as its caller (security_invoker: each role its own
 * calls, a superuser all of them); so do monitor_outbox and monitor_alerts
 * (each role its own endpoints, messages and alerts; concord_admin and
 * superusers everything), and monitor_sync (each her own sources). */

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

CREATE VIEW @extschema@.monitor_sync WITH (security_invoker = true) AS
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

CREATE VIEW @extschema@.monitor_outbox WITH (security_invoker = true) AS
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

CREATE VIEW @extschema@.monitor_alerts WITH (security_invoker = true) AS
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

-- A label value in Prometheus' text format: backslash, quote and line
-- break escaped.
CREATE FUNCTION @extschema@.prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(coalesce(v, ''), E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n');
COMMENT ON FUNCTION @extschema@.prom_label(text) IS
  'Internal to metrics_text: a label value escaped for Prometheus'' text exposition format';

CREATE FUNCTION @extschema@.metrics_text()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
-- (counts and names of every component's objects, for the operator's scraper)
SET concord.run_as = 'owner'
BEGIN ATOMIC
  SELECT string_agg(line, E'\n' ORDER BY ord, line) || E'\n' FROM (
    SELECT 1 AS ord, '# HELP concord_http_calls_total HTTP calls kept in concord.http_call_log, per host' AS line
    UNION ALL SELECT 1, '# TYPE concord_http_calls_total counter'
    UNION ALL SELECT 1, format('concord_http_calls_total{host="%s"} %s', @extschema@.prom_label(h.host), h.calls) FROM @extschema@.monitor_http h
    UNION ALL SELECT 2, '# HELP concord_http_errors_total HTTP calls kept in concord.http_call_log that failed or answered 4xx/5xx, per host'
    UNION ALL SELECT 2, '# TYPE concord_http_errors_total counter'
    UNION ALL SELECT 2, format('concord_http_errors_total{host="%s"} %s', @extschema@.prom_label(h.host), h.errors) FROM @extschema@.monitor_http h
    UNION ALL SELECT 3, '# HELP concord_http_latency_seconds Latency of the HTTP calls kept in concord.http_call_log, per host'
    UNION ALL SELECT 3, '# TYPE concord_http_latency_seconds summary'
    UNION ALL SELECT 3, format('concord_http_latency_seconds{host="%s",quantile="0.5"} %s', @extschema@.prom_label(h.host),
                               round(h.p50_ms::numeric / 1000, 6)) FROM @extschema@.monitor_http h
    UNION ALL SELECT 3, format('concord_http_latency_seconds{host="%s",quantile="0.95"} %s', @extschema@.prom_label(h.host),
                               round(h.p95_ms::numeric / 1000, 6)) FROM @extschema@.monitor_http h
    UNION ALL SELECT 4, '# HELP concord_sync_lag_seconds Seconds since the last successful sync of a source (-1: never)'
    UNION ALL SELECT 4, '# TYPE concord_sync_lag_seconds gauge'
    UNION ALL SELECT 4, format('concord_sync_lag_seconds{source="%s"} %s', @extschema@.prom_label(s.source),
                               coalesce(round(extract(epoch FROM s.lag)), -1)) FROM @extschema@.monitor_sync s
    UNION ALL SELECT 5, '# HELP concord_sync_failures_24h Failed sync runs of a source in the last 24 hours'
    UNION ALL SELECT 5, '# TYPE concord_sync_failures_24h gauge'
    UNION ALL SELECT 5, format('concord_sync_failures_24h{source="%s"} %s', @extschema@.prom_label(s.source), s.failures_24h) FROM @extschema@.monitor_sync s
    UNION ALL SELECT 6, '# HELP concord_sync_rejects_24h Rows of a source rejected in the last 24 hours'
    UNION ALL SELECT 6, '# TYPE concord_sync_rejects_24h gauge'
    UNION ALL SELECT 6, format('concord_sync_rejects_24h{source="%s"} %s', @extschema@.prom_label(s.source), s.rejects_24h) FROM @extschema@.monitor_sync s
    UNION ALL SELECT 7, '# HELP concord_outbox_messages Outbox messages per endpoint and state'
    UNION ALL SELECT 7, '# TYPE concord_outbox_messages gauge'
    UNION ALL SELECT 7, format('concord_outbox_messages{endpoint="%s",state="pending"} %s', @extschema@.prom_label(o.endpoint), o.pending) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 7, format('concord_outbox_messages{endpoint="%s",state="in_flight"} %s', @extschema@.prom_label(o.endpoint), o.in_flight) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 7, format('concord_outbox_messages{endpoint="%s",state="dead"} %s', @extschema@.prom_label(o.endpoint), o.dead) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 8, '# HELP concord_outbox_oldest_waiting_seconds Age of the oldest message of an endpoint not yet delivered'
    UNION ALL SELECT 8, '# TYPE concord_outbox_oldest_waiting_seconds gauge'
    UNION ALL SELECT 8, format('concord_outbox_oldest_waiting_seconds{endpoint="%s"} %s', @extschema@.prom_label(o.endpoint),
                               coalesce(round(extract(epoch FROM o.oldest_waiting)), 0)) FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 9, '# HELP concord_outbox_delivered_per_second Messages delivered to an endpoint per second over the last 5 minutes'
    UNION ALL SELECT 9, '# TYPE concord_outbox_delivered_per_second gauge'
    UNION ALL SELECT 9, format('concord_outbox_delivered_per_second{endpoint="%s"} %s', @extschema@.prom_label(o.endpoint), o.delivered_per_s_5m)
                          FROM @extschema@.monitor_outbox o
    UNION ALL SELECT 10, '# HELP concord_alerts_open Open alert events per alert'
    UNION ALL SELECT 10, '# TYPE concord_alerts_open gauge'
    UNION ALL SELECT 10, format('concord_alerts_open{alert="%s",severity="%s"} %s', @extschema@.prom_label(a.alert), @extschema@.prom_label(a.severity), a.open)
                           FROM @extschema@.monitor_alerts a
    UNION ALL SELECT 11, '# HELP concord_alerts_fired_today Alert events an alert opened today'
    UNION ALL SELECT 11, '# TYPE concord_alerts_fired_today gauge'
    UNION ALL SELECT 11, format('concord_alerts_fired_today{alert="%s"} %s', @extschema@.prom_label(a.alert), a.fired_today) FROM @extschema@.monitor_alerts a
    UNION ALL SELECT 12, '# HELP concord_worker_up Whether this database''s concord worker runs (1) or not (0)'
    UNION ALL SELECT 12, '# TYPE concord_worker_up gauge'
    UNION ALL SELECT 12, format('concord_worker_up %s', (SELECT count(*) FROM @extschema@.monitor_worker))
  ) x;
END;
COMMENT ON FUNCTION @extschema@.metrics_text() IS
  'Everything the monitor_* views show, in Prometheus'' text exposition format (a HELP and a TYPE line for every metric)';

GRANT SELECT ON @extschema@.monitor_http TO concord_http, concord_flow;
GRANT SELECT ON @extschema@.monitor_sync, @extschema@.monitor_outbox, @extschema@.monitor_alerts,
                @extschema@.monitor_worker TO concord_flow;
-- (monitor_sync reads the sync catalog as its reader: row security shows
-- each her own sources)
GRANT SELECT ON @extschema@.monitor_sync TO concord_sync;
GRANT SELECT ON @extschema@.source, @extschema@.sync_run, @extschema@.sync_reject TO concord_flow;
SELECT @extschema@.grant_routines('concord_flow', ARRAY['metrics_text()']);
