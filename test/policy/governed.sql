-- policy: column masks and the governed view, seen by real roles logging
-- in.  A sales rep reads the customers of her region with phones masked
-- and names masked but her own customers'; a finance clerk reads every
-- customer in clear; neither can read the table itself, and probing a
-- masked column -- by equality, by a leaky function, through pg_stats --
-- reveals nothing.  Committed setup, removed at the end.
SET client_min_messages = warning;
SELECT plan(46);

\ir setup.psql
-- (this test calls as_role while SET ROLE to the table's owner, and dblink
-- lets only a superuser connect without a password)
ALTER FUNCTION pg_temp.as_role(text, text) SECURITY DEFINER;
\set roles '{tap_gv_rep,tap_gv_clerk,tap_gv_owner}'
SELECT pg_temp.clean_up('gv_test', 'tap_gv_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gv_sales') AS d1, concord.department_create('tap_gv_fin') AS d2 \gset
SELECT concord.member_create('tap_gv_rep', 'tap_gv_sales', '销售代表', '{"region": "华东"}') AS m1,
       concord.member_create('tap_gv_clerk', 'tap_gv_fin', '会计') AS m2 \gset

CREATE SCHEMA gv_test AUTHORIZATION tap_gv_owner;
CREATE TABLE gv_test.customer (id int PRIMARY KEY, name text, phone text, region text, owner_role text);
INSERT INTO gv_test.customer VALUES (1, '张伟', '13812345678', '华东', 'tap_gv_rep'),
                                    (2, '王芳', '13912345679', '华东', 'somebody'),
                                    (3, '李娜', '15012345670', '华西', 'somebody');
ALTER TABLE gv_test.customer OWNER TO tap_gv_owner;
GRANT USAGE ON SCHEMA gv_test TO tap_gv_rep, tap_gv_clerk;
GRANT SELECT ON gv_test.customer TO tap_gv_rep, tap_gv_clerk;
-- a place where a rep's own function can write what it sees
CREATE TABLE gv_test.leaked (v text);
GRANT INSERT, SELECT ON gv_test.leaked TO tap_gv_rep;
GRANT SELECT ON gv_test.leaked TO tap_gv_owner;
GRANT CREATE ON SCHEMA gv_test TO tap_gv_rep;
-- The table's governance is its owner's, a member of concord_policy
-- (docs/policy.md); the departments, members and the mask key a
-- superuser's.
GRANT concord_policy TO tap_gv_owner;
SET ROLE tap_gv_owner;

SELECT concord.row_policy_create('tap_gv_rows', 'gv_test.customer',
  $$region = concord.member('region') OR concord.member_in('tap_gv_fin')$$) IS NOT NULL AS p1 \gset
SELECT is(concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('tap_gv_fin')$$)::text,
          'gv_test.customer_governed', 'column_mask returns the governed view');
SELECT is(concord.column_mask_create('gv_test.customer', 'name', 'concord.mask_name(name)', 'owner_role = current_user')::text,
          'gv_test.customer_governed', 'a second mask, clear on the rep''s own rows');
SELECT is((SELECT reloptions::text FROM pg_class WHERE oid = 'gv_test.customer_governed'::regclass),
          '{security_barrier=true}', 'the view is a security barrier');
SELECT is((SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = 'gv_test.customer_governed'::regclass),
          'tap_gv_owner', 'owned by the table''s owner, whose row security is forced (a superuser''s view would bypass it)');


SELECT results_eq($$SELECT * FROM pg_temp.as_role('tap_gv_rep',
                      'SELECT format(''%s %s %s'', id, name, phone) FROM gv_test.customer_governed ORDER BY id')$$,
                  $$VALUES ('1 张伟 138****5678'), ('2 王* 139****5679')$$,
                  'the rep: her region''s customers, phones masked, names clear only for her own customer');
SELECT results_eq($$SELECT * FROM pg_temp.as_role('tap_gv_clerk',
                      'SELECT format(''%s %s %s'', id, name, phone) FROM gv_test.customer_governed ORDER BY id')$$,
                  $$VALUES ('1 张* 13812345678'), ('2 王* 13912345679'), ('3 李* 15012345670')$$,
                  'the clerk: every customer, phones in clear, names masked (she owns none)');
