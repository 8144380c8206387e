/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  The superuser's ceilings over the per-call HTTP limits.
 *
 * Time limits, the response size, redirects and connection caps can be
 * set per call (arguments of concord.http*, a source's request.timeout_ms)
 * or per session (concord.http_timeout_ms, ...).  Neither may go above the
 * ceilings a superuser sets (concord.http_timeout_ms_limit, ..., all
 * PGC_SUSET): a value over its ceiling is refused, naming the parameter,
 * the value and the ceiling.  The background worker, which no caller
 * waits for, caps its values at the ceilings instead.
 *
 * Whatever the ceilings say, a response body must fit in one bytea: 1 GB
 * less its header (HTTP_BODY_MAX).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "concord.h"
#include "http/http.h"

/* One per-call limit: its argument, the setting it falls back to, its ceiling. */
typedef struct LimitSpec
{
	size_t		field;			/* offset in HttpLimits */
	const char *arg;
	const char *setting;
	const char *ceiling_name;
	int		   *setting_value;
	int		   *ceiling;
} LimitSpec;

static const LimitSpec limit_specs[] = {
	{offsetof(HttpLimits, timeout_ms), "timeout_ms", "concord.http_timeout_ms",
	"concord.http_timeout_ms_limit", &concord_http_timeout_ms, &concord_http_timeout_ms_limit},
	{offsetof(HttpLimits, connect_timeout_ms), "connect_timeout_ms", "concord.http_connect_timeout_ms",
		"concord.http_connect_timeout_ms_limit", &concord_http_connect_timeout_ms,
	&concord_http_connect_timeout_ms_limit},
	{offsetof(HttpLimits, max_response_bytes), "max_response_bytes", "concord.http_max_response_bytes",
		"concord.http_max_response_bytes_limit", &concord_http_max_response_bytes,
	&concord_http_max_response_bytes_limit},
	{offsetof(HttpLimits, max_redirects), "max_redirects", "concord.http_max_redirects",
	"concord.http_max_redirects_limit", &concord_http_max_redirects, &concord_http_max_redirects_limit},
};

#define LIMIT_FIELD(limits, spec) (*(int *) ((char *) (limits) + (spec)->field))

/* Refuse value (a call's argument or a session's setting) over ceiling. */
static void
check_one(const char *name, int value, int ceiling, const char *ceiling_name)
{
	if (value <= ceiling)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s %d exceeds the ceiling of %d set by %s", name, value, ceiling, ceiling_name),
			 errhint("Use at most %d, or ask a superuser to raise %s.", ceiling, ceiling_name)));
}

/*
 * Check a request's limits against the ceilings: each one given (>= 0) as
 * the argument prefix-name ("timeout_ms", or "source \"crm\":
 * request.timeout_ms" with prefix "source \"crm\": request."), each one
 * left to the setting as that setting.
 */
void
http_limits_check(const HttpLimits *limits, const char *prefix)
{
	for (int i = 0; i < lengthof(limit_specs); i++)
	{
		const LimitSpec *ls = &limit_specs[i];
		int			v = LIMIT_FIELD(limits, ls);

		if (v >= 0)
			check_one(psprintf("%s%s", prefix ? prefix : "", ls->arg), v, *ls->ceiling, ls->ceiling_name);
		else
			check_one(psprintf("setting %s", ls->setting), *ls->setting_value, *ls->ceiling,
					  ls->ceiling_name);
	}
}

/* Check one per-call time limit (named name in messages) against its ceiling. */
void
http_timeout_check(int timeout_ms, const char *name)
{
	check_one(name, timeout_ms, concord_http_timeout_ms_limit, "concord.http_timeout_ms_limit");
}

/*
 * Check a batch's connection caps against the ceilings; from_call says
 * whether each was an argument (else it is the session's setting).
 */
void
http_caps_check(int max_connections, bool connections_from_call,
				int max_host_connections, bool host_from_call)
{
	check_one(connections_from_call ? "max_connections" : "setting concord.http_max_connections",
			  max_connections, concord_http_max_connections_limit,
			  "concord.http_max_connections_limit");
	check_one(host_from_call ? "max_host_connections" : "setting concord.http_max_host_connections",
			  max_host_connections, concord_http_max_host_connections_limit,
			  "concord.http_max_host_connections_limit");
}

/*
 * For the background worker: the limits it will use, each one resolved
 * (given, else the setting) and capped at its ceiling.
 */
void
http_limits_clamp(HttpLimits *limits)
{
	for (int i = 0; i < lengthof(limit_specs); i++)
	{
		const LimitSpec *ls = &limit_specs[i];
		int		   *v = &LIMIT_FIELD(limits, ls);

		if (*v < 0)
			*v = *ls->setting_value;
		*v = Min(*v, *ls->ceiling);
	}
}

/* For the background worker: a connection cap (global or per host), capped. */
int
http_cap_clamp(int cap, bool per_host)
{
	return Min(cap, per_host ? concord_http_max_host_connections_limit :
			   concord_http_max_connections_limit);
}
