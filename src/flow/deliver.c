/*-------------------------------------------------------------------------
 *
 * deliver.c
 *	  Delivery of the outbox by the database's background worker, and the
 *	  small SQL entry points the outbox needs.
 *
 *	  concord.flow_check_url(url text) RETURNS boolean
 *	  concord.flow_wake() RETURNS boolean
 *
 * Delivery is an engine that runs as long as the worker: requests run in
 * the http component's libcurl multi engine, each finished one frees its
 * slot at once, and every slot freed is filled again by the next step.  A
 * step is one short transaction that records the outcomes of the messages
 * that finished since the last one and claims as many due messages as
 * there are free slots -- per endpoint at most what its max_in_flight
 * leaves beside those this worker already has in flight, FOR UPDATE SKIP
 * LOCKED, marked in_flight with a lease that outlasts the endpoint's
 * timeout.  No transaction is open while the network is: claimed requests
 * start after the step commits.  So a slow or hanging endpoint holds only
 * its own max_in_flight slots; every other endpoint's messages go out as
 * they come.  The statements are prepared once per process (SPI_keepplan).
 *
 * A request is built when its message is claimed: the body signed with
 * HMAC-SHA256 under the endpoint's secret (an endpoint without one must
 * have been defined unsigned => true), header values written as
 * {"secret": "name"} resolved.  Secrets are resolved for the role that
 * named them -- the endpoint's owner for its signing secret and headers,
 * the sender for a message's own headers -- and a message whose secret is
 * missing or not that role's to use is dead at once with the reason in
 * last_error: it is never sent unsigned or without the header.
 *
 * Outcomes: delivered on a 2xx, else another attempt after an exponential
 * backoff with jitter (or the receiver's Retry-After), or dead after
 * max_attempts.  A crash between claim and record leaves the messages
 * in_flight; the next worker takes them back at its first step and they
 * are sent again (at least once, nothing lost).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <openssl/evp.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/backend_status.h"

#include "concord.h"
#include "flow/flow.h"
#include "http/http.h"
#include "secret/secret.h"

PG_FUNCTION_INFO_V1(concord_flow_check_url);
PG_FUNCTION_INFO_V1(concord_flow_wake);

/* One claimed message and its request. */
typedef struct FlowMessage
{
	MemoryContext cxt;			/* owns the message and its transfer */
	MemoryContext batch;		/* the claim it came with (cxt's parent) */
	int64		id;
	int			attempts;		/* including this one */
	int			max_attempts;
	int			cap;			/* its endpoint's max_in_flight */
	char		endpoint[NAMEDATALEN];
	List	   *allowlist;		/* the destination rules it was claimed under */
	HttpTransfer *xfer;			/* NULL when it cannot be sent (fail) */
	char	   *fail;			/* why it cannot be sent, or NULL */
} FlowMessage;

/*
 * One endpoint's messages in this worker: those being sent (at most its
 * max_in_flight) and those claimed ahead, waiting for a slot -- so a slot
 * that frees is filled at once, without waiting for the database.
 */
typedef struct FlowLoad
{
	char		name[NAMEDATALEN];
	int			cap;			/* its max_in_flight, as last claimed */
	int			sending;		/* requests running */
	List	   *queue;			/* claimed, not yet started */

	/*
	 * The highest message id claimed.  Claims taken to refill slots look
	 * only past it, so they do not walk again over the index entries of
	 * the messages just claimed (dead, but not yet known dead to all while
	 * their commits are unflushed).  Any message below it that becomes
	 * pending arrives with a wake (a commit that enqueued, outbox_retry,
	 * endpoint_enable), falls due as a retry, or is taken back by the
	 * housekeeping: each of those makes the next claims look from the
	 * start (rescan), until one had room for the endpoint's messages.
	 */
	int64		cursor;
	bool		rescan;
	bool		room;			/* the last claim could take some of its messages */
} FlowLoad;

/* An endpoint's claims run this many of its max_in_flight ahead. */
#define FLOW_DEPTH 8
/* Outcomes are recorded when this many wait, or the oldest waited this long. */
#define FLOW_RECORD_BATCH 128
#define FLOW_RECORD_DELAY_MS 20

