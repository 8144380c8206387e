-- sync template shopify, against the Shopify stand-in: Link header paging
-- with page_info, which the API takes with no other filter than limit (the
-- source's status and updated_at_min are not sent again on a Link page),
-- the access token in X-Shopify-Access-Token, a token refused, 429 with
-- Retry-After: 1.0 (a decimal) waited out, incremental on updated_at.  In a
-- transaction rolled back.
BEGIN;
SELECT plan(12);
\ir setup.psql
\ir vendor.psql

SELECT concord.secret_set('tap_shop_token', 'shpat_stub0000000000000000000000') AS s1,
       concord.secret_set('tap_shop_wrong', 'shpat_wrong') AS s2 \gset
SELECT pg_temp.grant_secrets() AS granted \gset
SET LOCAL ROLE tap_syncer;
CREATE FUNCTION pg_temp.shop(name text, ns text, extra jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
  SELECT (concord.source_create(name, concord.source_template_spec('shopify', jsonb_build_object(
    'table', 'sync_vendor.' || name, 'base_url', pg_temp.vbase(ns, 'shopify'), 'token', 'tap_shop_token') || extra)
    || '{"retry": {"max_attempts": 3, "backoff_ms": 10}}')).name
$$;

SELECT pg_temp.vreset('tsh1', 'shopify', '{"n": 600}') AS r \gset
SELECT is(pg_temp.shop('shop_orders', 'tsh1'), 'shop_orders', 'a source from the shopify template');
SELECT is(pg_temp.vsync('shop_orders'), 'ok', 'it syncs, with status=any and updated_at_min on the first page only');
SELECT results_eq($$SELECT pages, records FROM pg_temp.vrun('shop_orders')$$, $$VALUES (3::bigint, 600::bigint)$$,
  'three pages of 250 by page_info');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements_text(pg_temp.vstats('tsh1') -> 'urls') u
           WHERE u ~ 'page_info=' AND u !~ 'status=|updated_at_min='), 2,
  'the Link pages carry only limit and page_info, as Shopify demands');
SELECT is((SELECT count(*)::int FROM sync_vendor.shop_orders WHERE updated_at = created_at AND created_at < '2026-01-02'), 600,
  'every order, the times (written with their +08:00 offset) read right');

SELECT pg_temp.shop('shop_wrong', 'tsh1', '{"token": "tap_shop_wrong"}') AS c \gset
SELECT matches(pg_temp.vsync('shop_wrong'), '^28000: source "shop_wrong": page 1 from \S+ answered status 401$',
  'a wrong access token: 28000');

SELECT pg_temp.vreset('tsh2', 'shopify', '{"n": 400, "faults": [{"kind": "429", "request": 2}]}') AS r \gset
SELECT pg_temp.shop('shop_429', 'tsh2', '{"resource": "customers"}') AS c \gset
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT is(pg_temp.vsync('shop_429'), 'ok', 'a 429 with Retry-After: 1.0');
SELECT cmp_ok((SELECT clock_timestamp() - t FROM t0), '>=', interval '1 second', 'waited the second Shopify asked');
SELECT results_eq($$SELECT c.id, c.email, c.total_spent, c.city FROM sync_vendor.shop_429 c ORDER BY 1$$,
  $$SELECT (t ->> 'id')::bigint, t ->> 'email', (t ->> 'total_spent')::numeric, t -> 'default_address' ->> 'city'
      FROM pg_temp.vtruth('tsh2') t ORDER BY 1$$, 'every customer as Shopify has it');

-- incremental
SELECT pg_temp.vmutate('tsh2', '{"update": [5, 6], "add": 1}') AS m \gset
SELECT is(pg_temp.vsync('shop_429'), 'ok', 'the next run');
SELECT results_eq($$SELECT records, inserted, updated FROM pg_temp.vrun('shop_429')$$, $$VALUES (4::bigint, 1::bigint, 2::bigint)$$,
  'the two changed customers, the new one, and the newest of before');
SELECT is(pg_temp.vstats('tsh2') -> 'last_query' ->> 'updated_at_min', '2026-01-01T06:39:59+00:00', 'sent as updated_at_min');

SELECT * FROM finish();
ROLLBACK;
