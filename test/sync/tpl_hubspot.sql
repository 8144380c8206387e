-- sync template hubspot, against the HubSpot stand-in: the objects list
-- by paging.next.after (full refresh, a private app's token), the search
-- endpoint with the cursor in its JSON body (incremental, epoch
-- milliseconds, paging in the body), OAuth2 with a refresh token whose
-- access token expires mid-walk, 429 retried.  In a transaction rolled back.
BEGIN;
SELECT plan(14);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_hs_token', 'pat-na1-stub-0000') AS s1,
       concord.secret_set('tap_hs_wrong', 'pat-na1-wrong') AS s2,
       concord.secret_set('tap_hs_client', 'stub-hs-secret') AS s3,
       concord.secret_set('tap_hs_refresh', 'stub-hs-refresh') AS s4 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.hs(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('hubspot', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'hubspot'), 'token', 'tap_hs_token') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

-- a full refresh through the list endpoint
SELECT pg_temp.vreset('ths1', 'hubspot', '{"n": 230}') AS r \gset
SELECT is(pg_temp.hs('hs_contacts', 'ths1', '{"incremental": false}'), 'hs_contacts', 'a source from the hubspot template');
SELECT is(pg_temp.vsync('hs_contacts'), 'ok', 'it syncs');
SELECT results_eq($$SELECT pages, records FROM pg_temp.vrun('hs_contacts')$$, $$VALUES (3::bigint, 230::bigint)$$,
  'three pages of 100 by paging.next.after; the last page has no paging');
SELECT results_eq(
  $$SELECT id, firstname, lastname, email, lifecyclestage, updated_at FROM sync_vendor.hs_contacts ORDER BY id$$,
  $$SELECT (t ->> 'id')::bigint, t -> 'properties' ->> 'firstname', t -> 'properties' ->> 'lastname',
           t -> 'properties' ->> 'email', t -> 'properties' ->> 'lifecyclestage', (t ->> 'updatedAt')::timestamptz
      FROM pg_temp.vtruth('ths1') t ORDER BY 1$$,
  'every contact, its properties as columns');
SELECT matches(pg_temp.vstats('ths1') -> 'urls' ->> 1, 'after=100', 'the second page asks for after=100');

SELECT pg_temp.hs('hs_wrong', 'ths1', '{"token": "tap_hs_wrong", "incremental": false}') AS c \gset
SELECT matches(pg_temp.vsync('hs_wrong'), '^28000: source "hs_wrong": page 1 from \S+ answered status 401$',
  'a wrong token: 28000');

-- incremental: the search endpoint, the cursor (epoch ms) and the paging in the body
SELECT pg_temp.vreset('ths2', 'hubspot', '{"n": 150}') AS r \gset
SELECT pg_temp.hs('hs_inc', 'ths2') AS c \gset
SELECT is(pg_temp.vsync('hs_inc'), 'ok', 'a first incremental run through search');
SELECT is((pg_temp.vstats('ths2') ->> 'last_body')::jsonb - 'properties',
  '{"after": "100", "limit": 100, "sorts": [{"direction": "ASCENDING", "propertyName": "lastmodifieddate"}],
    "filterGroups": [{"filters": [{"value": "0", "operator": "GTE", "propertyName": "lastmodifieddate"}]}]}',
  'the second request: the start (0 ms) in the filter, after and limit in the body');
SELECT pg_temp.vmutate('ths2', '{"update": [10, 20]}') AS m \gset
SELECT is(pg_temp.vsync('hs_inc'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, updated FROM pg_temp.vrun('hs_inc')$$, $$VALUES (3::bigint, 2::bigint)$$,
  'the two changed contacts, and the newest of before');
SELECT is((pg_temp.vstats('ths2') ->> 'last_body')::jsonb #>> '{filterGroups,0,filters,0,value}',
  ((extract(epoch FROM timestamptz '2026-01-01 02:30:00+00') * 1000)::bigint)::text,
  'the cursor went into the filter as epoch milliseconds');

-- OAuth2: an access token expiring mid-walk is renewed with the refresh token; a 429 is retried
SELECT pg_temp.vreset('ths3', 'hubspot', '{"n": 350, "faults": [{"kind": "expire", "request": 3}, {"kind": "429", "request": 2}]}') AS r \gset
SELECT pg_temp.hs('hs_oauth', 'ths3', '{"token": null, "client_id": "stub-hs-client", "client_secret": "tap_hs_client",
                                        "refresh_token": "tap_hs_refresh", "incremental": false}') AS c \gset
SELECT is(pg_temp.vsync('hs_oauth'), 'ok', 'OAuth2: the access token expires on page 2, a 429 on page 2 too');
SELECT results_eq($$SELECT records, retries FROM pg_temp.vrun('hs_oauth')$$, $$VALUES (350::bigint, 2)$$,
  'every contact; two retries (the 429, the renewal)');
SELECT is((pg_temp.vstats('ths3') ->> 'tokens_issued')::int, 2, 'two access tokens');

SELECT * FROM finish();
ROLLBACK;
