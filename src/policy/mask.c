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
 *	                                      same value (joinable), not reversible;
 *	                                      stored by mask_hash_store()
 *	  mask_bucket(v, 10000)               v rounded down to a multiple of 10000
 *	  mask_date(d, 'year')                the first day of d's year
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "compat.h"
#include "secret/secret.h"

PG_FUNCTION_INFO_V1(concord_mask_phone);
PG_FUNCTION_INFO_V1(concord_mask_email);
PG_FUNCTION_INFO_V1(concord_mask_name);
PG_FUNCTION_INFO_V1(concord_mask_cn_id);
PG_FUNCTION_INFO_V1(concord_mask_bank_card);
PG_FUNCTION_INFO_V1(concord_mask_partial);
PG_FUNCTION_INFO_V1(concord_mask_hash);
PG_FUNCTION_INFO_V1(concord_mask_bucket);
PG_FUNCTION_INFO_V1(concord_mask_date);

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

/*
 * The mask key, kept in fn_extra of flinfo for the rest of the query; NULL
 * when it cannot be read (no secret mask_key, no key file).  Never throws
 * for that: mask_hash is LEAKPROOF, and an error it raised only for the
 * rows a query reaches would tell which rows exist.
 */
static MaskKey *
mask_key(FmgrInfo *flinfo, char **why)
{
	MaskKey    *k = flinfo->fn_extra;
	int			code;
	char	   *msg = NULL;
	char	   *secret;

	if (k != NULL)
		return k;
	secret = secret_resolve_internal(MASK_KEY_SECRET, &code, &msg);
	if (secret == NULL)
	{
		if (why)
			*why = msg;
		return NULL;
	}
	k = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(MaskKey));
	k->len = strlen(secret);
	k->key = MemoryContextAlloc(flinfo->fn_mcxt, k->len + 1);
	memcpy(k->key, secret, k->len + 1);
	explicit_bzero(secret, k->len);
	flinfo->fn_extra = k;
	return k;
}

/* 'h:' and the first 16 hex digits of HMAC-SHA256(key, data); NULL if OpenSSL fails. */
static text *
mask_hmac(const MaskKey *k, const char *data, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		maclen = 0;
	char		hex[2 + 16 + 1] = "h:";

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->key, k->len,
				  (const unsigned char *) data, len, mac, sizeof(mac), &maclen) == NULL || maclen < 8)
		return NULL;
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", mac[i]);
	return cstring_to_text(hex);
}

/*
 * concord.mask_hash(value): NULL when the key cannot be read
 * (column_mask_create checks that it can when a mask is defined); never an
 * error.  Not for PUBLIC: anyone who could call it could hash guesses and
 * compare them with the masked values.  Governed views read the hash
 * stored by the trigger below.
 */
