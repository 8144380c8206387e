-- identity: ID numbers one typo apart.  A resident ID number with a typo
-- fails its check character; normalize_id keeps it as "typo:", and resolve
-- compares it with the number it is one typo from (close, one typo),
-- never matches it by rule and never puts it in the golden record.
BEGIN;
SELECT plan(10);
SET LOCAL client_min_messages = warning;
\ir people.psql
RESET ROLE;
-- 周明: her valid number in the CRM, the same number with one digit
-- mistyped at the service desk (no phone); 吴刚: a number with a typo
-- far from anyone's; 郑洁: a passport number one letter off between two
-- sources.
INSERT INTO idt.crm_customer VALUES
  (40, '周明', '13966667777', NULL, NULL, '11010519491231002X', '2026-01-01'),
  (41, '吴刚', '13966668888', NULL, NULL, '44030619850505123X', '2026-01-01'),
  (42, '郑洁', '13966669999', NULL, NULL, 'E12345678', '2026-01-01');
INSERT INTO idt.service_ticket_contact VALUES
  (140, '周明', NULL, '11010519491231012X'),
  (141, '吴刚', '13966668888', '110105194912310021'),
  (142, '郑洁', '13500002222', 'E12345679');
SET LOCAL ROLE tap_idt_user;

SELECT is(concord.normalize_id('11010519491231012X'), 'typo:11010519491231012X',
  'a resident ID number with one digit mistyped is kept, marked typo:');
SELECT ok((SELECT customers FROM concord.resolve()) > 0, 'resolve runs as a member of concord_identity');

SELECT results_eq($$SELECT j->'attributes'->'id_number'->>'level', (j->'attributes'->'id_number'->>'weight')::numeric
                      FROM concord.why_matched('crm', '40', 'service', '140') j$$,
  $$VALUES ('close, one typo', 6.00)$$,
  '周明''s valid number and its mistyped copy: close, one typo, +6 by default');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN (('crm', '40'), ('service', '140'))), 1,
  'and she is one customer: her name and the number one typo off (5 + 6 against the threshold 8)');
SELECT results_eq($$SELECT j->'attributes'->'id_number'->>'level', (j->'attributes'->'id_number'->>'weight')::numeric
                      FROM concord.why_matched('crm', '41', 'service', '141') j$$,
  $$VALUES ('disagree, a number with a typo', 0.00)$$,
  'a mistyped number far from the other says nothing against it');
SELECT isnt((SELECT how FROM concord.customer_link WHERE (source, key) = ('service', '141')), 'rule: same ID number',
  'nor for it');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE (source, key) IN (('crm', '41'), ('service', '141'))), 1,
  '吴刚 is one customer: same phone, same name, no veto from a mistyped number');
SELECT results_eq($$SELECT j->'attributes'->'id_number'->>'level' FROM concord.why_matched('crm', '42', 'service', '142') j$$,
  $$VALUES ('close, one typo')$$,
  'a passport number one character off comes close too');
SELECT is((SELECT c.id_number FROM concord.customer c JOIN concord.customer_link l USING (customer_id)
            WHERE (l.source, l.key) = ('service', '141')), NULL,
  'a mistyped number never becomes the golden record''s ID number');
SELECT is((SELECT c.id_number FROM concord.customer c JOIN concord.customer_link l USING (customer_id)
            WHERE (l.source, l.key) = ('service', '140')), '11010519491231002X',
  '周明''s golden ID number is her valid one');
SELECT * FROM finish();
ROLLBACK;
