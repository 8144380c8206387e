-- identity: similarity functions on characters, with values checked by
-- hand (Jaro-Winkler reference pairs from Winkler's papers).
BEGIN;
SELECT plan(12);
-- the normalizers and similarity functions are everyone's: asked as a
-- role granted nothing
CREATE ROLE tap_id_anyone;
SET LOCAL ROLE tap_id_anyone;

SELECT results_eq(
  $$SELECT concord.levenshtein(a, b), concord.damerau_levenshtein(a, b)
      FROM (VALUES (1, 'kitten', 'sitting'), (2, '张三', '张山'), (3, '张三', '张三'), (4, '', 'abc'),
                   (5, 'abcd', 'abdc'), (6, '上海某某科技', '某某科技'), (7, '13812345678', '13812345687'))
           AS t(n, a, b) ORDER BY n$$,
  $$VALUES (3, 3), (1, 1), (0, 0), (3, 3), (2, 1), (2, 2), (2, 1)$$,
  'edit distances count characters, not bytes; Damerau counts a swap of neighbours once');

SELECT results_eq(
  $$SELECT round(concord.jaro_winkler(a, b)::numeric, 4)
      FROM (VALUES (1, 'MARTHA', 'MARHTA'), (2, 'DWAYNE', 'DUANE'), (3, 'DIXON', 'DICKSONX'), (4, 'abc', 'abc'),
                   (5, 'abc', 'xyz'), (6, '', ''), (7, '', 'a'), (8, '张三丰', '张三'))
           AS t(n, a, b) ORDER BY n$$,
  $$VALUES (0.9611), (0.8400), (0.8133), (1.0000), (0.0000), (1.0000), (0.0000), (0.9111)$$,
  'Jaro-Winkler: the classic reference pairs and edge cases');

SELECT is(concord.token_set_similarity('某某 科技 上海', '上海 某某 科技'), 1.0::float8, 'token sets ignore order');
SELECT is(concord.token_set_similarity('moumou tech', 'moumou tech shanghai'), 2.0::float8 / 3, 'two of three words shared');
SELECT is(concord.token_set_similarity('a a b', 'b'), 0.5::float8, 'repeated words count once');
SELECT is(concord.token_set_similarity('', '  '), 1.0::float8, 'no words on either side');

SELECT is(concord.name_similarity('張三', 'San Zhang'), 1.0::float8, 'one person, two scripts, two orders');
SELECT is(concord.name_similarity('欧阳娜娜', 'Nana Ouyang'), 1.0::float8, 'a two-character family name');
SELECT cmp_ok(concord.name_similarity('张三', '张山'), '>', 0.85::float8, 'a near spelling is close');
SELECT cmp_ok(concord.name_similarity('王伟', '张伟'), '<', 0.7::float8, 'another family name is not');
SELECT is(concord.name_similarity('张三', '...'), NULL, 'a name with no letters compares as unknown');

SELECT throws_ok(format('SELECT concord.levenshtein(%L, %L)', repeat('x', 4001), 'x'), '54000',
  'argument 1 has 4001 characters, more than the limit of 4000', 'quadratic distances refuse huge inputs');

SELECT * FROM finish();
ROLLBACK;
