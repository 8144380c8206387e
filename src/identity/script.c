/*-------------------------------------------------------------------------
 *
 * script.c
 *	  Script handling with ICU transliterators: full-width to half-width,
 *	  traditional to simplified Chinese, Chinese to pinyin.
 *
 * Opening a transliterator compiles its rules and costs milliseconds, so
 * each one is opened once per backend, on first use, and kept.  Running
 * one still costs microseconds, and a resolve transliterates every name
 * and company several times over, most of them repeated (王伟, 某某科技):
 * results for texts of up to 1 kB are cached per backend (up to CACHE_MAX
 * entries, then the cache starts afresh), and text a transliteration
 * cannot change -- plain ASCII, or no full-width form for the full-width
 * one -- skips ICU.  Text goes server encoding -> UTF-8 -> UTF-16 ->
 * transliterate -> UTF-8 -> server encoding (the first and last steps are
 * no-ops in a UTF-8 database); ICU gets a long text in pieces, so its time
 * stays linear and a cancel or statement timeout stops it.
 *
 * The set of toneless pinyin syllables, which name splitting needs to
 * tell "zhangsan" from "john", is not a table of ours either: it is what
 * the pinyin transliterator gives the CJK Unified Ideographs, collected
 * once per backend, on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "concord.h"
#include "identity/identity.h"

/* ICU transliterator IDs, by IdentityScript */
static const char *const script_ids[IDENTITY_NSCRIPTS] = {
	"Fullwidth-Halfwidth",
	"Hant-Hans",
	"Han-Latin; Latin-ASCII; Lower"
};

static UTransliterator *cache[IDENTITY_NSCRIPTS];

static char *transliterate_icu(const char *text, int len, IdentityScript script);

/* The transliterator for script, opened on first use. */
static UTransliterator *
transliterator(IdentityScript script)
{
	if (cache[script] == NULL)
	{
		UChar		id[64];
		UErrorCode	status = U_ZERO_ERROR;
		UParseError perr;

		u_uastrcpy(id, script_ids[script]);
		cache[script] = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, &perr, &status);
		if (U_FAILURE(status))
		{
			cache[script] = NULL;
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not open ICU transliterator \"%s\": %s",
							script_ids[script], u_errorName(status))));
		}
	}
	return cache[script];
}

#define CACHE_MAX 200000
/* Longest text kept in the cache, in bytes (names, companies, addresses) */
#define CACHE_MAX_TEXT 1024

/*
 * Longest text (in UTF-16 units) ICU transliterates whole, and the size of
 * the pieces a longer one goes in
 */
#define ICU_WHOLE 8192
#define ICU_PIECE 1024

typedef struct CacheEntry
{
	char	   *key;			/* script byte, then the text (must be first) */
	char	   *value;
} CacheEntry;

static HTAB *cache_tab = NULL;
static MemoryContext cache_cxt = NULL;

