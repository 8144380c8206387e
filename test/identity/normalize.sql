-- identity: the normalizers, table-driven.  Each row: the input as a
-- department wrote it, and the canonical form (or NULL and the reason).
BEGIN;
SELECT plan(21);
-- the normalizers and similarity functions are everyone's: asked as a
-- role granted nothing
CREATE ROLE tap_id_anyone;
SET LOCAL ROLE tap_id_anyone;

------------------------------------------------------------------------------
-- Phone numbers
------------------------------------------------------------------------------

CREATE TEMP TABLE phones (input text, canonical text, problem text);
INSERT INTO phones VALUES
  -- one mobile number, as sales, finance and service wrote it
  ('+86 138-1234-5678',        '+8613812345678', NULL),
  ('13812345678',              '+8613812345678', NULL),
  ('138 1234 5678',            '+8613812345678', NULL),
  ('１３８１２３４５６７８',   '+8613812345678', NULL),
  ('＋８６　１３８－１２３４－５６７８', '+8613812345678', NULL),
  ('0086 13812345678',         '+8613812345678', NULL),
  ('86 13812345678',           '+8613812345678', NULL),
  ('(+86) 138.1234.5678',      '+8613812345678', NULL),
  -- landlines: area codes of 2 and 3 digits, with and without the trunk 0
  ('021-62345678',             '+862162345678', NULL),
  ('(021) 6234 5678',          '+862162345678', NULL),
  ('+86 21 6234 5678',         '+862162345678', NULL),
  ('010 8888 6666',            '+861088886666', NULL),
  ('0755-2345678',             '+867552345678', NULL),
  ('0755-23456789',            '+8675523456789', NULL),
  -- extensions
  ('021-62345678-801',         '+862162345678;ext=801', NULL),
  ('021-62345678转801',        '+862162345678;ext=801', NULL),
  ('021 6234 5678 分机 801',   '+862162345678;ext=801', NULL),
  ('+86 21 6234 5678 ext. 12', '+862162345678;ext=12', NULL),
  ('021-62345678 x801',        '+862162345678;ext=801', NULL),
  -- service numbers and other countries
  ('400-820-8820',             '+864008208820', NULL),
  ('800 810 8888',             '+868008108888', NULL),
  ('+1 415 555 0100',          '+14155550100', NULL),
  ('+852 2123 4567',           '+85221234567', NULL),
  -- not usable
  ('6234 5678',                NULL, 'a landline number without its area code'),
  ('12345',                    NULL, 'not a mainland China number (5 digits)'),
  ('12812345678',              NULL, 'not a mainland mobile number (they start with 13 to 19)'),
  ('138-1234-567a',            NULL, 'contains characters that are not part of a phone number'),
  ('电话',                      NULL, 'contains characters that are not part of a phone number'),
  ('',                         NULL, 'no digits'),
  ('021-62345678转',           NULL, 'an extension marker without an extension'),
  ('+1 555',                   NULL, 'an international number has 8 to 15 digits');

SELECT results_eq(
  $$SELECT input, concord.normalize_phone(input), concord.phone_problem(input) FROM phones ORDER BY input$$,
  $$SELECT input, canonical, problem FROM phones ORDER BY input$$,
  'phone numbers: 31 spellings to E.164, or NULL and the reason');
SELECT is(concord.normalize_phone(NULL), NULL, 'NULL in, NULL out');

------------------------------------------------------------------------------
-- Email
------------------------------------------------------------------------------

SELECT results_eq(
  $$SELECT concord.normalize_email(e), concord.normalize_email(e, strip_plus => true)
      FROM unnest(ARRAY[' Zhang.San@Example.COM ', 'zhang.san+crm@example.com', 'ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ',
                        'no-at-sign.example.com', 'two@@example.com', 'a@b', 'a@.com', 'a b@example.com', '@example.com'])
           WITH ORDINALITY AS t(e, n) ORDER BY n$$,
  $$VALUES ('zhang.san@example.com', 'zhang.san@example.com'), ('zhang.san+crm@example.com', 'zhang.san@example.com'),
           ('zhang@example.com', 'zhang@example.com'), (NULL, NULL), (NULL, NULL), (NULL, NULL), (NULL, NULL),
           (NULL, NULL), (NULL, NULL)$$,
  'email: trimmed, half-width, lower case, plus-address on request; malformed addresses give NULL');

