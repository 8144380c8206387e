/*-------------------------------------------------------------------------
 *
 * transfer.c
 *	  The transfer engine: validated requests run on one libcurl multi
 *	  handle per backend, concurrently, with caps, redirects, limits and
 *	  cancellation.
 *
 * One multi handle lives for the whole backend, so connections (keep-alive)
 * and DNS results are reused across calls.  Every request, single or in a
 * batch, is an HttpTransfer driven by http_perform(): libcurl does the I/O,
 * the loop polls with a short timeout and checks for interrupts, so query
 * cancel and statement_timeout stop it promptly.  Redirects are followed
 * here, not by libcurl, so the guard can judge every hop.
 *
 * libcurl's callbacks never throw: they cap, record the problem in the
 * transfer and return libcurl's error value; the outcome is turned into an
 * HttpError after libcurl has returned.  Handles are released in
 * PG_FINALLY, so an error or a cancel leaks nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "concord.h"
#include "http/http.h"

/* Longest wait in the poll loop before interrupts are checked again. */
#define POLL_INTERVAL_MS 20
/* Cap on all response header lines of one response. */
#define MAX_HEADER_BYTES (256 * 1024)

/* A growable buffer filled from libcurl callbacks, which must not throw. */
typedef struct GrowBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		offset;			/* bytes reserved at the front (varlena) */
} GrowBuf;

/* Transfers in flight to one scheme, host and port (the per-host cap). */
typedef struct HostSlot
{
	char	   *key;
	int			active;
} HostSlot;

struct HttpTransfer
{
	MemoryContext cxt;			/* owns everything below */

	/* the request */
	char	   *method;			/* of the current hop */
	HttpTarget	target;			/* of the current hop */
	List	   *headers;		/* "Name: value" lines */
	List	   *credentials;	/* those sent only to the first origin */
	bool		credential_body;	/* the body holds credentials */
	HttpTarget	origin;			/* of the original request */
	char	   *body;
	int			body_len;
	bool		has_body;
	bool		has_content_type;	/* a Content-Type line is in headers */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_redirects;
	size_t		max_bytes;

	/* engine state */
	struct HostSlot *slot;		/* the host this transfer counts against */
	CURL	   *easy;
	struct curl_slist *slist;
	bool		in_multi;
	bool		finished;
	bool		counted;		/* counted in engine_active */
	bool		fresh_connection;	/* opens a connection of its own */
	int			perform_id;		/* the http_perform() call it belongs to */
	List	   *allowlist;		/* judges its redirects */
	void	   *data;			/* the caller's, see http_transfer_set_data */
	instr_time	start;

	/* the response being received */
	GrowBuf		bodybuf;
	GrowBuf		hdrbuf;
	bool		too_large;
	bool		out_of_memory;
	bool		denied;
	char		denied_addr[64];
	const char *denied_class;
	char		errbuf[CURL_ERROR_SIZE];

	HttpResult	result;
};

static CURLM *multi = NULL;
static uint32 multi_signature = 0;

/*
 * Fill an HttpError (in the current memory context).
 */
void
http_error_set(HttpError *err, int sqlerrcode, const char *message,
			   const char *detail, const char *hint)
{
	err->sqlerrcode = sqlerrcode;
	err->message = message ? pstrdup(message) : NULL;
	err->detail = detail ? pstrdup(detail) : NULL;
	err->hint = hint ? pstrdup(hint) : NULL;
}

/*
 * Raise a recorded error.
 */
void
http_raise(const HttpError *err)
{
	ereport(ERROR,
			(errcode(err->sqlerrcode),
			 errmsg_internal("%s", err->message),
			 err->detail ? errdetail_internal("%s", err->detail) : 0,
			 err->hint ? errhint("%s", err->hint) : 0));
	pg_unreachable();
}

/*
 * Append to a GrowBuf without throwing; false when memory runs out.  The
 * callers keep len + n far below SIZE_MAX (HTTP_BODY_MAX, MAX_HEADER_BYTES);
 * the growth never doubles past what palloc can give.
 */
static bool
growbuf_append(MemoryContext cxt, GrowBuf *b, const char *p, size_t n)
{
	size_t		need = b->offset + b->len + n;

	if (b->data == NULL || need > b->cap)
	{
		size_t		want = Max(b->cap, (size_t) 8192);
		char	   *nd;

		while (want < need)
		{
			if (want > MaxAllocHugeSize / 2)
				return false;
			want *= 2;
		}
		nd = MemoryContextAllocExtended(cxt, want,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (nd == NULL)
			return false;
		if (b->data)
		{
			memcpy(nd, b->data, b->offset + b->len);
			pfree(b->data);
		}
		b->data = nd;
		b->cap = want;
	}
	memcpy(b->data + b->offset + b->len, p, n);
	b->len += n;
	return true;
}

static void
growbuf_reset(GrowBuf *b)
{
	b->len = 0;
}

/* libcurl write callback: collect the body up to the limit. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpTransfer *x = (HttpTransfer *) userdata;
	size_t		n = size * nmemb;

	/* len <= max_bytes always: the subtraction cannot wrap */
	if (n > x->max_bytes - x->bodybuf.len)
	{
		x->too_large = true;
		return 0;
	}
	if (!growbuf_append(x->cxt, &x->bodybuf, ptr, n))
	{
		x->out_of_memory = true;
		return 0;
	}
	return n;
}

