-- bi: every object a BI user sees has a comment (issue 9).  A fresh login
-- role, given what docs/bi.md gives a person (a governed view, a published
-- metric view), browses what concord made: schema concord, the schemas
-- concord's objects live in, the metric views and the governed view.
-- Every schema it may use, every relation it may read, each of their
-- columns, and every function it may call has a non-empty comment; the
-- offenders are listed when one has none.  Not a list of names: whatever
-- is there now, and whatever is added later.  In a transaction rolled
-- back (its roles too).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(11);

CREATE ROLE bi_comments_probe LOGIN;
CREATE ROLE bi_comments_owner;

-- a CRM's customers, governed: the phone masked
CREATE SCHEMA bi_crm;
CREATE TABLE bi_crm.customer (id int PRIMARY KEY, name text, phone text, region text);
COMMENT ON COLUMN bi_crm.customer.phone IS 'Mobile number as the CRM has it';
INSERT INTO bi_crm.customer VALUES (1, '张伟', '13812345678', '华东'), (2, '李娜', '15012345670', '华北');
ALTER TABLE bi_crm.customer OWNER TO bi_comments_owner;
SELECT concord.column_mask_create('bi_crm.customer', 'phone', 'concord.mask_phone(phone)') AS gv \gset
GRANT USAGE ON SCHEMA bi_crm TO bi_comments_probe;
GRANT SELECT ON bi_crm.customer_governed TO bi_comments_probe;

-- a shop's orders: a model, a metric, a published view, a rollup
CREATE SCHEMA bi_shop;
CREATE TABLE bi_shop.orders (id int PRIMARY KEY, region text, ordered_at timestamptz, status text, amount numeric(12,2));
INSERT INTO bi_shop.orders VALUES (1, '华东', '2026-01-10 10:00+08', 'paid', 800), (2, '华北', '2026-02-20 09:00+08', 'paid', 500);
SELECT concord.model_create('bi_orders', 'bi_shop.orders', 'ordered_at',
  '{"bi_region": {"expr": "region", "description": "销售大区"}, "bi_status": "status"}', '订单') AS md \gset
SELECT concord.metric_create('bi_revenue', 'simple', model => 'bi_orders', agg => 'sum', expr => 'amount',
                             filter => $$status = 'paid'$$, description => '已支付订单的金额') AS v1,
       concord.metric_create('bi_orders_n', 'simple', model => 'bi_orders', agg => 'count') AS v2 \gset
SELECT concord.metric_publish('bi_revenue_by_region', '{bi_revenue,bi_orders_n}', '{bi_region,bi_status}', 'month',
                              time_zone => 'Asia/Shanghai', readers => '{bi_comments_probe}') AS pv \gset
SELECT concord.metric_rollup_create('bi_daily', '{bi_revenue,bi_orders_n}', '{bi_region}', 'day', 'Asia/Shanghai') AS rt \gset
GRANT USAGE ON SCHEMA bi_shop TO bi_comments_probe;
GRANT SELECT ON bi_shop.orders TO bi_comments_probe;

-- What concord made that a person browses: its schema and the schemas
-- that belong to the extension, the schemas of published views; the
-- relations in those, and the governed views of masked tables.
CREATE TEMP VIEW concord_schema AS
  SELECT n.oid, n.nspname FROM pg_namespace n
   WHERE n.oid = (SELECT e.extnamespace FROM pg_extension e WHERE e.extname = 'concord')
      OR n.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                    WHERE e.extname = 'concord' AND d.classid = 'pg_namespace'::regclass AND d.deptype = 'e')
      OR n.oid IN (SELECT c.relnamespace FROM concord.metric_publication p JOIN pg_class c ON c.oid = p.view_name);
CREATE TEMP VIEW concord_relation AS
  SELECT c.oid, c.oid::regclass AS rel FROM pg_class c
   WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
     AND (c.relnamespace IN (SELECT oid FROM concord_schema)
          OR c.oid IN (SELECT to_regclass(format('%I.%I', t.relnamespace::regnamespace, t.relname || '_governed'))
                         FROM pg_class t WHERE t.oid IN (SELECT m.table_name FROM concord.column_mask m)));
