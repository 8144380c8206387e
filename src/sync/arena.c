/*-------------------------------------------------------------------------
 *
 * arena.c
 *	  Memory for page parsing that may run outside the backend's thread.
 *
 * A run parses the next page in a helper thread (parser.c) while the
 * backend loads the current one.  palloc is not for other threads, so the
 * page code (jdoc.c, page.c, jpath.c) allocates through sync_alloc(): from the thread's arena when one is set
 * for the calling thread, from palloc otherwise.  An arena is a list of
 * malloc'd blocks freed all at once; running out of memory in it jumps
 * back to the parser thread's job, which then reports the page as failed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>

#include "utils/memutils.h"

#include "sync/sync.h"

#define ARENA_BLOCK (256 * 1024)

typedef struct ArenaBlock
{
	struct ArenaBlock *next;
	size_t		used;
	size_t		size;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} ArenaBlock;

struct SyncArena
{
	ArenaBlock *blocks;
	jmp_buf    *oom;			/* where to go when malloc fails */
};

__thread SyncArena *sync_thread_arena = NULL;

/* A new, empty arena (malloc'd; NULL if there is no memory). */
SyncArena *
sync_arena_create(jmp_buf *oom)
{
	SyncArena  *a = malloc(sizeof(SyncArena));

	if (a != NULL)
	{
		a->blocks = NULL;
		a->oom = oom;
	}
	return a;
}

/* Free an arena and everything allocated in it. */
void
sync_arena_free(SyncArena *a)
{
	ArenaBlock *b;

	if (a == NULL)
		return;
	b = a->blocks;
	while (b != NULL)
	{
		ArenaBlock *next = b->next;

		free(b);
		b = next;
	}
	free(a);
}

/* n bytes (maximally aligned) from arena a, or NULL. */
static void *
arena_alloc(SyncArena *a, size_t n)
{
	ArenaBlock *b = a->blocks;

	n = MAXALIGN(n);
	if (b == NULL || b->size - b->used < n)
	{
		size_t		size = Max((size_t) ARENA_BLOCK, n);

		b = malloc(offsetof(ArenaBlock, data) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->blocks;
		a->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

/*
 * Allocation that never throws, for jansson's hooks (specs and request
 * bodies, in the backend): NULL when there is no memory (jansson then
 * fails the parse).
 */
void *
sync_alloc_noerror(size_t n)
{
	if (sync_thread_arena != NULL)
		return arena_alloc(sync_thread_arena, n);
	return palloc_extended(n, MCXT_ALLOC_NO_OOM);
}

/* Free for jansson's hooks: arena memory goes with its arena. */
void
sync_free(void *p)
{
	if (p != NULL && sync_thread_arena == NULL)
		pfree(p);
}

/* n bytes in the thread's arena or with palloc; never NULL. */
void *
sync_alloc(size_t n)
{
	void	   *p;

	if (sync_thread_arena == NULL)
		return palloc(n);
	p = arena_alloc(sync_thread_arena, n);
	if (p == NULL)
		longjmp(*sync_thread_arena->oom, 1);
	return p;
}

void *
sync_alloc0(size_t n)
{
	void	   *p = sync_alloc(n);

	memset(p, 0, n);
	return p;
}

char *
sync_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(sync_alloc(n), s, n);
}

/* psprintf, in the thread's arena or with palloc. */
char *
sync_psprintf(const char *fmt,...)
{
	va_list		ap;
	char		small[256];
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	out = sync_alloc(n + 1);
	if (n < (int) sizeof(small))
		memcpy(out, small, n + 1);
	else
	{
		va_start(ap, fmt);
		vsnprintf(out, n + 1, fmt, ap);
		va_end(ap);
	}
	return out;
}
