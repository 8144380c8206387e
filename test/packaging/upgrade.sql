-- packaging: ALTER EXTENSION concord UPDATE from the first release (0.1,
-- src/upgrade/concord--0.1.sql, never edited) keeps the data and the
-- definitions made with it, and leaves exactly the objects a fresh
-- CREATE EXTENSION makes.  Two databases of its own (dblink).
SET client_min_messages = warning;
SELECT plan(9);
\ir ../policy/setup.psql
DROP DATABASE IF EXISTS t_pkg_up WITH (FORCE);
DROP DATABASE IF EXISTS t_pkg_fresh WITH (FORCE);
CREATE DATABASE t_pkg_up;
CREATE DATABASE t_pkg_fresh;
SELECT dblink_connect('up', replace(:'conn', 'dbname=' || current_database(), 'dbname=t_pkg_up') || ' user=postgres') AS c1,
       dblink_connect('fresh', replace(:'conn', 'dbname=' || current_database(), 'dbname=t_pkg_fresh') || ' user=postgres') AS c2 \gset
CREATE FUNCTION pg_temp.remote(conn text, q text) RETURNS text LANGUAGE sql AS $$
  SELECT v FROM dblink(conn, q) AS t(v text)
$$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_up_owner') THEN CREATE ROLE tap_up_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_up_rep') THEN CREATE ROLE tap_up_rep; END IF;
END $$;

SELECT is(dblink_exec('up', $$CREATE EXTENSION concord VERSION '0.1'$$), 'CREATE EXTENSION', 'the first release, 0.1, installs');
SELECT dblink_exec('up', $s$
  SET client_min_messages = warning;
  DO $d$ BEGIN
  CREATE SCHEMA shop AUTHORIZATION tap_up_owner;
  CREATE TABLE shop.customer (id int PRIMARY KEY, name text, phone text, region text);
  CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int, amount numeric, status text, ordered_at timestamptz DEFAULT now());
  CREATE TABLE shop.task (id serial PRIMARY KEY, order_id int);
  INSERT INTO shop.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '張偉', '138-1234-5678', '华东'), (3, '李娜', '15012345670', '华西');
  INSERT INTO shop.orders VALUES (1, 1, 100, 'paid');
  ALTER TABLE shop.customer OWNER TO tap_up_owner;
  GRANT USAGE ON SCHEMA shop TO tap_up_rep;
  GRANT SELECT ON shop.customer TO tap_up_rep;
  PERFORM concord.department_add('sales');
  PERFORM concord.member_set('tap_up_rep', 'sales', '销售代表', '{"region": "华东"}');
  PERFORM concord.row_policy('cust', 'shop.customer', $p$region = concord.member('region')$p$);
  PERFORM concord.column_mask('shop.customer', 'phone', 'concord.mask_phone(phone)');
  PERFORM concord.audit_table('shop.orders');
  PERFORM concord.identity_source_add('sales', 'shop.customer', 'id', '{"name": "name", "phone": "phone"}');
  PERFORM concord.resolve();
  PERFORM concord.model_define('orders', 'shop.orders', 'ordered_at', '{"status": "status"}');
  PERFORM concord.metric_define('revenue', 'simple', model => 'orders', agg => 'sum', expr => 'amount');
  PERFORM concord.event_rule('order_new', 'shop.orders', '{insert}', NULL,
                             '[{"insert": "shop.task", "values": {"order_id": "$new.id"}}]');
  END $d$;
$s$) AS filled \gset
SELECT pg_temp.remote('up', $$SELECT string_agg(key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link$$) AS ids_before \gset

SELECT is(dblink_exec('up', 'ALTER EXTENSION concord UPDATE'), 'ALTER EXTENSION', 'ALTER EXTENSION concord UPDATE');
SELECT is(pg_temp.remote('up', $$SELECT extversion FROM pg_extension WHERE extname = 'concord'$$),
          pg_temp.remote('fresh', $$SELECT default_version FROM pg_available_extensions WHERE name = 'concord'$$),
          'to the current version');
SELECT is(pg_temp.remote('up', $$SELECT string_agg(key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link$$), :'ids_before',
          'the customer IDs are the same');
SELECT is(pg_temp.remote('up', $$SET ROLE tap_up_rep; SELECT string_agg(id || ' ' || phone, ',' ORDER BY id) FROM shop.customer_governed$$),
          '1 138****5678,2 138****5678', 'the rep''s policy and mask still apply');
SELECT dblink_exec('up', 'RESET ROLE') AS reset \gset
SELECT is(dblink_exec('up', $$INSERT INTO shop.orders VALUES (2, 1, 50, 'new')$$), 'INSERT 0 1', 'a write');
SELECT is(pg_temp.remote('up', $$SELECT (SELECT count(*) FROM shop.task)::text || '/' || (SELECT intact FROM concord.audit_verify())::text
                                  || '/' || (SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j)$$),
          '1/true/150', 'fires the event rule, is audited in an intact chain, and counts in the metric');

-- the same objects as a fresh install: each member object, each function's
-- definition, each table's columns
SELECT dblink_exec('fresh', 'CREATE EXTENSION concord') AS fresh_made \gset
CREATE FUNCTION pg_temp.shape(conn text) RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.remote(conn, $q$
    SELECT count(*) || ' ' || md5(string_agg(x, E'\n' ORDER BY x)) FROM (
      SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
             || CASE WHEN d.classid = 'pg_proc'::regclass THEN ' ' || md5(pg_get_functiondef(d.objid)) ELSE '' END AS x
        FROM pg_depend d
       WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'concord') AND d.deptype = 'e'
      UNION ALL
      SELECT format('%s.%s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    pg_get_expr(ad.adbin, ad.adrelid))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
       WHERE c.relnamespace = 'concord'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped) s
  $q$)
$$;
SELECT is(pg_temp.shape('up'), pg_temp.shape('fresh'),
          'the updated extension has exactly the objects, function bodies and columns of a fresh install');
SELECT is(pg_temp.remote('up', $$SELECT count(*)::text FROM pg_extension_update_paths('concord') WHERE source = '0.1' AND path IS NOT NULL$$),
          '1', 'there is an update path from 0.1');

SELECT * FROM finish();
SELECT dblink_disconnect('up') AS d1, dblink_disconnect('fresh') AS d2 \gset
DROP DATABASE t_pkg_up WITH (FORCE);
DROP DATABASE t_pkg_fresh WITH (FORCE);
DROP ROLE tap_up_owner, tap_up_rep;
