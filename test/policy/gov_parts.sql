-- policy (issue 18): partitions and inheritance children are covered by
-- their table's row policies and masks -- those there when the policy is
-- defined, and those made or attached later -- as seen by reps logging in
-- after a schema-wide grant; and concord's policies on them cannot be
-- switched off, changed or dropped by hand.  Committed set-up, removed at
-- the end.
SET client_min_messages = error;
SELECT plan(29);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_pt_owner,tap_gov_pt_east,tap_gov_pt_west}'
SELECT pg_temp.clean_up('gov_pt', 'tap_gov_pt_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_pt_sales') AS d \gset
SELECT concord.member_create('tap_gov_pt_east', 'tap_gov_pt_sales', 'rep', '{"region": "east"}') AS m1,
       concord.member_create('tap_gov_pt_west', 'tap_gov_pt_sales', 'rep', '{"region": "west"}') AS m2 \gset
CREATE SCHEMA gov_pt AUTHORIZATION tap_gov_pt_owner;
GRANT USAGE ON SCHEMA gov_pt TO tap_gov_pt_east, tap_gov_pt_west;
SET ROLE tap_gov_pt_owner;
CREATE TABLE gov_pt.deal (id int, region text, phone text, owner_role text) PARTITION BY LIST (region);
CREATE TABLE gov_pt.deal_east PARTITION OF gov_pt.deal FOR VALUES IN ('east');
CREATE TABLE gov_pt.deal_west PARTITION OF gov_pt.deal FOR VALUES IN ('west') PARTITION BY RANGE (id);
CREATE TABLE gov_pt.deal_west_low PARTITION OF gov_pt.deal_west FOR VALUES FROM (0) TO (100);
INSERT INTO gov_pt.deal VALUES (1, 'east', '13812345678', 'tap_gov_pt_east'), (2, 'west', '13912345678', 'tap_gov_pt_west'),
                               (3, 'west', '15012345678', 'tap_gov_pt_west');
RESET ROLE;

------------------------------------------------------------------------------
-- partitions
------------------------------------------------------------------------------
SELECT concord.row_policy_create('tap_gov_pt_rows', 'gov_pt.deal', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
-- the schema-wide grant of the issue, made after the policy
GRANT SELECT ON ALL TABLES IN SCHEMA gov_pt TO tap_gov_pt_east, tap_gov_pt_west;
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal'), '1', 'the east rep reads her row of the table');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal_west'), '0',
          'a partition read directly shows her nothing of the west''s (it has the policy)');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal_west_low'), '0', 'nor does a partition of a partition');
SELECT is(pg_temp.one('tap_gov_pt_west', 'SELECT count(*)::text FROM gov_pt.deal_west_low'), '2', 'the west rep reads her rows there');
SELECT is((SELECT string_agg(c.relname || ':' || c.relrowsecurity || c.relforcerowsecurity || ':' ||
                             (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'concord_tap_gov_pt_rows'),
                             ',' ORDER BY c.relname)
             FROM pg_class c WHERE c.relnamespace = 'gov_pt'::regnamespace AND c.relkind IN ('r', 'p')),
          'deal:truetrue:1,deal_east:truetrue:1,deal_west:truetrue:1,deal_west_low:truetrue:1',
          'every part has row security on and forced, and the policy');

-- a partition made after the policy, by its owner
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner;
  CREATE TABLE gov_pt.deal_north PARTITION OF gov_pt.deal FOR VALUES IN ('north');
  RESET ROLE;
  INSERT INTO gov_pt.deal VALUES (4, 'north', '13000000000', 'x');
  GRANT SELECT ON gov_pt.deal_north TO tap_gov_pt_east$$), 'ok', 'a partition made later, and a grant on it');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal_north'), '0', 'it has the policy too');
-- a table attached later, read by the rep before
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner;
  CREATE TABLE gov_pt.deal_south (id int, region text, phone text, owner_role text);
  INSERT INTO gov_pt.deal_south VALUES (5, 'south', '13100000000', 'x');
  GRANT SELECT ON gov_pt.deal_south TO tap_gov_pt_east$$), 'ok', 'a table of its own');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal_south'), '1', 'which the rep reads in full');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner;
  ALTER TABLE gov_pt.deal ATTACH PARTITION gov_pt.deal_south FOR VALUES IN ('south')$$), 'ok', 'attached as a partition');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.deal_south'), '0', 'now it shows her none of it');

-- switching it off
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner; ALTER TABLE gov_pt.deal_east DISABLE ROW LEVEL SECURITY$$),
          '42501: refused: DISABLE ROW SECURITY on gov_pt.deal_east, which has concord''s row policies',
          'the owner cannot turn row security off on a partition');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner; ALTER TABLE gov_pt.deal NO FORCE ROW LEVEL SECURITY$$),
          '42501: refused: NO FORCE ROW SECURITY on gov_pt.deal, which has concord''s row policies',
          'nor stop forcing it on the table');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner; DROP POLICY concord_tap_gov_pt_rows ON gov_pt.deal_east$$),
          '42501: policy concord_tap_gov_pt_rows on gov_pt.deal_east is concord''s: it is dropped through concord',
          'dropping concord''s policy on a partition is refused');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner; ALTER POLICY concord_tap_gov_pt_rows ON gov_pt.deal USING (true)$$),
          '42501: policy concord_tap_gov_pt_rows on gov_pt.deal is concord''s: it is not changed by hand',
          'and so is changing it');

