/* concord — policy: governance that holds on every path.  Joined into
 * concord--<version>.sql by the Makefile after the policy component's
 * other parts.
 *
 * PostgreSQL lets a table's row policies and concord's masks be walked
 * around: a partition or an inheritance child has row security of its own
 * (none), a grant made later on a masked table reads it in clear, so does
 * a column grant, a plain view its owner made, a materialized view; a
 * superuser, a BYPASSRLS role, pg_read_all_data and the table's owner are
 * not bound the way members are.  concord
 *  - repairs what it can, as it happens (an event trigger at the end of
 *    every DDL statement): parts of governed tables get their row policies
 *    and row security, grants on masked tables move to the governed view;
 *  - refuses what would open a way around, with the fix in the hint: a
 *    plain or materialized view (or a rule) over masked columns, row
 *    security or concord's triggers switched off on a governed table,
 *    concord's own policies and triggers changed or dropped by hand;
 *  - lists every way around that is left, and those it cannot close
 *    (superusers, BYPASSRLS, pg_read_all_data, the owner), with a fix for
 *    each: concord.governance_check();
 *  - audits every change to its governance tables, whichever way it is
 *    made. */

CREATE FUNCTION @extschema@.guard_internal()
RETURNS boolean
AS 'MODULE_PATHNAME', 'concord_guard_internal'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.guard_internal() IS
  'Whether the running statement is concord''s own (one of its API functions running as its owner, or DROP EXTENSION concord): the governance guard leaves it alone';

CREATE FUNCTION @extschema@.guard_actions(cmd pg_ddl_command)
RETURNS TABLE (action text, target oid, name text)
AS 'MODULE_PATHNAME', 'concord_guard_actions'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.guard_actions(pg_ddl_command) IS
  'What an ALTER TABLE reported to an event trigger does that the governance guard judges: row security or triggers switched off, a partition attached, a parent inherited';

CREATE FUNCTION @extschema@.expr_columns(tbl regclass, expr text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'concord_expr_columns'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.expr_columns(regclass, text) IS
  'The columns of the table a condition concord compiled reads, in column order';
REVOKE EXECUTE ON FUNCTION @extschema@.expr_columns(regclass, text) FROM PUBLIC;

-- Every relation below a table (partitions and inheritance children, and
-- theirs), with how far down and whether it is a partition.
CREATE FUNCTION @extschema@.relation_parts(tbl regclass)
RETURNS TABLE (part regclass, depth integer, is_partition boolean, kind "char")
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH RECURSIVE down(rel, depth) AS (
    SELECT i.inhrelid, 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
    UNION ALL
    SELECT i.inhrelid, d.depth OPERATOR(pg_catalog.+) 1 FROM down d
      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) d.rel
     WHERE d.depth OPERATOR(pg_catalog.<) 32)
  SELECT DISTINCT ON (d.rel) d.rel::pg_catalog.regclass, d.depth, c.relispartition, c.relkind
    FROM down d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.rel
   ORDER BY d.rel, d.depth;
END;
COMMENT ON FUNCTION @extschema@.relation_parts(regclass) IS
  'The partitions and inheritance children of a table, and theirs, with their depth below it';

-- Every relation above a table (the tables it is a partition or an
-- inheritance child of, and theirs).
CREATE FUNCTION @extschema@.relation_ancestors(tbl regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH RECURSIVE up(rel, depth) AS (
    SELECT i.inhparent, 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl
    UNION ALL
    SELECT i.inhparent, up.depth OPERATOR(pg_catalog.+) 1 FROM up
      JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) up.rel
     WHERE up.depth OPERATOR(pg_catalog.<) 32)
  SELECT DISTINCT up.rel::pg_catalog.regclass FROM up;
END;
COMMENT ON FUNCTION @extschema@.relation_ancestors(regclass) IS
  'The tables a table is a partition or an inheritance child of, and theirs';

-- The relations concord governs: each table with row policies or masks
-- (root), and each of its parts (rel), with what governs it and the
-- table's owner.
CREATE FUNCTION @extschema@.governed_relations()
RETURNS TABLE (rel regclass, root regclass, rowed boolean, masked boolean, owner oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH gov AS (
    SELECT g.t, pg_catalog.bool_or(g.rowed) AS rowed, pg_catalog.bool_or(g.masked) AS masked
      FROM (SELECT p.table_name AS t, true AS rowed, false AS masked FROM @extschema@.row_policy p
            UNION ALL
            SELECT m.table_name, false, true FROM @extschema@.column_mask m) g
     GROUP BY g.t)
  SELECT g.t, g.t, g.rowed, g.masked, c.relowner FROM gov g JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) g.t
  UNION
  SELECT pt.part, g.t, g.rowed, g.masked, c.relowner
    FROM gov g JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) g.t,
         LATERAL @extschema@.relation_parts(g.t) pt;
END;
COMMENT ON FUNCTION @extschema@.governed_relations()  IS
  'The tables with row policies or masks (root) and their partitions and inheritance children (rel), with what governs them (rowed, masked) and the governed table''s owner';

-- The roles that read a relation: its owner, and whoever holds SELECT on
-- it or on one of its columns (PUBLIC as 'PUBLIC').
CREATE FUNCTION @extschema@.relation_readers(rel regclass)
RETURNS SETOF text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel
  UNION
  SELECT CASE WHEN p.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(p.grantee)::pg_catalog.text END
    FROM @extschema@.relation_privileges(rel) p WHERE p.priv OPERATOR(pg_catalog.=) 'SELECT';
END;
COMMENT ON FUNCTION @extschema@.relation_readers(regclass) IS
  'The roles that may read a relation: its owner and the holders of SELECT on it or on one of its columns (PUBLIC as PUBLIC)';

