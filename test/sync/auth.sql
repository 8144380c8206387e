-- sync: each authentication scheme against the stub, token caching and
-- refresh, wrong credentials, and credentials kept out of every log.
BEGIN;
SELECT plan(24);
\ir setup.psql

SELECT concord.secret_set('t_api_key', 'stub-key-123') AS s1,
       concord.secret_set('t_password', 'stub-pass-456') AS s2,
       concord.secret_set('t_token', 'stub-token-789') AS s3,
       concord.secret_set('t_client_secret', 'stub-secret-000') AS s4,
       concord.secret_set('t_refresh', 'stub-refresh-111') AS s5,
       concord.secret_set('t_wrong', 'not-the-right-one') AS s6 \gset
SET LOCAL concord.http_log = on;
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;

-- Create and run a source on namespace ns (reset with auth), return 'ok'
-- or the error as "SQLSTATE: message".
CREATE FUNCTION pg_temp.run(name text, ns text, auth text, reset jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_temp.stub(format('/sync/%s/reset', ns), reset);
  PERFORM concord.source_create(name, pg_temp.spec(ns, 'customers', 'page', jsonb_build_object('auth', auth::jsonb)));
  EXECUTE format('CALL concord.sync(%L)', name);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE FUNCTION pg_temp.count(ns text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  EXECUTE format('SELECT count(*) FROM sync_test.%I', ns || '_customers') INTO n;
  RETURN n;
END $$;

------------------------------------------------------------------------------
-- Each scheme
------------------------------------------------------------------------------

SELECT is(pg_temp.run('au_none', 'au_none', '{"type": "none"}', '{"n": 20, "auth": "none"}'), 'ok', 'no auth');
SELECT is(pg_temp.run('au_hdr', 'au_hdr', '{"type": "api_key", "in": "header", "name": "X-Api-Key", "value": {"secret": "t_api_key"}}',
                      '{"n": 20, "auth": "api_key_header"}'), 'ok', 'API key in a header');
SELECT is(pg_temp.run('au_qry', 'au_qry', '{"type": "api_key", "in": "query", "value": {"secret": "t_api_key"}}',
                      '{"n": 20, "auth": "api_key_query"}'), 'ok', 'API key as a query parameter (default name api_key)');
SELECT is(pg_temp.run('au_basic', 'au_basic', '{"type": "basic", "username": "sync", "password": {"secret": "t_password"}}',
                      '{"n": 20, "auth": "basic"}'), 'ok', 'HTTP basic');
SELECT is(pg_temp.run('au_bearer', 'au_bearer', '{"type": "bearer", "token": {"secret": "t_token"}}',
                      '{"n": 20, "auth": "bearer"}'), 'ok', 'bearer token');
SELECT is(pg_temp.run('au_cc', 'au_cc', '{"type": "oauth2", "token_url": "' || :'u' || '/sync/au_cc/oauth/token",
                        "client_id": "concord", "client_secret": {"secret": "t_client_secret"}}',
                      '{"n": 20, "auth": "oauth2", "token_ttl": 1, "expires_in": 3600}'), 'ok',
  'OAuth2 client credentials (in the body)');
SELECT is(pg_temp.run('au_ccb', 'au_ccb', '{"type": "oauth2", "token_url": "' || :'u' || '/sync/au_ccb/oauth/token",
                        "client_id": "concord", "client_secret": {"secret": "t_client_secret"}, "client_auth": "basic",
                        "scope": "customers.read"}',
                      '{"n": 20, "auth": "oauth2"}'), 'ok', 'OAuth2 client credentials (HTTP basic) with a scope');
SELECT is(pg_temp.run('au_rt', 'au_rt', '{"type": "oauth2", "grant_type": "refresh_token", "token_url": "' || :'u' || '/sync/au_rt/oauth/token",
                        "refresh_token": {"secret": "t_refresh"}}',
                      '{"n": 20, "auth": "oauth2"}'), 'ok', 'OAuth2 refresh-token grant');

SELECT is(pg_temp.count('au_none') + pg_temp.count('au_hdr') + pg_temp.count('au_qry') + pg_temp.count('au_basic')
          + pg_temp.count('au_bearer') + pg_temp.count('au_cc') + pg_temp.count('au_ccb') + pg_temp.count('au_rt'),
          160, 'every scheme loaded its 20 customers');
SELECT is((pg_temp.stub_get('/sync/au_hdr/stats') ->> 'auth_failures')::int, 0, 'no request was refused');

