/*-------------------------------------------------------------------------
 *
 * expr.c
 *	  User-written expressions, for every component: parsed by PostgreSQL's
 *	  parser, checked against an allowlist of node types and written back
 *	  as SQL from the checked tree -- never the text the user typed.
 *
 *	  policy:  concord.policy_predicate(tbl regclass, predicate text) RETURNS text
 *	           concord.policy_mask(tbl regclass, col text, mask text) RETURNS text
 *	  metric:  concord.expr_check(rel regclass, alias text, expr text, condition boolean)
 *	           concord.expr_type(rel regclass, alias text, expr text) RETURNS regtype
 *	           concord.expr_check_over(alias text, names text[], types regtype[], expr text,
 *	                                   condition boolean)
 *	           concord.expr_names(expr text) RETURNS text[]
 *
 *	  Row policy predicates and masks:
 *
 *	  The predicate is parsed as the WHERE clause of
 *	  SELECT FROM <tbl> WHERE (<predicate>); the raw tree must be exactly
 *	  that shape (no UNION, no second table, nothing after the clause).
 *	  Allowed: the table's columns, constants, operators and functions
 *	  that are IMMUTABLE, boolean logic, CASE, COALESCE, IS [NOT] NULL,
 *	  IN (...) lists, casts, CURRENT_USER and SESSION_USER, and
 *	  concord.member('attribute') / concord.member_in('department'),
 *	  which read concord's own tables for the current user.  Each of
 *	  these is written as a scalar subquery, so it is evaluated once per
 *	  query, not once per row.  Refused, with the position in the
 *	  predicate: subqueries, other tables, volatile or stable functions
 *	  (current_setting, set_config, now(), random()), aggregates, window
 *	  functions, parameters, and anything else.
 *
 *	  Metric expressions (a measure, a dimension, a filter) are checked
 *	  the same way, over a relation of any kind that can be read (a table,
 *	  a governed view) or over named columns (a filter over dimensions, a
 *	  derived metric over other metrics), and never call the member
 *	  functions: a metric means the same for everyone, and row policies
 *	  decide which rows it counts.  They come back qualified by an alias
 *	  the caller chooses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/analyze.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "concord.h"

PG_FUNCTION_INFO_V1(concord_policy_predicate);
PG_FUNCTION_INFO_V1(concord_policy_mask);
PG_FUNCTION_INFO_V1(concord_expr_check);
PG_FUNCTION_INFO_V1(concord_expr_check_over);
PG_FUNCTION_INFO_V1(concord_expr_type);
PG_FUNCTION_INFO_V1(concord_expr_names);
PG_FUNCTION_INFO_V1(concord_sql_check_select);

/*
 * The functions of concord a predicate may call, each with one text
 * argument, and the one stable function a mask may call: registered by the
 * component that owns them (policy: member, member_in, mask_hash) through
 * concord_expr_allow_function(), so that the checker names no component.
 */
#define EXPR_MAX_MEMBER_FUNCTIONS 4
static const char *member_functions[EXPR_MAX_MEMBER_FUNCTIONS];
static int	n_member_functions = 0;
static const char *mask_stable_function = NULL;

/*
 * Let expressions call concord's function name (one text argument), as
 * use says: in row policy predicates only, with a constant argument,
 * evaluated once per query (CONCORD_EXPR_MEMBER); or in a mask, though it
 * is only stable (CONCORD_EXPR_MASK_STABLE, one function at most).  Called
 * from a component's registration at _PG_init.
 */
void
concord_expr_allow_function(const char *name, ConcordExprUse use)
{
	if (use == CONCORD_EXPR_MASK_STABLE)
		mask_stable_function = name;
	else if (n_member_functions < EXPR_MAX_MEMBER_FUNCTIONS)
		member_functions[n_member_functions++] = name;
	else
		elog(ERROR, "too many member functions registered with the expression checker");
}

typedef struct Check
{
	const char *predicate;		/* as the user wrote it */
	const char *what;			/* "row policy predicate on deal", "mask of deal.phone" */
	int			offset;			/* where it starts in the parsed text */
	Oid			relid;
	AttrNumber	column;			/* a mask: the only column it may read */
	Oid			member_oids[EXPR_MAX_MEMBER_FUNCTIONS];
	Oid			mask_hash_oid;	/* the registered stable function allowed in masks */
	bool		member_ok;		/* may it call the member functions? */
} Check;

