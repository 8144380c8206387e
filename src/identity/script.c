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
 * results are cached per backend (up to CACHE_MAX entries, then the cache
 * starts afresh), and text a transliteration cannot change -- plain ASCII,
 * or no full-width form for the full-width one -- skips ICU.  Text goes
 * server encoding -> UTF-8 -> UTF-16 -> transliterate -> UTF-8 -> server
 * encoding (the first and last steps are no-ops in a UTF-8 database).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/ustring.h>
#include <unicode/utrans.h>

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

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

typedef struct CacheEntry
{
	char	   *key;			/* script byte, then the text (must be first) */
	char	   *value;
} CacheEntry;

static HTAB *cache_tab = NULL;
static MemoryContext cache_cxt = NULL;

static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

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
	ctl.hash = key_hash;
	ctl.match = key_match;
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

/* text transliterated by ICU (no cache). */
static char *
transliterate_icu(const char *text, int len, IdentityScript script)
{
	UTransliterator *t = transliterator(script);
	UErrorCode	status = U_ZERO_ERROR;
	const char *utf8 = pg_server_to_any(text, len, PG_UTF8);
	int32_t		ulen = 0;
	int32_t		cap;
	int32_t		limit;
	UChar	   *u;
	int32_t		outlen = 0;
	char	   *out;

	/* UTF-16 length, then the text with room to grow (pinyin is longer) */
	if (utf8 != text)
		len = strlen(utf8);
	u_strFromUTF8(NULL, 0, &ulen, utf8, len, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid UTF-8 text for transliteration")));
	cap = ulen * 8 + 16;
	u = palloc(sizeof(UChar) * cap);
	status = U_ZERO_ERROR;
	u_strFromUTF8(u, cap, &ulen, utf8, len, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid UTF-8 text for transliteration")));
	limit = ulen;
	utrans_transUChars(t, u, &ulen, cap, 0, &limit, &status);
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("ICU transliteration \"%s\" failed: %s",
						script_ids[script], u_errorName(status))));

	status = U_ZERO_ERROR;
	u_strToUTF8(NULL, 0, &outlen, u, ulen, &status);
	out = palloc(outlen + 1);
	status = U_ZERO_ERROR;
	u_strToUTF8(out, outlen + 1, &outlen, u, ulen, &status);
	if (U_FAILURE(status))
		elog(ERROR, "could not convert transliterated text to UTF-8: %s", u_errorName(status));
	out[outlen] = '\0';
	pfree(u);
	return pg_any_to_server(out, outlen, PG_UTF8);
}
