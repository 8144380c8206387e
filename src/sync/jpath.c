/*-------------------------------------------------------------------------
 *
 * jpath.c
 *	  The JSON paths of source specs: where the records are in a page, where
 *	  a column's value is in a record, where the next cursor or URL is.
 *
 * The grammar is the common subset of JSONPath that API descriptions use:
 *
 *	  $  .name  ['name']  ["name"]  [N]  [-N]  [*]  .*
 *
 * A singular path (a column, a cursor) may not contain a wildcard; the
 * records path may, and its matches are flattened in document order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "sync/jdoc.h"

typedef enum StepKind
{
	STEP_KEY,
	STEP_INDEX,
	STEP_WILD
} StepKind;

typedef struct PathStep
{
	StepKind	kind;
	char	   *key;
	size_t		keylen;
	int64		index;
} PathStep;

struct SyncPath
{
	int			nsteps;
	PathStep   *steps;
};

/* Can c appear in a .name step? */
static bool
name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '$' || c >= 0x80;
}

/*
 * Compile path text.  Returns NULL with *error set (a sentence fragment
 * naming what was expected where) when the text is not a path of the
 * grammar, or when singular is asked and the path has a wildcard.
 */
SyncPath *
sync_path_compile(const char *text, bool singular, char **error)
{
	SyncPath   *p = palloc0(sizeof(SyncPath));
	const char *c = text;
	int			cap = 4;

	p->steps = palloc(sizeof(PathStep) * cap);
	if (*c != '$')
	{
		*error = psprintf("a JSON path starts with \"$\", as in \"$.%s\"", text);
		return NULL;
	}
	c++;
	while (*c)
	{
		PathStep	st;

		memset(&st, 0, sizeof(st));
		if (*c == '.')
		{
			const char *s = ++c;

			if (*c == '*')
			{
				st.kind = STEP_WILD;
				c++;
			}
			else
			{
				while (*c && name_char((unsigned char) *c))
					c++;
				if (c == s)
				{
					*error = psprintf("expected a member name after \".\" at offset %d", (int) (s - text));
					return NULL;
				}
				st.kind = STEP_KEY;
				st.key = pnstrdup(s, c - s);
				st.keylen = c - s;
			}
		}
		else if (*c == '[')
		{
			c++;
			if (*c == '*' && c[1] == ']')
			{
				st.kind = STEP_WILD;
				c += 2;
			}
			else if (*c == '\'' || *c == '"')
			{
				char		q = *c++;
				StringInfoData k;

				initStringInfo(&k);
				while (*c && *c != q)
				{
					if (*c == '\\' && c[1])
						c++;
					appendStringInfoChar(&k, *c++);
				}
				if (*c != q || c[1] != ']')
				{
					*error = psprintf("unterminated quoted name at offset %d", (int) (c - text));
					return NULL;
				}
				c += 2;
				st.kind = STEP_KEY;
				st.key = k.data;
				st.keylen = k.len;
			}
			else if (*c == '-' || isdigit((unsigned char) *c))
			{
				char	   *end;

				errno = 0;
				st.index = strtoll(c, &end, 10);
				if (end == c || *end != ']' || errno != 0 || (*c == '-' && end == c + 1))
				{
					*error = psprintf("expected an array index, '*' or a quoted name in [] at offset %d", (int) (c - text));
					return NULL;
				}
				st.kind = STEP_INDEX;
				c = end + 1;
			}
			else
			{
				*error = psprintf("expected an array index, '*' or a quoted name in [] at offset %d", (int) (c - text));
				return NULL;
			}
		}
		else
		{
			*error = psprintf("unexpected \"%c\" at offset %d", *c, (int) (c - text));
			return NULL;
		}
		if (st.kind == STEP_WILD && singular)
		{
			*error = pstrdup("a wildcard is not allowed here: the path must name one value");
			return NULL;
		}
		if (p->nsteps == cap)
		{
			cap *= 2;
			p->steps = repalloc(p->steps, sizeof(PathStep) * cap);
		}
		p->steps[p->nsteps++] = st;
	}
	return p;
}

