/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  A record's column texts into the target's column types.
 *
 * Texts go through the column type's input function, with three
 * exceptions that keep a value from being stored wrong:
 *
 *	  - a date/time column declared "format": "epoch" or "epoch_ms" takes a
 *		Unix time in seconds or milliseconds (a JSON number or a numeric
 *		string), converted exactly; a value outside what the type holds is
 *		refused, never wrapped;
 *	  - a date/time column without such a format refuses a JSON number and a
 *		string of more than 8 digits: PostgreSQL would read 1600000120 as
 *		the year 160000, so it is a Unix time, not a date;
 *	  - an array column gets an array literal (page.c writes JSON arrays as
 *		such); it travels as text and is cast in the load statement, since
 *		arrays of arrays do not exist.
 *
 * Errors are raised for the caller to reject the record with them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "sync/load.h"

/* Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * A Unix time (seconds, or milliseconds with epoch 1000) as a Timestamp
 * (UTC).  Decimal texts are read exactly to the microsecond; exponents go
 * through a double.  Raises 22007 for a text that is not a number, 22008
 * for one out of the range of timestamps.
 */
static Timestamp
epoch_timestamp(const char *txt, int epoch, const char *column)
{
	const char *p = txt;
	bool		neg = false;
	int64		whole = 0;
	int64		frac = 0;
	int			fdigits = 0;
	int			scale = epoch == 1000 ? 3 : 6;	/* fraction digits down to 1 us */
	int64		us;
	bool		ok = true;

	while (*p == ' ')
		p++;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!isdigit((unsigned char) *p))
		ok = false;
	while (ok && isdigit((unsigned char) *p))
	{
		if (whole > (PG_INT64_MAX - 9) / 10)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("Unix time %s of column \"%s\" is out of range for a timestamp", txt, column)));
		whole = whole * 10 + (*p++ - '0');
	}
	if (ok && *p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p))
		{
			if (fdigits < scale)
			{
				frac = frac * 10 + (*p - '0');
				fdigits++;
			}
			p++;
		}
	}
	if (ok && (*p == 'e' || *p == 'E'))
	{
		/* 1.6e9: through a double, microseconds rounded */
		double		d = strtod(txt, NULL) * (epoch == 1000 ? 1000.0 : 1000000.0);

		if (!(d > -9.2e18 && d < 9.2e18))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("Unix time %s of column \"%s\" is out of range for a timestamp", txt, column)));
		us = (int64) (d < 0 ? d - 0.5 : d + 0.5);
		goto range;
	}
	while (*p == ' ')
		p++;
	if (!ok || *p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid Unix time \"%s\" for column \"%s\": expected a number of %s",
						txt, column, epoch == 1000 ? "milliseconds" : "seconds")));
	while (fdigits < scale)
	{
		frac *= 10;
		fdigits++;
	}
	if (pg_mul_s64_overflow(whole, epoch == 1000 ? 1000 : 1000000, &us) ||
		pg_add_s64_overflow(us, frac, &us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("Unix time %s of column \"%s\" is out of range for a timestamp", txt, column)));
	if (neg)
		us = -us;
range:
	if (pg_sub_s64_overflow(us, UNIX_TO_PG_USECS, &us) || !IS_VALID_TIMESTAMP(us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("Unix time %s of column \"%s\" is out of range for a timestamp", txt, column),
				 errhint("Check the column's format: epoch is seconds, epoch_ms milliseconds.")));
	return (Timestamp) us;
}

/* The date of a timestamp (UTC), rounding down. */
static DateADT
timestamp_day(Timestamp ts)
{
	int64		d = ts / USECS_PER_DAY;

	if (ts < 0 && ts % USECS_PER_DAY != 0)
		d--;
	return (DateADT) d;
}

/*
 * A Unix time as ISO 8601 text for column c (timestamptz with +00, a
 * timestamp, or a date), whatever DateStyle says: for COPY and for
 * domains, whose input function then reads it.
 */
char *
sync_epoch_text(SyncLoad *ld, int c, const char *txt)
{
	SyncTarget *t = ld->target;
	const SyncColumn *col = &ld->spec->columns[c];
	Timestamp	ts = epoch_timestamp(txt, col->epoch, col->name);
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("Unix time %s is out of range for a timestamp", txt)));
	if (t->basetype[c] == DATEOID)
		EncodeDateOnly(&tm, USE_ISO_DATES, buf);
	else
		EncodeDateTime(&tm, fsec, t->basetype[c] == TIMESTAMPTZOID, 0, NULL, USE_ISO_DATES, buf);
	return pstrdup(buf);
}

