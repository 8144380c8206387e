-- identity: the learned model fits m per blocking rule (docs/identity.md,
-- "The learned model").  400 people, three rows each (a CRM, a service
-- desk, and a list of leads that holds a name only), whose names are 50
-- names of 8 people each: the name rule brings 13,800 pairs together,
-- 1,200 of them one person's -- 400 CRM-desk pairs, and 800 with a lead,
-- which nothing but the name tells from a namesake's.  A quarter of the
-- people gave the desk another mobile.  Fitted over all candidate pairs at
-- once (before), EM took "the same name" for "the same person": a share
-- of matches of 0.51, a different mobile -0.15, a different employer
-- -0.04.  Fitted per rule, the name left out of the name rule's pairs, it
-- finds what a different mobile and employer say.  As a member of
-- concord_identity.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_trn_member IN ROLE concord_identity;
CREATE SCHEMA itr;
CREATE TABLE itr.crm (id int PRIMARY KEY, name text, mobile text, email text, company text);
CREATE TABLE itr.desk (id int PRIMARY KEY, name text, mobile text, email text, company text);
-- person p: name (p - 1) % 50 of 张王李赵刘 x 伟芳娜敏静丽强磊军洋;
-- people 1-49 and 250-299 ((p / 50) % 5 = 0) gave the desk another
-- mobile; one of 12 employers (from a hash of p); an email each, that
-- the CRM has for half of them and the desk for two thirds; the desk
-- has the employer of three quarters
CREATE VIEW itr.people AS
SELECT p, substr('张王李赵刘', (p - 1) % 50 / 10 + 1, 1) || substr('伟芳娜敏静丽强磊军洋', (p - 1) % 10 + 1, 1) AS name,
       '139' || h.m AS mobile,
       CASE WHEN (p / 50) % 5 = 0 THEN '137' || h.d ELSE '139' || h.m END AS desk_mobile,
       'user' || p || '@mail.example.cn' AS email,
       (ARRAY['华信', '东方', '长城', '天宇', '金桥', '海川', '中科', '新锐', '博远', '恒通', '瑞丰', '宏达'])
         [abs(('x' || substr(md5(p::text), 1, 8))::bit(32)::int) % 12 + 1] || '科技有限公司' AS company
  FROM generate_series(1, 400) p,
       -- (mobiles from a hash: numbers in sequence are one digit apart,
       -- the level 'close, one typo' of one person's mobile typed wrong)
       LATERAL (SELECT lpad(((('x' || substr(md5('m' || p), 1, 8))::bit(32)::bigint & 2147483647) % 100000000)::text, 8, '0') AS m,
                       lpad(((('x' || substr(md5('d' || p), 1, 8))::bit(32)::bigint & 2147483647) % 100000000)::text, 8, '0') AS d) h;
INSERT INTO itr.crm SELECT p, name, mobile, CASE WHEN p % 2 = 0 THEN email END, company FROM itr.people;
INSERT INTO itr.desk SELECT p, name, desk_mobile, CASE WHEN p % 3 <> 0 THEN email END,
                            CASE WHEN p % 4 <> 0 THEN company END FROM itr.people;
CREATE TABLE itr.leads (id int PRIMARY KEY, name text);
INSERT INTO itr.leads SELECT p, name FROM itr.people;
GRANT SELECT ON itr.leads TO tap_trn_member;
GRANT USAGE ON SCHEMA itr TO tap_trn_member;
GRANT SELECT ON itr.crm, itr.desk TO tap_trn_member;

-- the truth: the candidate pairs are the pairs of rows of one name (every
-- pair that shares a mobile, an email or an employer shares the name)
SELECT count(*) AS cand, count(*) FILTER (WHERE a.p = b.p) AS same
  FROM (SELECT p, name, 1 AS src FROM itr.people UNION ALL SELECT p, name, 2 FROM itr.people UNION ALL SELECT p, name, 3 FROM itr.people) a
  JOIN (SELECT p, name, 1 AS src FROM itr.people UNION ALL SELECT p, name, 2 FROM itr.people UNION ALL SELECT p, name, 3 FROM itr.people) b
    ON a.name = b.name AND (a.src, a.p) < (b.src, b.p) \gset

SET ROLE tap_trn_member;
SELECT concord.identity_source_create('crm', 'itr.crm', 'id', '{"name": "name", "phone": "mobile", "email": "email", "company": "company"}',
                                      track_changes => false) IS NOT NULL AS ok \gset
SELECT concord.identity_source_create('desk', 'itr.desk', 'id', '{"name": "name", "phone": "mobile", "email": "email", "company": "company"}',
                                      track_changes => false) IS NOT NULL AS ok \gset
SELECT concord.identity_source_create('leads', 'itr.leads', 'id', '{"name": "name"}', track_changes => false) IS NOT NULL AS ok \gset
SELECT count(*) FROM concord.resolve() \gset

SELECT is(:cand || '/' || :same, '13800/1200', 'the data: 13,800 pairs of rows of one name, 1,200 of them one person''s');
CREATE TEMP TABLE fit AS SELECT * FROM concord.identity_train(apply => false);
-- (between the pairs something beyond the name tells, 400 / 13,800, and
-- all of one person's, 1,200 / 13,800: a lead and its person are a guess)
SELECT ok((SELECT m BETWEEN 400 / 13800.0 AND 1200 / 13800.0 FROM fit WHERE (attribute, level) = ('model', 'prior')),
  'the share of matches among the candidate pairs is within what can be told (0.029-0.087; 0.057 fitted, 0.51 before)');
-- a quarter of one person's pairs carry two mobiles; those with nothing
-- else in common (no email, no employer on one side) look like two
-- namesakes to EM, so it counts fewer (0.10 fitted)
SELECT ok((SELECT m BETWEEN 0.05 AND 0.3 FROM fit WHERE (attribute, level) = ('phone', 'disagree')),
  'some of one person''s pairs carry two mobiles (m of phone disagree), not most');
SELECT ok((SELECT weight < -2 FROM fit WHERE (attribute, level) = ('phone', 'disagree')),
  'so a different mobile is evidence against (u near 1; -3.3 fitted, -0.15 before)');
SELECT ok((SELECT m BETWEEN 0.7 AND 0.95 FROM fit WHERE (attribute, level) = ('phone', 'agree')),
  'and the same mobile most of them (0.75 in truth, 0.90 fitted)');
SELECT ok((SELECT weight < -5 FROM fit WHERE (attribute, level) = ('company', 'disagree')),
  'one person''s rows name one employer (a different one: evidence against; -10.7 fitted, -0.04 before)');

-- with only the rules on the name, no rule leaves the name free: its m is
-- fitted over all candidate pairs with every attribute in it, as before
-- (8.84 for name exact; the share of matches stays 0.057: it is fitted
-- with the other attributes' m of the name rule)
SELECT count(concord.identity_blocking_rule_drop(r)) AS dropped FROM unnest(ARRAY['phone', 'email', 'id_number']) r \gset
CREATE TEMP TABLE fit_name AS SELECT * FROM concord.identity_train(apply => false);
SELECT ok((SELECT weight > 5 FROM fit_name WHERE (attribute, level) = ('name', 'exact')),
  'an attribute every rule blocks on is still trained (name exact)');
SELECT ok((SELECT weight < -2 FROM fit_name WHERE (attribute, level) = ('phone', 'disagree')),
  'and the attributes the rules leave free still per rule (a different mobile)');

SELECT * FROM finish();
ROLLBACK;
