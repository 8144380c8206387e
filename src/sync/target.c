/*-------------------------------------------------------------------------
 *
 * target.c
 *	  The target table of a source: resolve it (or create it from the
 *	  spec), check every mapped column, the key's unique index and the
 *	  caller's privileges, and build the statements a run loads it with.
 *
 * The statements are built once per run with quoted identifiers; values
 * always travel as parameters (arrays, one per column).  Bookkeeping rows
 * of concord's own tables are written as the extension's owner through
 * concord_owner_exec("sync_run", ).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/rls.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "concord.h"
#include "sync/load.h"

/* The type a spec column asks for, or InvalidOid. */
static Oid
spec_type(const SyncSpec *s, int i, int32 *typmod)
{
	Oid			typid;
	char	   *path = psprintf("columns[%d].type", i);

	*typmod = -1;
	if (s->columns[i].type == NULL)
		return InvalidOid;
	PG_TRY();
	{
		parseTypeString(s->columns[i].type, &typid, typmod, false);
	}
	PG_CATCH();
	{
		FlushErrorState();
		sync_spec_error(s->source, path, psprintf("names no known type: \"%s\"", s->columns[i].type),
				   "Use a type name as in CREATE TABLE, such as bigint, text, numeric(12,2) or timestamptz.");
	}
	PG_END_TRY();
	return typid;
}

/* CREATE TABLE for a spec whose target does not exist yet. */
static void
create_table(const SyncSpec *s, List *names)
{
	StringInfoData sql;
	RangeVar   *rv = makeRangeVarFromNameList(names);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (",
					 quote_qualified_identifier(rv->schemaname, rv->relname));
	for (int i = 0; i < s->ncolumns; i++)
	{
		int32		typmod;
		Oid			typid = spec_type(s, i, &typmod);

		appendStringInfo(&sql, "%s %s", quote_identifier(s->columns[i].name),
						 OidIsValid(typid) ? format_type_with_typemod(typid, typmod) : "text");
		if (i + 1 < s->ncolumns)
			appendStringInfoString(&sql, ", ");
	}
	if (s->unmapped_column)
		appendStringInfo(&sql, ", %s jsonb", quote_identifier(s->unmapped_column));
	if (s->soft_delete_column)
		appendStringInfo(&sql, ", %s boolean NOT NULL DEFAULT false",
						 quote_identifier(s->soft_delete_column));
	appendStringInfoString(&sql, ", PRIMARY KEY (");
	for (int i = 0; i < s->npk; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_identifier(s->primary_key[i]));
	appendStringInfoString(&sql, "))");
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create table for source \"%s\"", s->source);
	CommandCounterIncrement();
}