/* The (empty) cache, made or started afresh. */
static void
cache_reset(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "concord transliteration cache",
										  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hash = concord_strptr_hash;
	ctl.match = concord_strptr_match;
	ctl.hcxt = cache_cxt;
	cache_tab = hash_create("concord transliteration cache", 1024, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* Is there nothing in text that script would change? */
static bool
unchanged_by(const char *text, int len, IdentityScript script)
{
	bool		ascii = true;

	for (int i = 0; i < len; i++)
		if ((unsigned char) text[i] >= 0x80)
			ascii = false;
	if (ascii)
		/* pinyin of ASCII is its lower case: not "unchanged" */
		return script != IDENTITY_PINYIN;
	if (script == IDENTITY_HALFWIDTH)
	{
		/* full-width forms are U+FF01..U+FFEE (EF BC..EF BF ..) and U+3000 */
		for (int i = 0; i + 2 < len; i++)
			if (((unsigned char) text[i] == 0xEF && (unsigned char) text[i + 1] >= 0xBC) ||
				((unsigned char) text[i] == 0xE3 && (unsigned char) text[i + 1] == 0x80 &&
				 (unsigned char) text[i + 2] == 0x80))
				return false;
		return true;
	}
	return false;
}

/*
 * Chinese characters one by one.  ICU's Hant-Hans and Han-Latin map each
 * Han character on its own (checked on 112,818 generated names and 70,000
 * random strings: a string of Han characters gives the characters'
 * results, joined by a space for pinyin), so a name made of Han characters
 * only is put together from per-character results, each asked of ICU once
 * per backend: a few thousand characters instead of a hundred thousand
 * names.
 */
#define ONE_HAN_FIRST 0x3400	/* CJK Unified Ideographs Extension A ... */
#define ONE_HAN_LAST 0x9FFF		/* ... to the end of the main block */

static char **han_cache[IDENTITY_NSCRIPTS];

/* One Han character's transliteration, from the per-character cache. */
static const char *
han_char(pg_wchar c, IdentityScript script)
{
	char	  **slot;

	if (han_cache[script] == NULL)
		han_cache[script] = MemoryContextAllocZero(TopMemoryContext,
												   sizeof(char *) * (ONE_HAN_LAST - ONE_HAN_FIRST + 1));
	slot = &han_cache[script][c - ONE_HAN_FIRST];
	if (*slot == NULL)
	{
		unsigned char buf[8];
		int			n;
		char	   *r;

		unicode_to_utf8(c, buf);
		n = pg_utf_mblen(buf);
		r = transliterate_icu((const char *) buf, n, script);
		*slot = MemoryContextStrdup(TopMemoryContext, r);
		pfree(r);
	}
	return *slot;
}

/*
 * text transliterated character by character when it is Han characters
 * only (in a UTF-8 database); NULL when it is not.
 */
static char *
transliterate_han(const char *text, int len, IdentityScript script)
{
	const unsigned char *p = (const unsigned char *) text;
	const unsigned char *end = p + len;
	StringInfoData out;

	if (script == IDENTITY_HALFWIDTH || GetDatabaseEncoding() != PG_UTF8 || len == 0)
		return NULL;
	/* all Han? (every such character takes three bytes) */
	for (const unsigned char *q = p; q < end; q += 3)
	{
		pg_wchar	c;

		if (end - q < 3 || pg_utf_mblen(q) != 3)
			return NULL;
		c = utf8_to_unicode(q);
		if (c < ONE_HAN_FIRST || c > ONE_HAN_LAST)
			return NULL;
	}
	initStringInfo(&out);
	for (; p < end; p += 3)
	{
		if (script == IDENTITY_PINYIN && out.len > 0)
			appendStringInfoChar(&out, ' ');
		appendStringInfoString(&out, han_char(utf8_to_unicode(p), script));
	}
	return out.data;
}

/*
 * text (len bytes in the server encoding) transliterated by script, as a
 * palloc'd string in the server encoding; from the cache when it can be.
 */
char *
identity_transliterate(const char *text, int len, IdentityScript script)
{
	char	   *k;
	CacheEntry *e;
	bool		found;
	char	   *out;

	if (unchanged_by(text, len, script))
		return pnstrdup(text, len);
	if ((out = transliterate_han(text, len, script)) != NULL)
		return out;
	if (script == IDENTITY_PINYIN)
	{
		bool		ascii = true;

		for (int i = 0; i < len && ascii; i++)
			ascii = (unsigned char) text[i] < 0x80;
		if (ascii)
		{
			out = pnstrdup(text, len);
			for (char *c = out; *c; c++)
				*c = pg_ascii_tolower((unsigned char) *c);
			return out;
		}
	}
	if (len > CACHE_MAX_TEXT)
		return transliterate_icu(text, len, script);
	if (cache_tab == NULL || hash_get_num_entries(cache_tab) >= CACHE_MAX)
		cache_reset();
	k = palloc(len + 2);
	k[0] = 'a' + script;
	memcpy(k + 1, text, len);
	k[len + 1] = '\0';
	e = hash_search(cache_tab, &k, HASH_FIND, NULL);
	if (e != NULL)
	{
		pfree(k);
		return pstrdup(e->value);
	}
	out = transliterate_icu(text, len, script);
	e = hash_search(cache_tab, &k, HASH_ENTER, &found);
	e->key = MemoryContextStrdup(cache_cxt, k);
	e->value = MemoryContextStrdup(cache_cxt, out);
	pfree(k);
	return out;
}

/* Transliterate the UTF-16 text u (*ulen units, room for cap) in place. */
static void
run_transliterator(IdentityScript script, UChar *u, int32_t *ulen, int32_t cap)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		limit = *ulen;

	utrans_transUChars(transliterator(script), u, ulen, cap, 0, &limit, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("ICU transliteration \"%s\" failed: %s",
						script_ids[script], u_errorName(status))));
}

/*
 * Where the piece of u that starts at start ends: all of it when it is
 * short, else just after a white space not far before ICU_PIECE units on,
 * or failing one, before a character that starts a new one (never inside
 * a surrogate pair, never before a combining mark).
 */