/* The engine's state, for the life of the worker process. */
static MemoryContext delivery_cxt = NULL;
static HTAB *loads = NULL;
static int	held = 0;			/* claimed and not yet finished */
static int	sending_total = 0;	/* requests running, all endpoints */
static int	global_cap = 1;		/* concord.worker_max_connections, clamped */
static List *finished = NIL;	/* finished, not yet recorded */
static TimestampTz finished_since = 0;	/* when the oldest of them finished */
static bool first_step = true;
static bool claim_more = true;	/* more may be due than the last claim took */
static TimestampTz next_due_at = 0; /* a pending message falls due then */
static TimestampTz backoff_until = 0;	/* after a failed step */
static int	error_backoff_ms = 0;
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;

/* Columns of a claimed message: the RETURNING list of claim(). */
enum
{
	COL_ID = 1,
	COL_ATTEMPTS,
	COL_MAX_ATTEMPTS,
	COL_URL,
	COL_SECRET,
	COL_TIMEOUT,
	COL_BODY,
	COL_ENDPOINT_HEADERS,
	COL_MESSAGE_HEADERS,
	COL_IDEMPOTENCY_KEY,
	COL_ENDPOINT,
	COL_DEFINER,
	COL_ENQUEUER,
	COL_UNSIGNED,
	COL_MAX_IN_FLIGHT
};

/*
 * concord.flow_check_url(url): the destination guard's verdict on a URL now,
 * so an endpoint outside concord.http_allow fails when it is defined, not
 * when a message is delivered.
 */
Datum
concord_flow_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	HttpTarget	target;
	HttpError	err;

	if (!http_guard_check_url(url, http_allowlist_load(), &target, &err))
		http_raise(&err);
	PG_RETURN_BOOL(true);
}

/* The worker of this database to wake at commit, or 0. */
static int	wake_pid = 0;

/* Transaction callback: set that worker's latch once the messages are visible. */
static void
wake_worker_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_pid != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(wake_pid);

		if (proc != NULL)
			SetLatch(&proc->procLatch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_pid = 0;
}

/*
 * concord.flow_wake(): at commit, set the latch of this database's concord
 * worker, so a message is delivered at once rather than at the worker's
 * next round.  False when no worker serves this database.
 */
Datum
concord_flow_wake(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	/* once per transaction is enough (a batch enqueues many messages) */
	if (wake_pid == 0)
		wake_pid = concord_bgworker_pid("concord worker", MyDatabaseId);
	if (wake_pid == 0)
		PG_RETURN_BOOL(false);
	if (!registered)
	{
		RegisterXactCallback(wake_worker_at_commit, NULL);
		registered = true;
	}
	PG_RETURN_BOOL(true);
}

/* sha256=<hex> of body under key */
static char *
sign_body(const char *key, const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;
	char	   *out;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
				  (const unsigned char *) body, len, mac, sizeof(mac), &maclen) == NULL)
		elog(ERROR, "HMAC-SHA256 failed");
	out = palloc(7 + maclen * 2 + 1);
	memcpy(out, "sha256=", 7);
	hex_encode((const char *) mac, maclen, out + 7);
	out[7 + maclen * 2] = '\0';
	return out;
}

/*
 * The role whose secrets an endpoint uses (its signing secret and its
 * headers): the endpoint's owner, concord.endpoint.defined_by, as claim()
 * returns it.  A role that no longer exists may use no secret.
 */
