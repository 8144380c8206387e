/*-------------------------------------------------------------------------
 *
 * http.c
 *	  SQL entry points of the http component: concord.http() (behind
 *	  http_get, http_post, ...) and concord.http_batch().
 *
 * Both validate their arguments into transfers, hand them to the engine
 * (transfer.c) and turn the outcomes into rows: a single call raises its
 * error, a batch reports each request's error in its own row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "concord.h"
#include "http/http.h"

PG_FUNCTION_INFO_V1(concord_http);
PG_FUNCTION_INFO_V1(concord_http_batch);

/* columns of concord.http_response */
enum
{
	RESP_STATUS,
	RESP_CONTENT_TYPE,
	RESP_HEADERS,
	RESP_BODY,
	RESP_BODY_BYTES,
	RESP_ELAPSED_MS,
	RESP_URL,
	RESP_NATTS
};

/* columns of concord.http_request */
enum
{
	REQ_METHOD,
	REQ_URL,
	REQ_PARAMS,
	REQ_HEADERS,
	REQ_BODY,
	REQ_CONTENT_TYPE,
	REQ_NATTS
};

/*
 * Read an optional integer limit argument; NULL means "use the setting".
 */
static int
limit_arg(FunctionCallInfo fcinfo, int argno, const char *name, int min)
{
	int			v;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return -1;
	v = PG_GETARG_INT32(argno);
	if (v < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least %d, not %d", name, min, v)));
	return v;
}

/*
 * Read the four per-call limits starting at argument first; each one, or
 * the setting it falls back to, must be within the superuser's ceiling.
 */
static void
limits_from_args(FunctionCallInfo fcinfo, int first, HttpLimits *limits)
{
	limits->timeout_ms = limit_arg(fcinfo, first, "timeout_ms", 1);
	limits->connect_timeout_ms = limit_arg(fcinfo, first + 1, "connect_timeout_ms", 1);
	limits->max_response_bytes = limit_arg(fcinfo, first + 2, "max_response_bytes", 0);
	limits->max_redirects = limit_arg(fcinfo, first + 3, "max_redirects", 0);
	if (limits->max_redirects > 20)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_redirects must be at most 20, not %d", limits->max_redirects)));
	http_limits_check(limits, NULL);
}

/*
 * Response headers as a jsonb object: lower-case names, repeated headers
 * joined with ", " as HTTP allows.
 */
static Jsonb *
headers_to_jsonb(List *headers)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	List	   *names = NIL;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, headers)
	{
		HttpHeader *h = lfirst(lc);
		StringInfoData v;
		ListCell   *lc2;
		bool		seen = false;
		JsonbValue	k,
					val;

		foreach(lc2, names)
			if (strcmp((char *) lfirst(lc2), h->name) == 0)
				seen = true;
		if (seen)
			continue;
		names = lappend(names, h->name);

		initStringInfo(&v);
		for_each_cell(lc2, headers, lc)
		{
			HttpHeader *o = lfirst(lc2);

			if (strcmp(o->name, h->name) != 0)
				continue;
			if (v.len > 0)
				appendStringInfoString(&v, ", ");
			appendStringInfoString(&v, o->value);
		}
		k.type = jbvString;
		k.val.string.val = h->name;
		k.val.string.len = strlen(h->name);
		val.type = jbvString;
		val.val.string.val = v.data;
		val.val.string.len = v.len;
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * Fill the response columns (values/nulls indexed as concord.http_response)
 * from a successful result.  Returns false with err set when the body text
 * cannot be decoded; the other columns are filled all the same.
 */
static bool
response_values(HttpResult *r, Datum *values, bool *nulls, HttpError *err)
{
	text	   *body;
	bool		ok;

	values[RESP_STATUS] = Int32GetDatum(r->status);
	nulls[RESP_STATUS] = false;
	if (r->content_type)
		values[RESP_CONTENT_TYPE] = CStringGetTextDatum(r->content_type);
	nulls[RESP_CONTENT_TYPE] = r->content_type == NULL;
	values[RESP_HEADERS] = JsonbPGetDatum(headers_to_jsonb(r->headers));
	nulls[RESP_HEADERS] = false;
	ok = http_decode_text(r, &body, err);
	values[RESP_BODY] = PointerGetDatum(body);
	nulls[RESP_BODY] = body == NULL;
	values[RESP_BODY_BYTES] = PointerGetDatum(r->body);
	nulls[RESP_BODY_BYTES] = false;
	values[RESP_ELAPSED_MS] = Float8GetDatum(r->elapsed_ms);
	nulls[RESP_ELAPSED_MS] = false;
	values[RESP_URL] = CStringGetTextDatum(r->effective_url);
	nulls[RESP_URL] = false;
	return ok;
}

/* Text argument as a C string, or NULL. */
static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * concord.http(method, url, params, headers, body, content_type,
 *				timeout_ms, connect_timeout_ms, max_response_bytes,
 *				max_redirects) returns concord.http_response
 *
 * One request; any failure is raised as an error.
 */
Datum
concord_http(PG_FUNCTION_ARGS)
{
	char	   *method = text_arg(fcinfo, 0);
	char	   *url = text_arg(fcinfo, 1);
	Jsonb	   *params = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Jsonb	   *headers = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	text	   *body = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	char	   *content_type = text_arg(fcinfo, 5);
	HttpLimits	limits;
	List	   *allowlist;
	HttpTransfer *x;
	HttpResult *r;
	TupleDesc	desc;
	Datum		values[RESP_NATTS];
	bool		nulls[RESP_NATTS];
	HttpError	err;

	if (method == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("HTTP method must not be null")));
	if (url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request URL must not be null")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	limits_from_args(fcinfo, 6, &limits);

	allowlist = http_allowlist_load();
	x = http_transfer_create(method, url, params, headers,
							 body ? VARDATA_ANY(body) : NULL,
							 body ? VARSIZE_ANY_EXHDR(body) : 0,
							 content_type, &limits, allowlist);
	http_perform(&x, 1, concord_http_max_connections,
				 concord_http_max_host_connections, allowlist);
	r = http_transfer_result(x);
	http_call_log(&r, 1);
	if (!r->ok)
		http_raise(&r->error);

	if (!response_values(r, values, nulls, &err))
		http_raise(&err);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc),
													  values, nulls)));
}

