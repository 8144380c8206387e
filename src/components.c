/*-------------------------------------------------------------------------
 *
 * components.c
 *	  The module's entry and the one place that names every component:
 *	  _PG_init sets up core (its settings, hooks and, under
 *	  shared_preload_libraries, the launcher -- never during binary
 *	  upgrade), then calls each component's registration, in the order of the install script (a
 *	  component after those it uses).  Core calls nothing here: the
 *	  wiring stands above core and every component.
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

#include "miscadmin.h"

#include "concord.h"
#include "flow/flow.h"
#include "http/http.h"
#include "identity/identity.h"
#include "policy/policy.h"
#include "secret/secret.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: core, then every component's registration (see the header). */
void
_PG_init(void)
{
	/* core: settings, hooks, and the launcher when preloaded */
	concord_core_init();
	concord_drop_hooks_install();
	concord_api_hooks_install();
	if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade)
	{
		concord_preloaded = true;
		concord_worker_hooks_install();
		concord_register_launcher();
	}
	/* the components */
	secret_hooks_install();
	http_register();
	policy_register();
	flow_register();
	/* backends inherit the ICU transliterators and the syllable set */
	if (concord_preloaded)
		identity_script_preload();
}
