-- docs/identity.md: every ```sql example runs, in order, and gives what its
-- comments show.
BEGIN;
SET LOCAL client_min_messages = warning;

\set page identity
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 10);

SELECT lives_ok(code, format('docs/identity.md example %s runs', n)) FROM blocks ORDER BY n;

SELECT is((SELECT count(DISTINCT concord.normalize_phone(p))::int
             FROM unnest(ARRAY['+86 138-1234-5678', '13812345678', '１３８１２３４５６７８']) p), 1,
  'the three phone spellings are one number');
SELECT is((SELECT string_agg(DISTINCT concord.name_key(n), ',')
             FROM unnest(ARRAY['张三', '張三', 'Zhang San', 'San Zhang']) n), 'sanzhang',
  'the four name spellings have the key shown');
SELECT is((SELECT string_agg(DISTINCT concord.normalize_company(c), ',')
             FROM unnest(ARRAY['上海某某科技有限公司', '某某科技(上海)']) c), '某某科技',
  'the two company spellings are one company');
SELECT is((SELECT id FROM crm_contact WHERE concord.normalize_phone(phone) = concord.normalize_phone('138 1234 5678')), 1,
  'the lookup finds 張三');

SELECT results_eq($$SELECT source, key, how FROM concord.customer_link ORDER BY customer_id, source, key$$,
  $$VALUES ('crm', '1', 'rule: same phone, same name'), ('desk', '101', 'rule: same phone, same name'),
           ('desk', '103', 'rule: same phone, same name'), ('crm', '2', 'alone'), ('desk', '104', 'alone'),
           ('desk', '105', 'alone'), ('desk', '102', 'alone'), ('members', 'C-1', 'alone')$$,
  'the examples end as the comments say: the incremental ticket joined 张三, 赵敏 and 赵强 are two, the merged and split 王伟 are two again, the member is alone');
SELECT results_eq($$SELECT kind, source_a, key_a, source_b, key_b FROM concord.identity_constraint ORDER BY key_a$$,
  $$VALUES ('cannot_link', 'desk', '102', 'crm', '2'), ('cannot_link', 'desk', '104', 'desk', '105')$$,
  'the split replaced the merge in identity_constraint, beside the review decision');

SELECT is((SELECT count(*)::int FROM concord.customer_timeline WHERE event = 'contract_signed'), 1,
  'the timeline example shows the contract');

SELECT is((SELECT weight FROM concord.identity_weight WHERE (attribute, level) = ('model', 'review_threshold')), 2::float8,
  'the tuning example set the review threshold');
SELECT results_eq($$SELECT source_a, key_a, source_b, key_b, score FROM concord.customer_review$$,
  $$VALUES ('crm', '1', 'members', 'C-1', 5::float8)$$,
  'the review example took its pair off the queue; the member named 张三 (a name alone) is for review');
SELECT results_eq($$SELECT kind, reason FROM concord.identity_constraint WHERE key_a = '104'$$,
  $$VALUES ('cannot_link', 'siblings, confirmed by phone')$$, 'and recorded the decision');

SELECT * FROM finish();
ROLLBACK;