-- Makes the parts of governed table tbl (partitions, inheritance children,
-- and theirs) as governed as it is: row security on and forced, and a copy
-- of each of its row policies, if it has row policies; no privileges of
-- others on them, if it has masks (its readers read its governed view,
-- which reads the parts through it); concord's row triggers (write rules,
-- audit, stored hashes, the unmasking guard) on inheritance children
-- (PostgreSQL clones row triggers to partitions itself).  Copies carry a
-- comment naming what they copy, so that copies of what is gone are
-- dropped.  Returns what it did, one line each.  A foreign table among the
-- parts is refused: row security cannot cover it.
CREATE FUNCTION @extschema@.governance_sync(tbl regclass)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  rowed boolean;
  masked boolean;
  d record;
  p record;
  t record;
  q text;
  def text;
  mark text;
  moved text[];
  did text[] := '{}';
BEGIN
  IF tbl IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = tbl) THEN
    RETURN did;
  END IF;
  rowed := EXISTS (SELECT 1 FROM @extschema@.row_policy r WHERE r.table_name = tbl);
  masked := EXISTS (SELECT 1 FROM @extschema@.column_mask m WHERE m.table_name = tbl);
  FOR d IN SELECT * FROM @extschema@.relation_parts(tbl) ORDER BY depth, part::text LOOP
    IF d.kind = 'f' AND (rowed OR masked) THEN
      RAISE EXCEPTION '% is a foreign table under governed table %: row security and masks cannot cover it', d.part, tbl
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Keep foreign tables out of a governed table''s partitions and children.';
    END IF;
    IF rowed THEN
      IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.part AND c.relrowsecurity AND c.relforcerowsecurity) THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', d.part);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', d.part);
        did := did || format('row security on %s', d.part);
      END IF;
      FOR p IN SELECT pol.polname, pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) AS qual
                 FROM pg_catalog.pg_policy pol JOIN @extschema@.row_policy r
                   ON r.table_name = tbl AND pol.polname = 'concord_' || r.name
                WHERE pol.polrelid = tbl LOOP
        mark := format('concord: copy of policy %s of %s', p.polname, tbl);
        SELECT pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) INTO q
          FROM pg_catalog.pg_policy pol WHERE pol.polrelid = d.part AND pol.polname = p.polname;
        IF q IS DISTINCT FROM p.qual THEN
          IF q IS NOT NULL THEN
            EXECUTE format('DROP POLICY %I ON %s', p.polname, d.part);
          END IF;
          EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                         p.polname, d.part, p.qual, p.qual);
          EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', p.polname, d.part, mark);
          did := did || format('policy %s on %s', p.polname, d.part);
        END IF;
      END LOOP;
    END IF;
    -- copies of this table's policies it no longer has
    FOR p IN SELECT pol.polname FROM pg_catalog.pg_policy pol
              WHERE pol.polrelid = d.part
                AND pg_catalog.obj_description(pol.oid, 'pg_policy') = format('concord: copy of policy %s of %s', pol.polname, tbl)
                AND NOT EXISTS (SELECT 1 FROM @extschema@.row_policy r WHERE r.table_name = tbl AND 'concord_' || r.name = pol.polname) LOOP
      EXECUTE format('DROP POLICY %I ON %s', p.polname, d.part);
      did := did || format('dropped policy %s on %s', p.polname, d.part);
    END LOOP;
    IF masked THEN
      moved := @extschema@.governed_grants_move(d.part, NULL);
      IF cardinality(moved) > 0 THEN
        RAISE WARNING 'revoked on %, a part of masked table %: %', d.part, tbl, array_to_string(moved, ', ')
          USING DETAIL = 'Whoever may read a part of a masked table reads its clear values; members read the table''s governed view.';
        did := did || format('revoked %s on %s', array_to_string(moved, ', '), d.part);
      END IF;
    END IF;
    IF NOT d.is_partition THEN
      FOR t IN SELECT tg.oid, tg.tgname FROM pg_catalog.pg_trigger tg
                WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal
                  AND (tg.tgname LIKE 'concord\_wr\_%' OR tg.tgname IN ('concord_audit', 'concord_mask_hash', 'concord_unmask')) LOOP
        mark := format('concord: copy of trigger %s of %s', t.tgname, tbl);
        def := pg_catalog.pg_get_triggerdef(t.oid);
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = d.part AND tg.tgname = t.tgname
                          AND pg_catalog.obj_description(tg.oid, 'pg_trigger') = mark
                          AND pg_catalog.pg_get_triggerdef(tg.oid) = pg_catalog.replace(def, format(' ON %s ', tbl), format(' ON %s ', d.part))) THEN
          IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = d.part AND tg.tgname = t.tgname) THEN
            EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, d.part);
          END IF;
          EXECUTE pg_catalog.overlay(def, format(' ON %s ', d.part), pg_catalog.strpos(def, format(' ON %s ', tbl)),
                                     pg_catalog.length(format(' ON %s ', tbl)));
          EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', t.tgname, d.part, mark);
          did := did || format('trigger %s on %s', t.tgname, d.part);
        END IF;
      END LOOP;
      FOR t IN SELECT tg.tgname FROM pg_catalog.pg_trigger tg
                WHERE tg.tgrelid = d.part
                  AND pg_catalog.obj_description(tg.oid, 'pg_trigger') = format('concord: copy of trigger %s of %s', tg.tgname, tbl)
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger o WHERE o.tgrelid = tbl AND o.tgname = tg.tgname) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, d.part);
        did := did || format('dropped trigger %s on %s', t.tgname, d.part);
      END LOOP;
    END IF;
  END LOOP;
  RETURN did;
END
$fn$;
COMMENT ON FUNCTION @extschema@.governance_sync(regclass) IS
  'Internal: makes the partitions and inheritance children of a governed table as governed as it is (row security and copies of its row policies; no privileges of others under a masked table; concord''s triggers on inheritance children); returns what it did';

