-- identity: the classes of wrong links found on the four-department
-- generator (issue 20), each on a hand-made case.  As a member of
-- concord_identity.
--   1. one employer's name in two cities (上海中科科技有限公司 and
--      中科科技(广州)) is two employers, not one: "close, another city's";
--      a city the name keeps (南京银行) is no place, and one employer
--      written with and without its city still agrees;
--   2. a landline that several people of an agreeing employer share is its
--      switchboard: counted once, as the employer, not again as a phone;
--   3. an email (or a mobile) that many rows of different names carry is
--      nobody's: detected from its frequency and read as missing;
--   4. a name of three characters with one of them different is a level of
--      its own (a typo, mostly), not "partial" as two-character names that
--      share the surname alone are (王伟 / 王芳 of one family).
BEGIN;
SELECT plan(21);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA iec;
CREATE TABLE iec.crm (id int PRIMARY KEY, name text, mobile text, company text);
CREATE TABLE iec.billing (account text PRIMARY KEY, holder text, phone text, company text);
CREATE TABLE iec.marketing (lead_id text PRIMARY KEY, full_name text, email text);
INSERT INTO iec.crm VALUES
  (1, '王晨', '13393475881', '上海中科科技有限公司'),
  (2, '宋军', '13746225467', '深圳华信投资有限公司'),
  (3, '钟新宁', '13800468358', '南京银行股份有限公司'),
  (4, '王明峰', '13809828616', NULL),
  (5, '王伟', '13700000001', NULL);
INSERT INTO iec.billing VALUES
  -- 1: another 王晨, at the Guangzhou company of the same name
  ('B-1', '王晨', '13523037513', '中科科技(广州)'),
  -- 宋军 of crm, billed at his employer as it writes itself
  ('B-2', '宋军', '13746225467', '华信投资(深圳)'),
  ('B-3', '钟新宁', '13800468358', '南京银行(上海)'),
  -- 2: two colleagues of alike names billed through their office's number
  ('B-4', '杨浩', '021-68083665', '华信化工(成都)'),
  ('B-5', '杨洋', '021-68083665', '成都华信化工有限公司'),
  ('B-6', '王蔷峰', '13809828616', NULL),
  ('B-7', '王芳', '13700000001', NULL);
-- 3: thirty leads of thirty names left test@test.com, two of them 任杰
INSERT INTO iec.marketing
  SELECT 'M-' || i, (ARRAY['赵', '钱', '孙', '李', '周', '吴'])[1 + i % 6] || (ARRAY['一', '二', '三', '四', '五'])[1 + i / 6],
         'test@test.com'
    FROM generate_series(0, 29) i;
INSERT INTO iec.marketing VALUES ('M-30', '任杰', 'test@test.com'), ('M-31', '任杰', 'Test@Test.com');

\set id_schema iec
\ir member.psql
SELECT concord.identity_source_create('iec_crm', 'iec.crm', 'id', '{"name": "name", "phone": "mobile", "company": "company"}') IS NOT NULL AS s1,
       concord.identity_source_create('iec_billing', 'iec.billing', 'account', '{"name": "holder", "phone": "phone", "company": "company"}') IS NOT NULL AS s2,
       concord.identity_source_create('iec_marketing', 'iec.marketing', 'lead_id', '{"name": "full_name", "email": "email"}') IS NOT NULL AS s3 \gset
SELECT ok((SELECT customers FROM concord.resolve()) > 0, 'resolve');

-- 1. cities
SELECT is(concord.why_matched('iec_crm', '1', 'iec_billing', 'B-1') #>> '{attributes,company,level}', 'close, another city''s',
          '上海中科科技有限公司 and 中科科技(广州): one name, two cities, two employers');