static Oid
endpoint_role(HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, COL_DEFINER, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* The role whose secrets a message's own headers use: its sender. */
static Oid
message_role(HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, COL_ENQUEUER, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* A role's name for a message, or a phrase if it is gone. */
static char *
role_name(Oid role)
{
	char	   *name = OidIsValid(role) ? GetUserNameFromId(role, true) : NULL;

	return name ? name : "a role that no longer exists";
}

/*
 * Push the pairs of headers (a jsonb object) into st, each value written
 * {"secret": "name"} replaced by the secret's plaintext, resolved for role;
 * the names of those headers are added to *protect.  Other values go as
 * they are (the http component refuses what is not a string).  False with
 * *error set when a secret is missing or role may not use it.
 */
static bool
push_headers(JsonbParseState **st, Jsonb *headers, Oid role, const char *whose,
			 List **protect, char **error)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbValue	key = {0};
	JsonbIteratorToken tok;

	if (headers == NULL || !JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
		return true;
	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue	ref;

		if (tok == WJB_KEY)
		{
			key = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data) &&
			JsonContainerSize(v.val.binary.data) == 1 &&
			getKeyJsonValueFromContainer(v.val.binary.data, "secret", 6, &ref) != NULL &&
			ref.type == jbvString)
		{
			char	   *sname = pnstrdup(ref.val.string.val, ref.val.string.len);
			char	   *hname = pnstrdup(key.val.string.val, key.val.string.len);
			int			code;
			char	   *msg;
			char	   *hint;
			char	   *plain = secret_resolve_for(sname, role, &code, &msg, &hint);

			if (plain == NULL)
			{
				*error = psprintf("header \"%s\" of %s: %s (for role %s)", hname, whose, msg, role_name(role));
				return false;
			}
			v.type = jbvString;
			v.val.string.val = plain;
			v.val.string.len = strlen(plain);
			*protect = lappend(*protect, hname);
		}
		pushJsonbValue(st, WJB_KEY, &key);
		pushJsonbValue(st, WJB_VALUE, &v);
	}
	return true;
}

