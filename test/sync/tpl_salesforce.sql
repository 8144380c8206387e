-- sync template salesforce, against the Salesforce stand-in: SOQL through
-- /query, nextRecordsUrl (relative) requested as given until done (the q
-- parameter is not sent to a locator, which would refuse it), OAuth2
-- client credentials and refresh tokens, a session that expires mid-walk
-- (INVALID_SESSION_ID) renewed once, 429 retried, the daily limit
-- (REQUEST_LIMIT_EXCEEDED) failing with the API's code, incremental runs
-- with SystemModstamp inside the query.  In a transaction rolled back.
BEGIN;
SELECT plan(18);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_sf_secret', 'stub-sf-secret') AS s1,
       concord.secret_set('tap_sf_wrong', 'wrong-secret') AS s2,
       concord.secret_set('tap_sf_refresh', 'stub-sf-refresh') AS s3 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.sf(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('salesforce', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'instance_url', pg_temp.vbase(ns, 'salesforce'), 'client_id', 'stub-sf-client',
    'client_secret', 'tap_sf_secret', 'batch_size', 200) || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tsf1', 'salesforce', '{"n": 450}') AS r \gset
SELECT is(pg_temp.sf('sf_account', 'tsf1'), 'sf_account', 'a source from the salesforce template');
SELECT is(pg_temp.vsync('sf_account'), 'ok', 'it syncs');
SELECT results_eq($$SELECT pages, records, inserted FROM pg_temp.vrun('sf_account')$$,
  $$VALUES (3::bigint, 450::bigint, 450::bigint)$$, 'three batches of 200 by nextRecordsUrl, until done');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements_text(pg_temp.vstats('tsf1') -> 'urls') u WHERE u ~ '/query/01g\w+-\d+$'),
  2, 'the locators were requested as given, without q');
SELECT results_eq(
  $$SELECT id, name, billing_city, annual_revenue, system_modstamp FROM sync_vendor.sf_account ORDER BY id$$,
  $$SELECT t ->> 'Id', t ->> 'Name', t ->> 'BillingCity', (t ->> 'AnnualRevenue')::numeric, (t ->> 'SystemModstamp')::timestamptz
      FROM pg_temp.vtruth('tsf1') t ORDER BY 1$$,
  'every account, fields as snake_case columns of their types');
SELECT is((SELECT attributes ->> 'attributes' IS NOT NULL FROM sync_vendor.sf_account LIMIT 1), true,
  'what no column takes (the record''s attributes) is kept');

-- a wrong client secret; a session that expires mid-walk; a revoked refresh token
SELECT is(pg_temp.sf('sf_wrong', 'tsf1', '{"client_secret": "tap_sf_wrong"}'), 'sf_wrong', 'a source with a wrong client secret');
SELECT matches(pg_temp.vsync('sf_wrong'),
  '^28000: source "sf_wrong" could not get an OAuth2 token from \S+/services/oauth2/token: status 400$',
  'the token endpoint refuses it: 28000');
SELECT pg_temp.vreset('tsf2', 'salesforce', '{"n": 450, "faults": [{"kind": "expire", "request": 2}]}') AS r \gset
SELECT is(pg_temp.sf('sf_expire', 'tsf2'), 'sf_expire', 'a source whose session will expire');
SELECT is(pg_temp.vsync('sf_expire') || ' ' || (pg_temp.vstats('tsf2') ->> 'tokens_issued'), 'ok 2',
  'INVALID_SESSION_ID on page 2: a new token, the walk goes on');
SELECT pg_temp.vreset('tsf3', 'salesforce', '{"n": 450, "faults": [{"kind": "revoke", "request": 2}]}') AS r \gset
SELECT pg_temp.sf('sf_revoked', 'tsf3', '{"refresh_token": "tap_sf_refresh"}') AS c \gset
SELECT matches(pg_temp.vsync('sf_revoked'),
  '^28000: source "sf_revoked" could not get an OAuth2 token from \S+: status 400$',
  'a refresh token revoked mid-walk: the renewal is refused, 28000');

-- 429, then the daily limit
SELECT pg_temp.vreset('tsf4', 'salesforce', '{"n": 450, "faults": [{"kind": "429", "request": 2}, {"kind": "ratelimit", "request": 5}]}') AS r \gset
SELECT pg_temp.sf('sf_limit', 'tsf4') AS c \gset
SELECT is(pg_temp.vsync('sf_limit'), 'ok', 'a 429 is retried');
SELECT matches(pg_temp.vsync('sf_limit'),
  '^28000: source "sf_limit": page 1 from \S+ answered error REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded\.$',
  'the daily limit (403) fails at once, with the API''s code');

-- incremental: SystemModstamp >= the cursor, inside the SOQL
SELECT pg_temp.vreset('tsf5', 'salesforce', '{"n": 300}') AS r \gset
SELECT pg_temp.sf('sf_inc', 'tsf5', '{"object": "Contact"}') AS c \gset
SELECT is(pg_temp.vsync('sf_inc'), 'ok', 'a first incremental run');
SELECT is(pg_temp.vstats('tsf5') -> 'last_query' ->> 'q', NULL, 'its last request was a locator');
SELECT pg_temp.vmutate('tsf5', '{"update": [1, 2, 3]}') AS m \gset
SELECT is(pg_temp.vsync('sf_inc'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, updated, unchanged FROM pg_temp.vrun('sf_inc')$$,
  $$VALUES (4::bigint, 3::bigint, 1::bigint)$$, 'the three changed contacts and the newest of before');
SELECT is(pg_temp.vstats('tsf5') -> 'last_query' ->> 'q',
  'SELECT Id, FirstName, LastName, Email, Phone, AccountId, Title, CreatedDate, SystemModstamp FROM Contact WHERE SystemModstamp >= 2026-01-01T05:00:00Z ORDER BY SystemModstamp ASC',
  'the cursor went inside the SOQL, in SOQL''s dateTime form');

SELECT * FROM finish();
ROLLBACK;
