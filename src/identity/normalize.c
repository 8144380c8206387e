/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  Normalizers: one canonical form for each way a department writes a
 *	  phone number, an email address, a person's or a company's name, an
 *	  address or a resident ID number.
 *
 * Every normalizer is IMMUTABLE and PARALLEL SAFE (usable in indexes and
 * generated columns) and returns NULL for a value it cannot make sense of;
 * where a reason helps, a companion *_problem function says why.  Script
 * differences (full-width forms, traditional characters, Chinese vs Latin
 * spelling) are handled by ICU transliterators (script.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "identity/identity.h"

PG_FUNCTION_INFO_V1(concord_normalize_phone);
PG_FUNCTION_INFO_V1(concord_identity_placeholder);
PG_FUNCTION_INFO_V1(concord_phone_problem);
PG_FUNCTION_INFO_V1(concord_normalize_email);
PG_FUNCTION_INFO_V1(concord_normalize_name);
PG_FUNCTION_INFO_V1(concord_name_key);
PG_FUNCTION_INFO_V1(concord_name_syllables);
PG_FUNCTION_INFO_V1(concord_identity_name_form);
PG_FUNCTION_INFO_V1(concord_normalize_company);
PG_FUNCTION_INFO_V1(concord_address_parts);
PG_FUNCTION_INFO_V1(concord_normalize_address);
PG_FUNCTION_INFO_V1(concord_normalize_cn_id);
PG_FUNCTION_INFO_V1(concord_cn_id_problem);
PG_FUNCTION_INFO_V1(concord_to_halfwidth);
PG_FUNCTION_INFO_V1(concord_to_simplified);
PG_FUNCTION_INFO_V1(concord_to_pinyin);

/* text argument transliterated by script */
static char *
arg_script(FunctionCallInfo fcinfo, IdentityScript script)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	return identity_transliterate(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), script);
}