/* Error about node at its place in the predicate. */
static void
refuse(const Check *c, Node *node, const char *what)
{
	int			loc = exprLocation(node) - c->offset;
	int			len = strlen(c->predicate);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", c->what, what),
			 loc >= 0 && loc < len ?
			 errdetail("At character %d of the predicate: %s", loc + 1,
					   pnstrdup(c->predicate + loc,
								pg_mbcliplen(c->predicate + loc, len - loc, 40))) : 0,
			 errhint("A predicate may use the table's columns, constants, PostgreSQL's own immutable operators and functions, "
					 "CASE, COALESCE, IN lists, CURRENT_USER, and concord.member('attribute') or "
					 "concord.member_in('department').")));
}

static bool
is_member_function(const Check *c, Oid funcid)
{
	for (int i = 0; i < n_member_functions; i++)
		if (funcid == c->member_oids[i])
			return true;
	return false;
}

/*
 * Is the function behind an operator or call one a predicate may use?  The
 * one exception to immutability is concord's own mask_hash in a mask: it is
 * stable only because its key is a secret that can be rotated.
 */
static void
check_function(const Check *c, Node *node, Oid funcid)
{
	if (c->column != InvalidAttrNumber && funcid == c->mask_hash_oid)
		return;
	if (func_volatile(funcid) != PROVOLATILE_IMMUTABLE)
		refuse(c, node, psprintf("function %s is not immutable", format_procedure(funcid)));

	/*
	 * Only PostgreSQL's own functions and concord's: a function someone
	 * created is her code, and an expression is run by everyone who reads
	 * through it (a metric by every analyst, a policy by every reader, a
	 * rollup as concord's owner) -- IMMUTABLE is only her word for it.
	 */
	if (funcid >= FirstNormalObjectId &&
		getExtensionOfObject(ProcedureRelationId, funcid) != get_extension_oid("concord", true))
		refuse(c, node, psprintf("function %s is not one of PostgreSQL's own", format_procedure(funcid)));
}

/*
 * The allowlist, node by node (expression_tree_walker's callback): refuse
 * (an error naming the node and where it is in the predicate) anything but
 * a column of the one relation, a constant, an operator or call of an
 * immutable function (or a registered member function in a row policy,
 * the registered stable function in a mask), CASE, COALESCE, GREATEST/
 * LEAST, NULLIF, IS [NOT] NULL/TRUE, boolean logic, IN lists and arrays,
 * casts, a field of a row, and CURRENT_USER/SESSION_USER.  Returns false
 * to go on walking, as walkers do; it never returns true.
 */