------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------

CREATE TEMP TABLE names (input text, folded text, key text);
INSERT INTO names VALUES
  ('张三', '张三', 'sanzhang'),
  ('張三', '张三', 'sanzhang'),
  ('Zhang San', 'zhang san', 'sanzhang'),
  ('San Zhang', 'san zhang', 'sanzhang'),
  ('  ZHANG   san ', 'zhang san', 'sanzhang'),
  ('Ｚｈａｎｇ　Ｓａｎ', 'zhang san', 'sanzhang'),
  ('欧阳娜娜', '欧阳娜娜', 'nanaouyang'),
  ('歐陽娜娜', '欧阳娜娜', 'nanaouyang'),
  ('Ouyang Nana', 'ouyang nana', 'nanaouyang'),
  ('Nana Ouyang', 'nana ouyang', 'nanaouyang'),
  ('约翰·史密斯', '约翰 史密斯', 'hanshimisiyue'),
  ('Li-Ming', 'li ming', 'liming');
SELECT results_eq(
  $$SELECT input, concord.normalize_name(input), concord.name_key(input) FROM names ORDER BY input$$,
  $$SELECT input, folded, key FROM names ORDER BY input$$,
  'names: folded within a script; one key across scripts, character sets and word order');
SELECT is(concord.normalize_name('   '), NULL, 'a blank name is NULL');

