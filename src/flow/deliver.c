/*-------------------------------------------------------------------------
 *
 * deliver.c
 *	  Delivery of the outbox by the database's background worker, and the
 *	  small SQL entry points the outbox needs.
 *
 *	  concord.flow_check_url(url text) RETURNS boolean
 *	  concord.flow_wake() RETURNS boolean
 *
 * One delivery round (flow_deliver_round, called by the worker) runs three
 * steps, so that no transaction is open while the network is:
 *   1. a short transaction expires stale leases (a worker that died while
 *      delivering), then claims due messages -- per endpoint at most its
 *      max_in_flight, FOR UPDATE SKIP LOCKED -- marks them in_flight with a
 *      lease and builds their requests (the body signed with HMAC-SHA256
 *      under the endpoint's secret; header values written as
 *      {"secret": "name"} resolved).  Secrets are resolved for the role
 *      that named them -- the endpoint's owner for its signing secret
 *      and headers, the sender for a message's own headers -- and a
 *      message whose secret is missing or not that role's to use is dead
 *      at once with the reason in last_error: it is never sent unsigned
 *      or without the header;
 *   2. the requests run concurrently in the http component's libcurl multi
 *      engine, under its destination guard;
 *   3. a second short transaction records each outcome: delivered on a 2xx,
 *      else another attempt after an exponential backoff with jitter (or
 *      the receiver's Retry-After), or dead after max_attempts.
 * A crash between 1 and 3 leaves the messages in_flight until the lease
 * expires; they are then sent again (at least once, nothing lost).
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

/* most messages claimed in one round */
#define FLOW_BATCH 512
/* how long a claimed message stays in_flight before another worker may send it */
#define FLOW_LEASE_SECONDS 300

/* no round yet in this worker process */
static bool first_round = true;

/* One claimed message and its request. */
typedef struct FlowMessage
{
	int64		id;
	int			attempts;		/* including this one */
	int			max_attempts;
	HttpTransfer *xfer;			/* NULL when it cannot be sent (fail) */
	char	   *fail;			/* why it cannot be sent, or NULL */
} FlowMessage;

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
	COL_ENQUEUER
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
 * Step 1: claim due messages and build their requests in cxt.  Runs in a
 * transaction of its own.  Returns the number claimed.
 */