static bool
check_walker(Node *node, Check *c)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varlevelsup != 0 || ((Var *) node)->varno != 1 ||
				((Var *) node)->varattno <= 0)
				refuse(c, node, "only the table's own columns may be used");
			if (c->column != InvalidAttrNumber && ((Var *) node)->varattno != c->column)
				refuse(c, node, "a mask may read only the column it masks");
			return false;
		case T_Const:
			return false;
		case T_SubLink:
			{
				/* only the member lookups this file made into subqueries */
				SubLink    *s = (SubLink *) node;
				Query	   *q = (Query *) s->subselect;
				TargetEntry *te;
				FuncExpr   *f;

				if (s->subLinkType != EXPR_SUBLINK || !IsA(q, Query) || q->rtable != NIL ||
					list_length(q->targetList) != 1)
					refuse(c, node, "subqueries are not allowed");
				te = linitial(q->targetList);
				f = (FuncExpr *) te->expr;
				if (!IsA(f, FuncExpr) || !is_member_function(c, f->funcid) || list_length(f->args) != 1)
					refuse(c, node, "subqueries are not allowed");
				if (!c->member_ok)
					refuse(c, node, "concord.member() and member_in() belong in row policies, not here");
				if (!IsA(linitial(f->args), Const))
					refuse(c, node, "the argument of concord.member() and member_in() must be a constant");
				return false;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				if (is_member_function(c, f->funcid) && c->column != InvalidAttrNumber)
					refuse(c, node, "a mask may not depend on the member (say who sees the clear value instead)");
				if (is_member_function(c, f->funcid) && !c->member_ok)
					refuse(c, node, "concord.member() and member_in() belong in row policies, not here");
				if (is_member_function(c, f->funcid))
				{
					if (!IsA(linitial(f->args), Const))
						refuse(c, node, "the argument of concord.member() and member_in() must be a constant");
					return false;
				}
				check_function(c, node, f->funcid);
				break;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			set_opfuncid((OpExpr *) node);
			check_function(c, node, ((OpExpr *) node)->opfuncid);
			break;
		case T_ScalarArrayOpExpr:
			set_sa_opfuncid((ScalarArrayOpExpr *) node);
			check_function(c, node, ((ScalarArrayOpExpr *) node)->opfuncid);
			break;
		case T_CoerceViaIO:
			{
				/* a cast through text: the output and input functions */
				CoerceViaIO *cv = (CoerceViaIO *) node;
				Oid			out,
							in,
							ioparam;
				bool		varlena;

				getTypeOutputInfo(exprType((Node *) cv->arg), &out, &varlena);
				getTypeInputInfo(cv->resulttype, &in, &ioparam);
				check_function(c, node, out);
				check_function(c, node, in);
				break;
			}
		case T_SQLValueFunction:
			{
				SQLValueFunctionOp op = ((SQLValueFunction *) node)->op;

				if (op != SVFOP_CURRENT_USER && op != SVFOP_SESSION_USER && op != SVFOP_CURRENT_ROLE &&
					op != SVFOP_USER)
					refuse(c, node, "only CURRENT_USER and SESSION_USER may stand for the member");
				return false;
			}
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_FieldSelect:		/* a field of a row (NEW.status in an event rule) */
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_ArrayExpr:
		case T_RelabelType:
		case T_List:
			break;
		default:
			refuse(c, node, "this kind of expression is not allowed");
	}
	return expression_tree_walker(node, check_walker, (void *) c);
}

/*
 * Apply fn to every node of a raw expression of the kinds a predicate can
 * hold, bottom first; fn returns the node or its replacement.
 */
typedef Node *(*RawMutator) (Node *node, const Check *c);

static Node *
raw_mutate(Node *node, RawMutator fn, const Check *c)
{
	ListCell   *lc;

	if (node == NULL)
		return NULL;
	if (IsA(node, A_Expr))
	{
		A_Expr	   *e = (A_Expr *) node;

		e->lexpr = raw_mutate(e->lexpr, fn, c);
		e->rexpr = raw_mutate(e->rexpr, fn, c);
	}
	else if (IsA(node, BoolExpr))
	{
		foreach(lc, ((BoolExpr *) node)->args)
			lfirst(lc) = raw_mutate(lfirst(lc), fn, c);
	}
	else if (IsA(node, List))
	{
		foreach(lc, (List *) node)
			lfirst(lc) = raw_mutate(lfirst(lc), fn, c);
	}
	else if (IsA(node, TypeCast))
		((TypeCast *) node)->arg = raw_mutate(((TypeCast *) node)->arg, fn, c);
	else if (IsA(node, NullTest))
		((NullTest *) node)->arg = (Expr *) raw_mutate((Node *) ((NullTest *) node)->arg, fn, c);
	else if (IsA(node, BooleanTest))
		((BooleanTest *) node)->arg = (Expr *) raw_mutate((Node *) ((BooleanTest *) node)->arg, fn, c);
	else if (IsA(node, CoalesceExpr))
		((CoalesceExpr *) node)->args = (List *) raw_mutate((Node *) ((CoalesceExpr *) node)->args, fn, c);
	else if (IsA(node, MinMaxExpr))
		((MinMaxExpr *) node)->args = (List *) raw_mutate((Node *) ((MinMaxExpr *) node)->args, fn, c);
	else if (IsA(node, A_ArrayExpr))
		((A_ArrayExpr *) node)->elements = (List *) raw_mutate((Node *) ((A_ArrayExpr *) node)->elements, fn, c);
	else if (IsA(node, CaseExpr))
	{
		CaseExpr   *ce = (CaseExpr *) node;

		ce->arg = (Expr *) raw_mutate((Node *) ce->arg, fn, c);
		foreach(lc, ce->args)
		{
			CaseWhen   *w = lfirst(lc);

			w->expr = (Expr *) raw_mutate((Node *) w->expr, fn, c);
			w->result = (Expr *) raw_mutate((Node *) w->result, fn, c);
		}
		ce->defresult = (Expr *) raw_mutate((Node *) ce->defresult, fn, c);
	}
	else if (IsA(node, FuncCall))
		((FuncCall *) node)->args = (List *) raw_mutate((Node *) ((FuncCall *) node)->args, fn, c);
	return fn(node, c);
}

