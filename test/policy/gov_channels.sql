-- policy (issue 18): PostgreSQL's own channels, which row security does not
-- close (docs/security.md lists each with its mitigation).  A rep
-- who sees one row of three logs in and reads the table's size from the
-- catalog and the statistics views, probes hidden keys through a unique
-- index and through a foreign key, and the mitigations the docs give are
-- checked: governance_check names the foreign key, revoking the statistics
-- views closes them.  Committed set-up, removed at the end.
SET client_min_messages = error;
SELECT plan(11);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_ch_owner,tap_gov_ch_rep}'
SELECT pg_temp.clean_up('gov_ch', 'tap_gov_ch_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_ch_sales') AS d \gset
SELECT concord.member_create('tap_gov_ch_rep', 'tap_gov_ch_sales', 'rep', '{"region": "east"}') AS m \gset
ALTER ROLE tap_gov_ch_owner NOLOGIN;
CREATE SCHEMA gov_ch AUTHORIZATION tap_gov_ch_owner;
GRANT USAGE ON SCHEMA gov_ch TO PUBLIC;
CREATE TABLE gov_ch.customer (id int PRIMARY KEY, region text, tax_no text UNIQUE);
INSERT INTO gov_ch.customer VALUES (1, 'east', 'T-001'), (2, 'west', 'T-002'), (3, 'west', 'T-003');
CREATE TABLE gov_ch.visit (customer_id int REFERENCES gov_ch.customer (id), note text);
ALTER TABLE gov_ch.customer OWNER TO tap_gov_ch_owner;
ALTER TABLE gov_ch.visit OWNER TO tap_gov_ch_owner;
GRANT SELECT, INSERT ON gov_ch.customer, gov_ch.visit TO tap_gov_ch_rep;
SELECT concord.row_policy_create('tap_gov_ch_rows', 'gov_ch.customer', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
VACUUM ANALYZE gov_ch.customer;

SELECT is(pg_temp.one('tap_gov_ch_rep', 'SELECT count(*)::text FROM gov_ch.customer'), '1', 'the rep sees one customer');
SELECT is(pg_temp.one('tap_gov_ch_rep', $$SELECT reltuples::int::text FROM pg_class WHERE oid = 'gov_ch.customer'::regclass$$), '3',
          'pg_class.reltuples tells her there are three (a catalog every role reads: no mitigation but separate tables)');
SELECT is(pg_temp.one('tap_gov_ch_rep', $$SELECT (n_live_tup + n_tup_ins > 1)::text FROM pg_stat_user_tables WHERE relid = 'gov_ch.customer'::regclass$$), 'true',
          'pg_stat_user_tables counts the rows she does not see too');
-- the mitigation: the statistics views and their functions are not PUBLIC's
REVOKE SELECT ON pg_catalog.pg_stat_user_tables, pg_catalog.pg_stat_all_tables FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_live_tuples(oid) FROM PUBLIC;
SELECT pg_temp.run('tap_gov_ch_rep', $$SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'gov_ch.customer'::regclass$$) AS stat_view,
       pg_temp.run('tap_gov_ch_rep', $$SELECT pg_stat_get_live_tuples('gov_ch.customer'::regclass)$$) AS stat_fn \gset
GRANT SELECT ON pg_catalog.pg_stat_user_tables, pg_catalog.pg_stat_all_tables TO PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_get_live_tuples(oid) TO PUBLIC;
SELECT is(:'stat_view'::text, '42501: permission denied for view pg_stat_user_tables',
          'with SELECT on the statistics views revoked from PUBLIC, the view is closed to her');
SELECT is(:'stat_fn'::text, '42501: permission denied for function pg_stat_get_live_tuples',
          'and so is the function behind it, revoked too');

-- a unique index over hidden rows
SELECT is(pg_temp.run('tap_gov_ch_rep', $$INSERT INTO gov_ch.customer VALUES (9, 'east', 'T-002')$$),
          '23505: duplicate key value violates unique constraint "customer_tax_no_key"',
          'a unique violation tells her a hidden row holds that tax number (it names no value: row security is on)');
SELECT is(pg_temp.run('tap_gov_ch_rep', $$INSERT INTO gov_ch.customer VALUES (9, 'east', 'T-009')$$), 'ok',
          'one that is free is not (mitigation: no unique constraint on what members may guess; surrogate keys)');
-- a foreign key to the governed table
SELECT is(pg_temp.run('tap_gov_ch_rep', $$INSERT INTO gov_ch.visit VALUES (2, 'probe')$$), 'ok',
          'a visit to hidden customer 2 is accepted: the foreign key says customer 2 exists');
SELECT is(pg_temp.run('tap_gov_ch_rep', $$INSERT INTO gov_ch.visit VALUES (7, 'probe')$$),
          '23503: insert or update on table "visit" violates foreign key constraint "visit_customer_id_fkey"',
          'a visit to customer 7 is not: there is none');
SELECT is((SELECT path FROM concord.governance_check() WHERE kind = 'foreign key' AND role = 'tap_gov_ch_rep'),
          'foreign key visit_customer_id_fkey of gov_ch.visit references gov_ch.customer: whoever may INSERT gov_ch.visit learns which keys its hidden rows hold',
          'governance_check names that path, and who can take it');
SELECT is((SELECT fix FROM concord.governance_check() WHERE kind = 'foreign key' AND role = 'tap_gov_ch_rep'),
          'Reference a key that tells nothing (a surrogate key), or leave writing gov_ch.visit to those who may see every row of gov_ch.customer',
          'with its mitigation');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gov_ch', 'tap_gov_ch_', :'roles', false) IS NULL AS clean \gset