------------------------------------------------------------------------------
-- inheritance children
------------------------------------------------------------------------------
SET ROLE tap_gov_pt_owner;
CREATE TABLE gov_pt.cust (id int, region text, name text, owner_role text);
CREATE TABLE gov_pt.cust_2019 () INHERITS (gov_pt.cust);
INSERT INTO gov_pt.cust VALUES (1, 'east', '张伟', 'tap_gov_pt_east');
INSERT INTO gov_pt.cust_2019 VALUES (2, 'west', '李娜', 'tap_gov_pt_west'), (3, 'east', '王芳', 'x');
GRANT SELECT ON gov_pt.cust, gov_pt.cust_2019 TO tap_gov_pt_east;
RESET ROLE;
SELECT concord.row_policy_create('tap_gov_pt_cust', 'gov_pt.cust', $$region = concord.member('region')$$) IS NOT NULL AS p2 \gset
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT string_agg(id::text, '','' ORDER BY id) FROM gov_pt.cust_2019'), '3',
          'an inheritance child read directly shows the rep her rows only');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner;
  CREATE TABLE gov_pt.cust_2018 () INHERITS (gov_pt.cust_2019);
  RESET ROLE;
  INSERT INTO gov_pt.cust_2018 VALUES (4, 'west', '赵敏', 'x');
  SET ROLE tap_gov_pt_owner;
  CREATE TABLE gov_pt.cust_old (id int, region text, name text, owner_role text);
  INSERT INTO gov_pt.cust_old VALUES (5, 'west', '孙丽', 'x');
  ALTER TABLE gov_pt.cust_old INHERIT gov_pt.cust;
  GRANT SELECT ON gov_pt.cust_2018, gov_pt.cust_old TO tap_gov_pt_east$$), 'ok',
  'a grandchild made later (INHERITS), and a table made a child later (INHERIT)');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.cust_2018') || '/' ||
          pg_temp.one('tap_gov_pt_east', 'SELECT count(*)::text FROM gov_pt.cust_old'), '0/0',
          'both have the policy');
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT string_agg(id::text, '','' ORDER BY id) FROM gov_pt.cust'), '1,3',
          'through the parent she reads her rows of every child');
SELECT is(concord.row_policy_drop('tap_gov_pt_cust'), true, 'row_policy_drop');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polname = 'concord_tap_gov_pt_cust'), 0,
          'takes the policy from the table and every child');

------------------------------------------------------------------------------
-- masks: the parts keep no readers; later ones either
------------------------------------------------------------------------------
SELECT concord.column_mask_create('gov_pt.deal', 'phone', 'concord.mask_phone(phone)', $$owner_role = current_user$$) IS NOT NULL AS m \gset
SELECT is(pg_temp.one('tap_gov_pt_east', 'SELECT string_agg(id || '' '' || phone, '','' ORDER BY id) FROM gov_pt.deal_governed'),
          '1 13812345678', 'the rep reads her row of every partition through the governed view (her own phone in clear)');
SELECT is(pg_temp.run('tap_gov_pt_east', 'SELECT phone FROM gov_pt.deal_east'), '42501: permission denied for table deal_east',
          'a partition of a masked table is not hers to read any more (its grants were revoked)');
SELECT is((SELECT count(*)::int FROM pg_class c, LATERAL concord.relation_privileges(c.oid::regclass) p
            WHERE c.relnamespace = 'gov_pt'::regnamespace AND c.relname LIKE 'deal\_%' AND NOT c.relname LIKE '%governed'), 0,
          'no part of the masked table has a privilege of anyone but its owner');
ALTER DEFAULT PRIVILEGES FOR ROLE tap_gov_pt_owner IN SCHEMA gov_pt GRANT SELECT ON TABLES TO tap_gov_pt_east;
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pt_owner;
  CREATE TABLE gov_pt.deal_west_high PARTITION OF gov_pt.deal_west FOR VALUES FROM (100) TO (200)$$), 'ok',
  'a partition made later, under default privileges that grant the rep SELECT');
ALTER DEFAULT PRIVILEGES FOR ROLE tap_gov_pt_owner IN SCHEMA gov_pt REVOKE SELECT ON TABLES FROM tap_gov_pt_east;
SELECT is(pg_temp.run('tap_gov_pt_east', 'SELECT phone FROM gov_pt.deal_west_high'), '42501: permission denied for table deal_west_high',
          'loses that grant as it is made');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'gov_pt.deal_west_high'::regclass AND tgname = 'concord_unmask'), 1,
          'and has the unmasking guard (PostgreSQL clones row triggers to partitions)');
-- a masked inheritance parent: the children get concord's triggers
SELECT concord.column_mask_create('gov_pt.cust', 'name', 'concord.mask_name(name)', $$owner_role = current_user$$) IS NOT NULL AS m2 \gset
SELECT is((SELECT string_agg(tgrelid::regclass || ' ' || tgname, ', ' ORDER BY tgrelid::regclass::text)
             FROM pg_trigger WHERE tgname = 'concord_unmask' AND tgrelid::regclass::text LIKE 'gov_pt.cust%'),
          'gov_pt.cust concord_unmask, gov_pt.cust_2018 concord_unmask, gov_pt.cust_2019 concord_unmask, gov_pt.cust_old concord_unmask',
          'an inheritance child gets a copy of the masked table''s triggers (PostgreSQL does not copy them)');
SELECT is((SELECT count(*)::int FROM concord.governance_check() WHERE governed::text LIKE 'gov_pt.%'
            AND kind NOT IN ('superuser', 'bypassrls', 'read all data', 'table owner')), 0,
          'governance_check finds no way around the tables'' governance but the roles PostgreSQL does not bind');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gov_pt', 'tap_gov_pt_', :'roles', false) IS NULL AS clean \gset