-- Every way a role can read a hidden row or a masked column's clear value
-- of a governed table (one with row policies or masks), or read around
-- concord otherwise, with the fix.  kind is one of: superuser, bypassrls,
-- read all data, table owner, grant, trigger privilege, references
-- privilege, foreign key, row security off, parent without policies,
-- foreign part, trigger disabled, other policy, plain view, materialized
-- view, rule, governed view, security definer function.  role is a role that can take the path
-- (PUBLIC: every role); object is what it goes through.
CREATE FUNCTION @extschema@.governance_check()
RETURNS TABLE (role text, object text, path text, fix text, governed regclass, kind text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH
under AS (SELECT * FROM @extschema@.governed_relations()),
gov AS (SELECT u.root AS t, u.rowed, u.masked, u.owner FROM under u WHERE u.rel = u.root),
logins AS (
  SELECT r.oid, r.rolname::text AS name, r.rolsuper, r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolcanlogin),
-- roles that can log in, and what they can become
powers AS (
  SELECT l.name, l.rolsuper,
         (SELECT s.rolname::text FROM pg_catalog.pg_roles s
           WHERE s.rolsuper AND s.oid <> l.oid AND pg_catalog.pg_has_role(l.oid, s.oid, 'MEMBER') ORDER BY 1 LIMIT 1) AS super_via,
         CASE WHEN l.rolbypassrls THEN l.name
              ELSE (SELECT b.rolname::text FROM pg_catalog.pg_roles b
                     WHERE b.rolbypassrls AND b.oid <> l.oid AND pg_catalog.pg_has_role(l.oid, b.oid, 'MEMBER') ORDER BY 1 LIMIT 1) END AS bypass_via,
         pg_catalog.pg_has_role(l.oid, 'pg_read_all_data', 'MEMBER') AS read_all,
         l.oid
    FROM logins l),
-- relations that read a governed relation through a rewrite rule (views,
-- materialized views, rules), and which columns
readers_of AS (
  SELECT DISTINCT rw.ev_class AS v, rw.rulename, u.rel, u.root, u.rowed, u.masked, d.refobjsubid AS attnum,
         c.relkind, c.relowner AS vowner,
         coalesce(c.reloptions, '{}') && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'] AS invoker
    FROM pg_catalog.pg_rewrite rw
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = rw.oid
                               AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    JOIN under u ON u.rel = d.refobjid
    JOIN pg_catalog.pg_class c ON c.oid = rw.ev_class
   WHERE rw.ev_class <> d.refobjid),
masked_cols AS (
  SELECT u.rel, u.root, a.attnum, a.attname
    FROM under u JOIN @extschema@.column_mask m ON m.table_name = u.root
    JOIN pg_catalog.pg_attribute a ON a.attrelid = u.rel AND a.attname = m.column_name AND NOT a.attisdropped),
found AS (
  -- superusers (and roles that can become one) pass every policy and read the table itself
  SELECT p.name AS role, g.t::text AS object,
         CASE WHEN p.rolsuper THEN format('superuser: row policies and masks do not bind it, it reads every row of %s in clear', g.t)
              ELSE format('can SET ROLE to superuser %I: row policies and masks do not bind it then', p.super_via) END AS path,
         CASE WHEN p.rolsuper THEN format('Keep superuser logins to administrators; members log in as ordinary roles (ALTER ROLE %I NOSUPERUSER)', p.name)
              ELSE format('REVOKE %I FROM %I', p.super_via, p.name) END AS fix,
         g.t AS governed, 'superuser' AS kind
    FROM gov g, powers p WHERE p.rolsuper OR p.super_via IS NOT NULL
  UNION ALL
  -- BYPASSRLS: every row of a table it may read
  SELECT p.name, g.t::text,
         format('BYPASSRLS%s: row policies do not bind it wherever it may read %s or its parts itself',
                CASE WHEN p.bypass_via <> p.name THEN format(' (through role %I)', p.bypass_via) ELSE '' END, g.t),
         CASE WHEN p.bypass_via = p.name THEN format('ALTER ROLE %I NOBYPASSRLS', p.name) ELSE format('REVOKE %I FROM %I', p.bypass_via, p.name) END,
         g.t, 'bypassrls'
    FROM gov g, powers p WHERE NOT p.rolsuper AND p.super_via IS NULL AND p.bypass_via IS NOT NULL
  UNION ALL
  -- pg_read_all_data reads a masked table itself (row policies still apply)
  SELECT p.name, g.t::text,
         format('pg_read_all_data: reads %s itself, its masked columns in clear (row policies still apply)', g.t),
         format('REVOKE pg_read_all_data FROM %I (it is meant for backups; members read governed views)', p.name),
         g.t, 'read all data'
    FROM gov g, powers p WHERE g.masked AND NOT p.rolsuper AND p.super_via IS NULL AND p.read_all
  UNION ALL
  -- the owner (and whoever can act as it) reads the table itself
  SELECT p.name, g.t::text,
         format('%s: reads %s itself%s, and may change what concord made on it',
                CASE WHEN p.oid = g.owner THEN 'owner of the table' ELSE format('can act as %I, the table''s owner', pg_catalog.pg_get_userbyid(g.owner)) END,
                g.t, CASE WHEN g.masked THEN ', its masked columns in clear' ELSE '' END),
         format('Make the owner a NOLOGIN role without members (REVOKE %I FROM %I); a DBA acts as it when needed', pg_catalog.pg_get_userbyid(g.owner), p.name),
         g.t, 'table owner'
    FROM gov g, powers p
   WHERE NOT p.rolsuper AND p.super_via IS NULL AND pg_catalog.pg_has_role(p.oid, g.owner, 'MEMBER')
  UNION ALL
  -- privileges on a masked table (or a part of one), or on its columns
  SELECT CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(pr.grantee)::text END, u.rel::text,
         format('%s%s on %s: %s', pr.priv, CASE WHEN pr.col IS NULL THEN '' ELSE format(' (%I)', pr.col) END, u.rel,
                CASE WHEN u.rel = u.root THEN 'a masked table, read (or probed, or watched) in clear around its governed view'
                     ELSE format('a part of masked table %s, read in clear', u.root) END),
         format('REVOKE %s%s ON %s FROM %s CASCADE', pr.priv, CASE WHEN pr.col IS NULL THEN '' ELSE format(' (%I)', pr.col) END, u.rel,
                CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(pr.grantee)) END)
         || CASE WHEN u.rel = u.root AND pr.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
                      AND pg_catalog.to_regclass(format('%I.%I', n.nspname, c.relname || '_governed')) IS NOT NULL
                 THEN format('; GRANT %s%s ON %s TO %s', pr.priv, CASE WHEN pr.col IS NULL THEN '' ELSE format(' (%I)', pr.col) END,
                             pg_catalog.to_regclass(format('%I.%I', n.nspname, c.relname || '_governed')),
                             CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(pr.grantee)) END)
                 ELSE '' END,
         u.root, 'grant'
    FROM under u JOIN pg_catalog.pg_class c ON c.oid = u.root JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
         LATERAL @extschema@.relation_privileges(u.rel) pr
   WHERE u.masked AND pr.priv IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REFERENCES', 'TRIGGER')
  UNION ALL
  -- TRIGGER and REFERENCES on a table with row policies
  SELECT CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(pr.grantee)::text END, u.rel::text,
         CASE WHEN pr.priv = 'TRIGGER' THEN format('TRIGGER on %s: a trigger of hers sees every row written to it, hidden ones too', u.rel)
              ELSE format('REFERENCES%s on %s: a foreign key to it tells which keys hidden rows hold', CASE WHEN pr.col IS NULL THEN '' ELSE format(' (%I)', pr.col) END, u.rel) END,
         format('REVOKE %s%s ON %s FROM %s CASCADE', pr.priv, CASE WHEN pr.col IS NULL THEN '' ELSE format(' (%I)', pr.col) END, u.rel,
                CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(pr.grantee)) END),
         u.root, lower(pr.priv) || ' privilege'
    FROM under u, LATERAL @extschema@.relation_privileges(u.rel) pr
   WHERE u.rowed AND NOT u.masked AND pr.priv IN ('REFERENCES', 'TRIGGER')
  UNION ALL
  -- a foreign key to a governed table from one others may write: a write
  -- that names a key succeeds or fails as the key exists, hidden rows
  -- included (PostgreSQL checks foreign keys as the owner, past row security)
  SELECT CASE WHEN pr.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(pr.grantee)::text END,
         k.conrelid::pg_catalog.regclass::text,
         format('foreign key %I of %s references %s: whoever may %s %s learns which keys its hidden rows hold',
                k.conname, k.conrelid::pg_catalog.regclass, u.rel, pr.priv, k.conrelid::pg_catalog.regclass),
         format('Reference a key that tells nothing (a surrogate key), or leave writing %s to those who may see every row of %s',
                k.conrelid::pg_catalog.regclass, u.rel),
         u.root, 'foreign key'
    FROM under u JOIN pg_catalog.pg_constraint k ON k.contype = 'f' AND k.confrelid = u.rel,
         LATERAL @extschema@.relation_privileges(k.conrelid::pg_catalog.regclass) pr
   WHERE u.rowed AND pr.priv IN ('INSERT', 'UPDATE') AND k.conrelid <> u.rel
  UNION ALL
  -- row security off (or not forced) on a table with row policies or a part of one
  SELECT rd.who, u.rel::text,
         format('row security is %s on %s: %s', CASE WHEN c.relrowsecurity THEN 'not forced' ELSE 'off' END, u.rel,
                CASE WHEN c.relrowsecurity THEN 'its owner reads every row' ELSE 'whoever may read it reads every row' END),
         format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', u.rel),
         u.root, 'row security off'
    FROM under u JOIN pg_catalog.pg_class c ON c.oid = u.rel,
         LATERAL (SELECT x AS who FROM @extschema@.relation_readers(u.rel) x
                   WHERE NOT c.relrowsecurity OR x = pg_catalog.pg_get_userbyid(c.relowner)::text) rd
   WHERE u.rowed AND c.relkind IN ('r', 'p') AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
  UNION ALL
  -- a parent that has fewer of the governance: its readers read the child's rows through it
  SELECT rd, pi.inhparent::pg_catalog.regclass::text,
         format('%s is a %s of %s, which has %s: whoever reads %s reads %s''s rows through it%s',
                g.t, CASE WHEN pc.relispartition THEN 'partition' ELSE 'child' END, pi.inhparent::pg_catalog.regclass,
                CASE WHEN g.rowed AND NOT coalesce(pg.rowed, false) THEN 'no row policies' ELSE 'no masks' END,
                pi.inhparent::pg_catalog.regclass, g.t,
                CASE WHEN g.masked AND NOT coalesce(pg.masked, false) THEN ', masked columns in clear' ELSE '' END),
         format('Define the row policies and masks on %s (they then cover %s too)', pi.inhparent::pg_catalog.regclass, g.t),
         g.t, 'parent without policies'
    FROM gov g
    JOIN pg_catalog.pg_class pc ON pc.oid = g.t
    JOIN pg_catalog.pg_inherits pi ON pi.inhrelid = g.t,
         LATERAL (SELECT pg_catalog.bool_or(x.rowed) AS rowed, pg_catalog.bool_or(x.masked) AS masked
                    FROM under x WHERE x.rel = pi.inhparent) pg,
         LATERAL @extschema@.relation_readers(pi.inhparent::pg_catalog.regclass) rd
   WHERE (g.rowed AND NOT coalesce(pg.rowed, false)) OR (g.masked AND NOT coalesce(pg.masked, false))
  UNION ALL
  -- a foreign table among the parts
  SELECT rd, u.rel::text, format('%s is a foreign table under %s: row security and masks cannot cover it', u.rel, u.root),
         format('ALTER TABLE %s DETACH PARTITION %s (or NO INHERIT)', u.root, u.rel), u.root, 'foreign part'
    FROM under u JOIN pg_catalog.pg_class c ON c.oid = u.rel, LATERAL @extschema@.relation_readers(u.rel) rd
   WHERE c.relkind = 'f'
  UNION ALL
  -- concord's triggers switched off
  SELECT 'PUBLIC', u.rel::text,
         format('trigger %s on %s is disabled: %s', t.tgname, u.rel,
                CASE WHEN t.tgname = 'concord_unmask' THEN 'a writer can change who sees a masked value and read it'
                     WHEN t.tgname = 'concord_mask_hash' THEN 'rows written now get no stored hash'
                     WHEN t.tgname = 'concord_audit' THEN 'rows written now are not audited'
                     ELSE 'its write rule is not enforced' END),
         format('ALTER TABLE %s ENABLE TRIGGER %I', u.rel, t.tgname), u.root, 'trigger disabled'
    FROM under u JOIN pg_catalog.pg_trigger t ON t.tgrelid = u.rel
   WHERE NOT t.tgisinternal AND t.tgenabled = 'D'
     AND (t.tgname LIKE 'concord\_wr\_%' OR t.tgname IN ('concord_audit', 'concord_mask_hash', 'concord_unmask'))
  UNION ALL
  -- a policy concord did not make on a table with row policies adds rows
  SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END, u.rel::text,
         format('policy %I on %s was not made by concord: %s', pol.polname, u.rel,
                CASE WHEN pol.polpermissive THEN 'it shows rows concord''s row policies do not' ELSE 'it is restrictive (it only hides rows)' END),
         format('DROP POLICY %I ON %s, and say what it says with concord.row_policy_create', pol.polname, u.rel),
         u.root, 'other policy'
    FROM under u JOIN pg_catalog.pg_policy pol ON pol.polrelid = u.rel, LATERAL unnest(pol.polroles) r
   WHERE u.rowed AND pol.polpermissive AND pol.polcmd IN ('r', '*')
     AND NOT (pol.polname LIKE 'concord\_%'
              AND (EXISTS (SELECT 1 FROM @extschema@.row_policy rp WHERE 'concord_' || rp.name = pol.polname)
                   OR pol.polname ~ '^concord_grant_[0-9]+$'))
  UNION ALL
  -- views, materialized views and rules that read around the governance
  SELECT rd, ro.v::pg_catalog.regclass::text,
         CASE WHEN ro.kind = 'materialized view'
              THEN format('materialized view %s holds what its owner %I read of %s (its rows%s) for all its readers',
                          ro.v::pg_catalog.regclass, pg_catalog.pg_get_userbyid(ro.vowner), ro.rel,
                          CASE WHEN ro.masked THEN ', masked columns in clear' ELSE '' END)
              WHEN ro.kind = 'plain view'
              THEN format('view %s reads %s as its owner %I%s', ro.v::pg_catalog.regclass, ro.rel, pg_catalog.pg_get_userbyid(ro.vowner),
                          CASE WHEN ro.clear THEN ', masked columns in clear' ELSE ', who is not bound by row security: every row' END)
              ELSE format('rule %I on %s reads %s as %I%s', ro.rulename, ro.v::pg_catalog.regclass, ro.rel, pg_catalog.pg_get_userbyid(ro.vowner),
                          CASE WHEN ro.clear THEN ', masked columns in clear' ELSE ', who is not bound by row security: every row' END) END,
         CASE WHEN ro.kind = 'plain view' THEN format('ALTER VIEW %s SET (security_invoker = true), or read %s''s governed view in it', ro.v::pg_catalog.regclass, ro.root)
              WHEN ro.kind = 'materialized view' THEN format('DROP MATERIALIZED VIEW %s (or make it over the governed view, as a role that sees only what its readers may)', ro.v::pg_catalog.regclass)
              ELSE format('DROP RULE %I ON %s', ro.rulename, ro.v::pg_catalog.regclass) END,
         ro.root, ro.kind
    FROM (SELECT r.*, CASE WHEN r.relkind = 'm' THEN 'materialized view' WHEN r.rulename <> '_RETURN' THEN 'rule' ELSE 'plain view' END AS kind,
                 r.masked AND (r.attnum = 0 OR r.attnum IN (SELECT mc.attnum FROM masked_cols mc WHERE mc.rel = r.rel)) AS clear
            FROM readers_of r) ro
    JOIN pg_catalog.pg_roles vo ON vo.oid = ro.vowner
    LEFT JOIN pg_catalog.pg_class gc ON gc.oid = ro.root
    LEFT JOIN pg_catalog.pg_namespace gn ON gn.oid = gc.relnamespace,
         LATERAL @extschema@.relation_readers(ro.v::pg_catalog.regclass) rd
   WHERE NOT (ro.relkind = 'v' AND ro.rulename = '_RETURN' AND ro.invoker)
     -- (the governed view itself)
     AND NOT (ro.relkind = 'v' AND ro.rel = ro.root AND ro.rulename = '_RETURN'
              AND ro.v = pg_catalog.to_regclass(format('%I.%I', gn.nspname, gc.relname || '_governed'))::pg_catalog.oid)
     AND (ro.relkind = 'm' OR ro.clear OR (ro.rowed AND (vo.rolsuper OR vo.rolbypassrls)))
  UNION ALL
  -- a governed view that is no longer a security barrier, or not its table's owner's
  SELECT rd, gv.v::text,
         format('governed view %s %s', gv.v,
                CASE WHEN NOT gv.barrier THEN 'is not a security_barrier view: a function of its reader''s in WHERE sees clear values before the masks'
                     ELSE format('belongs to %I, not to the table''s owner: it reads the table as another role', pg_catalog.pg_get_userbyid(gv.vowner)) END),
         format('SELECT %s.column_mask_create(table_name, column_name, mask, visible_to, stored_column IS NOT NULL) FROM %s.column_mask WHERE table_name = %L::regclass LIMIT 1',
                '@extschema@', '@extschema@', gv.root::text),
         gv.root, 'governed view'
    FROM (SELECT g.t AS root, v.oid::pg_catalog.regclass AS v, v.relowner AS vowner, g.owner,
                 coalesce(v.reloptions, '{}') && ARRAY['security_barrier=true', 'security_barrier=on', 'security_barrier=1'] AS barrier
            FROM gov g JOIN pg_catalog.pg_class c ON c.oid = g.t
            JOIN pg_catalog.pg_class v ON v.relnamespace = c.relnamespace AND v.relname = c.relname || '_governed' AND v.relkind = 'v'
           WHERE g.masked) gv,
         LATERAL @extschema@.relation_readers(gv.v) rd
   WHERE NOT gv.barrier OR gv.vowner <> gv.owner
  UNION ALL
  -- SECURITY DEFINER functions with a body of SQL that read masked columns
  SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END, f.oid::pg_catalog.regprocedure::text,
         format('SECURITY DEFINER function %s reads masked columns of %s as %I', f.oid::pg_catalog.regprocedure, mc.rel,
                pg_catalog.pg_get_userbyid(f.proowner)),
         format('ALTER FUNCTION %s SECURITY INVOKER', f.oid::pg_catalog.regprocedure), mc.root, 'security definer function'
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_proc f ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND f.oid = d.objid AND f.prosecdef
    JOIN masked_cols mc ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = mc.rel
                       AND (d.refobjsubid = mc.attnum OR d.refobjsubid = 0),
         LATERAL pg_catalog.aclexplode(coalesce(f.proacl, pg_catalog.acldefault('f', f.proowner))) x
   WHERE x.privilege_type = 'EXECUTE' AND NOT (f.pronamespace = '@extschema@'::pg_catalog.regnamespace)
  UNION ALL
  -- SECURITY DEFINER functions whose body cannot be read (PL/pgSQL, a
  -- string of SQL, C), run as a role that reads a masked table in clear
  -- (its owner, or one with its privileges; a superuser): whoever may call
  -- them may be handed clear values
  SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee)::text END, f.oid::pg_catalog.regprocedure::text,
         format('SECURITY DEFINER function %s runs as %I, who reads %s''s masked columns in clear; what it returns is not checked (or give it an owner that reads the governed view only)',
                f.oid::pg_catalog.regprocedure, pg_catalog.pg_get_userbyid(f.proowner), g.t),
         format('ALTER FUNCTION %s SECURITY INVOKER', f.oid::pg_catalog.regprocedure),
         g.t, 'security definer function'
    FROM gov g
    JOIN pg_catalog.pg_proc f ON f.prosecdef AND f.prosqlbody IS NULL AND f.prokind IN ('f', 'p')
                             AND f.prorettype NOT IN ('pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype)
                             AND (pg_catalog.pg_has_role(f.proowner, g.owner, 'USAGE')
                                  OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = f.proowner)),
         LATERAL pg_catalog.aclexplode(coalesce(f.proacl, pg_catalog.acldefault('f', f.proowner))) x
   WHERE g.masked AND x.privilege_type = 'EXECUTE' AND x.grantee <> f.proowner
     AND f.pronamespace NOT IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                      WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid = f.oid AND e.deptype = 'e')
)
SELECT s.* FROM (SELECT DISTINCT f.role, f.object, f.path, f.fix, f.governed, f.kind FROM found f) s
 ORDER BY s.governed::text, s.kind, s.object, s.role
