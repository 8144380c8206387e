-- policy (issue 18): time-bound grants end on time on every path.  Each row
-- is checked against the clock when it is read: a cursor opened before the
-- end returns no granted row read after it, nor does one statement running
-- across the end; ending needs no DDL, and tidying waits for no lock (a
-- long read holding the table is not queued behind).  Approvers are
-- scoped to the requester's department and above, see what they decide,
-- and whoever may not decide learns nothing about a request.  Reps, a head
-- of sales and another department's approver log in.  Committed set-up,
-- removed at the end.
SET client_min_messages = error;
SELECT plan(17);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_ac_owner,tap_gov_ac_rep,tap_gov_ac_head,tap_gov_ac_fin_boss,tap_gov_ac_peer}'
SELECT pg_temp.clean_up('gov_ac', 'tap_gov_ac_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_ac_sales') AS d1, concord.department_create('tap_gov_ac_east', 'tap_gov_ac_sales') AS d2,
       concord.department_create('tap_gov_ac_fin') AS d3 \gset
SELECT concord.member_create('tap_gov_ac_rep', 'tap_gov_ac_east', 'rep', '{"region": "east"}') AS m1,
       concord.member_create('tap_gov_ac_peer', 'tap_gov_ac_east', 'rep', '{"region": "east"}') AS m2,
       concord.member_create('tap_gov_ac_head', 'tap_gov_ac_sales', 'head', '{"region": "east", "approver": true}') AS m3,
       concord.member_create('tap_gov_ac_fin_boss', 'tap_gov_ac_fin', 'boss', '{"approver": true}') AS m4 \gset
ALTER ROLE tap_gov_ac_owner NOLOGIN;
CREATE SCHEMA gov_ac AUTHORIZATION tap_gov_ac_owner;
GRANT USAGE ON SCHEMA gov_ac TO PUBLIC;
-- (rows in this physical order: a scan reads 1, 2, 3, 4)
CREATE TABLE gov_ac.deal (id int, region text);
INSERT INTO gov_ac.deal VALUES (1, 'west'), (2, 'west'), (3, 'east'), (4, 'west');
ALTER TABLE gov_ac.deal OWNER TO tap_gov_ac_owner;
GRANT SELECT ON gov_ac.deal TO PUBLIC;
SELECT concord.row_policy_create('tap_gov_ac_rows', 'gov_ac.deal', $$region = concord.member('region')$$) IS NOT NULL AS p \gset

CREATE FUNCTION pg_temp.request(seconds numeric) RETURNS bigint LANGUAGE sql AS $$
  SELECT pg_temp.one('tap_gov_ac_rep', format($q$SELECT concord.access_request('gov_ac.deal', 'region = ''west''', 'covering',
                                                   clock_timestamp() + interval '%s seconds')::text$q$, seconds))::bigint
$$;

------------------------------------------------------------------------------
-- who decides, and who sees the request
------------------------------------------------------------------------------
SELECT pg_temp.request(60) AS req \gset
SELECT is(pg_temp.one('tap_gov_ac_fin_boss', format('SELECT count(*)::text FROM concord.access_request WHERE id = %s', :req)), '0',
          'another department''s approver does not see the request');
SELECT is(pg_temp.run('tap_gov_ac_fin_boss', format('SELECT concord.access_approve(%s)', :req)),
          format('42501: role "tap_gov_ac_fin_boss" may not decide access request %s', :req), 'nor may she decide it');
SELECT is(pg_temp.run('tap_gov_ac_fin_boss', 'SELECT concord.access_approve(999999999)'),
          '42501: role "tap_gov_ac_fin_boss" may not decide access request 999999999',
          'the same answer for a request that does not exist: she learns nothing of which do');
SELECT is(pg_temp.one('tap_gov_ac_peer', format('SELECT count(*)::text FROM concord.access_request WHERE id = %s', :req)), '0',
          'a colleague does not see it either');
SELECT is(pg_temp.one('tap_gov_ac_head', format('SELECT status || '' '' || role_name FROM concord.access_request WHERE id = %s', :req)),
          'requested tap_gov_ac_rep', 'the head of sales, an approver above the requester''s department, sees it');