/*
 * concord.member('x') and concord.member_in('x') become
 * (SELECT concord.member('x')), evaluated once per query.
 */
static Node *
member_call_wrapped(Node *node, const Check *c)
{
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		char	   *schema,
				   *name;

		DeconstructQualifiedName(fc->funcname, &schema, &name);
		for (int i = 0; i < n_member_functions; i++)
			if (strcmp(name, member_functions[i]) == 0 &&
				(schema == NULL || strcmp(schema, get_namespace_name(get_func_namespace(c->member_oids[i]))) == 0))
			{
				SelectStmt *sel = makeNode(SelectStmt);
				ResTarget  *rt = makeNode(ResTarget);
				SubLink    *s = makeNode(SubLink);

				/* always the extension's function, whatever the search path */
				fc->funcname = list_make2(makeString(get_namespace_name(get_func_namespace(c->member_oids[i]))),
										  makeString(pstrdup(member_functions[i])));
				rt->val = (Node *) fc;
				rt->location = fc->location;
				sel->targetList = list_make1(rt);
				s->subLinkType = EXPR_SUBLINK;
				s->subselect = (Node *) sel;
				s->location = fc->location;
				return (Node *) s;
			}
	}
	return node;
}

/*
 * NEW.status and OLD.status (an event rule's condition) become
 * (new).status: a field of the row, as PL/pgSQL reads it.
 */
static Node *
row_field(Node *node, const Check *c)
{
	if (IsA(node, ColumnRef) && list_length(((ColumnRef *) node)->fields) == 2 &&
		IsA(linitial(((ColumnRef *) node)->fields), String))
	{
		ColumnRef  *cr = (ColumnRef *) node;
		const char *row = strVal(linitial(cr->fields));

		if (strcmp(row, "new") == 0 || strcmp(row, "old") == 0)
		{
			ColumnRef  *whole = makeNode(ColumnRef);
			A_Indirection *ind = makeNode(A_Indirection);

			whole->fields = list_make1(linitial(cr->fields));
			whole->location = cr->location;
			ind->arg = (Node *) whole;
			ind->indirection = list_make1(lsecond(cr->fields));
			return (Node *) ind;
		}
	}
	return node;
}

/* Errors of the parser: show where in the checked text they are. */
typedef struct ParseContext
{
	const char *sql;
	const char *what;			/* "row policy predicate on deal" */
} ParseContext;

static void
parse_error_context(void *arg)
{
	ParseContext *pc = arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		/* a position in the text checked, not in the caller's statement */
		errposition(0);
		internalerrposition(pos);
		internalerrquery(pc->sql);
	}
	errcontext("checking the %s", pc->what);
}

/* A Check for text, with the extension's functions found by extfunc's schema. */
static void
check_init(Check *c, Oid extfunc, const char *text, const char *what)
{
	Oid			argtypes[1] = {TEXTOID};
	char	   *ext_ns = get_namespace_name(get_func_namespace(extfunc));

	memset(c, 0, sizeof(*c));
	c->predicate = text;
	c->what = what;
	for (int i = 0; i < n_member_functions; i++)
		c->member_oids[i] = LookupFuncName(list_make2(makeString(ext_ns), makeString((char *) member_functions[i])),
										   1, argtypes, false);
	c->mask_hash_oid = mask_stable_function == NULL ? InvalidOid :
		LookupFuncName(list_make2(makeString(ext_ns), makeString((char *) mask_stable_function)),
					   1, argtypes, false);
}

