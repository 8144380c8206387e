-- identity: resolve() and resolve_incremental() send their caller no
-- message of their own housekeeping (a DROP TABLE IF EXISTS of a scratch
-- table said "table ... does not exist, skipping" at every first call of a
-- transaction).  The member of concord_identity calls them from psql, in a
-- session of her own with client_min_messages = notice, and the test reads
-- all psql printed, messages too.
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port')) AS conn \gset
SET client_min_messages = warning;
-- (what an earlier run left)
SELECT count(concord.identity_source_drop(name)) AS left_over FROM concord.identity_source WHERE name = 'tap_ntc_crm' \gset
DROP SCHEMA IF EXISTS tap_ntc CASCADE;
DROP ROLE IF EXISTS tap_ntc_member;
CREATE ROLE tap_ntc_member LOGIN IN ROLE concord_identity;
CREATE SCHEMA tap_ntc AUTHORIZATION tap_ntc_member;
SET ROLE tap_ntc_member;
CREATE TABLE tap_ntc.crm (id int PRIMARY KEY, name text, phone text);
INSERT INTO tap_ntc.crm VALUES (1, '张伟', '13800138000'), (2, '张 伟', '+86 138 0013 8000'), (3, '李娜', '13900139000');
SELECT concord.identity_source_create('tap_ntc_crm', 'tap_ntc.crm', 'id', '{"name": "name", "phone": "phone"}') IS NOT NULL AS made \gset
RESET ROLE;

BEGIN;
SELECT plan(3);

\set out `psql -X -At -v ON_ERROR_STOP=1 -d ":conn user=tap_ntc_member" -c "SET client_min_messages = notice" -q -c "SELECT count(*) FROM concord.resolve()" 2>&1`
SELECT is(:'out'::text, '1', 'resolve() prints its result and no message (psql''s whole output, notices included)');

\set out `psql -X -At -v ON_ERROR_STOP=1 -d ":conn user=tap_ntc_member" -c "INSERT INTO tap_ntc.crm VALUES (4, '王芳', '13700137000')" -c "SET client_min_messages = notice" -q -c "SELECT count(*) FROM concord.resolve_incremental()" 2>&1`
SELECT is(:'out'::text, '1', 'resolve_incremental() prints its result and no message');

-- (and a real NOTICE still reaches the client the same way)
\set out `psql -X -At -d ":conn user=tap_ntc_member" -c "SET client_min_messages = notice" -q -c "DO 'BEGIN RAISE NOTICE ''heard''; END'" 2>&1`
SELECT is(:'out'::text, 'NOTICE:  heard', 'a NOTICE is seen by this way of reading');

SELECT * FROM finish();
ROLLBACK;

SET client_min_messages = warning;
SET ROLE tap_ntc_member;
SELECT concord.identity_source_drop('tap_ntc_crm') AS dropped \gset
RESET ROLE;
DROP SCHEMA tap_ntc CASCADE;
DROP OWNED BY tap_ntc_member;
DROP ROLE tap_ntc_member;