$fn$;
COMMENT ON FUNCTION @extschema@.governance_check() IS
  'Every path by which a role can read a hidden row or a masked column''s clear value of a governed table around concord (superusers, BYPASSRLS, pg_read_all_data, the table''s owner, grants, parts without policies, plain and materialized views, rules, SECURITY DEFINER functions, switched-off row security and triggers), with the fix for each';

-- What the guard does at the end of a DDL statement that is not concord's
-- own, for the objects it made or changed (classes, objs: their catalogs
-- and OIDs; a GRANT names none) and what its ALTERs did (actions:
-- guard_actions' rows, with rel, the table altered).  Runs as concord's owner, for whoever ran
-- the statement; anyone may call it (the event trigger runs as her), and
-- it only ever repairs or refuses what the catalogs show.
CREATE FUNCTION @extschema@.guard_enforce(tags text[], classes oid[], objs oid[], actions jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  rels oid[];
  g record;
  bad record;
  act record;
  moved text[];
  did text[];
BEGIN
  -- the relations the statement made or changed (a rule: its table), and
  -- policies
  SELECT coalesce(array_agg(DISTINCT CASE WHEN o.cls OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::regclass
                                          THEN (SELECT rw.ev_class FROM pg_catalog.pg_rewrite rw WHERE rw.oid OPERATOR(pg_catalog.=) o.obj)
                                          ELSE o.obj END), '{}')
    INTO rels
    FROM unnest(classes, objs) o(cls, obj)
   WHERE o.cls OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_class'::regclass, 'pg_catalog.pg_rewrite'::regclass]);
  -- concord's own policies are changed through concord (row_policy_create)
  SELECT pol.polname, pol.polrelid::regclass AS tbl INTO bad
    FROM unnest(classes, objs) o(cls, obj) JOIN pg_catalog.pg_policy pol ON pol.oid OPERATOR(pg_catalog.=) o.obj
   WHERE o.cls OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::regclass AND pol.polname OPERATOR(pg_catalog.~~) 'concord\_%' AND pol.polname OPERATOR(pg_catalog.!~~) 'concord\_rollup\_%'
     AND 'ALTER POLICY' OPERATOR(pg_catalog.=) ANY (tags)
   LIMIT 1;
  IF bad.polname IS NOT NULL THEN
    RAISE EXCEPTION 'policy % on % is concord''s: it is not changed by hand', bad.polname, bad.tbl
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Redefine it with concord.row_policy_create (or drop it with concord.row_policy_drop); the change is then audited.';
  END IF;
  -- the governed families the relations are in: parts get the governance
  FOR g IN SELECT DISTINCT a.a AS t
             FROM unnest(rels) r(rel),
                  LATERAL (SELECT r.rel::regclass AS a UNION SELECT x FROM @extschema@.relation_ancestors(r.rel::regclass) x) a
             WHERE EXISTS (SELECT 1 FROM @extschema@.governed_relations() u WHERE u.rel OPERATOR(pg_catalog.=) u.root AND u.root OPERATOR(pg_catalog.=) a.a)
                OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid OPERATOR(pg_catalog.=) a.a AND NOT tg.tgisinternal
                              AND (tg.tgname OPERATOR(pg_catalog.~~) 'concord\_wr\_%' OR tg.tgname OPERATOR(pg_catalog.=) 'concord_audit')) LOOP
    did := @extschema@.governance_sync(g.t);
    IF cardinality(did) OPERATOR(pg_catalog.>) 0 THEN
      RAISE NOTICE 'concord: the parts of governed table % made as governed as it is: %', g.t, array_to_string(did, '; ');
    END IF;
  END LOOP;
  -- a grant on a masked table moves to its governed view
  IF 'GRANT' OPERATOR(pg_catalog.=) ANY (tags) THEN
    FOR g IN SELECT DISTINCT m.table_name AS t,
                    pg_catalog.to_regclass(format('%I.%I', n.nspname, c.relname OPERATOR(pg_catalog.||) '_governed')) AS v
               FROM @extschema@.column_mask m JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.table_name
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace LOOP
      moved := @extschema@.governed_grants_move(g.t, g.v);
      IF cardinality(moved) OPERATOR(pg_catalog.>) 0 THEN
        RAISE WARNING 'moved % on masked table % to its governed view %', array_to_string(moved, ', '), g.t, g.v
          USING DETAIL = 'Whoever may read a masked table itself reads its clear values; members read its governed view.';
      END IF;
      PERFORM @extschema@.governance_sync(g.t);
    END LOOP;
  END IF;
  -- refuse what the statement did to a governed table (judged by what it
  -- did, so that a statement that fixes one thing while another is still
  -- wrong goes through)
  FOR act IN SELECT (e OPERATOR(pg_catalog.->>) 'rel')::oid AS rel, e OPERATOR(pg_catalog.->>) 'action' AS action, (e OPERATOR(pg_catalog.->>) 'target')::oid AS target, e OPERATOR(pg_catalog.->>) 'name' AS name
               FROM jsonb_array_elements(coalesce(actions, '[]')) e LOOP
    IF act.action OPERATOR(pg_catalog.=) ANY (ARRAY['disable row security', 'no force row security'])
       AND EXISTS (SELECT 1 FROM @extschema@.governed_relations() u WHERE u.rel OPERATOR(pg_catalog.=) act.rel AND u.rowed) THEN
      RAISE EXCEPTION 'refused: % on %, which has concord''s row policies', upper(act.action), act.rel::regclass
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = CASE WHEN act.action OPERATOR(pg_catalog.=) 'disable row security' THEN 'Whoever may read the table would read every row.'
                            ELSE 'Its owner would read every row.' END,
              HINT = 'Row security stays on and forced on a governed table and its parts; drop the row policies (concord.row_policy_drop) to change what they show.';
    END IF;
    IF ((act.action OPERATOR(pg_catalog.=) ANY (ARRAY['disable trigger', 'enable replica trigger'])
         AND (act.name OPERATOR(pg_catalog.~~) 'concord\_wr\_%' OR act.name OPERATOR(pg_catalog.=) ANY (ARRAY['concord_audit', 'concord_mask_hash', 'concord_unmask'])))
        OR (act.action OPERATOR(pg_catalog.=) ANY (ARRAY['disable trigger all', 'disable trigger user'])
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) act.rel AND NOT t.tgisinternal
                           AND (t.tgname OPERATOR(pg_catalog.~~) 'concord\_wr\_%' OR t.tgname OPERATOR(pg_catalog.=) ANY (ARRAY['concord_audit', 'concord_mask_hash', 'concord_unmask']))))) THEN
      RAISE EXCEPTION 'refused: % on %, which has concord''s triggers', upper(act.action) OPERATOR(pg_catalog.||) coalesce(' ' OPERATOR(pg_catalog.||) act.name, ''), act.rel::regclass
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'concord''s triggers keep masks unbroken (concord_unmask, concord_mask_hash), enforce write rules and audit rows.',
              HINT = 'Drop the rule, mask or audit trail through concord (write_rule_drop, column_mask_drop), which is audited.';
    END IF;
    IF act.action OPERATOR(pg_catalog.=) ANY (ARRAY['attach partition', 'inherit']) AND act.target IS NOT NULL THEN
      SELECT c.* INTO bad FROM @extschema@.governance_check() c
       WHERE c.kind OPERATOR(pg_catalog.=) 'parent without policies'
         AND c.governed OPERATOR(pg_catalog.=) (CASE WHEN act.action OPERATOR(pg_catalog.=) 'inherit' THEN act.rel ELSE act.target END)::regclass
         AND pg_catalog.to_regclass(c.object) OPERATOR(pg_catalog.=) (CASE WHEN act.action OPERATOR(pg_catalog.=) 'inherit' THEN act.target ELSE act.rel END)::regclass
       LIMIT 1;
      IF bad.kind IS NOT NULL THEN
        RAISE EXCEPTION 'refused: %', bad.path
          USING ERRCODE = 'insufficient_privilege', HINT = bad.fix OPERATOR(pg_catalog.||) '.';
      END IF;
    END IF;
  END LOOP;
  -- a governed view is concord's: rebuilt by column_mask_create, not by hand
  SELECT v.oid::regclass AS v, mt.tbl INTO bad
    FROM unnest(rels) r(rel) JOIN pg_catalog.pg_class v ON v.oid OPERATOR(pg_catalog.=) r.rel AND v.relkind OPERATOR(pg_catalog.=) 'v'
    JOIN (SELECT DISTINCT m.table_name AS tbl FROM @extschema@.column_mask m) mt ON true
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) mt.tbl
   WHERE v.relnamespace OPERATOR(pg_catalog.=) c.relnamespace AND v.relname OPERATOR(pg_catalog.=) (c.relname OPERATOR(pg_catalog.||) '_governed')
   LIMIT 1;
  IF bad.v IS NOT NULL THEN
    RAISE EXCEPTION 'refused: view % is concord''s governed view of %: it is not changed by hand', bad.v, bad.tbl
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Its columns, options and owner are what keeps the masks and row policies whole.',
            HINT = 'column_mask_create and column_mask_drop rebuild it (grants on it are kept); DROP VIEW removes it, and with it its readers'' access.';
  END IF;
  -- refuse a view, materialized view or rule the statement made or changed
  -- that reads around a governed table
  IF NOT EXISTS (SELECT 1 FROM unnest(rels) r(rel) JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) r.rel WHERE k.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::pg_catalog."char"[]))
     AND NOT 'CREATE RULE' OPERATOR(pg_catalog.=) ANY (tags) THEN
    RETURN;
  END IF;
  SELECT c.* INTO bad FROM @extschema@.governance_check() c
   WHERE c.kind OPERATOR(pg_catalog.=) ANY (ARRAY['plain view', 'materialized view', 'rule'])
     AND pg_catalog.to_regclass(c.object) OPERATOR(pg_catalog.=) ANY (
           SELECT r.rel FROM unnest(rels) r(rel) JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) r.rel
            WHERE k.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::pg_catalog."char"[]) OR 'CREATE RULE' OPERATOR(pg_catalog.=) ANY (tags))
   ORDER BY c.kind, c.object, c.role
   LIMIT 1;
  IF bad.kind IS NOT NULL THEN
    RAISE EXCEPTION 'refused: %', bad.path
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = format('%s is governed by concord (row policies or masks); this would let %s read around them.',
                            bad.governed, bad.role),
            HINT = bad.fix OPERATOR(pg_catalog.||) '.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.guard_enforce(text[], oid[], oid[], jsonb) IS
  'Internal to the governance guard (the event trigger concord_guard): gives the parts of governed tables their governance, moves grants on masked tables to their governed views, and refuses a statement that opens a way around the governance (governance_check)';