/* Trim and collapse runs of white space to one space (in place). */
static char *
squeeze(char *s)
{
	char	   *r = s,
			   *w = s;
	bool		space = true;	/* drops leading space */

	for (; *r; r++)
	{
		if (isspace((unsigned char) *r))
		{
			if (!space)
				*w++ = ' ';
			space = true;
		}
		else
		{
			*w++ = *r;
			space = false;
		}
	}
	if (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
	return s;
}

/* ASCII letters to lower case (in place). */
static char *
ascii_lower(char *s)
{
	for (char *c = s; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	return s;
}

/* Replace every occurrence of from (a UTF-8 string) by to, as a new string. */
static char *
replace_all(const char *s, const char *from, const char *to)
{
	StringInfoData b;
	size_t		fl = strlen(from);
	const char *p;

	initStringInfo(&b);
	while ((p = strstr(s, from)) != NULL)
	{
		appendBinaryStringInfo(&b, s, p - s);
		appendStringInfoString(&b, to);
		s = p + fl;
	}
	appendStringInfoString(&b, s);
	return b.data;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------------------
 * Phone numbers
 * ------------------------------------------------------------------------
 */

/*
 * The canonical form of a phone number: E.164 ("+8613812345678",
 * "+862112345678"), with ";ext=N" for an extension; NULL with *problem set
 * when the text is not a usable number.  Mainland China numbers may come
 * with or without +86 / 0086 / 86, with the trunk 0 of landlines, in any
 * grouping; numbers of other countries must start with + and their code.
 */
char *
identity_phone(const char *text, const char **problem)
{
	char	   *s = identity_transliterate(text, strlen(text), IDENTITY_HALFWIDTH);
	char		digits[64];
	char		ext[16];
	int			nd = 0,
				ne = 0;
	bool		plus = false;
	bool		in_ext = false;
	const char *d;
	int			len;

	*problem = NULL;
	ext[0] = '\0';
	for (const char *c = s; *c; c++)
	{
		unsigned char ch = (unsigned char) *c;

		if (isdigit(ch))
		{
			if (in_ext)
			{
				if (ne >= (int) sizeof(ext) - 1)
				{
					*problem = "the extension is too long";
					return NULL;
				}
				ext[ne++] = *c;
				ext[ne] = '\0';
			}
			else
			{
				if (nd >= (int) sizeof(digits) - 1)
				{
					*problem = "too many digits";
					return NULL;
				}
				digits[nd++] = *c;
			}
		}
		else if (ch == '+' && nd == 0 && !plus)
			plus = true;
		else if (ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == '/')
		{
			/* separators; a '-' after a complete landline starts an extension */
			if (ch == '-' && !in_ext && nd >= 11 && digits[0] == '0' && !plus)
				in_ext = true;
		}
		else if (starts_with(c, "转") || starts_with(c, "分机"))
		{
			in_ext = true;
			c += (starts_with(c, "转") ? strlen("转") : strlen("分机")) - 1;
		}
		else if (ch == '#' || ch == ',' || ch == ';' || pg_ascii_tolower(ch) == 'x' ||
				 pg_strncasecmp(c, "ext", 3) == 0)
		{
			in_ext = true;
			if (pg_strncasecmp(c, "ext", 3) == 0)
				c += 2;
			/* ";ext=" as RFC 3966 writes it */
			while (c[1] == '=' || c[1] == '.' || c[1] == ':')
				c++;
		}
		else
		{
			*problem = "contains characters that are not part of a phone number";
			return NULL;
		}
	}
	digits[nd] = '\0';
	if (nd == 0)
	{
		*problem = "no digits";
		return NULL;
	}
	if (in_ext && ne == 0)
	{
		*problem = "an extension marker without an extension";
		return NULL;
	}

	d = digits;
	if (plus && !starts_with(d, "86"))
	{
		/* another country: E.164 allows at most 15 digits */
		if (nd < 8 || nd > 15)
		{
			*problem = "an international number has 8 to 15 digits";
			return NULL;
		}
		return psprintf("+%s%s%s", d, ne ? ";ext=" : "", ext);
	}
	if (plus)
		d += 2;
	else if (starts_with(d, "0086"))
		d += 4;
	else if (nd == 13 && starts_with(d, "86") && d[2] == '1')
		d += 2;
	len = strlen(d);

	/* a mobile with a trunk 0 before it, as call centres dial it (0138...) */
	if (len == 12 && d[0] == '0' && d[1] == '1' && d[2] >= '3' && d[2] <= '9')
	{
		d++;
		len--;
	}
	/* mobile: 1[3-9] and 9 more digits */
	if (len == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9')
		return psprintf("+86%s%s%s", d, ne ? ";ext=" : "", ext);
	/* service numbers 400/800 */
	if (len == 10 && (starts_with(d, "400") || starts_with(d, "800")))
		return psprintf("+86%s%s%s", d, ne ? ";ext=" : "", ext);
	/* landlines: trunk 0 (dropped after +86), area code, local number */
	if (d[0] == '0')
	{
		d++;
		len--;
	}
	if (len >= 9 && len <= 11 && d[0] != '0' && (d[0] != '1' || starts_with(d, "10")))
	{
		int			area = (d[0] == '2' || starts_with(d, "10")) ? 2 : 3;
		int			local = len - area;

		if ((area == 2 && local == 8) || (area == 3 && (local == 7 || local == 8)))
			return psprintf("+86%s%s%s", d, ne ? ";ext=" : "", ext);
	}
	if (len == 7 || len == 8)
		*problem = "a landline number without its area code";
	else if (len == 11 && d[0] == '1')
		*problem = "not a mainland mobile number (they start with 13 to 19)";
	else
		*problem = psprintf("not a mainland China number (%d digits)", len);
	return NULL;
}

Datum
concord_normalize_phone(PG_FUNCTION_ARGS)
{
	const char *problem;
	char	   *p = identity_phone(text_to_cstring(PG_GETARG_TEXT_PP(0)), &problem);

	if (p == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p));
}

Datum
concord_phone_problem(PG_FUNCTION_ARGS)
{
	const char *problem;

	(void) identity_phone(text_to_cstring(PG_GETARG_TEXT_PP(0)), &problem);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* ------------------------------------------------------------------------
 * Email
 * ------------------------------------------------------------------------
 */

/*
 * concord.normalize_email(email, strip_plus): trimmed, half-width, lower
 * case; with strip_plus, "name+tag@host" becomes "name@host".  NULL unless
 * it looks like local@domain.tld.
 */
Datum
concord_normalize_email(PG_FUNCTION_ARGS)
{
	char	   *s = ascii_lower(squeeze(arg_script(fcinfo, IDENTITY_HALFWIDTH)));
	bool		strip_plus = PG_NARGS() > 1 && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	char	   *at = strchr(s, '@');
	char	   *dot;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL || strchr(s, ' ') != NULL)
		PG_RETURN_NULL();
	dot = strrchr(at, '.');
	if (dot == NULL || dot == at + 1 || dot[1] == '\0' || strstr(at, "..") != NULL)
		PG_RETURN_NULL();
	for (const char *c = s; *c; c++)
		if ((unsigned char) *c < 0x21)
			PG_RETURN_NULL();
	if (strip_plus)
	{
		char	   *plus = memchr(s, '+', at - s);

		if (plus != NULL && plus > s)
			s = psprintf("%.*s%s", (int) (plus - s), s, at);
	}
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------
 */

/*
 * A person's name in one script with its case kept: half-width,
 * simplified characters, middle dots and punctuation as spaces.
 */
static char *
name_fold_cased(const char *text)
{
	char	   *s = identity_transliterate(text, strlen(text), IDENTITY_HALFWIDTH);

	s = identity_transliterate(s, strlen(s), IDENTITY_SIMPLIFIED);
	s = replace_all(s, "·", " ");
	s = replace_all(s, "•", " ");
	s = replace_all(s, "・", " ");
	for (char *c = s; *c; c++)
		if (*c == '.' || *c == ',' || *c == '-' || *c == '_')
			*c = ' ';
	return s;
}

/*
 * A person's name folded for comparison within one script: half-width,
 * simplified characters, lower-case Latin, middle dots as spaces, white
 * space collapsed.
 */
char *
identity_name_fold(const char *text)
{
	return squeeze(ascii_lower(name_fold_cased(text)));
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

#define NAME_MAX_TOKENS 64
#define NAME_MAX_WORD 64		/* longer words are not split */
#define CAMEL '|'				/* marks "ZhangSan"'s boundary in a word */

/*
 * The pinyin syllables of word (len lower-case ASCII letters), as their
 * starts in starts[] (and starts[n] = len); n, or 0 when the word is not
 * all pinyin.  Of the ways to split it, the one with the fewest syllables
 * ("xian", not "xi an": the two cannot be told apart without the
 * apostrophe, and the longer syllable is the likelier reading); among as
 * few, the one with the fewest syllables after the first that start with
 * a, o or e (pinyin would have written an apostrophe before them, so
 * "fangan" is "fan gan"); then the one with the longer syllables first.
 */
static int
pinyin_split(const char *word, int len, int *starts)
{
	int			count[NAME_MAX_WORD + 1];
	int			vowel[NAME_MAX_WORD + 1];
	int			next[NAME_MAX_WORD + 1];
	int			longest;
	int			n = 0;

	if (len <= 0 || len > NAME_MAX_WORD)
		return 0;
	for (int i = 0; i < len; i++)
		if (word[i] < 'a' || word[i] > 'z')
			return 0;
	longest = identity_pinyin_syllable_max();

	/* count[i]: the fewest syllables word + i splits into (INT_MAX: none) */
	count[len] = 0;
	vowel[len] = 0;
	for (int i = len - 1; i >= 0; i--)
	{
		count[i] = INT_MAX;
		for (int l = Min(longest, len - i); l >= 1; l--)
		{
			int			c,
						v;

			if (count[i + l] == INT_MAX || !identity_pinyin_syllable(word + i, l))
				continue;
			c = count[i + l] + 1;
			v = vowel[i + l] + (i > 0 && strchr("aoe", word[i]) != NULL);
			if (c < count[i] || (c == count[i] && v < vowel[i]))
			{
				count[i] = c;
				vowel[i] = v;
				next[i] = i + l;
			}
		}
	}
	if (count[0] == INT_MAX)
		return 0;
	for (int i = 0; i < len; i = next[i])
		starts[n++] = i;
	starts[n] = len;
	return n;
}

/*
 * The pinyin syllables of word (a name's word, lower case, with CAMEL
 * marks where a capital or an apostrophe began a part), palloc'd into
 * syl (room for NAME_MAX_WORD); their number, or 0 when the word is not
 * all pinyin.  Split at its camel-case boundaries when each part is
 * pinyin ("ZhangSan", "Xi'an"), else as pinyin_split finds them.
 */
static int
word_syllables(const char *word, char **syl)
{
	int			len = strlen(word);
	int			starts[NAME_MAX_WORD + 1];
	char	   *w;
	int			n = 0,
				ns;

	if (len > NAME_MAX_WORD)
		return 0;
	if (strchr(word, CAMEL) != NULL)
	{
		char	   *copy = pstrdup(word);
		char	   *save = NULL;
		bool		all = true;

		for (char *p = strtok_r(copy, "|", &save); p && all; p = strtok_r(NULL, "|", &save))
		{
			ns = pinyin_split(p, strlen(p), starts);
			if (ns == 0 || n + ns > NAME_MAX_WORD)
				all = false;
			for (int i = 0; all && i < ns; i++)
				syl[n++] = pnstrdup(p + starts[i], starts[i + 1] - starts[i]);
		}
		if (all)
			return n;
		n = 0;
	}
	/* the word without its boundary marks */
	w = palloc(len + 1);
	len = 0;
	for (const char *c = word; *c; c++)
		if (*c != CAMEL)
			w[len++] = *c;
	w[len] = '\0';
	ns = pinyin_split(w, len, starts);
	for (int i = 0; i < ns; i++)
		syl[n++] = pnstrdup(w + starts[i], starts[i + 1] - starts[i]);
	return n;
}

/* A word without its camel-case marks. */
static char *
word_whole(const char *word)
{
	char	   *w = palloc(strlen(word) + 1);
	int			len = 0;

	for (const char *c = word; *c; c++)
		if (*c != CAMEL)
			w[len++] = *c;
	w[len] = '\0';
	return w;
}

/*
 * Chinese family names in pinyin: the common single-character ones (a
 * syllable may stand for several characters: li for 李, 黎 and 厉) and
 * the compound ones.  Sorted, for bsearch.
 */
static const char *const surname_pinyin[] = {
	"ai", "an", "ao", "bai", "ban", "bao", "bei", "bi", "bian", "bo", "bu", "cai", "cao", "cen", "chai",
	"chang", "chao", "che", "chen", "cheng", "chi", "chu", "cui", "dai", "deng", "di", "diao", "ding",
	"dong", "dongfang", "dou", "du", "duan", "fan", "fang", "fei", "feng", "fu", "gan", "gao", "ge",
	"geng", "gong", "gongsun", "gou", "gu", "guan", "guo", "han", "hao", "he", "hong", "hou", "hu",
	"hua", "huang", "huangfu", "huo", "ji", "jia", "jian", "jiang", "jiao", "jin", "jing", "ju", "kang",
	"ke", "kong", "kou", "kuang", "lai", "lan", "lang", "lei", "leng", "li", "lian", "liang", "liao",
	"lin", "ling", "linghu", "liu", "long", "lou", "lu", "luo", "ma", "mai", "man", "mao", "mei", "meng",
	"mi", "miao", "min", "ming", "mo", "mou", "mu", "murong", "ni", "nie", "ning", "niu", "ou",
	"ouyang", "pan", "pang", "pei", "peng", "pi", "piao", "ping", "pu", "qi", "qian", "qiao", "qin",
	"qiu", "qu", "quan", "rao", "ren", "rong", "ruan", "sang", "sha", "shan", "shang", "shangguan",
	"shao", "she", "shen", "sheng", "shi", "shu", "sima", "situ", "song", "su", "sui", "sun", "tai",
	"tan", "tang", "tao", "teng", "tian", "tong", "tu", "wan", "wang", "wei", "wen", "weng", "wu", "xi",
	"xia", "xiahou", "xian", "xiang", "xiao", "xie", "xin", "xing", "xiong", "xu", "xuan", "xue", "yan",
	"yang", "yao", "ye", "yi", "yin", "ying", "yong", "you", "yu", "yuan", "yue", "yun", "zang", "zeng",
	"zha", "zhai", "zhan", "zhang", "zhangsun", "zhao", "zhen", "zheng", "zhong", "zhou", "zhu",
	"zhuang", "zhuge", "zhuo", "zong", "zou", "zu", "zuo"
};

/* Is s a Chinese family name in pinyin (surname_pinyin)? */
static bool
pinyin_surname(const char *s)
{
	return bsearch(&s, surname_pinyin, lengthof(surname_pinyin), sizeof(char *), cmp_cstr) != NULL;
}

/*
 * Do the words of a name in Latin letters read as a Chinese name in
 * pinyin -- so that each is cut into its syllables?  Many English names
 * are pinyin letters too ("michaela" is mi-cha-e-la, "diana" dian-a), so
 * a name is read as pinyin only when it has a Chinese name's shape: every
 * word all pinyin, two to four syllables in all, no syllable inside a
 * word that is a bare vowel (a, e, o: pinyin writes an apostrophe there,
 * and Chinese given names rarely have one), and a family name at one end
 * -- the first syllable (or two) of the first word, or the last word.
 * syl[w] and nsyl[w]: each word's syllables.
 */
static bool
pinyin_shaped(char **words, int nw, char ***syl, const int *nsyl)
{
	int			total = 0;
	bool		surname;

	for (int w = 0; w < nw; w++)
	{
		if (nsyl[w] == 0)
			return false;
		total += nsyl[w];
		for (int k = 1; k < nsyl[w]; k++)
			if (strcmp(syl[w][k], "a") == 0 || strcmp(syl[w][k], "e") == 0 || strcmp(syl[w][k], "o") == 0)
				return false;
	}
	if (total < 2 || total > 4)
		return false;
	surname = pinyin_surname(syl[0][0]) || pinyin_surname(word_whole(words[nw - 1]));
	if (!surname && nsyl[0] >= 2)
	{
		char	   *two = psprintf("%s%s", syl[0][0], syl[0][1]);

		surname = pinyin_surname(two);
	}
	return surname;
}

/*
 * The tokens of a name, in order: the pinyin syllables of its Chinese
 * characters and of a name in Latin letters that reads as pinyin
 * ("ZhangSan", "zhangsan", "Xi'an": see pinyin_shaped), and otherwise its
 * Latin words whole.  A name written "family, given" (Reid, Lachlan) comes
 * given name first, as a name without a comma.  *words: whether the tokens
 * are Latin words (not all syllables): a name whose order tells its given
 * and family names apart.
 */
static int
name_tokens(const char *text, char **tok, bool *words, char **folded)
{
	char	   *s;
	StringInfoData b;
	int			n = 0,
				nw = 0;
	char	   *save = NULL;
	bool		latin = false;
	char	   *wordv[NAME_MAX_TOKENS];
	const char *comma;

	*words = false;
	/* "Reid, Lachlan": the words after the one comma come first */
	comma = strchr(text, ',');
	if (comma && strchr(comma + 1, ',') == NULL)
		text = psprintf("%s %.*s", comma + 1, (int) (comma - text), text);
	s = name_fold_cased(text);
	if (folded)
		*folded = pstrdup(s);

	/*
	 * Punctuation left ends a word, but an apostrophe between letters
	 * (O'Brien, Xi'an) and a lower-case letter followed by a capital mark
	 * a boundary inside one, which the pinyin transliterator keeps while it
	 * lowers the case.
	 */
	initStringInfo(&b);
	for (const char *c = s; *c; c++)
	{
		unsigned char ch = (unsigned char) *c;

		if (ch == '\'' && c > s && isalpha((unsigned char) c[-1]) && isalpha((unsigned char) c[1]))
		{
			appendStringInfoChar(&b, CAMEL);
			continue;
		}
		if (ch < 0x80 && !isalnum(ch))
			ch = ' ';
		else if (ch >= 'A' && ch <= 'Z' && c > s && c[-1] >= 'a' && c[-1] <= 'z')
			appendStringInfoChar(&b, CAMEL);
		appendStringInfoChar(&b, ch);
	}
	for (int i = 0; i < b.len && !latin; i++)
		latin = (b.data[i] >= 'a' && b.data[i] <= 'z') || (b.data[i] >= 'A' && b.data[i] <= 'Z');
	s = identity_transliterate(b.data, b.len, IDENTITY_PINYIN);
	for (char *c = s; *c; c++)
		if (!isalnum((unsigned char) *c) && *c != CAMEL)
			*c = ' ';
	for (char *t = strtok_r(s, " ", &save); t && n + nw < NAME_MAX_TOKENS; t = strtok_r(NULL, " ", &save))
	{
		/*
		 * the pinyin of Chinese characters is syllables already: no need
		 * of the syllable set (nor the cost of building it) to split them
		 */
		if (!latin)
		{
			tok[n++] = pstrdup(t);
			continue;
		}
		/* passports write ü as yu or v: Lyu, Lv for 吕 (lu, as ICU writes it) */
		if (strcmp(t, "lyu") == 0 || strcmp(t, "lv") == 0)
			t = pstrdup("lu");
		else if (strcmp(t, "nyu") == 0 || strcmp(t, "nv") == 0)
			t = pstrdup("nu");
		wordv[nw++] = t;
	}
	if (latin && nw > 0)
	{
		char	  **syl[NAME_MAX_TOKENS];
		int			nsyl[NAME_MAX_TOKENS];
		bool		split = false;
		bool		shaped;

		for (int w = 0; w < nw; w++)
		{
			syl[w] = palloc(sizeof(char *) * NAME_MAX_WORD);
			nsyl[w] = word_syllables(wordv[w], syl[w]);
			split |= nsyl[w] > 1;
		}
		/* (words of one syllable each are the same whole or split) */
		shaped = split ? pinyin_shaped(wordv, nw, syl, nsyl) : true;
		for (int w = 0; w < nw; w++)
		{
			if (shaped && nsyl[w] > 0)
				for (int k = 0; k < nsyl[w] && n < NAME_MAX_TOKENS; k++)
					tok[n++] = syl[w][k];
			else
			{
				tok[n++] = word_whole(wordv[w]);
				*words |= nsyl[w] == 0 || !shaped;
			}
		}
	}

	/*
	 * A surname read otherwise than the character on its own: 曾 is zeng as
	 * a surname, not ceng (the transliterator reads a character without its
	 * place).  Only a name of Chinese characters alone, two to four, whose
	 * first is the surname.
	 */
	if (!latin && n >= 2 && n <= 4)
	{
		static const char *const readings[][2] = {
			{"曾", "zeng"}, {"单", "shan"}, {"解", "xie"}, {"区", "ou"},
			{"仇", "qiu"}, {"朴", "piao"}, {"翟", "zhai"}, {"查", "zha"},
			{"盖", "ge"}
		};
		const char *first = b.data;

		while (*first == ' ')
			first++;
		for (int i = 0; i < lengthof(readings); i++)
			if (starts_with(first, readings[i][0]))
			{
				tok[0] = pstrdup(readings[i][1]);
				break;
			}
	}
	return n;
}

/*
 * The cross-script key of a name: its pinyin (ASCII, lower case) syllables
 * or words joined without spaces, starting at whichever token makes the
 * smallest string.  Family-name-first and given-name-first spellings are
 * rotations of one another, so 张三, 張三, "Zhang San", "San Zhang" and
 * "ZhangSan" all give "sanzhang", and 欧阳娜娜 and "Nana Ouyang" both
 * "nanaouyang".
 */
char *
identity_name_key(const char *text)
{
	char	   *tok[NAME_MAX_TOKENS];
	bool		words;
	int			n = name_tokens(text, tok, &words, NULL);
	char	   *best = NULL;

	if (n == 0)
		return pstrdup("");
	for (int start = 0; start < n; start++)
	{
		StringInfoData b;

		initStringInfo(&b);
		for (int i = 0; i < n; i++)
			appendStringInfoString(&b, tok[(start + i) % n]);
		if (best == NULL || strcmp(b.data, best) < 0)
			best = b.data;
	}
	return best;
}

/*
 * A name's pinyin syllables, sorted, or its Latin words in their order
 * (given names first, the family name last), space-separated: what
 * matching compares when two name keys differ -- syllables as a set, a
 * Latin name's given and family names each with the other's.
 */
char *
identity_name_syllables(const char *text)
{
	char	   *tok[NAME_MAX_TOKENS];
	bool		words;
	int			n = name_tokens(text, tok, &words, NULL);
	StringInfoData b;

	if (!words)
		qsort(tok, n, sizeof(char *), cmp_cstr);
	initStringInfo(&b);
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s", i ? " " : "", tok[i]);
	return b.data;
}

Datum
concord_name_syllables(PG_FUNCTION_ARGS)
{
	char	   *s = identity_name_syllables(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (*s == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

Datum
concord_normalize_name(PG_FUNCTION_ARGS)
{
	char	   *s = identity_name_fold(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (*s == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

Datum
concord_name_key(PG_FUNCTION_ARGS)
{
	char	   *s = identity_name_key(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (*s == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

/* ------------------------------------------------------------------------
 * Places (shared by companies and addresses)
 * ------------------------------------------------------------------------
 */

/* Province-level divisions: the name, and its full form. */
static const char *const provinces[][2] = {
	{"北京", "北京市"}, {"天津", "天津市"}, {"上海", "上海市"}, {"重庆", "重庆市"},
	{"河北", "河北省"}, {"山西", "山西省"}, {"辽宁", "辽宁省"}, {"吉林", "吉林省"},
	{"黑龙江", "黑龙江省"}, {"江苏", "江苏省"}, {"浙江", "浙江省"}, {"安徽", "安徽省"},
	{"福建", "福建省"}, {"江西", "江西省"}, {"山东", "山东省"}, {"河南", "河南省"},
	{"湖北", "湖北省"}, {"湖南", "湖南省"}, {"广东", "广东省"}, {"海南", "海南省"},
	{"四川", "四川省"}, {"贵州", "贵州省"}, {"云南", "云南省"}, {"陕西", "陕西省"},
	{"甘肃", "甘肃省"}, {"青海", "青海省"}, {"台湾", "台湾省"},
	{"内蒙古", "内蒙古自治区"}, {"广西", "广西壮族自治区"}, {"西藏", "西藏自治区"},
	{"宁夏", "宁夏回族自治区"}, {"新疆", "新疆维吾尔自治区"},
	{"香港", "香港特别行政区"}, {"澳门", "澳门特别行政区"},
	{NULL, NULL}
};

/* Cities that lead company names ("武汉博雅教育"): the provincial capitals and other large cities. */
static const char *const cities[] = {
	"石家庄", "太原", "沈阳", "长春", "哈尔滨", "南京", "杭州", "合肥", "福州", "南昌",
	"济南", "郑州", "武汉", "长沙", "广州", "海口", "成都", "贵阳", "昆明", "西安",
	"兰州", "西宁", "呼和浩特", "南宁", "拉萨", "银川", "乌鲁木齐", "深圳", "苏州", "宁波",
	"厦门", "青岛", "大连", "无锡", "佛山", "东莞", "温州", "珠海", "绍兴", "常州",
	NULL
};

/* The length of a leading city name (with an optional 市) of s, or 0. */
static int
city_prefix(const char *s)
{
	for (int i = 0; cities[i]; i++)
		if (starts_with(s, cities[i]))
		{
			int			len = strlen(cities[i]);

			return starts_with(s + len, "市") ? len + (int) strlen("市") : len;
		}
	return 0;
}

/* Is province i one of the four municipalities (province and city at once)? */
static bool
is_municipality(int i)
{
	return i < 4;
}

/* The province s starts with (index), and the length of its spelling there. */
static int
province_prefix(const char *s, int *len)
{
	for (int i = 0; provinces[i][0]; i++)
	{
		if (starts_with(s, provinces[i][1]))
		{
			*len = strlen(provinces[i][1]);
			return i;
		}
		if (starts_with(s, provinces[i][0]))
		{
			*len = strlen(provinces[i][0]);
			/* "上海市" as well as "上海"; "广东省" as well as "广东" */
			if (starts_with(s + *len, "省") || starts_with(s + *len, "市"))
				*len += strlen("省");
			return i;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * Companies
 * ------------------------------------------------------------------------
 */

/* Legal forms, longest first; removed from the end (repeatedly). */
static const char *const legal_forms_cn[] = {
	"股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "集团",
	"分公司", "公司", NULL
};
static const char *const legal_forms_en[] = {
	"co", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "llc",
	"plc", "company", "group", "gmbh", "ag", "sa", "pte", "holdings", NULL
};

/* Remove parenthesised parts: "某某科技(上海)" -> "某某科技". */
static char *
drop_parens(const char *s)
{
	StringInfoData b;
	int			depth = 0;

	initStringInfo(&b);
	for (; *s; s++)
	{
		if (*s == '(' || *s == '[')
			depth++;
		else if ((*s == ')' || *s == ']') && depth > 0)
			depth--;
		else if (depth == 0)
			appendStringInfoChar(&b, *s);
	}
	return b.data;
}

/*
 * A company name folded for comparison: half-width, simplified, lower
 * case, without parenthesised parts, legal forms (有限公司, Co., Ltd., ...)
 * or a leading province, municipality or large city.
 */
static char *
company_fold(const char *text)
{
	char	   *s = identity_transliterate(text, strlen(text), IDENTITY_HALFWIDTH);
	bool		changed = true;
	int			plen;
	size_t		len;

	s = identity_transliterate(s, strlen(s), IDENTITY_SIMPLIFIED);
	s = ascii_lower(drop_parens(s));
	for (char *c = s; *c; c++)
		if (*c == '.' || *c == ',' || *c == '&' || *c == '-')
			*c = ' ';
	s = squeeze(s);

	/*
	 * Legal forms come off the end, one after another; s[0..len) is what is
	 * left (squeezed: no space at either end, none doubled), so a name of
	 * many forms costs time in proportion to its length.
	 */
	len = strlen(s);
	while (changed)
	{
		CHECK_FOR_INTERRUPTS();
		changed = false;
		/* a name that is nothing but a legal form stays as it is */
		for (int i = 0; legal_forms_cn[i]; i++)
			if (len == strlen(legal_forms_cn[i]) && memcmp(s, legal_forms_cn[i], len) == 0)
			{
				s[len] = '\0';
				return s;
			}
		for (int i = 0; legal_forms_cn[i]; i++)
		{
			size_t		flen = strlen(legal_forms_cn[i]);

			if (len > flen && memcmp(s + len - flen, legal_forms_cn[i], flen) == 0)
			{
				len -= flen;
				while (len > 0 && s[len - 1] == ' ')
					len--;
				changed = true;
			}
		}
		for (int i = 0; legal_forms_en[i]; i++)
		{
			size_t		flen = strlen(legal_forms_en[i]);

			/* the last word, after a space, is the form */
			if (len > flen && s[len - flen - 1] == ' ' &&
				memcmp(s + len - flen, legal_forms_en[i], flen) == 0)
			{
				len -= flen + 1;
				changed = true;
			}
		}
	}
	s[len] = '\0';

	/*
	 * A leading place comes off -- unless what is left is too short to
	 * name anyone (北京大学 and 上海大学 are not both 大学; 上海银行 is not
	 * 银行): at least three characters must stay
	 */
	if (province_prefix(s, &plen) >= 0 && s[plen] != '\0' && pg_mbstrlen(s + plen) >= 3)
		s = squeeze(s + plen);
	plen = city_prefix(s);
	if (plen > 0 && s[plen] != '\0' && pg_mbstrlen(s + plen) >= 3)
		s = squeeze(s + plen);
	return s;
}

/*
 * The city a place name starts with, as a number: 1 + its index among the
 * large cities, 100 + its index among the municipalities (北京, 上海, ...),
 * after an optional province ("广东深圳"); 0 for none or a province alone
 * (广东 holds 广州 and 深圳: it is no other place than either).  *len: the
 * bytes it takes.
 */
static int
place_of(const char *s, int *len)
{
	int			plen = 0;
	int			p = province_prefix(s, &plen);

	if (p >= 0 && is_municipality(p))
	{
		*len = plen;
		return 100 + p;
	}
	if (p < 0)
		plen = 0;
	for (int i = 0; cities[i]; i++)
		if (starts_with(s + plen, cities[i]))
		{
			*len = plen + city_prefix(s + plen);
			return 1 + i;
		}
	*len = 0;
	return 0;
}

/*
 * The city a company's name gives (see place_of), or 0: in parentheses
 * ("华信科技(广州)") or leading ("广州华信科技有限公司", as company_fold
 * takes it off: not 南京银行, a name of its own).  normalize_company drops
 * it, for one employer is written with and without it; but names of two
 * different cities are two employers' (上海中科科技有限公司, 中科科技(广州)),
 * which identity_compare reads from this.  From the name as written.
 */
int
identity_company_place(const char *text)
{
	int			place = 0;
	int			len;

	/*
	 * (no transliteration, which would cost more than the rest of a
	 * record's reading: full-width parentheses are looked for as well, and
	 * a place in traditional characters is none -- no conflict, no harm)
	 */
	for (const char *c = text; *c && place == 0; c++)
		if (*c == '(' || *c == '[')
			place = place_of(c + 1, &len);
		else if (starts_with(c, "（"))
			place = place_of(c + strlen("（"), &len);
	if (place == 0 && (place = place_of(text, &len)) != 0)
	{
		/*
		 * a leading place counts as company_fold takes it off: if at least
		 * three characters stay without the legal forms (南京银行 is a
		 * name of its own)
		 */
		char	   *rest = drop_parens(text + len);
		size_t		rlen = strlen(rest);
		bool		changed = true;

		while (changed)
		{
			changed = false;
			for (int i = 0; legal_forms_cn[i]; i++)
			{
				size_t		flen = strlen(legal_forms_cn[i]);

				if (rlen > flen && memcmp(rest + rlen - flen, legal_forms_cn[i], flen) == 0)
				{
					rlen -= flen;
					changed = true;
				}
			}
		}
		rest[rlen] = '\0';
		if (pg_mbstrlen(rest) < 3)
			place = 0;
		pfree(rest);
	}
	return place;
}

Datum
concord_normalize_company(PG_FUNCTION_ARGS)
{
	char	   *s = company_fold(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (*s == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(s));
}

/* ------------------------------------------------------------------------
 * Placeholders
 * ------------------------------------------------------------------------
 */

/* Values that stand for no name, or for no employer, whoever types them. */
static const char *const placeholder_names[] = {
	"未知", "不详", "无", "暂无", "无名", "匿名", "客户", "顾客", "用户", "先生", "女士", "小姐",
	"老板", "测试", "test", "unknown", "none", "null", "n/a", "na", "-", "?", NULL
};
static const char *const placeholder_companies[] = {
	"个人", "个体", "个体户", "无", "暂无", "未知", "不详", "待定", "自由职业", "自由职业者",
	"无业", "退休", "学生", "none", "null", "n/a", "na", "-", "?", NULL
};

/*
 * Honorifics, titles and kinship terms after a surname: 张先生, 王总, 孙工,
 * 李姐 name the surname only.
 */
static const char *const honorifics[] = {
	"先生", "女士", "小姐", "太太", "夫人", "总", "副总", "总经理", "经理", "老师", "师傅", "老板",
	"总监", "主任", "主管", "助理", "秘书", "顾问", "专员", "阿姨", "工", "总工", "工程师", "姐",
	"大姐", "哥", "大哥", "叔", "大叔", "大爷", "大妈", "医生", "大夫", "律师", "会计", "教授",
	"博士", "同学", "董", "董事长", "处长", "科长", "局长", "部长", "院长", "校长", "所长", "厂长",
	"店长", "老总", NULL
};

/* Family names of two characters, which an honorific may follow too (欧阳女士). */
static const char *const compound_surnames[] = {
	"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "公孙", "司徒", "夏侯", "长孙",
	"尉迟", "宇文", "端木", "澹台", "轩辕", "闻人", "南宫", "呼延", "独孤", "申屠", "西门", NULL
};

/*
 * Is s (lower-cased, squeezed) a Chinese family name followed by an
 * honorific?  The family name's length in bytes, or 0.
 */
static int
surname_and_honorific(const char *s)
{
	int			first;

	if ((unsigned char) s[0] < 0x80)
		return 0;
	first = pg_mblen(s);
	for (int c = 0; compound_surnames[c]; c++)
		if (strncmp(s, compound_surnames[c], strlen(compound_surnames[c])) == 0)
		{
			first = strlen(compound_surnames[c]);
			break;
		}
	for (int i = 0; honorifics[i]; i++)
		if (strcmp(s + first, honorifics[i]) == 0)
			return first;
	return 0;
}

/*
 * Does a name (name) or an employer stand for nobody in particular (see
 * concord_identity_placeholder)?  *surname: for a name that is a family
 * name and an honorific (张先生), the family name's length in bytes of
 * *folded (the value lower-cased, half-width, squeezed); else 0.
 */
static bool
placeholder_value(const char *value, int len, bool name, char **folded, int *surname)
{
	const char *const *list = name ? placeholder_names : placeholder_companies;
	char	   *s;

	*surname = 0;
	*folded = NULL;

	/*
	 * (called for every row a resolve reads: a long value is no
	 * placeholder, and only full-width forms, U+FF00..U+FFEF, need the
	 * transliterator)
	 */
	if (len > 64)
		return false;
	s = pnstrdup(value, len);
	if (memchr(s, 0xEF, len) != NULL)
		s = identity_transliterate(s, len, IDENTITY_HALFWIDTH);
	s = squeeze(ascii_lower(s));
	*folded = s;
	if (*s == '\0')
		return true;
	for (int i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	if (name)
		*surname = surname_and_honorific(s);
	return *surname > 0;
}

/*
 * concord.identity_placeholder(kind text, value text) RETURNS boolean
 *
 * Does a name (kind 'name') or an employer (kind 'company') stand for
 * nobody in particular: 未知, 客户, 先生, a surname and an honorific
 * (张先生, 王总), 个人 as a company?  resolve keeps such values out of
 * matching (as missing): 301 rows sharing 个人 are no colleagues.
 */
Datum
concord_identity_placeholder(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *t = PG_GETARG_TEXT_PP(1);
	bool		name = strcmp(kind, "name") == 0;
	char	   *folded;
	int			surname;

	if (!name && strcmp(kind, "company") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no placeholders of kind \"%s\"", kind),
				 errhint("Kinds: name, company.")));
	PG_RETURN_BOOL(placeholder_value(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), name, &folded, &surname));
}

/* Is code point u a Chinese character (CJK unified ideographs, their extensions, compatibility ones)? */
static bool
han_char(pg_wchar u)
{
	return (u >= 0x3400 && u <= 0x4DBF) || (u >= 0x4E00 && u <= 0x9FFF) ||
		(u >= 0xF900 && u <= 0xFAFF) || (u >= 0x20000 && u <= 0x2FFFF);
}

/*
 * The characters of a name written in Chinese characters alone (two or
 * more; spaces aside: 王 宁 is 王宁) as name_fold_cased left them in
 * folded (simplified, half-width), or NULL: a name in Latin letters, or
 * with a middle dot (a transliterated name, 买买提·艾力, whose parts may
 * come in either order) or a comma.
 */
static char *
han_written(const char *text, const char *folded)
{
	StringInfoData b;
	int			nchars = 0;

	if (strchr(text, ',') || strchr(text, '.') || strstr(text, "·") || strstr(text, "•") ||
		strstr(text, "・") || strstr(text, "，"))
		return NULL;
	initStringInfo(&b);
	for (const char *p = folded; *p;)
	{
		int			l = pg_utf_mblen((const unsigned char *) p);

		if (*p == ' ')
		{
			p++;
			continue;
		}
		if (l < 3 || !han_char(utf8_to_unicode((const unsigned char *) p)))
			return NULL;
		appendBinaryStringInfo(&b, p, l);
		nchars++;
		p += l;
	}
	return nchars >= 2 ? b.data : NULL;
}

/*
 * concord.identity_name_form(name text) RETURNS text
 *
 * What concord.identity_record keeps of a name for matching, in its
 * syllables column:
 *   - a name in Chinese characters (see han_written): its pinyin
 *     syllables in written order, the family name first, a tab and its
 *     characters (simplified): "xu chao wei<TAB>徐超伟".  The name key
 *     rotates (张三 and San Zhang share one), so 于洋 and 杨宇 share
 *     "yangyu"; written in characters, the family name's place is known
 *     and the two are told apart, as 徐超伟 and 许超伟 (one sound, two
 *     names) are;
 *   - a family name and an honorific (王女士, 欧阳先生), a placeholder with
 *     no name key: the family name's syllables, a tab and its characters
 *     ("ou yang<TAB>欧阳") -- the family name is evidence still;
 *   - another placeholder: NULL;
 *   - any other name: name_syllables'.
 * Matching reads the part before the tab as the syllables.
 */
Datum
concord_identity_name_form(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char	   *text = text_to_cstring(t);
	char	   *folded;
	char	   *tok[NAME_MAX_TOKENS];
	bool		words;
	int			surname;
	int			n;
	char	   *han;
	StringInfoData b;

	if (placeholder_value(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, &folded, &surname))
	{
		char	   *family;
		int			nchars;

		if (surname == 0)
			PG_RETURN_NULL();
		family = identity_transliterate(folded, surname, IDENTITY_SIMPLIFIED);
		nchars = pg_mbstrlen(family);
		/* (the whole, for a family name's reading: 曾先生 is zeng) */
		n = name_tokens(folded, tok, &words, NULL);
		if (n < nchars || words)
			PG_RETURN_NULL();
		initStringInfo(&b);
		for (int i = 0; i < nchars; i++)
			appendStringInfo(&b, "%s%s", i ? " " : "", tok[i]);
		appendStringInfo(&b, "\t%s", family);
		PG_RETURN_TEXT_P(cstring_to_text(b.data));
	}
	n = name_tokens(text, tok, &words, &folded);
	if (n == 0)
		PG_RETURN_NULL();
	han = words ? NULL : han_written(text, folded);
	/* (else name_syllables': sorted syllables, or Latin words in order) */
	if (han == NULL && !words)
		qsort(tok, n, sizeof(char *), cmp_cstr);
	initStringInfo(&b);
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s", i ? " " : "", tok[i]);
	if (han)
		appendStringInfo(&b, "\t%s", han);
	PG_RETURN_TEXT_P(cstring_to_text(b.data));
}

/* ------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------
 */

/* The first segment of s ending in one of suffixes; its length or 0. */
static int
segment(const char *s, const char *const *suffixes)
{
	int			best = 0;

	for (int i = 0; suffixes[i]; i++)
	{
		const char *p = strstr(s, suffixes[i]);

		if (p != NULL)
		{
			int			len = (p - s) + strlen(suffixes[i]);

			/* a segment of 2 to 8 characters, the shortest that fits */
			if (len > (int) strlen(suffixes[i]) && len <= 8 * 3 && (best == 0 || len < best))
				best = len;
		}
	}
	return best;
}

/* Split an address into province, city, district and the rest. */
static void
address_split(const char *text, char **province, char **city, char **district, char **detail)
{
	static const char *const city_suffixes[] = {"自治州", "地区", "盟", "市", NULL};
	static const char *const district_suffixes[] = {"区", "县", "旗", "市", NULL};
	char	   *s = identity_transliterate(text, strlen(text), IDENTITY_HALFWIDTH);
	char	   *nospace;
	int			len;
	int			p;
	StringInfoData b;

	s = identity_transliterate(s, strlen(s), IDENTITY_SIMPLIFIED);
	/* white space carries no meaning in a Chinese address */
	initStringInfo(&b);
	for (const char *c = s; *c; c++)
		if (!isspace((unsigned char) *c))
			appendStringInfoChar(&b, *c);
	nospace = b.data;
	s = nospace;

	*province = *city = *district = NULL;
	p = province_prefix(s, &len);
	if (p >= 0)
	{
		*province = pstrdup(provinces[p][1]);
		s += len;
		if (is_municipality(p))
			*city = pstrdup(provinces[p][1]);
	}
	if (*city == NULL && (len = segment(s, city_suffixes)) > 0)
	{
		*city = pnstrdup(s, len);
		s += len;
	}
	if ((len = segment(s, district_suffixes)) > 0)
	{
		*district = pnstrdup(s, len);
		s += len;
	}
	*detail = *s ? pstrdup(s) : NULL;
}

/*
 * concord.address_parts(address) returns (province, city, district,
 * detail): the province-level division in its full form, the city, the
 * district or county, and the rest.
 */
Datum
concord_address_parts(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4];
	char	   *parts[4];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	address_split(text_to_cstring(PG_GETARG_TEXT_PP(0)), &parts[0], &parts[1], &parts[2], &parts[3]);
	for (int i = 0; i < 4; i++)
	{
		nulls[i] = parts[i] == NULL;
		values[i] = parts[i] ? CStringGetTextDatum(parts[i]) : (Datum) 0;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* concord.normalize_address(address): the parts joined by single spaces. */
Datum
concord_normalize_address(PG_FUNCTION_ARGS)
{
	char	   *parts[4];
	StringInfoData b;

	address_split(text_to_cstring(PG_GETARG_TEXT_PP(0)), &parts[0], &parts[1], &parts[2], &parts[3]);
	initStringInfo(&b);
	for (int i = 0; i < 4; i++)
	{
		/* a municipality is its own city: say it once */
		if (parts[i] == NULL || (i == 1 && parts[0] && strcmp(parts[0], parts[1]) == 0))
			continue;
		appendStringInfo(&b, "%s%s", b.len ? " " : "", parts[i]);
	}
	if (b.len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ascii_lower(b.data)));
}

/* ------------------------------------------------------------------------
 * Resident ID numbers (GB 11643)
 * ------------------------------------------------------------------------
 */

/* The check character of the first 17 characters of an 18-character ID. */
static char
cn_id_check(const char *id17)
{
	static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char checks[] = "10X98765432";
	int			sum = 0;

	for (int i = 0; i < 17; i++)
		sum += (id17[i] - '0') * weights[i];
	return checks[sum % 11];
}

/* Is yyyymmdd a real date between 1900 and 2099? */
static bool
valid_birth(const char *d)
{
	int			y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
	int			m = (d[4] - '0') * 10 + (d[5] - '0');
	int			day = (d[6] - '0') * 10 + (d[7] - '0');
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1900 || y > 2099 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1])
		return false;
	if (m == 2 && day == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/*
 * The 18-character form of a resident ID number (a 15-character one of
 * before 1999 is converted), upper-case X; NULL with *problem set when it
 * is not valid.
 */
static char *
cn_id(const char *text, const char **problem)
{
	char	   *s = squeeze(identity_transliterate(text, strlen(text), IDENTITY_HALFWIDTH));
	char		id[19];
	int			n = 0;

	*problem = NULL;
	for (const char *c = s; *c; c++)
	{
		if (*c == ' ' || *c == '-')
			continue;
		if (n >= 18 || !(isdigit((unsigned char) *c) || ((*c == 'x' || *c == 'X') && n == 17)))
		{
			*problem = "a resident ID number has 18 characters: 17 digits and a digit or X";
			return NULL;
		}
		id[n++] = pg_ascii_toupper((unsigned char) *c);
	}
	id[n] = '\0';
	if (n == 15)
	{
		/* the old form: 6-digit region, yymmdd, 3-digit sequence */
		memmove(id + 8, id + 6, 9);
		id[6] = '1';
		id[7] = '9';
		id[17] = cn_id_check(id);
		id[18] = '\0';
		n = 18;
	}
	if (n != 18)
	{
		*problem = "a resident ID number has 18 characters (or 15 in the old form)";
		return NULL;
	}
	if (!valid_birth(id + 6))
	{
		*problem = "the date of birth in it is not a date";
		return NULL;
	}
	if (cn_id_check(id) != id[17])
	{
		*problem = "the check character does not match";
		return NULL;
	}
	return pstrdup(id);
}

Datum
concord_normalize_cn_id(PG_FUNCTION_ARGS)
{
	const char *problem;
	char	   *id = cn_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), &problem);

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
concord_cn_id_problem(PG_FUNCTION_ARGS)
{
	const char *problem;

	(void) cn_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), &problem);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* ------------------------------------------------------------------------
 * Transliteration, as SQL functions
 * ------------------------------------------------------------------------
 */

Datum
concord_to_halfwidth(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(arg_script(fcinfo, IDENTITY_HALFWIDTH)));
}

Datum
concord_to_simplified(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(arg_script(fcinfo, IDENTITY_SIMPLIFIED)));
}

Datum
concord_to_pinyin(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(squeeze(arg_script(fcinfo, IDENTITY_PINYIN))));
}