/* Push one header with a string value into st. */
static void
push_header(JsonbParseState **st, const char *name, const char *value)
{
	JsonbValue	k,
				v;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	pushJsonbValue(st, WJB_KEY, &k);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * Build the request of claimed message m (tuple tup): the endpoint's
 * headers, the message's (which win), the Idempotency-Key and the
 * signature, secrets resolved for their roles.  Sets m->fail instead when
 * a secret cannot be used.
 */
static void
build_request(FlowMessage *m, HeapTuple tup, TupleDesc td, List *allowlist)
{
	bool		isnull;
	char	   *url = SPI_getvalue(tup, td, COL_URL);
	char	   *secret_name = SPI_getvalue(tup, td, COL_SECRET);
	int			timeout_ms = DatumGetInt32(SPI_getbinval(tup, td, COL_TIMEOUT, &isnull));
	char	   *body = SPI_getvalue(tup, td, COL_BODY);
	Datum		eh = SPI_getbinval(tup, td, COL_ENDPOINT_HEADERS, &isnull);
	Jsonb	   *endpoint_headers = isnull ? NULL : DatumGetJsonbPCopy(eh);
	Datum		mh = SPI_getbinval(tup, td, COL_MESSAGE_HEADERS, &isnull);
	Jsonb	   *message_headers = isnull ? NULL : DatumGetJsonbPCopy(mh);
	char	   *endpoint = SPI_getvalue(tup, td, COL_ENDPOINT);
	Oid			erole = endpoint_role(tup, td);
	Oid			mrole = message_role(tup, td);
	char	   *ewhose = psprintf("endpoint \"%s\"", endpoint);
	HttpLimits	limits = {timeout_ms, -1, -1, 0};
	JsonbParseState *st = NULL;
	List	   *protect = NIL;
	ListCell   *lc;
	Jsonb	   *headers;

	/* the superuser's ceilings hold for the worker too */
	http_limits_clamp(&limits);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (!push_headers(&st, endpoint_headers, erole, ewhose, &protect, &m->fail) ||
		!push_headers(&st, message_headers, mrole, "the message", &protect, &m->fail))
		return;
	push_header(&st, "Idempotency-Key", SPI_getvalue(tup, td, COL_IDEMPOTENCY_KEY));
	if (secret_name == NULL && !DatumGetBool(SPI_getbinval(tup, td, COL_UNSIGNED, &isnull)))
	{
		m->fail = psprintf("%s has no signing secret and was not defined unsigned => true", ewhose);
		return;
	}
	if (secret_name != NULL)
	{
		int			code;
		char	   *msg;
		char	   *hint;
		char	   *key = secret_resolve_for(secret_name, erole, &code, &msg, &hint);

		if (key == NULL)
		{
			m->fail = psprintf("signing secret of %s: %s (for role %s)", ewhose, msg, role_name(erole));
			return;
		}
		push_header(&st, "X-Concord-Signature", sign_body(key, body, strlen(body)));
		explicit_bzero(key, strlen(key));
		protect = lappend(protect, "X-Concord-Signature");
	}
	headers = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	m->xfer = http_transfer_create("POST", url, NULL, headers, body, strlen(body),
								   "application/json", &limits, allowlist);
	foreach(lc, protect)
		http_transfer_protect_header(m->xfer, lfirst(lc));
}


/*
 * Seconds the receiver asked us to wait -- Retry-After: <seconds> or an
 * HTTP date (read by PostgreSQL's date parser) -- at most a day, or -1.
 */
static int
retry_after(HttpResult *res)
{
	ListCell   *lc;

	foreach(lc, res->headers)
	{
		HttpHeader *h = lfirst(lc);

		if (strcmp(h->name, "retry-after") == 0)
		{
			char	   *end;
			long		s = strtol(h->value, &end, 10);
			MemoryContext cxt = CurrentMemoryContext;
			volatile TimestampTz when = 0;
			volatile bool ok = true;

			if (end != h->value && *end == '\0' && s >= 0)
				return (int) Min(s, 86400);
			PG_TRY();
			{
				when = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(h->value),
															   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
			}
			PG_CATCH();
			{
				/* not a date either: as if there were no Retry-After */
				MemoryContextSwitchTo(cxt);
				FlushErrorState();
				ok = false;
			}
			PG_END_TRY();
			if (ok)
				return (int) Min(Max((when - GetCurrentTimestamp()) / USECS_PER_SEC, 0), 86400);
		}
	}
	return -1;
}


/* A message's place in the engine: its endpoint's load entry. */
static FlowLoad *
endpoint_load(const char *name)
{
	bool		found;
	char		key[NAMEDATALEN];
	FlowLoad   *l;

	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	l = hash_search(loads, key, HASH_ENTER, &found);
	if (!found)
	{
		l->cursor = 0;
		l->rescan = true;
		l->room = false;
		l->cap = 1;
		l->sending = 0;
		l->queue = NIL;
	}
	return l;
}

/*
 * Prepare (once per process) the statements every step runs.  Generic
 * plans (a custom plan per execution would cost more than the statement),
 * so each statement names the outbox rows it touches as id = ANY (...):
 * an index scan whatever the estimates.
 */
static void
prepare_plans(void)
{
	static Oid	claim_types[4] = {TEXTARRAYOID, INT4ARRAYOID, INT4OID, INT8ARRAYOID};
	static Oid	record_types[5] = {INT8ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID};

	if (claim_plan == NULL)
	{
		/*
		 * Due messages, per enabled endpoint at most FLOW_DEPTH times its
		 * max_in_flight beside those this worker holds ($1, $2) and after
		 * the last one it claimed ($4, see FlowLoad.cursor), at most $3 in
		 * all; the lease outlasts the time they may wait for a slot and the
		 * endpoint's timeout.
		 */
		claim_plan = SPI_prepare_cursor(
			"WITH busy AS (SELECT b.name, b.n, b.cursor FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
			"                                             pg_catalog.unnest($2::pg_catalog.int4[]),"
			"                                             pg_catalog.unnest($4::pg_catalog.int8[])) AS b(name, n, cursor)),"
			" due AS ("
			"  SELECT o.id FROM concord.endpoint e LEFT JOIN busy ON busy.name OPERATOR(pg_catalog.=) e.name,"
			"    LATERAL (SELECT x.id FROM concord.outbox x"
			"              WHERE x.endpoint OPERATOR(pg_catalog.=) e.name AND x.status OPERATOR(pg_catalog.=) 'pending'"
			"                AND x.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
			"                AND (x.endpoint, x.id) OPERATOR(pg_catalog.>) (e.name, COALESCE(busy.cursor, 0))"
			"              ORDER BY x.endpoint, x.id"
			"              LIMIT pg_catalog.int4larger(e.max_in_flight OPERATOR(pg_catalog.*) " CppAsString2(FLOW_DEPTH)
			"                                          OPERATOR(pg_catalog.-) COALESCE(busy.n, 0), 0)"
			"              FOR UPDATE SKIP LOCKED) o"
			"   WHERE e.enabled LIMIT $3)"
			" UPDATE concord.outbox o SET status = 'in_flight', attempts = o.attempts OPERATOR(pg_catalog.+) 1,"
			"        lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>"
			"          (e.timeout_ms OPERATOR(pg_catalog./) 1000 OPERATOR(pg_catalog.*) (" CppAsString2(FLOW_DEPTH) " OPERATOR(pg_catalog.+) 1)"
			"           OPERATOR(pg_catalog.+) 60)::pg_catalog.float8)"
			"   FROM concord.endpoint e"
			"  WHERE o.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT due.id FROM due))"
			"    AND e.name OPERATOR(pg_catalog.=) o.endpoint"
			" RETURNING o.id, o.attempts, e.max_attempts, e.url, e.secret_name, e.timeout_ms, o.payload::pg_catalog.text,"
			"   e.headers, o.headers, o.idempotency_key, e.name, e.defined_by::pg_catalog.oid, o.enqueued_by::pg_catalog.oid,"
			"   e.unsigned, e.max_in_flight",
			4, claim_types, CURSOR_OPT_GENERIC_PLAN);
		if (claim_plan == NULL || SPI_keepplan(claim_plan) != 0)
			elog(ERROR, "could not prepare the outbox claim: %s", SPI_result_code_string(SPI_result));
	}
	if (record_plan == NULL)
	{
		record_plan = SPI_prepare_cursor(
			"UPDATE concord.outbox o SET status = r.state, lease_until = NULL, last_status = r.code, last_error = r.err,"
			"       delivered_at = CASE WHEN r.state OPERATOR(pg_catalog.=) 'delivered' THEN pg_catalog.clock_timestamp() END,"
			"       next_attempt_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => r.wait)"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			"                 pg_catalog.unnest($4), pg_catalog.unnest($5)) AS r(id, state, wait, code, err)"
			" WHERE o.id OPERATOR(pg_catalog.=) r.id AND o.id OPERATOR(pg_catalog.=) ANY ($1)"
			"   AND o.status OPERATOR(pg_catalog.=) 'in_flight'",
			5, record_types, CURSOR_OPT_GENERIC_PLAN);
		if (record_plan == NULL || SPI_keepplan(record_plan) != 0)
			elog(ERROR, "could not prepare the outbox record: %s", SPI_result_code_string(SPI_result));
	}
	if (next_due_plan == NULL)
	{
		next_due_plan = SPI_prepare(
			"SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', pg_catalog.min(next_attempt_at)"
			" OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8"
			" FROM concord.outbox WHERE status OPERATOR(pg_catalog.=) 'pending'"
			"   AND next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()",
			0, NULL);
		if (next_due_plan == NULL || SPI_keepplan(next_due_plan) != 0)
			elog(ERROR, "could not prepare the outbox's next due time: %s", SPI_result_code_string(SPI_result));
	}
}

/* The outcome of message m as the record statement wants it. */
static void
outcome(FlowMessage *m, const char **state, double *wait, int *code, char **err)
{
	HttpResult *res = m->xfer ? http_transfer_result(m->xfer) : NULL;

	*wait = 0;
	*err = NULL;
	*code = res && res->ok ? res->status : 0;
	if (res == NULL)
	{
		/* not sent: retrying would not help until its secret is usable */
		*state = "dead";
		*err = m->fail;
	}
	else if (res->ok && res->status >= 200 && res->status < 300)
		*state = "delivered";
	else
	{
		int			ra = res->ok ? retry_after(res) : -1;

		*err = res->ok ? psprintf("HTTP %d", res->status) :
			(res->error.message ? res->error.message : "delivery failed");
		if (m->attempts >= m->max_attempts)
			*state = "dead";
		else
		{
			*state = "pending";
			/* 2^attempts seconds, at most an hour, times 0.5 .. 1.0 */
			*wait = ra >= 0 ? ra :
				Min(pow(2.0, m->attempts), 3600.0) * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state));
		}
	}
}