-- The event trigger's function: runs as whoever ran the DDL statement.
CREATE FUNCTION @extschema@.guard_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  tags text[];
  classes oid[];
  objs oid[];
  actions jsonb;
BEGIN
  IF @extschema@.guard_internal() THEN
    RETURN;
  END IF;
  SELECT array_agg(c.command_tag), array_agg(c.classid), array_agg(c.objid) INTO tags, classes, objs
    FROM pg_catalog.pg_event_trigger_ddl_commands() c WHERE NOT c.in_extension;
  SELECT jsonb_agg(jsonb_build_object('rel', c.objid, 'action', a.action, 'target', a.target, 'name', a.name)) INTO actions
    FROM pg_catalog.pg_event_trigger_ddl_commands() c, LATERAL @extschema@.guard_actions(c.command) a
   WHERE NOT c.in_extension;
  IF tags IS NOT NULL THEN
    PERFORM @extschema@.guard_enforce(tags, classes, objs, actions);
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.guard_ddl() IS
  'Event trigger concord_guard (ddl_command_end): calls guard_enforce for every DDL statement that is not concord''s own';

-- Dropping concord's triggers and policies by hand is refused (their table
-- may go, and they with it): a dropped concord_unmask trigger would let a
-- writer unmask values, a dropped write rule or audit trigger would go
-- unrecorded.
CREATE FUNCTION @extschema@.guard_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  d record;
BEGIN
  IF @extschema@.guard_internal() THEN
    RETURN;
  END IF;
  SELECT o.object_type, o.object_identity INTO d
    FROM pg_catalog.pg_event_trigger_dropped_objects() o
   WHERE o.original
     AND ((o.object_type = 'policy' AND o.address_names[array_length(o.address_names, 1)] LIKE 'concord\_%'
           AND o.address_names[array_length(o.address_names, 1)] NOT LIKE 'concord\_rollup\_%')
          OR (o.object_type = 'trigger'
              AND (o.address_names[array_length(o.address_names, 1)] LIKE 'concord\_wr\_%'
                   OR o.address_names[array_length(o.address_names, 1)] IN ('concord_audit', 'concord_mask_hash', 'concord_unmask'))))
   LIMIT 1;
  IF d.object_type IS NOT NULL THEN
    RAISE EXCEPTION '% % is concord''s: it is dropped through concord', d.object_type, d.object_identity
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Use concord.row_policy_drop, write_rule_drop or column_mask_drop (they are audited); a governed table''s own DROP takes them with it.';
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.guard_drop() IS
  'Event trigger concord_guard_drop (sql_drop): refuses dropping concord''s policies and triggers by hand';