/* The columns of the primary key of relid, or NIL. */
static List *
table_primary_key(Oid relid)
{
	List	   *out = NIL;
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			argtype = OIDOID;

	if (SPI_execute_with_args("SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_index i"
							  " CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
							  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisprimary ORDER BY k.ord",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the primary key of relation %u", relid);
	for (uint64 i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

/*
 * The spec's primary key needs a unique index on exactly those columns
 * (without a predicate or expressions): ON CONFLICT infers it.
 */
static void
require_unique_index(const SyncSpec *s, SyncTarget *t, List *pkcols)
{
	Datum	   *names = palloc(sizeof(Datum) * list_length(pkcols));
	ListCell   *lc;
	Oid			types[2] = {OIDOID, TEXTARRAYOID};
	Datum		vals[2];
	StringInfoData list;

	initStringInfo(&list);
	foreach(lc, pkcols)
	{
		names[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
		appendStringInfo(&list, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(lfirst(lc)));
	}
	vals[0] = ObjectIdGetDatum(t->relid);
	vals[1] = PointerGetDatum(construct_array(names, list_length(pkcols), TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique AND i.indisvalid"
							  " AND i.indpred IS NULL AND i.indexprs IS NULL"
							  " AND (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attname::pg_catalog.text COLLATE \"C\")"
							  "      FROM pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
							  "      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
							  "       AND a.attnum OPERATOR(pg_catalog.=) k.attnum"
							  "      WHERE k.ord OPERATOR(pg_catalog.<=) i.indnkeyatts)"
							  "   OPERATOR(pg_catalog.=) (SELECT pg_catalog.array_agg(n ORDER BY n COLLATE \"C\") FROM pg_catalog.unnest($2) AS n)",
							  2, types, vals, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the indexes of %s", t->qname);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("cannot load table %s for source \"%s\": no unique index on (%s)",
						t->qname, s->source, list.data),
				 errdetail("Path: target.primary_key."),
				 errhint("An upsert needs a primary key or unique index on exactly the key columns: CREATE UNIQUE INDEX ON %s (%s).",
						 t->qname, list.data)));
}

/* Does the caller hold mode on relid?  Raise a clear error if not. */
static void
require_privilege(const SyncSpec *s, Oid relid, AclMode mode, const char *what)
{
	if (pg_class_aclcheck(relid, GetUserId(), mode) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s table %s for source \"%s\"",
						what, get_rel_name(relid), s->source),
				 errhint("A sync writes as the role that runs it; grant %s on the table to that role.",
						 mode == ACL_DELETE ? "DELETE" : mode == ACL_SELECT ? "SELECT" :
						 mode == ACL_INSERT ? "INSERT" : "UPDATE")));
}

/* Name of insert column i: the mapped columns, then unmapped, then soft-delete. */
static const char *
insert_column(const SyncSpec *s, const SyncTarget *t, int i)
{
	if (i < s->ncolumns)
		return s->columns[i].name;
	if (i == s->ncolumns && t->unmapped)
		return s->unmapped_column;
	return s->soft_delete_column;
}

/*
 * Build the upsert statements and the key expression.  An upsert alone
 * locks (and so writes) every conflicting row even when nothing changed,
 * which makes a rerun over unchanged data as costly as the first run; the
 * JOIN form joins the page's rows to the table first and passes on only
 * the new and changed ones, at the price of a second index lookup per row.
 * Each page uses the form that suited the page before (sync_load_page);
 * ON CONFLICT settles rows that appear between the join and the insert.
 */
static void
build_sql(const SyncSpec *s, SyncTarget *t)
{
	StringInfoData sql,
				cols,
				scols,
				set,
				olds,
				news,
				excl,
				exnew,
				join,
				key;
	int			nins = s->ncolumns + (t->unmapped ? 1 : 0) + (OidIsValid(t->softdel_type) ? 1 : 0);
	int			nargs = s->ncolumns + (t->unmapped ? 1 : 0);

	initStringInfo(&cols);
	initStringInfo(&scols);
	initStringInfo(&set);
	initStringInfo(&olds);
	initStringInfo(&news);
	initStringInfo(&excl);
	initStringInfo(&exnew);
	initStringInfo(&join);
	for (int i = 0; i < nins; i++)
	{
		const char *name = quote_identifier(insert_column(s, t, i));
		bool		is_pk = false;
		bool		has_eq;
		const char *cast;
		char	   *sval;

		/* an array column's values come as text: cast them */
		sval = (i < s->ncolumns && t->textcast[i]) ?
			psprintf("s.%s::%s", name,
					 format_type_extended(t->typid[i], t->typmod[i],
										  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY)) :
			psprintf("s.%s", name);
		appendStringInfo(&cols, "%s%s", i ? ", " : "", name);
		if (i < nargs)
			appendStringInfo(&scols, "%s%s", i ? ", " : "", sval);
		else
			appendStringInfoString(&scols, t->softdel_type == BOOLOID ? ", false" : ", NULL");
		for (int k = 0; k < t->npk; k++)
			if (t->pk[k] == i)
				is_pk = true;
		if (is_pk)
			continue;
		/* types without an equality operator (json, point) compare as text */
		has_eq = i >= s->ncolumns ||
			OidIsValid(lookup_type_cache(t->typid[i], TYPECACHE_EQ_OPR)->eq_opr);
		cast = has_eq ? "" : "::pg_catalog.text";
		appendStringInfo(&set, "%s%s = excluded.%s", set.len ? ", " : "", name, name);
		appendStringInfo(&olds, "%so.%s%s", olds.len ? ", " : "", name, cast);
		appendStringInfo(&excl, "%st.%s%s", excl.len ? ", " : "", name, cast);
		appendStringInfo(&exnew, "%sexcluded.%s%s", exnew.len ? ", " : "", name, cast);
		if (i < nargs)
			appendStringInfo(&news, "%s%s%s", news.len ? ", " : "", sval, cast);
		else
			appendStringInfo(&news, "%s%s", news.len ? ", " : "",
							 t->softdel_type == BOOLOID ? "false" : "NULL::pg_catalog.timestamptz");
	}
	for (int k = 0; k < t->npk; k++)
	{
		const char *name = quote_identifier(s->columns[t->pk[k]].name);

		appendStringInfo(&join, "%so.%s OPERATOR(pg_catalog.=) s.%s", k ? " AND " : "", name, name);
	}

	/* two forms: with the join (pages of mostly unchanged rows), without */
	for (int form = 0; form < 2; form++)
	{
		initStringInfo(&sql);
		appendStringInfo(&sql, "INSERT INTO %s AS t (%s) SELECT %s FROM ROWS FROM (",
						 t->qname, cols.data, scols.data);
		for (int i = 0; i < nargs; i++)
			appendStringInfo(&sql, "%spg_catalog.unnest($%d)", i ? ", " : "", i + 1);
		appendStringInfoString(&sql, ") AS s(");
		for (int i = 0; i < nargs; i++)
			appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_identifier(insert_column(s, t, i)));
		appendStringInfoChar(&sql, ')');
		if (form == SYNC_UPSERT_JOIN)
		{
			appendStringInfo(&sql, " LEFT JOIN %s AS o ON %s WHERE o.%s IS NULL",
							 t->qname, join.data, quote_identifier(s->columns[t->pk[0]].name));
			if (set.len > 0)
				appendStringInfo(&sql, " OR (%s, NULL::int) IS DISTINCT FROM (%s, NULL::int)",
								 olds.data, news.data);
		}
		appendStringInfoString(&sql, " ON CONFLICT (");
		for (int i = 0; i < t->npk; i++)
			appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_identifier(s->columns[t->pk[i]].name));
		if (set.len > 0)
			appendStringInfo(&sql, ") DO UPDATE SET %s WHERE (%s, NULL::int) IS DISTINCT FROM (%s, NULL::int)",
							 set.data, excl.data, exnew.data);
		else
			appendStringInfoString(&sql, ") DO NOTHING");
		appendStringInfoString(&sql, " RETURNING (t.xmax OPERATOR(pg_catalog.=) 0)");
		t->upsert_sql[form] = sql.data;
	}

	initStringInfo(&key);
	if (t->npk == 1)
		appendStringInfo(&key, "t.%s::pg_catalog.text", quote_identifier(s->columns[t->pk[0]].name));
	else
	{
		appendStringInfoString(&key, "pg_catalog.jsonb_build_array(");
		for (int i = 0; i < t->npk; i++)
			appendStringInfo(&key, "%st.%s::pg_catalog.text", i ? ", " : "",
							 quote_identifier(s->columns[t->pk[i]].name));
		appendStringInfoString(&key, ")::pg_catalog.text");
	}
	t->key_sql = key.data;
}