/* Is txt a number: digits, perhaps signed, with a point or an exponent? */
static bool
looks_numeric(const char *txt, int *digits)
{
	const char *p = txt;

	*digits = 0;
	if (*p == '-' || *p == '+')
		p++;
	for (; *p; p++)
	{
		if (isdigit((unsigned char) *p))
			(*digits)++;
		else if (*p != '.' && *p != 'e' && *p != 'E')
			return false;
	}
	return *digits > 0;
}

/*
 * Why value c of record i must not go to its date/time column as it is
 * (a number, or a string of digits too long for a date), or NULL.
 */
char *
sync_value_problem(SyncLoad *ld, SyncPage *pg, int i, int c)
{
	SyncTarget *t = ld->target;
	const SyncColumn *col = &ld->spec->columns[c];
	char	   *txt = pg->values[i * t->ncols + c];
	int			digits;

	if (txt == NULL || !t->datetime[c] || col->epoch)
		return NULL;
	if (pg->number[i * t->ncols + c] || (looks_numeric(txt, &digits) && digits > 8))
		return psprintf("column \"%s\" is a date/time, and %.40s is a number: a Unix time?",
						col->name, txt);
	return NULL;
}

/* Value c of record i converted (may throw). */
Datum
sync_convert_value(SyncLoad *ld, SyncPage *pg, int i, int c, bool *isnull)
{
	SyncTarget *t = ld->target;
	const SyncColumn *col = &ld->spec->columns[c];
	char	   *txt = pg->values[i * t->ncols + c];
	char	   *why;

	*isnull = txt == NULL;
	if (txt != NULL && GetDatabaseEncoding() != PG_UTF8)
		txt = pg_any_to_server(txt, strlen(txt), PG_UTF8);
	if (txt != NULL && col->epoch)
	{
		if (t->basetype[c] == t->typid[c])
		{
			Timestamp	ts = epoch_timestamp(txt, col->epoch, col->name);

			if (t->typid[c] == DATEOID)
				return DateADTGetDatum(timestamp_day(ts));
			return TimestampGetDatum(ts);
		}
		/* a domain: its input checks its constraints */
		txt = sync_epoch_text(ld, c, txt);
	}
	else if ((why = sync_value_problem(ld, pg, i, c)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("%s", why),
				 errhint("Declare the column's \"format\": \"epoch\" (seconds) or \"epoch_ms\" (milliseconds).")));
	if (t->textcast[c])
	{
		/* checked here, cast in the statement (arrays of arrays do not exist) */
		(void) InputFunctionCall(&t->infn[c], txt, t->ioparam[c], t->typmod[c]);
		return txt ? CStringGetTextDatum(txt) : (Datum) 0;
	}
	return InputFunctionCall(&t->infn[c], txt, t->ioparam[c], t->typmod[c]);
}

/* Convert record i's texts into vals/nulls (may throw). */
void
sync_convert_record(SyncLoad *ld, SyncPage *pg, int i, Datum *vals, bool *nulls)
{
	SyncTarget *t = ld->target;
	int			nc = t->ncols;

	for (int c = 0; c < nc; c++)
		vals[c] = sync_convert_value(ld, pg, i, c, &nulls[c]);
	if (t->unmapped)
	{
		nulls[nc] = pg->unmapped[i] == NULL;
		vals[nc] = nulls[nc] ? (Datum) 0 :
			InputFunctionCall(&t->jsonb_in, pg->unmapped[i], InvalidOid, -1);
	}
}

/* The key of a converted record as text (as key_sql computes it for rows). */
char *
sync_key_text(SyncTarget *t, Datum *vals)
{
	StringInfoData b;

	if (t->npk == 1)
		return OutputFunctionCall(&t->pk_out[0], vals[t->pk[0]]);
	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	for (int k = 0; k < t->npk; k++)
	{
		if (k)
			appendStringInfoString(&b, ", ");
		escape_json(&b, OutputFunctionCall(&t->pk_out[k], vals[t->pk[k]]));
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}

/*
 * The key of record i as the API wrote it (its key fields' texts; a JSON
 * array of them for a composite key), or NULL when a part is missing: how
 * a kept reject is matched with later versions of the same record.
 */
char *
sync_raw_key(SyncLoad *ld, SyncPage *pg, int i)
{
	SyncTarget *t = ld->target;
	StringInfoData b;

	for (int k = 0; k < t->npk; k++)
		if (pg->values[i * t->ncols + t->pk[k]] == NULL)
			return NULL;
	if (t->npk == 1)
		return pstrdup(pg->values[i * t->ncols + t->pk[0]]);
	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	for (int k = 0; k < t->npk; k++)
	{
		if (k)
			appendStringInfoString(&b, ", ");
		escape_json(&b, pg->values[i * t->ncols + t->pk[k]]);
	}
	appendStringInfoChar(&b, ']');
	return b.data;
}