/* libcurl header callback: keep the header lines of the last response. */
static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpTransfer *x = (HttpTransfer *) userdata;
	size_t		n = size * nmemb;

	/* a status line starts a new response (after 100 Continue, say) */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
		growbuf_reset(&x->hdrbuf);
	if (n > MAX_HEADER_BYTES - x->hdrbuf.len)
	{
		x->too_large = true;
		return 0;
	}
	if (!growbuf_append(x->cxt, &x->hdrbuf, ptr, n))
	{
		x->out_of_memory = true;
		return 0;
	}
	return n;
}

/* libcurl progress callback: abort the transfer when a cancel is pending. */
static int
progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/* libcurl open-socket callback: the guard's check of the resolved address. */
static curl_socket_t
opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	HttpTransfer *x = (HttpTransfer *) clientp;

	if (!http_guard_allows_address(&x->target, &address->addr,
								   x->denied_addr, sizeof(x->denied_addr),
								   &x->denied_class))
	{
		x->denied = true;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* Record a failure that happened before or instead of the transfer. */
static void
transfer_fail(HttpTransfer *x, int sqlerrcode, const char *message,
			  const char *detail, const char *hint)
{
	MemoryContext old = MemoryContextSwitchTo(x->cxt);

	x->result.ok = false;
	http_error_set(&x->result.error, sqlerrcode, message, detail, hint);
	x->finished = true;
	MemoryContextSwitchTo(old);
}

/*
 * Validate a request and prepare its transfer.  Failures are recorded in
 * the transfer's result (it is then already finished), never thrown, so a
 * batch can report them per row.
 */
HttpTransfer *
http_transfer_create(const char *method, const char *url, Jsonb *params,
					 Jsonb *headers, const char *body, int body_len,
					 const char *content_type, const HttpLimits *limits,
					 List *allowlist)
{
	static const char *const methods[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", NULL
	};
	HttpTransfer *x = palloc0(sizeof(HttpTransfer));
	HttpError  *err = &x->result.error;
	bool		has_ct;
	char	   *full_url;
	char	   *m;
	bool		known = false;

	x->cxt = CurrentMemoryContext;
	x->timeout_ms = limits->timeout_ms >= 0 ? limits->timeout_ms : concord_http_timeout_ms;
	x->connect_timeout_ms = limits->connect_timeout_ms >= 0 ?
		limits->connect_timeout_ms : concord_http_connect_timeout_ms;
	x->max_redirects = limits->max_redirects >= 0 ?
		limits->max_redirects : concord_http_max_redirects;
	x->max_bytes = limits->max_response_bytes >= 0 ?
		(size_t) limits->max_response_bytes : (size_t) concord_http_max_response_bytes;
	/* whatever was asked, the body must fit in one bytea */
	x->max_bytes = Min(x->max_bytes, HTTP_BODY_MAX);
	x->bodybuf.offset = VARHDRSZ;	/* the body becomes a bytea in place */
	x->result.ok = false;
	x->result.redacted_url = url ? http_redact_url(url) : "";
	x->result.method = method ? pstrdup(method) : "";

	if (method == NULL || url == NULL)
	{
		http_error_set(err, ERRCODE_NULL_VALUE_NOT_ALLOWED,
					   method == NULL && url == NULL ? "request must not be null" :
					   method == NULL ? "HTTP method must not be null" :
					   "request URL must not be null",
					   NULL, NULL);
		x->finished = true;
		return x;
	}

	m = pstrdup(method ? method : "");
	for (char *c = m; *c; c++)
		*c = pg_ascii_toupper((unsigned char) *c);
	for (int i = 0; methods[i]; i++)
		if (strcmp(m, methods[i]) == 0)
			known = true;
	if (!known)
	{
		http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
					   psprintf("unknown HTTP method \"%s\"", method ? method : ""),
					   NULL,
					   "Use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.");
		x->finished = true;
		return x;
	}
	x->method = m;
	x->result.method = m;

	if (x->timeout_ms <= 0 || x->connect_timeout_ms <= 0)
	{
		http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
					   psprintf("timeout must be positive, not %d ms",
								x->timeout_ms <= 0 ? x->timeout_ms : x->connect_timeout_ms),
					   NULL, NULL);
		x->finished = true;
		return x;
	}

	if (!http_build_url(url, params, &full_url, err) ||
		!http_build_headers(headers, &x->headers, &x->credentials, &has_ct, err))
	{
		x->finished = true;
		return x;
	}

	if (content_type != NULL && strpbrk(content_type, "\r\n") != NULL)
	{
		http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
					   "content type contains a line break", NULL,
					   "A content type is a single line such as application/json.");
		x->finished = true;
		return x;
	}
	if (body != NULL)
	{
		const char *ct = content_type ? content_type : "text/plain; charset=utf-8";
		char	   *charset = http_content_type_charset(ct);
		int			enc = charset ? http_charset_encoding(charset) : PG_UTF8;

		if (enc < 0)
		{
			http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("unsupported charset \"%s\" in content type \"%s\"", charset, ct),
						   NULL, "Use charset=utf-8.");
			x->finished = true;
			return x;
		}
		/* send the text in the charset the content type names */
		if (!http_encode_body(body, body_len, enc, &x->body, &x->body_len, err))
		{
			x->finished = true;
			return x;
		}
		x->has_body = true;
		if (!has_ct)
			x->headers = lappend(x->headers, psprintf("Content-Type: %s", ct));
		x->has_content_type = true;
	}
	else if (content_type != NULL && !has_ct)
		x->headers = lappend(x->headers, psprintf("Content-Type: %s", content_type));
	x->has_content_type = x->has_content_type || has_ct || content_type != NULL;

	if (!http_guard_check_url(full_url, allowlist, &x->target, err))
	{
		x->finished = true;
		return x;
	}
	x->result.redacted_url = x->target.redacted;
	x->origin = x->target;
	return x;
}