static int32_t
piece_end(const UChar *u, int32_t start, int32_t ulen)
{
	int32_t		end = start + ICU_PIECE;

	if (ulen - start <= ICU_PIECE)
		return ulen;
	for (int32_t k = end; k > end - ICU_PIECE / 4; k--)
		if (u_isUWhiteSpace(u[k - 1]))
			return k;
	while (end > start + 1 && (U16_IS_TRAIL(u[end]) || u_getCombiningClass(u[end]) != 0))
		end--;
	return end;
}

/*
 * text transliterated by ICU (no cache).  ICU rewrites its buffer in
 * place, shifting all that follows whenever a character becomes several
 * (pinyin), so its time grows as the square of the text's length, and it
 * cannot be interrupted.  A text of up to ICU_WHOLE units goes through
 * whole (a tenth of a second at worst); a longer one in pieces of about
 * ICU_PIECE units, cut after white space where there is some, with a
 * check for interrupts between pieces: its time stays linear, and a
 * cancel or statement timeout stops it.  (Where a piece had to be cut
 * inside a word, the join may differ from what the whole text would give,
 * a space more or less in pinyin.)
 */
static char *
transliterate_icu(const char *text, int len, IdentityScript script)
{
	UErrorCode	status = U_ZERO_ERROR;
	const char *utf8 = pg_server_to_any(text, len, PG_UTF8);
	int32_t		ulen = 0;
	UChar	   *u;
	int32_t		piece_max;
	UChar	   *piece;
	char	   *buf;
	StringInfoData out;

	if (utf8 != text)
		len = strlen(utf8);
	u_strFromUTF8(NULL, 0, &ulen, utf8, len, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid UTF-8 text for transliteration")));
	u = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(UChar) * ((Size) ulen + 1));
	status = U_ZERO_ERROR;
	u_strFromUTF8(u, ulen + 1, &ulen, utf8, len, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid UTF-8 text for transliteration")));

	/* a piece may grow 8 times (pinyin); a UTF-16 unit is at most 3 bytes */
	piece_max = ulen <= ICU_WHOLE ? ulen : ICU_PIECE;
	piece = palloc(sizeof(UChar) * (piece_max * 8 + 16));
	buf = palloc((Size) (piece_max * 8 + 16) * 3 + 1);
	initStringInfo(&out);
	for (int32_t start = 0; start < ulen;)
	{
		int32_t		end = ulen <= ICU_WHOLE ? ulen : piece_end(u, start, ulen);
		int32_t		plen = end - start;
		int32_t		outlen = 0;

		CHECK_FOR_INTERRUPTS();
		memcpy(piece, u + start, sizeof(UChar) * plen);
		run_transliterator(script, piece, &plen, piece_max * 8 + 16);
		status = U_ZERO_ERROR;
		u_strToUTF8(buf, (piece_max * 8 + 16) * 3 + 1, &outlen, piece, plen, &status);
		if (U_FAILURE(status))
			elog(ERROR, "could not convert transliterated text to UTF-8: %s", u_errorName(status));
		appendBinaryStringInfo(&out, buf, outlen);
		start = end;
	}
	pfree(u);
	pfree(piece);
	pfree(buf);
	return pg_any_to_server(out.data, out.len, PG_UTF8);
}

/* ------------------------------------------------------------------------
 * Pinyin syllables
 * ------------------------------------------------------------------------
 */

/* The CJK Unified Ideographs block, transliterated this many at a time */
#define HAN_FIRST 0x4E00
#define HAN_LAST 0x9FFF
#define HAN_CHUNK 256

static char **syllables = NULL; /* sorted, distinct; in TopMemoryContext */
static int	nsyllables = 0;
static int	syllable_max = 0;	/* the longest, in letters */

static int
cmp_syllable(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * Is the token s (len bytes) a syllable a name can have: lower-case ASCII
 * letters with a vowel?  ICU also gives the vowelless interjections m, n
 * and hm (呣, 嗯, 噷), which no name uses and which would let "Emma" or
 * "Ann" pass for pinyin.
 */
static bool
name_syllable(const char *s, int len)
{
	bool		vowel = false;

	for (int i = 0; i < len; i++)
	{
		if (s[i] < 'a' || s[i] > 'z')
			return false;
		if (strchr("aeiou", s[i]) != NULL)
			vowel = true;
	}
	return vowel;
}

/*
 * Build the syllable set: the distinct toneless syllables the pinyin
 * transliterator gives U+4E00..U+9FFF (characters it leaves as they are
 * give none).  The block goes through ICU in chunks: replacing one
 * character by several shifts the rest of the buffer, so one call on the
 * whole block would cost quadratic time.
 */
static void
syllables_build(void)
{
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "concord pinyin syllables",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(work);
	int			cap = HAN_CHUNK * 2 * 8 + 16;
	UChar	   *u = palloc(sizeof(UChar) * cap);
	char	   *utf8 = palloc(cap * 3 + 1);
	int			ntok = 0,
				tokcap = HAN_LAST - HAN_FIRST + 1;
	char	  **tok = palloc(sizeof(char *) * tokcap);
	char	  **set;
	int			n = 0,
				max = 0;
	Size		bytes = 0;
	char	   *p;
	instr_time	start,
				end;

	INSTR_TIME_SET_CURRENT(start);
	for (int first = HAN_FIRST; first <= HAN_LAST; first += HAN_CHUNK)
	{
		UErrorCode	status = U_ZERO_ERROR;
		int32_t		ulen = 0;
		int32_t		outlen = 0;
		char	   *save = NULL;

		/* each character followed by a space, so syllables never run together */
		for (int c = first; c <= HAN_LAST && c < first + HAN_CHUNK; c++)
		{
			u[ulen++] = (UChar) c;
			u[ulen++] = ' ';
		}
		run_transliterator(IDENTITY_PINYIN, u, &ulen, cap);
		u_strToUTF8(utf8, cap * 3 + 1, &outlen, u, ulen, &status);
		if (U_FAILURE(status))
			elog(ERROR, "could not convert transliterated text to UTF-8: %s", u_errorName(status));
		for (char *w = strtok_r(utf8, " ", &save); w; w = strtok_r(NULL, " ", &save))
			if (name_syllable(w, strlen(w)))
			{
				if (ntok == tokcap)
				{
					tokcap *= 2;
					tok = repalloc(tok, sizeof(char *) * tokcap);
				}
				tok[ntok++] = pstrdup(w);
			}
	}

	/* sorted, distinct, in one allocation that lives as long as the backend */
	qsort(tok, ntok, sizeof(char *), cmp_syllable);
	for (int i = 0; i < ntok; i++)
		if (i == 0 || strcmp(tok[i], tok[i - 1]) != 0)
		{
			tok[n++] = tok[i];
			bytes += strlen(tok[i]) + 1;
			max = Max(max, (int) strlen(tok[i]));
		}
	set = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * n + bytes);
	p = (char *) (set + n);
	for (int i = 0; i < n; i++)
	{
		set[i] = p;
		strcpy(p, tok[i]);
		p += strlen(tok[i]) + 1;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	syllables = set;
	nsyllables = n;
	syllable_max = max;
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	elog(DEBUG1, "built the pinyin syllable set: %d syllables from %d characters in %.1f ms",
		 n, HAN_LAST - HAN_FIRST + 1, INSTR_TIME_GET_MILLISEC(end));
}

/*
 * Is s (len bytes, lower-case ASCII) a toneless pinyin syllable -- one
 * that ICU gives some CJK Unified Ideograph?
 */
bool
identity_pinyin_syllable(const char *s, int len)
{
	int			lo = 0,
				hi;

	if (syllables == NULL)
		syllables_build();
	if (len <= 0 || len > syllable_max)
		return false;
	hi = nsyllables - 1;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strncmp(s, syllables[mid], len);

		if (c == 0 && syllables[mid][len] != '\0')
			c = -1;				/* s is a proper prefix of syllables[mid] */
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return false;
}

/* The length of the longest pinyin syllable, in letters. */
int
identity_pinyin_syllable_max(void)
{
	if (syllables == NULL)
		syllables_build();
	return syllable_max;
}

/*
 * Open the transliterators and build the syllable set now: called once in
 * the postmaster when concord is in shared_preload_libraries, so that
 * every backend starts with them (opening Han-Latin and building the set
 * cost a backend 0.2 and 0.4 s on its first name; an incremental resolve
 * run by a scheduler in a new session paid both).
 */
void
identity_script_preload(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	/* a failure is logged, not fatal: the backends try again on first use */
	PG_TRY();
	{
		for (int s = 0; s < IDENTITY_NSCRIPTS; s++)
			(void) transliterator((IdentityScript) s);
		if (syllables == NULL)
			syllables_build();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}
