/* concord — policy: time-bound access and explain_access.  Joined into concord--<version>.sql
 * by the Makefile after audit.sql. */

-- Time-bound exceptions: a member asks to see rows her row policies do
-- not show (who, what, why, until); a member with approval rights who is
-- not she approves; the rows are hers until the time is up -- checked
-- at every row read, against the clock, so no job has to run for the
-- grant to end and a cursor opened before the end shows no row read after
-- it.  access_tidy() removes what has expired.  Every step is an audit
-- entry.
CREATE TABLE @extschema@.access_request (
  id            bigserial PRIMARY KEY,
  role_name     text NOT NULL,
  table_name    regclass NOT NULL,
  predicate     text NOT NULL,
  compiled      text NOT NULL,
  reason        text NOT NULL CHECK (btrim(reason) <> ''),
  valid_until   timestamptz NOT NULL,
  status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected', 'expired')),
  requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  decided_by    text,
  decided_at    timestamptz
);
COMMENT ON TABLE @extschema@.access_request IS
  'Requests for time-bound access to rows beyond a member''s row policies: who, which rows (a predicate), why, until when, and who decided';
COMMENT ON COLUMN @extschema@.access_request.id IS 'The request''s number (access_approve and access_reject take it)';
COMMENT ON COLUMN @extschema@.access_request.role_name IS 'The member who asked';
COMMENT ON COLUMN @extschema@.access_request.table_name IS 'The table whose rows she asked to see';
COMMENT ON COLUMN @extschema@.access_request.predicate IS 'Which rows, as she wrote them';
COMMENT ON COLUMN @extschema@.access_request.compiled IS 'Which rows, as checked by the parser and the allowlist (what the grant''s policy uses)';
COMMENT ON COLUMN @extschema@.access_request.reason IS 'Why she asked';
COMMENT ON COLUMN @extschema@.access_request.valid_until IS 'When the access ends (at most 90 days after the request)';
COMMENT ON COLUMN @extschema@.access_request.status IS 'requested, approved, rejected or expired';
COMMENT ON COLUMN @extschema@.access_request.requested_at IS 'When she asked';
COMMENT ON COLUMN @extschema@.access_request.decided_by IS 'The approver who decided, once decided';
COMMENT ON COLUMN @extschema@.access_request.decided_at IS 'When it was decided';
-- (its row policy, access_request_visible, follows access_may_decide below)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request_id_seq', '');

-- Until when grant id shows its rows: valid_until if it is approved,
-- -infinity otherwise.  In C (guard.c): access_request is read as its
-- owner.  A grant's policy asks it once per query and compares it with the
-- clock at every row read, so the rows end at valid_until, also in the
-- middle of a statement or of a cursor opened before it.
CREATE FUNCTION @extschema@.access_until(id bigint)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'concord_access_until'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.access_until(bigint) IS
  'Until when an access grant shows its rows: its end if it is approved, -infinity otherwise';

