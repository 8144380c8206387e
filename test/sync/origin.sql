-- sync: a source's requests, and its credentials, go only to the origin
-- (scheme, host, port) of its request.url.  A next-page URL on another
-- origin (next_url in the body, a Link header) fails the run with a clear
-- error before anything is sent there; on the source's own origin the same
-- paging works.  A page redirected to another origin arrives without the
-- API key; an OAuth2 token request is not resent, with its client secret,
-- to another origin by a 307 redirect.  The stub answers as 127.0.0.1 and as localhost (two origins,
-- both allowed).  In a transaction rolled back.
BEGIN;
SELECT plan(13);
\ir setup.psql

SELECT concord.http_allow_host('localhost', :'p'::int, allow_private => true) IS NOT NULL AS local_allowed \gset
SELECT concord.secret_set('tap_org_token', 'stub-token-789'),
       concord.secret_set('tap_org_key', 'stub-key-123') \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
SELECT format('http://localhost:%s', :'p') AS elsewhere \gset
SELECT pg_temp.stub('/sync/org/reset', jsonb_build_object('n', 15, 'auth', 'bearer', 'page_origin', :'elsewhere')) ->> 'ok' AS r1,
       pg_temp.stub('/sync/orgok/reset', jsonb_build_object('n', 15, 'auth', 'bearer', 'page_origin', :'u')) ->> 'ok' AS r2 \gset

CREATE FUNCTION pg_temp.requests(ns text) RETURNS int LANGUAGE sql AS $$
  SELECT (pg_temp.stub_get('/sync/' || ns || '/stats') ->> 'requests')::int
$$;

SELECT concord.source_create('tap_org_next', pg_temp.spec('org', 'customers', 'next',
  '{"auth": {"type": "bearer", "token": {"secret": "tap_org_token"}}}')) IS NOT NULL AS c1,
       concord.source_create('tap_org_link', pg_temp.spec('org', 'customers', 'link',
  '{"auth": {"type": "bearer", "token": {"secret": "tap_org_token"}}}')) IS NOT NULL AS c2,
       concord.source_create('tap_orgok_next', pg_temp.spec('orgok', 'customers', 'next',
  '{"auth": {"type": "bearer", "token": {"secret": "tap_org_token"}}}')) IS NOT NULL AS c3 \gset

SELECT matches(pg_temp.sync('tap_org_next'),
  format('^42501: source "tap_org_next": the next page http://localhost:%s/sync/org/customers/next\?\S+ is not on the origin of request\.url \(http://127\.0\.0\.1:%s\)$',
         :'p', :'p'),
  'a next_url on another origin fails the run');
SELECT is(pg_temp.requests('org'), 1, 'nothing was sent to the other origin: the API got the first page''s request only');
SELECT is(pg_temp.stub('/sync/org/reset', jsonb_build_object('n', 15, 'auth', 'bearer', 'page_origin', :'elsewhere')) ->> 'ok',
  'true', '(counters reset)');
SELECT matches(pg_temp.sync('tap_org_link'),
  format('^42501: source "tap_org_link": the next page http://localhost:%s/sync/org/customers/link\?\S+ is not on the origin of request\.url',
         :'p'),
  'so does a Link header pointing to another origin');
SELECT is(pg_temp.requests('org'), 1, 'again, one request only');
SELECT is(pg_temp.sync('tap_orgok_next'), 'ok', 'absolute next-page URLs on the source''s own origin are followed');
SELECT is((SELECT count(*)::int FROM sync_test.orgok_customers), 15, 'every page arrived');

-- a page redirected to another origin: the API key stays behind
CREATE FUNCTION pg_temp.redirect_spec(tbl text, location text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'request', jsonb_build_object('url', current_setting('concord_test.stub_url') || '/redirect-to?url=' || location,
                                  'headers', '{"X-Department": "sales"}'::jsonb),
    'auth', '{"type": "api_key", "in": "header", "name": "X-Api-Key", "value": {"secret": "tap_org_key"}}'::jsonb,
    'records', '$',
    'target', jsonb_build_object('table', 'sync_test.' || tbl, 'create', true, 'primary_key', 'path'),
    'columns', '[{"name": "path", "path": "$.path"}, {"name": "api_key", "path": "$.headers[''x-api-key'']"},
                 {"name": "department", "path": "$.headers[''x-department'']"}]'::jsonb)
$$;
SELECT concord.source_create('tap_org_same', pg_temp.redirect_spec('org_same', '/echo')) IS NOT NULL AS c4,
       concord.source_create('tap_org_away', pg_temp.redirect_spec('org_away', format('http://localhost:%s/echo', :'p'))) IS NOT NULL AS c5 \gset
SELECT is(pg_temp.sync('tap_org_same') || ' ' || pg_temp.sync('tap_org_away'), 'ok ok', 'two sources whose page redirects');
SELECT results_eq($$SELECT api_key, department FROM sync_test.org_same$$, $$VALUES ('stub-key-123', 'sales')$$,
  'on the same origin the page gets the API key');
SELECT results_eq($$SELECT api_key, department FROM sync_test.org_away$$, $$VALUES (NULL::text, 'sales')$$,
  'on another origin it gets the plain header, not the API key');

-- an OAuth2 token endpoint redirecting with 307 (the body, holding the
-- client secret, would be sent again): followed on the same origin only
RESET ROLE;
SELECT concord.secret_set('tap_org_client', 'stub-secret-000') AS s3 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
SELECT pg_temp.stub('/sync/orgo/reset', '{"n": 5, "auth": "oauth2"}') ->> 'ok' AS r3 \gset
CREATE FUNCTION pg_temp.oauth_spec(token_url text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT pg_temp.spec('orgo', 'customers', 'page', jsonb_build_object('auth', jsonb_build_object(
    'type', 'oauth2', 'token_url', token_url, 'client_id', 'concord',
    'client_secret', '{"secret": "tap_org_client"}'::jsonb)))
$$;
SELECT concord.source_create('tap_orgo_same', pg_temp.oauth_spec(
         :'u' || '/redirect-to?status=307&url=' || replace(:'u', ':', '%3A') || '%2Fsync%2Forgo%2Foauth%2Ftoken')) IS NOT NULL AS c6 \gset
SELECT is(pg_temp.sync('tap_orgo_same'), 'ok', 'a token endpoint redirecting (307) on its own origin is followed');
SELECT concord.source_alter('tap_orgo_same', pg_temp.oauth_spec(
         :'u' || '/redirect-to?status=307&url=' || replace(:'elsewhere', ':', '%3A') || '%2Fsync%2Forgo%2Foauth%2Ftoken')) IS NOT NULL AS a6 \gset
SELECT matches(pg_temp.sync('tap_orgo_same'),
  '^42501: source "tap_orgo_same" could not get an OAuth2 token: redirect from \S+ to another origin refused: the request body holds credentials$',
  'to another origin it fails: the client secret is not sent there');
SELECT is((pg_temp.stub_get('/sync/orgo/stats') ->> 'tokens_issued')::int, 1, 'only the first token was issued');

SELECT * FROM finish();
ROLLBACK;
