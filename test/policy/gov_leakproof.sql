-- policy (issue 18): every LEAKPROOF function of concord never raises on
-- data (a function that raised only for the rows a query reaches would
-- tell which hidden rows exist and what they hold), checked with hostile
-- values, and through a member's query over rows a policy hides; mask_hash
-- is nobody's but concord's and its DBAs' to call, its masks are stored,
-- and a missing key is found when a mask is defined.  A rep logs in.
-- Committed set-up, removed at the end.
SET client_min_messages = error;
SELECT plan(20);
\ir setup.psql
\ir gov_setup.psql
\set roles '{tap_gov_lp_owner,tap_gov_lp_rep}'
SELECT pg_temp.clean_up('gov_lp', 'tap_gov_lp_', :'roles', true) IS NULL AS clean \gset

-- every LEAKPROOF function of concord is below, with values that broke
-- them or could
SELECT is((SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
            WHERE pronamespace = 'concord'::regnamespace AND proleakproof),
          'mask_bank_card,mask_bucket,mask_cn_id,mask_date,mask_email,mask_hash,mask_name,mask_partial,mask_phone',
          'the LEAKPROOF functions of concord are the nine masks, all tested here');
SELECT lives_ok($$
  SELECT concord.mask_phone(v), concord.mask_email(v), concord.mask_name(v), concord.mask_cn_id(v), concord.mask_bank_card(v),
         concord.mask_partial(v, 2147483647, '*', 2147483647), concord.mask_partial(v, -2147483648, v, -2147483648),
         concord.mask_partial(v, 1, '', 1), concord.mask_hash(v)
    FROM unnest(ARRAY['', ' ', '@', '@@@', 'a@', '@b', '😀😀😀', E'\x01\x02', 'ｅ́', repeat('9', 100000), repeat('１', 5000),
                      repeat('张', 100000), '+86', '0086', repeat('@', 1000)]) v$$,
  'the text masks take empty, huge, emoji, control, combining and full-width values, and extreme prefixes and suffixes');
SELECT lives_ok($$
  SELECT concord.mask_bucket(v, w)
    FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity', '9e131071', '-9e131071', '1e-16383', '0', '-5']::numeric[]) v,
         unnest(ARRAY['NaN', 'Infinity', '-Infinity', '1e-16383', '0.001', '-1', '0', '1e131071']::numeric[]) w$$,
  'mask_bucket takes any value and width, the largest and smallest numerics too');
SELECT lives_ok($$
  SELECT concord.mask_date(v, u)
    FROM unnest(ARRAY['infinity', '-infinity', '5874897-12-31', '4713-01-01 BC', '300000-07-15', '2024-02-29']::date[]) v,
         unnest(ARRAY['month', 'quarter', 'year', 'day', '', 'MONTH']) u$$,
  'mask_date takes any date, beyond timestamp''s range too (a cast there raised)');
SELECT results_eq(
  $$VALUES (concord.mask_bucket(123456.78, 10000)::text), (concord.mask_bucket(-5, 10)::text), (concord.mask_bucket(5, 0.3)::text),
           ((concord.mask_bucket(1, 1e-16383) = 1)::text), ((concord.mask_bucket('9e131071', 0.001) = '9e131071')::text),
           (concord.mask_bucket('NaN', 10)::text), (concord.mask_bucket(5, 'NaN')::text)$$,
  $$VALUES ('120000'), ('-10'), ('4.8'), ('true'), ('true'), ('NaN'), (NULL)$$,
  'mask_bucket: rounds down to a multiple of the width (negative values too), exactly at the ends of numeric''s range (it overflowed dividing)');
SELECT results_eq(
  $$VALUES (concord.mask_date('300000-07-15', 'quarter')), (concord.mask_date('5874897-12-31', 'year')),
           (concord.mask_date('infinity', 'month')), (concord.mask_date('4713-11-30 BC', 'month'))$$,
  $$VALUES ('300000-07-01'::date), ('5874897-01-01'), ('infinity'), ('4713-11-01 BC')$$,
  'mask_date: the first day of the month, quarter or year, at the ends of the date range too');
SELECT is(concord.mask_partial('abcdef', 2147483647, '*', 2147483647), '*',
          'mask_partial with a prefix and suffix that add up past 2^31 hides everything (it showed everything)');

-- through a member's query over rows a row policy hides: no error tells
-- what the hidden rows hold
SELECT concord.department_create('tap_gov_lp_sales') AS d \gset
SELECT concord.member_create('tap_gov_lp_rep', 'tap_gov_lp_sales', 'rep', '{"region": "east"}') AS m \gset
ALTER ROLE tap_gov_lp_owner NOLOGIN;
CREATE SCHEMA gov_lp AUTHORIZATION tap_gov_lp_owner;
GRANT USAGE ON SCHEMA gov_lp TO PUBLIC;
CREATE TABLE gov_lp.deal (id int PRIMARY KEY, region text, amount numeric, signed date, name text);
INSERT INTO gov_lp.deal VALUES (1, 'east', 100, '2024-01-01', '张伟'),
                               (2, 'west', '9e131071', '300000-01-01', '李娜');   -- hidden from the rep
