-- identity: a link that carries no evidence on the name (one record has
-- none) or on the ID number may not make two people one customer through
-- a third record -- the issue's nameless record on a mobile two people
-- share.  Union-find alone joins every chain of matches.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;
\ir people.psql
RESET ROLE;
-- 李明 and 王芳 share a family mobile; two marketing leads have that
-- mobile and no name (NULL, and empty).
INSERT INTO idt.crm_customer VALUES (20, '李明', '13900002222', 'liming@example.com', NULL, NULL, '2026-01-01');
INSERT INTO idt.billing_account VALUES ('B-020', '王芳', '13900002222', NULL, '广州市天河区体育西路1号', '2026-01-01');
INSERT INTO idt.marketing_lead VALUES ('M-20', NULL, NULL, '13900002222'), ('M-21', '', NULL, '139 0000 2222');
-- Two 刘强 with their own ID numbers and mobiles, and two rows of 刘强
-- without an ID number, one on each mobile, sharing an email.
INSERT INTO idt.crm_customer VALUES
  (30, '刘强', '13911113333', NULL, NULL, '440306198505051237', '2026-01-01'),
  (31, '刘强', '13922224444', NULL, NULL, '310104198001010017', '2026-01-01'),
  (32, '刘强', '13911113333', 'liuqiang@example.com', NULL, NULL, '2026-01-02');
INSERT INTO idt.marketing_lead VALUES ('M-30', '刘强', 'liuqiang@example.com', '13922224444');
SET LOCAL ROLE tap_idt_user;

SELECT ok((SELECT customers FROM concord.resolve()) > 0, 'resolve runs as a member of concord_identity');

SELECT cmp_ok((concord.why_matched('crm', '20', 'marketing', 'M-20')->>'match')::boolean, '=', true,
  'the nameless lead matches 李明 by the mobile alone');
SELECT cmp_ok((concord.why_matched('billing', 'B-020', 'marketing', 'M-20')->>'match')::boolean, '=', true,
  'and 王芳 just as well');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '20')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('billing', 'B-020')),
  '李明 and 王芳 stay two customers: neither nameless lead joins them');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('marketing', 'M-20'), ('marketing', 'M-21'))), 1,
  'the two nameless leads (NULL and empty name) are one customer');

SELECT cmp_ok((concord.why_matched('crm', '32', 'marketing', 'M-30')->>'match')::boolean, '=', true,
  'the two 刘强 rows without an ID number match each other (name and email)');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '30')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('crm', '31')),
  'the 刘强 of 440306… and the 刘强 of 310104… stay two customers');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('crm', '30'), ('crm', '32'))), 1,
  'each row without an ID number still joins the 刘强 of its mobile');
SELECT * FROM finish();
ROLLBACK;
