/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  What the policy component offers the rest of concord.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_POLICY_H
#define CONCORD_POLICY_H

/*
 * policy's registration with core (register.c, called from _PG_init): the
 * EXPLAIN ANALYZE guard's hooks, member()/member_in()/mask_hash with the
 * expression checker, the worker's tidying of expired grants.
 */
extern void policy_register(void);

/* install the EXPLAIN ANALYZE guard's hooks (explain_guard.c) */
extern void policy_hooks_install(void);

/*
 * Citus: the node-local placement of the mirror of concord.<name> (member,
 * department), or NULL (citus.c).  The caller is connected to SPI.
 */
extern char *policy_citus_mirror(const char *name);

/*
 * Whether the running statement is concord's own (an API function that
 * runs as concord's owner, or DROP EXTENSION concord): the governance
 * guard leaves it alone, and the audit of governance tables leaves its
 * changes to the API's own entries (guard.c).
 */
extern bool policy_guard_internal(void);

#endif							/* CONCORD_POLICY_H */
