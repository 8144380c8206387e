/*-------------------------------------------------------------------------
 *
 * parser.c
 *	  A helper thread that parses the next page while the backend loads
 *	  the current one.
 *
 * Parsing a page (jdoc.c's tokenizer, then the records' paths and maps) is pure
 * computation on the page's bytes and the read-only spec; it costs about
 * as much as loading the page.  A run hands each fetched page to this
 * thread and loads the page before it meanwhile, so the two overlap on a
 * second core.
 *
 * The thread touches nothing of PostgreSQL's: it allocates in its own
 * arena (arena.c), never calls elog or palloc, blocks every signal (they
 * are the backend's), and reports a failed parse as text.  The backend
 * waits for it in short slices, checking for interrupts; when a run ends
 * -- normally or by an error -- the memory-context callback of the run
 * stops and joins the thread and frees whatever it still holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <time.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "sync/sync.h"

typedef enum ParserState
{
	PARSER_IDLE,				/* no job */
	PARSER_JOB,					/* a job waits or runs */
	PARSER_DONE,				/* the job's result waits for the backend */
	PARSER_QUIT					/* the thread is to end */
} ParserState;

struct SyncParser
{
	pthread_t	thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ParserState state;
	bool		quit;
	const SyncSpec *spec;

	/* the job */
	const char *body;
	size_t		len;

	/* its result */
	bool		ok;
	SyncPage	page;
	SyncArena  *arena;
	char		error[256];
};

/* Parse one page into a new arena; runs in the thread. */
static void
parse_job(SyncParser *p)
{
	jmp_buf		oom;
	SyncArena  *volatile arena = sync_arena_create(&oom);
	char	   *why = NULL;

	p->arena = NULL;
	if (arena == NULL)
	{
		p->ok = false;
		strlcpy(p->error, "out of memory parsing the page", sizeof(p->error));
		return;
	}
	if (setjmp(oom) != 0)
	{
		sync_thread_arena = NULL;
		sync_arena_free(arena);
		p->ok = false;
		strlcpy(p->error, "out of memory parsing the page", sizeof(p->error));
		return;
	}
	sync_thread_arena = arena;
	p->ok = sync_page_parse(p->spec, p->body, p->len, &p->page, &why);
	sync_thread_arena = NULL;
	if (!p->ok)
		strlcpy(p->error, why ? why : "the page could not be parsed", sizeof(p->error));
	p->arena = arena;
}

/* The thread: wait for a job, do it, report; until told to quit. */
static void *
parser_main(void *arg)
{
	SyncParser *p = (SyncParser *) arg;

	pthread_mutex_lock(&p->mu);
	for (;;)
	{
		while (p->state != PARSER_JOB && !p->quit)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->quit)
			break;
		pthread_mutex_unlock(&p->mu);
		parse_job(p);
		pthread_mutex_lock(&p->mu);
		p->state = PARSER_DONE;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/*
 * Stop the thread (after the job it may be doing) and free what it holds.
 * A memory-context reset callback: runs on every path a run ends by.
 */
static void
parser_stop(void *arg)
{
	SyncParser *p = (SyncParser *) arg;

	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	if (p->state == PARSER_DONE)
		sync_arena_free(p->arena);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
}

/*
 * Start a parser thread for spec, living as long as the current memory
 * context.  Returns NULL (the caller then parses in the backend) if the
 * thread cannot be created.
 */
SyncParser *
sync_parser_start(const SyncSpec *spec)
{
	SyncParser *p = palloc0(sizeof(SyncParser));
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));
	sigset_t	all,
				old;
	int			rc;

	p->spec = spec;
	p->state = PARSER_IDLE;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		return NULL;
	if (pthread_cond_init(&p->cv, NULL) != 0)
	{
		pthread_mutex_destroy(&p->mu);
		return NULL;
	}
	/* the thread inherits a mask that blocks every signal */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&p->thread, NULL, parser_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		return NULL;
	}
	cb->func = parser_stop;
	cb->arg = p;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return p;
}

/*
 * Give the thread a page to parse.  body must stay valid until
 * sync_parser_wait() returns.  The thread must be idle.
 */
void
sync_parser_submit(SyncParser *p, const char *body, size_t len)
{
	pthread_mutex_lock(&p->mu);
	Assert(p->state == PARSER_IDLE);
	p->body = body;
	p->len = len;
	p->state = PARSER_JOB;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/*
 * Wait for the submitted page.  Returns true with the page and the arena
 * holding it (the caller frees it with sync_arena_free when done), or false
 * with the reason (in the current memory context; nothing to free).  Interrupts are
 * checked while waiting; an error thrown then leaves the job to the
 * thread, whose arena the context callback frees.
 */
bool
sync_parser_wait(SyncParser *p, SyncPage *page, SyncArena **arena, char **error)
{
	bool		ok;

	pthread_mutex_lock(&p->mu);
	while (p->state != PARSER_DONE)
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 10 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &until);
		if (p->state != PARSER_DONE && INTERRUPTS_PENDING_CONDITION())
		{
			pthread_mutex_unlock(&p->mu);
			CHECK_FOR_INTERRUPTS();
			pthread_mutex_lock(&p->mu);
		}
	}
	ok = p->ok;
	*page = p->page;
	*arena = ok ? p->arena : NULL;
	if (!ok)
	{
		*error = pstrdup(p->error);
		sync_arena_free(p->arena);
	}
	p->arena = NULL;
	p->state = PARSER_IDLE;
	pthread_mutex_unlock(&p->mu);
	return ok;
}