/*
 * The statement that checks text, reading from (a relation or derived
 * table): SELECT FROM <from> WHERE (<text>) for a condition, SELECT (<text>)
 * FROM <from> for a value.  c->offset is where text starts in it.
 */
static char *
wrapped_text(Check *c, const char *from, const char *text, bool condition)
{
	StringInfoData sql;

	initStringInfo(&sql);
	if (condition)
		appendStringInfo(&sql, "SELECT FROM %s WHERE (", from);
	else
		appendStringInfoString(&sql, "SELECT (");
	c->offset = sql.len;
	if (condition)
		appendStringInfo(&sql, "%s\n)", text);
	else
		appendStringInfo(&sql, "%s\n) FROM %s", text, from);
	return sql.data;
}

/*
 * Parse sql (from wrapped_text) as exactly that statement: one plain
 * SELECT of one FROM item, nothing added, nothing taken away.
 */
static RawStmt *
parse_wrapped(const char *sql, bool condition, const char *what)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	SelectStmt *sel;

	if (list_length(raw) == 1 && IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
	{
		sel = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
		if (sel->op == SETOP_NONE && list_length(sel->fromClause) == 1 &&
			sel->groupClause == NIL && sel->havingClause == NULL && sel->windowClause == NIL &&
			sel->sortClause == NIL && sel->limitCount == NULL && sel->limitOffset == NULL &&
			sel->lockingClause == NIL && sel->withClause == NULL && sel->distinctClause == NIL &&
			sel->intoClause == NULL &&
			(condition ? sel->targetList == NIL && sel->whereClause != NULL :
			 list_length(sel->targetList) == 1 && sel->whereClause == NULL))
			return linitial(raw);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: it is not one %s", what, condition ? "condition" : "expression")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Parse and analyze text as a condition (the WHERE clause of SELECT FROM
 * <from>) or a value (the one output of SELECT (...) FROM <from>), after
 * mutate (if any) rewrote its raw tree; parser errors point into text.
 * Returns the analyzed statement, which must read one relation (relid,
 * when valid), and in *expr the condition, a boolean, or the value.
 */
static Query *
analyze_wrapped(Check *c, const char *from, const char *text, bool condition, Oid relid,
				RawMutator mutate, Node **expr)
{
	char	   *sql = wrapped_text(c, from, text, condition);
	ParseContext pc;
	ErrorContextCallback errcb;
	RawStmt    *rs;
	SelectStmt *sel;
	Query	   *q;

	pc.sql = sql;
	pc.what = c->what;
	errcb.callback = parse_error_context;
	errcb.arg = &pc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	rs = parse_wrapped(sql, condition, c->what);
	sel = (SelectStmt *) rs->stmt;
	if (mutate && condition)
		sel->whereClause = raw_mutate(sel->whereClause, mutate, c);
	else if (mutate)
		((ResTarget *) linitial(sel->targetList))->val =
			raw_mutate(((ResTarget *) linitial(sel->targetList))->val, mutate, c);
	q = parse_analyze_fixedparams(rs, sql, NULL, 0, NULL);
	error_context_stack = errcb.previous;
	if (list_length(q->rtable) != 1 ||
		(OidIsValid(relid) && ((RangeTblEntry *) linitial(q->rtable))->relid != relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: it may not name other tables", c->what)));
	if (condition)
	{
		*expr = q->jointree->quals;
		if (exprType(*expr) != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("invalid %s: it is not a condition (its type is %s)", c->what,
							format_type_be(exprType(*expr)))));
	}
	else
		*expr = (Node *) ((TargetEntry *) linitial(q->targetList))->expr;
	return q;
}

/* A relation as messages name it: schema-qualified (and quoted if need be). */
static char *
rel_qualified(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * A regclass argument: the relation must exist (an OID typed by hand, or
 * one of a table dropped since, names nothing), and is locked so that it
 * cannot be dropped while the text is checked against it.  Returns relid.
 */
static Oid
relation_arg(Oid relid)
{
	if (OidIsValid(relid))
	{
		LockRelationOid(relid, AccessShareLock);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			return relid;
		UnlockRelationOid(relid, AccessShareLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("relation with OID %u does not exist", relid),
			 errhint("Name the relation, as in 'sales.customer'::regclass.")));
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * Parse text as a predicate (column == InvalidAttrNumber: the WHERE clause
 * of SELECT FROM tbl) or as the mask of a column (the one output of
 * SELECT (...) FROM tbl), check it, and return it written back from its
 * tree.  extfunc: a function of the extension (to find its schema).
 */
static char *
checked_sql(Oid extfunc, Oid relid, const char *text, AttrNumber column, const char *what)
{
	Check		c;
	Node	   *expr;
	bool		condition = column == InvalidAttrNumber;

	if (get_rel_relkind(relid) != RELKIND_RELATION && get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", rel_qualified(relid)),
				 errhint("Row policies and masks apply to tables.")));
	if (strspn(text, " \t\r\n") == strlen(text))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: it is empty", what),
				 condition ?
				 errhint("Write a condition over the table's columns, e.g. region = concord.member('region').") :
				 errhint("Write an expression of the column, e.g. concord.mask_phone(phone).")));

	check_init(&c, extfunc, text, what);
	c.relid = relid;
	c.column = column;
	c.member_ok = true;

	/*
	 * Member lookups once per query, as scalar subqueries -- except on a
	 * Citus table: Citus ships a policy to the shards and cannot ship a
	 * subquery in it, and evaluated on a worker the lookup is once per
	 * statement anyway (member.c keeps its answers).
	 */
	(void) analyze_wrapped(&c, rel_qualified(relid), text, condition, relid,
						   condition && !concord_citus_table(relid) ? member_call_wrapped : NULL, &expr);
	if (!condition)
	{
		Oid			coltype = get_atttype(relid, column);

		/* the mask NULL (nullify) is a NULL of the column's type */
		if (IsA(expr, Const) && ((Const *) expr)->constisnull && exprType(expr) != coltype)
		{
			Oid			typid,
						collid;
			int32		typmod;

			get_atttypetypmodcoll(relid, column, &typid, &typmod, &collid);
			expr = (Node *) makeNullConst(typid, typmod, collid);
		}
		/* the view shows the mask in the column's place: the same type */
		if (exprType(expr) != coltype)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("invalid %s: it gives %s, the column is %s", what,
							format_type_be(exprType(expr)), format_type_be(coltype)),
					 errhint("Cast the mask to the column's type, or pick a mask of that type.")));
	}
	check_walker(expr, &c);
	return deparse_expression(expr, deparse_context_for(get_rel_name(relid), relid), false, false);
}

