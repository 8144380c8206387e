-- policy (issue 18): unmasking by UPDATE.  A mask whose visible_to reads
-- columns of the row (docs/policy.md's owner_role = current_user) would
-- let a member who may update those columns make the clear value hers and
-- read it (UPDATE ... SET owner_role = 'li_na' ... RETURNING name).  The
-- trigger concord_unmask refuses a change of those columns by a writer who
-- does not see that mask's clear value in the row; who sees it may hand
-- the row on.  Reps and a clerk log in.  Committed set-up, removed at the
-- end.
SET client_min_messages = error;
SELECT plan(20);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_um_owner,tap_gov_um_li,tap_gov_um_wang,tap_gov_um_zhao}'
SELECT pg_temp.clean_up('gov_um', 'tap_gov_um_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_um_sales') AS d1, concord.department_create('tap_gov_um_fin') AS d2 \gset
SELECT concord.member_create('tap_gov_um_li', 'tap_gov_um_sales', 'rep', '{"region": "east"}') AS m1,
       concord.member_create('tap_gov_um_wang', 'tap_gov_um_sales', 'rep', '{"region": "east"}') AS m2,
       concord.member_create('tap_gov_um_zhao', 'tap_gov_um_fin', 'clerk', '{"region": "east"}') AS m3 \gset
ALTER ROLE tap_gov_um_owner NOLOGIN;
CREATE SCHEMA gov_um AUTHORIZATION tap_gov_um_owner;
GRANT USAGE ON SCHEMA gov_um TO PUBLIC;
CREATE TABLE gov_um.customer (id int PRIMARY KEY, name text, phone text, owner_role text, tier text, region text, note text);
INSERT INTO gov_um.customer VALUES
  (1, '张伟', '13812345678', 'tap_gov_um_li', 'private', 'east', ''),
  (2, '李娜', '13912345679', 'tap_gov_um_wang', 'private', 'east', ''),
  (3, '王芳', '15012345670', 'tap_gov_um_li', 'public', 'east', '');
ALTER TABLE gov_um.customer OWNER TO tap_gov_um_owner;
GRANT SELECT, INSERT, UPDATE ON gov_um.customer TO tap_gov_um_li, tap_gov_um_wang, tap_gov_um_zhao;
SELECT concord.row_policy_create('tap_gov_um_rows', 'gov_um.customer', $$region = concord.member('region')$$) IS NOT NULL AS p,
       -- docs/policy.md's own example
       concord.column_mask_create('gov_um.customer', 'name', 'concord.mask_name(name)', 'owner_role = current_user') IS NOT NULL AS k1,
       -- two columns decide, and the member's department
       concord.column_mask_create('gov_um.customer', 'phone', 'concord.mask_phone(phone)',
                           $$concord.member_in('tap_gov_um_fin') OR (tier = 'public' AND owner_role = current_user)$$) IS NOT NULL AS k2 \gset

SELECT is(pg_temp.one('tap_gov_um_li', 'SELECT string_agg(id || '' '' || name || '' '' || phone, '', '' ORDER BY id) FROM gov_um.customer_governed'),
          '1 张伟 138****5678, 2 李* 139****5679, 3 王芳 15012345670',
          'li sees the names of her own customers in clear, and the phone of her public one');

-- the attack of the issue, and its variants
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_li' WHERE id = 2 RETURNING name$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "name", which you do not see',
          'li cannot make a colleague''s customer hers to read its name (UPDATE ... RETURNING name)');
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = current_user WHERE id = 2$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "name", which you do not see',
          'nor with SET owner_role = current_user');
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_zhao' WHERE id = 2$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "name", which you do not see',
          'nor hand it to someone else who would then read it');
