-- identity: placeholders detected from frequency, on a hand-made set --
-- a name (某人, "someone") that many unrelated rows share is read as
-- missing, an employer (临时, "temporary") that many unrelated rows share
-- with nothing else is reported as a candidate; a common real name (张伟,
-- its parts common too), one person's many rows, and a large employer
-- whose staff share a switchboard are neither; the DBA's word wins either
-- way.  As a member of concord_identity.
BEGIN;
SELECT plan(20);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_ph_outsider;
CREATE SCHEMA iph;
CREATE TABLE iph.crm (id int PRIMARY KEY, name text, phone text, company text);
-- a name of its own for each i (a surname of 20, two given-name characters)
CREATE FUNCTION iph.name_of(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT (string_to_array('赵,钱,孙,周,吴,郑,冯,陈,褚,卫,蒋,沈,韩,杨,朱,秦,尤,许,何,吕', ','))[1 + i % 20]
      || (string_to_array('春,夏,秋,冬,江,河,湖,海,山,川,松,柏,梅,兰,竹,菊,金,银,铜,铁,云,雨,雪,霜,星,月,日,光,风,雷', ','))[1 + (i / 20) % 30]
      || (string_to_array('一,二,三,四,五,六,七,八,九,十', ','))[1 + (i / 600) % 10]
$$;
-- 220 people of common names (张, 李, 王, 刘 with 伟, 芳, 娜, 强, 丽; 张伟
-- itself apart), each with a mobile of their own
INSERT INTO iph.crm
  SELECT i, (ARRAY['张', '李', '王', '刘'])[1 + i % 4] || (ARRAY['伟', '芳', '娜', '强', '丽'])[1 + (i / 4) % 5],
         '+86139' || lpad(i::text, 8, '0'), NULL
    FROM generate_series(1, 220) i
   WHERE NOT (i % 4 = 2 AND (i / 4) % 5 = 0);
-- 25 张伟, different people
INSERT INTO iph.crm SELECT 1000 + i, '张伟', '+86137' || lpad(i::text, 8, '0'), NULL FROM generate_series(1, 25) i;
-- 25 某人 ("someone"), different people
INSERT INTO iph.crm SELECT 2000 + i, '某人', '+86136' || lpad(i::text, 8, '0'), NULL FROM generate_series(1, 25) i;
-- 25 rows of one 来宾, one mobile: one person's copies, not a placeholder
INSERT INTO iph.crm SELECT 3000 + i, '来宾', '+8613500000001', NULL FROM generate_series(1, 25) i;
-- 150 people at 临时 ("temporary"): nothing else in common
INSERT INTO iph.crm SELECT 4000 + i, iph.name_of(i + 3000), '+86134' || lpad(i::text, 8, '0'), '临时' FROM generate_series(1, 150) i;
-- 3,000 staff of 大通科技, every 20th reached through its switchboard
INSERT INTO iph.crm
  SELECT 10000 + i, iph.name_of(i), CASE WHEN i % 20 = 0 THEN '021-62345678' ELSE '+86133' || lpad(i::text, 8, '0') END, '大通科技有限公司'
    FROM generate_series(1, 3000) i;
\set id_schema iph
\ir member.psql
SELECT concord.identity_source_create('crm', 'iph.crm', 'id', '{"name": "name", "phone": "phone", "company": "company"}')
  IS NOT NULL AS made \gset
SELECT (concord.resolve()).pairs AS pairs_detected \gset

SELECT results_eq($$SELECT kind, value, placeholder, records FROM concord.identity_placeholder_value WHERE origin = 'detected' ORDER BY kind$$,
  $$VALUES ('company', '临时', false, 150::bigint), ('name', 'mouren', true, 25::bigint)$$,
  'detected: 某人 (25 different people), read as missing; 临时 (150 different people sharing nothing else), a candidate only');
SELECT is((SELECT count(*)::int FROM concord.identity_placeholder_value WHERE value = 'weizhang'), 0,
  '张伟, 25 different people, is no placeholder: 张 and 伟 are common in the other names');
SELECT cmp_ok((SELECT min(records::float8 / expected) FROM concord.identity_placeholder_value WHERE value = 'mouren'), '>=', 20::float8,
  '某人: at least 20 times what its syllables predict');
SELECT is((SELECT count(*)::int FROM concord.identity_placeholder_value WHERE value = 'binlai'), 0,
  '来宾 on 25 rows of one mobile is one person''s copies, no placeholder');
SELECT is((SELECT count(*)::int FROM concord.identity_placeholder_value WHERE value = '大通科技'), 0,
  'the employer of 3,000 whose staff share a switchboard is not even a candidate');
SELECT is((SELECT count(*)::int FROM concord.customer_link l JOIN iph.crm c ON c.id::text = l.key WHERE c.name = '某人'),
          (SELECT count(DISTINCT l.customer_id)::int FROM concord.customer_link l JOIN iph.crm c ON c.id::text = l.key WHERE c.name = '某人'),
  'the 25 某人 stay 25 customers');

-- the DBA's word: 某人 is a name after all
SELECT results_eq($$SELECT kind, value, placeholder, origin FROM concord.identity_placeholder_set('name', '某人', false)$$,
  $$VALUES ('name', 'mouren', false, 'manual')$$, 'identity_placeholder_set(name, 某人, false): by its name key, manual');
SELECT is((concord.resolve()).pairs - :pairs_detected, 300::bigint,
  'read as a name again, the 25 某人 are compared with each other: 300 pairs more');
SELECT results_eq($$SELECT placeholder, origin FROM concord.identity_placeholder_value WHERE value = 'mouren'$$,
  $$VALUES (false, 'manual')$$, 'the next resolve detects it again but keeps the DBA''s word');
-- the DBA applies the candidate employer
SELECT results_eq($$SELECT kind, value, placeholder, origin FROM concord.identity_placeholder_set('company', '临时')$$,
  $$VALUES ('company', '临时', true, 'manual')$$, 'identity_placeholder_set(company, 临时): applied');
SELECT is((SELECT (concord.resolve()).records), (SELECT count(*) FROM iph.crm), 'resolved again');
SELECT is((SELECT count(*)::int FROM concord.identity_placeholder_value WHERE value = '临时' AND placeholder), 1,
  'and 临时 is still read as missing: the DBA''s word wins');
-- and a value detection missed
SELECT results_eq($$SELECT kind, value, placeholder FROM concord.identity_placeholder_set('phone', '021 6234 5678')$$,
  $$VALUES ('phone', '+862162345678', true)$$, 'a phone declared a placeholder, normalized');
SELECT ok(concord.identity_placeholder_drop('name', '某人'), 'identity_placeholder_drop removes the DBA''s word');
SELECT ok(concord.identity_placeholder_drop('phone', '021-62345678'), 'and of the phone, written another way');
SELECT is((concord.resolve()).pairs, :pairs_detected::bigint,
  'and the next resolve detects 某人 again: the pairs of the first');

SELECT throws_ok($$SELECT concord.identity_placeholder_set('address', 'x')$$, '22023',
  'unknown placeholder kind "address" for value "x"', 'an unknown kind: 22023');
SELECT throws_ok($$SELECT concord.identity_placeholder_set('phone', 'none')$$, '22023',
  'the phone "none" normalizes to nothing', 'a value that normalizes to nothing');
SELECT throws_ok($$SELECT concord.identity_placeholder_set('name', NULL)$$, '22004',
  'kind, value and placeholder must not be null', 'a null value');

RESET ROLE;
SET LOCAL ROLE tap_ph_outsider;
SELECT throws_ok($$SELECT concord.identity_placeholder_set('name', '某人')$$, '42501', NULL,
  'a role outside concord_identity may not declare placeholders');

SELECT * FROM finish();
ROLLBACK;
