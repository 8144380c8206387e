/* concord — flow: monitoring.  Joined into concord--<version>.sql by the
 * Makefile after alerts.sql.
 *
 * flow's views -- the outbox per endpoint, alerts -- and its lines of
 * metrics_text() (core's, src/monitor.sql, which every component's
 * monitoring registers with).  monitor_outbox and monitor_alerts read as
 * their caller (security_invoker: each role its own endpoints, messages
 * and alerts; concord_admin and superusers everything).  concord_flow, the
 * operator's role, reads every component's monitoring view: the grants are
 * here, at the end of the components it may read. */

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

-- flow's lines of metrics_text() (registered with core, src/monitor.sql).
CREATE FUNCTION @extschema@.flow_metrics_lines()
RETURNS TABLE (ord int, line text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT 7 AS ord, '# HELP concord_outbox_messages Outbox messages per endpoint and state' AS line
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
  UNION ALL SELECT 11, format('concord_alerts_fired_today{alert="%s"} %s', @extschema@.prom_label(a.alert), a.fired_today) FROM @extschema@.monitor_alerts a;
END;
COMMENT ON FUNCTION @extschema@.flow_metrics_lines() IS
  'Internal to metrics_text: the outbox per endpoint and alerts, in Prometheus'' text exposition format';
REVOKE EXECUTE ON FUNCTION @extschema@.flow_metrics_lines() FROM PUBLIC;
SELECT @extschema@.component_register('flow', 'metrics', 'flow_metrics_lines', 70);

GRANT SELECT ON @extschema@.monitor_http TO concord_flow;
-- (monitor_http reads the call log as its reader: row security shows each
-- her own calls)
GRANT SELECT ON @extschema@.http_call_log TO concord_flow;
GRANT SELECT ON @extschema@.monitor_sync, @extschema@.monitor_outbox, @extschema@.monitor_alerts,
                @extschema@.monitor_worker TO concord_flow;
-- (monitor_sync reads the sync catalog as its reader: row security shows
-- each her own sources)
GRANT SELECT ON @extschema@.source, @extschema@.sync_run, @extschema@.sync_reject TO concord_flow;
-- (monitor_worker calls worker_activity() as its reader)
SELECT @extschema@.grant_routines('concord_flow', ARRAY['metrics_text()', 'worker_activity()']);
