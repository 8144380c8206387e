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
-- And the classes of the held-out Chinese dataset (bench/identity_heldout.sh):
--   5. two names in Chinese characters whose keys are rotations of one
--      another (于洋 / 杨宇, both yangyu) are two names: the family name
--      comes first in characters -- while Yu Yang, Yang Yu and 于洋 stay one
--      name; 王建明 / 王铭建 (the given name's characters swapped) is no
--      exact name either; one sound in other characters (徐超伟 / 许超伟) is
--      a level of its own, 張三 / 张三 and 王 宁 / 王宁 one name;
--   6. a family name and an honorific (王女士) is compared with the other
--      name's family name: another one (李敏娜 on the family's phone) is a
--      conflict and the phone says nothing, the same one (王敏娜) agrees;
--      a compound family name (欧阳女士) against characters and pinyin;
--   7. two mobiles one typo apart (a digit replaced, two swapped) are
--      "close, one typo"; not the last digit alone (numbers bought
--      together), nor landlines;
--   8. an address many people share (an office building) weighs less, by
--      their number: the same in incremental runs and why_matched;
--   9. one employer's name the other's brand (九州 / 九州信息技术 / Hangzhou
--      Jiuzhou Information Technology) is "contained".
BEGIN;
SELECT plan(57);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA iec;
CREATE TABLE iec.crm (id int PRIMARY KEY, name text, mobile text, company text);
CREATE TABLE iec.billing (account text PRIMARY KEY, holder text, phone text, company text);
CREATE TABLE iec.marketing (lead_id text PRIMARY KEY, full_name text, email text);
CREATE TABLE iec.service (ticket text PRIMARY KEY, caller text, tel text);
-- 8. thirty people of one office building, two of them 郑凯 (two people:
-- two mobiles), and two rows of 孔丽 at her home
CREATE TABLE iec.visitor (vid text PRIMARY KEY, visitor text, mobile text, addr text);
INSERT INTO iec.visitor
  SELECT 'V-' || i, (ARRAY['冯', '陈', '褚', '卫', '蒋', '沈'])[1 + i % 6] || (ARRAY['甲', '乙', '丙', '丁', '戊'])[1 + i / 6],
         '1360000' || lpad((1000 + i * 37)::text, 4, '0'), '北京市朝阳区建国路88号SOHO现代城A座'
    FROM generate_series(0, 29) i;
INSERT INTO iec.visitor VALUES
  ('V-30', '郑凯', '13911112222', '北京市朝阳区建国路88号SOHO现代城A座'),
  ('V-31', '郑凯', '13933334444', '北京市朝阳区建国路88号SOHO现代城A座'),
  ('V-32', '孔丽', '13955556666', '北京市海淀区中关村南大街5号1单元101'),
  ('V-33', '孔丽', '13977778888', '北京市海淀区中关村南大街5号1单元101');
INSERT INTO iec.service VALUES
  -- 5. name order and homophones (each pair on its own phone)
  ('S-1', '于洋', '13910000001'), ('S-2', '杨宇', '13910000001'), ('S-3', 'Yu Yang', '13910000011'),
  ('S-4', 'Yang Yu', '13910000012'),
  ('S-5', '王建明', '13910000002'), ('S-6', '王铭建', '13910000002'),
  ('S-7', '徐超伟', '13910000003'), ('S-8', '许超伟', '13910000003'),
  ('S-9', '張三', '13910000004'), ('S-10', '张三', '13910000004'),
  ('S-11', '王 宁', '13910000005'), ('S-12', '王宁', '13910000005'),
  -- 6. honorifics
  ('S-13', '王女士', '13910000006'), ('S-14', '李敏娜', '13910000006'),
  ('S-15', '王先生', '13910000007'), ('S-16', '王敏娜', '13910000007'),
  ('S-17', '欧阳女士', '13910000008'), ('S-18', '欧阳娜娜', '13910000008'), ('S-19', 'Nana Ouyang', '13910000008'),
  ('S-20', '徐先生', '13910000009'), ('S-21', '许超伟', '13910000009'),
  -- 7. a mobile mistyped: one digit, two swapped; landlines one digit apart
  ('S-22', '陈佳', '13559959934'), ('S-23', '陈佳', '13559953934'), ('S-24', '陈佳', '13559599934'),
  ('S-25', '周明', '021-64839201'), ('S-26', '周明', '021-64839207'),
  ('S-27', '林涛', '13910000021'), ('S-28', '林涛', '13910000022');