/*
 * Send the request header name (its every line) only to the origin of the
 * original request, as if its value had come from a secret: for callers
 * that put credentials into plain header values (sync's auth).
 */
void
http_transfer_protect_header(HttpTransfer *x, const char *name)
{
	size_t		len = strlen(name);
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(x->cxt);

	foreach(lc, x->headers)
	{
		char	   *line = lfirst(lc);

		if (pg_strncasecmp(line, name, len) == 0 &&
			(line[len] == ':' || line[len] == ';'))
			x->credentials = list_append_unique_ptr(x->credentials, line);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The request body holds credentials (an OAuth2 client secret): a redirect
 * that would send it to another origin fails the transfer instead.
 */
void
http_transfer_protect_body(HttpTransfer *x)
{
	x->credential_body = true;
}

/* Milliseconds since the transfer started. */
static double
elapsed_ms(HttpTransfer *x)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, x->start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/* (Re)configure the easy handle for the transfer's current hop. */
static void
setup_easy(HttpTransfer *x)
{
	CURL	   *e = x->easy;
	ListCell   *lc;

	curl_easy_reset(e);
	curl_slist_free_all(x->slist);
	x->slist = NULL;

	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_URL, x->target.url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* never through a proxy from the server's environment */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (x->fresh_connection)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	/* the time limit covers all hops of a redirect chain together */
	{
		long		remaining = x->timeout_ms;

		if (x->result.redirects > 0)
			remaining = Max(1L, x->timeout_ms - (long) elapsed_ms(x));
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, remaining);
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) x->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	/* a HEAD response announces a length but carries no body */
	if (strcmp(x->method, "HEAD") != 0)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) x->max_bytes);
	/* TLS verification is always on; only the CA may be changed (SUSET) */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (concord_http_ca_file && concord_http_ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, concord_http_ca_file);
	if (concord_http_user_agent && concord_http_user_agent[0] != '\0')
		curl_easy_setopt(e, CURLOPT_USERAGENT, concord_http_user_agent);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	x->errbuf[0] = '\0';

	if (strcmp(x->method, "GET") == 0)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else if (strcmp(x->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else
	{
		if (x->has_body || strcmp(x->method, "POST") == 0)
		{
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
							 (curl_off_t) (x->has_body ? x->body_len : 0));
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->has_body ? x->body : "");
		}
		if (strcmp(x->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	}

	/* no "Expect: 100-continue" round trip for larger bodies */
	x->slist = curl_slist_append(x->slist, "Expect:");
	/* nor libcurl's form Content-Type on a POST that names none */
	if (!x->has_content_type)
		x->slist = curl_slist_append(x->slist, "Content-Type:");
	foreach(lc, x->headers)
		x->slist = curl_slist_append(x->slist, (const char *) lfirst(lc));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
}

/*
 * Header bytes as text in the database encoding: UTF-8 when they are valid
 * UTF-8, otherwise read as ISO-8859-1 (HTTP's historical header charset),
 * so a server can never put invalid text into the database.
 */
static char *
header_text(const char *p, int len)
{
	int			enc = pg_verify_mbstr(PG_UTF8, p, len, true) ? PG_UTF8 : PG_LATIN1;
	char	   *raw = pnstrdup(p, len);

	return pg_any_to_server(raw, strlen(raw), enc);
}

/* Parse the collected header lines of the final response. */
static List *
parse_header_lines(const GrowBuf *b)
{
	List	   *out = NIL;
	const char *p;
	const char *end;

	if (b->data == NULL)
		return NIL;
	p = b->data + b->offset;
	end = p + b->len;
	/* skip the status line */
	while (p < end && *p != '\n')
		p++;
	while (p < end)
	{
		const char *line = ++p;
		const char *eol;
		const char *colon;
		HttpHeader *h;

		while (p < end && *p != '\n')
			p++;
		eol = p;
		while (eol > line && (eol[-1] == '\r' || eol[-1] == ' ' || eol[-1] == '\t'))
			eol--;
		if (eol == line)
			continue;
		colon = memchr(line, ':', eol - line);
		if (colon == NULL)
			continue;
		h = palloc(sizeof(HttpHeader));
		h->name = header_text(line, colon - line);
		for (char *c = h->name; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		colon++;
		while (colon < eol && (*colon == ' ' || *colon == '\t'))
			colon++;
		h->value = header_text(colon, eol - colon);
		out = lappend(out, h);
	}
	return out;
}

/* Turn a libcurl failure into the request's error. */
static void
fail_from_curl(HttpTransfer *x, CURLcode rc)
{
	const char *url = x->target.redacted;
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	char	   *detail = psprintf("URL: %s. %s.", url, why);

	if (x->denied && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT))
	{
		bool		metadata = strcmp(x->denied_class, "metadata") == 0;

		transfer_fail(x, ERRCODE_INSUFFICIENT_PRIVILEGE,
					  psprintf("destination \"%s\" resolved to %s address %s, which is not allowed",
							   x->target.host, x->denied_class, x->denied_addr),
					  psprintf("URL: %s. The connection was refused before it was opened.", url),
					  metadata ?
					  psprintf("A metadata address is reachable only through a row naming it: SELECT concord.http_allow_host('%s', %d);",
							   x->denied_addr, x->target.port) :
					  psprintf("A superuser can allow private addresses for this host: SELECT concord.http_allow_host('%s', %d, allow_private => true);",
							   x->target.host, x->target.port));
		return;
	}
	if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED)
	{
		transfer_fail(x, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					  psprintf("response from %s exceeds the limit of %zu bytes", url, x->max_bytes),
					  NULL,
					  "Raise max_response_bytes for the call or the setting concord.http_max_response_bytes.");
		return;
	}
	if (x->out_of_memory)
	{
		transfer_fail(x, ERRCODE_OUT_OF_MEMORY,
					  psprintf("out of memory reading the response from %s", url),
					  NULL, NULL);
		return;
	}

	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
			transfer_fail(x, ERRCODE_CONNECTION_FAILURE,
						  psprintf("could not resolve host \"%s\"", x->target.host),
						  detail, "Check the host name in the URL.");
			break;
		case CURLE_COULDNT_CONNECT:
			transfer_fail(x, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
						  psprintf("could not connect to %s port %d", x->target.host, x->target.port),
						  detail, NULL);
			break;
		case CURLE_OPERATION_TIMEDOUT:
			transfer_fail(x, ERRCODE_CONNECTION_FAILURE,
						  psprintf("http request to %s timed out", url),
						  psprintf("%s. Limits: %d ms in all, %d ms to connect.",
								   why, x->timeout_ms, x->connect_timeout_ms),
						  "Raise timeout_ms for the call or the setting concord.http_timeout_ms.");
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
			transfer_fail(x, ERRCODE_CONNECTION_FAILURE,
						  psprintf("tls verification failed for %s", url),
						  psprintf("%s.", why),
						  "The server's certificate must be valid for its host name and signed by a trusted CA; a superuser can point concord.http_ca_file at a private CA.");
			break;
		case CURLE_GOT_NOTHING:
			transfer_fail(x, ERRCODE_CONNECTION_FAILURE,
						  psprintf("server closed the connection without a response for %s", url),
						  detail, NULL);
			break;
		case CURLE_BAD_CONTENT_ENCODING:
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_PARTIAL_FILE:
			transfer_fail(x, ERRCODE_PROTOCOL_VIOLATION,
						  psprintf("invalid http response from %s", url),
						  detail, NULL);
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			transfer_fail(x, ERRCODE_QUERY_CANCELED,
						  psprintf("http request to %s was canceled", url),
						  NULL, NULL);
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
			transfer_fail(x, ERRCODE_CONNECTION_FAILURE,
						  psprintf("connection to %s failed", url),
						  detail, NULL);
			break;
		case CURLE_URL_MALFORMAT:
			transfer_fail(x, ERRCODE_INVALID_PARAMETER_VALUE,
						  psprintf("malformed URL \"%s\"", url), detail, NULL);
			break;
		default:
			transfer_fail(x, ERRCODE_SYSTEM_ERROR,
						  psprintf("http request to %s failed", url),
						  detail, NULL);
			break;
	}
}


