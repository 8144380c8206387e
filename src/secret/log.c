/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Keeping secrets' plaintexts out of the server log.
 *
 * PostgreSQL appends the statement (STATEMENT:) and the context (CONTEXT:,
 * which quotes SQL run from PL/pgSQL) to the log lines it writes for a
 * statement, whatever raised them: concord's own LOG and errors, an SPI
 * error, a unique violation.  When the statement is a secret_set(name,
 * value) call, or a source spec that may hold a pasted credential, those
 * lines would carry the plaintext.
 *
 * So, from an emit_log_hook installed at load time, a log line hides its
 * statement and context when its statement
 *   - was marked by secret_statement_mark() (secret_set, secret_set_file,
 *     source_create, source_alter mark theirs before doing anything), or
 *   - names secret_set in its text: this covers the errors raised before
 *     concord's code runs, such as a call with a wrong argument list.
 * The message itself, its detail and hint are kept: concord never puts a
 * secret there.  The client still gets everything.
 *
 * What this cannot hide: log_statement = 'all' (or 'mod') and
 * log_min_duration_statement write the statement text before (or without)
 * any of this; secret_set_file() keeps the value out of the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "secret/secret.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

/* The statement (by its start time) marked as carrying a secret. */
static bool marked = false;
static TimestampTz marked_statement = 0;

/*
 * Mark the running statement (every statement of one simple-query message
 * shares its start time, and its text) as carrying a secret.
 */
void
secret_statement_mark(void)
{
	marked = true;
	marked_statement = GetCurrentStatementStartTimestamp();
}

/* Does text call secret_set (or secret_set_file), in any letter case? */
static bool
names_secret_set(const char *text)
{
	static const char word[] = "secret_set";

	for (const char *p = text; *p; p++)
		if (pg_strncasecmp(p, word, sizeof(word) - 1) == 0)
			return true;
	return false;
}

/*
 * The hook: a log line of a statement that carries a secret shows neither
 * the statement nor its context.
 */
static void
secret_emit_log(ErrorData *edata)
{
	if (edata->output_to_server &&
		((marked && marked_statement == GetCurrentStatementStartTimestamp()) ||
		 (debug_query_string != NULL && names_secret_set(debug_query_string))))
	{
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		/* the text of an SPI query that failed to parse */
		edata->internalquery = NULL;
		edata->internalpos = 0;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Install the hook (from _PG_init, once per process).
 */
void
secret_hooks_install(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = secret_emit_log;
}
