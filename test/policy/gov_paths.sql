-- policy (issue 18): the paths around a masked table's governed view and
-- its row policies.  Grants made later on the table, column grants,
-- REFERENCES and TRIGGER are moved to the view or taken away as they are
-- made; views, materialized views and rules its owner (or a superuser)
-- makes over it are refused; and concord.governance_check() finds every
-- path that is left or made around the guard (a superuser's
-- session_replication_role = replica switches event triggers off), each
-- with its fix, as does explain_access for one role.  A rep and an analyst
-- log in.  Committed set-up, removed at the end.
SET client_min_messages = error;
SELECT plan(51);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_pa_owner,tap_gov_pa_rep,tap_gov_pa_analyst,tap_gov_pa_bypass,tap_gov_pa_backup,tap_gov_pa_dba,tap_gov_pa_bypass_grp}'
SELECT pg_temp.clean_up('gov_pa', 'tap_gov_pa_', :'roles', true) IS NULL AS clean \gset

SELECT concord.department_create('tap_gov_pa_sales') AS d \gset
SELECT concord.member_create('tap_gov_pa_rep', 'tap_gov_pa_sales', 'rep', '{"region": "east"}') AS m \gset
ALTER ROLE tap_gov_pa_owner NOLOGIN;
CREATE SCHEMA gov_pa AUTHORIZATION tap_gov_pa_owner;
GRANT USAGE ON SCHEMA gov_pa TO PUBLIC;
CREATE TABLE gov_pa.customer (id int PRIMARY KEY, name text, phone text UNIQUE, region text);
INSERT INTO gov_pa.customer VALUES (1, '张伟', '13812345678', 'east'), (2, '李娜', '13912345679', 'west');
ALTER TABLE gov_pa.customer OWNER TO tap_gov_pa_owner;
GRANT SELECT ON gov_pa.customer TO tap_gov_pa_rep;
SELECT concord.row_policy_create('tap_gov_pa_rows', 'gov_pa.customer', $$region = concord.member('region')$$) IS NOT NULL AS p,
       concord.column_mask_create('gov_pa.customer', 'phone', 'concord.mask_phone(phone)', $$region = 'hq'$$) IS NOT NULL AS mk \gset

------------------------------------------------------------------------------
-- grants made later move to the governed view
------------------------------------------------------------------------------
SELECT is(pg_temp.run('postgres', 'GRANT SELECT ON gov_pa.customer TO tap_gov_pa_analyst'), 'ok', 'a grant on the masked table, made later');
SELECT is(pg_temp.run('tap_gov_pa_analyst', 'SELECT phone FROM gov_pa.customer'), '42501: permission denied for table customer',
          'does not let the analyst read the table');
SELECT ok(has_table_privilege('tap_gov_pa_analyst', 'gov_pa.customer_governed', 'SELECT'), 'she may read the governed view instead');
SELECT is(pg_temp.run('postgres', 'GRANT SELECT ON ALL TABLES IN SCHEMA gov_pa TO tap_gov_pa_analyst'), 'ok',
          'GRANT SELECT ON ALL TABLES IN SCHEMA');
SELECT is(pg_temp.run('tap_gov_pa_analyst', 'SELECT phone FROM gov_pa.customer'), '42501: permission denied for table customer',
          'the same');
SELECT is(pg_temp.run('postgres', 'GRANT SELECT (id, phone) ON gov_pa.customer TO tap_gov_pa_analyst'), 'ok',
          'a column grant on the masked column');
SELECT is(pg_temp.run('tap_gov_pa_analyst', 'SELECT phone FROM gov_pa.customer'), '42501: permission denied for table customer',
          'does not read the clear column either');
SELECT is((SELECT string_agg(coalesce(col, '*') || ' ' || priv, ',' ORDER BY col NULLS FIRST, priv)
             FROM concord.relation_privileges('gov_pa.customer_governed') WHERE grantee = 'tap_gov_pa_analyst'::regrole),
          '* SELECT,id SELECT,phone SELECT', 'the column grant moved to the view''s columns');