/* Start (or restart, for a redirect hop) a transfer on the multi handle. */
static void
start_hop(HttpTransfer *x)
{
	CURLMcode mc;

	if (x->easy == NULL)
	{
		x->easy = curl_easy_init();
		if (x->easy == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create an HTTP handle")));
	}
	growbuf_reset(&x->bodybuf);
	growbuf_reset(&x->hdrbuf);
	x->denied = false;
	setup_easy(x);
	mc = curl_multi_add_handle(multi, x->easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start HTTP transfer: %s", curl_multi_strerror(mc))));
	x->in_multi = true;
}

/* Origin (scheme, host, port) equality, for dropping credentials. */
static bool
same_origin(const HttpTarget *a, const HttpTarget *b)
{
	return strcmp(a->scheme, b->scheme) == 0 &&
		strcmp(a->host, b->host) == 0 && a->port == b->port;
}

/*
 * Follow a redirect if the finished hop asks for one.  Returns true when a
 * new hop was started; otherwise the transfer is finished (as a response
 * or as an error).
 */
static bool
maybe_redirect(HttpTransfer *x, long status, List *allowlist)
{
	char	   *location = NULL;
	HttpTarget	next;
	HttpError	err;
	MemoryContext old;

	if (status != 301 && status != 302 && status != 303 &&
		status != 307 && status != 308)
		return false;
	if (x->max_redirects == 0)
		return false;			/* the caller wants the 3xx itself */
	if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &location) != CURLE_OK ||
		location == NULL)
		return false;

	old = MemoryContextSwitchTo(x->cxt);
	if (x->result.redirects >= x->max_redirects)
	{
		transfer_fail(x, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					  psprintf("too many redirects from %s", x->result.redacted_url),
					  psprintf("More than %d redirects; the last went to %s.",
							   x->max_redirects, http_redact_url(location)),
					  "Raise max_redirects for the call or the setting concord.http_max_redirects.");
		MemoryContextSwitchTo(old);
		return false;
	}
	if (!http_guard_check_url(location, allowlist, &next, &err))
	{
		x->result.ok = false;
		x->result.error = err;
		x->result.error.detail = psprintf("Redirect from %s to %s refused. %s",
										  x->target.redacted, next.redacted,
										  err.detail ? err.detail : "");
		x->finished = true;
		MemoryContextSwitchTo(old);
		return false;
	}

	/*
	 * Credentials go only to the origin of the original request.  On a hop
	 * to another origin, Authorization, Proxy-Authorization and Cookie are
	 * dropped, and so is every header whose value came from a secret or that
	 * the caller protected -- for good: a later hop back does not get them
	 * either.  A protected body is never sent there: the transfer fails.
	 */
	if (!same_origin(&x->origin, &next))
	{
		List	   *kept = NIL;
		ListCell   *lc;
		bool		body_goes = x->has_body &&
			!(status == 303 && strcmp(x->method, "HEAD") != 0) &&
			!((status == 301 || status == 302) && strcmp(x->method, "POST") == 0);

		if (x->credential_body && body_goes)
		{
			transfer_fail(x, ERRCODE_INSUFFICIENT_PRIVILEGE,
						  psprintf("redirect from %s to another origin refused: the request body holds credentials",
								   x->target.redacted),
						  psprintf("The redirect went to %s.", next.redacted),
						  "Use the URL the server redirects to in the first place.");
			MemoryContextSwitchTo(old);
			return false;
		}
		foreach(lc, x->headers)
		{
			const char *line = lfirst(lc);

			if (pg_strncasecmp(line, "authorization", 13) == 0 ||
				pg_strncasecmp(line, "proxy-authorization", 19) == 0 ||
				pg_strncasecmp(line, "cookie", 6) == 0 ||
				list_member_ptr(x->credentials, line))
				continue;
			kept = lappend(kept, (void *) line);
		}
		x->headers = kept;
	}
	/* 303 always, 301/302 for POST: continue as GET without a body */
	if ((status == 303 && strcmp(x->method, "HEAD") != 0) ||
		((status == 301 || status == 302) && strcmp(x->method, "POST") == 0))
	{
		List	   *kept = NIL;
		ListCell   *lc;

		x->method = "GET";
		x->has_body = false;
		x->has_content_type = false;
		/* the body's Content-Type goes with the body */
		foreach(lc, x->headers)
		{
			const char *line = lfirst(lc);

			if (pg_strncasecmp(line, "content-type:", 13) != 0 &&
				pg_strncasecmp(line, "content-type;", 13) != 0)
				kept = lappend(kept, (void *) line);
		}
		x->headers = kept;
	}
	x->target = next;
	x->result.redirects++;
	MemoryContextSwitchTo(old);

	curl_multi_remove_handle(multi, x->easy);
	x->in_multi = false;
	start_hop(x);
	return true;
}

