/*-------------------------------------------------------------------------
 *
 * sync.h
 *	  The sync component: declarative sources (an HTTP/JSON API described
 *	  as data) kept in step with a table, page by page.
 *
 * A source's spec (jsonb) is parsed with jansson into a SyncSpec (spec.c);
 * pages are fetched with retries through the http component (fetch.c),
 * parsed with jansson into plain C strings (page.c), converted to the
 * target's column types and upserted in batches (load.c); run.c drives a
 * run and commits data together with the source's state.
 *
 * jansson is confined to spec.c, jpath.c and page.c, which never include
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
	SYNC_AUTH_OAUTH2
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
} SyncColumn;

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
} SyncSpec;

/* One parsed page: records as text, ready for conversion (page.c). */
typedef struct SyncPage
{
	int			nrecords;
	int			ncolumns;
	char	  **values;			/* nrecords * ncolumns; NULL = SQL null */
	bool	   *present;		/* path found and not null */
	char	  **unmapped;		/* per record JSON text, or NULL */
	char	  **problem;		/* per record: why it cannot be loaded, or NULL */
	void	  **raw;			/* per record jansson node (page.c only) */
	char	   *next_cursor;
	char	   *next_url;
	bool		has_total;
	int64		total;
} SyncPage;

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

/* page.c */
extern bool sync_page_parse(const SyncSpec *spec, const char *body,
							size_t len, SyncPage *page, char **error);
extern char *sync_page_record_json(const SyncPage *page, int i);
extern bool sync_oauth_parse(const char *body, size_t len, char **access_token,
							 char **refresh_token, int64 *expires_in,
							 char **error);

#endif							/* CONCORD_SYNC_H */