SELECT is(pg_temp.one('tap_gov_pa_rep', 'SELECT string_agg(id || '' '' || phone, '','') FROM gov_pa.customer_governed'),
          '1 138****5678', 'the rep, whose grant moved when the mask was made, reads her row masked');
SELECT is(pg_temp.run('postgres', 'GRANT REFERENCES (phone), TRIGGER ON gov_pa.customer TO tap_gov_pa_analyst'), 'ok',
          'REFERENCES on the masked column and TRIGGER on the table');
SELECT is((SELECT count(*)::int FROM concord.relation_privileges('gov_pa.customer')), 0,
          'are taken away (a foreign key would probe its clear values, a trigger would watch them)');
SELECT is(pg_temp.run('postgres', 'GRANT SELECT ON gov_pa.customer TO tap_gov_pa_analyst WITH GRANT OPTION;
                                   SET ROLE tap_gov_pa_owner; GRANT UPDATE ON gov_pa.customer TO tap_gov_pa_analyst'), 'ok',
          'grants by the owner too, with a grant option');
SELECT is((SELECT count(*)::int FROM concord.relation_privileges('gov_pa.customer')), 0, 'none stays on the table');

------------------------------------------------------------------------------
-- views over it
------------------------------------------------------------------------------
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE VIEW gov_pa.all_phones AS SELECT id, phone FROM gov_pa.customer$$),
          '42501: refused: view gov_pa.all_phones reads gov_pa.customer as its owner tap_gov_pa_owner, masked columns in clear',
          'the owner''s plain view over a masked column is refused');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE VIEW gov_pa.all_rows AS SELECT c FROM gov_pa.customer c$$),
          '42501: refused: view gov_pa.all_rows reads gov_pa.customer as its owner tap_gov_pa_owner, masked columns in clear',
          'so is one over the whole row');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE VIEW gov_pa.ids AS SELECT id, region FROM gov_pa.customer$$),
          'ok', 'one over clear columns only is not (row policies judge its readers)');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE OR REPLACE VIEW gov_pa.ids AS SELECT id, region, phone FROM gov_pa.customer$$),
          '42501: refused: view gov_pa.ids reads gov_pa.customer as its owner tap_gov_pa_owner, masked columns in clear',
          'nor replaced by one over the masked column');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner;
            CREATE VIEW gov_pa.inv WITH (security_invoker) AS SELECT id, phone FROM gov_pa.customer$$),
          'ok', 'a security_invoker view is not refused (its readers need the table''s grants, which move away)');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; ALTER VIEW gov_pa.inv SET (security_invoker = false)$$),
          '42501: refused: view gov_pa.inv reads gov_pa.customer as its owner tap_gov_pa_owner, masked columns in clear',
          'but it cannot become a plain one');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE MATERIALIZED VIEW gov_pa.snap AS SELECT id FROM gov_pa.customer$$),
          '42501: refused: materialized view gov_pa.snap holds what its owner tap_gov_pa_owner read of gov_pa.customer (its rows, masked columns in clear) for all its readers',
          'a materialized view is refused');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; CREATE TABLE gov_pa.log (phone text);
            CREATE RULE leak AS ON INSERT TO gov_pa.log DO ALSO SELECT phone FROM gov_pa.customer$$),
          '42501: refused: rule leak on gov_pa.log reads gov_pa.customer as tap_gov_pa_owner, masked columns in clear',
          'a rule that reads the masked column is refused');
SELECT is(pg_temp.run('postgres', $$CREATE VIEW gov_pa.everyone AS SELECT id, region FROM gov_pa.customer$$),
          '42501: refused: view gov_pa.everyone reads gov_pa.customer as its owner postgres, who is not bound by row security: every row',
          'a superuser''s view over a table with row policies is refused, clear columns or not');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner; ALTER VIEW gov_pa.customer_governed RESET (security_barrier)$$),
          '42501: refused: view gov_pa.customer_governed is concord''s governed view of gov_pa.customer: it is not changed by hand',
          'the governed view stays a security barrier');
SELECT is(pg_temp.run('postgres', $$SET ROLE tap_gov_pa_owner;
            CREATE OR REPLACE VIEW gov_pa.customer_governed WITH (security_barrier) AS SELECT id, name, phone, region FROM gov_pa.customer$$),
          '42501: refused: view gov_pa.customer_governed is concord''s governed view of gov_pa.customer: it is not changed by hand',
          'and is not replaced by one that shows the clear values');