------------------------------------------------------------------------------
-- OAuth2 tokens: cached for the session, refreshed on expiry and on 401
------------------------------------------------------------------------------

SELECT is((pg_temp.stub_get('/sync/au_cc/stats') ->> 'tokens_issued')::int, 1,
  'one token served all 3 pages of the run');
CALL concord.sync('au_cc');
SELECT is((pg_temp.stub_get('/sync/au_cc/stats') ->> 'tokens_issued')::int, 1,
  'a second run in the session reuses the cached token');

-- the server says 3600 s but forgets tokens after 1 s: a 401, then a new token
SELECT pg_sleep(1.2);
CALL concord.sync('au_cc');
SELECT is((pg_temp.stub_get('/sync/au_cc/stats') ->> 'tokens_issued')::int, 2,
  'a 401 on a cached token fetches a new token once');
SELECT ok((SELECT retries FROM concord.sync_run WHERE source = 'au_cc' ORDER BY run_id DESC LIMIT 1) >= 1,
  'the refresh counts as a retry of the run');
SELECT is((SELECT status FROM concord.sync_run WHERE source = 'au_cc' ORDER BY run_id DESC LIMIT 1), 'succeeded',
  'and the run succeeds');

-- a token is renewed 30 s before it expires, or halfway through a shorter
-- life: a token of 10 s serves the three pages (not one token a page)
SELECT is(pg_temp.run('au_exp', 'au_exp', '{"type": "oauth2", "token_url": "' || :'u' || '/sync/au_exp/oauth/token",
                        "client_id": "concord", "client_secret": {"secret": "t_client_secret"}}',
                      '{"n": 20, "auth": "oauth2", "expires_in": 10}'), 'ok', 'short-lived tokens');
SELECT is((pg_temp.stub_get('/sync/au_exp/stats') ->> 'tokens_issued')::int, 1,
  'a token of 10 s is not renewed before 5 s have passed');

------------------------------------------------------------------------------
-- Wrong credentials: a clear error, nothing loaded
------------------------------------------------------------------------------

SELECT matches(pg_temp.run('au_bad', 'au_bad', '{"type": "bearer", "token": {"secret": "t_wrong"}}',
                           '{"n": 20, "auth": "bearer"}'),
  '^28000: source "au_bad": page 1 from .*/sync/au_bad/customers/page\?.* answered status 401$',
  'a refused token: SQLSTATE 28000, the page, the URL and the status');
SELECT is(pg_temp.run('au_badcc', 'au_badcc', '{"type": "oauth2", "token_url": "' || :'u' || '/sync/au_badcc/oauth/token",
                        "client_id": "concord", "client_secret": {"secret": "t_wrong"}}',
                      '{"n": 20, "auth": "oauth2"}'),
  '28000: source "au_badcc" could not get an OAuth2 token from ' || :'u' || '/sync/au_badcc/oauth/token: status 400',
  'a refused client secret: the token endpoint and its status');

------------------------------------------------------------------------------
-- Credentials never leak
------------------------------------------------------------------------------
-- (read as superuser: every row of the call log and the catalog)
RESET ROLE;

SELECT is((SELECT count(*)::int FROM concord.http_call_log WHERE url LIKE '%/au_qry/%' AND url LIKE '%api_key=***%'), 3,
  'the call log shows the API key parameter as ***');

CREATE TEMP TABLE secrets (v text);
INSERT INTO secrets VALUES ('stub-key-123'), ('stub-pass-456'), ('stub-token-789'), ('stub-secret-000'),
                           ('stub-refresh-111'), ('not-the-right-one');
SELECT is((SELECT count(*)::int FROM concord.http_call_log l, secrets s WHERE l::text LIKE '%' || s.v || '%'), 0,
  'no credential in the call log');
SELECT is((SELECT count(*)::int FROM concord.sync_run r, secrets s WHERE r::text LIKE '%' || s.v || '%'), 0,
  'no credential in sync_run (errors included)');
SELECT is((SELECT count(*)::int FROM concord.source r, secrets s WHERE r::text LIKE '%' || s.v || '%'), 0,
  'no credential in the stored specs');
SELECT is((SELECT count(*)::int FROM concord.sync_state r, secrets s WHERE r::text LIKE '%' || s.v || '%'), 0,
  'no credential in sync_state');

SELECT * FROM finish();
ROLLBACK;