-- Latin words that are all pinyin split into their syllables (the syllables
-- are the ones ICU gives the CJK Unified Ideographs): at camel-case
-- boundaries when each part is pinyin, else into the fewest syllables, so
-- "xian" stays one (西安 and Xi'an, XiAn are "xi an"); other words whole.
CREATE TEMP TABLE name_splits (input text, syllables text, key text);
INSERT INTO name_splits VALUES
  ('张三', 'san zhang', 'sanzhang'),
  ('ZhangSan', 'san zhang', 'sanzhang'),
  ('zhangsan', 'san zhang', 'sanzhang'),
  ('ZHANGSAN', 'san zhang', 'sanzhang'),
  ('ＺｈａｎｇＳａｎ', 'san zhang', 'sanzhang'),
  ('张小明', 'ming xiao zhang', 'mingzhangxiao'),
  ('ZhangXiaoming', 'ming xiao zhang', 'mingzhangxiao'),
  ('zhangxiaoming', 'ming xiao zhang', 'mingzhangxiao'),
  ('Zhang Xiaoming', 'ming xiao zhang', 'mingzhangxiao'),
  ('欧阳娜娜', 'na na ou yang', 'nanaouyang'),
  ('OuyangNana', 'na na ou yang', 'nanaouyang'),
  ('ouyangnana', 'na na ou yang', 'nanaouyang'),
  ('Ouyang Nana', 'na na ou yang', 'nanaouyang'),
  ('John', 'john', 'john'),
  ('Smith', 'smith', 'smith'),
  ('JohnSmith', 'johnsmith', 'johnsmith'),
  ('McDonald', 'mcdonald', 'mcdonald'),
  ('xian', 'xian', 'xian'),
  ('Xian', 'xian', 'xian'),
  ('Xi''an', 'an xi', 'anxi'),
  ('西安', 'an xi', 'anxi'),
  ('XiAn', 'an xi', 'anxi'),
  ('fangan', 'fan gan', 'fangan');
SELECT results_eq(
  $$SELECT input, concord.name_syllables(input), concord.name_key(input) FROM name_splits ORDER BY input$$,
  $$SELECT input, syllables, key FROM name_splits ORDER BY input$$,
  'names: unspaced and camel-case pinyin split into syllables (the fewest when ambiguous); other Latin words whole');

-- A name in Latin letters is read as pinyin only when it has a Chinese
-- name's shape: every word all pinyin, two to four syllables, no bare
-- vowel (a, e, o) inside a word, a family name at one end.  English names
-- whose letters happen to split (mi-cha-e-la, dian-a) stay whole; a name
-- that is not pinyin keeps its words in written order (given names first,
-- "family, given" turned round), so that matching can tell its parts.
CREATE TEMP TABLE latin_names (input text, syllables text, key text);
INSERT INTO latin_names VALUES
  ('michaela', 'michaela', 'michaela'),
  ('Michaela Neumann', 'michaela neumann', 'michaelaneumann'),
  ('diana', 'diana', 'diana'),
  ('Diana Li', 'diana li', 'dianali'),
  ('maria', 'maria', 'maria'),
  ('mia', 'mia', 'mia'),
  ('sandra', 'sandra', 'sandra'),
  ('ann', 'ann', 'ann'),
  ('lian', 'lian', 'lian'),
  ('anna', 'an na', 'anna'),
  ('zhang wei', 'wei zhang', 'weizhang'),
  ('li na', 'li na', 'lina'),
  ('ouyang xiaoming', 'ming ou xiao yang', 'mingouyangxiao'),
  ('Wang Yongan', 'an wang yong', 'anwangyong'),
  ('reid lachlan', 'reid lachlan', 'lachlanreid'),
  ('Reid, Lachlan', 'lachlan reid', 'lachlanreid'),
  ('Smith, John Paul', 'john paul smith', 'johnpaulsmith'),
  ('O''Brien', 'obrien', 'obrien'),
  ('Mary Smith-Jones', 'mary smith jones', 'jonesmarysmith');
SELECT results_eq(
  $$SELECT input, concord.name_syllables(input), concord.name_key(input) FROM latin_names ORDER BY input$$,
  $$SELECT input, syllables, key FROM latin_names ORDER BY input$$,
  'Latin names: pinyin only with a Chinese name''s shape (michaela and diana stay whole, anna reads as 安娜); other names'' words in written order');

------------------------------------------------------------------------------
-- Companies
------------------------------------------------------------------------------

CREATE TEMP TABLE companies (input text, folded text);
INSERT INTO companies VALUES
  ('上海某某科技有限公司', '某某科技'),
  ('某某科技(上海)', '某某科技'),
  ('某某科技（上海）有限公司', '某某科技'),
  ('上海市某某科技股份有限公司', '某某科技'),
  ('某某科技集团有限公司', '某某科技'),
  ('Moumou Tech Co., Ltd.', 'moumou tech'),
  ('MOUMOU TECH CO.,LTD', 'moumou tech'),
  ('Moumou Tech Inc.', 'moumou tech'),
  ('Moumou Tech Company Limited', 'moumou tech'),
  ('華為技術有限公司', '华为技术'),
  ('北京字节跳动科技有限公司', '字节跳动科技'),
  ('有限公司', '有限公司'),
  -- a place stays when too little would be left
  ('北京大学', '北京大学'),
  ('上海大学', '上海大学'),
  ('上海银行股份有限公司', '上海银行');
SELECT results_eq(
  $$SELECT input, concord.normalize_company(input) FROM companies ORDER BY input$$,
  $$SELECT input, folded FROM companies ORDER BY input$$,
  'companies: legal forms, parenthesised regions and a leading province dropped');

------------------------------------------------------------------------------
-- Addresses
------------------------------------------------------------------------------

SELECT results_eq(
  $$SELECT (concord.address_parts(a)).*, concord.normalize_address(a)
      FROM unnest(ARRAY['上海市浦东新区张江路123号', '上海 浦东新区 张江路 123号', '广东省深圳市南山区科技园南区 8栋',
                        '广东深圳南山区科技园', '北京朝阳区建国路88号', '新疆维吾尔自治区乌鲁木齐市天山区',
                        '浙江省杭州市余杭区', '張江路123號']) WITH ORDINALITY AS t(a, n) ORDER BY n$$,
  $$VALUES ('上海市', '上海市', '浦东新区', '张江路123号', '上海市 浦东新区 张江路123号'),
           ('上海市', '上海市', '浦东新区', '张江路123号', '上海市 浦东新区 张江路123号'),
           ('广东省', '深圳市', '南山区', '科技园南区8栋', '广东省 深圳市 南山区 科技园南区8栋'),
           ('广东省', NULL, '深圳南山区', '科技园', '广东省 深圳南山区 科技园'),
           ('北京市', '北京市', '朝阳区', '建国路88号', '北京市 朝阳区 建国路88号'),
           ('新疆维吾尔自治区', '乌鲁木齐市', '天山区', NULL, '新疆维吾尔自治区 乌鲁木齐市 天山区'),
           ('浙江省', '杭州市', '余杭区', NULL, '浙江省 杭州市 余杭区'),
           (NULL, NULL, NULL, '张江路123号', '张江路123号')$$,
  'addresses: province (full form), city, district and the rest; municipalities are their own city');

------------------------------------------------------------------------------
-- Resident ID numbers
------------------------------------------------------------------------------

SELECT results_eq(
  $$SELECT concord.normalize_cn_id(i), concord.cn_id_problem(i)
      FROM unnest(ARRAY['11010519491231002X', '11010519491231002x', '110105 19491231 002X', '110105491231002',
                        '110105194912310021', '11010519491331002X', '11010519000229001X', '1101051949',
                        '11010519491231002Y', 'X10105194912310021']) WITH ORDINALITY AS t(i, n) ORDER BY n$$,
  $$VALUES ('11010519491231002X', NULL), ('11010519491231002X', NULL), ('11010519491231002X', NULL),
           ('11010519491231002X', NULL),
           (NULL, 'the check character does not match'),
           (NULL, 'the date of birth in it is not a date'),
           (NULL, 'the date of birth in it is not a date'),
           (NULL, 'a resident ID number has 18 characters (or 15 in the old form)'),
           (NULL, 'a resident ID number has 18 characters: 17 digits and a digit or X'),
           (NULL, 'a resident ID number has 18 characters: 17 digits and a digit or X')$$,
  'ID numbers: 18-character form (15 converted), checksum and date of birth checked');

------------------------------------------------------------------------------
-- Script functions, and use in indexes
------------------------------------------------------------------------------

SELECT is(concord.to_halfwidth('ＡＢＣ１２３（上海）'), 'ABC123(上海)', 'to_halfwidth');
SELECT is(concord.to_simplified('華為技術 張三 歐陽'), '华为技术 张三 欧阳', 'to_simplified');
SELECT is(concord.to_pinyin('张三 上海某某科技'), 'zhang san shang hai mou mou ke ji', 'to_pinyin');

CREATE TEMP TABLE crm (id int, phone text, name text);
INSERT INTO crm VALUES (1, '+86 138-1234-5678', '張三'), (2, '021-62345678', 'Zhang San');
CREATE INDEX crm_phone_idx ON crm (concord.normalize_phone(phone));
CREATE INDEX crm_name_idx ON crm (concord.name_key(name));
SET LOCAL enable_seqscan = off;
SELECT is((SELECT id FROM crm WHERE concord.normalize_phone(phone) = concord.normalize_phone('13812345678')), 1,
  'normalizers can be indexed: a phone in another format finds the row');
SELECT is((SELECT count(*)::int FROM crm WHERE concord.name_key(name) = concord.name_key('张三')), 2,
  'and a name key finds both spellings');

SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'concord' AND p.proname IN ('normalize_phone', 'phone_problem', 'normalize_email',
              'normalize_name', 'name_key', 'name_syllables', 'normalize_company', 'address_parts', 'normalize_address',
              'normalize_cn_id', 'cn_id_problem', 'to_halfwidth', 'to_simplified', 'to_pinyin')
              AND p.provolatile = 'i' AND p.proparallel = 's' AND p.proisstrict), 14,
  'all 14 normalizers are IMMUTABLE, PARALLEL SAFE and STRICT');
