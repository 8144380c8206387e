-- security: a metric model answers each reader under her own row policies,
-- so a model may not read a relation that reads as its owner (a plain
-- view, a materialized view): restricted roles would get unrestricted
-- totals from metric_query and published views.  Real login roles.
SET client_min_messages = warning;
\ir hostile.psql
SELECT plan(8);

CREATE SCHEMA tap_sec_data;
GRANT USAGE, CREATE ON SCHEMA tap_sec_data TO PUBLIC;
-- a department, a rep of 华东, a table with a row policy (its owner: tap_sec_policy)
SELECT concord.department_create('tap_sec_east') AS d1 \gset
SELECT concord.member_create('tap_sec_plain', 'tap_sec_east', 'rep', '{"region": "华东"}') AS m1 \gset
SELECT is(pg_temp.as_login('tap_sec_policy', $q$
  CREATE TABLE tap_sec_data.orders (id pg_catalog.int4 PRIMARY KEY, region pg_catalog.text, amount pg_catalog.numeric,
                                    ordered_at pg_catalog.date);
  INSERT INTO tap_sec_data.orders VALUES (1, '华东', 100, '2026-01-01'), (2, '华北', 900, '2026-01-01');
  -- (views that read as their owner, made before the policy: concord's
  -- guard refuses them over a governed table, and so does model_define)
  CREATE VIEW tap_sec_data.orders_plain AS SELECT * FROM tap_sec_data.orders;
  CREATE MATERIALIZED VIEW tap_sec_data.orders_mat AS SELECT * FROM tap_sec_data.orders;
  CREATE VIEW tap_sec_data.orders_invoker WITH (security_invoker = true) AS SELECT * FROM tap_sec_data.orders;
  SELECT concord.row_policy_create('tap_sec_orders_region', 'tap_sec_data.orders', $p$region = concord.member('region')$p$);
  GRANT SELECT ON tap_sec_data.orders, tap_sec_data.orders_plain, tap_sec_data.orders_invoker, tap_sec_data.orders_mat
    TO tap_sec_metric, tap_sec_plain$q$), 'ok', 'a table with a row policy, and three views of it');
SELECT is(pg_temp.as_login('tap_sec_metric', $$SELECT concord.model_create('tap_sec_plain_orders', 'tap_sec_data.orders_plain', 'ordered_at')$$),
  '42809: model "tap_sec_plain_orders" cannot read view tap_sec_data.orders_plain: it runs as its owner',
  'a model over a plain view (which reads as its owner) is refused');
SELECT is(pg_temp.as_login('tap_sec_metric', $$SELECT concord.model_create('tap_sec_mat_orders', 'tap_sec_data.orders_mat', 'ordered_at')$$),
  '42809: model "tap_sec_mat_orders" cannot read materialized view tap_sec_data.orders_mat',
  'so is one over a materialized view');
SELECT is(pg_temp.as_login('tap_sec_plain', $$SELECT concord.model_create('tap_sec_x', 'tap_sec_data.orders')$$),
  '42501: permission denied for function model_create', 'model_define is concord_metric''s');
SELECT is(pg_temp.as_login('tap_sec_metric', $$
  SELECT concord.model_create('tap_sec_inv_orders', 'tap_sec_data.orders_invoker', 'ordered_at');
  SELECT concord.metric_create('tap_sec_inv_revenue', 'simple', model => 'tap_sec_inv_orders', agg => 'sum', expr => 'amount');
  SELECT concord.model_create('tap_sec_tab_orders', 'tap_sec_data.orders', 'ordered_at');
  SELECT concord.metric_create('tap_sec_tab_revenue', 'simple', model => 'tap_sec_tab_orders', agg => 'sum', expr => 'amount')$$),
  'ok', 'models over the table and over a security_invoker view are accepted');
-- the rep's total is her rows' total, whichever model answers
CREATE FUNCTION pg_temp.total(who text, metric text) RETURNS text LANGUAGE sql AS $$
  SELECT t.v FROM dblink(format('%s user=%s', current_setting('concord_test.conn'), who),
    format('SELECT j ->> %L FROM concord.metric_query(ARRAY[%L]) j', metric, metric)) AS t(v text)
$$;
SELECT is(pg_temp.total('tap_sec_plain', 'tap_sec_tab_revenue'), '100', 'the rep''s revenue over the table: 华东 only');
SELECT is(pg_temp.total('tap_sec_plain', 'tap_sec_inv_revenue'), '100', 'and over the security_invoker view: 华东 only');
SELECT is(pg_temp.hits(), 0::bigint, 'no look-alike ran with rights other than its session''s');

SELECT * FROM finish();
DELETE FROM concord.metric WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.metric_model WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.row_policy WHERE name LIKE 'tap_sec_%';
DELETE FROM concord.member WHERE role_name LIKE 'tap_sec_%';
DELETE FROM concord.department WHERE name LIKE 'tap_sec_%';
