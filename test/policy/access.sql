-- policy: time-bound exceptions, by real roles logging in.  A 华东 rep
-- asks to see the 华西 deals for two seconds; she cannot approve it
-- herself, nor can a colleague without approval rights; the head of
-- sales can; she then sees them, and when the time is up she does not --
-- with no job run in between.  access_tidy() removes the expired policy.
-- Every step is in the audit log.
SET client_min_messages = warning;
SELECT plan(17);
\ir setup.psql
\set roles '{tap_ac_rep,tap_ac_peer,tap_ac_head,tap_ac_owner}'
SELECT pg_temp.clean_up('ac_test', 'tap_ac_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_ac_sales') AS d \gset
SELECT concord.member_create('tap_ac_rep', 'tap_ac_sales', '销售代表', '{"region": "华东"}') AS m1,
       concord.member_create('tap_ac_peer', 'tap_ac_sales', '销售代表', '{"region": "华东"}') AS m2,
       concord.member_create('tap_ac_head', 'tap_ac_sales', '销售总监', '{"region": "华东", "approver": true}') AS m3 \gset
CREATE SCHEMA ac_test AUTHORIZATION tap_ac_owner;
CREATE TABLE ac_test.deal (id int PRIMARY KEY, region text);
INSERT INTO ac_test.deal VALUES (1, '华东'), (2, '华西'), (3, '华西');
ALTER TABLE ac_test.deal OWNER TO tap_ac_owner;
GRANT USAGE ON SCHEMA ac_test TO tap_ac_rep, tap_ac_peer, tap_ac_head;
GRANT SELECT ON ac_test.deal TO tap_ac_rep, tap_ac_peer, tap_ac_head;
SELECT concord.row_policy_create('tap_ac_rows', 'ac_test.deal', $$region = concord.member('region')$$) IS NOT NULL AS p \gset

CREATE FUNCTION pg_temp.seen(r text) RETURNS text LANGUAGE sql AS $$
  SELECT * FROM pg_temp.as_role(r, 'SELECT coalesce(string_agg(id::text, '','' ORDER BY id), '''') FROM ac_test.deal')
$$;
CREATE FUNCTION pg_temp.try(r text, q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT * FROM pg_temp.as_role(r, q));
EXCEPTION WHEN OTHERS THEN
  RETURN SQLERRM;
END $$;

SELECT is(pg_temp.seen('tap_ac_rep'), '1', 'the rep sees the 华东 deal');
SELECT (SELECT * FROM pg_temp.as_role('tap_ac_rep',
  $$SELECT concord.access_request('ac_test.deal', $p$region = '华西'$p$, '替华西同事跟进两个客户',
                                  clock_timestamp() + interval '3 seconds')::text$$)) AS req \gset
SELECT is((SELECT status || ' ' || role_name FROM concord.access_request WHERE id = :req), 'requested tap_ac_rep',
          'she asks to see the 华西 deals, for a reason, for three seconds');
SELECT is(pg_temp.seen('tap_ac_rep'), '1', 'a request alone shows nothing');
SELECT is(pg_temp.try('tap_ac_rep', format('SELECT concord.access_approve(%s)', :req)),
          'role "tap_ac_rep" may not decide its own access request', 'she cannot approve it');
SELECT is(pg_temp.try('tap_ac_peer', format('SELECT concord.access_approve(%s)', :req)),
          format('role "tap_ac_peer" may not decide access request %s', :req), 'nor can a colleague without approval rights');
SELECT is(pg_temp.try('tap_ac_head', format('SELECT concord.access_approve(%s)', :req)), 'approved',
          'the head of sales approves it');
SELECT is(pg_temp.seen('tap_ac_rep'), '1,2,3', 'now she sees the 华西 deals too');
SELECT is(pg_temp.seen('tap_ac_peer'), '1', 'her colleague does not');
SELECT is(pg_temp.try('tap_ac_head', format('SELECT concord.access_approve(%s)', :req)),
          format('access request %s is already approved', :req), 'a request is decided once');

SELECT pg_sleep(3.2) IS NOT NULL AS waited \gset
SELECT is(pg_temp.seen('tap_ac_rep'), '1', 'three seconds later the grant is over, though nothing ran');
-- the background worker tidies up (pg_reload_conf wakes it at once)
\ir ../harness/backends.psql
SELECT pg_reload_conf() AS reloaded \gset
SELECT ok(pg_temp.eventually(format($q$SELECT status = 'expired' FROM concord.access_request WHERE id = %s$q$, :req), 15),
          'the background worker marks the grant expired');
SELECT is((SELECT count(*)::int FROM pg_policies WHERE schemaname = 'ac_test' AND policyname LIKE 'concord_grant_%'), 0,
          'and drops its policy');
SELECT is(concord.access_tidy(), 0, 'leaving nothing for access_tidy, which a DBA may also call');
SELECT results_eq(
  format($q$SELECT action, session_actor FROM concord.audit_log WHERE object = %L AND action LIKE 'access%%' ORDER BY id$q$, :req),
  $$VALUES ('access_request'::text, 'tap_ac_rep'::text), ('access_approve', 'tap_ac_head'), ('access_expire', 'postgres')$$,
  'every step is in the audit log, with who took it (the worker runs as the bootstrap superuser)');

-- bad requests
SELECT matches(pg_temp.try('tap_ac_rep', $$SELECT concord.access_request('ac_test.deal', 'true', 'x', now() - interval '1 day')::text$$),
               '^access must end within 90 days from now, not at ', 'an end in the past is refused');
SELECT matches(pg_temp.try('tap_ac_rep', $$SELECT concord.access_request('ac_test.deal', 'random() < 0.5', 'x', now() + interval '1 day')::text$$),
               'function random\(\) is not immutable', 'rows named by a condition the allowlist refuses');
SELECT (SELECT * FROM pg_temp.as_role('tap_ac_head',
  $$SELECT concord.access_request('ac_test.deal', 'true', '月底对账', now() + interval '1 hour')::text$$)) AS own \gset
SELECT is(pg_temp.try('tap_ac_head', format('SELECT concord.access_approve(%s)', :own)),
          'role "tap_ac_head" may not decide its own access request', 'an approver cannot approve her own request');

SELECT * FROM finish();
SELECT pg_temp.clean_up('ac_test', 'tap_ac_', :'roles', false) IS NULL AS clean \gset
