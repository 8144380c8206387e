-- policy: the built-in masks, table-driven.  Every value a mask cannot
-- read is hidden whole rather than raising an error (they are LEAKPROOF);
-- the keyed hash keeps equal values equal and needs its secret.
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- (to check the hash against; rolled back)
-- The masks are PUBLIC's (docs/policy.md): a role granted nothing calls
-- them; mask_hash, whose masks are stored, is concord_policy's; its key a
-- superuser's.
CREATE ROLE tap_mask_anyone;
CREATE ROLE tap_mask_policy IN ROLE concord_policy;
SET LOCAL ROLE tap_mask_anyone;

SELECT results_eq(
  $$SELECT concord.mask_phone(v) FROM unnest(ARRAY['13812345678', '+86 138-1234-5678', '0086 138 1234 5678',
      '１３８１２３４５６７８', '021-62345678', '801', '', 'abc']) WITH ORDINALITY u(v, o) ORDER BY o$$,
  $$VALUES ('138****5678'::text), ('138****5678'), ('138****5678'), ('138****5678'), ('021****5678'), ('***'), ('*'), ('*')$$,
  'mask_phone: the first 3 and last 4 digits of any way of writing a number; +86 and 0086 dropped; an extension or no digits: nothing shown');
SELECT results_eq(
  $$SELECT concord.mask_email(v) FROM unnest(ARRAY['zhang.san@example.com', '张三@例子.cn', 'noat', '@x.com', 'a@',
      'x@y@z.com']) WITH ORDINALITY u(v, o) ORDER BY o$$,
  $$VALUES ('z***@example.com'::text), ('张***@例子.cn'), ('***'), ('***'), ('***'), ('x***@z.com')$$,
  'mask_email: the first character of the local part and the domain; anything else hidden whole');
SELECT results_eq(
  $$SELECT concord.mask_name(v) FROM unnest(ARRAY['张三', '张三丰', '欧阳娜娜', 'Zhang San', '张', '']) WITH ORDINALITY u(v, o) ORDER BY o$$,
  $$VALUES ('张*'::text), ('张**'), ('欧***'), ('Z********'), ('*'), ('*')$$,
  'mask_name: the first character, by characters not bytes; a one-character name hidden whole');
SELECT results_eq(
  $$SELECT concord.mask_cn_id(v) FROM unnest(ARRAY['11010519491231002X', '110105491231002', '12345']) WITH ORDINALITY u(v, o) ORDER BY o$$,
  $$VALUES ('110***********002X'::text), ('110********1002'), ('*****')$$,
  'mask_cn_id: the first 3 and last 4; the date of birth never shows');
SELECT results_eq(
  $$SELECT concord.mask_bank_card(v) FROM unnest(ARRAY['6222021234567890', '6222 0212 3456 7890 123', '1234']) WITH ORDINALITY u(v, o) ORDER BY o$$,
  $$VALUES ('6222********7890'::text), ('6222***********0123'), ('****')$$,
  'mask_bank_card: the first 4 and last 4 digits');
SELECT results_eq(
  $$VALUES (concord.mask_partial('上海华信科技有限公司', 2, '***', 2)), (concord.mask_partial('abc', 2, '***', 2)),
           (concord.mask_partial('abcdef', -1, '#', 0))$$,
  $$VALUES ('上海***公司'::text), ('***'), ('#')$$,
  'mask_partial: prefix, pad, suffix by characters; only the pad when nothing would be hidden');
SELECT results_eq(
  $$VALUES (concord.mask_bucket(123456.78, 10000)::text), (concord.mask_bucket(5, 0)::text),
           (concord.mask_date('1990-07-15', 'year')::text), (concord.mask_date('1990-07-15', 'quarter')::text),
           (concord.mask_date('1990-07-15', 'day')::text)$$,
  $$VALUES ('120000'::text), (NULL), ('1990-01-01'), ('1990-07-01'), (NULL)$$,
  'mask_bucket and mask_date; a width or unit they do not take gives NULL, not an error');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'concord'::regnamespace AND proname LIKE 'mask\_%'
            AND proleakproof), 9, 'all nine masks are LEAKPROOF');
SELECT is(concord.mask_phone(NULL), NULL, 'NULL stays NULL');

-- the keyed hash (no key yet: whatever another test left is dropped, and
-- rolled back)
RESET ROLE;
DELETE FROM concord.secret WHERE name = 'mask_key';
SET LOCAL ROLE tap_mask_policy;
SELECT is(concord.mask_hash('13812345678'), NULL, 'mask_hash without its key: NULL, never an error (it is LEAKPROOF)');
RESET ROLE;
SELECT lives_ok($$SELECT concord.secret_set('mask_key', 'tap-mask-key-0123456789abcdef')$$, 'a key');
SET LOCAL ROLE tap_mask_policy;
SELECT matches(concord.mask_hash('13812345678'), '^h:[0-9a-f]{16}$', 'mask_hash: h: and 16 hex digits');
SELECT results_eq(
  $$SELECT concord.mask_hash(a) = concord.mask_hash(b) FROM (VALUES ('13812345678', '13812345678'), ('13812345678', '13812345679')) v(a, b)$$,
  $$VALUES (true), (false)$$, 'equal values hash equal (joinable), different ones differently');
SELECT is(concord.mask_hash('13812345678'),
          'h:' || left(encode(hmac('13812345678', 'tap-mask-key-0123456789abcdef', 'sha256'), 'hex'), 16),
          'it is HMAC-SHA256 under the key (checked against pgcrypto)');

SELECT * FROM finish();
ROLLBACK;
