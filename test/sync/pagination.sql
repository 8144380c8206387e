-- sync: every pagination style walks the whole data set exactly once, for
-- each of the four departments' data sets; stop conditions; loops caught.
BEGIN;
SELECT plan(24);
\ir setup.psql
SET LOCAL ROLE tap_syncer;

SELECT pg_temp.stub('/sync/pgn/reset', '{"n": 40}') ->> 'ok' AS reset \gset

-- Sync kind with style into a fresh table; return the table's rows as the
-- upstream's /all list would show them (primary key order), as text.
CREATE FUNCTION pg_temp.synced(kind text, style text, extra jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  name text := format('pgn_%s_%s', kind, style);
  t text;
BEGIN
  PERFORM concord.source_drop(name, true);
  PERFORM concord.source_create(name, pg_temp.spec('pgn', kind, style,
            jsonb_build_object('target', jsonb_build_object(
              'table', 'sync_test.' || name, 'create', true, 'primary_key', pg_temp.pk(kind))) || extra));
  EXECUTE format('CALL concord.sync(%L)', name);
  EXECUTE format('SELECT string_agg(%I::text, '','' ORDER BY %I) FROM sync_test.%I',
                 pg_temp.pk(kind), pg_temp.pk(kind), name) INTO t;
  RETURN t;
END $$;

CREATE FUNCTION pg_temp.expected(kind text) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(e ->> pg_temp.pk(kind), ',' ORDER BY CASE WHEN kind IN ('customers', 'tickets')
                      THEN lpad(e ->> pg_temp.pk(kind), 10, '0') ELSE e ->> pg_temp.pk(kind) END)
  FROM jsonb_array_elements(pg_temp.stub_get(format('/sync/pgn/%s/all', kind))) e
$$;

------------------------------------------------------------------------------
-- Each style, each data set: every record once
------------------------------------------------------------------------------

SELECT is(pg_temp.synced('customers', 'page'), pg_temp.expected('customers'), 'page_number: every customer');
SELECT is(pg_temp.synced('contracts', 'offset'), pg_temp.expected('contracts'), 'offset/limit: every contract');
SELECT is(pg_temp.synced('invoices', 'cursor'), pg_temp.expected('invoices'), 'cursor from a JSON path: every invoice');
SELECT is(pg_temp.synced('tickets', 'link'), pg_temp.expected('tickets'), 'Link header: every ticket');
SELECT is(pg_temp.synced('customers', 'next'), pg_temp.expected('customers'), 'next URL from a JSON path: every customer');

SELECT results_eq(
  $$SELECT source, status, pages, records, inserted, updated, rejected, resumed
      FROM concord.sync_run WHERE source LIKE 'pgn\_%' ORDER BY run_id$$,
  $$VALUES ('pgn_customers_page', 'succeeded', 6::bigint, 40::bigint, 40::bigint, 0::bigint, 0::bigint, false),
           ('pgn_contracts_offset', 'succeeded', 6, 40, 40, 0, 0, false),
           ('pgn_invoices_cursor', 'succeeded', 6, 40, 40, 0, 0, false),
           ('pgn_tickets_link', 'succeeded', 6, 40, 40, 0, 0, false),
           ('pgn_customers_next', 'succeeded', 6, 40, 40, 0, 0, false)$$,
  'each run: 6 pages of at most 7 (the total or a short page ends the walk), 40 inserted');

SELECT results_eq(
  $$SELECT s.id, s.name, s.phone, s.status, s.city, s.updated_at, s.lifetime_value
      FROM sync_test.pgn_customers_page s ORDER BY s.id$$,
  $$SELECT * FROM pg_temp.upstream_customers('pgn') ORDER BY id$$,
  'values arrive intact: text (Chinese), nested path, timestamptz, numeric');

SELECT results_eq(
  $$SELECT contract_no, amount, signed_on, status FROM sync_test.pgn_contracts_offset
     WHERE contract_no = 'HT-2026-00002'$$,
  $$SELECT e->>'contract_no', (e->>'amount')::numeric(14,2), (e->>'signed_on')::date, e->>'status'
      FROM jsonb_array_elements(pg_temp.stub_get('/sync/pgn/contracts/all')) e
     WHERE e->>'contract_no' = 'HT-2026-00002'$$,
  'a contract: amount as numeric, date, status 审批中 as sent');

-- the cursor and next-URL walks follow what the API says, page by page
SELECT is((pg_temp.stub_get('/sync/pgn/stats') -> 'pages' ->> 'cursor')::int, 6,
  'cursor style: 6 requests (the last page has no next cursor)');

------------------------------------------------------------------------------
-- Stop conditions
------------------------------------------------------------------------------

-- no total and no short-page rule: only an empty page ends the walk
SELECT is(pg_temp.synced('customers', 'page',
  '{"pagination": {"type": "page_number", "size": 8, "stop_on_short_page": false}}'),
  pg_temp.expected('customers'), 'page_number without total: walks until an empty page');
SELECT is((SELECT pages FROM concord.sync_run WHERE source = 'pgn_customers_page' ORDER BY run_id DESC LIMIT 1), 6::bigint,
  '40 records in pages of 8: five full pages and the empty sixth');

-- a short page ends the walk when the size is known
SELECT is(pg_temp.synced('customers', 'page', '{"pagination": {"type": "page_number", "size": 15}}'),
  pg_temp.expected('customers'), 'page_number with size 15 and no total');
SELECT is((SELECT pages FROM concord.sync_run WHERE source = 'pgn_customers_page' ORDER BY run_id DESC LIMIT 1), 3::bigint,
  'the short third page (10 of 15) ends the walk');

-- a page size above what the API allows is an upstream 4xx
SELECT throws_like(
  $$SELECT pg_temp.synced('contracts', 'offset', '{"pagination": {"type": "offset", "limit": 6000}}')$$,
  '%page 1 from %/sync/pgn/contracts/offset?limit=6000&offset=0 answered status 400%',
  'a 4xx answer fails the run at once, naming the page, the URL and the status');

-- no pagination: one request
SELECT is(pg_temp.synced('tickets', 'page', jsonb_build_object('pagination', NULL, 'request',
            jsonb_build_object('url', :'u' || '/sync/pgn/tickets/page', 'params', '{"per_page": 100}'::jsonb))),
  pg_temp.expected('tickets'), 'no pagination: one page with everything');

------------------------------------------------------------------------------
-- Loops and runaway walks are caught
------------------------------------------------------------------------------

SELECT pg_temp.stub('/sync/loop/reset', '{"n": 30, "faults": [{"style": "cursor", "page": 2, "kind": "repeat_cursor", "times": -1}, {"style": "next", "page": 2, "kind": "repeat_cursor", "times": -1}, {"style": "link", "page": 2, "kind": "repeat_cursor", "times": -1}]}') ->> 'ok' AS reset \gset

CREATE FUNCTION pg_temp.try_sync(name text, spec jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM concord.source_create(name, spec);
  EXECUTE format('CALL concord.sync(%L)', name);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT matches(pg_temp.try_sync('loop_cursor', pg_temp.spec('loop', 'invoices', 'cursor')),
  '^08P01: source "loop_cursor": the API returned a cursor it had returned before, after page 2$',
  'a cursor that repeats ends the run with an error instead of looping');
SELECT matches(pg_temp.try_sync('loop_next', pg_temp.spec('loop', 'invoices', 'next')),
  '^08P01: source "loop_next": the API returned a next-page URL it had returned before, after page 2$',
  'a next URL that repeats is caught too');
SELECT matches(pg_temp.try_sync('loop_link', pg_temp.spec('loop', 'tickets', 'link')),
  '^08P01: source "loop_link": the API returned a next-page URL it had returned before, after page 2$',
  'a Link header that repeats is caught too');

-- an API that ignores the page parameter serves page 1 forever
SELECT matches(pg_temp.try_sync('loop_page', pg_temp.spec('loop', 'customers', 'page',
    '{"pagination": {"type": "page_number", "page_param": "pg", "size": 7, "stop_on_short_page": false}}')),
  '^08P01: source "loop_page": page 2 is the same as the page before it$',
  'a page parameter the API ignores is caught');

SELECT matches(pg_temp.try_sync('loop_max', pg_temp.spec('loop', 'customers', 'page',
    '{"pagination": {"type": "page_number", "size": 7, "total_path": "$.total", "max_pages": 3}}')),
  '^54000: source "loop_max" has more than 3 pages$',
  'pagination.max_pages bounds a walk');

------------------------------------------------------------------------------
-- Records paths
------------------------------------------------------------------------------

SELECT is(pg_temp.synced('invoices', 'link', '{"records": "$[*]"}'),
  pg_temp.expected('invoices'), 'records path $[*] on a bare array');

SELECT is(pg_temp.synced('contracts', 'next', '{"records": "$.data.items"}'),
  pg_temp.expected('contracts'), 'next URL style with records path without [*]');

SELECT is((SELECT count(*)::int FROM concord.sync_run WHERE source LIKE 'pgn\_%' AND status <> 'succeeded'), 0,
  'every run of a valid walk succeeded');
SELECT is((SELECT count(*)::int FROM concord.sync_state WHERE source LIKE 'pgn\_%' AND pass_run_id IS NOT NULL), 0,
  'no pass is left in progress after complete walks');

SELECT * FROM finish();
ROLLBACK;