SELECT is((SELECT count(*)::int FROM unnest(ARRAY[concord.normalize_name(NULL), concord.name_key(NULL), concord.name_syllables(NULL),
            concord.normalize_company(NULL), concord.normalize_address(NULL), concord.normalize_cn_id(NULL),
            concord.normalize_email(NULL)]) v WHERE v IS NOT NULL), 0, 'NULL in, NULL out, everywhere');

-- (issue 20) surnames read otherwise than on their own, passport
-- spellings of ü, and a mobile dialled with a trunk 0 by a call centre
SELECT results_eq($$SELECT concord.name_key(n) FROM unnest(ARRAY['曾伟', 'Zeng Wei', '单丽', '解放', '区明', '仇强', '朴志', '翟亮',
                                                              '吕伟', 'Lyu Wei', 'Lv Wei', '张曾']) WITH ORDINALITY x(n, i) ORDER BY i$$,
  $$VALUES ('weizeng'), ('weizeng'), ('lishan'), ('fangxie'), ('mingou'), ('qiangqiu'), ('piaozhi'), ('liangzhai'),
           ('luwei'), ('luwei'), ('luwei'), ('cengzhang')$$,
  'a surname''s own reading (曾 zeng, 单 shan, 解 xie, 区 ou, 仇 qiu, 朴 piao, 翟 zhai; not in a given name), Lyu and Lv for 吕');