/* Record the finished response of a transfer. */
static void
finish_response(HttpTransfer *x, long status)
{
	MemoryContext old;
	char	   *ct = NULL;
	HttpResult *r = &x->result;

	/* never a body cut short: a varlena's length has 30 bits (write_cb stops sooner) */
	if (x->bodybuf.len > HTTP_BODY_MAX)
	{
		transfer_fail(x, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					  psprintf("response from %s exceeds the limit of %zu bytes",
							   x->target.redacted, HTTP_BODY_MAX),
					  NULL, NULL);
		return;
	}
	old = MemoryContextSwitchTo(x->cxt);
	r->ok = true;
	r->status = (int) status;
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	r->content_type = ct ? header_text(ct, strlen(ct)) : NULL;
	r->headers = parse_header_lines(&x->hdrbuf);
	if (x->bodybuf.data == NULL)
		growbuf_append(x->cxt, &x->bodybuf, "", 0);
	if (x->bodybuf.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	r->body = (bytea *) x->bodybuf.data;
	SET_VARSIZE(r->body, VARHDRSZ + x->bodybuf.len);
	x->bodybuf.data = NULL;		/* now owned by the result */
	r->effective_url = x->target.url;
	r->redacted_url = x->target.redacted;
	x->finished = true;
	MemoryContextSwitchTo(old);
}

/* Handle one transfer that libcurl reports done. */
static void
transfer_done(HttpTransfer *x, CURLcode rc, List *allowlist)
{
	long		status = 0;

	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		if (maybe_redirect(x, status, allowlist))
			return;
		if (!x->finished)
			finish_response(x, status);
	}
	else
		fail_from_curl(x, rc);
	x->result.elapsed_ms = elapsed_ms(x);
	curl_multi_remove_handle(multi, x->easy);
	x->in_multi = false;
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->slist);
	x->slist = NULL;
}

