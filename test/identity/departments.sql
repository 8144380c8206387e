-- identity, end to end: four departments' systems synced from the stub API
-- (the sales CRM, finance's billing contacts, the service desk) plus
-- marketing's own table; each spells a customer its own way (simplified,
-- traditional, pinyin; phones with spaces, full-width digits), and each
-- customer comes out once, in customer_360, with its rows from every
-- department. Then upstream changes flow in through sync and the
-- incremental resolve without changing any ID.
BEGIN;
SELECT plan(13);
\ir ../sync/setup.psql

SELECT bool_and(pg_temp.stub(format('/sync/%s/reset', ns), '{"n": 60}') ->> 'ok' = 'true') AS reset
FROM unnest(ARRAY['idcrm', 'idbill', 'iddesk']) ns \gset
SELECT concord.source_create('id_crm', pg_temp.spec('idcrm', 'customers', 'page')) IS NOT NULL AS s1,
       concord.source_create('id_payers', pg_temp.spec('idbill', 'payers', 'next')) IS NOT NULL AS s2,
       concord.source_create('id_tickets', pg_temp.spec('iddesk', 'tickets', 'link')) IS NOT NULL AS s3 \gset
SELECT is(pg_temp.sync('id_crm') || pg_temp.sync('id_payers') || pg_temp.sync('id_tickets'), 'okokok',
          'the CRM, the billing contacts and the service desk sync');

-- marketing has no API: two trade-fair sign-ups in pinyin, one of them a
-- person no other department knows
CREATE TABLE sync_test.signup (signup_id text PRIMARY KEY, full_name text, phone text, email text);
INSERT INTO sync_test.signup VALUES ('S-1', 'Zhang Wei', '138 0000 0001', 'zhangwei@example.com'),
                                    ('S-2', 'Ouyang Nana', '+86 139 8888 0002', 'nana.ouyang@example.com');

SELECT concord.identity_source_create('sales', 'sync_test.idcrm_customers', 'id',
         '{"name": "name", "phone": "phone", "updated_at": "updated_at"}', priority => 10) IS NOT NULL AS i1,
       concord.identity_source_create('finance', 'sync_test.idbill_payers', 'payer_id',
         '{"name": "contact", "phone": "phone", "company": "invoice_title", "updated_at": "updated_at"}',
         priority => 20) IS NOT NULL AS i2,
       concord.identity_source_create('service', 'sync_test.iddesk_tickets', 'ticket_id',
         '{"phone": "customer_phone"}') IS NOT NULL AS i3,
       concord.identity_source_create('marketing', 'sync_test.signup', 'signup_id',
         '{"name": "full_name", "phone": "phone", "email": "email"}') IS NOT NULL AS i4 \gset

SELECT results_eq($$SELECT records, customers FROM concord.resolve()$$,
                  $$VALUES (182::bigint, 61::bigint)$$,
                  '182 rows of four departments are 61 customers: the CRM''s 60 and one marketing lead');

-- customer i is CRM row i, billing contact FK-0000i and ticket i
CREATE TEMP VIEW per_number AS
SELECT n, count(*) AS rows, count(DISTINCT l.customer_id) AS ids, min(l.customer_id) AS customer_id
FROM generate_series(1, 60) n
JOIN concord.customer_link l
  ON (l.source, l.key) IN (('sales', n::text), ('finance', format('FK-%s', lpad(n::text, 5, '0'))),
                           ('service', n::text))
GROUP BY n;
SELECT is((SELECT count(*) FROM per_number WHERE rows = 3 AND ids = 1), 60::bigint,
          'each CRM customer, its billing contact (traditional script, full-width digits) and its ticket share one ID');
SELECT is((SELECT count(DISTINCT customer_id) FROM per_number), 60::bigint, 'and the 60 IDs are distinct');

SELECT customer_id AS zw FROM concord.customer_link WHERE (source, key) = ('sales', '1') \gset
SELECT is((SELECT rows_by_source FROM concord.customer_360 WHERE customer_id = :zw),
          '{"sales": 1, "finance": 1, "service": 1, "marketing": 1}'::jsonb,
          '张伟 appears once in customer_360, with a row from each of the four departments');
SELECT results_eq(
  $$SELECT name, phone, email, company, chosen_from ->> 'company' FROM concord.customer_360 WHERE customer_id = $$ || :zw,
  $$VALUES ('张伟'::text, '+8613800000001'::text, 'zhangwei@example.com'::text, '华信科技（上海）有限公司'::text, 'finance:FK-00001'::text)$$,
  'the golden record: the CRM''s name and phone, marketing''s e-mail, finance''s invoice title');
SELECT is((SELECT count(*) FROM per_number p JOIN concord.customer c USING (customer_id)
            JOIN sync_test.idcrm_customers s ON s.id = p.n
           WHERE c.name = s.name AND c.chosen_from ->> 'name' = 'sales:' || p.n), 60::bigint,
          'every golden name is the CRM''s simplified spelling (priority 10 beats finance''s 20 on a tie)');
SELECT is((SELECT count(*) FROM concord.customer_link WHERE source = 'marketing' AND key = 'S-2'
             AND customer_id NOT IN (SELECT customer_id FROM per_number)), 1::bigint,
          'the lead no department knows is a customer of its own');

-- upstream: two billing contacts change, a customer signs up in the CRM and
-- finance creates its billing contact; the syncs bring the rows, the
-- triggers queue them, the incremental resolve links them
CREATE TEMP TABLE before AS SELECT source, key, customer_id FROM concord.customer_link;
SELECT pg_temp.stub('/sync/idbill/payers/update', '{"ids": [1, 2]}') ->> 'ok' AS u1,
       pg_temp.stub('/sync/idcrm/customers/add', '{"n": 1}') ->> 'last' AS crm_new,
       pg_temp.stub('/sync/idbill/payers/add', '{"n": 1}') ->> 'last' AS bill_new \gset
SELECT is(pg_temp.sync('id_crm') || pg_temp.sync('id_payers'), 'okok', 'the changes sync');
SELECT results_eq($$SELECT source, key FROM concord.identity_queue ORDER BY 1, 2$$,
                  $$VALUES ('finance', 'FK-00001'), ('finance', 'FK-00002'), ('finance', 'FK-00061'),
                           ('sales', $$ || quote_literal(:'crm_new') || $$)$$,
                  'the sync''s writes queued the four changed rows, once each, and not the unchanged ones');
SELECT is((SELECT records FROM concord.resolve_incremental()), 9::bigint,
          'the incremental resolve reads them and the other rows of their customers (张伟 3, 王伟 2)');
SELECT is((SELECT count(*) FROM before b JOIN concord.customer_link l USING (source, key)
            WHERE l.customer_id IS DISTINCT FROM b.customer_id), 0::bigint,
          'no existing row changed customer');
SELECT results_eq(
  $$SELECT count(*), count(DISTINCT customer_id), bool_and(customer_id NOT IN (SELECT customer_id FROM before))
      FROM concord.customer_link
     WHERE (source, key) IN (('sales', $$ || quote_literal(:'crm_new') || $$), ('finance', 'FK-00061'))$$,
  $$VALUES (2::bigint, 1::bigint, true)$$,
  'the new CRM customer and its new billing contact are one new customer');

SELECT * FROM finish();
ROLLBACK;
