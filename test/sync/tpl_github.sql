-- sync template github, against the GitHub stand-in: Link header paging
-- requested as given (the query does not grow page after page), labels as
-- text[], a token refused, the primary rate limit (403 with
-- X-RateLimit-Remaining 0) and the secondary one (429, Retry-After) waited
-- out, incremental runs with since.  In a transaction rolled back.
BEGIN;
SELECT plan(15);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_gh_token', 'ghp_stubtoken000000000000000000000000000') AS s1,
       concord.secret_set('tap_gh_wrong', 'ghp_wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;

SELECT pg_temp.vreset('tgh1', 'github', '{"n": 250}') AS r \gset
SELECT is((concord.source_create_from_template('tpl_gh', 'github', jsonb_build_object(
  'table', 'sync_vendor.gh_issue', 'owner', 'acme', 'repo', 'crm', 'token', 'tap_gh_token',
  'base_url', pg_temp.vbase('tgh1', 'github')))).name, 'tpl_gh', 'a source from the github template');
SELECT is(pg_temp.vsync('tpl_gh'), 'ok', 'it syncs');
SELECT results_eq($$SELECT pages, records, inserted FROM pg_temp.vrun('tpl_gh')$$,
  $$VALUES (3::bigint, 250::bigint, 250::bigint)$$, 'three pages of 100 by the Link header');
SELECT results_eq(
  $$SELECT id, number, title, state, author, labels, pull_request, updated_at FROM sync_vendor.gh_issue ORDER BY id$$,
  $$SELECT (t ->> 'id')::bigint, (t ->> 'number')::int, t ->> 'title', t ->> 'state', t -> 'user' ->> 'login',
           ARRAY(SELECT l ->> 'name' FROM jsonb_array_elements(t -> 'labels') l), t -> 'pull_request' ->> 'url',
           (t ->> 'updated_at')::timestamptz
      FROM pg_temp.vtruth('tgh1') t ORDER BY 1$$,
  'every issue as GitHub has it, its labels'' names as a text[] column');
SELECT is((SELECT count(*)::int FROM (SELECT DISTINCT length(regexp_replace(u, 'page=\d+', 'page=N'))
                                        FROM jsonb_array_elements_text(pg_temp.vstats('tgh1') -> 'urls') u) l), 2,
  'two URL lengths: the first request, and the next links as given -- the query does not grow');
SELECT is((SELECT count(*)::int FROM regexp_matches(pg_temp.vstats('tgh1') -> 'urls' ->> 2, 'state=', 'g')), 1,
  'page 3 carries state=all once: the source''s parameters are not sent again on a Link page');

-- a token refused
SELECT concord.source_create_from_template('tpl_gh_wrong', 'github', jsonb_build_object(
  'table', 'sync_vendor.gh_wrong', 'owner', 'acme', 'repo', 'crm', 'token', 'tap_gh_wrong',
  'base_url', pg_temp.vbase('tgh1', 'github'))) IS NOT NULL AS c \gset
SELECT matches(pg_temp.vsync('tpl_gh_wrong'), '^28000: source "tpl_gh_wrong": page 1 from \S+ answered status 401$',
  'Bad credentials: 28000');

-- the primary rate limit (403, remaining 0, reset in a second), then a secondary one (429)
SELECT pg_temp.vreset('tgh2', 'github', '{"n": 250, "faults": [{"kind": "ratelimit", "request": 2}, {"kind": "429", "request": 4}]}') AS r \gset
SELECT concord.source_create('tpl_gh_limit', concord.source_template_spec('github', jsonb_build_object(
  'table', 'sync_vendor.gh_limit', 'owner', 'acme', 'repo', 'crm', 'token', 'tap_gh_token',
  'base_url', pg_temp.vbase('tgh2', 'github'))) || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}') IS NOT NULL AS c \gset
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is(pg_temp.vsync('tpl_gh_limit'), 'ok', 'a 403 with X-RateLimit-Remaining 0 and a 429 are waited out');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '1 second',
  'the run waited for the reset and the Retry-After, not the 10 ms backoff');
SELECT results_eq($$SELECT records, retries FROM pg_temp.vrun('tpl_gh_limit')$$, $$VALUES (250::bigint, 2)$$,
  'every issue, two retries');

-- incremental: since the newest updated_at less a second
SELECT pg_temp.vreset('tgh3', 'github', '{"n": 120}') AS r \gset
SELECT concord.source_create_from_template('tpl_gh_inc', 'github', jsonb_build_object(
  'table', 'sync_vendor.gh_inc', 'owner', 'acme', 'repo', 'crm', 'token', 'tap_gh_token',
  'base_url', pg_temp.vbase('tgh3', 'github'))) IS NOT NULL AS c \gset
SELECT is(pg_temp.vsync('tpl_gh_inc'), 'ok', 'a first incremental run reads everything');
SELECT pg_temp.vmutate('tgh3', '{"update": [3, 50, 77], "add": 2}') AS m \gset
SELECT is(pg_temp.vsync('tpl_gh_inc'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, inserted, updated, since FROM pg_temp.vrun('tpl_gh_inc')$$,
  $$VALUES (6::bigint, 2::bigint, 3::bigint, '2026-01-01T01:59:59+00:00')$$,
  'since the newest updated_at less a second: the 3 changed, the 2 new, and the newest of before');
SELECT is(pg_temp.vstats('tgh3') -> 'last_query' ->> 'since', '2026-01-01T01:59:59+00:00', 'sent as since');
SELECT results_eq($$SELECT number, title, state FROM sync_vendor.gh_inc WHERE number IN (3, 50, 77) ORDER BY 1$$,
  $$SELECT (t ->> 'number')::int, t ->> 'title', t ->> 'state' FROM pg_temp.vtruth('tgh3') t
     WHERE (t ->> 'number')::int IN (3, 50, 77) ORDER BY 1$$,
  'the changes arrived');

SELECT * FROM finish();
ROLLBACK;