/*
 * concord.http_batch(requests concord.http_request[], max_connections,
 *					  max_host_connections, timeout_ms, connect_timeout_ms,
 *					  max_response_bytes, max_redirects)
 *
 * Runs all requests concurrently and returns one row per request in input
 * order; a failed request has error_code and error set in its row.
 */
Datum
concord_http_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int			max_conn = concord_http_max_connections;
	int			max_host = concord_http_max_host_connections;
	HttpLimits	limits;
	List	   *allowlist;
	HttpTransfer **xs;
	HttpResult **rs;
	TupleDesc	reqdesc = NULL;

	if (!PG_ARGISNULL(1))
		max_conn = limit_arg(fcinfo, 1, "max_connections", 1);
	if (!PG_ARGISNULL(2))
		max_host = limit_arg(fcinfo, 2, "max_host_connections", 1);
	http_caps_check(max_conn, !PG_ARGISNULL(1), max_host, !PG_ARGISNULL(2));
	limits_from_args(fcinfo, 3, &limits);

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;		/* no requests, no rows */
	arr = PG_GETARG_ARRAYTYPE_P(0);

	elemtype = ARR_ELEMTYPE(arr);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("requests must be a one-dimensional array, not %d dimensions",
						ARR_NDIM(arr))));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
					  &elems, &elemnulls, &n);
	if (n == 0)
		return (Datum) 0;

	allowlist = http_allowlist_load();
	xs = palloc(sizeof(HttpTransfer *) * n);
	rs = palloc(sizeof(HttpResult *) * n);
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader th;
		HeapTupleData tup;
		Datum		f[REQ_NATTS];
		bool		fn[REQ_NATTS];
		text	   *body;

		if (elemnulls[i])
		{
			xs[i] = http_transfer_create(NULL, NULL, NULL, NULL, NULL, 0,
										 NULL, &limits, allowlist);
			continue;
		}
		th = DatumGetHeapTupleHeader(elems[i]);
		if (reqdesc == NULL)
			reqdesc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(th),
												  HeapTupleHeaderGetTypMod(th));
		if (reqdesc->natts != REQ_NATTS)
			elog(ERROR, "unexpected concord.http_request type");
		tup.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tup.t_self);
		tup.t_tableOid = InvalidOid;
		tup.t_data = th;
		heap_deform_tuple(&tup, reqdesc, f, fn);

		body = fn[REQ_BODY] ? NULL : DatumGetTextPP(f[REQ_BODY]);
		xs[i] = http_transfer_create(fn[REQ_METHOD] ? NULL : TextDatumGetCString(f[REQ_METHOD]),
										 fn[REQ_URL] ? NULL : TextDatumGetCString(f[REQ_URL]),
										 fn[REQ_PARAMS] ? NULL : DatumGetJsonbP(f[REQ_PARAMS]),
										 fn[REQ_HEADERS] ? NULL : DatumGetJsonbP(f[REQ_HEADERS]),
										 body ? VARDATA_ANY(body) : NULL,
										 body ? VARSIZE_ANY_EXHDR(body) : 0,
										 fn[REQ_CONTENT_TYPE] ? NULL : TextDatumGetCString(f[REQ_CONTENT_TYPE]),
										 &limits, allowlist);
	}

	http_perform(xs, n, max_conn, max_host, allowlist);
	for (int i = 0; i < n; i++)
		rs[i] = http_transfer_result(xs[i]);
	http_call_log(rs, n);

	for (int i = 0; i < n; i++)
	{
		/* ord, method, then the response columns, then error_code, error */
		Datum		values[RESP_NATTS + 4];
		bool		nulls[RESP_NATTS + 4];
		HttpResult *r = rs[i];
		HttpError	err = r->error;
		bool		ok = r->ok;

		memset(nulls, true, sizeof(nulls));
		values[0] = Int32GetDatum(i + 1);
		nulls[0] = false;
		if (r->method && r->method[0])
		{
			values[1] = CStringGetTextDatum(r->method);
			nulls[1] = false;
		}
		if (r->ok)
			ok = response_values(r, values + 2, nulls + 2, &err);
		else
		{
			values[2 + RESP_ELAPSED_MS] = Float8GetDatum(r->elapsed_ms);
			nulls[2 + RESP_ELAPSED_MS] = false;
		}
		if (!ok)
		{
			char		code[6];

			memcpy(code, unpack_sql_state(err.sqlerrcode), 6);
			values[RESP_NATTS + 2] = CStringGetTextDatum(code);
			nulls[RESP_NATTS + 2] = false;
			values[RESP_NATTS + 3] = CStringGetTextDatum(err.message);
			nulls[RESP_NATTS + 3] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