SELECT ok((concord.why_matched('iec_crm', '1', 'iec_billing', 'B-1') #>> '{attributes,company,weight}')::numeric
          < (concord.why_matched('iec_crm', '2', 'iec_billing', 'B-2') #>> '{attributes,company,weight}')::numeric,
          'and weigh less than an employer that agrees');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_crm', '1')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_billing', 'B-1')),
            'the two 王晨 are two customers');
SELECT is(concord.why_matched('iec_crm', '2', 'iec_billing', 'B-2') #>> '{attributes,company,level}', 'agree',
          '深圳华信投资有限公司 and 华信投资(深圳): one city, one employer');
SELECT is(concord.why_matched('iec_crm', '3', 'iec_billing', 'B-3') #>> '{attributes,company,level}', 'agree',
          '南京银行股份有限公司 and 南京银行(上海): 南京 is part of the name, no other city');
SELECT is(concord.normalize_company('中科科技(广州)'), '中科科技', 'normalize_company still drops the city (one employer written with and without it)');

-- 2. the switchboard
SELECT results_eq(
  $$SELECT j #>> '{attributes,phone,level}', (j #>> '{attributes,phone,weight}')::numeric, j #>> '{attributes,company,level}'
      FROM concord.why_matched('iec_billing', 'B-4', 'iec_billing', 'B-5') j$$,
  $$VALUES ('agree, the employer''s switchboard'::text, 0.00, 'agree'::text)$$,
  '杨浩 and 杨洋 share the office''s number: it is the employer''s, counted once, as the employer');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_billing', 'B-4')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_billing', 'B-5')),
            'they are two customers');

-- 3. the email nobody owns
SELECT results_eq(
  $$SELECT kind, value, placeholder, records FROM concord.identity_placeholder_value WHERE origin = 'detected' AND kind IN ('email', 'phone')$$,
  $$VALUES ('email'::text, 'test@test.com'::text, true, 32::bigint)$$,
  'test@test.com, 32 rows of 31 names, is detected as a placeholder email');
SELECT isnt((SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_marketing', 'M-30')),
            (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_marketing', 'M-31')),
            'the two 任杰 who left it are not joined by it');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link WHERE source = 'iec_marketing' AND key <> 'M-31'),
          31, 'nor is anyone else');
SELECT is(concord.why_matched('iec_marketing', 'M-30', 'iec_marketing', 'M-31') #>> '{attributes,email,level}', 'missing',
          'why_matched reads it as resolve does: missing');

-- 4. one character of three
SELECT is(concord.why_matched('iec_crm', '4', 'iec_billing', 'B-6') #>> '{attributes,name,level}', 'near, one character of three',
          '王明峰 / 王蔷峰: one character of three different, "near"');
SELECT is(concord.why_matched('iec_crm', '5', 'iec_billing', 'B-7') #>> '{attributes,name,level}', 'partial',
          '王伟 / 王芳: the surname alone in common, "partial" as before');

-- the incremental path reads the city as the full one does: a third 王晨
-- arrives, billed at the Guangzhou company with 王晨 B-1's mobile, and a
-- fourth at the Shanghai one, without a phone
INSERT INTO iec.billing VALUES ('B-8', '王晨', '13523037513', '广州中科科技有限公司'), ('B-9', '王晨', NULL, '中科科技(北京)');
SELECT ok((SELECT records FROM concord.resolve_incremental()) > 0, 'resolve_incremental');
SELECT is(concord.why_matched('iec_crm', '1', 'iec_billing', 'B-9') #>> '{attributes,company,level}', 'close, another city''s',
          'the new 王晨 of 中科科技(北京) and 王晨 of 上海中科科技有限公司: two employers');
SELECT is((SELECT count(DISTINCT customer_id)::int FROM concord.customer_link
            WHERE (source, key) IN (('iec_crm', '1'), ('iec_billing', 'B-1'), ('iec_billing', 'B-9'))), 3,
          'three 王晨 of three cities, three customers');
\ir same_as_full.psql

SELECT * FROM finish();
ROLLBACK;
