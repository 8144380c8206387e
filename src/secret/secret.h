/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  The secret component's door: named secrets encrypted with
 *	  AES-256-GCM under a key held in a file outside the database tables.
 *
 * Only C code resolves a secret's value, at the moment it is needed (an
 * HTTP header, a source's credentials); no SQL function returns it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SECRET_H
#define CONCORD_SECRET_H

#include "postgres.h"

/*
 * The plaintext of secret name, palloc'd in the current context, or NULL
 * with errcode and errmsg set (never containing the value) when it cannot be
 * had.  Does not throw for a missing or undecryptable secret.
 */
extern char *secret_resolve(const char *name, int *errcode, char **errmsg);

#endif							/* CONCORD_SECRET_H */
