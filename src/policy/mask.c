/*-------------------------------------------------------------------------
 *
 * mask.c
 *	  The built-in masks of column masking: what a role that may not see a
 *	  value sees instead.  Character-based (UTF-8), never an error for any
 *	  input -- a mask that cannot make sense of a value hides all of it --
 *	  so they can be LEAKPROOF: a WHERE clause calling them reveals nothing
 *	  through errors.
 *
 *	  mask_phone('13812345678')          138****5678
 *	  mask_email('zhang.san@example.com') z***@example.com
 *	  mask_name('张三丰')                 张**
 *	  mask_cn_id('11010519491231002X')    110***********002X
 *	  mask_bank_card('6222021234567890')  6222********7890
 *	  mask_partial(v, 2, '***', 1)        the first 2 characters, ***, the last 1
 *	  mask_hash(v)                        a keyed HMAC-SHA256, the same for the
 *	                                      same value (joinable), not reversible
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "secret/secret.h"

PG_FUNCTION_INFO_V1(concord_mask_phone);
PG_FUNCTION_INFO_V1(concord_mask_email);
PG_FUNCTION_INFO_V1(concord_mask_name);
PG_FUNCTION_INFO_V1(concord_mask_cn_id);
PG_FUNCTION_INFO_V1(concord_mask_bank_card);
PG_FUNCTION_INFO_V1(concord_mask_partial);
PG_FUNCTION_INFO_V1(concord_mask_hash);

/* The secret whose value keys mask_hash. */
#define MASK_KEY_SECRET "mask_key"

/* The ASCII digits of s (full-width ones too, as their ASCII selves). */
static char *
digits_of(const char *s)
{
	StringInfoData d;
	const unsigned char *p = (const unsigned char *) s;

	initStringInfo(&d);
	while (*p)
	{
		if (*p >= '0' && *p <= '9')
			appendStringInfoChar(&d, *p);
		/* U+FF10..U+FF19: EF BC 90..99 */
		else if (p[0] == 0xEF && p[1] == 0xBC && p[2] >= 0x90 && p[2] <= 0x99)
		{
			appendStringInfoChar(&d, '0' + (p[2] - 0x90));
			p += 2;
		}
		p++;
	}
	return d.data;
}

/* keep the first `head` and last `tail` characters of s, '*' between */
static text *
keep_ends(const char *s, int head, int tail)
{
	int			len = strlen(s);
	int			n = pg_mbstrlen_with_len(s, len);
	StringInfoData out;
	const char *p = s;

	initStringInfo(&out);
	if (n <= head + tail)
	{
		/* too short to show anything: all hidden */
		for (int i = 0; i < Max(n, 1); i++)
			appendStringInfoChar(&out, '*');
		return cstring_to_text(out.data);
	}
	for (int i = 0; i < n; i++)
	{
		int			l = pg_mblen(p);

		if (i < head || i >= n - tail)
			appendBinaryStringInfo(&out, p, l);
		else
			appendStringInfoChar(&out, '*');
		p += l;
	}
	return cstring_to_text(out.data);
}

/*
 * mask_phone runs once per row of every scan of a masked phone column:
 * no intermediate strings, one allocation (the result), the digits
 * gathered in a local buffer (a number longer than it is hidden whole).
 */
Datum
concord_mask_phone(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(in);
	const unsigned char *end = p + VARSIZE_ANY_EXHDR(in);
	char		buf[32];
	int			n = 0;
	const char *d = buf;
	text	   *out;
	char	   *o;

	while (p < end && n < (int) sizeof(buf))
	{
		if (*p >= '0' && *p <= '9')
			buf[n++] = *p;
		/* full-width digits, U+FF10..U+FF19: EF BC 90..99 */
		else if (p + 2 < end && p[0] == 0xEF && p[1] == 0xBC && p[2] >= 0x90 && p[2] <= 0x99)
		{
			buf[n++] = '0' + (p[2] - 0x90);
			p += 2;
		}
		p++;
	}
	if (p < end)
		n = 0;					/* more digits than any number: hide all */
	/* without the country code */
	if (n >= 4 && memcmp(buf, "0086", 4) == 0)
		d += 4, n -= 4;
	else if (n == 13 && memcmp(buf, "86", 2) == 0)
		d += 2, n -= 2;
	out = palloc(VARHDRSZ + Max(n, 1));
	SET_VARSIZE(out, VARHDRSZ + Max(n, 1));
	o = VARDATA(out);
	if (n < 7)
	{
		/* a short number (an extension) or none: nothing shown */
		memset(o, '*', Max(n, 1));
		PG_RETURN_TEXT_P(out);
	}
	/* 138****5678: the first 3 and last 4 digits */
	memcpy(o, d, 3);
	memset(o + 3, '*', n - 7);
	memcpy(o + n - 4, d + n - 4, 4);
	PG_RETURN_TEXT_P(out);
}