INSERT INTO iec.crm VALUES
  (1, '王晨', '13393475881', '上海中科科技有限公司'),
  (2, '宋军', '13746225467', '深圳华信投资有限公司'),
  (3, '钟新宁', '13800468358', '南京银行股份有限公司'),
  (4, '王明峰', '13809828616', NULL),
  (5, '王伟', '13700000001', NULL),
  -- 9. brands
  (6, '肖文', '13912340011', '九州'), (7, '叶青', '13912340021', '鸿运机械股份有限公司'),
  (8, '余华', '13912340041', '九州物流'), (9, '孟飞', '13912340061', '华信');
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
  ('B-7', '王芳', '13700000001', NULL),
  ('B-10', '肖文', '13912340012', '杭州九州信息技术有限公司'), ('B-11', '肖文', '13912340013', 'Hangzhou Jiuzhou Information Technology Co., Ltd.'),
  ('B-12', '叶青', '13912340032', 'Hangzhou Hongyun Machinery Co., Ltd.'),
  ('B-13', '余华', '13912340052', '九州信息技术'), ('B-14', '孟飞', '13912340072', 'Huaxing Trading Co., Ltd.');
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
       concord.identity_source_create('iec_marketing', 'iec.marketing', 'lead_id', '{"name": "full_name", "email": "email"}') IS NOT NULL AS s3,
       concord.identity_source_create('iec_service', 'iec.service', 'ticket', '{"name": "caller", "phone": "tel"}') IS NOT NULL AS s4,
       concord.identity_source_create('iec_visitor', 'iec.visitor', 'vid', '{"name": "visitor", "phone": "mobile", "address": "addr"}') IS NOT NULL AS s5 \gset
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

-- 5. name order and homophones
CREATE FUNCTION pg_temp.lvl(a text, b text, att text DEFAULT 'name') RETURNS text LANGUAGE sql AS
  $$SELECT concord.why_matched('iec_service', a, 'iec_service', b) #>> ARRAY['attributes', att, 'level']$$;
