/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  The identity component: one customer across the departments'
 *	  systems.  So far: the normalizers (phone, email, names, companies,
 *	  addresses, resident ID numbers), script handling through ICU
 *	  transliterators, and the string similarity functions matching uses.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONCORD_IDENTITY_H
#define CONCORD_IDENTITY_H

#include "postgres.h"

/* script.c: ICU transliteration of UTF-8 text (palloc'd results) */
typedef enum IdentityScript
{
	IDENTITY_HALFWIDTH,			/* full-width forms to ASCII/half-width */
	IDENTITY_SIMPLIFIED,		/* traditional to simplified Chinese */
	IDENTITY_PINYIN,			/* Han to Latin, ASCII, lower case */
	IDENTITY_NSCRIPTS
} IdentityScript;

extern char *identity_transliterate(const char *text, int len, IdentityScript script);
extern bool identity_pinyin_syllable(const char *s, int len);
extern int	identity_pinyin_syllable_max(void);
extern void identity_script_preload(void);

/* similarity.c */
#include "mb/pg_wchar.h"
extern double identity_jaro_winkler(const pg_wchar *a, int na, const pg_wchar *b, int nb);
extern int	identity_sorted_common(char *const *a, int na, char *const *b, int nb);

/* normalize.c */
extern char *identity_phone(const char *text, const char **problem);
extern char *identity_name_fold(const char *text);
extern char *identity_name_key(const char *text);
extern char *identity_name_syllables(const char *text);
extern int	identity_company_place(const char *text);

#endif							/* CONCORD_IDENTITY_H */