SELECT results_eq($$SELECT concord.normalize_phone(p) FROM unnest(ARRAY['013812345678', '0086 013812345678', '010-12345678']) WITH ORDINALITY x(p, i) ORDER BY i$$,
  $$VALUES ('+8613812345678'), ('+8613812345678'), ('+861012345678')$$,
  'a mobile with a trunk 0 (0138...) is the mobile; a Beijing landline stays one');
SELECT results_eq($$SELECT concord.normalize_id(x) FROM unnest(ARRAY['11010519491231002x', 'C01X00T47', 'c01x-00t47', 'A123456(7)',
                                                                 '110105194912310021', '110105 19491331 002X', '110105491231002', '无', '12-3']) WITH ORDINALITY t(x, i) ORDER BY i$$,
  $$VALUES ('11010519491231002X'), ('other:C01X00T47'), ('other:C01X00T47'), ('other:A1234567'), ('typo:110105194912310021'),
           ('typo:11010519491331002X'), ('11010519491231002X'), (NULL), (NULL)$$,
  'normalize_id: a resident ID number canonical (also the 15-character form), another kept as other: (a passport, a Hong Kong ID); a resident number with a typo (its check character, its date) kept as typo:; a placeholder or a stub NULL');
SELECT results_eq($$SELECT concord.identity_placeholder(k, v) FROM (VALUES ('name', '未知'), ('name', '客户'), ('name', '先生'),
                      ('name', '张先生'), ('name', '王总'), ('name', ' Unknown '), ('name', '张三'), ('name', '先生张'),
                      ('name', '孙工'), ('name', '李姐'), ('name', '陈董事长'), ('name', '欧阳女士'), ('name', '司马先生'),
                      ('name', '欧阳娜娜'), ('name', '欧阳'), ('name', '张工伟'),
                      ('company', '个人'), ('company', '自由职业'), ('company', '个人护理用品有限公司')) x(k, v)$$,
  $$VALUES (true), (true), (true), (true), (true), (true), (false), (false),
           (true), (true), (true), (true), (true), (false), (false), (false),
           (true), (true), (false)$$,
  'placeholders: names that name nobody (未知, 客户, 先生, a surname and an honorific, title or kinship term, also after a two-character surname: 孙工, 李姐, 欧阳女士), 个人 as an employer; 欧阳娜娜 and 张工伟 are names');

SELECT * FROM finish();
ROLLBACK;