/*
 * The engine's wait set: the latch, the postmaster's death and every socket
 * libcurl asks us to watch (its socket callback).  The set is rebuilt when a
 * socket comes or goes (PostgreSQL has no way to take one event out of a
 * set) and adjusted in place when only the direction a socket waits for
 * changes.
 */
typedef struct EngineSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT, _INOUT */
	int			pos;			/* position in the wait set, -1: not in it */
	bool		changed;		/* what changed since the set was adjusted */
} EngineSocket;

static EngineSocket *sockets = NULL;
static int	nsockets = 0;
static int	maxsockets = 0;
static WaitEventSet *wait_set = NULL;
static bool wait_set_stale = true;
/* libcurl's timer: when it wants CURL_SOCKET_TIMEOUT (-1: no timer) */
static long timer_ms = -1;
static instr_time timer_set_at;
/* transfers on the multi handle, and those finished but not yet taken */
static int	engine_active = 0;
static List *engine_done = NIL;
/* the allowlist changed while transfers ran: recreate the multi when idle */
static bool multi_stale = false;

/* The wait-set events a libcurl socket interest stands for. */
static uint32
socket_events(int what)
{
	uint32		ev = 0;

	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= WL_SOCKET_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= WL_SOCKET_WRITEABLE;
	return ev;
}

/*
 * libcurl socket callback: remember what to watch on socket s.  Never
 * throws (it runs inside libcurl): the table grows with malloc-free
 * MemoryContextAllocExtended and a failure stops the transfer.
 */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nsockets; i++)
		if (sockets[i].fd == s)
			break;
	if (what == CURL_POLL_REMOVE || what == CURL_POLL_NONE)
	{
		if (i < nsockets)
		{
			sockets[i] = sockets[--nsockets];
			wait_set_stale = true;
		}
		return 0;
	}
	if (i == nsockets)
	{
		if (nsockets == maxsockets)
		{
			int			newmax = Max(16, maxsockets * 2);
			EngineSocket *n = MemoryContextAllocExtended(TopMemoryContext,
														 sizeof(EngineSocket) * newmax,
														 MCXT_ALLOC_NO_OOM);

			if (n == NULL)
				return -1;
			if (sockets)
			{
				memcpy(n, sockets, sizeof(EngineSocket) * nsockets);
				pfree(sockets);
			}
			sockets = n;
			maxsockets = newmax;
		}
		sockets[nsockets].fd = s;
		sockets[nsockets].what = what;
		sockets[nsockets].pos = -1;
		sockets[nsockets].changed = false;
		nsockets++;
		wait_set_stale = true;
		return 0;
	}
	if (sockets[i].what != what)
	{
		/* (the wait set is adjusted before the next wait, not from libcurl's stack) */
		sockets[i].what = what;
		sockets[i].changed = true;
	}
	return 0;
}

/* libcurl timer callback: when libcurl wants to be called on its own. */
static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	timer_ms = timeout_ms;
	INSTR_TIME_SET_CURRENT(timer_set_at);
	return 0;
}

/* Milliseconds until libcurl's timer fires (0: now), or -1 without one. */
static long
timer_remaining(void)
{
	instr_time	now;
	long		passed;

	if (timer_ms < 0)
		return -1;
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, timer_set_at);
	passed = (long) INSTR_TIME_GET_MILLISEC(now);
	return Max(timer_ms - passed, 0);
}

/* Rebuild the wait set from the socket table. */
static void
rebuild_wait_set(void)
{
	if (wait_set != NULL)
		FreeWaitEventSet(wait_set);
	wait_set = NULL;
	wait_set = concord_wait_set_create(2 + nsockets);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < nsockets; i++)
	{
		sockets[i].pos = AddWaitEventToSet(wait_set, socket_events(sockets[i].what),
										   sockets[i].fd, NULL, NULL);
		sockets[i].changed = false;
	}
	wait_set_stale = false;
}

/* Hand libcurl's finished transfers to transfer_done, and queue them. */
static void
collect_done(void)
{
	CURLMsg    *msg;
	int			queued;

	while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
	{
		HttpTransfer *x;
		MemoryContext old;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &x);
		transfer_done(x, msg->data.result, x->allowlist);
		if (x->finished)
		{
			if (x->counted)
				engine_active--;
			x->counted = false;
			old = MemoryContextSwitchTo(TopMemoryContext);
			engine_done = lappend(engine_done, x);
			MemoryContextSwitchTo(old);
		}
	}
}

/* Let libcurl act on socket s (or on its timer), then collect what finished. */
static void
socket_action(curl_socket_t s, int flags)
{
	int			running;
	CURLMcode	mc = curl_multi_socket_action(multi, s, flags, &running);

	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("HTTP transfer engine failed: %s", curl_multi_strerror(mc))));
	collect_done();
}