SELECT is(pg_temp.run('postgres', $$ALTER VIEW gov_pa.ids OWNER TO postgres$$),
          '42501: refused: view gov_pa.ids reads gov_pa.customer as its owner postgres, who is not bound by row security: every row',
          'and so is handing a view over it to a superuser');

------------------------------------------------------------------------------
-- governance_check: every path left, each made here (past the guard,
-- where it would refuse: a superuser switches event triggers off)
------------------------------------------------------------------------------
ALTER ROLE tap_gov_pa_bypass_grp NOLOGIN BYPASSRLS;
ALTER ROLE tap_gov_pa_bypass BYPASSRLS;
GRANT tap_gov_pa_bypass_grp TO tap_gov_pa_rep;
GRANT pg_read_all_data TO tap_gov_pa_backup;
GRANT tap_gov_pa_owner TO tap_gov_pa_dba;
SET session_replication_role = replica;
SET ROLE tap_gov_pa_owner;
CREATE TABLE gov_pa.log (phone text);
CREATE VIEW gov_pa.v_phones AS SELECT id, phone FROM gov_pa.customer;
GRANT SELECT ON gov_pa.v_phones TO tap_gov_pa_analyst;
CREATE MATERIALIZED VIEW gov_pa.mv AS SELECT id FROM gov_pa.customer;
CREATE RULE r_leak AS ON INSERT TO gov_pa.log DO ALSO SELECT phone FROM gov_pa.customer;
CREATE FUNCTION gov_pa.phone_of(i int) RETURNS text LANGUAGE sql SECURITY DEFINER BEGIN ATOMIC SELECT phone FROM gov_pa.customer WHERE id = i; END;
CREATE FUNCTION gov_pa.lookup(i int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS 'BEGIN RETURN (SELECT name FROM gov_pa.customer WHERE id = i); END';
REVOKE EXECUTE ON FUNCTION gov_pa.lookup(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gov_pa.lookup(int) TO tap_gov_pa_analyst;
CREATE POLICY everyone ON gov_pa.customer USING (true);
RESET ROLE;
GRANT SELECT (phone) ON gov_pa.customer TO tap_gov_pa_analyst;
ALTER TABLE gov_pa.customer NO FORCE ROW LEVEL SECURITY;
ALTER TABLE gov_pa.customer DISABLE TRIGGER concord_unmask;
ALTER VIEW gov_pa.customer_governed RESET (security_barrier);
CREATE TABLE gov_pa.archive (id int, name text, phone text, region text);
GRANT SELECT ON gov_pa.archive TO tap_gov_pa_analyst;
-- a governed child of a parent that is not
CREATE TABLE gov_pa.orders (id int, region text, amount numeric);
CREATE TABLE gov_pa.orders_2020 () INHERITS (gov_pa.orders);
GRANT SELECT ON gov_pa.orders TO tap_gov_pa_analyst;
SELECT concord.row_policy_create('tap_gov_pa_old', 'gov_pa.orders_2020', $$region = concord.member('region')$$) IS NOT NULL AS p2 \gset
RESET session_replication_role;
CREATE TEMP TABLE found AS SELECT * FROM concord.governance_check() WHERE governed::text LIKE 'gov_pa.%';

SELECT is((SELECT path FROM found WHERE kind = 'superuser' AND role = 'postgres' AND object = 'gov_pa.customer'),
          'superuser: row policies and masks do not bind it, it reads every row of gov_pa.customer in clear', 'a superuser');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'bypassrls' AND role = 'tap_gov_pa_bypass' AND object = 'gov_pa.customer'),
          'BYPASSRLS: row policies do not bind it wherever it may read gov_pa.customer or its parts itself | ALTER ROLE tap_gov_pa_bypass NOBYPASSRLS',
          'a BYPASSRLS login');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'bypassrls' AND role = 'tap_gov_pa_rep' AND object = 'gov_pa.customer'),
          'BYPASSRLS (through role tap_gov_pa_bypass_grp): row policies do not bind it wherever it may read gov_pa.customer or its parts itself | REVOKE tap_gov_pa_bypass_grp FROM tap_gov_pa_rep',
          'a login that may SET ROLE to a BYPASSRLS role');
