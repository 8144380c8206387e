-- packaging: DROP EXTENSION concord removes what concord made and leaves
-- the user's tables intact and usable -- rows, readers' grants, no row
-- security left forced on with no policy, no trigger calling what is gone,
-- no view published for BI tools.  Run in a database of its own (dblink),
-- made and dropped here.
SET client_min_messages = warning;
SELECT plan(14);
\ir ../policy/setup.psql
DROP DATABASE IF EXISTS t_pkg_drop WITH (FORCE);
CREATE DATABASE t_pkg_drop;
SELECT dblink_connect('pkg', replace(:'conn', 'dbname=' || current_database(), 'dbname=t_pkg_drop') || ' user=postgres') AS c \gset
CREATE FUNCTION pg_temp.remote(q text) RETURNS text LANGUAGE sql AS $$
  SELECT v FROM dblink('pkg', q) AS t(v text)
$$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_owner') THEN CREATE ROLE tap_pkg_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_rep') THEN CREATE ROLE tap_pkg_rep; END IF;
END $$;
SELECT dblink_exec('pkg', $s$
  SET client_min_messages = warning;
  CREATE EXTENSION concord;
  DO $d$ BEGIN
  CREATE SCHEMA shop AUTHORIZATION tap_pkg_owner;
  CREATE TABLE shop.customer (id int PRIMARY KEY, name text, phone text, region text);
  CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int, amount numeric, status text, ordered_at timestamptz DEFAULT now());
  CREATE TABLE shop.task (id serial PRIMARY KEY, order_id int);
  INSERT INTO shop.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '李娜', '15012345670', '华西');
  INSERT INTO shop.orders VALUES (1, 1, 100, 'paid');
  ALTER TABLE shop.customer OWNER TO tap_pkg_owner;
  GRANT USAGE ON SCHEMA shop TO tap_pkg_rep;
  GRANT SELECT ON shop.customer TO tap_pkg_rep;
  PERFORM concord.department_add('sales');
  PERFORM concord.member_set('tap_pkg_rep', 'sales', '销售代表', '{"region": "华东"}');
  PERFORM concord.row_policy('cust', 'shop.customer', $p$region = concord.member('region')$p$);
  PERFORM concord.column_mask('shop.customer', 'phone', 'concord.mask_phone(phone)', store => true);
  PERFORM concord.audit_table('shop.orders');
  PERFORM concord.identity_source_add('sales', 'shop.customer', 'id', '{"name": "name", "phone": "phone"}');
  PERFORM concord.model_define('orders', 'shop.orders', 'ordered_at', '{"status": "status"}');
  PERFORM concord.metric_define('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount');
  PERFORM concord.metric_publish('revenue_daily', '{revenue}', grain => 'day');
  PERFORM concord.metric_rollup('rev_daily', '{revenue}', '{}', 'day');
  PERFORM concord.event_rule('order_new', 'shop.orders', '{insert}', NULL,
                            '[{"insert": "shop.task", "values": {"order_id": "$new.id"}}]');
  END $d$;
$s$) AS setup \gset

SELECT is(pg_temp.remote($$SELECT has_table_privilege('tap_pkg_rep', 'shop.customer', 'SELECT')::text$$), 'false',
          'in use: the rep''s grant has moved to the governed view');
SELECT throws_like($$SELECT dblink_exec('pkg', 'DROP EXTENSION concord')$$, '%cannot drop extension concord because other objects depend on it%',
                   'DROP EXTENSION without CASCADE: refused, the objects that depend on it named');
SELECT is(pg_temp.remote($$SELECT (to_regclass('metrics.revenue_daily') IS NOT NULL AND to_regclass('shop.customer_governed') IS NOT NULL)::text$$), 'true',
          'and nothing changed: the published and governed views are still there');
SELECT is(dblink_exec('pkg', 'DROP EXTENSION concord CASCADE'), 'DROP EXTENSION', 'DROP EXTENSION concord CASCADE');

SELECT is(pg_temp.remote($$SELECT count(*)::text FROM shop.customer$$), '2', 'the customers are all there');
SELECT is(pg_temp.remote($$SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                             WHERE attrelid = 'shop.customer'::regclass AND attnum > 0 AND NOT attisdropped$$),
          'id,name,phone,region', 'with their own columns (the stored mask''s column went with concord)');
SELECT is(pg_temp.remote($$SELECT has_table_privilege('tap_pkg_rep', 'shop.customer', 'SELECT')::text$$), 'true',
          'the rep''s grant is back on the table');
SELECT is(pg_temp.remote($$SELECT (relrowsecurity OR relforcerowsecurity)::text FROM pg_class WHERE oid = 'shop.customer'::regclass$$), 'false',
          'row security, which concord turned on, is off again (no policy is left)');
SELECT is(pg_temp.remote($$SELECT count(*)::text FROM pg_trigger WHERE tgrelid IN ('shop.customer'::regclass, 'shop.orders'::regclass)
                             AND NOT tgisinternal$$), '0', 'no trigger of concord''s is left on the tables');
SELECT is(dblink_exec('pkg', $$INSERT INTO shop.orders VALUES (2, 1, 50, 'new')$$), 'INSERT 0 1', 'and they take writes');
SELECT is(pg_temp.remote($$SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
                             WHERE nspname IN ('metrics', 'concord_rules', 'concord_rollup')$$), NULL,
          'the schemas of published views, rule functions and rollups are gone');
SELECT is(pg_temp.remote($$SELECT count(*)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'concord'$$), '0',
          'nothing is left in schema concord (PostgreSQL keeps the schema CREATE EXTENSION made: DROP SCHEMA concord)');
SELECT is(pg_temp.remote($$SELECT count(*)::text FROM pg_proc WHERE proname LIKE 'concord%' OR prosrc LIKE '%concord.%'$$), '0',
          'no function of concord''s, nor one calling it');
SELECT is(pg_temp.remote($$SELECT count(*)::text FROM pg_extension WHERE extname = 'concord'$$), '0', 'the extension is gone');

SELECT * FROM finish();
SELECT dblink_disconnect('pkg') AS d \gset
DROP DATABASE t_pkg_drop WITH (FORCE);
DROP ROLE tap_pkg_owner, tap_pkg_rep;