SELECT throws_like($$SELECT * FROM pg_temp.as_role('tap_gv_rep', 'SELECT phone FROM gv_test.customer')$$,
                   '%permission denied for table customer%', 'the rep can no longer read the table itself');
SELECT throws_like($$SELECT * FROM pg_temp.as_role('tap_gv_clerk', 'SELECT phone FROM gv_test.customer')$$,
                   '%permission denied for table customer%', 'nor can the clerk: the grant moved to the view');

-- probing the masked column
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM gv_test.customer_governed WHERE phone = '13912345679'$$)), '0',
          'an equality probe with the clear number finds nothing: filters see the masked value');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM gv_test.customer_governed WHERE phone LIKE '1391234%'$$)), '0',
          'nor does a LIKE probe');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM gv_test.customer_governed WHERE phone BETWEEN '13912345600' AND '13912345699'$$)), '0',
          'nor a range probe');
SELECT lives_ok($$SELECT * FROM pg_temp.as_role('tap_gv_rep',
  $q$CREATE FUNCTION gv_test.leak(v text) RETURNS boolean LANGUAGE sql VOLATILE AS
     'INSERT INTO gv_test.leaked VALUES (v) RETURNING true'$q$)$$, 'the rep writes a leaky function of her own');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM gv_test.customer_governed WHERE gv_test.leak(phone) AND gv_test.leak(name)$$)), '2',
          'and calls it in a WHERE over the view');
SELECT is((SELECT array_agg(v ORDER BY v) FROM gv_test.leaked), '{138****5678,139****5679,张伟,王*}'::text[],
          'it saw the masked values of the rows she may see, and nothing of the others');
ANALYZE gv_test.customer;
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM pg_stats WHERE schemaname = 'gv_test' AND tablename = 'customer'$$)), '0',
          'pg_stats shows the rep no statistics of the table (the most common phones, say)');

-- writing through the view
GRANT UPDATE, DELETE ON gv_test.customer TO tap_gv_rep;
SELECT concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('tap_gv_fin')$$) IS NOT NULL AS rebuilt \gset
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$WITH u AS (UPDATE gv_test.customer_governed SET region = region WHERE id IN (1, 2, 3) RETURNING 1)
               SELECT count(*)::text FROM u$$)), '2',
          'the rep updates through the view (the write grants moved with the read one), only rows she sees');
SELECT throws_like($$SELECT * FROM pg_temp.as_role('tap_gv_rep', $q$UPDATE gv_test.customer_governed SET phone = '1' RETURNING 'x'$q$)$$,
                   '%cannot update column "phone" of view "customer_governed"%', 'but not a masked column');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$WITH d AS (DELETE FROM gv_test.customer_governed WHERE phone = '13912345679' RETURNING 1)
               SELECT count(*)::text FROM d$$)), '0',
          'a DELETE conditioned on the clear value of a masked column finds nothing');
-- (counted as superuser: row security is forced on the owner too)
RESET ROLE;
SELECT is((SELECT count(*)::int FROM gv_test.customer), 3, 'every row is still there');
SET ROLE tap_gv_owner;

-- bad masks
SELECT throws_ok($$SELECT concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_phone(name)')$$,
  '22023', 'invalid mask of gv_test.customer.phone: a mask may read only the column it masks', 'a mask reading another column');
SELECT throws_ok($$SELECT concord.column_mask_create('gv_test.customer', 'phone', 'length(phone)')$$,
  '42804', 'invalid mask of gv_test.customer.phone: it gives integer, the column is text', 'a mask of another type');
SELECT throws_ok($$SELECT concord.column_mask_create('gv_test.customer', 'phone', $m$CASE WHEN concord.member('region') = '华东' THEN phone END$m$)$$,
  '22023', 'invalid mask of gv_test.customer.phone: a mask may not depend on the member (say who sees the clear value instead)',
  'a mask depending on the member');