SELECT is((SELECT path FROM found WHERE kind = 'read all data' AND role = 'tap_gov_pa_backup'),
          'pg_read_all_data: reads gov_pa.customer itself, its masked columns in clear (row policies still apply)', 'pg_read_all_data');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'table owner' AND role = 'tap_gov_pa_dba'),
          'can act as tap_gov_pa_owner, the table''s owner: reads gov_pa.customer itself, its masked columns in clear, and may change what concord made on it | Make the owner a NOLOGIN role without members (REVOKE tap_gov_pa_owner FROM tap_gov_pa_dba); a DBA acts as it when needed',
          'a login that can act as the table''s owner');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'grant' AND role = 'tap_gov_pa_analyst'),
          'SELECT (phone) on gov_pa.customer: a masked table, read (or probed, or watched) in clear around its governed view | REVOKE SELECT (phone) ON gov_pa.customer FROM tap_gov_pa_analyst CASCADE; GRANT SELECT (phone) ON gov_pa.customer_governed TO tap_gov_pa_analyst',
          'a column grant on the masked table');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'plain view' AND role = 'tap_gov_pa_analyst'),
          'view gov_pa.v_phones reads gov_pa.customer as its owner tap_gov_pa_owner, masked columns in clear | ALTER VIEW gov_pa.v_phones SET (security_invoker = true), or read gov_pa.customer''s governed view in it',
          'a plain view over the masked column, for each of its readers');
SELECT is((SELECT count(*)::int FROM found WHERE kind = 'materialized view' AND object = 'gov_pa.mv'), 1, 'a materialized view');
SELECT is((SELECT path FROM found WHERE kind = 'rule'),
          'rule r_leak on gov_pa.log reads gov_pa.customer as tap_gov_pa_owner, masked columns in clear', 'a rule');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'security definer function' AND role = 'PUBLIC'),
          'SECURITY DEFINER function gov_pa.phone_of(integer) reads masked columns of gov_pa.customer as tap_gov_pa_owner | ALTER FUNCTION gov_pa.phone_of(integer) SECURITY INVOKER',
          'a SECURITY DEFINER function (with a body of SQL) reading the masked column, executable by PUBLIC');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'security definer function' AND role = 'tap_gov_pa_analyst'),
          'SECURITY DEFINER function gov_pa.lookup(integer) runs as tap_gov_pa_owner, who reads gov_pa.customer''s masked columns in clear; what it returns is not checked (or give it an owner that reads the governed view only) | ALTER FUNCTION gov_pa.lookup(integer) SECURITY INVOKER',
          'a SECURITY DEFINER function in PL/pgSQL of a role that reads the table in clear, for whoever may call it');
SELECT is((SELECT path FROM found WHERE kind = 'other policy' AND object = 'gov_pa.customer'),
          'policy everyone on gov_pa.customer was not made by concord: it shows rows concord''s row policies do not', 'a policy concord did not make');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'row security off' AND role = 'tap_gov_pa_owner'),
          'row security is not forced on gov_pa.customer: its owner reads every row | ALTER TABLE gov_pa.customer ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
          'row security not forced');
SELECT is((SELECT path FROM found WHERE kind = 'trigger disabled'),
          'trigger concord_unmask on gov_pa.customer is disabled: a writer can change who sees a masked value and read it', 'a disabled trigger');
SELECT is((SELECT path || ' | ' || fix FROM found WHERE kind = 'parent without policies' AND role = 'tap_gov_pa_analyst'),
          'gov_pa.orders_2020 is a child of gov_pa.orders, which has no row policies: whoever reads gov_pa.orders reads gov_pa.orders_2020''s rows through it | Define the row policies and masks on gov_pa.orders (they then cover gov_pa.orders_2020 too)',
          'a parent without the child''s row policies');
SELECT is((SELECT path FROM found WHERE kind = 'governed view' AND role = 'tap_gov_pa_rep'),
          'governed view gov_pa.customer_governed is not a security_barrier view: a function of its reader''s in WHERE sees clear values before the masks',
          'a governed view that is no longer a security barrier');
