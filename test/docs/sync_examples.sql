-- docs/sync.md: every ```sql example runs, in order, against the stub API
-- (the docs name it http://127.0.0.1:8765; here it is the harness's stub),
-- and the worked example gives the results the text describes.
BEGIN;
SET LOCAL client_min_messages = warning;

\set page sync
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 8);

-- (an example that schedules skips where pg_cron is not installed for the
-- server's major: see pg_cron_available in test/harness/lib.sh)
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') AS no_cron \gset
SELECT CASE WHEN :'no_cron'::boolean AND code ~ '(source_schedule|\mcron\.)'
            THEN skip(format('docs/sync.md example %s needs pg_cron, not installed for PostgreSQL %s',
                             n, current_setting('server_version')), 1)
            ELSE lives_ok(code, format('docs/sync.md example %s runs', n)) END
  FROM blocks ORDER BY n;

SELECT is((SELECT count(*)::int FROM sales.customer), 40, 'worked example: the 40 CRM customers');
SELECT results_eq(
  $$SELECT status, pages, records, inserted FROM concord.sync_run WHERE source = 'crm_customers' ORDER BY run_id LIMIT 1$$,
  $$VALUES ('succeeded', 2::bigint, 40::bigint, 40::bigint)$$,
  'worked example: the first run read two pages and inserted 40');
SELECT results_eq(
  $$SELECT updated, since IS NOT NULL FROM concord.sync_run WHERE source = 'crm_customers' ORDER BY run_id DESC LIMIT 1$$,
  $$VALUES (2::bigint, true)$$,
  'worked example: the second run sent the cursor and updated the two changed customers');
SELECT is((SELECT count(DISTINCT stage)::int FROM sales.customer WHERE stage IN ('已签约', '跟进中', '流失')), 3,
  'worked example: status codes mapped to the names sales uses');
SELECT is((SELECT count(*)::int FROM finance.contract) + (SELECT count(*)::int FROM finance.invoice)
          + (SELECT count(*)::int FROM service.ticket), 90, 'the three department examples loaded 30 records each');
SELECT is((SELECT count(*)::int FROM service.ticket_q) + (SELECT count(*)::int FROM sales.lead), 24,
  'the query-key and refresh-token examples loaded 12 each');
SELECT is((SELECT count(*)::int FROM marketing.signup), 12, 'the no-auth, no-paging example loaded 12');
SELECT results_eq(
  $$SELECT source, status, records, inserted FROM concord.sync_run
    WHERE source IN ('stripe_customers', 'crm_issues', 'sf_accounts', 'hs_contacts', 'shop_orders',
                     'support_issues', 'dt_users', 'wc_departments', 'fs_users', 'yy_customers')
    ORDER BY source$$,
  $$VALUES ('crm_issues', 'succeeded', 25::bigint, 25::bigint), ('dt_users', 'succeeded', 30, 30),
           ('fs_users', 'succeeded', 30, 30), ('hs_contacts', 'succeeded', 35, 35),
           ('sf_accounts', 'succeeded', 40, 40), ('shop_orders', 'succeeded', 30, 30),
           ('stripe_customers', 'succeeded', 30, 30), ('support_issues', 'succeeded', 30, 30),
           ('wc_departments', 'succeeded', 4, 4), ('yy_customers', 'succeeded', 30, 30)$$,
  'templates: each example loads what its stand-in was reset to (WeCom: the stand-in''s 4 departments)');

SELECT * FROM finish();
ROLLBACK;