SELECT throws_ok($$SELECT concord.column_mask_create('gv_test.customer', 'nosuch', 'nosuch')$$,
  '42703', 'column "nosuch" of table gv_test.customer does not exist', 'an unknown column');

-- explain_access: what a role would see, read as that role
SELECT results_eq(
  $$SELECT e ->> 'read_through', e -> 'rows', (SELECT array_agg(x ->> 'phone' ORDER BY x ->> 'id') FROM jsonb_array_elements(e -> 'sample') x),
           jsonb_array_length(e -> 'masks'), e #>> '{row_policies,0,name}', e #>> '{member,department}'
      FROM concord.explain_access('tap_gv_rep', 'gv_test.customer') e$$,
  $$VALUES ('gv_test.customer_governed'::text, '2'::jsonb, '{138****5678,139****5679}'::text[], 2, 'tap_gv_rows'::text, 'tap_gv_sales'::text)$$,
  'explain_access for the rep: her two rows, masked, through the governed view, with the policy, masks and her membership');
SELECT is((SELECT e -> 'rows' FROM concord.explain_access('tap_gv_clerk', 'gv_test.customer', 0) e), '3'::jsonb,
          'for the clerk: three rows');
SELECT is(current_user::text, 'tap_gv_owner', 'and the caller is herself again afterwards');
SELECT throws_ok($$SELECT concord.explain_access('tap_no_such_role', 'gv_test.customer')$$, '42704',
  'role "tap_no_such_role" does not exist', 'explain_access of an unknown role');

-- a mask dropped: the rebuilt view shows the column in clear, to the same readers
SELECT is(concord.column_mask_drop('gv_test.customer', 'name'), true, 'column_mask_drop');
SELECT results_eq($$SELECT * FROM pg_temp.as_role('tap_gv_rep',
                      'SELECT format(''%s %s %s'', id, name, phone) FROM gv_test.customer_governed ORDER BY id')$$,
                  $$VALUES ('1 张伟 138****5678'), ('2 王芳 139****5679')$$,
                  'the rep reads the rebuilt view: names in clear, phones still masked');

-- a stored mask: the masked value kept in a generated column, read by the
-- view in place of the mask call
SELECT is(concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_phone(phone)', $$concord.member_in('tap_gv_fin')$$,
                              store => true)::text, 'gv_test.customer_governed', 'column_mask with store => true');
SELECT is((SELECT attgenerated::text FROM pg_attribute WHERE attrelid = 'gv_test.customer'::regclass AND attname = 'concord_masked_phone'),
          's', 'the table has a stored generated column concord_masked_phone');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'gv_test.customer_governed'::regclass AND attnum > 0),
          '{id,name,phone,region,owner_role}', 'the view does not show it');
SELECT ok(pg_get_viewdef('gv_test.customer_governed'::regclass) ~ 'ELSE (customer\.)?concord_masked_phone'
          AND pg_get_viewdef('gv_test.customer_governed'::regclass) NOT LIKE '%mask_phone(%',
          'the view reads the stored value, no mask call per row');
RESET ROLE;
INSERT INTO gv_test.customer VALUES (4, '赵六', '+86 186-1234-5678', '华东', 'somebody');
SET ROLE tap_gv_owner;
SELECT results_eq($$SELECT * FROM pg_temp.as_role('tap_gv_rep',
                      'SELECT format(''%s %s'', id, phone) FROM gv_test.customer_governed ORDER BY id')$$,
                  $$VALUES ('1 138****5678'), ('2 139****5679'), ('4 186****5678')$$,
                  'the rep logging in reads the same masks, a row written since included');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_clerk', 'SELECT phone FROM gv_test.customer_governed WHERE id = 4')),
          '+86 186-1234-5678', 'the clerk reads it in clear');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep',
             $$SELECT count(*)::text FROM gv_test.customer_governed WHERE phone = '13912345679'$$)), '0',
          'an equality probe with the clear number still finds nothing');
