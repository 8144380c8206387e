/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The http component's only door: requests, results, the destination
 *	  guard and the transfer engine (libcurl multi).
 *
 * A request is validated into an HttpTransfer; http_perform() runs any
 * number of transfers concurrently under global and per-host caps and
 * leaves each one's outcome (a response or an HttpError) in the transfer.
 * Nothing in the engine throws for a single transfer's failure: callers
 * either raise the error (one call) or report it per row (a batch).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_HTTP_H
#define CONCORD_HTTP_H

#include "postgres.h"

#include <sys/socket.h>

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "compat.h"

/* A failure of one request, raised later or reported per row. */
typedef struct HttpError
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	char	   *hint;
} HttpError;

/* Per-request limits; a negative value means "use the GUC". */
typedef struct HttpLimits
{
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_response_bytes;
	int			max_redirects;
} HttpLimits;

/* The largest response body: what one bytea can hold. */
#define HTTP_BODY_MAX ((size_t) (MaxAllocSize - VARHDRSZ))

/* One matching row of concord.http_allow, as the connect check needs it. */
typedef struct HttpAllowRule
{
	char	   *pattern;
	int			port;			/* 0: the scheme's default port */
	bool		allow_private;
	bool		is_address;		/* pattern is an IP address or CIDR block */
	unsigned char net[16];		/* network, IPv6 form (IPv4 mapped) */
	int			prefix;			/* prefix length over the 128-bit form */
} HttpAllowRule;

/* A parsed request URL after the guard has accepted it. */
typedef struct HttpTarget
{
	char	   *url;			/* as sent */
	char	   *redacted;		/* safe to show in messages and logs */
	char	   *scheme;
	char	   *host;			/* lower-case; IPv6 without brackets */
	int			port;
	HttpAllowRule rule;			/* the allowlist row that admitted it */
} HttpTarget;

typedef struct HttpHeader
{
	char	   *name;			/* lower-case */
	char	   *value;
} HttpHeader;

typedef struct HttpTransfer HttpTransfer;

/* The outcome of one request. */
typedef struct HttpResult
{
	bool		ok;
	HttpError	error;			/* valid when !ok */
	int			status;
	char	   *content_type;
	List	   *headers;		/* HttpHeader *, final response only */
	bytea	   *body;			/* raw body after content decoding */
	double		elapsed_ms;
	char	   *effective_url;
	char	   *redacted_url;
	char	   *method;			/* as first sent */
	int			redirects;
} HttpResult;

/* guard.c */
extern List *http_allowlist_load(void);
extern bool http_guard_check_url(const char *url, List *allowlist,
								 HttpTarget *target, HttpError *err);
extern bool http_guard_allows_address(const HttpTarget *target,
									  const struct sockaddr *sa,
									  char *addrbuf, size_t addrbuflen,
									  const char **klass);
extern const char *http_address_class_of(const unsigned char *addr16);
extern bool http_parse_address(const char *text, unsigned char *addr16,
							   bool *is_v4);
extern uint32 http_allowlist_signature(List *allowlist);

/* redact.c */
extern char *http_redact_url(const char *url);
extern bool http_name_looks_secret(const char *name, size_t len);
extern bool http_redact_hide_param(const char *name);
extern void http_redact_clear_params(void);

/* message.c */
extern bool http_build_url(const char *url, Jsonb *params, char **out,
						   HttpError *err);
extern bool http_build_headers(Jsonb *headers, List **lines,
							   List **secret_lines, bool *has_content_type,
							   HttpError *err);
extern char *http_url_origin(const char *url);
extern char *http_content_type_charset(const char *content_type);
extern int	http_charset_encoding(const char *charset);
extern bool http_decode_text(const HttpResult *res, text **out,
							 HttpError *err);
extern bool http_encode_body(const char *body, int len, int enc, char **out,
							 int *outlen, HttpError *err);

/* transfer.c */
extern HttpTransfer *http_transfer_create(const char *method, const char *url,
										  Jsonb *params, Jsonb *headers,
										  const char *body, int body_len,
										  const char *content_type,
										  const HttpLimits *limits,
										  List *allowlist);
extern void http_perform(HttpTransfer **transfers, int n,
						 int max_connections, int max_host_connections,
						 List *allowlist);
extern void http_transfer_protect_header(HttpTransfer *xfer, const char *name);
extern void http_transfer_protect_body(HttpTransfer *xfer);
extern HttpResult *http_transfer_result(HttpTransfer *xfer);
extern void http_transfer_set_data(HttpTransfer *xfer, void *data);
extern void *http_transfer_data(HttpTransfer *xfer);
extern void http_begin(HttpTransfer *x, List *allowlist);

/*
 * The engine itself, for a caller that keeps transfers running across its
 * own work (the outbox worker): start transfers as its caps allow, wait,
 * take each one as it finishes.  http_perform() is built on these.
 */
extern void http_engine_start(HttpTransfer *x, List *allowlist);
extern bool http_engine_wait(long timeout_ms);
extern HttpTransfer *http_engine_take(void);
extern int	http_engine_active(void);
extern void http_engine_cache(int n);
extern void http_engine_abort_all(HttpTransfer **xs, int n);
extern void http_abort(HttpTransfer *x);
pg_noreturn extern void http_raise(const HttpError *err);
extern void http_error_set(HttpError *err, int sqlerrcode,
						   const char *message, const char *detail,
						   const char *hint);

/* limits.c */
extern void http_limits_check(const HttpLimits *limits, const char *prefix);
extern void http_timeout_check(int timeout_ms, const char *name);
extern void http_caps_check(int max_connections, bool connections_from_call,
							int max_host_connections, bool host_from_call);
extern void http_limits_clamp(HttpLimits *limits);
extern int	http_cap_clamp(int cap, bool per_host);

/* calllog.c */
extern void http_call_log(HttpResult **results, int n);

/*
 * http's registration with core (calllog.c, called from _PG_init): the
 * worker waits in http's engine; its housekeeping trims the call log.
 */
extern void http_register(void);

#endif							/* CONCORD_HTTP_H */