/* One step from node v, for non-wildcard steps. */
static uint32
step_one(const PathStep *st, const JDoc *doc, uint32 v)
{
	if (v == JD_NONE)
		return JD_NONE;
	if (st->kind == STEP_KEY)
		return jd_member(doc, v, st->key, st->keylen);
	return jd_element(doc, v, st->index);
}

/*
 * The node a singular path names below root, or JD_NONE when it is
 * missing.
 */
uint32
sync_path_node(const SyncPath *path, const JDoc *doc, uint32 root)
{
	uint32		v = root;

	for (int i = 0; i < path->nsteps && v != JD_NONE; i++)
		v = step_one(&path->steps[i], doc, v);
	return v;
}

typedef struct Matches
{
	uint32	   *items;
	int			n;
	int			cap;
} Matches;

/* Add node v to m. */
static void
add_match(Matches *m, uint32 v)
{
	if (m->n == m->cap)
	{
		/* sync_alloc: this may run in the parser thread */
		uint32	   *grown = sync_alloc(sizeof(uint32) * (m->cap ? m->cap * 2 : 64));

		if (m->n > 0)
			memcpy(grown, m->items, sizeof(uint32) * m->n);
		m->items = grown;
		m->cap = m->cap ? m->cap * 2 : 64;
	}
	m->items[m->n++] = v;
}

/* Collect the matches of steps[from..] below v into m. */
static void
select_from(const SyncPath *path, int from, const JDoc *doc, uint32 v, Matches *m)
{
	for (int i = from; i < path->nsteps && v != JD_NONE; i++)
	{
		const PathStep *st = &path->steps[i];

		if (st->kind == STEP_WILD)
		{
			const JdNode *n = &doc->nodes[v];

			if (n->type == JD_ARRAY || n->type == JD_OBJECT)
				for (uint32 c = v + 1; c < n->next; c = doc->nodes[c].next)
					select_from(path, i + 1, doc, c, m);
			return;
		}
		v = step_one(st, doc, v);
	}
	if (v != JD_NONE)
		add_match(m, v);
}

/*
 * The nodes a path selects below root: every wildcard match in document
 * order; a path without a wildcard that names an array selects its
 * elements, one that names anything else selects that one value; JSON
 * null or nothing selects none.
 */
uint32 *
sync_path_nodes(const SyncPath *path, const JDoc *doc, uint32 root, int *n)
{
	Matches		m = {NULL, 0, 0};
	bool		wild = false;

	for (int i = 0; i < path->nsteps; i++)
		if (path->steps[i].kind == STEP_WILD)
			wild = true;
	if (!wild)
	{
		uint32		v = sync_path_node(path, doc, root);

		if (v != JD_NONE && doc->nodes[v].type == JD_ARRAY)
		{
			for (uint32 c = v + 1; c < doc->nodes[v].next; c = doc->nodes[c].next)
				add_match(&m, c);
		}
		else if (v != JD_NONE && doc->nodes[v].type != JD_NULL)
			add_match(&m, v);
	}
	else
		select_from(path, 0, doc, root, &m);
	*n = m.n;
	return m.items;
}

/* The member name of a path's first step, or NULL if it is not a name. */
const char *
sync_path_first_key(const SyncPath *path)
{
	if (path->nsteps == 0 || path->steps[0].kind != STEP_KEY)
		return NULL;
	return path->steps[0].key;
}

/* Does the path have a wildcard (so that it may select several values)? */
bool
sync_path_has_wildcard(const SyncPath *path)
{
	for (int i = 0; i < path->nsteps; i++)
		if (path->steps[i].kind == STEP_WILD)
			return true;
	return false;
}

/*
 * The member names of a path made only of name steps, in order, and how
 * many there are; 0 when the path has an index or a wildcard step (or no
 * step).  For removing a mapped field from a record's unmapped rest.
 */
int
sync_path_keys(const SyncPath *path, const char ***keys)
{
	const char **out;

	for (int i = 0; i < path->nsteps; i++)
		if (path->steps[i].kind != STEP_KEY)
			return 0;
	if (path->nsteps == 0)
		return 0;
	out = palloc(sizeof(char *) * path->nsteps);
	for (int i = 0; i < path->nsteps; i++)
		out[i] = path->steps[i].key;
	*keys = out;
	return path->nsteps;
}
