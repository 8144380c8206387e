-- docs/tutorial.md: the story as a tutorial.  Its examples are run by the
-- story test: every ```sql block of the page is a verbatim excerpt of
-- test/demo.sql (one or more consecutive whole lines), which test/story.sh
-- runs through test/demo.sh and checks as the story's people.  This test
-- proves each block is found in demo.sql starting at a line's start (the
-- block ends with a newline, so it ends at a line's end too), that the
-- page still shows at least the 41 blocks it was written with, and that
-- no SQL hides in a fence of another language (```text holds output, ```sh
-- the shell).  The output excerpts (```text) were copied from a real run's
-- log, which is not in the repository, so they are not checked here.
BEGIN;

CREATE TEMP TABLE page AS
SELECT pg_read_file(current_setting('concord_test.repo') || '/docs/tutorial.md') AS md,
       pg_read_file(current_setting('concord_test.repo') || '/test/demo.sql') AS demo;

CREATE TEMP TABLE blocks AS
SELECT row_number() OVER () AS n, m[1] AS code
FROM page, regexp_matches(page.md, '```sql\n(.*?)```', 'g') AS m;

SELECT plan((SELECT count(*)::int FROM blocks) + 2);

SELECT cmp_ok((SELECT count(*)::int FROM blocks), '>=', 41,
              'docs/tutorial.md shows at least 41 sql examples');

SELECT ok(strpos(E'\n' || p.demo, E'\n' || b.code) > 0,
          format('docs/tutorial.md sql block %s (%s) is a verbatim excerpt of test/demo.sql',
                 b.n, left(split_part(b.code, E'\n', 1), 60)))
FROM blocks b, page p
ORDER BY b.n;

SELECT is(ARRAY(SELECT DISTINCT f[1]
                FROM page, regexp_matches(page.md, '^```(\S*)', 'gn') AS f
                WHERE f[1] NOT IN ('sql', 'text', 'sh', '')
                ORDER BY 1),
          '{}'::text[],
          'docs/tutorial.md fences only sql (checked), text (output) and sh');

SELECT * FROM finish();
ROLLBACK;