/*
 * concord.policy_predicate(tbl regclass, predicate text) RETURNS text:
 * a row policy's condition, checked and written back from its tree.
 */
Datum
concord_policy_predicate(PG_FUNCTION_ARGS)
{
	Oid			relid = relation_arg(PG_GETARG_OID(0));

	PG_RETURN_TEXT_P(cstring_to_text(checked_sql(fcinfo->flinfo->fn_oid, relid,
												 text_to_cstring(PG_GETARG_TEXT_PP(1)), InvalidAttrNumber,
												 psprintf("row policy predicate on %s", rel_qualified(relid)))));
}

/*
 * concord.policy_mask(tbl regclass, col text, mask text) RETURNS text:
 * the mask of a column, checked like a predicate but reading that column
 * only, never the member, and of the column's type.
 */
Datum
concord_policy_mask(PG_FUNCTION_ARGS)
{
	Oid			relid = relation_arg(PG_GETARG_OID(0));
	char	   *col = text_to_cstring(PG_GETARG_TEXT_PP(1));
	AttrNumber	attno = get_attnum(relid, col);

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s does not exist", col, rel_qualified(relid))));
	PG_RETURN_TEXT_P(cstring_to_text(checked_sql(fcinfo->flinfo->fn_oid, relid,
												 text_to_cstring(PG_GETARG_TEXT_PP(2)), attno,
												 psprintf("mask of %s.%s", rel_qualified(relid), quote_identifier(col)))));
}