SELECT is(pg_temp.run('tap_gov_um_li', $$INSERT INTO gov_um.customer_governed (id, owner_role, region) VALUES (2, 'tap_gov_um_li', 'east')
                                         ON CONFLICT (id) DO UPDATE SET owner_role = excluded.owner_role RETURNING name$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "name", which you do not see',
          'nor through INSERT ... ON CONFLICT DO UPDATE');
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET tier = 'public' WHERE id = 1 RETURNING phone$$),
          '42501: changing column "tier" of gov_um.customer would change who sees the clear value of column "phone", which you do not see',
          'a mask decided by two columns: li cannot make her private customer public to read its phone');
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET note = '已回访' WHERE id IN (1, 2, 3)$$), 'ok',
          'she updates the columns that decide nothing');
SELECT is(pg_temp.one('tap_gov_um_li', 'SELECT string_agg(id || '' '' || name || '' '' || owner_role, '', '' ORDER BY id) FROM gov_um.customer_governed'),
          '1 张伟 tap_gov_um_li, 2 李* tap_gov_um_wang, 3 王芳 tap_gov_um_li', 'nothing was unmasked, nothing handed over');

-- who sees the clear values may hand the row on
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_wang' WHERE id = 3$$), 'ok',
          'li, who sees her public customer''s name and phone in clear, hands it to wang');
SELECT is(pg_temp.one('tap_gov_um_wang', 'SELECT name || '' '' || phone FROM gov_um.customer_governed WHERE id = 3'), '王芳 15012345670',
          'wang, its owner now, sees both');
SELECT is(pg_temp.one('tap_gov_um_li', 'SELECT name || '' '' || phone FROM gov_um.customer_governed WHERE id = 3'), '王* 150****5670',
          'li no longer does');

-- the finance clerk sees phones in clear, not names
SELECT is(pg_temp.run('tap_gov_um_zhao', $$UPDATE gov_um.customer_governed SET tier = 'public' WHERE id = 2$$), 'ok',
          'the clerk, who sees every phone in clear, may change the tier (it decides only the phone''s mask)');
SELECT is(pg_temp.run('tap_gov_um_zhao', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_zhao' WHERE id = 2$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "name", which you do not see',
          'but not the owner: she does not see the name in clear');

-- the owner's side: a superuser, and the table's owner, are not refused
SELECT lives_ok($$UPDATE gov_um.customer SET owner_role = 'tap_gov_um_li' WHERE id = 2$$, 'a superuser reassigns a row');
SELECT is(pg_temp.one('tap_gov_um_li', 'SELECT name FROM gov_um.customer_governed WHERE id = 2'), '李娜', 'which li then sees in clear');
SELECT is((SELECT tgnargs::int FROM pg_trigger WHERE tgrelid = 'gov_um.customer'::regclass AND tgname = 'concord_unmask'), 6,
          'one trigger holds both masks'' guards (3 arguments each)');

-- a mask decided by the member alone needs no guard
SELECT concord.column_mask_create('gov_um.customer', 'name', 'concord.mask_name(name)', $$concord.member_in('tap_gov_um_fin')$$) IS NOT NULL AS k3 \gset
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_wang' WHERE id = 1$$),
          '42501: changing column "owner_role" of gov_um.customer would change who sees the clear value of column "phone", which you do not see',
          'with the name''s mask decided by the department, owner_role still decides the phone''s');
SELECT concord.column_mask_drop('gov_um.customer', 'phone') AS dropped \gset
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'gov_um.customer'::regclass AND tgname = 'concord_unmask'), 0,
          'once no mask reads a column, the table has no guard');
SELECT is(pg_temp.run('tap_gov_um_li', $$UPDATE gov_um.customer_governed SET owner_role = 'tap_gov_um_wang' WHERE id = 1$$), 'ok',
          'and the owner can be changed by any writer again');
SELECT is(pg_temp.run('tap_gov_um_li', $$SELECT 1 FROM gov_um.customer WHERE id = 1$$), '42501: permission denied for table customer',
          'the table itself stays closed to the writer (her grants are on the view)');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gov_um', 'tap_gov_um_', :'roles', false) IS NULL AS clean \gset