SELECT is((SELECT string_agg(DISTINCT kind, ', ' ORDER BY kind) FROM found),
          'bypassrls, governed view, grant, materialized view, other policy, parent without policies, plain view, read all data, row security off, rule, security definer function, superuser, table owner, trigger disabled',
          'and nothing else');
SELECT is((SELECT string_agg(DISTINCT j ->> 'kind', ', ' ORDER BY j ->> 'kind')
             FROM jsonb_array_elements(concord.explain_access('tap_gov_pa_analyst', 'gov_pa.customer') -> 'bypass') j),
          'governed view, grant, other policy, plain view, security definer function, trigger disabled',
          'explain_access lists the paths the analyst can take around this table');

-- each is fixed as it says, one at a time, and the guard holds again
SELECT is((SELECT string_agg(kind || ': ' || pg_temp.run('postgres', fix), ', ' ORDER BY kind)
             FROM (SELECT DISTINCT kind, fix FROM found
                    WHERE kind IN ('grant', 'row security off', 'trigger disabled', 'security definer function', 'governed view')
                      AND object LIKE 'gov\_pa.%') f),
          'governed view: ok, grant: ok, row security off: ok, security definer function: ok, security definer function: ok, trigger disabled: ok',
          'the fixes of the governed view, the grant, row security, the functions and the trigger run, one by one');
SELECT is(pg_temp.run('postgres', 'DROP VIEW gov_pa.v_phones; DROP MATERIALIZED VIEW gov_pa.mv; DROP RULE r_leak ON gov_pa.log;
                                   DROP POLICY everyone ON gov_pa.customer; REVOKE pg_read_all_data FROM tap_gov_pa_backup;
                                   ALTER ROLE tap_gov_pa_bypass NOBYPASSRLS; REVOKE tap_gov_pa_owner FROM tap_gov_pa_dba;
                                   REVOKE tap_gov_pa_bypass_grp FROM tap_gov_pa_rep'),
          'ok', 'and the rest');
SELECT is((SELECT string_agg(DISTINCT kind, ', ') FROM concord.governance_check() WHERE governed = 'gov_pa.customer'::regclass),
          'superuser', 'then only the superuser''s path is left');
SELECT is(pg_temp.run('tap_gov_pa_analyst', 'SELECT phone FROM gov_pa.customer'), '42501: permission denied for table customer',
          'the analyst cannot read the table');
SELECT is(pg_temp.one('tap_gov_pa_analyst', 'SELECT count(*)::text FROM gov_pa.customer_governed'), '0',
          'and through the governed view she, no member, sees no row');
SELECT is(pg_temp.run('postgres', 'SET ROLE tap_gov_pa_owner; ALTER TABLE gov_pa.customer DISABLE TRIGGER concord_unmask'),
          '42501: refused: DISABLE TRIGGER concord_unmask on gov_pa.customer, which has concord''s triggers',
          'disabling concord''s trigger is refused');
SELECT is(pg_temp.run('postgres', 'SET ROLE tap_gov_pa_owner; ALTER TABLE gov_pa.customer DISABLE TRIGGER ALL'),
          '42501: refused: DISABLE TRIGGER ALL on gov_pa.customer, which has concord''s triggers',
          'and so are all of them');
SELECT is(pg_temp.run('postgres', $$CREATE TABLE gov_pa.orders_2021 (id int, region text, amount numeric);
                                    SELECT concord.row_policy_create('tap_gov_pa_2021', 'gov_pa.orders_2021', 'region = concord.member(''region'')');
                                    ALTER TABLE gov_pa.orders_2021 INHERIT gov_pa.orders$$),
          '42501: refused: gov_pa.orders_2021 is a child of gov_pa.orders, which has no row policies: whoever reads gov_pa.orders reads gov_pa.orders_2021''s rows through it',
          'making a governed table the child of one without its policies is refused');

SELECT * FROM finish();
DROP TABLE found;
SELECT pg_temp.clean_up('gov_pa', 'tap_gov_pa_', :'roles', false) IS NULL AS clean \gset