/*
 * Metric expressions.  text is parsed as the one output (a value) or the
 * WHERE clause (a condition) of a query reading one relation under alias:
 * relid, or, when relid is invalid, a derived table whose columns are names
 * (of types).  Checked like a predicate, but the member functions are
 * refused; returned written back from its tree, columns qualified by alias.
 */
static char *
checked_metric_sql(Oid extfunc, Oid relid, List *names, List *types, const char *alias,
				   const char *text, bool condition, const char *what, Oid *type)
{
	Check		c;
	StringInfoData from;
	Query	   *q;
	Node	   *expr;
	PlannedStmt *ps;
	List	   *ctx;

	if (strspn(text, " \t\r\n") == strlen(text))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: it is empty", what)));
	check_init(&c, extfunc, text, what);
	c.relid = relid;
	c.column = InvalidAttrNumber;
	c.member_ok = false;

	initStringInfo(&from);
	if (OidIsValid(relid))
	{
		char		kind = get_rel_relkind(relid);

		if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_VIEW &&
			kind != RELKIND_MATVIEW && kind != RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("%s is not a table or view", rel_qualified(relid))));
		appendStringInfo(&from, "%s AS %s",
						 rel_qualified(relid), quote_identifier(alias));
	}
	else
	{
		ListCell   *ln,
				   *lt;

		appendStringInfoString(&from, "(SELECT");
		forboth(ln, names, lt, types)
			appendStringInfo(&from, "%s NULL::%s AS %s", ln == list_head(names) ? "" : ",",
							 format_type_be(lfirst_oid(lt)), quote_identifier(lfirst(ln)));
		appendStringInfo(&from, ") AS %s", quote_identifier(alias[0] ? alias : "r"));
	}

	/* an event rule's NEW.x and OLD.x: fields of the row variables */
	q = analyze_wrapped(&c, from.data, text, condition, relid,
						names != NIL && strcmp(linitial(names), "new") == 0 ? row_field : NULL, &expr);
	check_walker(expr, &c);
	if (type)
		*type = exprType(expr);

	/* written back with the relation's alias, as EXPLAIN would name it */
	ps = makeNode(PlannedStmt);
	ps->rtable = q->rtable;
	ctx = deparse_context_for_plan_tree(ps, select_rtable_names_for_explain(q->rtable, bms_make_singleton(1)));
	/* an empty alias: names unqualified (an event rule's (new).status) */
	return deparse_expression(expr, ctx, alias[0] != '\0', false);
}

/*
 * concord.expr_check(rel regclass, alias text, expr text, condition boolean)
 * RETURNS text: a measure, dimension or filter over a relation's columns.
 */
Datum
concord_expr_check(PG_FUNCTION_ARGS)
{
	Oid			relid = relation_arg(PG_GETARG_OID(0));
	char	   *alias = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		condition = PG_GETARG_BOOL(3);

	PG_RETURN_TEXT_P(cstring_to_text(checked_metric_sql(fcinfo->flinfo->fn_oid, relid, NIL, NIL, alias,
														text_to_cstring(PG_GETARG_TEXT_PP(2)), condition,
														psprintf("%s over %s", condition ? "condition" : "expression",
																 rel_qualified(relid)), NULL)));
}

/*
 * concord.expr_type(rel regclass, alias text, expr text) RETURNS regtype:
 * the type of an expression over a relation's columns, checked as above.
 */
Datum
concord_expr_type(PG_FUNCTION_ARGS)
{
	Oid			relid = relation_arg(PG_GETARG_OID(0));
	Oid			type = InvalidOid;

	(void) checked_metric_sql(fcinfo->flinfo->fn_oid, relid, NIL, NIL, text_to_cstring(PG_GETARG_TEXT_PP(1)),
							  text_to_cstring(PG_GETARG_TEXT_PP(2)), false,
							  psprintf("expression over %s", rel_qualified(relid)), &type);
	PG_RETURN_OID(type);
}

/*
 * concord.expr_check_over(alias text, names text[], types regtype[],
 * expr text, condition boolean) RETURNS text: an expression over named
 * columns (dimensions, metrics).
 */