SELECT throws_like($$SELECT concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_hash(phone)', store => true)$$,
                   'mask concord.mask_hash(phone) of gv_test.customer.phone needs the secret "mask_key", which cannot be read',
                   'a mask_hash mask needs its key when it is defined (mask_hash itself never raises: it is LEAKPROOF)');
SELECT is((SELECT mask || ' ' || stored_column FROM concord.column_mask WHERE table_name = 'gv_test.customer'::regclass AND column_name = 'phone'),
          'concord.mask_phone(phone) concord_masked_phone', 'and the stored mask before it is unchanged');
ALTER TABLE gv_test.customer ADD COLUMN concord_masked_region text;
SELECT throws_ok($$SELECT concord.column_mask_create('gv_test.customer', 'region', $m$concord.mask_partial(region, 1, '*', 0)$m$, store => true)$$,
                 '42701', 'table gv_test.customer already has a column "concord_masked_region", where the stored mask of "region" would go',
                 'a column of the stored mask''s name already there: refused');
ALTER TABLE gv_test.customer DROP COLUMN concord_masked_region;
SELECT is(concord.column_mask_drop('gv_test.customer', 'phone'), true, 'a stored mask dropped');
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'gv_test.customer'::regclass AND attname = 'concord_masked_phone' AND NOT attisdropped),
          0, 'its column went with it');

-- mask_hash as a mask (stable, for its key can be rotated: allowed in masks)
RESET ROLE;
SELECT concord.secret_set('mask_key', 'tap-gv-mask-key-0123456789abcdef') IS NULL AS k \gset
SET ROLE tap_gv_owner;
SELECT is(concord.column_mask_create('gv_test.customer', 'phone', 'concord.mask_hash(phone)')::text, 'gv_test.customer_governed',
          'column_mask with mask_hash');
SELECT results_eq($$SELECT * FROM pg_temp.as_role('tap_gv_rep',
                      'SELECT phone FROM gv_test.customer_governed WHERE id IN (1, 4) ORDER BY id')$$,
                  ARRAY[concord.mask_hash('13812345678'), concord.mask_hash('+86 186-1234-5678')],
                  'the rep reads keyed hashes, the same as for the same values anywhere (joinable)');
SELECT concord.column_mask_drop('gv_test.customer', 'phone') AS dropped \gset
RESET ROLE;
SELECT concord.secret_drop('mask_key') AS dropped \gset
SET ROLE tap_gv_owner;

-- NULL as a mask (nullify) takes the column's type; stored masks keep the
-- column's type (numeric, date)
CREATE TABLE gv_test.payer (id int PRIMARY KEY, amount numeric(12,2), born date, region text);
INSERT INTO gv_test.payer VALUES (1, 12345.67, '1990-07-15', '华东');
ALTER TABLE gv_test.payer OWNER TO tap_gv_owner;
GRANT SELECT ON gv_test.payer TO tap_gv_rep;
SELECT concord.row_policy_create('tap_gv_payer', 'gv_test.payer', $$region = concord.member('region')$$) IS NOT NULL AS p2 \gset
SELECT is(concord.column_mask_create('gv_test.payer', 'region', 'NULL')::text, 'gv_test.payer_governed', 'NULL as a mask (nullify)');
SELECT concord.column_mask_create('gv_test.payer', 'amount', 'concord.mask_bucket(amount, 1000)', store => true) IS NOT NULL AS s1,
       concord.column_mask_create('gv_test.payer', 'born', $$concord.mask_date(born, 'year')$$, store => true) IS NOT NULL AS s2 \gset
SELECT is((SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'gv_test.payer'::regclass AND attname LIKE 'concord_masked_%'),
          'numeric(12,2),date', 'stored masks of a numeric and a date column keep their types');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gv_rep', 'SELECT format(''%s|%s|%s'', amount, born, region) FROM gv_test.payer_governed')),
          '12000.00|1990-01-01|', 'the rep logging in: the amount to its thousand, the year, no region');

SELECT * FROM finish();
RESET ROLE;
SELECT pg_temp.clean_up('gv_test', 'tap_gv_', :'roles', false) IS NULL AS clean \gset
