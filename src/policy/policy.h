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

#endif							/* CONCORD_POLICY_H */
