/*-------------------------------------------------------------------------
 *
 * sync.h
 *	  The sync component: declarative sources (an HTTP/JSON API described
 *	  as data) kept in step with a table, page by page.
 *
 * A source's spec (jsonb) is parsed with jansson into a SyncSpec (spec.c);
 * pages are fetched with retries through the http component (fetch.c),
 * parsed into plain C strings (jdoc.c, page.c), converted to the
 * target's column types and upserted in batches (load.c); run.c drives a
 * run and commits data together with the source's state.
 *
 * Pages are parsed by jdoc.c; specs and request bodies with jansson,
 * confined to the spec files and reqbody.c, which never include
 * utils/builtins.h (its json_object clashes with jansson's).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_H
#define CONCORD_SYNC_H

#include "postgres.h"

#include <setjmp.h>

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "compat.h"

/* A value given literally or as {"secret": "name"} (resolved at request). */
typedef struct SyncValue
{
	char	   *literal;
	char	   *secret;
} SyncValue;

/* A name and a value: a query parameter or a request header. */
typedef struct SyncPair
{
	char	   *name;
	SyncValue	value;
} SyncPair;

typedef struct SyncPath SyncPath;	/* a compiled JSON path (jpath.c) */

typedef enum SyncAuthType
{
	SYNC_AUTH_NONE,
	SYNC_AUTH_API_KEY,
	SYNC_AUTH_BASIC,
	SYNC_AUTH_BEARER,
	SYNC_AUTH_OAUTH2,
	SYNC_AUTH_TOKEN				/* a token fetched from token_url (auth.c) */
} SyncAuthType;

typedef enum SyncPageType
{
	SYNC_PAGE_NONE,
	SYNC_PAGE_NUMBER,
	SYNC_PAGE_OFFSET,
	SYNC_PAGE_CURSOR,
	SYNC_PAGE_LINK,
	SYNC_PAGE_NEXT_URL
} SyncPageType;

typedef enum SyncDelete
{
	SYNC_DELETE_NONE,
	SYNC_DELETE_ROWS,
	SYNC_DELETE_SOFT
} SyncDelete;

/* One target column and where its value comes from. */
typedef struct SyncColumn
{
	char	   *name;
	char	   *path_text;
	SyncPath   *path;
	char	   *type;			/* type name from the spec, or NULL */
	char	   *default_value;	/* used when the path is missing or null */
	bool		has_default;
	int			nmap;			/* code-value map: from[i] -> to[i] */
	char	  **map_from;
	char	  **map_to;			/* an element may be NULL (maps to null) */
	char	   *otherwise;		/* value for codes not in the map */
	bool		has_otherwise;
	bool		otherwise_null;
	const char **path_keys;		/* the path's member names, when it has only those */
	int			npath_keys;
	int			epoch;			/* Unix time in: 0 no, 1 seconds, 1000 ms */
	bool		collect;		/* the path has a wildcard: JSON array of matches */
	bool		pg_array;		/* an array column: JSON arrays become array
								 * literals (set by the run, see load.h) */
} SyncColumn;

/* The API's own error codes in its JSON answers (spec "errors"). */
typedef struct SyncErrors
{
	SyncPath   *code_path;		/* NULL: the API has none */
	char	   *code_path_text;
	SyncPath   *message_path;
	char	  **ok;				/* codes meaning success (scalar texts) */
	int			nok;
	char	  **token;			/* the token expired: renew it and retry */
	int			ntoken;
	char	  **retry;			/* transient (a rate limit, "busy") */
	int			nretry;
} SyncErrors;

