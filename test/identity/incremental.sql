-- identity: the incremental path.  Triggers queue the rows the departments
-- insert, update and delete; resolve_incremental touches only what they
-- affect, and ends where a full resolve would.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;
\ir people.psql

SELECT is((SELECT customers FROM concord.resolve()), 13::bigint, 'a full resolve to start from');
SELECT is((SELECT count(*)::int FROM concord.identity_queue), 0, 'the full resolve emptied the queue');

-- the departments work: service files a ticket for a new contact, billing
-- corrects an account, marketing drops a lead, sales adds a new customer
INSERT INTO idt.service_ticket_contact VALUES (110, '周杰', '13900001234', NULL);
INSERT INTO idt.crm_customer VALUES (6, '周杰', '139-0000-1234', 'zhoujie@example.com', '广州某某科技有限公司', NULL, '2026-06-01');
UPDATE idt.billing_account SET phone = '13900001234', company = '广州某某科技有限公司' WHERE account = 'B-007';
DELETE FROM idt.marketing_lead WHERE lead_id = 'M-4';
SELECT is((SELECT count(DISTINCT (source, key))::int FROM concord.identity_queue), 4,
  'triggers queued the four rows changed');

CREATE TEMP TABLE ids_before AS SELECT source, key, customer_id FROM concord.customer_link;
SELECT results_eq($$SELECT records, customers, new_ids, merged, split FROM concord.resolve_incremental()$$,
  $$VALUES (3::bigint, 12::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
  'incremental: 3 rows in scope (the 3 changed that remain: they share their new phone, nobody else does; the rows that shared their old values stay out); 周杰 joins; M-4''s customer is gone');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('crm', '6'), ('service', '110'), ('billing', 'B-007'))), 1,
  '周杰: one customer from three departments');
SELECT is((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-007')),
  (SELECT customer_id FROM ids_before WHERE (source, key) = ('billing', 'B-007')),
  'the existing customer keeps its ID');
SELECT is((SELECT count(*)::int FROM concord.customer_link WHERE (source, key) = ('marketing', 'M-4')), 0,
  'the deleted lead''s link is gone');
SELECT is((SELECT count(*)::int FROM ids_before b JOIN concord.customer_link l USING (source, key)
            WHERE l.customer_id <> b.customer_id), 0, 'no other row changed customer');
SELECT is((SELECT count(*)::int FROM concord.identity_queue), 0, 'the queue is empty again');

-- the same state through a full resolve: the same customers, the same links
\ir same_as_full.psql

SELECT * FROM finish();
ROLLBACK;
