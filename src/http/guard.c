/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The destination guard: which URLs a request may reach, and which
 *	  addresses a connection may be opened to.
 *
 * Two checks, both in C and both unavoidable from SQL:
 *
 * 1. Before a request (and before each redirect hop) its URL must use http
 *    or https and its host and port must match a row of concord.http_allow
 *    (empty table: nothing is allowed).
 * 2. When libcurl opens a socket, the address it resolved is checked again:
 *    a host admitted by name may only reach public addresses unless its row
 *    says allow_private; a cloud metadata address is reachable only through
 *    a row that names that address literally.  This defeats DNS rebinding,
 *    because the check sees the address actually dialled.
 *
 * Address classification is a pure function over 16-byte (IPv6 or
 * IPv4-mapped) addresses, exposed to SQL for tests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "concord.h"
#include "http/http.h"

PG_FUNCTION_INFO_V1(concord_http_address_class);
PG_FUNCTION_INFO_V1(concord_http_host_pattern_valid);

static const unsigned char v4mapped_prefix[12] =
{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * Parse an IPv4 or IPv6 literal (brackets and an IPv6 zone id allowed) into
 * 16-byte form, IPv4 as IPv4-mapped.  Only strict dotted-quad IPv4 counts:
 * "2130706433" is a host name here, and its resolved address is what the
 * connect check will judge.
 */
bool
http_parse_address(const char *text, unsigned char *addr16, bool *is_v4)
{
	char		buf[INET6_ADDRSTRLEN + 8];
	size_t		len = strlen(text);
	char	   *pct;
	struct in_addr a4;

	if (len == 0 || len >= sizeof(buf))
		return false;
	if (text[0] == '[' && text[len - 1] == ']')
	{
		memcpy(buf, text + 1, len - 2);
		buf[len - 2] = '\0';
	}
	else
		strcpy(buf, text);
	pct = strchr(buf, '%');
	if (pct)
		*pct = '\0';

	if (inet_pton(AF_INET, buf, &a4) == 1)
	{
		memcpy(addr16, v4mapped_prefix, 12);
		memcpy(addr16 + 12, &a4, 4);
		if (is_v4)
			*is_v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr16) == 1)
	{
		if (is_v4)
			*is_v4 = false;
		return true;
	}
	return false;
}

/* Does addr lie in prefix/bits (both 16-byte form)? */
static bool
in_prefix(const unsigned char *addr, const unsigned char *net, int bits)
{
	int			full = bits / 8;
	int			rest = bits % 8;

	if (memcmp(addr, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[full] ^ net[full]) & (0xff << (8 - rest))) == 0;
}

/* Classify an IPv4 address given as four bytes. */
static const char *
class_v4(const unsigned char *b)
{
	uint32		a = ((uint32) b[0] << 24) | ((uint32) b[1] << 16) |
		((uint32) b[2] << 8) | (uint32) b[3];

#define IN4(net, bits) (((a ^ (uint32) (net)) >> (32 - (bits))) == 0)
	if (a == 0xA9FEA9FE ||		/* 169.254.169.254: AWS, GCP, Azure, ... */
		a == 0x646464C8 ||		/* 100.100.100.200: Alibaba Cloud */
		a == 0xA83F8110)		/* 168.63.129.16: Azure host agent */
		return "metadata";
	if (IN4(0x00000000, 8))
		return "unspecified";
	if (IN4(0x7F000000, 8))
		return "loopback";
	if (IN4(0x0A000000, 8) || IN4(0xAC100000, 12) || IN4(0xC0A80000, 16) ||
		IN4(0x64400000, 10))	/* 100.64.0.0/10, carrier-grade NAT */
		return "private";
	if (IN4(0xA9FE0000, 16))
		return "link_local";
	if (IN4(0xE0000000, 4))
		return "multicast";
	if (IN4(0xF0000000, 4) ||	/* 240/4 and broadcast */
		IN4(0xC0000000, 24) ||	/* 192.0.0.0/24 protocol assignments */
		IN4(0xC0000200, 24) ||	/* 192.0.2.0/24 documentation */
		IN4(0xC6336400, 24) ||	/* 198.51.100.0/24 documentation */
		IN4(0xCB007100, 24) ||	/* 203.0.113.0/24 documentation */
		IN4(0xC6120000, 15) ||	/* 198.18.0.0/15 benchmarking */
		IN4(0xC0586300, 24))	/* 192.88.99.0/24 6to4 relay */
		return "reserved";
#undef IN4
	return "public";
}

/*
 * Classify an address: public, loopback, private, link_local, metadata,
 * unspecified, multicast or reserved.  IPv6 forms that embed an IPv4
 * address (mapped, compatible, NAT64, 6to4) take the IPv4 address's class.
 */
