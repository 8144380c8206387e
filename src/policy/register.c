/*-------------------------------------------------------------------------
 *
 * register.c
 *	  policy's registration with core: the EXPLAIN ANALYZE guard's hooks,
 *	  the functions the expression checker lets predicates and masks call,
 *	  and the worker's tidying of expired access grants.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "concord.h"
#include "policy/policy.h"

/* Every naptime: grants past their end are marked expired, their policies dropped. */
static void
access_housekeeping(void)
{
	(void) concord_worker_sql("concord: tidying expired access grants", "SELECT concord.access_tidy()", NULL);
}

static const ConcordWorkerDuty access_duty = {
	.name = "expired access grants",
	.housekeeping = access_housekeeping,
};

/* policy's registration (see the file's header). */
void
policy_register(void)
{
	policy_hooks_install();
	/* row policies may read the caller's memberships, masks a keyed hash */
	concord_expr_allow_function("member", CONCORD_EXPR_MEMBER);
	concord_expr_allow_function("member_in", CONCORD_EXPR_MEMBER);
	concord_expr_allow_function("mask_hash", CONCORD_EXPR_MASK_STABLE);
	concord_worker_duty_register(&access_duty);
}