SELECT is(pg_temp.one('tap_gov_ac_head', format('SELECT concord.access_reject(%s)', :req)), 'rejected', 'and decides it');

------------------------------------------------------------------------------
-- a cursor, and a statement, across the end
------------------------------------------------------------------------------
SELECT pg_temp.request(4) AS req2 \gset
SELECT is(pg_temp.one('tap_gov_ac_head', format('SELECT concord.access_approve(%s)', :req2)), 'approved', 'a grant of four seconds');
SELECT dblink_connect('cur', :'conn' || ' user=tap_gov_ac_rep') AS c \gset
SELECT dblink_open('cur', 'c1', 'SELECT id::text FROM gov_ac.deal') AS o \gset
SELECT is((SELECT string_agg(v, ',') FROM dblink_fetch('cur', 'c1', 1) AS t(v text)), '1',
          'the rep opens a cursor and fetches a granted row');
SELECT pg_sleep(greatest(0, extract(epoch FROM (SELECT valid_until FROM concord.access_request WHERE id = :req2) - clock_timestamp())) + 0.3)
       IS NOT NULL AS waited \gset
SELECT is((SELECT string_agg(v, ',') FROM dblink_fetch('cur', 'c1', 10) AS t(v text)), '3',
          'fetched after the end, the cursor returns her own row only: the granted rows it reads now are not shown');
SELECT dblink_close('cur', 'c1') AS cl \gset
SELECT dblink_disconnect('cur') AS dc \gset

SELECT pg_temp.request(3) AS req3 \gset
SELECT is(pg_temp.one('tap_gov_ac_head', format('SELECT concord.access_approve(%s)', :req3)), 'approved', 'a grant of three seconds');
SELECT is(pg_temp.one('tap_gov_ac_rep', format($q$SELECT string_agg(id::text, ',') FROM (
            SELECT id, pg_sleep(CASE WHEN id = 1
                                     THEN greatest(0, extract(epoch FROM (SELECT valid_until FROM concord.access_request WHERE id = %s)
                                                                         - clock_timestamp())) + 0.3
                                     ELSE 0 END) FROM gov_ac.deal) s$q$, :req3)),
          '1,3', 'one statement running across the end: the granted rows read after it are not returned');

------------------------------------------------------------------------------
-- ending takes no DDL; tidying waits for no lock
------------------------------------------------------------------------------
SELECT pg_temp.request(2) AS req4 \gset
SELECT is(pg_temp.one('tap_gov_ac_head', format('SELECT concord.access_approve(%s)', :req4)), 'approved', 'a grant of two seconds');
SELECT pg_sleep(2.3) IS NOT NULL AS waited2 \gset
SELECT dblink_connect('long', :'conn' || ' user=tap_gov_ac_peer') AS c2 \gset
SELECT dblink_exec('long', 'BEGIN') AS b \gset
SELECT v AS n FROM dblink('long', 'SELECT count(*)::text FROM gov_ac.deal') AS t(v text) \gset
SELECT is(pg_temp.run('postgres', $q$SET statement_timeout = '2s'; DO $d$ BEGIN PERFORM concord.access_tidy(); END $d$$q$), 'ok',
          'access_tidy runs while a long read holds the table');
SELECT is((SELECT status FROM concord.access_request WHERE id = :req4), 'expired', 'and marks the grant expired (no DDL needed for that)');
SELECT is(pg_temp.one('tap_gov_ac_peer', 'SELECT count(*)::text FROM gov_ac.deal'), '1',
          'other reads are not queued behind a DROP POLICY waiting for the long read');
SELECT dblink_exec('long', 'COMMIT') AS e \gset
SELECT dblink_disconnect('long') AS dc2 \gset
SELECT is(pg_temp.run('postgres', 'DO $d$ BEGIN PERFORM concord.access_tidy(); END $d$'), 'ok', 'the next round, the table free');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'gov_ac.deal'::regclass AND polname LIKE 'concord_grant_%'), 0,
          'drops the ended grants'' policies');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gov_ac', 'tap_gov_ac_', :'roles', false) IS NULL AS clean \gset