const char *
http_address_class_of(const unsigned char *a)
{
	static const unsigned char zero[16] = {0};
	static const unsigned char nat64[16] = {0, 0x64, 0xff, 0x9b};
	static const unsigned char nat64_local[16] = {0, 0x64, 0xff, 0x9b, 0, 1};
	static const unsigned char sixto4[16] = {0x20, 0x02};
	static const unsigned char ula[16] = {0xfc};
	static const unsigned char linklocal6[16] = {0xfe, 0x80};
	static const unsigned char sitelocal6[16] = {0xfe, 0xc0};
	static const unsigned char multicast6[16] = {0xff};
	static const unsigned char doc6[16] = {0x20, 0x01, 0x0d, 0xb8};
	static const unsigned char teredo[16] = {0x20, 0x01, 0, 0};
	static const unsigned char discard6[16] = {0x01, 0};
	static const unsigned char aws_imds6[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0x02, 0x54};

	if (memcmp(a, v4mapped_prefix, 12) == 0)
		return class_v4(a + 12);
	if (memcmp(a, aws_imds6, 16) == 0)
		return "metadata";
	if (memcmp(a, zero, 16) == 0)
		return "unspecified";
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return "loopback";
	if (in_prefix(a, zero, 96))	/* ::a.b.c.d, IPv4-compatible */
		return class_v4(a + 12);
	if (in_prefix(a, nat64_local, 48))
		return "private";
	if (in_prefix(a, nat64, 96))
		return class_v4(a + 12);
	if (in_prefix(a, sixto4, 16))
		return class_v4(a + 2);
	if (in_prefix(a, ula, 7) || in_prefix(a, sitelocal6, 10))
		return "private";
	if (in_prefix(a, linklocal6, 10))
		return "link_local";
	if (in_prefix(a, multicast6, 8))
		return "multicast";
	if (in_prefix(a, doc6, 32) || in_prefix(a, teredo, 32) ||
		in_prefix(a, discard6, 64))
		return "reserved";
	return "public";
}

/*
 * Validate a host pattern as stored in concord.http_allow: a lower-case host
 * name, "*." followed by one, an IP address, or a CIDR block.  Fills rule
 * when given.  On failure sets *why.
 */
static bool
parse_pattern(const char *pattern, HttpAllowRule *rule, const char **why)
{
	const char *slash = strchr(pattern, '/');
	const char *p;
	size_t		len = strlen(pattern);
	int			labellen = 0;
	unsigned char addr[16];
	bool		is_v4;

	if (len == 0)
	{
		*why = "The pattern is empty.";
		return false;
	}

	/* address or CIDR block */
	if (slash || strchr(pattern, ':') ||
		strspn(pattern, "0123456789.") == len)
	{
		char		buf[INET6_ADDRSTRLEN + 8];
		int			bits = -1;

		if (len >= sizeof(buf))
		{
			*why = "The address is too long.";
			return false;
		}
		strcpy(buf, pattern);
		if (slash)
		{
			char	   *end;
			long		v;

			buf[slash - pattern] = '\0';
			errno = 0;
			v = strtol(slash + 1, &end, 10);
			if (*(slash + 1) == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 128)
			{
				*why = "The prefix length after \"/\" must be a number.";
				return false;
			}
			bits = (int) v;
		}
		if (!http_parse_address(buf, addr, &is_v4) || strchr(buf, '%'))
		{
			*why = "It is neither a host name nor an IP address.";
			return false;
		}
		if (bits < 0)
			bits = is_v4 ? 32 : 128;
		else if (is_v4 && bits > 32)
		{
			*why = "An IPv4 prefix length is at most 32.";
			return false;
		}
		if (rule)
		{
			rule->is_address = true;
			memcpy(rule->net, addr, 16);
			rule->prefix = is_v4 ? bits + 96 : bits;
		}
		return true;
	}

	p = pattern;
	if (p[0] == '*')
	{
		if (p[1] != '.' || p[2] == '\0')
		{
			*why = "A wildcard must be a leading \"*.\" followed by a domain.";
			return false;
		}
		p += 2;
	}
	if (len > 253)
	{
		*why = "A host name is at most 253 characters.";
		return false;
	}
	for (; *p; p++)
	{
		char		c = *p;

		if (c == '.')
		{
			if (labellen == 0)
			{
				*why = "A host name label is empty.";
				return false;
			}
			labellen = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || (unsigned char) c >= 0x80))
		{
			*why = (c >= 'A' && c <= 'Z') ?
				"Host names are stored in lower case." :
				"A host name may hold only letters, digits, \"-\", \"_\" and \".\".";
			return false;
		}
		if (++labellen > 63)
		{
			*why = "A host name label is at most 63 characters.";
			return false;
		}
	}
	if (labellen == 0)
	{
		*why = "A host name must not end with \".\".";
		return false;
	}
	if (rule)
		rule->is_address = false;
	return true;
}

