/*-------------------------------------------------------------------------
 *
 * jdoc_bench.c
 *	  Time sync's JSON tokenizer (src/sync/jdoc.c) on one Stripe-shaped
 *	  page of 1,000 customers: jd_parse of the page, and jd_without of
 *	  every record (the unmapped column) with four columns mapped, one of
 *	  them nested.  Built and run by bench/jdoc.sh.
 *
 * Usage: jdoc_bench ROUNDS; prints one line per figure, each the median and
 * the minimum over the rounds, in milliseconds per page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "sync/jdoc.h"

/* A compiled path, as far as jd_without looks at one. */
struct SyncPath
{
	const char *first;
};

/* sync_alloc's arena: one block, reused for every round. */
static char *arena;
static size_t used;
static const size_t arena_size = (size_t) 1 << 28;

void *
sync_alloc(size_t n)
{
	n = (n + 15) & ~(size_t) 15;
	if (used + n > arena_size)
	{
		fprintf(stderr, "jdoc_bench: arena too small\n");
		exit(2);
	}
	used += n;
	return arena + used - n;
}

void *
sync_alloc0(size_t n)
{
	return memset(sync_alloc(n), 0, n);
}

char *
sync_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(sync_alloc(n), s, n);
}

char *
sync_psprintf(const char *fmt,...)
{
	return sync_strdup(fmt);
}

const char *
sync_path_first_key(const SyncPath *path)
{
	return path ? path->first : NULL;
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Print a figure's median and minimum (ms per page). */
static void
report(const char *name, double *t, int n)
{
	qsort(t, n, sizeof(double), cmp_double);
	printf("%s: %.3f ms per page (median of %d rounds; min %.3f)\n", name, t[n / 2] * 1e3, n, t[0] * 1e3);
}

int
main(int argc, char **argv)
{
	bool		nul;
	int			rounds = argc > 1 ? atoi(argv[1]) : 100;
	char	   *page = malloc(1 << 20);
	size_t		len = 0;
	JDoc		doc;
	char	   *error;
	static const char *k_id[] = {"id"};
	static const char *k_email[] = {"email"};
	static const char *k_city[] = {"address", "city"};
	static const char *k_created[] = {"created"};
	SyncColumn	cols[4];
	SyncSpec	spec;
	double	   *tp,
			   *tw;
	size_t		out = 0;

	if (rounds < 1)
		rounds = 1;
	arena = malloc(arena_size);
	tp = malloc(sizeof(double) * rounds);
	tw = malloc(sizeof(double) * rounds);
	len += sprintf(page + len, "{\"object\":\"list\",\"data\":[");
	for (int i = 0; i < 1000; i++)
		len += sprintf(page + len,
					   "%s{\"id\":\"cus_%08d\",\"object\":\"customer\",\"email\":\"user%d@example.com\","
					   "\"name\":\"Customer %d\",\"created\":%d,\"balance\":%d,\"currency\":\"usd\","
					   "\"delinquent\":false,\"livemode\":false,\"description\":null,\"phone\":\"+1555%07d\","
					   "\"address\":{\"city\":\"Paris\",\"country\":\"FR\",\"line1\":\"1 rue de la Paix\"},"
					   "\"metadata\":{\"tier\":\"gold\",\"k\":\"v\"},\"tax_exempt\":\"none\","
					   "\"preferred_locales\":[\"en\"],\"invoice_prefix\":\"AB%d\",\"discount\":null,"
					   "\"default_source\":null,\"shipping\":null,\"next_invoice_sequence\":%d}",
					   i ? "," : "", i, i, i, 1600000000 + i, i * 3, i, i, i);
	len += sprintf(page + len, "],\"has_more\":true,\"url\":\"/v1/customers\"}");

	memset(cols, 0, sizeof(cols));
	cols[0].path_keys = k_id;
	cols[0].npath_keys = 1;
	cols[1].path_keys = k_email;
	cols[1].npath_keys = 1;
	cols[2].path_keys = k_city;
	cols[2].npath_keys = 2;
	cols[3].path_keys = k_created;
	cols[3].npath_keys = 1;
	memset(&spec, 0, sizeof(spec));
	spec.columns = cols;
	spec.ncolumns = 4;

	for (int r = 0; r < rounds; r++)
	{
		double		t0;
		uint32		data;

		used = 0;
		t0 = now();
		if (!jd_parse(page, len, &doc, &error))
		{
			fprintf(stderr, "jdoc_bench: %s\n", error);
			return 1;
		}
		tp[r] = now() - t0;
		data = jd_member(&doc, 0, "data", 4);
		t0 = now();
		for (uint32 c = data + 1; c < doc.nodes[data].next; c = doc.nodes[c].next)
			out += strlen(jd_without(&doc, c, &spec, &nul));
		tw[r] = now() - t0;
	}
	printf("page: %zu bytes, 1000 records, %zu bytes of unmapped JSON\n", len, out / rounds);
	report("jd_parse", tp, rounds);
	report("jd_without x1000", tw, rounds);
	return 0;
}