-- ... of which the fresh role may use or read
CREATE TEMP VIEW seen_schema AS
  SELECT s.* FROM concord_schema s WHERE has_schema_privilege('bi_comments_probe', s.oid, 'USAGE');
CREATE TEMP VIEW seen_relation AS
  SELECT r.* FROM concord_relation r
   WHERE has_table_privilege('bi_comments_probe', r.oid, 'SELECT');
CREATE TEMP VIEW seen_function AS
  SELECT p.oid, p.oid::regprocedure AS fn FROM pg_proc p
   WHERE p.pronamespace IN (SELECT oid FROM seen_schema)
     AND has_function_privilege('bi_comments_probe', p.oid, 'EXECUTE');

-- the rule
SELECT is((SELECT coalesce(array_agg(s.nspname::text ORDER BY s.nspname), '{}') FROM concord_schema s
            WHERE coalesce(obj_description(s.oid, 'pg_namespace'), '') = ''),
          '{}', 'every schema of concord''s has a comment (those the fresh role may not use too)');
SELECT is((SELECT coalesce(array_agg(r.rel::text ORDER BY r.rel::text), '{}') FROM seen_relation r
            WHERE coalesce(obj_description(r.oid, 'pg_class'), '') = ''),
          '{}', 'every relation the fresh role may read has a comment');
SELECT is((SELECT coalesce(array_agg(r.rel::text || '.' || quote_ident(a.attname) ORDER BY r.rel::text, a.attnum), '{}')
             FROM seen_relation r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE coalesce(col_description(r.oid, a.attnum), '') = ''),
          '{}', 'every column of those relations has a comment');
SELECT is((SELECT coalesce(array_agg(f.fn::text ORDER BY f.fn::text), '{}') FROM seen_function f
            WHERE coalesce(obj_description(f.oid, 'pg_proc'), '') = ''),
          '{}', 'every function the fresh role may call has a comment');

-- not vacuously: the fresh role does see what a BI user meets
SELECT is((SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(ARRAY[:'gv', :'pv', :'rt', 'concord.metric_catalog', 'concord.metric']) x
            WHERE x NOT IN (SELECT rel::text FROM seen_relation)),
          '{}', 'the checked relations include the governed view, the metric view, the rollup table and the catalog');
SELECT ok((SELECT array_agg(nspname::text) FROM seen_schema) @> '{concord,metrics,concord_rollup}'
          AND (SELECT count(*) FROM seen_relation) >= 10
          AND (SELECT count(*) FROM seen_relation r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0) >= 80
          AND (SELECT count(*) FROM seen_function) >= 50,
          'the checked schemas include concord, metrics and concord_rollup, with their columns and functions');

-- what the comments say where concord writes them as it goes
SELECT is(obj_description('metrics'::regnamespace, 'pg_namespace'),
          'concord: views of metrics for BI and report tools, answered as the reader (concord.metric_publish)',
          'metric_publish comments the schema it makes');
SELECT is(col_description(:'gv'::regclass, 3),
          'Mobile number as the CRM has it (column phone of bi_crm.customer; masked unless the reader may see its clear value, concord.column_mask)',
          'a governed view''s masked column: the table column''s comment, its origin, that it is masked');
SELECT is(col_description(:'gv'::regclass, 2), '(column name of bi_crm.customer)',
          'a governed view''s column the table did not comment: its origin');
SELECT is(col_description(:'pv'::regclass, 2), '销售大区 (dimension bi_region of model bi_orders)',
          'a metric view''s dimension: its description and model');
SELECT is(col_description(:'rt'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = :'rt'::regclass AND attname = 'bi_revenue')),
          '已支付订单的金额 (metric bi_revenue: sum over each bucket)', 'a rollup table''s metric column: its description and aggregate');

SELECT * FROM finish();
ROLLBACK;