CREATE FUNCTION pg_temp.same(a text, b text) RETURNS boolean LANGUAGE sql AS
  $$SELECT (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_service', a))
         = (SELECT customer_id FROM concord.customer_link WHERE (source, key) = ('iec_service', b))$$;
SELECT is(concord.name_key('于洋'), concord.name_key('杨宇'), '于洋 and 杨宇 share one name key (a block)');
SELECT is(pg_temp.lvl('S-1', 'S-2'), 'disagree, another family name', '于洋 / 杨宇: written in characters, two family names');
SELECT ok(NOT pg_temp.same('S-1', 'S-2'), 'and two customers, though on one phone');
SELECT is(pg_temp.lvl('S-1', 'S-3'), 'exact', '于洋 / Yu Yang: one name across scripts');
SELECT is(pg_temp.lvl('S-1', 'S-4'), 'exact', '于洋 / Yang Yu: either order in Latin letters');
SELECT is(pg_temp.lvl('S-3', 'S-4'), 'exact', 'Yu Yang / Yang Yu: as before');
SELECT is(pg_temp.lvl('S-5', 'S-6'), 'partial, characters in another order', '王建明 / 王铭建: the given name''s characters swapped, no exact name');
SELECT is(pg_temp.lvl('S-7', 'S-8'), 'exact, homophone', '徐超伟 / 许超伟: one sound, other characters');
SELECT is(pg_temp.lvl('S-9', 'S-10'), 'exact, one person', '張三 / 张三: one name in traditional and simplified characters');
SELECT is(pg_temp.lvl('S-11', 'S-12'), 'exact, one person', '王 宁 / 王宁: a space is no other name');
SELECT results_eq(
  $$SELECT concord.identity_name_form(v) FROM unnest(ARRAY['于洋', '張三', '王 宁', 'Yu Yang', '欧阳女士', '曾先生', '未知', '', '买买提·艾力']) v$$,
  $$VALUES ('yu yang' || chr(9) || '于洋'), ('zhang san' || chr(9) || '张三'), ('wang ning' || chr(9) || '王宁'), ('yang yu'),
           ('ou yang' || chr(9) || '欧阳'), ('zeng' || chr(9) || '曾'), (NULL), (NULL), ('ai li mai mai ti')$$,
  'identity_name_form: characters in written order after their syllables, an honorific''s family name, no placeholder, a dotted name as name_syllables');
SELECT is(concord.identity_name_form(NULL), NULL, 'identity_name_form(NULL) is NULL');
SELECT is(concord.name_syllables('于洋'), 'yang yu', 'name_syllables is unchanged: sorted');

-- 6. honorifics
SELECT is(pg_temp.lvl('S-13', 'S-14'), 'disagree, an honorific of another family name', '王女士 / 李敏娜: another family name');
SELECT is(pg_temp.lvl('S-13', 'S-14', 'phone'), 'agree, shared by different names', 'their phone is a household''s: it says nothing');
SELECT ok(NOT pg_temp.same('S-13', 'S-14'), '王女士 and 李敏娜 are two customers');
SELECT is(pg_temp.lvl('S-15', 'S-16'), 'family, of an honorific', '王先生 / 王敏娜: the family name agrees');
SELECT is(pg_temp.lvl('S-17', 'S-18'), 'family, of an honorific', '欧阳女士 / 欧阳娜娜: a compound family name agrees');
SELECT is(pg_temp.lvl('S-17', 'S-19'), 'family, of an honorific', '欧阳女士 / Nana Ouyang: across scripts');
SELECT is(pg_temp.lvl('S-20', 'S-21'), 'family, of an honorific', '徐先生 / 许超伟: a family name heard (xu) agrees');
SELECT is(pg_temp.lvl('S-13', 'S-15'), 'missing', '王女士 / 王先生: two honorifics say nothing');

-- 7. mobiles one typo apart
SELECT is(pg_temp.lvl('S-22', 'S-23', 'phone'), 'close, one typo', '13559959934 / 13559953934: one digit replaced');
SELECT is(pg_temp.lvl('S-22', 'S-24', 'phone'), 'close, one typo', '13559959934 / 13559599934: two digits swapped');
SELECT is(pg_temp.lvl('S-25', 'S-26', 'phone'), 'disagree', 'landlines one digit apart: two lines');
SELECT is(pg_temp.lvl('S-27', 'S-28', 'phone'), 'disagree', '13910000021 / 13910000022: the last digit alone, numbers bought together');

-- 9. brands
CREATE FUNCTION pg_temp.co(a text, b text) RETURNS text LANGUAGE sql AS
  $$SELECT concord.why_matched('iec_crm', a, 'iec_billing', b) #>> '{attributes,company,level}'$$;
SELECT is(pg_temp.co('6', 'B-10'), 'contained, one name the other''s brand', '九州 / 杭州九州信息技术有限公司: the brand within the name');
SELECT is(pg_temp.co('6', 'B-11'), 'contained, one name the other''s brand', '九州 / Hangzhou Jiuzhou Information Technology: the brand in pinyin');
SELECT is(pg_temp.co('7', 'B-12'), 'contained, one name the other''s brand', '鸿运机械 / Hangzhou Hongyun Machinery: its first two syllables a word');
SELECT is(pg_temp.co('8', 'B-13'), 'disagree', '九州物流 / 九州信息技术: one brand, two trades, neither within the other');
SELECT is(pg_temp.co('9', 'B-14'), 'disagree', '华信 / Huaxing Trading: huaxin is no word of it');

-- 8. an office building's address
SELECT results_eq(
  $$SELECT attribute, records, spread FROM concord.identity_value_stat WHERE attribute = 'address'$$,
  $$VALUES ('address'::text, 32, 31)$$,
  'the building''s address: 32 rows, 31 people (distinct names), kept for the incremental runs');
SELECT is((concord.why_matched('iec_visitor', 'V-30', 'iec_visitor', 'V-31') #>> '{attributes,address,weight}')::numeric, 0.00,
          'two 郑凯 at the building: its address, 31 people''s, weighs nothing (3 - log2 31, never below 0)');
SELECT is((concord.why_matched('iec_visitor', 'V-32', 'iec_visitor', 'V-33') #>> '{attributes,address,weight}')::numeric, 3.00,
          'two 孔丽 at a home: the full weight');
SELECT ok(NOT EXISTS (SELECT 1 FROM concord.customer_link a JOIN concord.customer_link b USING (customer_id)
                       WHERE (a.source, a.key) = ('iec_visitor', 'V-30') AND (b.source, b.key) = ('iec_visitor', 'V-31')),
          'the two 郑凯 are two customers');

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
-- ... and the building's address as the full one kept it: a third 郑凯 of
-- the building
INSERT INTO iec.visitor VALUES ('V-34', '郑凯', '13911112223', '北京市朝阳区建国路88号SOHO现代城A座');
SELECT ok((SELECT records FROM concord.resolve_incremental()) > 0, 'resolve_incremental (the building)');
SELECT is((concord.why_matched('iec_visitor', 'V-31', 'iec_visitor', 'V-34') #>> '{attributes,address,weight}')::numeric, 0.00,
          'the new 郑凯''s address weighs nothing, as in the full run');
\ir same_as_full.psql

SELECT * FROM finish();
ROLLBACK;
