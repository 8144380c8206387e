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
SELECT dblink_exec('pkg', 'CREATE EXTENSION concord') AS ext \gset
SELECT dblink_exec('pkg', pg_read_file(current_setting('concord_test.repo') || '/test/packaging/shop.psql')) AS setup \gset
-- (and a stored mask, whose generated column must go with concord)
SELECT dblink_exec('pkg', $q$DO $d$ BEGIN PERFORM concord.column_mask_create('shop.customer', 'phone', 'concord.mask_phone(phone)', store => true); END $d$$q$) AS stored \gset

SELECT is(pg_temp.remote($$SELECT has_table_privilege('tap_pkg_rep', 'shop.customer', 'SELECT')::text$$), 'false',
          'in use: the rep''s grant has moved to the governed view');
SELECT throws_like($$SELECT dblink_exec('pkg', 'DROP EXTENSION concord')$$, '%cannot drop extension concord because other objects depend on it%',
                   'DROP EXTENSION without CASCADE: refused, the objects that depend on it named');
SELECT is(pg_temp.remote($$SELECT (to_regclass('metrics.revenue_daily') IS NOT NULL AND to_regclass('shop.customer_governed') IS NOT NULL)::text$$), 'true',
          'and nothing changed: the published and governed views are still there');
SELECT is(dblink_exec('pkg', 'DROP EXTENSION concord CASCADE'), 'DROP EXTENSION', 'DROP EXTENSION concord CASCADE');

SELECT is(pg_temp.remote($$SELECT count(*)::text FROM shop.customer$$), '3', 'the customers are all there');
SELECT is(pg_temp.remote($$SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                             WHERE attrelid = 'shop.customer'::regclass AND attnum > 0 AND NOT attisdropped$$),
          'id,name,phone,region', 'with their own columns (the stored mask''s column went with concord)');
SELECT is(pg_temp.remote($$SELECT has_table_privilege('tap_pkg_rep', 'shop.customer', 'SELECT')::text$$), 'true',
          'the rep''s grant is back on the table');
SELECT is(pg_temp.remote($$SELECT (relrowsecurity OR relforcerowsecurity)::text FROM pg_class WHERE oid = 'shop.customer'::regclass$$), 'false',
          'row security, which concord turned on, is off again (no policy is left)');
SELECT is(pg_temp.remote($$SELECT count(*)::text FROM pg_trigger WHERE tgrelid IN ('shop.customer'::regclass, 'shop.orders'::regclass)
                             AND NOT tgisinternal$$), '0', 'no trigger of concord''s is left on the tables');
SELECT is(dblink_exec('pkg', $$INSERT INTO shop.orders VALUES (3, 1, 50, 'new')$$), 'INSERT 0 1', 'and they take writes');
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
-- (the other packaging tests use the same roles)
DO $$ BEGIN
  DROP ROLE IF EXISTS tap_pkg_owner, tap_pkg_rep;
EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
END $$;