/* The backend's multi handle, created on first use. */
static void
ensure_multi(List *allowlist)
{
	uint32		sig = http_allowlist_signature(allowlist);

	/*
	 * Cached connections were admitted under other rules: drop them.  With
	 * transfers still running, the handle stays until it is idle and every
	 * new transfer opens a connection of its own meanwhile.
	 */
	if (multi != NULL && sig != multi_signature)
	{
		if (engine_active == 0)
		{
			curl_multi_cleanup(multi);
			multi = NULL;
			nsockets = 0;
			wait_set_stale = true;
			timer_ms = -1;
			multi_stale = false;
		}
		else
			multi_stale = true;
	}
	if (multi == NULL)
	{
		static bool global_done = false;

		if (!global_done)
		{
			if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
				ereport(ERROR,
						(errcode(ERRCODE_SYSTEM_ERROR),
						 errmsg("could not initialize libcurl")));
			global_done = true;
		}
		multi = curl_multi_init();
		if (multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create an HTTP multi handle")));
		curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
		curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
		/* the callers' caps are enforced by starting transfers, not by libcurl */
		curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
		curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	}
	multi_signature = sig;
}

/*
 * Start transfer x now (the caller counts it against its caps).  It runs
 * while the caller waits in http_engine_wait(); http_engine_take() returns
 * it once finished.  A transfer that failed validation is finished at once.
 */
void
http_engine_start(HttpTransfer *x, List *allowlist)
{
	MemoryContext old;

	if (x->finished)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		engine_done = lappend(engine_done, x);
		MemoryContextSwitchTo(old);
		return;
	}
	ensure_multi(allowlist);
	x->allowlist = allowlist;
	x->fresh_connection = multi_stale;
	INSTR_TIME_SET_CURRENT(x->start);
	start_hop(x);
	x->counted = true;
	engine_active++;
}

/* A finished transfer not yet taken, or NULL. */
HttpTransfer *
http_engine_take(void)
{
	HttpTransfer *x;

	if (engine_done == NIL)
		return NULL;
	x = linitial(engine_done);
	engine_done = list_delete_first(engine_done);
	return x;
}

/* Transfers started and not finished. */
int
http_engine_active(void)
{
	return engine_active;
}

/*
 * Wait at most timeout_ms (-1: as long as libcurl needs) for the network,
 * the latch or the postmaster's death, and let libcurl act on what came.
 * Returns true when the latch was set (the caller resets it and checks
 * for interrupts).  Never waits when finished transfers are waiting to be
 * taken.  The process exits at once if the postmaster dies.
 */
bool
http_engine_wait(long timeout_ms)
{
	WaitEvent	events[64];
	long		t = timer_remaining();
	int			nev;
	bool		latch = false;

	if (engine_done != NIL)
		return false;
	if (multi == NULL || engine_active == 0)
		t = -1;
	if (t < 0 || (timeout_ms >= 0 && timeout_ms < t))
		t = timeout_ms;
	/* a safety net: libcurl always has a timer while it works */
	if (engine_active > 0 && (t < 0 || t > 1000))
		t = 1000;
	if (wait_set_stale || wait_set == NULL)
		rebuild_wait_set();
	else
		for (int i = 0; i < nsockets; i++)
			if (sockets[i].changed)
			{
				ModifyWaitEvent(wait_set, sockets[i].pos, socket_events(sockets[i].what), NULL);
				sockets[i].changed = false;
			}
	nev = WaitEventSetWait(wait_set, t, events, lengthof(events), PG_WAIT_EXTENSION);
	for (int i = 0; i < nev; i++)
	{
		WaitEvent  *e = &events[i];
		int			flags = 0;

		if (e->events & WL_LATCH_SET)
		{
			latch = true;
			continue;
		}
		if (e->events & WL_SOCKET_READABLE)
			flags |= CURL_CSELECT_IN;
		if (e->events & WL_SOCKET_WRITEABLE)
			flags |= CURL_CSELECT_OUT;
		if (flags != 0 && multi != NULL)
			socket_action(e->fd, flags);
	}
	if (multi != NULL && engine_active > 0 && timer_remaining() == 0)
	{
		timer_ms = -1;
		socket_action(CURL_SOCKET_TIMEOUT, 0);
	}
	if (multi_stale && engine_active == 0)
		ensure_multi(NIL);		/* recreated at the next start */
	return latch;
}

/*
 * Abort every transfer still running (an error path of the caller), so the
 * engine is empty again.  Their memory is the caller's.
 */
void
http_engine_abort_all(HttpTransfer **xs, int n)
{
	for (int i = 0; i < n; i++)
		http_abort(xs[i]);
}

/* libcurl keeps at most n idle connections for reuse (at least 8). */
void
http_engine_cache(int n)
{
	if (multi != NULL)
		curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) Max(n, 8));
}