/* A parsed, validated source spec. */
typedef struct SyncSpec
{
	char	   *source;			/* the source's name, for messages */

	/* request */
	char	   *url;
	char	   *method;
	SyncPair   *params;
	int			nparams;
	SyncPair   *headers;
	int			nheaders;
	int			timeout_ms;
	char	   *body;			/* request.body as JSON text, or NULL */
	bool		cursor_placeholder; /* {cursor} is in params or body */

	/* auth */
	SyncAuthType auth;
	bool		api_key_in_query;
	char	   *api_key_name;
	SyncValue	api_key;
	SyncValue	username;
	SyncValue	password;
	SyncValue	token;
	bool		oauth_refresh;	/* grant refresh_token, else client_credentials */
	char	   *token_url;
	SyncValue	client_id;
	SyncValue	client_secret;
	SyncValue	refresh_token;
	char	   *scope;
	bool		client_auth_basic;

	/* auth type token: a token got from token_url, sent in a header or query */
	char	   *token_method;	/* GET or POST */
	SyncPair   *token_params;
	int			ntoken_params;
	SyncPair   *token_headers;
	int			ntoken_headers;
	char	   *token_body;		/* JSON text, or NULL */
	SyncPath   *token_path;
	char	   *token_path_text;
	SyncPath   *expires_path;	/* seconds the token lives, or NULL */
	bool		token_in_query;
	char	   *token_name;		/* the header or parameter */
	char	   *token_prefix;	/* put before the token ("Bearer ") */
	char	   *sign_param;		/* a token parameter signed with HMAC-SHA256 */
	SyncValue	sign_key;
	char	   *sign_message;

	/* pagination */
	SyncPageType page;
	char	   *page_param;
	int64		page_start;
	char	   *size_param;
	int64		page_size;		/* 0: not sent, unknown */
	char	   *offset_param;
	char	   *cursor_param;
	SyncPath   *cursor_path;
	char	   *cursor_path_text;
	SyncPath   *next_url_path;
	char	   *next_url_path_text;
	SyncPath   *total_path;
	char	   *total_path_text;
	SyncPath   *has_more_path;	/* a boolean: false ends the walk */
	char	   *has_more_path_text;
	SyncPath   *done_path;		/* a boolean: true ends the walk */
	char	   *done_path_text;
	char	   *cursor_first;	/* the first page's cursor, or NULL */
	bool		cursor_first_number;	/* it is a JSON number */
	bool		page_in_body;	/* paging parameters go in the JSON body */
	bool		stop_short_page;
	int64		max_pages;

	/* records and mapping */
	SyncPath   *records;
	char	   *records_text;
	char	   *table;			/* as written: [schema.]table */
	bool		create;
	char	  **primary_key;
	int			npk;
	char	   *unmapped_column;
	SyncColumn *columns;
	int			ncolumns;

	/* mode */
	bool		incremental;
	char	   *cursor_column;
	char	   *cursor_request_param;
	char	   *lookback;
	char	   *cursor_start;
	char	   *cursor_format;	/* NULL, "epoch", "epoch_ms" or a to_char pattern */
	SyncDelete	delete_mode;
	char	   *soft_delete_column;

	/* retries, rate, batches, rejects */
	int			max_attempts;
	int			backoff_ms;
	int			max_backoff_ms;
	int			max_retry_after_ms;
	double		requests_per_second;
	int			batch_pages;
	bool		reject_fail;
	int64		max_rejects;
	bool		retry_rejects;	/* incremental: keep rejects, try them again */

	SyncErrors	errors;
} SyncSpec;

/* One parsed page: records as text, ready for conversion (page.c). */
typedef struct SyncPage
{
	int			nrecords;
	int			ncolumns;
	char	  **values;			/* nrecords * ncolumns; NULL = SQL null */
	bool	   *present;		/* path found and not null */
	char	  **unmapped;		/* per record JSON text, or NULL */
	bool	   *number;			/* nrecords * ncolumns: the value was a JSON number */
	char	  **problem;		/* per record: why it cannot be loaded, or NULL */
	struct JDoc *doc;			/* the parsed page (jdoc.h; page.c only) */
	uint32	   *raw;			/* per record: its node in doc */
	char	   *next_cursor;
	bool		next_cursor_number; /* it was a JSON number */
	char	   *next_url;
	bool		has_total;
	int64		total;
	int			more;			/* has_more/done: 1 more pages, 0 none, -1 unsaid */
	char	   *api_code;		/* the API's error code, when not a success */
	char	   *api_message;
	uint32		hash;			/* of the body: a page repeated is caught */
} SyncPage;

