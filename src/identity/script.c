/*-------------------------------------------------------------------------
 *
 * script.c
 *	  Script handling with ICU transliterators: full-width to half-width,
 *	  traditional to simplified Chinese, Chinese to pinyin.
 *
 * Opening a transliterator compiles its rules and costs milliseconds, so
 * each one is opened once per backend, on first use, and kept.  Text goes
 * server encoding -> UTF-8 -> UTF-16 -> transliterate -> UTF-8 -> server
 * encoding (the first and last steps are no-ops in a UTF-8 database).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/ustring.h>
#include <unicode/utrans.h>

#include "mb/pg_wchar.h"

#include "identity/identity.h"

/* ICU transliterator IDs, by IdentityScript */
static const char *const script_ids[IDENTITY_NSCRIPTS] = {
	"Fullwidth-Halfwidth",
	"Hant-Hans",
	"Han-Latin; Latin-ASCII; Lower"
};

static UTransliterator *cache[IDENTITY_NSCRIPTS];

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

/*
 * text (len bytes of UTF-8) transliterated by script, as a palloc'd
 * UTF-8 string.
 */
char *
identity_transliterate(const char *text, int len, IdentityScript script)
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
