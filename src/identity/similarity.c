/*-------------------------------------------------------------------------
 *
 * similarity.c
 *	  String similarity for matching: edit distances, Jaro-Winkler, token
 *	  sets, and a cross-script name comparison through pinyin.
 *
 * All work on characters (code points), not bytes, so 张三 and 张山 are one
 * substitution apart.  All are IMMUTABLE, STRICT and PARALLEL SAFE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "compat.h"
#include "identity/identity.h"

PG_FUNCTION_INFO_V1(concord_levenshtein);
PG_FUNCTION_INFO_V1(concord_damerau_levenshtein);
PG_FUNCTION_INFO_V1(concord_jaro_winkler);
PG_FUNCTION_INFO_V1(concord_token_set_similarity);
PG_FUNCTION_INFO_V1(concord_name_similarity);

/* Longest input, in characters, for the quadratic distances. */
#define MAX_CHARS 4000

/*
 * Longest input of token_set_similarity, in bytes: its time grows as
 * n log n in the number of words, and a megabyte of words is compared in
 * well under a second.
 */
#define MAX_TOKEN_BYTES (1024 * 1024)

/* text argument as code points; *n is their number. */
static pg_wchar *
arg_chars(FunctionCallInfo fcinfo, int argno, int *n)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	int			len = VARSIZE_ANY_EXHDR(t);
	pg_wchar   *w;

	/* counted before anything is allocated for them */
	*n = pg_mbstrlen_with_len(VARDATA_ANY(t), len);
	if (*n > MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument %d has %d characters, more than the limit of %d",
						argno + 1, *n, MAX_CHARS)));
	w = palloc(sizeof(pg_wchar) * (len + 1));
	*n = pg_mb2wchar_with_len(VARDATA_ANY(t), w, len);
	return w;
}

static pg_wchar *
chars_of(const char *s, int *n)
{
	int			len = strlen(s);
	pg_wchar   *w = palloc(sizeof(pg_wchar) * (len + 1));

	*n = pg_mb2wchar_with_len(s, w, len);
	return w;
}

