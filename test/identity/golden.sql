-- identity: survivorship rules of the golden record — most recent (the
-- default), source priority, longest, most frequent — per attribute, and
-- their bad input.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA idg;
CREATE TABLE idg.crm (id int PRIMARY KEY, name text, phone text, email text, company text, at date);
CREATE TABLE idg.desk (id int PRIMARY KEY, name text, phone text, email text, at date);
CREATE TABLE idg.mkt (id int PRIMARY KEY, name text, phone text, email text, company text, at date);
-- one customer, 李四, as sales, service and marketing have him
INSERT INTO idg.crm VALUES (1, '李四', '13900001111', 'lisi@example.com', '北京字节跳动科技有限公司', '2026-01-01');
INSERT INTO idg.desk VALUES (11, 'Li Si', '139-0000-1111', 'li.si@work.example.com', '2026-03-01');
INSERT INTO idg.mkt VALUES (21, '李四', '+86 13900001111', 'li.si@work.example.com', '字节跳动', '2026-02-01');
\set id_schema idg
\ir member.psql
SELECT concord.identity_source_create('crm', 'idg.crm', 'id',
         '{"name": "name", "phone": "phone", "email": "email", "company": "company", "updated_at": "at"}', 10) IS NOT NULL AS a,
       concord.identity_source_create('desk', 'idg.desk', 'id',
         '{"name": "name", "phone": "phone", "email": "email", "updated_at": "at"}', 20) IS NOT NULL AS b,
       concord.identity_source_create('mkt', 'idg.mkt', 'id',
         '{"name": "name", "phone": "phone", "email": "email", "company": "company", "updated_at": "at"}', 30) IS NOT NULL AS c \gset

SELECT is((SELECT customers FROM concord.resolve()), 1::bigint, 'the three rows are one customer');
SELECT results_eq($$SELECT name, phone, email, company, chosen_from FROM concord.customer$$,
  $$VALUES ('Li Si', '+8613900001111', 'li.si@work.example.com', '字节跳动',
            '{"name": "desk:11", "phone": "desk:11", "email": "desk:11", "company": "mkt:21"}'::jsonb)$$,
  'by default every value is the most recent one (the desk''s of March; the company from marketing''s February row)');

SELECT concord.identity_survivorship_set('name', 'most_frequent');
SELECT concord.identity_survivorship_set('email', 'most_frequent');
SELECT concord.identity_survivorship_set('company', 'longest');
SELECT concord.identity_survivorship_set('phone', 'source_priority');
SELECT is((SELECT new_ids + merged + split FROM concord.resolve()), 0::bigint, 'a resolve under the new rules keeps the ID');
SELECT results_eq($$SELECT name, email, company, chosen_from FROM concord.customer$$,
  $$VALUES ('李四', 'li.si@work.example.com', '北京字节跳动科技有限公司',
            '{"name": "mkt:21", "phone": "crm:1", "email": "desk:11", "company": "crm:1"}'::jsonb)$$,
  'most frequent: 李四 (two rows; the newer of them), the work email (two rows); longest: the full company name; source priority: the phone from sales');

SELECT concord.identity_survivorship_set('name', 'most_recent');
SELECT is((SELECT count(*)::int FROM concord.identity_survivorship WHERE attribute = 'name' AND rule = 'most_recent'), 1,
  'setting a rule again replaces it');

SELECT throws_ok($$SELECT concord.identity_survivorship_set('birthday', 'longest')$$, '22023',
  'the golden record has no attribute "birthday"', 'an unknown attribute');
SELECT throws_ok($$SELECT concord.identity_survivorship_set('name', 'loudest')$$, '22023',
  'unknown survivorship rule "loudest" for attribute "name"', 'an unknown rule');
SELECT throws_ok($$SELECT concord.identity_survivorship_set(NULL, 'longest')$$, '22004',
  'attribute and rule must not be null', 'a null attribute');

SELECT * FROM finish();
ROLLBACK;
