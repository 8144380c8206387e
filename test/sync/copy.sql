-- sync: pages of new rows go in by COPY, with what an INSERT would do --
-- triggers fire, constraints hold, a bad record is rejected alone, a key
-- repeated in a page loads once -- and never where COPY would not see
-- what an INSERT sees: a table with row-level security for the caller, or
-- rules, is loaded by upsert.  In a transaction rolled back (its role too).
BEGIN;
SELECT plan(10);
\ir setup.psql

SELECT pg_temp.stub('/sync/cp/reset', '{"n": 30, "bad_records": [
  {"kind": "customers", "id": 7, "field": "lifetime_value", "value": -5},
  {"kind": "customers", "id": 12, "field": "id", "value": 11}]}') ->> 'ok' AS r \gset

-- a table with a trigger and a check constraint
CREATE TABLE sync_test.cp (id bigint PRIMARY KEY, name text, lifetime_value numeric(12,2) CHECK (lifetime_value >= 0),
                           loaded_by text);
CREATE TABLE sync_test.cp_audit (id bigint, op text);
CREATE FUNCTION sync_test.cp_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.loaded_by := 'trigger';
  INSERT INTO sync_test.cp_audit VALUES (NEW.id, TG_OP);
  RETURN NEW;
END $$;
CREATE TRIGGER cp_note BEFORE INSERT ON sync_test.cp FOR EACH ROW EXECUTE FUNCTION sync_test.cp_note();
SELECT concord.source_create('cp', pg_temp.spec('cp', 'customers', 'page', '{
  "target": {"table": "sync_test.cp"},
  "columns": [{"name": "id"}, {"name": "name"}, {"name": "lifetime_value"}]}')) IS NOT NULL AS c \gset

SELECT is(pg_temp.sync('cp'), 'ok', 'a first load into an empty table');
SELECT results_eq($$SELECT records, inserted, updated, rejected FROM pg_temp.last_run('cp')$$,
  $$VALUES (30::bigint, 28::bigint, 1::bigint, 1::bigint)$$,
  '28 inserted, record 12 (carrying key 11 again in the same page) updates 11, record 7 breaks the check');
SELECT results_eq($$SELECT record ->> 'id', error_code FROM concord.sync_reject WHERE source = 'cp'$$,
  $$VALUES ('7', '23514')$$, 'the negative value is rejected alone, with its SQLSTATE');
SELECT is((SELECT count(*)::int FROM sync_test.cp WHERE loaded_by = 'trigger'), 28, 'the BEFORE INSERT trigger set every row');
SELECT is((SELECT count(*)::int FROM sync_test.cp_audit), 29, 'and ran for each insert (28, and 11 first inserted then updated)');

-- row-level security for the caller: never COPY
CREATE ROLE tap_cp_member;
GRANT concord_sync TO tap_cp_member;
GRANT USAGE ON SCHEMA sync_test TO tap_cp_member;
CREATE TABLE sync_test.cp_rls (id bigint PRIMARY KEY, name text, region text);
GRANT SELECT, INSERT, UPDATE ON sync_test.cp_rls TO tap_cp_member;
ALTER TABLE sync_test.cp_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY cp_east_read ON sync_test.cp_rls FOR SELECT USING (true);
CREATE POLICY cp_east ON sync_test.cp_rls FOR INSERT WITH CHECK (region = '华东');
SET LOCAL ROLE tap_cp_member;
SELECT concord.source_create('cp_rls', pg_temp.spec('cp', 'customers', 'page', '{
  "target": {"table": "sync_test.cp_rls"},
  "columns": [{"name": "id"}, {"name": "name"}, {"name": "region"}]}')) IS NOT NULL AS c \gset
SELECT matches(pg_temp.sync('cp_rls'), '^42501: new row violates row-level security policy for table "cp_rls"$',
  'a member whose INSERT policy refuses a row: the run fails as her INSERT would (COPY would have ignored the policy)');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM sync_test.cp_rls), 0, 'nothing went in past the policy');
DROP POLICY cp_east ON sync_test.cp_rls;
CREATE POLICY cp_all ON sync_test.cp_rls FOR INSERT WITH CHECK (true);
CREATE POLICY cp_all_up ON sync_test.cp_rls FOR UPDATE USING (true);
SET LOCAL ROLE tap_cp_member;
SELECT is(pg_temp.sync('cp_rls'), 'ok', 'with a policy that lets every row in, the run loads (by upsert)');
RESET ROLE;

-- a rule added after the source was made: the run refuses (an upsert
-- cannot go through rules), rather than COPY going past it
CREATE TABLE sync_test.cp_rule (id bigint PRIMARY KEY, name text);
CREATE TABLE sync_test.cp_rule_log (id bigint);
SELECT concord.source_create('cp_rule', pg_temp.spec('cp', 'customers', 'page', '{
  "target": {"table": "sync_test.cp_rule"}, "columns": [{"name": "id"}, {"name": "name"}]}')) IS NOT NULL AS c \gset
CREATE RULE cp_log AS ON INSERT TO sync_test.cp_rule DO ALSO INSERT INTO sync_test.cp_rule_log VALUES (NEW.id);
SELECT is(pg_temp.sync('cp_rule'),
  '0A000: cannot load table sync_test.cp_rule: INSERT with ON CONFLICT clause cannot be used with table that has INSERT or UPDATE rules',
  'a table given an ON INSERT rule after its source: the run refuses it');
SELECT is((SELECT count(*)::int FROM sync_test.cp_rule) + (SELECT count(*)::int FROM sync_test.cp_rule_log), 0,
  'nothing went in around the rule');

SELECT * FROM finish();
ROLLBACK;
