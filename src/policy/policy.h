/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  What the policy component offers the rest of concord.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_POLICY_H
#define CONCORD_POLICY_H

/* concord.explain_analyze_guard (defined with the other settings) */
extern bool concord_explain_analyze_guard;

/* install the EXPLAIN ANALYZE guard's hooks (explain_guard.c) */
extern void policy_hooks_install(void);

/* true while DROP EXTENSION concord runs (explain_guard.c sets it) */
extern bool policy_dropping_extension;

/*
 * Whether the running statement is concord's own (an API function that
 * runs as concord's owner, or DROP EXTENSION concord): the governance
 * guard leaves it alone, and the audit of governance tables leaves its
 * changes to the API's own entries (guard.c).
 */
extern bool policy_guard_internal(void);

#endif							/* CONCORD_POLICY_H */