/* Edit distance; with transpositions (optimal string alignment) if asked. */
static int
edit_distance(const pg_wchar *a, int na, const pg_wchar *b, int nb, bool transpose)
{
	int		   *prev2 = palloc(sizeof(int) * (nb + 1));
	int		   *prev = palloc(sizeof(int) * (nb + 1));
	int		   *cur = palloc(sizeof(int) * (nb + 1));

	for (int j = 0; j <= nb; j++)
		prev[j] = j;
	for (int i = 1; i <= na; i++)
	{
		int		   *t;

		CHECK_FOR_INTERRUPTS();
		cur[0] = i;
		for (int j = 1; j <= nb; j++)
		{
			int			cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int			v = Min(prev[j] + 1, cur[j - 1] + 1);

			v = Min(v, prev[j - 1] + cost);
			if (transpose && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = Min(v, prev2[j - 2] + 1);
			cur[j] = v;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	/* freed here: the matcher calls this for pairs by the million */
	{
		int			d = prev[nb];

		pfree(prev2);
		pfree(prev);
		pfree(cur);
		return d;
	}
}

/* Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4). */
double
identity_jaro_winkler(const pg_wchar *a, int na, const pg_wchar *b, int nb)
{
	int			window;
	bool	   *ma,
			   *mb;
	int			m = 0,
				t = 0,
				k = 0,
				prefix = 0;
	double		jaro;

	if (na == 0 && nb == 0)
		return 1.0;
	if (na == 0 || nb == 0)
		return 0.0;
	window = Max(Max(na, nb) / 2 - 1, 0);
	ma = palloc0(sizeof(bool) * na);
	mb = palloc0(sizeof(bool) * nb);
	for (int i = 0; i < na; i++)
	{
		int			lo = Max(0, i - window),
					hi = Min(nb - 1, i + window);

		for (int j = lo; j <= hi; j++)
			if (!mb[j] && a[i] == b[j])
			{
				ma[i] = mb[j] = true;
				m++;
				break;
			}
	}
	if (m == 0)
	{
		pfree(ma);
		pfree(mb);
		return 0.0;
	}
	for (int i = 0; i < na; i++)
	{
		if (!ma[i])
			continue;
		while (!mb[k])
			k++;
		if (a[i] != b[k])
			t++;
		k++;
	}
	pfree(ma);
	pfree(mb);
	jaro = ((double) m / na + (double) m / nb + (double) (m - t / 2) / m) / 3.0;
	while (prefix < 4 && prefix < na && prefix < nb && a[prefix] == b[prefix])
		prefix++;
	return jaro + prefix * 0.1 * (1.0 - jaro);
}

Datum
concord_levenshtein(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	pg_wchar   *a = arg_chars(fcinfo, 0, &na);
	pg_wchar   *b = arg_chars(fcinfo, 1, &nb);

	PG_RETURN_INT32(edit_distance(a, na, b, nb, false));
}

Datum
concord_damerau_levenshtein(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	pg_wchar   *a = arg_chars(fcinfo, 0, &na);
	pg_wchar   *b = arg_chars(fcinfo, 1, &nb);

	PG_RETURN_INT32(edit_distance(a, na, b, nb, true));
}

Datum
concord_jaro_winkler(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	pg_wchar   *a = arg_chars(fcinfo, 0, &na);
	pg_wchar   *b = arg_chars(fcinfo, 1, &nb);

	PG_RETURN_FLOAT8(identity_jaro_winkler(a, na, b, nb));
}

/*
 * How many strings two lists sorted in strcmp order have in common (a
 * string twice in both counts twice): one walk through both, checking for
 * interrupts on long lists.
 */
int
identity_sorted_common(char *const *a, int na, char *const *b, int nb)
{
	int			common = 0;

	for (int i = 0, j = 0, steps = 0; i < na && j < nb; steps++)
	{
		int			c = strcmp(a[i], b[j]);

		if ((steps & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (c == 0)
		{
			common++;
			i++;
			j++;
		}
		else if (c < 0)
			i++;
		else
			j++;
	}
	return common;
}

static int
cmp_token(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The distinct white-space separated tokens of argument argno, sorted;
 * their number.  An argument over MAX_TOKEN_BYTES is refused.
 */
static int
arg_tokens(FunctionCallInfo fcinfo, int argno, char ***out)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *s;
	char	  **tok;
	int			n = 0,
				d = 0;
	char	   *save = NULL;

	if (len > MAX_TOKEN_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument %d of token_set_similarity has %d bytes, more than the limit of %d",
						argno + 1, len, MAX_TOKEN_BYTES),
				 errhint("Compare words of names, companies or addresses, not whole documents.")));
	s = text_to_cstring(t);
	tok = palloc(sizeof(char *) * (len / 2 + 2));
	for (char *w = strtok_r(s, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
	{
		if ((n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		tok[n++] = w;
	}
	qsort(tok, n, sizeof(char *), cmp_token);
	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < n; i++)
		if (d == 0 || strcmp(tok[i], tok[d - 1]) != 0)
			tok[d++] = tok[i];
	*out = tok;
	return d;
}

/*
 * concord.token_set_similarity(a, b): |common tokens| / |all tokens| of
 * the two texts' distinct white-space separated tokens (Jaccard); word
 * order does not matter.  1 for two texts without tokens.  Each text may
 * have up to 1 MB (MAX_TOKEN_BYTES); the time is n log n in its words.
 */
Datum
concord_token_set_similarity(PG_FUNCTION_ARGS)
{
	char	  **ta,
			  **tb;
	int			na = arg_tokens(fcinfo, 0, &ta);
	int			nb = arg_tokens(fcinfo, 1, &tb);
	int			common = 0;

	if (na == 0 && nb == 0)
		PG_RETURN_FLOAT8(1.0);
	common = identity_sorted_common(ta, na, tb, nb);
	PG_RETURN_FLOAT8((double) common / (na + nb - common));
}

/*
 * concord.name_similarity(a, b): Jaro-Winkler of the two names' pinyin
 * keys (concord.name_key), so the comparison crosses scripts, character
 * sets and word order: 张三 ~ 張三 ~ "Zhang San" ~ "San Zhang" is 1.
 */
Datum
concord_name_similarity(PG_FUNCTION_ARGS)
{
	char	   *ka = identity_name_key(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	char	   *kb = identity_name_key(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	int			na,
				nb;
	pg_wchar   *a = chars_of(ka, &na);
	pg_wchar   *b = chars_of(kb, &nb);

	if (na == 0 || nb == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(identity_jaro_winkler(a, na, b, nb));
}
