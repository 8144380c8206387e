-- concord.member() keeps its answer for the rest of a statement (on a
-- Citus table a policy calls it per row, docs/scaling.md), but never past
-- what could change it: the user, the transaction's own writes, a commit
-- elsewhere.  One DO block is one statement; a second session (dblink)
-- commits a change in its middle.  Committed setup, removed at the end.
SET client_min_messages = warning;
\ir setup.psql
\set roles '{tap_ma_rep}'
SELECT pg_temp.clean_up('ma_test', 'tap_ma', :'roles', true) IS NULL AS clean \gset
SELECT plan(6);

SELECT concord.department_create('tap_ma') AS d \gset
SELECT concord.member_create('tap_ma_rep', 'tap_ma', NULL, '{"region": "华东"}') AS m \gset
CREATE TEMP TABLE ma (step text, region text, is_member boolean);
GRANT ALL ON ma TO tap_ma_rep;
SELECT dblink_connect('t_ma', current_setting('concord_test.conn')) AS c \gset

DO $$
DECLARE
  before text; again text; elsewhere text; own text; pg text; pg_in boolean; in_before boolean;
BEGIN
  -- (no write before the last question: a write would by itself make
  -- the next question a new one)
  SET LOCAL ROLE tap_ma_rep;
  before := concord.member('region');
  in_before := concord.member_in('tap_ma');
  again := concord.member('region');
  RESET ROLE;
  pg := concord.member('region');
  pg_in := concord.member_in('tap_ma');
  -- another session moves the rep to 华北 and commits
  PERFORM * FROM dblink('t_ma', $q$SELECT concord.member_create('tap_ma_rep', 'tap_ma', NULL, '{"region": "华北"}')$q$) AS t(r text);
  SET LOCAL ROLE tap_ma_rep;
  elsewhere := concord.member('region');
  RESET ROLE;
  -- this statement's own change
  PERFORM concord.member_create('tap_ma_rep', 'tap_ma', NULL, '{"region": "华南"}');
  SET LOCAL ROLE tap_ma_rep;
  own := concord.member('region');
  RESET ROLE;
  INSERT INTO ma VALUES ('before', before, in_before), ('asked again', again, NULL),
    ('as postgres', pg, pg_in), ('after a commit elsewhere', elsewhere, NULL), ('after its own change', own, NULL);
END $$;

SELECT is((SELECT region || '/' || is_member FROM ma WHERE step = 'before'), '华东/true', 'the rep''s region');
SELECT is((SELECT region FROM ma WHERE step = 'asked again'), '华东', 'asked again in the same statement: the same');
SELECT is((SELECT region FROM ma WHERE step = 'after a commit elsewhere'), '华北',
          'a move committed by another session between two queries of the statement: the new region, not a kept answer');
SELECT is((SELECT region FROM ma WHERE step = 'after its own change'), '华南', 'the statement''s own change: seen at once');
SELECT is((SELECT coalesce(region, 'none') || '/' || is_member FROM ma WHERE step = 'as postgres'), 'none/false',
          'another user in the same statement: its own answer, not the rep''s');
SELECT is(pg_temp.as_role('tap_ma_rep', $$SELECT concord.member('region')$$)::text, '华南', 'the rep''s next session: 华南');

SELECT * FROM finish();
SELECT dblink_disconnect('t_ma') AS d \gset
DROP TABLE ma;
SELECT pg_temp.clean_up('ma_test', 'tap_ma', :'roles', false) IS NULL AS clean \gset