/* Does the relation have rules (which COPY would not apply)? */
static bool
relation_has_rules(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		has;

	if (!HeapTupleIsValid(tup))
		return false;
	has = ((Form_pg_class) GETSTRUCT(tup))->relhasrules;
	ReleaseSysCache(tup);
	return has;
}

/* Does text read as the input of type typid (with typmod)? */
static bool
reads_as(Oid typid, int32 typmod, const char *text)
{
	Oid			infunc;
	Oid			ioparam;
	volatile bool ok = true;
	MemoryContext cxt = CurrentMemoryContext;

	getTypeInputInfo(typid, &infunc, &ioparam);
	PG_TRY();
	{
		(void) OidInputFunctionCall(infunc, (char *) text, ioparam, typmod);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * The incremental settings that depend on the cursor column's type: a
 * lookback (an interval, or a number of seconds, for times; a number for
 * numbers), the start, the cursor format.
 */
static void
check_cursor_settings(const SyncSpec *s, SyncTarget *t)
{
	int			c = t->cursor_col;
	Oid			typid = t->typid[c];
	char		cat = TypeCategory(typid);

	if (s->lookback)
	{
		if (cat != TYPCATEGORY_DATETIME && cat != TYPCATEGORY_NUMERIC)
			sync_spec_error(s->source, "mode.lookback",
							psprintf("needs a date/time or numeric cursor column, not %s",
									 format_type_be(typid)), NULL);
		if (!reads_as(cat == TYPCATEGORY_DATETIME ? INTERVALOID : typid, -1, s->lookback))
			sync_spec_error(s->source, "mode.lookback",
							psprintf("must be %s, not \"%s\"",
									 cat == TYPCATEGORY_DATETIME ? "an interval (\"5 minutes\") or a number of seconds" :
									 psprintf("a number of the cursor column's type %s", format_type_be(typid)),
									 s->lookback), NULL);
	}
	if (s->cursor_start &&
		!(s->columns[c].epoch && t->datetime[c] ? reads_as(NUMERICOID, -1, s->cursor_start) ||
		  reads_as(typid, t->typmod[c], s->cursor_start) :
		  reads_as(typid, t->typmod[c], s->cursor_start)))
		sync_spec_error(s->source, "mode.start",
						psprintf("must be a value of the cursor column's type %s, not \"%s\"",
								 format_type_be(typid), s->cursor_start), NULL);
	if (s->cursor_format && (strcmp(s->cursor_format, "epoch") == 0 ||
							 strcmp(s->cursor_format, "epoch_ms") == 0) && !t->datetime[c])
		sync_spec_error(s->source, "mode.cursor_format",
						psprintf("is %s, a Unix time, but the cursor column is %s", s->cursor_format,
								 format_type_be(typid)), NULL);
}

/*
 * Resolve the spec's target table (creating it when the spec says so and
 * create_missing is set), check every mapped column and the caller's
 * privileges, and build the statements.  The caller is connected to SPI.
 * With for_check, a missing table that the spec would create is not an
 * error: NULL is returned.
 */
SyncTarget *
sync_target_open(const SyncSpec *s, bool create_missing, bool for_check)
{
	SyncTarget *t = palloc0(sizeof(SyncTarget));
	List	   *names;
	RangeVar   *rv;
	Relation	rel;
	TupleDesc	desc;
	List	   *pkcols = NIL;
	ListCell   *lc;

	PG_TRY();
	{
		names = stringToQualifiedNameList(s->table, NULL);
	}
	PG_CATCH();
	{
		FlushErrorState();
		sync_spec_error(s->source, "target.table", psprintf("is not a table name: \"%s\"", s->table),
				   "Write it as schema.table; quote names with capitals as in SQL.");
	}
	PG_END_TRY();
	rv = makeRangeVarFromNameList(names);
	t->relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(t->relid))
	{
		if (!s->create)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("target table %s of source \"%s\" does not exist", s->table, s->source),
					 errhint("Create it, or set \"create\": true in the spec's target to have it created from the columns.")));
		if (!create_missing)
		{
			if (for_check)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("target table %s of source \"%s\" does not exist", s->table, s->source),
					 errhint("It was created with the source and dropped since; concord.source_alter creates it again.")));
		}
		create_table(s, names);
		t->relid = RangeVarGetRelid(rv, NoLock, false);
	}
	if (get_rel_relkind(t->relid) != RELKIND_RELATION &&
		get_rel_relkind(t->relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target %s of source \"%s\" is not a table", s->table, s->source)));
	t->qname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(t->relid)),
										  get_rel_name(t->relid));

	rel = relation_open(t->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	t->ncols = s->ncolumns;
	t->typid = palloc(sizeof(Oid) * t->ncols);
	t->typmod = palloc(sizeof(int32) * t->ncols);
	t->collation = palloc(sizeof(Oid) * t->ncols);
	t->infn = palloc(sizeof(FmgrInfo) * t->ncols);
	t->ioparam = palloc(sizeof(Oid) * t->ncols);
	t->arrtype = palloc(sizeof(Oid) * t->ncols);
	t->typlen = palloc(sizeof(int16) * t->ncols);
	t->typbyval = palloc(sizeof(bool) * t->ncols);
	t->typalign = palloc(sizeof(char) * t->ncols);
	t->textcast = palloc0(sizeof(bool) * t->ncols);
	t->datetime = palloc0(sizeof(bool) * t->ncols);
	t->basetype = palloc(sizeof(Oid) * t->ncols);
	t->cursor_col = -1;
	for (int i = 0; i < s->ncolumns; i++)
	{
		const char *name = s->columns[i].name;
		AttrNumber	att = InvalidAttrNumber;
		Form_pg_attribute a = NULL;
		Oid			infunc;
		int32		want_mod;
		Oid			want;

		for (int k = 0; k < desc->natts; k++)
		{
			Form_pg_attribute ak = TupleDescAttr(desc, k);

			if (!ak->attisdropped && strcmp(NameStr(ak->attname), name) == 0)
			{
				att = ak->attnum;
				a = ak;
			}
		}
		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of source \"%s\" does not exist in table %s",
							name, s->source, t->qname),
					 errdetail("Path: columns[%d].name.", i)));
		if (a->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of table %s is generated and cannot be synced", name, t->qname),
					 errdetail("Path: columns[%d].name.", i)));
		want = spec_type(s, i, &want_mod);
		if (OidIsValid(want) && (want != a->atttypid || (want_mod >= 0 && want_mod != a->atttypmod)))
			sync_spec_error(s->source, psprintf("columns[%d].type", i),
					   psprintf("is %s, but column \"%s\" of %s is %s",
								format_type_with_typemod(want, want_mod), name, t->qname,
								format_type_with_typemod(a->atttypid, a->atttypmod)),
					   "Leave \"type\" out for an existing table: the column's type is used.");
		t->typid[i] = a->atttypid;
		t->typmod[i] = a->atttypmod;
		t->collation[i] = a->attcollation;
		t->basetype[i] = getBaseType(a->atttypid);
		t->datetime[i] = t->basetype[i] == DATEOID || t->basetype[i] == TIMESTAMPOID ||
			t->basetype[i] == TIMESTAMPTZOID;
		/* JSON arrays become array literals for an array column */
		((SyncSpec *) s)->columns[i].pg_array = OidIsValid(get_element_type(t->basetype[i]));
		t->arrtype[i] = get_array_type(a->atttypid);
		if (!OidIsValid(t->arrtype[i]))
		{
			/* an array column: values travel as text (no arrays of arrays) */
			if (!OidIsValid(get_element_type(t->basetype[i])))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("column \"%s\" of %s has type %s, which a sync cannot load",
								name, t->qname, format_type_be(a->atttypid)),
						 errdetail("Path: columns[%d].name.", i)));
			t->textcast[i] = true;
			t->arrtype[i] = TEXTARRAYOID;
		}
		if (s->columns[i].epoch && !t->datetime[i])
			sync_spec_error(s->source, psprintf("columns[%d].format", i),
							psprintf("is %s, for a Unix time, but column \"%s\" of %s is %s",
									 s->columns[i].epoch == 1000 ? "epoch_ms" : "epoch", name, t->qname,
									 format_type_be(a->atttypid)),
							"A Unix time goes into a date, timestamp or timestamptz column.");
		getTypeInputInfo(a->atttypid, &infunc, &t->ioparam[i]);
		fmgr_info_cxt(infunc, &t->infn[i], CurrentMemoryContext);
		get_typlenbyvalalign(a->atttypid, &t->typlen[i], &t->typbyval[i], &t->typalign[i]);
	}

	/* the unmapped-fields column must hold jsonb */
	if (s->unmapped_column)
	{
		int			att = -1;

		for (int k = 0; k < desc->natts; k++)
			if (!TupleDescAttr(desc, k)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, k)->attname), s->unmapped_column) == 0)
				att = k;
		if (att < 0 || TupleDescAttr(desc, att)->atttypid != JSONBOID)
			sync_spec_error(s->source, "target.unmapped_column",
					   psprintf("must name a jsonb column of %s, not \"%s\"", t->qname, s->unmapped_column), NULL);
		t->unmapped = true;
		fmgr_info_cxt(F_JSONB_IN, &t->jsonb_in, CurrentMemoryContext);
	}
	if (s->soft_delete_column)
	{
		int			att = -1;

		for (int k = 0; k < desc->natts; k++)
			if (!TupleDescAttr(desc, k)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, k)->attname), s->soft_delete_column) == 0)
				att = k;
		if (att < 0 || (TupleDescAttr(desc, att)->atttypid != BOOLOID &&
						TupleDescAttr(desc, att)->atttypid != TIMESTAMPTZOID))
			sync_spec_error(s->source, "mode.soft_delete_column",
					   psprintf("must name a boolean or timestamptz column of %s, not \"%s\"",
								t->qname, s->soft_delete_column), NULL);
		t->softdel_type = TupleDescAttr(desc, att)->atttypid;
	}
	relation_close(rel, AccessShareLock);

	/* primary key: the spec's, else the table's */
	if (s->npk > 0)
		for (int i = 0; i < s->npk; i++)
			pkcols = lappend(pkcols, s->primary_key[i]);
	else
	{
		pkcols = table_primary_key(t->relid);
		if (pkcols == NIL)
			sync_spec_error(s->source, "target.primary_key",
					   psprintf("is required: table %s has no primary key", t->qname),
					   "Name the columns that identify a record; they need a unique index.");
	}
	if (s->npk > 0)
		require_unique_index(s, t, pkcols);
	t->npk = list_length(pkcols);
	t->pk = palloc(sizeof(int) * t->npk);
	t->pk_out = palloc(sizeof(FmgrInfo) * t->npk);
	foreach(lc, pkcols)
	{
		int			k = foreach_current_index(lc);
		int			found = -1;

		for (int i = 0; i < s->ncolumns; i++)
			if (strcmp(s->columns[i].name, lfirst(lc)) == 0)
				found = i;
		if (found < 0)
			sync_spec_error(s->source, "columns",
					   psprintf("must map primary key column \"%s\" of %s", (char *) lfirst(lc), t->qname), NULL);
		t->pk[k] = found;
		if (t->textcast[found])
			sync_spec_error(s->source, "target.primary_key",
							psprintf("names array column \"%s\", which cannot be a key of a sync", (char *) lfirst(lc)),
							NULL);
		{
			Oid			outfn;
			bool		varlena;

			getTypeOutputInfo(t->typid[found], &outfn, &varlena);
			fmgr_info_cxt(outfn, &t->pk_out[k], CurrentMemoryContext);
		}
	}

	if (s->incremental)
	{
		TypeCacheEntry *tc;

		for (int i = 0; i < s->ncolumns; i++)
			if (strcmp(s->columns[i].name, s->cursor_column) == 0)
				t->cursor_col = i;
		tc = lookup_type_cache(t->typid[t->cursor_col], TYPECACHE_CMP_PROC_FINFO);
		if (!OidIsValid(tc->cmp_proc))
			sync_spec_error(s->source, "mode.cursor_column",
					   psprintf("names column \"%s\" of type %s, which has no ordering",
								s->cursor_column, format_type_be(t->typid[t->cursor_col])), NULL);
		fmgr_info_cxt(tc->cmp_proc, &t->cursor_cmp, CurrentMemoryContext);
		if (t->textcast[t->cursor_col])
			sync_spec_error(s->source, "mode.cursor_column",
							psprintf("names array column \"%s\", which cannot be a cursor", s->cursor_column),
							NULL);
		check_cursor_settings(s, t);
	}

	/* COPY sees neither row-level security nor rules: upserts only then */
	t->copy_ok = check_enable_rls(t->relid, InvalidOid, true) != RLS_ENABLED &&
		!relation_has_rules(t->relid);
	require_privilege(s, t->relid, ACL_SELECT, "read");
	require_privilege(s, t->relid, ACL_INSERT, "insert into");
	require_privilege(s, t->relid, ACL_UPDATE, "update");
	if (s->delete_mode == SYNC_DELETE_ROWS)
		require_privilege(s, t->relid, ACL_DELETE, "delete from");
	build_sql(s, t);
	return t;
}