Datum
concord_mask_email(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *at = strrchr(s, '@');
	StringInfoData out;

	initStringInfo(&out);
	if (at == NULL || at == s || at[1] == '\0')
	{
		appendStringInfoString(&out, "***");
		PG_RETURN_TEXT_P(cstring_to_text(out.data));
	}
	/* the first character of the local part, then the domain */
	appendBinaryStringInfo(&out, s, pg_mblen(s));
	appendStringInfoString(&out, "***");
	appendStringInfoString(&out, at);
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

Datum
concord_mask_name(PG_FUNCTION_ARGS)
{
	/* the family name (first character) stays: 张三 -> 张*, 欧阳娜娜 -> 欧*** */
	PG_RETURN_TEXT_P(keep_ends(text_to_cstring(PG_GETARG_TEXT_PP(0)), 1, 0));
}

Datum
concord_mask_cn_id(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/* the first 3 (province and city) and the last 4; the birth date never */
	PG_RETURN_TEXT_P(keep_ends(s, pg_mbstrlen(s) >= 15 ? 3 : 0, pg_mbstrlen(s) >= 15 ? 4 : 0));
}

Datum
concord_mask_bank_card(PG_FUNCTION_ARGS)
{
	const char *d = digits_of(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	/* the issuer's first 4 and the last 4 digits */
	PG_RETURN_TEXT_P(keep_ends(d, strlen(d) >= 12 ? 4 : 0, strlen(d) >= 12 ? 4 : 0));
}

Datum
concord_mask_partial(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			prefix = PG_GETARG_INT32(1);
	char	   *pad = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			suffix = PG_GETARG_INT32(3);
	int			len = strlen(s);
	int			n = pg_mbstrlen_with_len(s, len);
	StringInfoData out;
	const char *p = s;

	/* (the arguments are the mask's, not the data's: checked when defined) */
	prefix = Max(prefix, 0);
	suffix = Max(suffix, 0);
	initStringInfo(&out);
	/* in 64 bits: two large ends must not wrap around and show everything */
	if ((int64) n <= (int64) prefix + suffix)
	{
		/* nothing would be hidden: show the pad only */
		appendStringInfoString(&out, pad);
		PG_RETURN_TEXT_P(cstring_to_text(out.data));
	}
	for (int i = 0; i < n; i++)
	{
		int			l = pg_mblen(p);

		if (i < prefix || i >= n - suffix)
			appendBinaryStringInfo(&out, p, l);
		if (i == prefix)
			appendStringInfoString(&out, pad);
		p += l;
	}
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

/*
 * mask_hash: HMAC-SHA256 under the secret mask_key, as 'h:' and 16 hex
 * digits.  The key is read once per query (fn_extra), not per row.
 */
typedef struct MaskKey
{
	char	   *key;
	size_t		len;
} MaskKey;

Datum
concord_mask_hash(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	MaskKey    *k = fcinfo->flinfo->fn_extra;
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;
	char		hex[2 + 16 + 1] = "h:";

	if (k == NULL)
	{
		int			code;
		char	   *msg;
		char	   *secret = secret_resolve_internal(MASK_KEY_SECRET, &code, &msg);

		if (secret == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("mask_hash needs the secret \"%s\": %s", MASK_KEY_SECRET, msg),
					 errhint("Set it once, to any long random text: SELECT concord.secret_set('mask_key', '...').")));
		k = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(MaskKey));
		k->len = strlen(secret);
		k->key = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, k->len + 1);
		memcpy(k->key, secret, k->len + 1);
		explicit_bzero(secret, k->len);
		fcinfo->flinfo->fn_extra = k;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->key, k->len,
				  (const unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
				  mac, sizeof(mac), &maclen) == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("HMAC-SHA256 failed")));
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", mac[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
