/*-------------------------------------------------------------------------
 *
 * components.c
 *	  The one place that names every component: _PG_init calls
 *	  concord_register_components(), which calls each component's
 *	  registration, in the order of the install script (a component after
 *	  those it uses).
 *
 * Each registration hands core what core runs for that component (hooks,
 * worker duties, the worker's wait, functions the expression checker
 * allows) through the registration points of concord.h; nothing else of
 * core names a component.  test/arch/deps.sh holds this file to that: it
 * may include every component's header, and includes nothing else of
 * theirs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "concord.h"
#include "flow/flow.h"
#include "http/http.h"
#include "identity/identity.h"
#include "policy/policy.h"
#include "secret/secret.h"

/* Every component's registration (see the file's header). */
void
concord_register_components(void)
{
	secret_hooks_install();
	http_register();
	policy_register();
	flow_register();
	/* backends inherit the ICU transliterators and the syllable set */
	if (concord_preloaded)
		identity_script_preload();
}
