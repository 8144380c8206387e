-- docs/http.md: the worked example runs, in order, against the stub API
-- (the page names it http://127.0.0.1:8765; here it is the harness's
-- stub), and gives what the page shows: the three customers step 3
-- prints, finance's request as sent, forty answers in input order.  In a
-- transaction rolled back (its role too).
BEGIN;
SET LOCAL client_min_messages = warning;

SELECT current_setting('concord_test.stub_port') AS p \gset
\set page http
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 7);

-- the analysts' role the page grants to
CREATE ROLE analyst;

SELECT lives_ok(code, format('docs/http.md example %s runs', n)) FROM blocks ORDER BY n;

SELECT is((SELECT count(*)::int FROM concord.http_allow WHERE host_pattern = '127.0.0.1' AND port = :'p'::int), 1,
          'step 1: the destination is in the allowlist');
SELECT ok(pg_has_role('analyst', 'concord_http', 'MEMBER')
          AND has_function_privilege('analyst', 'concord.http_batch(concord.http_request[], integer, integer, integer, integer, integer, integer)', 'EXECUTE'),
          'step 2: the analysts may call the functions');

-- the statements of the worked example, split at their numbered comments
CREATE TEMP TABLE steps AS
SELECT s[1]::int AS step, s[2] AS code
FROM blocks, regexp_matches(code, '-- (\d+?)\.[^\n]*\n(.*?)(?=\n-- \d\.|$)', 'g') AS s
WHERE n = 1;

-- the table the page prints after the example
CREATE TEMP TABLE printed AS
SELECT (f[1])::int AS id, trim(f[2]) AS name, trim(f[3]) AS phone, trim(f[4]) AS company, trim(f[5]) AS status
FROM regexp_matches(split_part(pg_read_file(current_setting('concord_test.repo') || '/docs/http.md'), 'What step 3 prints', 2),
                    '\n +(\d+) \|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)(?=\n)', 'g') AS f;
GRANT SELECT ON printed TO analyst;

SELECT code AS step3 FROM steps WHERE step = 3 \gset
SET LOCAL ROLE analyst;
SELECT results_eq(:'step3', 'SELECT * FROM printed ORDER BY id',
                  'step 3, as the analyst: the rows the page prints');
RESET ROLE;
SELECT results_eq(format('SELECT status, body::jsonb ->> ''method'', body::jsonb #>> ''{headers,content-type}'', (body::jsonb ->> ''body'')::jsonb FROM (%s) r',
                         rtrim((SELECT code FROM steps WHERE step = 4), E'; \n')),
                  $$VALUES (200, 'POST', 'application/json', '{"contract": "HT-2026-001", "amount": 128000}'::jsonb)$$,
                  'step 4: finance''s system got the contract as JSON');
SELECT results_eq(format('SELECT count(*)::int, count(*) FILTER (WHERE status = 200 AND error IS NULL)::int, array_agg(ord) = array_agg(ord ORDER BY ord) FROM (%s) r',
                         rtrim((SELECT code FROM steps WHERE step = 5), E'; \n')),
                  $$VALUES (40, 40, true)$$,
                  'step 5: forty rows, each answered, in input order');
SELECT is((SELECT count(*)::int FROM concord.http_batch(ARRAY(SELECT concord.http_request('GET', 'http://127.0.0.1:' || :'p' || '/echo?customer=' || id)
                                                             FROM generate_series(1, 40) id), max_host_connections => 16)
            WHERE body::jsonb #>> '{query,customer}' = ord::text), 40,
          'and row n is the answer to the nth request');
SELECT is((SELECT count(*)::int FROM printed), 3, 'the page prints the three spellings of one customer');

SELECT * FROM finish();
ROLLBACK;
