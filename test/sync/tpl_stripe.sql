-- sync template stripe, against the Stripe stand-in (stub_vendors.py):
-- starting_after the last id while has_more (no extra request), the secret
-- key as a bearer token, a key refused mid-walk, 429 retried, created
-- (Unix seconds) converted and used for incremental runs with
-- created[gte].  In a transaction rolled back.
BEGIN;
SELECT plan(17);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_stripe_key', 'sk_test_stub_4eC39HqLyjWDarjtT1zdp7dc') AS s1,
       concord.secret_set('tap_stripe_wrong', 'sk_test_wrong_0000') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;

-- paging: 250 customers, newest first, 100 a page
SELECT pg_temp.vreset('tst1', 'stripe', '{"n": 250}') AS r \gset
SELECT is((concord.source_create_from_template('tpl_stripe', 'stripe', jsonb_build_object(
  'table', 'sync_vendor.stripe_customer', 'api_key', 'tap_stripe_key', 'base_url', pg_temp.vbase('tst1', 'stripe')))).name,
  'tpl_stripe', 'a source from the stripe template');
SELECT is(pg_temp.vsync('tpl_stripe'), 'ok', 'it syncs');
SELECT results_eq($$SELECT pages, records, inserted FROM pg_temp.vrun('tpl_stripe')$$,
  $$VALUES (3::bigint, 250::bigint, 250::bigint)$$, 'three pages, 250 customers');
SELECT is((pg_temp.vstats('tst1') ->> 'data_requests')::int, 3,
  'three requests: has_more false on the third ends the walk, no empty fourth page');
SELECT is(pg_temp.vstats('tst1') -> 'urls' ->> 1,
  '/v/tst1/stripe/v1/customers?limit=100&starting_after=' || (SELECT t ->> 'id' FROM pg_temp.vtruth('tst1') t WHERE (t ->> 'created')::bigint
                                                               = (SELECT min((u ->> 'created')::bigint) FROM (SELECT u FROM pg_temp.vtruth('tst1') u
                                                                  ORDER BY (u ->> 'created')::bigint DESC LIMIT 100) x)),
  'the second page starts after the last id of the first');
SELECT results_eq(
  $$SELECT id, email, name, city, delinquent, created FROM sync_vendor.stripe_customer ORDER BY id$$,
  $$SELECT t ->> 'id', t ->> 'email', t ->> 'name', t -> 'address' ->> 'city', (t ->> 'delinquent')::boolean,
           to_timestamp((t ->> 'created')::bigint) FROM pg_temp.vtruth('tst1') t ORDER BY 1$$,
  'every customer as Stripe has it: created (Unix seconds) as timestamptz');
SELECT is((SELECT attributes -> 'address' FROM sync_vendor.stripe_customer LIMIT 1) ? 'city', false,
  'the address keeps its other fields in attributes, without the city mapped to a column');

-- a key refused, from the start and mid-walk
SELECT pg_temp.vreset('tst2', 'stripe', '{"n": 250}') AS r \gset
SELECT concord.source_create_from_template('tpl_stripe_wrong', 'stripe', jsonb_build_object(
  'table', 'sync_vendor.stripe_wrong', 'api_key', 'tap_stripe_wrong', 'base_url', pg_temp.vbase('tst2', 'stripe'))) IS NOT NULL AS c \gset
SELECT matches(pg_temp.vsync('tpl_stripe_wrong'),
  '^28000: source "tpl_stripe_wrong": page 1 from \S+ answered status 401$', 'a wrong key: 28000 on the first page');
SELECT pg_temp.vreset('tst5', 'stripe', '{"n": 250, "faults": [{"kind": "401", "request": 3}]}') AS r \gset
SELECT concord.source_create('tpl_stripe_rev', concord.source_template_spec('stripe', jsonb_build_object(
  'table', 'sync_vendor.stripe_rev', 'api_key', 'tap_stripe_key', 'base_url', pg_temp.vbase('tst5', 'stripe')))
  || '{"batch_pages": 1}') IS NOT NULL AS c \gset
SELECT matches(pg_temp.vsync('tpl_stripe_rev'), '^28000: source "tpl_stripe_rev": page 3 .* answered status 401$',
  'a key refused mid-walk (a rolled key) fails the run: Stripe keys do not expire, there is nothing to renew');
SELECT is(pg_temp.vsync('tpl_stripe_rev'), 'ok', 'the next run, the key accepted again, completes');
SELECT is((SELECT count(*)::int FROM sync_vendor.stripe_rev), 250, 'every customer, once');

-- 429: Stripe-Should-Retry, no Retry-After: the backoff
SELECT pg_temp.vreset('tst3', 'stripe', '{"n": 150, "faults": [{"kind": "429", "request": 2}, {"kind": "429", "request": 3}]}') AS r \gset
SELECT concord.source_create('tpl_stripe_429', concord.source_template_spec('stripe', jsonb_build_object(
  'table', 'sync_vendor.stripe_429', 'api_key', 'tap_stripe_key', 'base_url', pg_temp.vbase('tst3', 'stripe')))
  || '{"retry": {"max_attempts": 4, "backoff_ms": 20}}') IS NOT NULL AS c \gset
SELECT is(pg_temp.vsync('tpl_stripe_429'), 'ok', 'two 429s are retried');
SELECT results_eq($$SELECT records, retries FROM pg_temp.vrun('tpl_stripe_429')$$, $$VALUES (150::bigint, 2)$$,
  '150 customers, two retries');

-- incremental: created[gte] the newest created less a second
SELECT pg_temp.vreset('tst4', 'stripe', '{"n": 120}') AS r \gset
SELECT concord.source_create_from_template('tpl_stripe_inc', 'stripe', jsonb_build_object(
  'table', 'sync_vendor.stripe_inc', 'api_key', 'tap_stripe_key', 'base_url', pg_temp.vbase('tst4', 'stripe'),
  'incremental', true)) IS NOT NULL AS c \gset
SELECT is(pg_temp.vsync('tpl_stripe_inc'), 'ok', 'an incremental run');
SELECT (extract(epoch FROM max(created)) - 1)::bigint::text AS since0 FROM sync_vendor.stripe_inc \gset
SELECT pg_temp.vmutate('tst4', '{"add": 5}') AS m \gset
SELECT is(pg_temp.vsync('tpl_stripe_inc'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, inserted, unchanged, since FROM pg_temp.vrun('tpl_stripe_inc')$$,
  format($$VALUES (6::bigint, 5::bigint, 1::bigint, %L)$$, :'since0'),
  'it asked for created >= the newest created less a second, in Unix seconds: the 5 new customers and the newest old one');
SELECT is(pg_temp.vstats('tst4') -> 'last_query' ->> 'created[gte]', :'since0', 'sent as created[gte]');

SELECT * FROM finish();
ROLLBACK;
