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

#include "sync/syncjson.h"

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
static json_t *
step_one(const PathStep *st, json_t *v)
{
	if (v == NULL)
		return NULL;
	if (st->kind == STEP_KEY)
		return json_is_object(v) ? json_object_get(v, st->key) : NULL;
	if (!json_is_array(v))
		return NULL;
	if (st->index < 0)
	{
		int64		n = (int64) json_array_size(v);

		return st->index + n >= 0 ? json_array_get(v, st->index + n) : NULL;
	}
	return json_array_get(v, (size_t) st->index);
}

/*
 * The value a singular path names in root, or NULL when it is missing.
 */
json_t *
sync_path_get(const SyncPath *path, json_t *root)
{
	json_t	   *v = root;

	for (int i = 0; i < path->nsteps && v != NULL; i++)
		v = step_one(&path->steps[i], v);
	return v;
}

typedef struct Matches
{
	json_t	  **items;
	int			n;
	int			cap;
} Matches;

/* Collect the matches of steps[from..] below v into m. */
static void
select_from(const SyncPath *path, int from, json_t *v, Matches *m)
{
	for (int i = from; i < path->nsteps && v != NULL; i++)
	{
		const PathStep *st = &path->steps[i];

		if (st->kind == STEP_WILD)
		{
			if (json_is_array(v))
			{
				size_t		k;
				json_t	   *e;

				json_array_foreach(v, k, e)
					select_from(path, i + 1, e, m);
			}
			else if (json_is_object(v))
			{
				const char *key;
				json_t	   *e;

				json_object_foreach(v, key, e)
					select_from(path, i + 1, e, m);
			}
			return;
		}
		v = step_one(st, v);
	}
	if (v == NULL)
		return;
	if (m->n == m->cap)
	{
		/* sync_alloc: this may run in the parser thread */
		json_t	  **grown = sync_alloc(sizeof(json_t *) * (m->cap ? m->cap * 2 : 64));

		if (m->n > 0)
			memcpy(grown, m->items, sizeof(json_t *) * m->n);
		m->items = grown;
		m->cap = m->cap ? m->cap * 2 : 64;
	}
	m->items[m->n++] = v;
}

/*
 * The records a path selects in root: every wildcard match in document
 * order; a path without a wildcard that names an array selects its
 * elements, one that names anything else selects that one value; JSON
 * null or nothing selects no records.
 */
json_t **
sync_path_select(const SyncPath *path, json_t *root, int *n)
{
	Matches		m = {NULL, 0, 0};
	bool		wild = false;

	for (int i = 0; i < path->nsteps; i++)
		if (path->steps[i].kind == STEP_WILD)
			wild = true;
	if (!wild)
	{
		json_t	   *v = sync_path_get(path, root);

		if (v != NULL && json_is_array(v))
		{
			size_t		k;
			json_t	   *e;

			json_array_foreach(v, k, e)
				select_from(path, path->nsteps, e, &m);
		}
		else if (v != NULL && !json_is_null(v))
			select_from(path, path->nsteps, v, &m);
	}
	else
		select_from(path, 0, root, &m);
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