static int
claim(MemoryContext cxt, FlowMessage **msgs, List **allowlist, long *next_due_ms)
{
	int			n = 0;
	uint64		rows;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, "concord: claiming outbox messages");

	/*
	 * Leases of a worker that died: those messages are due again.  At its
	 * first round a worker takes back every lease, whatever its time: it is
	 * the database's only worker, so any message in flight was left by one
	 * that died (a crash, a kill -9).
	 */
	if (SPI_execute(first_round ?
					"UPDATE concord.outbox SET status = 'pending', lease_until = NULL"
					" WHERE status OPERATOR(pg_catalog.=) 'in_flight'" :
					"UPDATE concord.outbox SET status = 'pending', lease_until = NULL"
					" WHERE status OPERATOR(pg_catalog.=) 'in_flight'"
					"   AND lease_until OPERATOR(pg_catalog.<) pg_catalog.now()", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not expire outbox leases");
	first_round = false;

	if (SPI_execute(psprintf(
		"WITH due AS ("
		"  SELECT o.id FROM concord.endpoint e,"
		"    LATERAL (SELECT x.id FROM concord.outbox x"
		"              WHERE x.endpoint OPERATOR(pg_catalog.=) e.name AND x.status OPERATOR(pg_catalog.=) 'pending'"
		"                AND x.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
		"              ORDER BY x.id LIMIT e.max_in_flight FOR UPDATE SKIP LOCKED) o"
		"   WHERE e.enabled LIMIT %d)"
		" UPDATE concord.outbox o SET status = 'in_flight', attempts = o.attempts OPERATOR(pg_catalog.+) 1,"
		"        lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => %d)"
		"   FROM due, concord.endpoint e"
		"  WHERE o.id OPERATOR(pg_catalog.=) due.id AND e.name OPERATOR(pg_catalog.=) o.endpoint"
		" RETURNING o.id, o.attempts, e.max_attempts, e.url, e.secret_name, e.timeout_ms, o.payload::text,"
		"   e.headers, o.headers, o.idempotency_key, e.name, e.defined_by::pg_catalog.oid, o.enqueued_by::pg_catalog.oid",
		FLOW_BATCH, FLOW_LEASE_SECONDS), false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim outbox messages");
	rows = SPI_processed;
	if (rows > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		SPITupleTable *tt = SPI_tuptable;

		*allowlist = http_allowlist_load();
		*msgs = palloc0(sizeof(FlowMessage) * rows);
		for (uint64 i = 0; i < rows; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	td = tt->tupdesc;
			bool		isnull;
			FlowMessage *m = &(*msgs)[n++];

			m->id = DatumGetInt64(SPI_getbinval(tup, td, COL_ID, &isnull));
			m->attempts = DatumGetInt32(SPI_getbinval(tup, td, COL_ATTEMPTS, &isnull));
			m->max_attempts = DatumGetInt32(SPI_getbinval(tup, td, COL_MAX_ATTEMPTS, &isnull));
			build_request(m, tup, td, *allowlist);
		}
		MemoryContextSwitchTo(old);
	}
	else
	{
		/* nothing due: when is the next one? */
		bool		isnull;

		*next_due_ms = -1;
		if (SPI_execute("SELECT pg_catalog.ceil(pg_catalog.date_part('epoch', pg_catalog.min(next_attempt_at)"
						" OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::int8"
						" FROM concord.outbox WHERE status OPERATOR(pg_catalog.=) 'pending'", true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				*next_due_ms = Max(DatumGetInt64(d), 0);
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return n;
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

/*
 * Step 3: record each outcome, in a transaction of its own, with one
 * statement for the batch.
 */
static void
record(FlowMessage *msgs, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *states = palloc(sizeof(Datum) * n);
	Datum	   *waits = palloc(sizeof(Datum) * n);
	Datum	   *codes = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *nocode = palloc(sizeof(bool) * n);
	bool	   *noerror = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Oid			types[5] = {INT8ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		values[5];

	for (int i = 0; i < n; i++)
	{
		HttpResult *res = msgs[i].xfer ? http_transfer_result(msgs[i].xfer) : NULL;
		bool		ok = res && res->ok && res->status >= 200 && res->status < 300;
		const char *state;
		double		wait = 0;
		char	   *err = NULL;

		if (res == NULL)
		{
			/* not sent: retrying would not help until its secret is usable */
			state = "dead";
			err = msgs[i].fail;
		}
		else if (ok)
			state = "delivered";
		else
		{
			int			ra = res->ok ? retry_after(res) : -1;

			err = res->ok ? psprintf("HTTP %d", res->status) :
				(res->error.message ? res->error.message : "delivery failed");
			if (msgs[i].attempts >= msgs[i].max_attempts)
				state = "dead";
			else
			{
				state = "pending";
				/* 2^attempts seconds, at most an hour, times 0.5 .. 1.0 */
				wait = ra >= 0 ? ra :
					Min(pow(2.0, msgs[i].attempts), 3600.0) * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state));
			}
		}
		ids[i] = Int64GetDatum(msgs[i].id);
		states[i] = CStringGetTextDatum(state);
		waits[i] = Float8GetDatum(wait);
		codes[i] = Int32GetDatum(res && res->ok ? res->status : 0);
		nocode[i] = !(res && res->ok);
		errors[i] = err ? CStringGetTextDatum(err) : (Datum) 0;
		noerror[i] = err == NULL;
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(states, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(waits, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_md_array(codes, nocode, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_md_array(errors, noerror, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgstat_report_activity(STATE_RUNNING, "concord: recording outbox deliveries");
	if (SPI_execute_with_args(
		"UPDATE concord.outbox o SET status = r.state, lease_until = NULL, last_status = r.code, last_error = r.err,"
		"       delivered_at = CASE WHEN r.state OPERATOR(pg_catalog.=) 'delivered' THEN pg_catalog.clock_timestamp() END,"
		"       next_attempt_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => r.wait)"
		"  FROM unnest($1, $2, $3, $4, $5) AS r(id, state, wait, code, err)"
		" WHERE o.id OPERATOR(pg_catalog.=) r.id AND o.status OPERATOR(pg_catalog.=) 'in_flight'",
		5, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record outbox deliveries");
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * One delivery round of the worker: claim, send, record.  Returns the
 * number of messages sent (the worker goes on while there are any).
 */
int
flow_deliver_round(long *next_due_ms)
{
	static MemoryContext cxt = NULL;
	FlowMessage *msgs = NULL;
	List	   *allowlist = NIL;
	int			n;
	MemoryContext old;

	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopMemoryContext, "concord outbox delivery", ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(cxt);
	*next_due_ms = 0;
	old = MemoryContextSwitchTo(cxt);
	n = claim(cxt, &msgs, &allowlist, next_due_ms);
	MemoryContextSwitchTo(cxt);	/* (a commit leaves TopMemoryContext current) */
	if (n > 0)
	{
		HttpTransfer **xfers = palloc(sizeof(HttpTransfer *) * n);
		int			nx = 0;

		for (int i = 0; i < n; i++)
			if (msgs[i].xfer)
				xfers[nx++] = msgs[i].xfer;
		pgstat_report_activity(STATE_RUNNING, "concord: delivering outbox messages");
		http_perform(xfers, nx, http_cap_clamp(concord_http_max_connections, false),
					 http_cap_clamp(concord_http_max_host_connections, true), allowlist);
		record(msgs, n);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}