/* Record the outcomes of the finished messages (inside the step's transaction). */
static void
record(List *done)
{
	int			n = list_length(done);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *states = palloc(sizeof(Datum) * n);
	Datum	   *waits = palloc(sizeof(Datum) * n);
	Datum	   *codes = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *nocode = palloc(sizeof(bool) * n);
	bool	   *noerror = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[5];
	int			i = 0;
	ListCell   *lc;

	foreach(lc, done)
	{
		FlowMessage *m = lfirst(lc);
		const char *state;
		double		wait;
		int			code;
		char	   *err;

		outcome(m, &state, &wait, &code, &err);
		ids[i] = Int64GetDatum(m->id);
		states[i] = CStringGetTextDatum(state);
		waits[i] = Float8GetDatum(wait);
		codes[i] = Int32GetDatum(code);
		nocode[i] = code == 0;
		errors[i] = err ? CStringGetTextDatum(err) : (Datum) 0;
		noerror[i] = err == NULL;
		i++;
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(states, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(waits, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_md_array(codes, nocode, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_md_array(errors, noerror, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(record_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record outbox deliveries");
}

/*
 * Claim up to want due messages (inside the step's transaction) and build
 * their requests, each in a memory context of its own under batch.
 * Returns the messages claimed.
 */
static List *
claim(int want, MemoryContext batch)
{
	HASH_SEQ_STATUS seq;
	FlowLoad   *l;
	Datum	   *names = palloc(sizeof(Datum) * Max(hash_get_num_entries(loads), 1));
	Datum	   *counts = palloc(sizeof(Datum) * Max(hash_get_num_entries(loads), 1));
	Datum	   *cursors = palloc(sizeof(Datum) * Max(hash_get_num_entries(loads), 1));
	int			nl = 0;
	Datum		values[4];
	List	   *out = NIL;
	uint64		rows;

	hash_seq_init(&seq, loads);
	while ((l = hash_seq_search(&seq)) != NULL)
	{
		int			n = l->sending + list_length(l->queue);

		l->room = n < l->cap * FLOW_DEPTH;
		if (n <= 0 && (l->rescan || l->cursor == 0))
			continue;
		names[nl] = CStringGetTextDatum(l->name);
		counts[nl] = Int32GetDatum(n);
		cursors[nl] = Int64GetDatum(l->rescan ? 0 : l->cursor);
		nl++;
	}
	values[0] = PointerGetDatum(construct_array(names, nl, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(counts, nl, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = Int32GetDatum(want);
	values[3] = PointerGetDatum(construct_array(cursors, nl, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(claim_plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim outbox messages");
	rows = SPI_processed;
	if (rows > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		MemoryContext old = MemoryContextSwitchTo(batch);
		List	   *allowlist = http_allowlist_load();

		for (uint64 i = 0; i < rows; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	td = tt->tupdesc;
			bool		isnull;
			MemoryContext mcxt = AllocSetContextCreate(batch, "concord outbox message",
													   ALLOCSET_SMALL_SIZES);
			FlowMessage *m;

			MemoryContextSwitchTo(mcxt);
			m = palloc0(sizeof(FlowMessage));
			m->cxt = mcxt;
			m->batch = batch;
			m->id = DatumGetInt64(SPI_getbinval(tup, td, COL_ID, &isnull));
			m->attempts = DatumGetInt32(SPI_getbinval(tup, td, COL_ATTEMPTS, &isnull));
			m->max_attempts = DatumGetInt32(SPI_getbinval(tup, td, COL_MAX_ATTEMPTS, &isnull));
			m->cap = DatumGetInt32(SPI_getbinval(tup, td, COL_MAX_IN_FLIGHT, &isnull));
			strlcpy(m->endpoint, SPI_getvalue(tup, td, COL_ENDPOINT), sizeof(m->endpoint));
			m->allowlist = allowlist;
			build_request(m, tup, td, allowlist);
			out = lappend(out, m);
		}
		MemoryContextSwitchTo(old);
	}
	return out;
}

/* Milliseconds until the next pending message is due, or -1 (none). */
static long
next_due(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_plan(next_due_plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		return -1;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : (long) Max(DatumGetInt64(d), 0);
}

/* A recorded message is done with: its memory goes, and its batch's when last. */
static void
release(FlowMessage *m)
{
	MemoryContext batch = m->batch;

	MemoryContextDelete(m->cxt);
	if (batch->firstchild == NULL)
		MemoryContextDelete(batch);
}

/*
 * One step of the delivery engine's bookkeeping, in one short transaction:
 * record the outcomes in done, claim up to want messages.  On success the
 * claimed messages are started (after the commit: a message is never sent
 * before its claim is durable in the database's eyes) and done is
 * released; on an error it is logged, done is kept for the next step, and
 * true is returned so the caller backs off.
 */
static bool
step(List *done, int want)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext batch = AllocSetContextCreate(delivery_cxt, "concord outbox claim",
												ALLOCSET_SMALL_SIZES);
	List	   *volatile claimed = NIL;
	volatile bool failed = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		prepare_plans();
		if (first_step)
		{
			/*
			 * At its first step a worker takes back every lease, whatever
			 * its time: it is the database's only worker, so any message in
			 * flight was left by one that died (a crash, a kill -9).
			 */
			pgstat_report_activity(STATE_RUNNING, "concord: taking back the leases of a previous worker");
			if (SPI_execute("UPDATE concord.outbox SET status = 'pending', lease_until = NULL"
							" WHERE status OPERATOR(pg_catalog.=) 'in_flight'", false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not expire outbox leases");
		}
		if (done != NIL)
		{
			pgstat_report_activity(STATE_RUNNING, "concord: recording outbox deliveries");
			record(done);
		}
		if (want > 0)
		{
			pgstat_report_activity(STATE_RUNNING, "concord: claiming outbox messages");
			claimed = claim(want, batch);
			if (list_length(claimed) < want)
			{
				HASH_SEQ_STATUS seq;
				FlowLoad   *l;
				long		ms;

				/* every endpoint with room was looked at from its start */
				hash_seq_init(&seq, loads);
				while ((l = hash_seq_search(&seq)) != NULL)
					if (l->room)
						l->rescan = false;
				/* all that is due is claimed: when is the next one? */
				ms = next_due();

				claim_more = false;
				next_due_at = ms < 0 ? 0 : GetCurrentTimestamp() + ms * 1000;
			}
			else
				claim_more = true;
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		first_step = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("concord worker: outbox delivery step failed: %s", edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("The worker tries again in a moment; messages claimed before stay leased until then.")));
		FreeErrorData(edata);
		failed = true;
		flow_deliver_rescan();	/* (the claim's view of the cursors is lost) */
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (failed)
	{
		MemoryContextDelete(batch);
		return true;
	}
	{
		ListCell   *lc;

		foreach(lc, done)
			release(lfirst(lc));
		foreach(lc, claimed)
		{
			FlowMessage *m = lfirst(lc);
			FlowLoad   *l = endpoint_load(m->endpoint);
			MemoryContext old = MemoryContextSwitchTo(delivery_cxt);

			l->cap = m->cap;
			l->cursor = Max(l->cursor, m->id);
			held++;
			if (m->xfer == NULL)
			{
				/* cannot be sent: recorded as dead at the next step */
				if (finished == NIL)
					finished_since = GetCurrentTimestamp();
				finished = lappend(finished, m);
				held--;
			}
			else
				l->queue = lappend(l->queue, m);
			MemoryContextSwitchTo(old);
		}
		if (claimed == NIL)
			MemoryContextDelete(batch);
	}
	return false;
}

/*
 * Start what endpoint l's free slots (and the worker's, under
 * concord.worker_max_connections) allow from its queue.
 */
static void
dispatch(FlowLoad *l)
{
	while (l->sending < l->cap && sending_total < global_cap && l->queue != NIL)
	{
		FlowMessage *m = linitial(l->queue);

		l->queue = list_delete_first(l->queue);
		http_transfer_set_data(m->xfer, m);
		http_engine_start(m->xfer, m->allowlist);
		l->sending++;
		sending_total++;
	}
}

/*
 * The next claims look at every endpoint's messages from its first id: a
 * message below the last one claimed may have become pending (see
 * FlowLoad.cursor).
 */
void
flow_deliver_rescan(void)
{
	HASH_SEQ_STATUS seq;
	FlowLoad   *l;

	claim_more = true;
	if (loads == NULL)
		return;
	hash_seq_init(&seq, loads);
	while ((l = hash_seq_search(&seq)) != NULL)
		l->rescan = true;
}

/* Start what every endpoint's free slots allow. */
static void
dispatch_all(void)
{
	HASH_SEQ_STATUS seq;
	FlowLoad   *l;

	hash_seq_init(&seq, loads);
	while ((l = hash_seq_search(&seq)) != NULL)
		dispatch(l);
}

/* Messages claimed and waiting for a slot, all endpoints together. */
static int
queued(void)
{
	HASH_SEQ_STATUS seq;
	FlowLoad   *l;
	int			n = 0;

	hash_seq_init(&seq, loads);
	while ((l = hash_seq_search(&seq)) != NULL)
		n += list_length(l->queue);
	return n;
}

/*
 * The worker's delivery: take the transfers that finished (each one's slot
 * is filled again at once from its endpoint's queue), and run a step when
 * there is reason to: outcomes to record (FLOW_RECORD_BATCH of them, or
 * the oldest FLOW_RECORD_DELAY_MS old, or nothing left running), or room
 * to claim more when more may be due (a wake, a retry falling due, the
 * last claim full, queues run dry).  woken: the latch was set (a commit
 * enqueued messages).  Returns the milliseconds after which it wants to
 * run again even if nothing happens (-1: only when woken or a transfer
 * finishes; 0: at once).
 */
long
flow_deliver_work(bool woken)
{
	HttpTransfer *x;
	/* (within the superuser's ceiling over HTTP connections) */
	int			cap = http_cap_clamp(concord_worker_max_connections, false);
	int			limit = cap * FLOW_DEPTH;
	TimestampTz now = GetCurrentTimestamp();
	int			want;
	bool		go;
	List	   *done;
	long		wait = -1;

	global_cap = cap;
	if (delivery_cxt == NULL)
	{
		HASHCTL		ctl;

		delivery_cxt = AllocSetContextCreate(TopMemoryContext, "concord outbox delivery",
											 ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(FlowLoad);
		ctl.hcxt = delivery_cxt;
		loads = hash_create("concord endpoint loads", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	while ((x = http_engine_take()) != NULL)
	{
		FlowMessage *m = http_transfer_data(x);
		FlowLoad   *l;
		MemoryContext old;

		if (m == NULL)
			continue;			/* not the outbox's */
		old = MemoryContextSwitchTo(delivery_cxt);
		if (finished == NIL)
			finished_since = now;
		finished = lappend(finished, m);
		MemoryContextSwitchTo(old);
		held--;
		l = endpoint_load(m->endpoint);
		l->sending--;
		sending_total--;
		/* the freed slot, at once: the request goes out before any bookkeeping */
		dispatch(l);
		claim_more = true;		/* the endpoint may have more than it holds */
	}
	if (sending_total < global_cap)
		dispatch_all();

	if (woken)
	{
		claim_more = true;
		flow_deliver_rescan();
	}
	if (next_due_at != 0 && now >= next_due_at)
	{
		claim_more = true;
		next_due_at = 0;
		flow_deliver_rescan();
	}
	if (now < backoff_until)
		return Max((backoff_until - now) / 1000, 1);

	want = claim_more ? Max(limit - held, 0) : 0;
	go = first_step ||
		list_length(finished) >= FLOW_RECORD_BATCH ||
		(finished != NIL && (now - finished_since >= FLOW_RECORD_DELAY_MS * 1000 ||
							 http_engine_active() == 0)) ||
		(want > 0 && (woken || queued() == 0));
	if (!go)
	{
		if (finished != NIL)
			wait = Max(FLOW_RECORD_DELAY_MS - (long) ((now - finished_since) / 1000), 1);
		if (next_due_at != 0)
		{
			long		due = Max((long) ((next_due_at - now) / 1000), 1);

			wait = wait < 0 ? due : Min(wait, due);
		}
		return wait;
	}

	done = finished;
	finished = NIL;
	if (step(done, want))
	{
		/* keep what finished for the next try; back off a little, then longer */
		finished = list_concat(done, finished);
		finished_since = now;
		error_backoff_ms = Min(Max(error_backoff_ms * 2, 250), concord_worker_naptime_ms);
		backoff_until = GetCurrentTimestamp() + (TimestampTz) error_backoff_ms * 1000;
		return error_backoff_ms;
	}
	error_backoff_ms = 0;
	list_free(done);
	http_engine_cache(cap);
	dispatch_all();
	if (finished != NIL)
		wait = FLOW_RECORD_DELAY_MS;
	if (next_due_at != 0)
	{
		long		due = Max((long) ((next_due_at - GetCurrentTimestamp()) / 1000), 1);

		wait = wait < 0 ? due : Min(wait, due);
	}
	return wait;
}

/* Messages this worker holds: being sent or waiting for a slot. */
int
flow_deliver_in_flight(void)
{
	return held;
}