/*
 * Read concord.http_allow into a list of rules, in the caller's memory
 * context.  The table is read directly (no SPI, no privilege check on the
 * caller): the guard must work for roles that may not read it.
 */
List *
http_allowlist_load(void)
{
	Oid			relid = concord_relation_oid("http_allow", false);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc;
	AttrNumber	att_pattern,
				att_port,
				att_private;
	List	   *rules = NIL;

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	att_pattern = get_attnum(relid, "host_pattern");
	att_port = get_attnum(relid, "port");
	att_private = get_attnum(relid, "allow_private");
	if (att_pattern == InvalidAttrNumber || att_port == InvalidAttrNumber ||
		att_private == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table concord.http_allow lacks its expected columns"),
				 errhint("Reinstall the extension with ALTER EXTENSION concord UPDATE.")));

	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d;
		HttpAllowRule *rule = palloc0(sizeof(HttpAllowRule));
		const char *why;

		d = heap_getattr(tup, att_pattern, desc, &isnull);
		if (isnull)
			continue;
		rule->pattern = TextDatumGetCString(d);
		d = heap_getattr(tup, att_port, desc, &isnull);
		rule->port = isnull ? 0 : DatumGetInt32(d);
		d = heap_getattr(tup, att_private, desc, &isnull);
		rule->allow_private = isnull ? false : DatumGetBool(d);
		if (!parse_pattern(rule->pattern, rule, &why))
			continue;			/* the CHECK constraint keeps these out */
		rules = lappend(rules, rule);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return rules;
}

/*
 * A checksum of the allowlist, so the engine can drop cached connections
 * when the rules change under it.
 */
uint32
http_allowlist_signature(List *allowlist)
{
	uint32		h = 0;
	ListCell   *lc;

	foreach(lc, allowlist)
	{
		HttpAllowRule *r = lfirst(lc);

		h = hash_combine(h, hash_bytes((const unsigned char *) r->pattern,
									   strlen(r->pattern)));
		h = hash_combine(h, (uint32) r->port * 2 + (r->allow_private ? 1 : 0));
	}
	return h;
}

/* Does a host-name pattern match host? ("*.a.b" matches x.a.b, not a.b) */
static bool
name_matches(const char *pattern, const char *host)
{
	if (pattern[0] == '*')
	{
		size_t		plen = strlen(pattern) - 1; /* ".a.b" */
		size_t		hlen = strlen(host);

		return hlen > plen && strcmp(host + hlen - plen, pattern + 1) == 0;
	}
	return strcmp(pattern, host) == 0;
}

/* Set *err to the guard's refusal of host:port. */
static void
refuse_host(HttpError *err, const char *host, int port, bool is_address,
			const char *redacted)
{
	bool		v6 = strchr(host, ':') != NULL;

	http_error_set(err, ERRCODE_INSUFFICIENT_PRIVILEGE,
				   psprintf("destination %s%s%s port %d is not allowed",
							v6 ? "[" : "", host, v6 ? "]" : "", port),
				   psprintf("URL: %s. No row of concord.http_allow matches this %s and port.",
							redacted, is_address ? "address" : "host"),
				   psprintf("A superuser can allow it: SELECT concord.http_allow_host('%s', %d);",
							host, port));
}

/*
 * Check a URL against the scheme rule and the allowlist.  On success fills
 * target (with the admitting rule); on failure fills err.  Never throws for
 * bad input.
 */
