-- docs/operations.md: every ```sql example runs, in order, and does what
-- the page says: the install (after the test has taken concord and pg_cron
-- out of the database, so that there is something to install), the
-- update to the default version, and the uninstall, which gives a
-- governed, audited table with a stored mask back as it was.  All in a
-- transaction rolled back: the database keeps its concord, its pg_cron
-- and its roles.
BEGIN;
SET LOCAL client_min_messages = warning;
-- (the background worker may hold concord's tables for a round)
SET LOCAL lock_timeout = '30s';

\set page operations
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 9);

-- the roles the install grants to; a database without concord yet
CREATE ROLE analyst;
CREATE ROLE data_team;
CREATE ROLE governance_team;
-- (pg_cron is not installed for every major: see pg_cron_available in
-- test/harness/lib.sh; without it, the install runs without its
-- CREATE EXTENSION pg_cron line)
SELECT NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') AS no_cron \gset
DROP EXTENSION IF EXISTS pg_cron;
DROP EXTENSION concord CASCADE;
DROP SCHEMA concord;

SELECT CASE WHEN :'no_cron'::boolean
            THEN lives_ok(regexp_replace(code, E'\nCREATE EXTENSION pg_cron;[^\n]*', ''),
                          format('docs/operations.md example %s (install) runs, without pg_cron (not installed for PostgreSQL %s)',
                                 n, current_setting('server_version')))
            ELSE lives_ok(code, format('docs/operations.md example %s (install) runs', n)) END
  FROM blocks WHERE n = 1;
SELECT is((SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('concord', 'pg_cron')),
          CASE WHEN :'no_cron'::boolean THEN 'concord' ELSE 'concord,pg_cron' END,
          'concord is installed, and pg_cron where it is available');
SELECT results_eq($$SELECT host_pattern, port FROM concord.http_allow$$, $$VALUES ('crm.example.com', NULL::int)$$,
                  'the CRM is an allowed destination, on the scheme''s default port');
SELECT results_eq($$SELECT r, g FROM (VALUES ('analyst', 'concord_http'), ('data_team', 'concord_sync'), ('data_team', 'concord_identity'),
                                             ('governance_team', 'concord_policy')) x(r, g) WHERE pg_has_role(r, g, 'MEMBER')$$,
                  $$VALUES ('analyst', 'concord_http'), ('data_team', 'concord_sync'), ('data_team', 'concord_identity'),
                           ('governance_team', 'concord_policy')$$,
                  'each team holds the role the page gives it');

SELECT lives_ok(code, format('docs/operations.md example %s (update) runs', n)) FROM blocks WHERE n = 2;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'concord'),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'concord'), 'concord is at its default version');

-- a table concord governs: a row policy, a stored mask (so a governed view
-- and a generated column), an audit trigger, and a reader
CREATE SCHEMA ops_test;
CREATE ROLE ops_owner;
CREATE ROLE ops_reader;
CREATE TABLE ops_test.customer (id int PRIMARY KEY, phone text, region text);
INSERT INTO ops_test.customer VALUES (1, '13812345678', '华东'), (2, '13912345679', '华北');
ALTER TABLE ops_test.customer OWNER TO ops_owner;
GRANT USAGE ON SCHEMA ops_test TO ops_reader;
GRANT SELECT ON ops_test.customer TO ops_reader;
SELECT concord.row_policy_create('ops_region', 'ops_test.customer', $$region = '华东'$$) IS NOT NULL AS p,
       concord.column_mask_create('ops_test.customer', 'phone', 'concord.mask_phone(phone)', store => true) IS NOT NULL AS m,
       concord.audit_table_create('ops_test.customer') IS NOT NULL AS a \gset

SELECT lives_ok(code, format('docs/operations.md example %s (uninstall) runs', n)) FROM blocks WHERE n = 3;
SELECT ok(NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'concord') AND to_regnamespace('concord') IS NULL,
          'concord and its schema are gone');
SELECT is(to_regclass('ops_test.customer_governed'), NULL, 'the governed view is dropped');
SELECT ok(has_table_privilege('ops_reader', 'ops_test.customer', 'SELECT'), 'its reader''s grant is back on the table');
SELECT results_eq($$SELECT relrowsecurity, relforcerowsecurity,
                           (SELECT string_agg(attname::text COLLATE "default", ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped),
                           (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
                      FROM pg_class c WHERE oid = 'ops_test.customer'::regclass$$,
                  $$VALUES (false, false, 'id,phone,region', 0)$$,
                  'the table: row security off, its own columns only, no trigger');
INSERT INTO ops_test.customer VALUES (3, '15012345670', '华南');
SET LOCAL ROLE ops_reader;
SELECT is((SELECT string_agg(phone, ',' ORDER BY id) FROM ops_test.customer), '13812345678,13912345679,15012345670',
          'its rows are all there, clear, and it takes writes');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
