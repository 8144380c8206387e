-- sync template jira, against the Jira Cloud stand-in: /rest/api/3/search
-- by startAt/maxResults/total, an account's e-mail and API token (basic),
-- a token refused, 429 with Retry-After, incremental on updated inside
-- the JQL (JQL takes minutes: "yyyy/MM/dd HH:mm", a minute of lookback).
-- In a transaction rolled back.
BEGIN;
SELECT plan(12);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_jira_token', 'stub-jira-api-token') AS s1,
       concord.secret_set('tap_jira_wrong', 'wrong-token') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.jira(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('jira', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'jira'), 'email', 'sync@example.com',
    'api_token', 'tap_jira_token', 'project', 'SUP') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tji1', 'jira', '{"n": 230, "faults": [{"kind": "429", "request": 2}]}') AS r \gset
SELECT is(pg_temp.jira('jira_issues', 'tji1'), 'jira_issues', 'a source from the jira template');
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is(pg_temp.vsync('jira_issues'), 'ok', 'it syncs, a 429 on page 2 waited out');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '1 second', 'as long as Retry-After said');
SELECT results_eq($$SELECT pages, records, retries FROM pg_temp.vrun('jira_issues')$$, $$VALUES (3::bigint, 230::bigint, 1)$$,
  'startAt 0, 100, 200: three pages to the total of 230');
SELECT results_eq(
  $$SELECT key, summary, status, priority, assignee, labels, updated FROM sync_vendor.jira_issues ORDER BY id$$,
  $$SELECT t ->> 'key', t -> 'fields' ->> 'summary', t -> 'fields' -> 'status' ->> 'name',
           t -> 'fields' -> 'priority' ->> 'name', t -> 'fields' -> 'assignee' ->> 'displayName',
           ARRAY(SELECT jsonb_array_elements_text(t -> 'fields' -> 'labels')), (t -> 'fields' ->> 'updated')::timestamptz
      FROM pg_temp.vtruth('tji1') t ORDER BY (t ->> 'id')::bigint$$,
  'every issue as Jira has it, labels as text[]');
SELECT is(pg_temp.vstats('tji1') -> 'last_query' ->> 'jql', 'project = SUP AND updated >= "1970/01/01 00:00" ORDER BY updated ASC',
  'the first run starts from 1970, in JQL''s date form');

SELECT pg_temp.jira('jira_wrong', 'tji1', '{"api_token": "tap_jira_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('jira_wrong'), '^28000: source "jira_wrong": page 1 from \S+ answered status 401$',
  'a wrong API token: 28000');

SELECT pg_temp.vmutate('tji1', '{"update": [7, 8, 9]}') AS m \gset
SELECT is(pg_temp.vsync('jira_issues'), 'ok', 'the next run');
SELECT is(pg_temp.vstats('tji1') -> 'last_query' ->> 'jql', 'project = SUP AND updated >= "2026/01/01 03:49" ORDER BY updated ASC',
  'the JQL asks from the newest updated less a minute, to the minute');
SELECT results_eq($$SELECT records, updated, unchanged FROM pg_temp.vrun('jira_issues')$$, $$VALUES (5::bigint, 3::bigint, 2::bigint)$$,
  'the three changed issues and the two of the last minute before');
SELECT results_eq($$SELECT key, status FROM sync_vendor.jira_issues WHERE key IN ('SUP-7', 'SUP-8', 'SUP-9') ORDER BY 1$$,
  $$SELECT t ->> 'key', t -> 'fields' -> 'status' ->> 'name' FROM pg_temp.vtruth('tji1') t
     WHERE t ->> 'key' IN ('SUP-7', 'SUP-8', 'SUP-9') ORDER BY 1$$, 'the changes arrived');
SELECT throws_ok($$SELECT concord.source_template_spec('jira', '{"table": "x", "email": "e", "api_token": "t", "site": "acme", "project": "sup; x"}')$$,
  '22023', 'parameter "project" of template "jira" must be a project key such as SUP, not "sup; x"',
  'a project key is checked before it goes into the JQL');

SELECT * FROM finish();
ROLLBACK;