Datum
concord_mask_hash(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	MaskKey    *k = mask_key(fcinfo->flinfo, NULL);
	text	   *h;

	if (k == NULL)
		PG_RETURN_NULL();
	h = mask_hmac(k, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	if (h == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(h);
}

PG_FUNCTION_INFO_V1(concord_mask_hash_store);

/*
 * concord.mask_hash_store(): BEFORE INSERT OR UPDATE row trigger of a table
 * with mask_hash masks; its arguments are pairs (column, stored column).
 * Writes the hash of each column into its stored column, so that the
 * governed view reads a stored value and its readers need no EXECUTE on
 * mask_hash.  Trigger functions are not checked for EXECUTE when they fire.
 * A missing key is an error here: it is the writer's own row.
 */
Datum
concord_mask_hash_store(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	Relation	rel;
	HeapTuple	tuple;
	TupleDesc	desc;
	MaskKey    *k;
	char	   *why = NULL;
	int			npairs;
	int		   *cols;
	Datum	   *values;
	bool	   *nulls;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("concord.mask_hash_store() must be a BEFORE INSERT OR UPDATE row trigger")));
	tg = td->tg_trigger;
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (tg->tgnargs % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("concord.mask_hash_store() takes pairs of column names, not %d names", tg->tgnargs)));
	npairs = tg->tgnargs / 2;
	if (npairs == 0)
		return PointerGetDatum(tuple);
	k = mask_key(fcinfo->flinfo, &why);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the masks of table %s need the secret \"%s\": %s",
						RelationGetRelationName(rel), MASK_KEY_SECRET, why ? why : "it cannot be read"),
				 errhint("A superuser sets it: SELECT concord.secret_set('mask_key', '...').")));
	cols = palloc(sizeof(int) * npairs);
	values = palloc(sizeof(Datum) * npairs);
	nulls = palloc(sizeof(bool) * npairs);
	for (int i = 0; i < npairs; i++)
	{
		int			from = SPI_fnumber(desc, tg->tgargs[2 * i]);
		int			to = SPI_fnumber(desc, tg->tgargs[2 * i + 1]);
		bool		isnull;
		Datum		v;

		if (from <= 0 || to <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table %s has no column \"%s\" for its mask_hash mask",
							RelationGetRelationName(rel), tg->tgargs[from <= 0 ? 2 * i : 2 * i + 1])));
		v = heap_getattr(tuple, from, desc, &isnull);
		cols[i] = to;
		nulls[i] = isnull;
		values[i] = (Datum) 0;
		if (!isnull)
		{
			text	   *t = DatumGetTextPP(v);
			text	   *h = mask_hmac(k, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

			if (h == NULL)
				ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("HMAC-SHA256 failed")));
			values[i] = PointerGetDatum(h);
		}
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, npairs, cols, values, nulls));
}

/*
 * concord.mask_bucket(value, width): value rounded down to a multiple of
 * width, as value minus its remainder (floored), each step with PostgreSQL's
 * non-throwing numeric arithmetic: a value too large for the division, or
 * any other, gives NULL, never an error (LEAKPROOF).  NaN and infinities
 * stay as they are; a width that is not a positive finite number gives NULL.
 */
Datum
concord_mask_bucket(PG_FUNCTION_ARGS)
{
	Numeric		value = PG_GETARG_NUMERIC(0);
	Numeric		width = PG_GETARG_NUMERIC(1);
	Numeric		zero = int64_to_numeric(0);
	Numeric		rem,
				out;
	bool		err = false;

	if (numeric_is_nan(width) || numeric_is_inf(width) ||
		!DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(width), NumericGetDatum(zero))))
		PG_RETURN_NULL();
	if (numeric_is_nan(value) || numeric_is_inf(value))
		PG_RETURN_NUMERIC(value);
	/* remainder with the sign of value: floor(v / w) * w = v - rem, less w more if v < 0 */
	rem = numeric_mod_opt_error(value, width, &err);
	if (err)
		PG_RETURN_NULL();
	out = numeric_sub_opt_error(value, rem, &err);
	if (!err && DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(rem), NumericGetDatum(zero))))
		out = numeric_sub_opt_error(out, width, &err);
	if (err)
		PG_RETURN_NULL();
	/* as many decimals as width has (out is an exact multiple of it) */
	PG_RETURN_DATUM(DirectFunctionCall2(numeric_round, NumericGetDatum(out),
										DirectFunctionCall1(numeric_scale, NumericGetDatum(width))));
}

/*
 * concord.mask_date(value, unit): the first day of the date's month,
 * quarter or year, computed on the Julian day (a cast to timestamp would
 * fail for dates past 294276 AD: LEAKPROOF functions never fail on data).
 * Infinite dates stay; another unit gives NULL.
 */
Datum
concord_mask_date(PG_FUNCTION_ARGS)
{
	DateADT		d = PG_GETARG_DATEADT(0);
	char	   *unit = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			y,
				m,
				day;

	if (strcmp(unit, "month") != 0 && strcmp(unit, "quarter") != 0 && strcmp(unit, "year") != 0)
		PG_RETURN_NULL();
	if (DATE_NOT_FINITE(d))
		PG_RETURN_DATEADT(d);
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	if (strcmp(unit, "quarter") == 0)
		m = ((m - 1) / 3) * 3 + 1;
	else if (strcmp(unit, "year") == 0)
		m = 1;
	PG_RETURN_DATEADT(date2j(y, m, 1) - POSTGRES_EPOCH_JDATE);
}
