/*-------------------------------------------------------------------------
 *
 * run.h
 *	  Shared by the run driver (run.c) and the source functions (source.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_SYNC_RUN_H
#define CONCORD_SYNC_RUN_H

#include "postgres.h"

#include "storage/lock.h"

extern char *sync_source_spec(const char *source, char **owner);
extern void sync_source_locktag(LOCKTAG *tag, const char *source);

#endif							/* CONCORD_SYNC_RUN_H */