ALTER TABLE gov_lp.deal OWNER TO tap_gov_lp_owner;
GRANT SELECT ON gov_lp.deal TO tap_gov_lp_rep;
SELECT concord.row_policy_create('tap_gov_lp_rows', 'gov_lp.deal', $$region = concord.member('region')$$) IS NOT NULL AS p \gset
SELECT is(pg_temp.one('tap_gov_lp_rep', $$SELECT count(*)::text FROM gov_lp.deal WHERE concord.mask_bucket(amount, 0.001) IS NOT NULL$$), '1',
          'a rep''s filter with mask_bucket over a hidden row with a huge amount raises nothing (it said "value overflows numeric format")');
SELECT is(pg_temp.one('tap_gov_lp_rep', $$SELECT count(*)::text FROM gov_lp.deal WHERE concord.mask_date(signed, 'year') > '2000-01-01'$$), '1',
          'nor with mask_date over a hidden row dated past 294276 AD (it said "date out of range for timestamp")');
SELECT is(pg_temp.run('tap_gov_lp_rep', $$SELECT 1 FROM gov_lp.deal WHERE id = 2 AND concord.mask_hash(name) = 'x'$$),
          '42501: permission denied for function mask_hash', 'mask_hash is not the rep''s to call');
SELECT is(pg_temp.run('tap_gov_lp_rep', $$SELECT 1 FROM gov_lp.deal WHERE id = 3 AND concord.mask_hash(name) = 'x'$$),
          '42501: permission denied for function mask_hash', 'the same answer whether the row exists or not');
SELECT ok(NOT has_function_privilege('public', 'concord.mask_hash(text)', 'EXECUTE')
          AND has_function_privilege('concord_policy', 'concord.mask_hash(text)', 'EXECUTE'),
          'EXECUTE on mask_hash: not PUBLIC''s (no brute force of low-entropy values), concord_policy''s');

-- without its key mask_hash gives NULL, never an error; a mask needs the
-- key when defined (the key is taken away in a transaction rolled back;
-- what was seen is kept in psql variables, since pgTAP's own record would
-- be rolled back too)
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
BEGIN;
DELETE FROM concord.secret WHERE name = 'mask_key';
SELECT (SELECT count(*) FROM gov_lp.deal WHERE id = 2 AND concord.mask_hash(name) IS NULL) AS null_existing,
       (SELECT count(*) FROM gov_lp.deal WHERE id = 3 AND concord.mask_hash(name) IS NULL) AS null_missing,
       pg_temp.error_of($$SELECT concord.column_mask_create('gov_lp.deal', 'name', 'concord.mask_hash(name)')$$) AS no_key_mask \gset
ROLLBACK;
SELECT is(:'null_existing'::text, '1', 'without the key mask_hash is NULL for an existing row');
SELECT is(:'null_missing'::text, '0', 'and no error for a missing one either');
SELECT is(:'no_key_mask'::text, '42704: mask concord.mask_hash(name) of gov_lp.deal.name needs the secret "mask_key", which cannot be read',
          'a mask_hash mask without the key is refused when it is defined');

-- a mask_hash mask is stored: the rep reads hashes without EXECUTE on mask_hash
SELECT NOT EXISTS (SELECT 1 FROM concord.secret WHERE name = 'mask_key') AS add_key \gset
\if :add_key
SELECT concord.secret_set('mask_key', 'tap-gov-lp-key-0123456789abcdef') IS NULL AS k \gset
\endif
SELECT throws_ok($$SELECT concord.column_mask_create('gov_lp.deal', 'name', 'coalesce(concord.mask_hash(name), ''-'')')$$, '22023',
                 'invalid mask of gov_lp.deal.name: mask_hash is a mask of its own, not part of one',
                 'mask_hash within a larger mask is refused (its value could not be stored)');
SELECT is(concord.column_mask_create('gov_lp.deal', 'name', 'concord.mask_hash(name)')::text, 'gov_lp.deal_governed', 'a mask_hash mask');
SELECT is(pg_temp.one('tap_gov_lp_rep', 'SELECT name FROM gov_lp.deal_governed'), concord.mask_hash('张伟'),
          'the rep reads the hash of her row''s name, stored when the mask was made');
UPDATE gov_lp.deal SET name = '张三' WHERE id = 1;
SELECT is(pg_temp.one('tap_gov_lp_rep', 'SELECT name FROM gov_lp.deal_governed'), concord.mask_hash('张三'),
          'and of the new name once it changes (the trigger stores it)');
BEGIN;
DELETE FROM concord.secret WHERE name = 'mask_key';
SELECT pg_temp.error_of($$UPDATE gov_lp.deal SET name = '张四' WHERE id = 1$$) AS no_key_write \gset
ROLLBACK;
SELECT is(:'no_key_write'::text, '42704: the masks of table deal need the secret "mask_key": secret "mask_key" does not exist',
          'a write without the key is refused, with the reason (it is the writer''s own row)');

SELECT * FROM finish();
SELECT concord.column_mask_drop('gov_lp.deal', 'name') AS dropped \gset
\if :add_key
SELECT concord.secret_drop('mask_key') AS k2 \gset
\endif
SELECT pg_temp.clean_up('gov_lp', 'tap_gov_lp_', :'roles', false) IS NULL AS clean \gset