-- Whether grant id is approved and not yet expired at the start of the
-- current statement.
CREATE FUNCTION @extschema@.access_active(id bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.statement_timestamp() OPERATOR(pg_catalog.<) @extschema@.access_until(id);
COMMENT ON FUNCTION @extschema@.access_active(bigint) IS
  'Whether an access grant is approved and still valid at the start of the current statement';

-- The policy of approved grant id: the requester's rows where the
-- predicate holds, each row checked against the clock when it is read.
CREATE FUNCTION @extschema@.access_grant_condition(id bigint, role_name text, compiled text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN format('current_user = %L AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.<) (SELECT %s.access_until(%s)) AND (%s)',
              role_name, '@extschema@', id, compiled);
COMMENT ON FUNCTION @extschema@.access_grant_condition(bigint, text, text) IS
  'Internal: the condition of an approved access grant''s policy concord_grant_<id>';

-- May who decide request id?  An approver ({"approver": true}) of the
-- requester's department or one above it, who is not the requester.
CREATE FUNCTION @extschema@.access_may_decide(who regrole, id bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN @extschema@.manages(who, 0::pg_catalog.oid::pg_catalog.regrole) OR EXISTS (
  SELECT 1 FROM @extschema@.access_request r
    JOIN @extschema@.member req ON req.role_name OPERATOR(pg_catalog.=) r.role_name
    JOIN @extschema@.member apr ON apr.role_name OPERATOR(pg_catalog.=) who::pg_catalog.text
   WHERE r.id OPERATOR(pg_catalog.=) access_may_decide.id
     AND coalesce((apr.attributes OPERATOR(pg_catalog.->>) 'approver') OPERATOR(pg_catalog.=) 'true', false)
     AND r.role_name OPERATOR(pg_catalog.<>) who::pg_catalog.text
     AND apr.department OPERATOR(pg_catalog.=) ANY (ARRAY(
           WITH RECURSIVE up(n, depth) AS (
             SELECT req.department, 0 UNION ALL
             SELECT d.parent, up.depth OPERATOR(pg_catalog.+) 1 FROM @extschema@.department d
               JOIN up ON d.name OPERATOR(pg_catalog.=) up.n WHERE d.parent IS NOT NULL AND up.depth OPERATOR(pg_catalog.<) 64)
           SELECT up.n FROM up)));
COMMENT ON FUNCTION @extschema@.access_may_decide(regrole, bigint) IS
  'Whether the role may decide the access request: an approver ({"approver": true}) of the requester''s department or one above it, not the requester (or concord_admin, or a superuser)';

-- Whether the current user may decide request id, asked as concord's
-- owner (members may read neither members nor departments).  In C
-- (guard.c); about the current user only.
CREATE FUNCTION @extschema@.access_visible(id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_access_visible'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.access_visible(bigint) IS
  'Whether the current user may decide the access request (access_may_decide, asked as concord''s owner): the row policy on access_request shows it to her then';
-- (access_may_decide itself is the API's: anyone who could call it could
-- ask which requests another role may decide, which is which exist)
REVOKE EXECUTE ON FUNCTION @extschema@.access_may_decide(regrole, bigint) FROM PUBLIC;

-- A request is seen by its requester and by those who may decide it.
ALTER TABLE @extschema@.access_request ENABLE ROW LEVEL SECURITY;
CREATE POLICY access_request_visible ON @extschema@.access_request FOR SELECT
  USING (role_name OPERATOR(pg_catalog.=) current_user::pg_catalog.text
         OR @extschema@.manages(pg_catalog.to_regrole(current_user), 0::pg_catalog.oid::pg_catalog.regrole)
         OR @extschema@.access_visible(id));
GRANT SELECT ON @extschema@.access_request TO PUBLIC;

CREATE FUNCTION @extschema@.access_request(tbl regclass, predicate text, reason text, valid_until timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me text := @extschema@.caller()::text;
  compiled text;
  id bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.member m WHERE m.role_name OPERATOR(pg_catalog.=) me) THEN
    RAISE EXCEPTION 'role "%" is no member: only members request access', me
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF tbl IS NULL OR predicate IS NULL OR reason IS NULL OR btrim(reason) OPERATOR(pg_catalog.=) '' OR valid_until IS NULL THEN
    RAISE EXCEPTION 'an access request needs a table, which rows, a reason and an end'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() OR valid_until OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '90 days') THEN
    RAISE EXCEPTION 'access must end within 90 days from now, not at %', valid_until
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  compiled := @extschema@.policy_predicate(tbl, predicate);
  INSERT INTO @extschema@.access_request AS r (role_name, table_name, predicate, compiled, reason, valid_until)
  VALUES (me, tbl, predicate, compiled, reason, valid_until)
  RETURNING r.id INTO id;
  PERFORM @extschema@.audit_record('access_request', id::text, NULL,
    jsonb_build_object('role', me, 'table', tbl::text, 'rows', predicate, 'reason', reason, 'until', valid_until));
  RETURN id;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_request(regclass, text, text, timestamptz) IS
  'A member asks to see more rows of a table (a predicate) for a reason until a time (at most 90 days); returns the request''s id';

CREATE FUNCTION @extschema@.access_decide(id bigint, approve boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  r @extschema@.access_request;
BEGIN
  IF approve IS NULL THEN
    RAISE EXCEPTION 'approve must be true or false' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- rights first: whoever may not decide it learns nothing about it
  IF NOT @extschema@.access_may_decide(me, id) THEN
    IF EXISTS (SELECT 1 FROM @extschema@.access_request a WHERE a.id OPERATOR(pg_catalog.=) access_decide.id AND a.role_name OPERATOR(pg_catalog.=) me::text) THEN
      RAISE EXCEPTION 'role "%" may not decide its own access request', me USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'role "%" may not decide access request %', me, id
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Approvers are members with the attribute {"approver": true}, of the requester''s department or one above it.';
  END IF;
  SELECT * INTO r FROM @extschema@.access_request a WHERE a.id OPERATOR(pg_catalog.=) access_decide.id FOR UPDATE;
  IF r.id IS NULL THEN
    RAISE EXCEPTION 'no access request %', id USING ERRCODE = 'no_data_found';
  END IF;
  IF r.role_name OPERATOR(pg_catalog.=) me::text THEN
    RAISE EXCEPTION 'role "%" may not decide its own access request', me USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF r.status OPERATOR(pg_catalog.<>) 'requested' THEN
    RAISE EXCEPTION 'access request % is already %', id, r.status USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF r.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
    RAISE EXCEPTION 'access request % expired at %', id, r.valid_until USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE @extschema@.access_request a
     SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END, decided_by = me::text, decided_at = pg_catalog.now()
   WHERE a.id OPERATOR(pg_catalog.=) r.id;
  IF approve THEN
    -- a policy of its own: her rows, while the grant lasts
    EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR SELECT TO PUBLIC USING (%s)',
                   'concord_grant_' OPERATOR(pg_catalog.||) r.id, r.table_name, @extschema@.access_grant_condition(r.id, r.role_name, r.compiled));
  END IF;
  PERFORM @extschema@.audit_record(CASE WHEN approve THEN 'access_approve' ELSE 'access_reject' END, id::text);
  RETURN CASE WHEN approve THEN 'approved' ELSE 'rejected' END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_decide(bigint, boolean) IS
  'Approves or rejects an access request; by an approver ({"approver": true}) of the requester''s department or one above it, who is not the requester';

CREATE FUNCTION @extschema@.access_approve(id bigint) RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN @extschema@.access_decide(id, true);
COMMENT ON FUNCTION @extschema@.access_approve(bigint) IS 'Approves an access request (see access_decide)';
CREATE FUNCTION @extschema@.access_reject(id bigint) RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN @extschema@.access_decide(id, false);
COMMENT ON FUNCTION @extschema@.access_reject(bigint) IS 'Rejects an access request (see access_decide)';

-- Expired grants: marked expired, their policies dropped.  Nothing depends
-- on it running (an expired grant already shows nothing).
CREATE FUNCTION @extschema@.access_tidy()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (DROP ... IF EXISTS of what is not there yet is no news)
SET client_min_messages = warning
-- (no waiting for a busy table's lock: see below)
SET lock_timeout = '50ms'
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  r record;
  n integer := 0;
BEGIN
  -- An expired grant already shows nothing (its policy asks access_active
  -- at every statement): marking it expired needs no DDL.  Its policy is
  -- dropped only if that takes no wait -- a DROP POLICY queued behind a
  -- long read would hold up every read after it -- else at a later round.
  FOR r IN UPDATE @extschema@.access_request a SET status = 'expired'
            WHERE a.status OPERATOR(pg_catalog.=) ANY (ARRAY['approved', 'requested']) AND a.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now()
           RETURNING a.id LOOP
    PERFORM @extschema@.audit_record('access_expire', r.id::text);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  FOR r IN SELECT a.id, a.table_name FROM @extschema@.access_request a
            JOIN pg_catalog.pg_policy p ON p.polrelid OPERATOR(pg_catalog.=) a.table_name
                                       AND p.polname OPERATOR(pg_catalog.=) ('concord_grant_' OPERATOR(pg_catalog.||) a.id)
           WHERE a.status OPERATOR(pg_catalog.=) ANY (ARRAY['expired', 'rejected']) LOOP
    BEGIN
      EXECUTE format('DROP POLICY IF EXISTS %I ON %s', 'concord_grant_' OPERATOR(pg_catalog.||) r.id, r.table_name);
    EXCEPTION WHEN lock_not_available THEN
      NULL;   -- the table is busy: next round
    END;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.access_tidy() IS
  'Marks expired access requests and grants expired and drops their policies; returns how many';

-- What a role would see of a table: the policies, masks and write rules
-- that apply, and the rows and a sample as that role sees them -- read as
-- that role (SET ROLE inside a subtransaction that is then rolled back),
-- not recomputed by hand.  Through the governed view if the table has
-- one (what members read), else the table.
CREATE FUNCTION @extschema@.explain_access(role_name text, tbl regclass, sample integer DEFAULT 5)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  src text;
  n bigint;
  rows jsonb;
  failure text;
BEGIN
  IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = explain_access.role_name) THEN
    RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = 'undefined_object';
  END IF;
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'explain_access needs a table' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF sample IS NULL OR sample < 0 OR sample > 100 THEN
    RAISE EXCEPTION 'sample must be between 0 and 100 rows, not %', sample USING ERRCODE = 'invalid_parameter_value';
  END IF;
  src := coalesce((SELECT format('%I.%I', n.nspname, c.relname || '_governed')
                     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = tbl AND pg_catalog.to_regclass(format('%I.%I', n.nspname, c.relname || '_governed')) IS NOT NULL),
                  tbl::text);
  BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role_name);
    BEGIN
      EXECUTE format('SELECT count(*) FROM %s', src) INTO n;
      EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(s)), ''[]'') FROM (SELECT * FROM %s LIMIT %s) s', src, sample) INTO rows;
    EXCEPTION WHEN insufficient_privilege THEN
      failure := SQLERRM;
    END;
    -- (undo SET ROLE and anything the reads did)
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'concord.explain_access: done';
  EXCEPTION WHEN raise_exception THEN
    IF SQLERRM <> 'concord.explain_access: done' THEN
      RAISE;
    END IF;
  END;
  RETURN jsonb_build_object(
    'role', role_name,
    'table', tbl::text,
    'read_through', src,
    'member', (SELECT jsonb_build_object('department', m.department, 'title', m.title, 'attributes', m.attributes)
                 FROM @extschema@.member m WHERE m.role_name = explain_access.role_name),
    -- (the groups whose privileges it has, as member() counts them: a
    -- membership it does not inherit counts only once it SET ROLEs)
    'groups', (WITH RECURSIVE mine(oid) AS (
                 SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = explain_access.role_name
                 UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN mine ON a.member = mine.oid)
               SELECT coalesce(jsonb_agg(jsonb_build_object('group', m.role_name, 'department', m.department,
                                                            'attributes', m.attributes) ORDER BY m.role_name), '[]')
                 FROM @extschema@.member m JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name
                 JOIN mine ON mine.oid = r.oid
                WHERE m.role_name <> explain_access.role_name
                  AND pg_catalog.pg_has_role(explain_access.role_name::pg_catalog.name, r.oid, 'USAGE')),
    'row_policies', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', p.name, 'predicate', p.compiled) ORDER BY p.name), '[]')
                       FROM @extschema@.row_policy p WHERE p.table_name = tbl),
    'masks', (SELECT coalesce(jsonb_agg(jsonb_build_object('column', m.column_name, 'mask', m.compiled_mask,
                                                           'clear_for', m.compiled_visible) ORDER BY m.column_name), '[]')
                FROM @extschema@.column_mask m WHERE m.table_name = tbl),
    'write_rules', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', w.name, 'columns', w.columns,
                                                                 'operations', w.operations, 'condition', w.compiled) ORDER BY w.name), '[]')
                      FROM @extschema@.write_rule w WHERE w.table_name = tbl),
    'grants', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'rows', a.compiled, 'until', a.valid_until) ORDER BY a.id), '[]')
                 FROM @extschema@.access_request a WHERE a.table_name = tbl AND a.role_name = explain_access.role_name
                  AND a.status = 'approved' AND a.valid_until > pg_catalog.now()),
    'rows', n,
    'sample', rows,
    'refused', failure,
    -- the ways around the governance of this table this role can take
    -- (governance_check), as {kind, object, path, fix}
    'bypass', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', g.kind, 'object', g.object, 'path', g.path, 'fix', g.fix)
                                         ORDER BY g.kind, g.object), '[]')
                 FROM (SELECT DISTINCT c.kind, c.object, c.path, c.fix
                         FROM @extschema@.governance_check() c
                        WHERE c.governed = tbl
                          AND (c.role = 'PUBLIC' OR c.role = explain_access.role_name
                               OR pg_catalog.pg_has_role(explain_access.role_name::pg_catalog.name, c.role::pg_catalog.name, 'MEMBER'))) g));
END
$fn$;
COMMENT ON FUNCTION @extschema@.explain_access(text, regclass, integer) IS
  'What a role would see of a table: its membership, the row policies, masks, write rules and grants that apply, the row count and a sample read as that role (in a subtransaction rolled back afterwards), and the ways around the table''s governance it can take (bypass, from governance_check)';

SELECT @extschema@.grant_routines('concord_policy', ARRAY['access_tidy()', 'explain_access(text, regclass, integer)']);