/* What an answer's own error code asks for (sync_api_error). */
typedef enum SyncApiVerdict
{
	SYNC_API_OK,				/* no code, or a success code */
	SYNC_API_TOKEN,				/* renew the token, then retry */
	SYNC_API_RETRY,				/* transient: retry after a backoff */
	SYNC_API_FAIL				/* any other code: the run fails */
} SyncApiVerdict;

/* arena.c: memory for page parsing, in the backend or the parser thread */
typedef struct SyncArena SyncArena;
extern __thread SyncArena *sync_thread_arena;
extern SyncArena *sync_arena_create(jmp_buf *oom);
extern void sync_arena_free(SyncArena *a);
extern void *sync_alloc(size_t n);
extern void *sync_alloc0(size_t n);
extern void *sync_alloc_noerror(size_t n);
extern void sync_free(void *p);
extern char *sync_strdup(const char *s);
extern char *sync_psprintf(const char *fmt,...) pg_attribute_printf(1, 2);

/* parser.c: parse pages in a helper thread */
typedef struct SyncParser SyncParser;
extern SyncParser *sync_parser_start(const SyncSpec *spec);
extern void sync_parser_submit(SyncParser *p, const char *body, size_t len);
extern bool sync_parser_wait(SyncParser *p, SyncPage *page, SyncArena **arena,
							 char **error);

/* spec.c */
extern SyncSpec *sync_spec_parse(const char *source, const char *spec_json);
pg_noreturn extern void sync_spec_error(const char *source, const char *path,
										 const char *msg, const char *hint);
extern void sync_json_init(void);

/* jpath.c */
extern SyncPath *sync_path_compile(const char *text, bool singular,
								   char **error);
extern bool sync_path_has_wildcard(const SyncPath *path);
extern const char *sync_path_first_key(const SyncPath *path);
extern int	sync_path_keys(const SyncPath *path, const char ***keys);

/* page.c */
extern bool sync_page_parse(const SyncSpec *spec, const char *body,
							size_t len, SyncPage *page, char **error);
extern bool sync_page_parse_array(const SyncSpec *spec, const char *body,
								  size_t len, SyncPage *page, char **error);
extern SyncApiVerdict sync_api_verdict(const SyncSpec *spec, const char *code);
extern SyncApiVerdict sync_api_error(const SyncSpec *spec, const char *body,
									 size_t len, char **code, char **message);
extern char *sync_page_record_json(const SyncPage *page, int i);
extern bool sync_oauth_parse(const char *body, size_t len, char **access_token,
							 char **refresh_token, int64 *expires_in,
							 char **error);
extern bool sync_token_parse(const SyncSpec *spec, const char *body, size_t len,
							 char **token, int64 *expires_in, char **error);

/* reqbody.c: JSON request bodies with {cursor} and secrets filled in */
typedef char *(*SyncSecretFn) (const char *name, void *arg);
typedef struct SyncBodyMember
{
	const char *name;
	const char *value;			/* text of a string, or of a number */
	bool		number;
} SyncBodyMember;
extern char *sync_body_build(const char *source, const char *template_json,
							 const char *path, const char *cursor,
							 const SyncBodyMember *extra, int nextra,
							 SyncSecretFn secret, void *arg);
extern List *sync_body_secrets(const char *template_json);
extern bool sync_text_has_cursor(const char *text);
extern char *sync_text_fill_cursor(const char *text, const char *cursor);

#endif							/* CONCORD_SYNC_H */