/* The slot counting transfers to x's first host, found or added. */
static HostSlot *
host_slot(List **slots, HttpTransfer *x)
{
	char	   *key = psprintf("%s://%s:%d", x->target.scheme, x->target.host,
							   x->target.port);
	ListCell   *lc;
	HostSlot   *slot;

	foreach(lc, *slots)
	{
		slot = lfirst(lc);
		if (strcmp(slot->key, key) == 0)
		{
			pfree(key);
			return slot;
		}
	}
	slot = palloc0(sizeof(HostSlot));
	slot->key = key;
	*slots = lappend(*slots, slot);
	return slot;
}

/*
 * Run transfers concurrently until all are finished.  Transfers that
 * failed validation are skipped.  The caps are enforced here, by starting
 * a transfer only when a slot is free -- at once, as each transfer
 * finishes -- not by libcurl's connection limits: those do not hold once
 * the connection cache has more idle connections than the cap.  A
 * transfer's time limit counts from its start, not from when it was
 * queued.  Throws only for interrupts (cancel, statement_timeout,
 * shutdown) and resource exhaustion; per-request failures stay in each
 * transfer's result.  The caller must not have other transfers running.
 */
void
http_perform(HttpTransfer **xs, int n, int max_connections,
			 int max_host_connections, List *allowlist)
{
	static int	perform_calls = 0;
	int			id = ++perform_calls;
	List	   *volatile others = NIL;

	ensure_multi(allowlist);
	/* libcurl may keep as many idle connections as may run at once */
	http_engine_cache(max_connections);

	PG_TRY();
	{
		List	   *slots = NIL;
		int			pending = 0;
		int			in_flight = 0;
		int			first_waiting = 0;
		HttpTransfer *x;

		for (int i = 0; i < n; i++)
			xs[i]->perform_id = id;
		for (int i = 0; i < n; i++)
			if (!xs[i]->finished)
			{
				xs[i]->slot = host_slot(&slots, xs[i]);
				if (xs[i]->easy != NULL)
				{
					/* started by http_begin(): already in flight */
					xs[i]->slot->active++;
					in_flight++;
				}
				else
					pending++;
			}

		while (pending > 0 || in_flight > 0)
		{
			/* start what the caps allow, in input order */
			for (int i = first_waiting; i < n && in_flight < max_connections && pending > 0; i++)
			{
				x = xs[i];
				if (x->finished || x->easy != NULL)
				{
					if (i == first_waiting)
						first_waiting++;
					continue;
				}
				if (x->slot->active >= max_host_connections)
					continue;
				http_engine_start(x, allowlist);
				x->slot->active++;
				in_flight++;
				pending--;
			}

			/* each finished transfer frees its slot for the next at once */
			if (http_engine_wait(-1))
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			while ((x = http_engine_take()) != NULL)
			{
				if (x->perform_id != id)
				{
					/* another caller's (the worker's, under an alert's query) */
					MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

					others = lappend(others, x);
					MemoryContextSwitchTo(old);
					continue;
				}
				if (x->slot != NULL)
				{
					x->slot->active--;
					in_flight--;
				}
			}
		}
		/* a cancel seen by the progress callback is reported as a cancel */
		CHECK_FOR_INTERRUPTS();
	}
	PG_FINALLY();
	{
		http_engine_abort_all(xs, n);
		if (others != NIL)
		{
			/* (both lists live in TopMemoryContext) */
			engine_done = list_concat(engine_done, others);
			list_free(others);
		}
	}
	PG_END_TRY();
}

/* Take an unfinished transfer off the multi handle and free its handles. */
void
http_abort(HttpTransfer *x)
{
	if (x->counted)
		engine_active--;
	x->counted = false;
	engine_done = list_delete_ptr(engine_done, x);
	if (x->easy)
	{
		if (x->in_multi && multi != NULL)
			curl_multi_remove_handle(multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
		x->in_multi = false;
	}
	curl_slist_free_all(x->slist);
	x->slist = NULL;
}

/* Memory-context callback: a begun transfer dies with its memory. */
static void
abort_callback(void *arg)
{
	http_abort((HttpTransfer *) arg);
}

/*
 * Start one transfer and return at once: the request is sent and the
 * response arrives in the kernel's buffers while the caller works; a later
 * http_perform() on it completes it.  Until then the caller must not run
 * other transfers (the multi handle is shared).  If the transfer's memory
 * context is reset or deleted first (an error), the transfer is aborted.
 */
void
http_begin(HttpTransfer *x, List *allowlist)
{
	MemoryContextCallback *cb;

	if (x->finished)
		return;
	cb = MemoryContextAlloc(x->cxt, sizeof(MemoryContextCallback));
	cb->func = abort_callback;
	cb->arg = x;
	MemoryContextRegisterResetCallback(x->cxt, cb);
	http_engine_start(x, allowlist);
	socket_action(CURL_SOCKET_TIMEOUT, 0);
	/* (the caller's later http_perform takes it from the done list) */
}

/* Attach the caller's pointer to a transfer (to find its own when it finishes). */
void
http_transfer_set_data(HttpTransfer *x, void *data)
{
	x->data = data;
}

/* The caller's pointer attached to a transfer, or NULL. */
void *
http_transfer_data(HttpTransfer *x)
{
	return x->data;
}

/* The outcome of a finished transfer. */
HttpResult *
http_transfer_result(HttpTransfer *x)
{
	return &x->result;
}
