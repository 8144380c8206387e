-- policy (issue 18): member() and member_in() follow PostgreSQL's
-- privilege inheritance (has_privs_of_role).  A NOINHERIT role granted a
-- finance group is not finance until it SET ROLEs to the group; a chain of
-- groups stops at a NOINHERIT one; a superuser is in no group it is not a
-- member of.  Row policies, masks and explain_access agree.  Real roles log
-- in.  Committed set-up, removed at the end.
SET client_min_messages = error;
SELECT plan(14);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_mb_owner,tap_gov_mb_fin,tap_gov_mb_mid,tap_gov_mb_inh,tap_gov_mb_noinh,tap_gov_mb_chain}'
SELECT pg_temp.clean_up('gov_mb', 'tap_gov_mb_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_mb_finance') AS d \gset
ALTER ROLE tap_gov_mb_fin NOLOGIN;
ALTER ROLE tap_gov_mb_mid NOLOGIN NOINHERIT;
ALTER ROLE tap_gov_mb_noinh NOINHERIT;
SELECT concord.member_create('tap_gov_mb_fin', 'tap_gov_mb_finance', '会计组', '{"region": "all"}') AS m \gset
GRANT tap_gov_mb_fin TO tap_gov_mb_inh, tap_gov_mb_noinh, tap_gov_mb_mid;
GRANT tap_gov_mb_mid TO tap_gov_mb_chain;

ALTER ROLE tap_gov_mb_owner NOLOGIN;
CREATE SCHEMA gov_mb AUTHORIZATION tap_gov_mb_owner;
GRANT USAGE ON SCHEMA gov_mb TO PUBLIC;
CREATE TABLE gov_mb.invoice (no text PRIMARY KEY, amount numeric, payer_phone text);
INSERT INTO gov_mb.invoice VALUES ('INV-1', 100, '13812345678'), ('INV-2', 250, '13912345679');
ALTER TABLE gov_mb.invoice OWNER TO tap_gov_mb_owner;
GRANT SELECT ON gov_mb.invoice TO PUBLIC;
SELECT concord.row_policy_create('tap_gov_mb_fin_rows', 'gov_mb.invoice', $$concord.member_in('tap_gov_mb_finance')$$) IS NOT NULL AS p,
       concord.column_mask_create('gov_mb.invoice', 'payer_phone', 'concord.mask_phone(payer_phone)',
                           $$concord.member('title') = '会计组'$$) IS NOT NULL AS k \gset

SELECT is(pg_temp.one('tap_gov_mb_inh', $$SELECT concord.member_in('tap_gov_mb_finance') || ' ' || concord.member('region')$$),
          'true all', 'a role that inherits the finance group''s privileges is in finance, with its attributes');
SELECT is(pg_temp.one('tap_gov_mb_inh', 'SELECT string_agg(no || '' '' || payer_phone, '','' ORDER BY no) FROM gov_mb.invoice_governed'),
          'INV-1 13812345678,INV-2 13912345679', 'and sees the invoices and the phones in clear');
SELECT is(pg_temp.one('tap_gov_mb_noinh', $$SELECT concord.member_in('tap_gov_mb_finance') || ' ' || coalesce(concord.member('region'), 'NULL')$$),
          'false NULL', 'a NOINHERIT role granted the group is not in finance (it has not the group''s privileges)');
SELECT is(pg_temp.one('tap_gov_mb_noinh', 'SELECT count(*)::text FROM gov_mb.invoice_governed'), '0', 'and sees no invoice');
SELECT is(pg_temp.one('tap_gov_mb_noinh', $$SET ROLE tap_gov_mb_fin;
                                            SELECT concord.member_in('tap_gov_mb_finance') || ' ' || count(*) FROM gov_mb.invoice_governed$$),
          'true 2', 'until it SET ROLEs to the group: then it is finance, and sees them');
SELECT is(pg_temp.one('tap_gov_mb_noinh', $$SET ROLE tap_gov_mb_fin;
                                            SELECT string_agg(payer_phone, ',' ORDER BY no) FROM gov_mb.invoice_governed$$),
          '13812345678,13912345679', 'phones in clear too (the mask reads member(''title''), the group''s)');
SELECT is(pg_temp.one('tap_gov_mb_chain', $$SELECT concord.member_in('tap_gov_mb_finance')::text$$), 'false',
          'through a NOINHERIT group in between, the group''s group does not count');
SELECT is(pg_temp.one('tap_gov_mb_chain', $$SET ROLE tap_gov_mb_mid; SELECT concord.member_in('tap_gov_mb_finance')::text$$), 'false',
          'nor as that NOINHERIT group itself');
SELECT is(pg_temp.one('tap_gov_mb_chain', $$SET ROLE tap_gov_mb_fin; SELECT concord.member_in('tap_gov_mb_finance')::text$$), 'true',
          'only as the group');
SELECT is(concord.explain_access('tap_gov_mb_inh', 'gov_mb.invoice') -> 'groups' -> 0 ->> 'group', 'tap_gov_mb_fin',
          'explain_access lists the inherited group');
SELECT is(concord.explain_access('tap_gov_mb_noinh', 'gov_mb.invoice') -> 'groups', '[]'::jsonb,
          'and not the group a NOINHERIT role may only SET ROLE to');
SELECT is((concord.explain_access('tap_gov_mb_noinh', 'gov_mb.invoice') ->> 'rows'), '0',
          'whose rows, read as that role, are none');
SELECT is(concord.member_in('tap_gov_mb_finance'), false, 'a superuser is in no group it is not a member of');
SELECT is(pg_temp.one('postgres', $$SET ROLE tap_gov_mb_fin; SELECT concord.member_in('tap_gov_mb_finance')::text$$), 'true',
          'but as the group, it is');

SELECT * FROM finish();
SELECT pg_temp.clean_up('gov_mb', 'tap_gov_mb_', :'roles', false) IS NULL AS clean \gset