/*
 * Is the target table empty (as the caller sees it)?  A run into an empty
 * table starts with COPY.
 */
bool
sync_target_empty(SyncTarget *t)
{
	if (SPI_execute(psprintf("SELECT 1 FROM %s LIMIT 1", t->qname), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", t->qname);
	return SPI_processed == 0;
}

/*
 * Prepare the upsert (this checks that the key has a unique index).  The
 * plan lives as long as the SPI connection's procedure context.
 */
void
sync_target_prepare(SyncTarget *t)
{
	Oid		   *types = palloc(sizeof(Oid) * (t->ncols + 1));

	memcpy(types, t->arrtype, sizeof(Oid) * t->ncols);
	types[t->ncols] = JSONBARRAYOID;
	PG_TRY();
	{
		for (int form = 0; form < 2; form++)
			t->upsert[form] = SPI_prepare(t->upsert_sql[form], t->ncols + (t->unmapped ? 1 : 0), types);
	}
	PG_CATCH();
	{
		ErrorData  *e = CopyErrorData();

		FlushErrorState();
		ereport(ERROR,
				(errcode(e->sqlerrcode),
				 errmsg("cannot load table %s: %s", t->qname, e->message),
				 e->sqlerrcode == ERRCODE_INVALID_COLUMN_REFERENCE ?
				 errhint("The primary key columns need a unique index or constraint on exactly those columns.") : 0));
	}
	PG_END_TRY();
	if (t->upsert[0] == NULL || t->upsert[1] == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}
