/*-------------------------------------------------------------------------
 *
 * spec.h
 *	  Reading a source spec (specvalue.c), shared by the files that parse
 *	  its sections: spec.c and specauth.c.  jansson side: never include
 *	  utils/builtins.h with this (see syncjson.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_SPEC_H
#define CONCORD_SYNC_SPEC_H

#include "sync/syncjson.h"

/* What every reader needs: the source's name, for messages. */
typedef struct SyncSpecCtx
{
	const char *source;
} SyncSpecCtx;

extern char *sync_spec_show(json_t *v);
extern const char *sync_spec_kind(json_t *v);
extern char *sync_spec_sub(const char *path, const char *key);
pg_noreturn extern void sync_spec_bad(SyncSpecCtx *cx, const char *path, const char *msg,
						  const char *hint);
extern void sync_spec_keys(SyncSpecCtx *cx, json_t *obj, const char *path,
						   const char *const *allowed);
extern json_t *sync_spec_object(SyncSpecCtx *cx, json_t *obj, const char *path,
								const char *key, bool required);
extern char *sync_spec_string(SyncSpecCtx *cx, json_t *obj, const char *path,
							  const char *key, bool required, const char *dflt);
extern int64 sync_spec_int(SyncSpecCtx *cx, json_t *obj, const char *path,
						   const char *key, int64 dflt, int64 min, int64 max);
extern bool sync_spec_bool(SyncSpecCtx *cx, json_t *obj, const char *path,
						   const char *key, bool dflt);
extern int	sync_spec_choice(SyncSpecCtx *cx, json_t *obj, const char *path,
							 const char *key, const char *const *choices,
							 int dflt);
extern bool sync_spec_secret_ref(SyncSpecCtx *cx, json_t *v, const char *path,
								 char **name);
extern SyncValue sync_spec_value(SyncSpecCtx *cx, json_t *obj, const char *path,
								 const char *key, bool required,
								 bool must_be_secret);
extern bool sync_spec_credential_header(const char *name);
extern bool sync_spec_credential_value(const char *value);
extern SyncPair *sync_spec_pairs(SyncSpecCtx *cx, json_t *obj, const char *path,
								 const char *key, int *n);
extern SyncPath *sync_spec_path(SyncSpecCtx *cx, json_t *obj, const char *path,
								const char *key, bool required, bool singular,
								char **text);
extern void sync_spec_name(SyncSpecCtx *cx, const char *path, const char *name);
extern char *sync_spec_url(SyncSpecCtx *cx, json_t *obj, const char *path,
						   const char *key, bool required);
extern char *sync_spec_json_template(SyncSpecCtx *cx, json_t *obj, const char *path,
									 const char *key);
extern char **sync_spec_scalars(SyncSpecCtx *cx, json_t *obj, const char *path,
								const char *key, int *n);

/* specauth.c */
extern void sync_spec_parse_auth(SyncSpecCtx *cx, SyncSpec *s, json_t *root);
extern void sync_spec_parse_errors(SyncSpecCtx *cx, SyncSpec *s, json_t *root);

#endif							/* CONCORD_SYNC_SPEC_H */
