-- policy: attacks by a member logging in, on a table with a row policy
-- and a masked column served through its governed view: what error
-- messages of unique and foreign-key violations say about hidden rows,
-- COPY of the view and of the table, EXPLAIN ANALYZE, and the table's
-- owner without BYPASSRLS.  (set_config and application_name spoofing, a leaky function
-- in WHERE, probes of masked values and pg_stats are in rows.sql and
-- governed.sql.)  Committed setup, removed at the end.
SET client_min_messages = warning;
SELECT plan(18);
\ir setup.psql
\set roles '{tap_at_rep,tap_at_owner}'
SELECT pg_temp.clean_up('at_test', 'tap_at_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_at_sales') AS d \gset
SELECT concord.member_create('tap_at_rep', 'tap_at_sales', '销售代表', '{"region": "华东"}') AS m \gset
CREATE SCHEMA at_test AUTHORIZATION tap_at_owner;
CREATE TABLE at_test.customer (id int PRIMARY KEY, name text, phone text UNIQUE, region text);
INSERT INTO at_test.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '李娜', '15012345670', '华西');
CREATE TABLE at_test.contract (no text PRIMARY KEY, customer_id int REFERENCES at_test.customer (id));
ALTER TABLE at_test.customer OWNER TO tap_at_owner;
ALTER TABLE at_test.contract OWNER TO tap_at_owner;
GRANT USAGE ON SCHEMA at_test TO tap_at_rep;
GRANT SELECT, INSERT ON at_test.customer TO tap_at_rep;
GRANT SELECT, INSERT ON at_test.contract TO tap_at_rep;
SELECT concord.row_policy_create('tap_at_rows', 'at_test.customer', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
SELECT concord.column_mask_create('at_test.customer', 'phone', 'concord.mask_phone(phone)') IS NOT NULL AS m2 \gset

-- the error of a statement run as the rep: message and detail
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE msg text; det text;
BEGIN
  PERFORM * FROM pg_temp.as_role('tap_at_rep', q);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN msg || ' | ' || coalesce(det, '');
END $$;

SELECT is((SELECT * FROM pg_temp.as_role('tap_at_rep', 'SELECT string_agg(id || '' '' || phone, '','') FROM at_test.customer_governed')),
          '1 138****5678', 'the rep sees her row, phone masked');

-- a unique violation on a hidden row names no value of it
SELECT unalike(pg_temp.error_of($$INSERT INTO at_test.customer_governed (id, name, region) VALUES (2, 'x', '华东') RETURNING 'x'$$),
               '%李娜%', 'a duplicate id of a hidden row: the error shows none of that row''s values');
SELECT unalike(pg_temp.error_of($$INSERT INTO at_test.customer_governed (id, name, region) VALUES (2, 'x', '华东') RETURNING 'x'$$),
               '%Key (id)=(2)%', 'nor even the key (row security is on: PostgreSQL leaves the key out)');
SELECT alike(pg_temp.error_of($$INSERT INTO at_test.customer_governed (id, name, region) VALUES (2, 'x', '华东') RETURNING 'x'$$),
            'duplicate key value violates unique constraint%',
            'what it does say is that the key is taken (a hidden row''s existence can be probed by its key)');

-- a foreign key: the error for a missing parent shows only the key the rep gave
SELECT is(pg_temp.error_of($$INSERT INTO at_test.contract VALUES ('HT-9', 99) RETURNING 'x'$$),
          'insert or update on table "contract" violates foreign key constraint "contract_customer_id_fkey" | Key (customer_id)=(99) is not present in table "customer".',
          'a contract naming no customer: the error repeats the rep''s own key, nothing else');

-- COPY (SELECT ...) TO STDOUT: the COPY protocol does not pass through
-- dblink, so the rep logs in with psql and the test reads what psql printed
CREATE INDEX ON at_test.customer (name);
\set copied `psql -X -At -d ":conn user=tap_at_rep" -c "COPY (SELECT id, name, phone FROM at_test.customer_governed ORDER BY id) TO STDOUT (FORMAT csv)" 2>&1`
SELECT is(:'copied'::text, '1,张伟,138****5678', 'COPY (SELECT ...) TO STDOUT by the rep logging in: her row, the phone masked');
\set copied `psql -X -At -d ":conn user=tap_at_rep" -c "COPY (SELECT id, phone FROM at_test.customer_governed WHERE phone = '15012345670') TO STDOUT" 2>&1`
SELECT is(:'copied'::text, '', 'a COPY probing a hidden row''s clear phone copies nothing');
SELECT alike(pg_temp.error_of($$COPY at_test.customer TO STDOUT$$), 'permission denied for table customer%',
            'COPY of the table itself is refused: her grant moved to the view');
SELECT alike(pg_temp.error_of($$SELECT * FROM at_test.customer$$), 'permission denied for table customer%',
            'as is reading it');

-- EXPLAIN ANALYZE: an index scan's "Rows Removed by Filter: 1" would say
-- that a hidden row is named 李娜 (and "never executed" that none is)
SELECT alike(pg_temp.error_of($$EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM at_test.customer_governed WHERE name = '李娜'$$),
             'EXPLAIN ANALYZE is not allowed over at_test.customer, where row security hides rows from you%',
             'EXPLAIN ANALYZE over the governed view is refused, naming the table row security filters');
SELECT alike(pg_temp.error_of($$PREPARE probe AS SELECT id FROM at_test.customer_governed WHERE name = '李娜';
                                EXPLAIN (ANALYZE, COSTS OFF) EXECUTE probe$$),
             'EXPLAIN ANALYZE is not allowed over at_test.customer%', 'as is EXPLAIN ANALYZE of a prepared statement');
SELECT alike(pg_temp.error_of($$DO $do$ DECLARE l text; BEGIN
                                  FOR l IN EXECUTE 'EXPLAIN ANALYZE SELECT id FROM at_test.customer_governed' LOOP END LOOP;
                                END $do$; SELECT 'x'$$),
             'EXPLAIN ANALYZE is not allowed over at_test.customer%', 'and inside a function');
SELECT ok((SELECT string_agg(l, ' ') FROM pg_temp.as_role('tap_at_rep',
             $$EXPLAIN (COSTS OFF) SELECT id FROM at_test.customer_governed WHERE name = '李娜'$$) AS l) LIKE '%Scan%',
          'plain EXPLAIN, which runs nothing, is allowed');
SELECT ok((SELECT string_agg(l, ' ') FROM pg_temp.as_role('tap_at_rep',
             $$EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT * FROM at_test.contract$$) AS l) LIKE '%actual rows=0%',
          'EXPLAIN ANALYZE of a table without row security is allowed');
SELECT lives_ok($q$DO $do$ DECLARE l text; BEGIN
                   FOR l IN EXECUTE 'EXPLAIN ANALYZE SELECT id FROM at_test.customer' LOOP END LOOP;
                 END $do$$q$, 'a superuser, from whom no row of the table is hidden, may EXPLAIN ANALYZE it');
SELECT alike(pg_temp.error_of($$SET concord.explain_analyze_guard = off; SELECT 'x'$$),
             'permission denied to set parameter "concord.explain_analyze_guard"%', 'the rep cannot turn the guard off');

-- the table's owner, without BYPASSRLS: row security is forced on her too
SELECT is((SELECT * FROM pg_temp.as_role('tap_at_owner', 'SELECT count(*)::text FROM at_test.customer')), '0',
          'the owner, no member, sees no row of her own table');

-- a table a superuser owns: a view owned by her would bypass row security
CREATE TABLE at_test.superuser_owned (id int PRIMARY KEY, phone text);
SELECT throws_ok($$SELECT concord.column_mask_create('at_test.superuser_owned', 'phone', 'concord.mask_phone(phone)')$$, '42501',
  'table at_test.superuser_owned is owned by "postgres", whom row security does not bind: its governed view would show every row',
  'no governed view over a table row security does not bind its owner to');

SELECT * FROM finish();
SELECT pg_temp.clean_up('at_test', 'tap_at_', :'roles', false) IS NULL AS clean \gset