Datum
concord_expr_check_over(PG_FUNCTION_ARGS)
{
	char	   *alias = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *na = PG_GETARG_ARRAYTYPE_P(1);
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(2);
	bool		condition = PG_GETARG_BOOL(4);
	Datum	   *nd,
			   *td;
	bool	   *nn,
			   *tn;
	int			n,
				nt;
	List	   *names = NIL,
			   *types = NIL;

	deconstruct_array(na, TEXTOID, -1, false, TYPALIGN_INT, &nd, &nn, &n);
	deconstruct_array(ta, REGTYPEOID, sizeof(Oid), true, TYPALIGN_INT, &td, &tn, &nt);
	if (n != nt || n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expr_check_over needs as many types as names, and at least one")));
	for (int i = 0; i < n; i++)
	{
		if (nn[i] || tn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("expr_check_over: a name or type is NULL")));
		if (!SearchSysCacheExists1(TYPEOID, td[i]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("type with OID %u of \"%s\" does not exist",
							DatumGetObjectId(td[i]), TextDatumGetCString(nd[i]))));
		names = lappend(names, TextDatumGetCString(nd[i]));
		types = lappend_oid(types, DatumGetObjectId(td[i]));
	}
	PG_RETURN_TEXT_P(cstring_to_text(checked_metric_sql(fcinfo->flinfo->fn_oid, InvalidOid, names, types, alias,
														text_to_cstring(PG_GETARG_TEXT_PP(3)), condition,
														condition ? "filter" : "expression", NULL)));
}

/* ColumnRefs of a raw expression: collected by name */
static bool
collect_names(Node *node, List **names)
{
	if (node == NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		ColumnRef  *cr = (ColumnRef *) node;

		if (list_length(cr->fields) != 1 || !IsA(linitial(cr->fields), String))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not a name", NameListToString(cr->fields)),
					 errhint("Refer to metrics and dimensions by their names alone.")));
		*names = list_append_unique(*names, linitial(cr->fields));
		return false;
	}
	return raw_expression_tree_walker(node, collect_names, (void *) names);
}

/*
 * concord.expr_names(expr text) RETURNS text[]: the names an expression
 * refers to (the metrics of a derived metric, the dimensions of a filter),
 * each once, in order of first use.
 */
Datum
concord_expr_names(PG_FUNCTION_ARGS)
{
	char	   *src = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *sql = psprintf("SELECT (%s\n)", src);
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	List	   *names = NIL;
	SelectStmt *sel;
	Datum	   *d;
	int			i = 0;
	ListCell   *lc;

	if (list_length(raw) != 1 || !IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt) ||
		list_length(((SelectStmt *) ((RawStmt *) linitial(raw))->stmt)->targetList) != 1 ||
		((SelectStmt *) ((RawStmt *) linitial(raw))->stmt)->fromClause != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expression: it is not one expression: %s", src)));
	sel = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	collect_names(((ResTarget *) linitial(sel->targetList))->val, &names);
	d = palloc(sizeof(Datum) * Max(list_length(names), 1));
	foreach(lc, names)
		d[i++] = CStringGetTextDatum(strVal(lfirst(lc)));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * concord.sql_check_select(sql text) RETURNS text: sql if it is exactly one
 * plain SELECT (no INTO, no locking clause, no data-modifying WITH), else
 * an error.  An alert's query is run as its owner, read-only; this check
 * says at definition time what the query may not be.
 */
Datum
concord_sql_check_select(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char	   *src = text_to_cstring(t);
	List	   *raw = raw_parser(src, RAW_PARSE_DEFAULT);
	SelectStmt *sel;
	ListCell   *lc;

	if (list_length(raw) != 1 || !IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an alert's query must be one SELECT statement"),
				 errdetail("Got %d statements%s.", list_length(raw),
						   list_length(raw) == 1 ? ", not a SELECT" : "")));
	sel = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	if (sel->intoClause != NULL || sel->lockingClause != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an alert's query must only read: no INTO, no FOR UPDATE")));
	if (sel->withClause != NULL)
		foreach(lc, sel->withClause->ctes)
		{
			CommonTableExpr *cte = lfirst(lc);

			if (!IsA(cte->ctequery, SelectStmt))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("an alert's query must only read: WITH %s is not a SELECT", cte->ctename)));
		}
	PG_RETURN_TEXT_P(t);
}
