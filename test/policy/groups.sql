-- policy: group roles as members.  A membership can name a group role;
-- a login role then belongs to the memberships of every group it is in
-- (nested groups too).  member_in() is true if any membership is in the
-- department; member() takes the role's own membership's value, else the
-- value its groups that have one agree on, else NULL.  Checked by the
-- roles logging in.  Committed setup, removed at the end.
SET client_min_messages = warning;
SELECT plan(14);
\ir setup.psql
\set roles '{tap_gr_east,tap_gr_west,tap_gr_fin_readers,tap_gr_team,tap_gr_li,tap_gr_wang,tap_gr_zhao,tap_gr_qian,tap_gr_sun,tap_gr_nested,tap_gr_owner}'
SELECT pg_temp.clean_up('gr_test', 'tap_gr_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gr_sales') AS d1, concord.department_create('tap_gr_fin') AS d2 \gset
SELECT is(concord.member_create('tap_gr_east', 'tap_gr_sales', '华东销售组', '{"region": "华东"}'), 'tap_gr_east',
          'a group role can be a member');
SELECT concord.member_create('tap_gr_west', 'tap_gr_sales', '华西销售组', '{"region": "华西"}') AS m1,
       concord.member_create('tap_gr_fin_readers', 'tap_gr_fin', '财务只读') AS m2,
       concord.member_create('tap_gr_zhao', 'tap_gr_sales', '销售经理', '{"region": "华北"}') AS m3 \gset
-- li: east; wang: east and west; zhao: east, with her own membership;
-- qian: east and finance's readers; nested: a team inside east; sun: none
GRANT tap_gr_east TO tap_gr_li, tap_gr_wang, tap_gr_zhao, tap_gr_qian, tap_gr_team;
GRANT tap_gr_west TO tap_gr_wang;
GRANT tap_gr_fin_readers TO tap_gr_qian;
GRANT tap_gr_team TO tap_gr_nested;

CREATE SCHEMA gr_test AUTHORIZATION tap_gr_owner;
CREATE TABLE gr_test.deal (id int PRIMARY KEY, region text, amount numeric);
INSERT INTO gr_test.deal VALUES (1, '华东', 100), (2, '华东', 200), (3, '华西', 300), (4, '华北', 400);
ALTER TABLE gr_test.deal OWNER TO tap_gr_owner;
GRANT USAGE ON SCHEMA gr_test TO PUBLIC;
GRANT SELECT ON gr_test.deal TO PUBLIC;
SELECT concord.row_policy_create('tap_gr_rows', 'gr_test.deal',
  $$region = concord.member('region') OR concord.member_in('tap_gr_fin')$$) IS NOT NULL AS p \gset

CREATE FUNCTION pg_temp.ids(r text) RETURNS text LANGUAGE sql AS $$
  SELECT * FROM pg_temp.as_role(r, 'SELECT coalesce(string_agg(id::text, '','' ORDER BY id), ''none'') FROM gr_test.deal')
$$;
SELECT is(pg_temp.ids('tap_gr_li'), '1,2', 'li, in the east group, sees the east''s deals');
SELECT is(pg_temp.ids('tap_gr_nested'), '1,2', 'a role in a team inside the east group sees them too');
SELECT is(pg_temp.ids('tap_gr_wang'), 'none', 'wang, in two groups of different regions, has no region: sees none');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gr_wang', $$SELECT concord.member_in('tap_gr_sales')::text$$)), 'true',
          'yet he is in sales');
SELECT is(pg_temp.ids('tap_gr_zhao'), '4', 'zhao''s own membership (华北) comes before her group''s');
SELECT is(pg_temp.ids('tap_gr_qian'), '1,2,3,4', 'qian, also in finance''s readers, sees every deal');
SELECT is((SELECT * FROM pg_temp.as_role('tap_gr_qian', $$SELECT concord.member('region')$$)), '华东',
          'and her region is the one group that has a region says (the readers have none)');
SELECT is(pg_temp.ids('tap_gr_sun'), 'none', 'sun, in no group, sees none');
SELECT is(concord.member('region'), NULL, 'a superuser is not a member of every group for concord');
SELECT results_eq($$SELECT e -> 'rows', (SELECT array_agg(g ->> 'group') FROM jsonb_array_elements(e -> 'groups') g)
                      FROM concord.explain_access('tap_gr_qian', 'gr_test.deal') e$$,
                  $$VALUES ('4'::jsonb, '{tap_gr_east,tap_gr_fin_readers}'::text[])$$,
                  'explain_access names the groups whose memberships a role has, and reads her four rows');

REVOKE tap_gr_east FROM tap_gr_li;
SELECT is(pg_temp.ids('tap_gr_li'), 'none', 'li taken out of the group: at her next query, none');

-- a group role dropped: its membership row no longer matches anybody
SELECT concord.member_create('tap_gr_team', 'tap_gr_fin', '临时') AS m4 \gset
SELECT is(pg_temp.ids('tap_gr_nested'), '1,2,3,4', 'the team made a finance member: nested sees every deal');
REVOKE tap_gr_team FROM tap_gr_nested;
DROP ROLE tap_gr_team;
SELECT is(pg_temp.ids('tap_gr_nested'), 'none', 'the team dropped: its membership matches nobody');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gr_test', 'tap_gr_', :'roles', false) IS NULL AS clean \gset