bool
http_guard_check_url(const char *url, List *allowlist, HttpTarget *target,
					 HttpError *err)
{
	CURLU	   *volatile cu = NULL;
	char	   *volatile scheme = NULL;
	char	   *volatile host = NULL;
	char	   *volatile port = NULL;
	volatile bool ok = false;

	memset(target, 0, sizeof(HttpTarget));
	target->redacted = http_redact_url(url);

	PG_TRY();
	{
		CURLUcode rc;
		unsigned char addr[16];
		bool		is_address;
		bool		found = false;
		ListCell   *lc;
		char	   *h;

		cu = curl_url();
		if (cu == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		rc = curl_url_set(cu, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
		if (rc != CURLUE_OK)
		{
			http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("malformed URL \"%s\"", target->redacted),
						   psprintf("%s.", curl_url_strerror(rc)),
						   "Give an absolute URL such as https://api.example.com/v1/customers.");
			goto done;
		}
		curl_url_get(cu, CURLUPART_SCHEME, (char **) &scheme, 0);
		if (scheme == NULL ||
			(strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		{
			http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("unsupported URL scheme \"%s\" in \"%s\"",
									scheme ? scheme : "", target->redacted),
						   NULL,
						   "Only http and https URLs are allowed.");
			goto done;
		}
		if (curl_url_get(cu, CURLUPART_HOST, (char **) &host, 0) != CURLUE_OK ||
			host == NULL || host[0] == '\0')
		{
			http_error_set(err, ERRCODE_INVALID_PARAMETER_VALUE,
						   psprintf("malformed URL \"%s\"", target->redacted),
						   "The URL has no host.", NULL);
			goto done;
		}
		curl_url_get(cu, CURLUPART_PORT, (char **) &port, CURLU_DEFAULT_PORT);

		target->url = pstrdup(url);
		target->scheme = pstrdup(scheme);
		h = pstrdup(host);
		if (h[0] == '[')
		{
			h++;
			h[strlen(h) - 1] = '\0';
		}
		for (char *c = h; *c; c++)
			*c = pg_ascii_tolower((unsigned char) *c);
		if (strlen(h) > 1 && h[strlen(h) - 1] == '.')
			h[strlen(h) - 1] = '\0';	/* "example.com." is example.com */
		target->host = h;
		target->port = port ? atoi(port) : 0;

		is_address = http_parse_address(h, addr, NULL);
		foreach(lc, allowlist)
		{
			HttpAllowRule *r = lfirst(lc);
			int			want = r->port;

			if (want == 0)
				want = strcmp(target->scheme, "https") == 0 ? 443 : 80;
			if (want != target->port || r->is_address != is_address)
				continue;
			if (is_address ? in_prefix(addr, r->net, r->prefix)
				: name_matches(r->pattern, h))
			{
				/* prefer a row that allows private addresses */
				if (!found || (r->allow_private && !target->rule.allow_private))
					target->rule = *r;
				found = true;
			}
		}
		if (!found)
		{
			refuse_host(err, h, target->port, is_address, target->redacted);
			goto done;
		}
		ok = true;
done:
		;
	}
	PG_FINALLY();
	{
		curl_free(scheme);
		curl_free(host);
		curl_free(port);
		curl_url_cleanup(cu);
	}
	PG_END_TRY();

	return ok;
}

/*
 * The connect-time check: may a connection for target be opened to sa?
 * Called from libcurl's open-socket callback, so it must not throw or
 * allocate; it writes the address text and its class for the caller's
 * error message.
 */
bool
http_guard_allows_address(const HttpTarget *target, const struct sockaddr *sa,
						  char *addrbuf, size_t addrbuflen, const char **klass)
{
	unsigned char a[16];

	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *s4 = (const struct sockaddr_in *) sa;

		memcpy(a, v4mapped_prefix, 12);
		memcpy(a + 12, &s4->sin_addr, 4);
		inet_ntop(AF_INET, &s4->sin_addr, addrbuf, addrbuflen);
	}
	else if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) sa;

		memcpy(a, &s6->sin6_addr, 16);
		inet_ntop(AF_INET6, &s6->sin6_addr, addrbuf, addrbuflen);
	}
	else
	{
		strlcpy(addrbuf, "(non-IP socket)", addrbuflen);
		*klass = "reserved";
		return false;
	}

	*klass = http_address_class_of(a);
	if (target->rule.is_address)
		return in_prefix(a, target->rule.net, target->rule.prefix);
	if (strcmp(*klass, "public") == 0)
		return true;
	return target->rule.allow_private && strcmp(*klass, "metadata") != 0;
}

/*
 * concord.http_address_class(addr text): the guard's classification of an
 * IP address literal, for tests and for DBAs writing allowlists.  Pure: it
 * never resolves or dials anything.
 */
Datum
concord_http_address_class(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	unsigned char a[16];

	if (!http_parse_address(s, a, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid IP address \"%s\"", s),
				 errhint("Give an IPv4 address such as 10.0.0.1 or an IPv6 address such as fd00::1.")));
	PG_RETURN_TEXT_P(cstring_to_text(http_address_class_of(a)));
}

/*
 * concord.http_host_pattern_valid(pattern text): the CHECK constraint of
 * concord.http_allow; raises a clear error instead of returning false so
 * the user learns what is wrong with the pattern.
 */
Datum
concord_http_host_pattern_valid(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *why = NULL;

	if (!parse_pattern(s, NULL, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid host pattern \"%s\"", s),
				 errdetail("%s", why),
				 errhint("Use a host name (api.example.com), a wildcard (*.example.com), an IP address (127.0.0.1) or a CIDR block (10.1.0.0/16).")));
	PG_RETURN_BOOL(true);
}
