/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  The secret component's door: named secrets encrypted with
 *	  AES-256-GCM under a key held in a file outside the database tables,
 *	  each usable only by the roles its owner granted it to.
 *
 * Only C code resolves a secret's value, at the moment it is needed (an
 * HTTP header, a source's credentials, an endpoint's signature); no SQL
 * function returns it.  A user's credential is resolved for a role --
 * the role whose request, source or endpoint names it -- and refused
 * unless concord.secret_usable() says that role may use it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SECRET_H
#define CONCORD_SECRET_H

#include "postgres.h"

/*
 * May role use secret name (it exists, and role is a superuser, has the
 * privileges of its owner, or of a role it was granted to)?  When not,
 * false with errcode (42704 missing, 42501 not granted), errmsg and errhint
 * set (palloc'd; never a value).  errhint may be NULL.  Does not throw for
 * a missing or refused secret.
 */
extern bool secret_check_use(const char *name, Oid role, int *errcode,
							 char **errmsg, char **errhint);

/*
 * The plaintext of secret name for role, palloc'd in the current context,
 * or NULL with errcode, errmsg and errhint set (as secret_check_use(), or
 * 58P01/XX001 when it cannot be decrypted).  Never throws for those.
 */
extern char *secret_resolve_for(const char *name, Oid role, int *errcode,
								char **errmsg, char **errhint);

/*
 * The plaintext of one of concord's own keys (mask_key), which no role
 * uses as a credential: no grant is checked.  Never call it with a name
 * that came from a user.  NULL with errcode and errmsg set on failure.
 */
extern char *secret_resolve_internal(const char *name, int *errcode,
									 char **errmsg);

/*
 * Mark the running statement as carrying a secret in its text (a value,
 * or a spec that may hold a pasted credential): no server log line it
 * causes shows the statement or its context.
 */
extern void secret_statement_mark(void);

/* Install the log hook that enforces secret_statement_mark() (_PG_init). */
extern void secret_hooks_install(void);

#endif							/* CONCORD_SECRET_H */
