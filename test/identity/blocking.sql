-- identity: blocking — a block too large to pair (max_block) does not hide
-- a pair that another, smaller block holds: a common name together with an
-- employer, or a name shared past a switchboard.
BEGIN;
SELECT plan(4);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA idb;
CREATE TABLE idb.contact (id int PRIMARY KEY, name text, phone text, company text);
INSERT INTO idb.contact VALUES
  -- three 王伟 (a block of 3, over max_block 2); two of them at 华信软件
  (1, '王伟', NULL, '华信软件有限公司'), (2, '王伟', NULL, '华信软件(深圳)'), (3, '王伟', NULL, '恒通物流'),
  -- three people behind one switchboard (a block of 3); 李娜 twice
  (4, '李娜', '021-62345678', NULL), (5, '李娜', '021 6234 5678', NULL), (6, '周杰', '021-62345678', NULL);
\set id_schema idb
\ir member.psql
SELECT concord.identity_source_create('contact', 'idb.contact', 'id', '{"name": "name", "phone": "phone", "company": "company"}')
  IS NOT NULL AS added \gset

SELECT results_eq($$SELECT pairs, customers FROM concord.resolve(max_block => 2)$$, $$VALUES (2::bigint, 4::bigint)$$,
  'with max_block 2 the name and switchboard blocks make no pairs, yet two pairs are compared: 4 customers of 6 rows');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE key IN ('1', '2')), 1,
  '王伟 at 华信软件 twice: compared in the block of a name and an employer together, one customer');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE key IN ('1', '3')), 2,
  'the 王伟 at 恒通物流 stays apart');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE key IN ('4', '5')), 1,
  '李娜 twice behind the switchboard: compared in the name''s block although the switchboard''s block was too large');

SELECT * FROM finish();
ROLLBACK;
