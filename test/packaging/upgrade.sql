-- packaging: ALTER EXTENSION concord UPDATE from the first release (0.1,
-- src/upgrade/concord--0.1.sql, never edited) keeps the data and the
-- definitions made with it, and leaves exactly the objects a fresh
-- CREATE EXTENSION makes.  Two databases of its own (dblink).
SET client_min_messages = warning;
SELECT plan(10);
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
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_owner') THEN CREATE ROLE tap_pkg_owner; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tap_pkg_rep') THEN CREATE ROLE tap_pkg_rep; END IF;
END $$;

SELECT is(dblink_exec('up', $$CREATE EXTENSION concord VERSION '0.1'$$), 'CREATE EXTENSION', 'the first release, 0.1, installs');
SELECT dblink_exec('up', pg_read_file(current_setting('concord_test.repo') || '/test/packaging/shop.psql')) AS filled \gset
SELECT pg_temp.remote('up', $$SELECT string_agg(key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link$$) AS ids_before \gset

SELECT is(dblink_exec('up', 'ALTER EXTENSION concord UPDATE'), 'ALTER EXTENSION', 'ALTER EXTENSION concord UPDATE');
SELECT is(pg_temp.remote('up', $$SELECT extversion FROM pg_extension WHERE extname = 'concord'$$),
          pg_temp.remote('fresh', $$SELECT default_version FROM pg_available_extensions WHERE name = 'concord'$$),
          'to the current version');
SELECT is(pg_temp.remote('up', $$SELECT string_agg(key || '=' || customer_id, ',' ORDER BY key) FROM concord.customer_link$$), :'ids_before',
          'the customer IDs are the same');
SELECT is(pg_temp.remote('up', $$SET ROLE tap_pkg_rep; SELECT string_agg(id || ' ' || phone, ',' ORDER BY id) FROM shop.customer_governed$$),
          '1 138****5678,2 138****5678', 'the rep''s policy and mask still apply');
SELECT dblink_exec('up', 'RESET ROLE') AS reset \gset
SELECT is(pg_temp.remote('up', $$SELECT col_description('shop.customer_governed'::regclass, 3) || ' / ' ||
                                        col_description('concord_rollup.rev_daily'::regclass, 1)$$),
          '(column phone of shop.customer; masked unless the reader may see its clear value, concord.column_mask) / '
          'The first day of the day, in time zone Etc/UTC',
          'the governed view and the rollup made by 0.1 get the column comments 0.2 gives');
SELECT is(dblink_exec('up', $$INSERT INTO shop.orders VALUES (3, 1, 50, 'new')$$), 'INSERT 0 1', 'a write');
SELECT is(pg_temp.remote('up', $$SELECT (SELECT count(*) FROM shop.task)::text || '/' || (SELECT intact FROM concord.audit_verify())::text
                                  || '/' || (SELECT j ->> 'revenue' FROM concord.metric_query('{revenue}') j)$$),
          '1/true/220', 'fires the event rule, is audited in an intact chain, and counts in the metric');

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
-- (the other packaging tests use the same roles)
DO $$ BEGIN
  DROP ROLE IF EXISTS tap_pkg_owner, tap_pkg_rep;
EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
END $$;