CREATE EVENT TRIGGER concord_guard ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER TABLE', 'ALTER FOREIGN TABLE', 'GRANT', 'CREATE VIEW',
               'ALTER VIEW', 'CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW', 'CREATE RULE', 'ALTER POLICY')
  EXECUTE FUNCTION @extschema@.guard_ddl();
CREATE EVENT TRIGGER concord_guard_drop ON sql_drop
  WHEN TAG IN ('DROP POLICY', 'DROP TRIGGER')
  EXECUTE FUNCTION @extschema@.guard_drop();

-- Changes to the governance tables not made through concord's API are
-- audited too (audit_direct, in audit.c).
CREATE FUNCTION @extschema@.audit_direct()
RETURNS trigger
AS 'MODULE_PATHNAME', 'concord_audit_direct'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.audit_direct() IS
  'Trigger of concord''s governance tables: a change made other than through concord''s API is an audit entry ("direct UPDATE" and so on)';
REVOKE EXECUTE ON FUNCTION @extschema@.audit_direct() FROM PUBLIC;
DO $do$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['department', 'member', 'row_policy', 'column_mask', 'write_rule', 'access_request'] LOOP
    EXECUTE format('CREATE TRIGGER concord_audit_direct AFTER INSERT OR UPDATE OR DELETE ON %s.%I'
                   ' FOR EACH ROW EXECUTE FUNCTION %s.audit_direct()', '@extschema@', t, '@extschema@');
    EXECUTE format('CREATE TRIGGER concord_audit_direct_truncate AFTER TRUNCATE ON %s.%I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %s.audit_direct()', '@extschema@', t, '@extschema@');
  END LOOP;
END
$do$;

SELECT @extschema@.grant_routines('concord_policy', ARRAY['governance_check()']);
-- (internal: run by the API and the guard, as concord's owner; the
-- catalog helpers relation_parts, relation_ancestors, relation_readers,
-- relation_privileges and governed_relations stay public, like the
-- catalogs they read)
REVOKE EXECUTE ON FUNCTION @extschema@.governance_sync(regclass) FROM PUBLIC;
