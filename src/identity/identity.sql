/* concord — identity: one customer across the departments' systems.
 * This part: normalizers, script handling and similarity functions. */

------------------------------------------------------------------------------
-- Normalizers: IMMUTABLE, STRICT, PARALLEL SAFE (usable in indexes)
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.normalize_phone(phone text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_phone'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_phone(text) IS
  'A phone number in E.164 form (+8613812345678, +862112345678;ext=801), whatever its writing; NULL if it is not a usable number (see phone_problem)';

CREATE FUNCTION @extschema@.phone_problem(phone text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_phone_problem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.phone_problem(text) IS
  'Why normalize_phone gives NULL for a number; NULL when the number is fine';

CREATE FUNCTION @extschema@.normalize_email(email text, strip_plus boolean DEFAULT false)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_email'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_email(text, boolean) IS
  'An email address trimmed, half-width and lower-case (strip_plus: name+tag@host becomes name@host); NULL unless it looks like local@domain.tld';

CREATE FUNCTION @extschema@.normalize_name(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_name(text) IS
  'A person''s name for comparison in its script: half-width, simplified Chinese, lower-case Latin, separators as single spaces';

CREATE FUNCTION @extschema@.name_key(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_name_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_key(text) IS
  'A name''s cross-script key: pinyin syllables or words joined, starting where the string is smallest (张三, 張三, Zhang San and San Zhang all give "sanzhang")';

CREATE FUNCTION @extschema@.name_syllables(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_name_syllables'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_syllables(text) IS
  'A name''s pinyin syllables, sorted, or a Latin name''s words in written order (given names first): what matching compares when two name keys differ (董振华 / 董军 share one of four; a Latin name given name with given name, family name with family name)';

CREATE FUNCTION @extschema@.identity_name_form(name text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_identity_name_form'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.identity_name_form(text) IS
  'Internal to resolve: what identity_record.syllables keeps of a name -- name_syllables, but for a name in Chinese characters its syllables in written order, a tab and its characters (xu chao wei, 徐超伟: the family name''s place is known), for a family name and an honorific (王女士) the family name''s syllables, a tab and its characters; NULL for another placeholder';

CREATE FUNCTION @extschema@.normalize_company(company text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_company'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_company(text) IS
  'A company name without legal forms (有限公司, Co., Ltd., Inc., ...), parenthesised parts or a leading province or municipality; half-width, simplified, lower case';

CREATE TYPE @extschema@.address_parts AS (
  province text,
  city     text,
  district text,
  detail   text
);
COMMENT ON TYPE @extschema@.address_parts IS 'An address split into its administrative levels and the rest';

CREATE FUNCTION @extschema@.address_parts(address text)
RETURNS @extschema@.address_parts AS 'MODULE_PATHNAME', 'concord_address_parts'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.address_parts(text) IS
  'Province (full form), city, district or county, and the rest of a Chinese address';

CREATE FUNCTION @extschema@.normalize_address(address text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_address'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_address(text) IS
  'An address as "province city district detail" (a municipality once), half-width, simplified, without white space inside parts';

CREATE FUNCTION @extschema@.normalize_cn_id(id text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_normalize_cn_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_cn_id(text) IS
  'A resident ID number in its 18-character form (15-character ones converted), checksum and date of birth validated; NULL if invalid (see cn_id_problem)';

CREATE FUNCTION @extschema@.cn_id_problem(id text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_cn_id_problem'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cn_id_problem(text) IS
  'Why normalize_cn_id gives NULL; NULL when the number is valid';

CREATE FUNCTION @extschema@.to_halfwidth(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_halfwidth'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_halfwidth(text) IS 'Full-width forms to half-width (ICU Fullwidth-Halfwidth)';

-- Any ID number, as resolve keeps it: a resident ID number in its
-- canonical form; another (a passport, a Hong Kong or a foreign ID, a
-- social security number) kept as "other:" and its letters and digits,
-- upper case -- if it has 5 or more and a digit; a value shaped like a
-- resident ID number that is not valid (a typo: its check character or its
-- date does not match) as "typo:" and its characters, which never agree
-- by rule and never make the golden record, but come close to the number
-- they are one typo from.
CREATE FUNCTION @extschema@.normalize_id(id text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
  SELECT coalesce(@extschema@.normalize_cn_id(id),
                  CASE WHEN s.x OPERATOR(pg_catalog.~) '^([0-9]{15}|[0-9]{17}[0-9X])$'
                       THEN 'typo:' OPERATOR(pg_catalog.||) s.x
                       WHEN pg_catalog.length(s.x) OPERATOR(pg_catalog.>=) 5 AND s.x OPERATOR(pg_catalog.~) '[0-9]'
                       THEN 'other:' OPERATOR(pg_catalog.||) s.x END)
    FROM (SELECT pg_catalog.upper(pg_catalog.regexp_replace(@extschema@.to_halfwidth(id), '[^0-9A-Za-z]', '', 'g')) AS x) s;
END;
COMMENT ON FUNCTION @extschema@.normalize_id(text) IS
  'An ID number as resolve keeps it: a resident ID number as normalize_cn_id gives it, any other as "other:" and its letters and digits (5 or more, with a digit); a value shaped like a resident ID number that is not valid (a typo) as "typo:" and its characters';

CREATE FUNCTION @extschema@.identity_placeholder(kind text, value text)
RETURNS boolean AS 'MODULE_PATHNAME', 'concord_identity_placeholder'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.identity_placeholder(text, text) IS
  'Whether a name (kind name) or an employer (kind company) stands for nobody in particular -- 未知, 客户, 先生, 张先生, 王总, 个人 -- and so is left out of matching';

CREATE FUNCTION @extschema@.to_simplified(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_simplified'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_simplified(text) IS 'Traditional Chinese to simplified (ICU Hant-Hans)';

CREATE FUNCTION @extschema@.to_pinyin(t text)
RETURNS text AS 'MODULE_PATHNAME', 'concord_to_pinyin'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.to_pinyin(text) IS 'Chinese to pinyin without tones, lower case (ICU Han-Latin; Latin-ASCII; Lower)';

------------------------------------------------------------------------------
-- Similarity
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.levenshtein(a text, b text)
RETURNS integer AS 'MODULE_PATHNAME', 'concord_levenshtein'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.levenshtein(text, text) IS 'Edit distance in characters (insert, delete, substitute)';

CREATE FUNCTION @extschema@.damerau_levenshtein(a text, b text)
RETURNS integer AS 'MODULE_PATHNAME', 'concord_damerau_levenshtein'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.damerau_levenshtein(text, text) IS 'Edit distance in characters counting a swap of neighbours as one (optimal string alignment)';

CREATE FUNCTION @extschema@.jaro_winkler(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_jaro_winkler'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.jaro_winkler(text, text) IS 'Jaro-Winkler similarity in [0, 1], on characters';

CREATE FUNCTION @extschema@.token_set_similarity(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_token_set_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.token_set_similarity(text, text) IS 'Shared distinct words over all distinct words (Jaccard), order ignored';

CREATE FUNCTION @extschema@.name_similarity(a text, b text)
RETURNS double precision AS 'MODULE_PATHNAME', 'concord_name_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.name_similarity(text, text) IS 'Jaro-Winkler of two names'' pinyin keys: across scripts, character sets and word order';

------------------------------------------------------------------------------
-- Resolution: sources, records, clusters, stable customer IDs
------------------------------------------------------------------------------

SELECT @extschema@.capability_role('concord_identity', 'may register identity sources and resolve customers');

CREATE TABLE @extschema@.identity_source (
  name          text PRIMARY KEY
                CONSTRAINT identity_source_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  source_table  regclass NOT NULL,
  key_column    name NOT NULL,
  columns       jsonb NOT NULL,
  priority      integer NOT NULL DEFAULT 100,
  created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  defined_by    regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER)
);
COMMENT ON TABLE @extschema@.identity_source IS
  'Tables whose rows describe customers: the key column and which columns carry name, phone, email, company, address, id_number, updated_at';
COMMENT ON COLUMN @extschema@.identity_source.priority IS
  'Survivorship tie-break: a lower number wins when two values are equally recent';
COMMENT ON COLUMN @extschema@.identity_source.defined_by IS
  'The role that registered the source: resolve reads its table with her privileges (her row policies, her functions), never with concord''s';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_source', '');

CREATE TABLE @extschema@.identity_record (
  -- (no foreign key: a million rows would check it one by one; dropping a
  -- source deletes its rows, and a full resolve keeps only registered ones)
  source      text NOT NULL,
  key         text NOT NULL,
  name_key    text,
  syllables   text,
  phone       text,
  email       text,
  company     text,
  address     text,
  id_number   text,
  updated_at  timestamptz,
  original    jsonb NOT NULL,
  extra       jsonb,
  PRIMARY KEY (source, key)
);

-- The indexes of identity_record -- its lookup indexes (partial: a missing
-- value is never looked up) -- and of customer_link, with their primary
-- keys.  A full resolve that brings many new rows drops them and builds
-- them again after the load -- a sorted build instead of an insert into
-- six indexes per row: 9 s instead of 17 s for a million rows, 4.6 s
-- instead of 7 s for a million links -- hence this function, called by
-- resolve, which runs as the extension's owner, who alone may.
CREATE FUNCTION @extschema@.identity_bulk_indexes(tbl text, present boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  idx record;
BEGIN
  IF NOT tbl OPERATOR(pg_catalog.=) ANY (ARRAY['identity_record', 'customer_link']) THEN
    RAISE EXCEPTION 'no bulk indexes for table "%"', tbl USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR idx IN
    SELECT 'identity_record_' OPERATOR(pg_catalog.||) col OPERATOR(pg_catalog.||) '_idx' AS name,
           pg_catalog.format('(%I%s) WHERE %I IS NOT NULL', col,
                  -- (a name with its employer: 王伟 at 华信软件 is looked up directly)
                  CASE WHEN col OPERATOR(pg_catalog.=) 'name_key' THEN ', company' ELSE '' END, col) AS def
      FROM unnest(ARRAY['phone', 'email', 'name_key', 'id_number', 'company']) col
     WHERE tbl OPERATOR(pg_catalog.=) 'identity_record'
    UNION ALL
    SELECT 'identity_record_extra_idx', 'USING gin (extra jsonb_path_ops) WHERE extra IS NOT NULL'
     WHERE tbl OPERATOR(pg_catalog.=) 'identity_record'
    UNION ALL
    SELECT 'customer_link_customer_idx', '(customer_id)' WHERE tbl OPERATOR(pg_catalog.=) 'customer_link'
  LOOP
    IF present THEN
      EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s.%I %s', idx.name, '@extschema@', tbl, idx.def);
    ELSE
      EXECUTE pg_catalog.format('DROP INDEX IF EXISTS %s.%I', '@extschema@', idx.name);
    END IF;
  END LOOP;
  -- and the primary key
  IF present AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                              WHERE conname OPERATOR(pg_catalog.=) (tbl OPERATOR(pg_catalog.||) '_pkey')
                                AND conrelid OPERATOR(pg_catalog.=) pg_catalog.format('%s.%I', '@extschema@', tbl)::pg_catalog.regclass) THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s.%I ADD CONSTRAINT %I PRIMARY KEY (source, key)', '@extschema@', tbl, tbl OPERATOR(pg_catalog.||) '_pkey');
  ELSIF NOT present THEN
    EXECUTE pg_catalog.format('ALTER TABLE %s.%I DROP CONSTRAINT IF EXISTS %I', '@extschema@', tbl, tbl OPERATOR(pg_catalog.||) '_pkey');
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_bulk_indexes(text, boolean) IS
  'Internal to resolve: makes (true) or drops (false) the primary key and lookup indexes of identity_record or customer_link';

-- After a full resolve the tables it rewrote get fresh statistics, so that
-- the incremental runs that follow look rows up by index rather than scan
-- a million of them (ANALYZE needs the owner: resolve runs as it).
CREATE FUNCTION @extschema@.identity_analyze(golden boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF golden THEN
    EXECUTE pg_catalog.format('ANALYZE %s.customer', '@extschema@');
  ELSE
    EXECUTE pg_catalog.format('ANALYZE %1$s.identity_record, %1$s.customer_link', '@extschema@');
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_analyze(boolean) IS
  'Internal to resolve: fresh statistics for identity_record and customer_link, or (golden) for customer';

SELECT @extschema@.identity_bulk_indexes('identity_record', true);
COMMENT ON TABLE @extschema@.identity_record IS
  'Every source row, normalized for matching (refreshed by resolve); original holds the values as the source wrote them';

-- How many people share a widely held value, as the last full resolve
-- counted them.  An incremental run takes these spreads instead of
-- counting distinct names behind an employer of 20,000 rows again (a
-- few more rows move such a weight by hundredths of a bit); values held
-- by fewer rows, or new since, are counted as they are.  Derived data: not
-- dumped, rebuilt by every full resolve.
CREATE TABLE @extschema@.identity_value_stat (
  attribute  text NOT NULL CHECK (attribute IN ('name_key', 'phone', 'email', 'company', 'id_number', 'address')),
  value      text NOT NULL,
  records    integer NOT NULL,
  spread     integer NOT NULL,
  PRIMARY KEY (attribute, value)
);
COMMENT ON TABLE @extschema@.identity_value_stat IS
  'Values held by many rows at the last full resolve, with how many rows held them and how many people share them (distinct names; distinct phones behind a name): incremental runs weigh agreements with these';

-- How many rows identity_record holds and how many customers there are:
-- counted by every full resolve, kept up to date by incremental ones (and
-- identity_source_drop): the population scale of the weights needs the
-- first, resolve reports the second, and counting a million rows cost an
-- incremental run a tenth of a second each.  Derived, not dumped.
CREATE TABLE @extschema@.identity_population (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  records  bigint NOT NULL CHECK (records >= 0),
  customers bigint CHECK (customers >= 0)
);
COMMENT ON TABLE @extschema@.identity_population IS
  'How many rows concord.identity_record holds (the population the match weights scale with) and how many customers there are, as resolve counted them (one row)';

CREATE SEQUENCE @extschema@.customer_id_seq;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_seq', '');

CREATE TABLE @extschema@.customer_link (
  source       text NOT NULL,
  key          text NOT NULL,
  customer_id  bigint NOT NULL,
  how          text NOT NULL,
  score        double precision,
  linked_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (source, key)
);
CREATE INDEX customer_link_customer_idx ON @extschema@.customer_link (customer_id);
COMMENT ON TABLE @extschema@.customer_link IS
  'Each source row''s customer ID, how it was linked (a rule, "score", or "alone") and its best match score';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_link', '');

CREATE TABLE @extschema@.customer_id_history (
  event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id  bigint NOT NULL,
  event        text NOT NULL CONSTRAINT customer_id_history_event_check
               CHECK (event IN ('created', 'merged', 'split')),
  other_id     bigint,
  at           timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX customer_id_history_customer_idx ON @extschema@.customer_id_history (customer_id);
COMMENT ON TABLE @extschema@.customer_id_history IS
  'What happened to customer IDs: created; merged (customer_id went into other_id); split (customer_id was split from other_id)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_id_history_event_id_seq', '');

CREATE TABLE @extschema@.customer (
  customer_id  bigint PRIMARY KEY,
  name         text,
  phone        text,
  email        text,
  company      text,
  address      text,
  id_number    text,
  records      integer NOT NULL,
  chosen_from  jsonb NOT NULL,
  updated_at   timestamptz
);
COMMENT ON TABLE @extschema@.customer IS
  'The golden record: one row per customer ID, each value chosen from its rows by the attribute''s survivorship rule (most recent by default; see identity_survivorship); chosen_from names the source row of each';
-- (derived by resolve, but kept by pg_dump: a restored database answers at once)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer', '');

CREATE TABLE @extschema@.identity_survivorship (
  attribute   text PRIMARY KEY CONSTRAINT identity_survivorship_attribute_check
              CHECK (attribute IN ('name', 'phone', 'email', 'company', 'address', 'id_number')),
  rule        text NOT NULL CONSTRAINT identity_survivorship_rule_check
              CHECK (rule IN ('most_recent', 'source_priority', 'longest', 'most_frequent')),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_survivorship IS
  'Which of a customer''s values the golden record keeps, per attribute: most_recent (the default), source_priority, longest, most_frequent; never a missing one';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_survivorship', '');

CREATE TABLE @extschema@.identity_constraint (
  constraint_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind           text NOT NULL CONSTRAINT identity_constraint_kind_check CHECK (kind IN ('must_link', 'cannot_link')),
  source_a       text NOT NULL,
  key_a          text NOT NULL,
  source_b       text NOT NULL,
  key_b          text NOT NULL,
  reason         text NOT NULL CONSTRAINT identity_constraint_reason_check CHECK (btrim(reason) <> ''),
  created_by     name NOT NULL DEFAULT CURRENT_USER,
  created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_constraint IS
  'Manual decisions, kept across resolves and audited: two source rows are one customer (must_link) or are not (cannot_link)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_constraint', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_constraint_constraint_id_seq', '');

CREATE TABLE @extschema@.identity_event (
  name             text PRIMARY KEY
                   CONSTRAINT identity_event_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
  event_table      regclass NOT NULL,
  identity_source  text NOT NULL REFERENCES @extschema@.identity_source (name) ON DELETE CASCADE,
  key_column       name NOT NULL,
  at_column        name NOT NULL,
  label            text NOT NULL,
  detail_columns   name[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  defined_by       regrole NOT NULL DEFAULT pg_catalog.to_regrole(CURRENT_USER)
);
COMMENT ON COLUMN @extschema@.identity_event.defined_by IS
  'The role that declared the event: resolve reads its table with her privileges';
COMMENT ON TABLE @extschema@.identity_event IS
  'Event mappings: rows of event_table are events (label, at at_column) of the customer whose identity_source row key_column names';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_event', '');

CREATE TABLE @extschema@.customer_event (
  customer_id  bigint NOT NULL,
  at           timestamptz,
  event        text NOT NULL,
  label        text NOT NULL,
  source       text NOT NULL,
  key          text NOT NULL,
  detail       jsonb NOT NULL
);
CREATE INDEX customer_event_customer_idx ON @extschema@.customer_event (customer_id, at);
COMMENT ON TABLE @extschema@.customer_event IS
  'Every mapped event of every customer (rebuilt by resolve): what happened when, from which row';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_event', '');

CREATE TABLE @extschema@.identity_queue (
  source     text NOT NULL,
  key        text NOT NULL,
  queued_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE @extschema@.identity_review (
  source_a  text NOT NULL,
  key_a     text NOT NULL,
  source_b  text NOT NULL,
  key_b     text NOT NULL,
  score     double precision NOT NULL,
  found_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (source_a, key_a, source_b, key_b)
);
CREATE INDEX identity_review_b_idx ON @extschema@.identity_review (source_b, key_b);
COMMENT ON TABLE @extschema@.identity_review IS
  'Pairs of rows that scored between the review and the match threshold and are in two customers: the strongest pair of each two customers, for a person to decide (rebuilt by resolve)';

COMMENT ON TABLE @extschema@.identity_queue IS
  'Source rows inserted, updated or deleted since the last resolve (written by the sources'' triggers, emptied by resolve and resolve_incremental)';

-- Statement-level trigger of a tracked source (one per event: transition
-- tables allow no more): queues the keys of the rows changed.  Runs as the
-- extension's owner so that whoever may write the source table need not
-- be granted the queue.
CREATE FUNCTION @extschema@.identity_queue_rows()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  -- the key is converted with the owner's rights: only a built-in type's
  -- cast, never one the table's owner made (checked at every firing, since
  -- the column's type can change)
  PERFORM @extschema@.require_builtin_column(TG_RELID, TG_ARGV[1]);
  -- only for the source registered on this table and key (whoever may
  -- attach the trigger cannot queue keys for another source)
  IF NOT EXISTS (SELECT 1 FROM @extschema@.identity_source s
                  WHERE s.name OPERATOR(pg_catalog.=) TG_ARGV[0]
                    AND s.source_table OPERATOR(pg_catalog.=) TG_RELID
                    AND s.key_column OPERATOR(pg_catalog.=) TG_ARGV[1]::pg_catalog.name) THEN
    RAISE EXCEPTION 'table % is not identity source "%" with key "%"', TG_RELID::pg_catalog.regclass, TG_ARGV[0], TG_ARGV[1]
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'concord.identity_source_create makes this trigger; drop a copy made by hand.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
    EXECUTE pg_catalog.format('INSERT INTO %s.identity_queue (source, key) SELECT $1, n.%I::pg_catalog.text FROM new_rows n',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
    EXECUTE pg_catalog.format('INSERT INTO %s.identity_queue (source, key) SELECT $1, o.%I::pg_catalog.text FROM old_rows o',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  ELSE
    -- an update queues the old key and the new one, once if they are equal
    EXECUTE pg_catalog.format('INSERT INTO %1$s.identity_queue (source, key)'
                   ' SELECT $1, n.%2$I::pg_catalog.text FROM new_rows n UNION SELECT $1, o.%2$I::pg_catalog.text FROM old_rows o',
                   '@extschema@', TG_ARGV[1]) USING TG_ARGV[0];
  END IF;
  RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_queue_rows() IS
  'Trigger of tracked identity sources: queues the keys of changed rows for resolve_incremental';
-- (identity_source_create makes the triggers, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.identity_queue_rows() FROM PUBLIC;

CREATE TABLE @extschema@.identity_attribute (
  name        text PRIMARY KEY
              CONSTRAINT identity_attribute_name_check CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'
                AND name NOT IN ('name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at', 'model')),
  compare     text NOT NULL CONSTRAINT identity_attribute_compare_check
              CHECK (compare IN ('exact', 'date', 'number', 'string')),
  tolerance   double precision CONSTRAINT identity_attribute_tolerance_check
              CHECK ((compare = 'number') = (tolerance IS NOT NULL) AND (tolerance IS NULL OR tolerance >= 0)),
  block       boolean NOT NULL DEFAULT false CONSTRAINT identity_attribute_block_check CHECK (NOT block OR compare IN ('exact', 'date')),
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_attribute IS
  'Attributes beyond the built-in kinds (a date of birth, a passport number, a segment) and how they compare: exact, date (day/month swaps and year typos come close; the day or the month one typo off is one field off), number (within tolerance comes close), string (Jaro-Winkler >= 0.9 comes close); block: rows sharing a value are compared';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_attribute', '');

-- Blocking rules: which records are brought together to be compared (a
-- pair no rule brings together is never compared).  A rule is a key or a
-- conjunction of keys, for every source or for one (then a pair is
-- compared when either record is of that source).  The defaults reproduce
-- what resolve did before rules were data; a declared attribute with
-- block => true makes (and its drop removes) a rule of its own name.
CREATE TABLE @extschema@.identity_blocking_rule (
  name        text PRIMARY KEY
              CONSTRAINT identity_blocking_rule_name_check CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
  keys        text[] NOT NULL
              CONSTRAINT identity_blocking_rule_keys_check CHECK (pg_catalog.cardinality(keys) BETWEEN 1 AND 4),
  source      text,
  origin      text NOT NULL DEFAULT 'manual'
              CONSTRAINT identity_blocking_rule_origin_check CHECK (origin IN ('default', 'attribute', 'manual')),
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.identity_blocking_rule IS
  'Blocking rules: records sharing the value of every key of a rule (name, phone, email, company, address, id_number or a declared attribute) are compared; source NULL: for every source, else when either record is of that source; origin default (shipped), attribute (made by a declared attribute with block => true) or manual';
INSERT INTO @extschema@.identity_blocking_rule (name, keys, origin) VALUES
  ('id_number', '{id_number}', 'default'), ('phone', '{phone}', 'default'), ('email', '{email}', 'default'),
  ('name', '{name}', 'default'), ('name_company', '{name,company}', 'default');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_blocking_rule', 'WHERE origin <> ''default''');

-- Placeholders found by frequency: a name or an employer that many
-- unrelated rows share, far more than its parts' frequencies explain, is
-- evidence of nothing and read as missing (blocking and scoring); the
-- fixed list (identity_placeholder) is applied when rows are normalized,
-- these when they are matched.  Rows of origin 'detected' are written by
-- each full resolve; 'manual' ones are the DBA's (a placeholder, or a
-- value never to take for one) and win.
CREATE TABLE @extschema@.identity_placeholder_value (
  kind        text NOT NULL CONSTRAINT identity_placeholder_value_kind_check
              CHECK (kind IN ('name', 'phone', 'email', 'company')),
  value       text NOT NULL,
  placeholder boolean NOT NULL,
  origin      text NOT NULL CONSTRAINT identity_placeholder_value_origin_check CHECK (origin IN ('detected', 'manual')),
  records     bigint,
  expected    double precision,
  reason      text,
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (kind, value)
);
COMMENT ON TABLE @extschema@.identity_placeholder_value IS
  'Values read as missing when rows are matched (placeholder) or never so (not): detected by the last full resolve from their frequency (records held, expected from the frequency of their parts, why), or set by hand (manual, which wins); value as identity_record holds it (a name key, a normalized phone, email or employer)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_placeholder_value', 'WHERE origin = ''manual''');

CREATE TABLE @extschema@.identity_weight (
  attribute   text NOT NULL,
  level       text NOT NULL,
  weight      double precision NOT NULL
              CONSTRAINT identity_weight_range_check CHECK (weight BETWEEN -100 AND 100),
  origin      text NOT NULL DEFAULT 'manual'
              CONSTRAINT identity_weight_origin_check CHECK (origin IN ('default', 'manual', 'estimated', 'trained')),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- a trained level's probabilities (identity_train): m among pairs of one
  -- person, u among pairs of two
  m           double precision CONSTRAINT identity_weight_m_check CHECK (m > 0 AND m <= 1),
  u           double precision CONSTRAINT identity_weight_u_check CHECK (u > 0 AND u <= 1),
  PRIMARY KEY (attribute, level),
  CONSTRAINT identity_weight_slot_check CHECK ((attribute, level) IN (
    ('id_number', 'agree'), ('id_number', 'disagree'), ('phone', 'agree'), ('phone', 'agree_landline'),
    ('phone', 'disagree'), ('email', 'agree'), ('email', 'disagree'), ('name', 'exact'), ('name', 'exact_unique'), ('name', 'close'),
    ('name', 'near'), ('name', 'partial'), ('name', 'disagree'), ('company', 'agree'), ('company', 'close'), ('company', 'disagree'),
    ('address', 'agree'), ('address', 'close'), ('address', 'disagree'), ('model', 'match_threshold'), ('model', 'review_threshold'),
    ('model', 'rule_name_min'), ('model', 'match_probability'), ('model', 'review_probability'), ('model', 'prior'),
    -- a Latin name's given and family names compared apart
    ('name', 'swapped'), ('name', 'given_close'), ('name', 'given_initial'), ('name', 'family_close'),
    ('name', 'family_only'), ('name', 'given_only'),
    -- an ID number one typo from the other
    ('id_number', 'close'),
    -- two mobiles one typo apart; names in Chinese characters of one
    -- sound; a family name and an honorific against a name
    ('phone', 'close'), ('name', 'homophone'), ('name', 'honorific_family'), ('name', 'honorific_conflict'),
    -- one employer's name the other's brand
    ('company', 'contained'))
    -- a declared attribute (concord.identity_attribute): its levels (one
    -- field off: a date's)
    OR (attribute NOT IN ('id_number', 'phone', 'email', 'name', 'company', 'address', 'model')
        AND level IN ('agree', 'close', 'disagree', 'one_field_off'))),
  -- thresholds a pair can fall under, and a similarity
  CONSTRAINT identity_weight_threshold_check
    CHECK (attribute <> 'model' OR level NOT IN ('match_threshold', 'review_threshold') OR weight > 0),
  CONSTRAINT identity_weight_similarity_check
    CHECK (attribute <> 'model' OR level <> 'rule_name_min' OR (weight > 0 AND weight <= 1)),
  CONSTRAINT identity_weight_probability_check
    CHECK (attribute <> 'model' OR level NOT IN ('match_probability', 'review_probability') OR (weight > 0 AND weight < 1))
);
COMMENT ON TABLE @extschema@.identity_weight IS
  'The matching model: log2(m/u) weight per attribute and agreement level (origin default, manual, estimated or trained by identity_train, with its m and u), the match threshold (or, trained, the match probability and the prior it is turned into) and the phone rule''s name similarity';
INSERT INTO @extschema@.identity_weight (attribute, level, weight, origin) VALUES
  ('id_number', 'agree', 12, 'default'), ('id_number', 'disagree', -6, 'default'), ('id_number', 'close', 6, 'default'),
  ('phone', 'agree', 9, 'default'), ('phone', 'agree_landline', 4, 'default'), ('phone', 'disagree', -4, 'default'),
  ('phone', 'close', 3, 'default'),
  ('name', 'homophone', 3, 'default'), ('name', 'honorific_family', 1, 'default'), ('name', 'honorific_conflict', -4, 'default'),
  ('company', 'contained', 4, 'default'),
  ('email', 'agree', 9, 'default'), ('email', 'disagree', -2, 'default'),
  ('name', 'exact', 5, 'default'), ('name', 'exact_unique', 5, 'default'), ('name', 'close', 3, 'default'), ('name', 'near', 1, 'default'),
  ('name', 'partial', 0.5, 'default'), ('name', 'disagree', -4, 'default'),
  ('name', 'swapped', 5, 'default'), ('name', 'given_close', 4, 'default'), ('name', 'given_initial', 2, 'default'),
  ('name', 'family_close', 3, 'default'), ('name', 'family_only', -2, 'default'), ('name', 'given_only', -3, 'default'),
  ('company', 'agree', 8, 'default'), ('company', 'close', 1.5, 'default'), ('company', 'disagree', -1, 'default'),
  ('address', 'agree', 3, 'default'), ('address', 'close', 2, 'default'), ('address', 'disagree', -1, 'default'),
  ('model', 'match_threshold', 8, 'default'), ('model', 'review_threshold', 4, 'default'),
  ('model', 'rule_name_min', 0.9, 'default'),
  ('model', 'match_probability', 0.9, 'default'), ('model', 'review_probability', 0.5, 'default');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_weight', 'WHERE origin <> ''default''');

CREATE FUNCTION @extschema@.identity_source_create(
  name text, source_table regclass, key_column text, columns jsonb, priority integer DEFAULT 100,
  track_changes boolean DEFAULT true)
RETURNS @extschema@.identity_source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  kinds constant text[] := ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at'];
  k text;
  col text;
  typ regtype;
  att @extschema@.identity_attribute;
  row @extschema@.identity_source;
BEGIN
  IF name IS NULL OR source_table IS NULL OR key_column IS NULL OR columns IS NULL THEN
    RAISE EXCEPTION 'name, source_table, key_column and columns must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- resolve reads the table as its registrar: she must be able to
  IF NOT pg_catalog.has_table_privilege(me, source_table, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table % (identity source "%")', source_table, name
      USING ERRCODE = 'insufficient_privilege', HINT = 'An identity source''s table is read with its registrar''s privileges.';
  END IF;
  -- (a view cannot carry the statement triggers with transition tables
  -- that track changes: said here, not by CREATE TRIGGER)
  IF track_changes AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) source_table)
                       OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::"char"[]) THEN
    RAISE EXCEPTION 'identity source "%" is a view (%): its changes cannot be tracked', name, source_table
      USING ERRCODE = 'wrong_object_type',
            HINT = 'Pass track_changes => false and run concord.resolve() after the data changes.';
  END IF;
  IF track_changes AND NOT pg_catalog.has_table_privilege(me, source_table, 'TRIGGER') THEN
    RAISE EXCEPTION 'permission denied to track changes of table % (identity source "%")', source_table, name
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Tracking changes puts triggers on the table: its owner may, or pass track_changes => false.';
  END IF;
  IF pg_catalog.jsonb_typeof(columns) OPERATOR(pg_catalog.<>) 'object' THEN
    RAISE EXCEPTION 'columns of identity source "%" must be a JSON object of kind: column, not %', name, pg_catalog.jsonb_typeof(columns)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"name": "customer_name", "phone": "mobile", "updated_at": "modified_at"}.';
  END IF;
  PERFORM 1 FROM pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) source_table AND a.attname OPERATOR(pg_catalog.=) key_column AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key column "%" of identity source "%" does not exist in table %', key_column, name, source_table
      USING ERRCODE = 'undefined_column';
  END IF;
  FOR k, col IN SELECT e.key, e.value OPERATOR(pg_catalog.#>>) '{}' FROM jsonb_each(columns) e LOOP
    SELECT * INTO att FROM @extschema@.identity_attribute a WHERE a.name OPERATOR(pg_catalog.=) k;
    IF NOT k OPERATOR(pg_catalog.=) ANY (kinds) AND att.name IS NULL THEN
      RAISE EXCEPTION 'unknown attribute kind "%" for identity source "%"', k, name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Known kinds: ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(kinds, ', ') OPERATOR(pg_catalog.||) coalesce(', ' OPERATOR(pg_catalog.||)
                       (SELECT pg_catalog.string_agg(a.name, ', ' ORDER BY a.name) FROM @extschema@.identity_attribute a), '') OPERATOR(pg_catalog.||)
                     '; declare others with concord.identity_attribute_create.';
    END IF;
    IF pg_catalog.jsonb_typeof(columns OPERATOR(pg_catalog.->) k) OPERATOR(pg_catalog.<>) 'string' THEN
      RAISE EXCEPTION 'attribute "%" of identity source "%" must name a column, not %', k, name, columns OPERATOR(pg_catalog.->) k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.atttypid::pg_catalog.regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) source_table AND a.attname OPERATOR(pg_catalog.=) col AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" does not exist in table %', col, k, name, source_table
        USING ERRCODE = 'undefined_column';
    END IF;
    IF k OPERATOR(pg_catalog.=) 'updated_at' AND NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY['timestamptz'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype, 'date'::pg_catalog.regtype]) THEN
      RAISE EXCEPTION 'column "%" (updated_at) of identity source "%" must be a date or timestamp, not %', col, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF att.compare OPERATOR(pg_catalog.=) 'date' AND NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY['date'::pg_catalog.regtype, 'timestamptz'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype]) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a date) of identity source "%" must be a date or timestamp, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Register a view that converts it, e.g. to_date(col, ''YYYYMMDD''), with track_changes => false (a view has no triggers; run concord.resolve() after changes).';
    END IF;
    IF att.compare OPERATOR(pg_catalog.=) 'number' AND NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY[
         'smallint'::pg_catalog.regtype, 'integer'::pg_catalog.regtype, 'bigint'::pg_catalog.regtype, 'numeric'::pg_catalog.regtype,
         'real'::pg_catalog.regtype, 'double precision'::pg_catalog.regtype]) THEN
      RAISE EXCEPTION 'column "%" (%, compared as a number) of identity source "%" must be numeric, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF k OPERATOR(pg_catalog.<>) 'updated_at' AND coalesce(att.compare OPERATOR(pg_catalog.<>) 'date', true)
       AND coalesce(att.compare OPERATOR(pg_catalog.<>) 'number', true)
       AND NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY['text'::pg_catalog.regtype, 'character varying'::pg_catalog.regtype,
                                                    'character'::pg_catalog.regtype, 'bigint'::pg_catalog.regtype,
                                                    'integer'::pg_catalog.regtype, 'numeric'::pg_catalog.regtype]) THEN
      RAISE EXCEPTION 'column "%" (%) of identity source "%" must be text, not %', col, k, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END LOOP;
  IF NOT (columns OPERATOR(pg_catalog.?|) ARRAY['name', 'phone', 'email', 'id_number']) THEN
    RAISE EXCEPTION 'identity source "%" needs at least one of name, phone, email, id_number', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Company and address alone cannot tell people apart.';
  END IF;
  INSERT INTO @extschema@.identity_source AS s (name, source_table, key_column, columns, priority, defined_by)
  VALUES (identity_source_create.name, identity_source_create.source_table, identity_source_create.key_column,
          identity_source_create.columns, identity_source_create.priority, me)
  RETURNING * INTO row;
  -- (the queue's trigger converts the key with concord's rights: a built-in type only)
  IF track_changes THEN
    PERFORM @extschema@.require_builtin_column(source_table, key_column);
  END IF;
  IF track_changes THEN
    PERFORM @extschema@.citus_no_triggers(source_table, 'tracking changes',
                                          'Pass track_changes => false and run concord.resolve() after the table changes.');
  END IF;
  IF track_changes THEN
    -- (made as concord's owner; the caller's TRIGGER privilege was checked)
    FOR k IN SELECT pg_catalog.unnest(ARRAY['insert', 'update', 'delete']) LOOP
      EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER %s ON %s REFERENCING %s FOR EACH STATEMENT'
                     ' EXECUTE FUNCTION %s.identity_queue_rows(%L, %L)',
                     'concord_identity_' OPERATOR(pg_catalog.||) k OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) identity_source_create.name, k, source_table,
                     CASE WHEN k OPERATOR(pg_catalog.=) 'insert' THEN 'NEW TABLE AS new_rows'
                          WHEN k OPERATOR(pg_catalog.=) 'update' THEN 'NEW TABLE AS new_rows OLD TABLE AS old_rows'
                            ELSE 'OLD TABLE AS old_rows' END,
                     '@extschema@', identity_source_create.name, key_column);
    END LOOP;
  END IF;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'identity source "%" already exists', identity_source_create.name
    USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_source_create(text, regclass, text, jsonb, integer, boolean) IS
  'Registers a table whose rows describe customers: its key column and the columns carrying each kind of attribute; with track_changes, triggers queue changed rows for resolve_incremental';
SELECT @extschema@.deprecated_alias('identity_source_add', '@extschema@.identity_source_create(text, regclass, text, jsonb, integer, boolean)');

CREATE FUNCTION @extschema@.identity_attribute_create(
  name text, compare text, tolerance double precision DEFAULT NULL, block boolean DEFAULT false,
  agree double precision DEFAULT NULL, close double precision DEFAULT NULL, disagree double precision DEFAULT NULL)
RETURNS @extschema@.identity_attribute
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
DECLARE
  row @extschema@.identity_attribute;
  w_agree float8;
  w_close float8;
  w_disagree float8;
BEGIN
  IF name IS NULL OR compare IS NULL OR block IS NULL THEN
    RAISE EXCEPTION 'name, compare and block must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name OPERATOR(pg_catalog.=) ANY (ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number', 'updated_at', 'model']) THEN
    RAISE EXCEPTION '"%" is a built-in attribute kind', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the attribute something else, e.g. "birth_date".';
  END IF;
  IF name OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid attribute name "%"', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use lower-case letters, digits and underscores.';
  END IF;
  IF NOT compare OPERATOR(pg_catalog.=) ANY (ARRAY['exact', 'date', 'number', 'string']) THEN
    RAISE EXCEPTION 'unknown comparison "%" for attribute "%"', compare, name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Comparisons: exact, date, number, string.';
  END IF;
  IF compare OPERATOR(pg_catalog.=) 'number' AND (tolerance IS NULL OR tolerance OPERATOR(pg_catalog.<) 0 OR tolerance OPERATOR(pg_catalog.=) 'infinity' OR tolerance OPERATOR(pg_catalog.=) 'NaN') THEN
    RAISE EXCEPTION 'attribute "%" compared as a number needs a tolerance of 0 or more, not %', name, coalesce(tolerance::pg_catalog.text, 'null')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Numbers no further apart than the tolerance count as close.';
  END IF;
  IF compare OPERATOR(pg_catalog.<>) 'number' AND tolerance IS NOT NULL THEN
    RAISE EXCEPTION 'a tolerance is for attributes compared as numbers, not as %', compare
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF block AND NOT compare OPERATOR(pg_catalog.=) ANY (ARRAY['exact', 'date']) THEN
    RAISE EXCEPTION 'only an attribute compared exactly or as a date can be a blocking key, not one compared as %', compare
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT pg_catalog.count(*) FROM @extschema@.identity_attribute) OPERATOR(pg_catalog.>=) 16 THEN
    RAISE EXCEPTION 'there are 16 declared attributes already' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- weights: log2(m/u) of each level; by default what such an attribute is
  -- worth when nothing is known about it -- an exact blocking key is an
  -- identifier (a passport, a social security number) and weighs like an
  -- ID number, enough to link two rows on its own; a typo in it is
  -- possible, so disagreeing weighs less than an ID number's.  (The same
  -- defaults are score.c's, for rows no longer there.)
  w_agree := coalesce(agree, CASE WHEN compare OPERATOR(pg_catalog.=) 'date' THEN 6 WHEN compare OPERATOR(pg_catalog.=) 'exact' THEN CASE WHEN block THEN 12 ELSE 4 END ELSE 3 END);
  -- (an exact identifier has a level for one typo: 1234567 / 1234667)
  w_close := CASE WHEN compare OPERATOR(pg_catalog.=) 'exact' AND NOT block THEN NULL
                  ELSE coalesce(close, CASE WHEN compare OPERATOR(pg_catalog.=) 'date' THEN 3 WHEN compare OPERATOR(pg_catalog.=) 'exact' THEN 6 ELSE 1.5 END) END;
  w_disagree := coalesce(disagree, CASE WHEN compare OPERATOR(pg_catalog.=) 'date' THEN -3 WHEN compare OPERATOR(pg_catalog.=) 'exact' THEN CASE WHEN block THEN -4 ELSE -2 END ELSE -1 END);
  IF compare OPERATOR(pg_catalog.=) 'exact' AND NOT block AND close IS NOT NULL THEN
    RAISE EXCEPTION 'an attribute compared exactly has no "close" level unless it is a blocking key' USING ERRCODE = 'invalid_parameter_value',
      HINT = 'An identifier (block => true) has one: one typo apart.';
  END IF;
  IF pg_catalog.abs(w_agree) OPERATOR(pg_catalog.>) 30 OR pg_catalog.abs(coalesce(w_close, 0)) OPERATOR(pg_catalog.>) 30 OR pg_catalog.abs(w_disagree) OPERATOR(pg_catalog.>) 30
     OR w_agree OPERATOR(pg_catalog.=) 'NaN' OR w_close OPERATOR(pg_catalog.=) 'NaN' OR w_disagree OPERATOR(pg_catalog.=) 'NaN' THEN
    RAISE EXCEPTION 'weights of attribute "%" must be between -30 and 30 (log2 of a likelihood ratio)', name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT (w_agree OPERATOR(pg_catalog.>) w_disagree AND (w_close IS NULL OR (w_close OPERATOR(pg_catalog.<=) w_agree AND w_close OPERATOR(pg_catalog.>=) w_disagree))) THEN
    RAISE EXCEPTION 'weights of attribute "%" must order agree (%) >= close (%) >= disagree (%)', name, w_agree,
      coalesce(w_close::pg_catalog.text, '-'), w_disagree
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Agreement is evidence for a match, disagreement against.';
  END IF;
  INSERT INTO @extschema@.identity_attribute (name, compare, tolerance, block)
  VALUES (name, compare, tolerance, block) RETURNING * INTO row;
  IF block THEN
    IF EXISTS (SELECT 1 FROM @extschema@.identity_blocking_rule r WHERE r.name OPERATOR(pg_catalog.=) identity_attribute_create.name) THEN
      RAISE EXCEPTION 'blocking rule "%" already exists', name USING ERRCODE = 'duplicate_object',
        HINT = 'An attribute with block => true makes a blocking rule of its name: drop that rule first, or name the attribute otherwise.';
    END IF;
    INSERT INTO @extschema@.identity_blocking_rule (name, keys, origin) VALUES (name, ARRAY[name], 'attribute');
  END IF;
  -- (a weight given is 'manual' and dumped; a default is 'default', kept
  -- out of pg_dump like the built-in kinds' defaults)
  -- (a date one field off -- the day or the month one typo off -- weighs
  -- as close until set apart or trained: a 'default' row, which score.c
  -- reads as the close weight when it is gone)
  INSERT INTO @extschema@.identity_weight (attribute, level, weight, origin)
  SELECT name, l.level, l.weight, CASE WHEN l.given THEN 'manual' ELSE 'default' END
    FROM (VALUES ('agree', w_agree, agree IS NOT NULL), ('close', w_close, close IS NOT NULL),
                 ('disagree', w_disagree, disagree IS NOT NULL),
                 ('one_field_off', CASE WHEN compare OPERATOR(pg_catalog.=) 'date' THEN w_close END, false)) l(level, weight, given)
   WHERE l.weight IS NOT NULL;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'attribute "%" already exists', identity_attribute_create.name USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_attribute_create(text, text, double precision, boolean, double precision, double precision, double precision) IS
  'Declares an attribute beyond the built-in kinds and how it compares (exact, date, number with a tolerance, string), with its weights; sources then map a column to it by name';
SELECT @extschema@.deprecated_alias('identity_attribute_add', '@extschema@.identity_attribute_create(text, text, double precision, boolean, double precision, double precision, double precision)');

CREATE FUNCTION @extschema@.identity_attribute_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
DECLARE
  users text;
BEGIN
  SELECT pg_catalog.string_agg(s.name, ', ' ORDER BY s.name) INTO users FROM @extschema@.identity_source s WHERE s.columns OPERATOR(pg_catalog.?) name;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'attribute "%" is used by identity sources %', name, users
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Drop those sources first, or register them again without it.';
  END IF;
  SELECT pg_catalog.string_agg(r.name, ', ' ORDER BY r.name) INTO users FROM @extschema@.identity_blocking_rule r
   WHERE name OPERATOR(pg_catalog.=) ANY (r.keys) AND NOT (r.origin OPERATOR(pg_catalog.=) 'attribute' AND r.name OPERATOR(pg_catalog.=) name);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'attribute "%" is a key of blocking rules %', name, users
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Drop those rules first (concord.identity_blocking_rule_drop).';
  END IF;
  DELETE FROM @extschema@.identity_blocking_rule r WHERE r.origin OPERATOR(pg_catalog.=) 'attribute' AND r.name OPERATOR(pg_catalog.=) name;
  DELETE FROM @extschema@.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) name;
  DELETE FROM @extschema@.identity_attribute a WHERE a.name OPERATOR(pg_catalog.=) name;
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_attribute_drop(text) IS
  'Removes a declared attribute no source uses, with its weights; returns whether it existed';

CREATE FUNCTION @extschema@.identity_placeholder_set(kind text, value text, placeholder boolean DEFAULT true)
RETURNS @extschema@.identity_placeholder_value
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
DECLARE
  v text;
  row @extschema@.identity_placeholder_value;
BEGIN
  IF kind IS NULL OR value IS NULL OR placeholder IS NULL THEN
    RAISE EXCEPTION 'kind, value and placeholder must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT kind OPERATOR(pg_catalog.=) ANY (ARRAY['name', 'phone', 'email', 'company']) THEN
    RAISE EXCEPTION 'unknown placeholder kind "%" for value "%"', kind, value
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Kinds: name, phone, email, company.';
  END IF;
  -- as identity_record holds it
  v := CASE WHEN kind OPERATOR(pg_catalog.=) 'name' THEN @extschema@.name_key(value)
            WHEN kind OPERATOR(pg_catalog.=) 'phone' THEN @extschema@.normalize_phone(value)
            WHEN kind OPERATOR(pg_catalog.=) 'email' THEN @extschema@.normalize_email(value) ELSE @extschema@.normalize_company(value) END;
  IF v IS NULL THEN
    RAISE EXCEPTION 'the % "%" normalizes to nothing', kind, value
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is a placeholder of the fixed list already (see concord.identity_placeholder), or no valid value of its kind.';
  END IF;
  INSERT INTO @extschema@.identity_placeholder_value AS p (kind, value, placeholder, origin, reason)
  VALUES (kind, v, placeholder, 'manual', 'set by ' OPERATOR(pg_catalog.||) @extschema@.caller()::pg_catalog.text)
  ON CONFLICT ON CONSTRAINT identity_placeholder_value_pkey DO UPDATE
    SET placeholder = excluded.placeholder, origin = 'manual', reason = excluded.reason, updated_at = pg_catalog.now()
  RETURNING * INTO row;
  RETURN row;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_placeholder_set(text, text, boolean) IS
  'Declares a name, phone, email or employer a placeholder (read as missing when rows are matched) or, with placeholder => false, never one, whatever its frequency; the next resolve applies it';

CREATE FUNCTION @extschema@.identity_placeholder_drop(kind text, value text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
DECLARE
  v text;
BEGIN
  v := CASE WHEN kind OPERATOR(pg_catalog.=) 'name' THEN @extschema@.name_key(value)
            WHEN kind OPERATOR(pg_catalog.=) 'phone' THEN @extschema@.normalize_phone(value)
            WHEN kind OPERATOR(pg_catalog.=) 'email' THEN @extschema@.normalize_email(value) ELSE @extschema@.normalize_company(value) END;
  DELETE FROM @extschema@.identity_placeholder_value p WHERE p.kind OPERATOR(pg_catalog.=) kind AND p.value OPERATOR(pg_catalog.=) v AND p.origin OPERATOR(pg_catalog.=) 'manual';
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_placeholder_drop(text, text) IS
  'Removes what identity_placeholder_set declared of a value (the next full resolve may detect it again); returns whether it was declared';

-- Placeholders detected from frequency, by a full resolve (run as
-- concord's owner): the rows of origin 'detected' made again.
--   a name: held by at least 20 rows of which half or more have phones
--   (else emails, ID numbers) of their own (unrelated people, not one
--   person's copies), and by
--   20 times more rows than its syllables' frequencies among the other
--   names predict (张伟: 张 and 伟 are common, so is 张伟; 未知 or 先生:
--   rare parts, a frequent whole); a name of one word is never detected;
--   an employer is only reported as a candidate (placeholder false):
--   held by at least 100 rows, a third or more of them of different
--   people, among whom no landline or address is shared by 2 rows and 1%
--   (301 rows of 个人 share nothing; but neither do the rows of many a
--   real employer: on the generator, 11 of them at 20,000 people, the
--   largest of 579 rows, would have been taken).
CREATE FUNCTION @extschema@.identity_detect_placeholders()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  n bigint;
  est float8;
  pct float8;
BEGIN
  DELETE FROM @extschema@.identity_placeholder_value p WHERE p.origin OPERATOR(pg_catalog.=) 'detected';
  -- frequencies from a sample of at most some 50,000 rows (all of them
  -- below: the same figures), the candidates' rows then counted exactly
  -- through their index: a million rows cost what 50,000 do
  SELECT c.reltuples INTO est FROM pg_catalog.pg_class c
   WHERE c.oid OPERATOR(pg_catalog.=) '@extschema@.identity_record'::pg_catalog.regclass;
  IF est IS NULL OR est OPERATOR(pg_catalog.<) 0 THEN
    -- (never analyzed yet: a first resolve)
    SELECT pg_catalog.count(*) INTO est FROM @extschema@.identity_record;
  END IF;
  pct := CASE WHEN est OPERATOR(pg_catalog.>) 50000 THEN 50000 OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) est ELSE 100 END;
  -- (left by an earlier call in this transaction; no DROP ... IF EXISTS,
  -- whose NOTICE would reach resolve's caller)
  IF pg_catalog.to_regclass('pg_temp.identity_ph_sample') IS NOT NULL THEN
    DROP TABLE pg_temp.identity_ph_sample;
  END IF;
  -- (the syllables before a tab: see identity_name_form)
  EXECUTE pg_catalog.format('CREATE TEMP TABLE identity_ph_sample ON COMMIT DROP AS'
                 ' SELECT r.name_key, pg_catalog.split_part(r.syllables, pg_catalog.chr(9), 1) AS syllables, r.company, r.email, r.phone FROM @extschema@.identity_record r TABLESAMPLE SYSTEM (%s) REPEATABLE (20261207)',
                 pct);
  INSERT INTO @extschema@.identity_placeholder_value (kind, value, placeholder, origin, records, expected, reason)
  WITH r AS (SELECT r.name_key, r.syllables FROM identity_ph_sample r WHERE r.name_key IS NOT NULL),
  total AS (SELECT pg_catalog.count(*)::pg_catalog.float8 AS n FROM r),
  syl AS (SELECT u.s, pg_catalog.count(*)::pg_catalog.float8 AS c FROM r, pg_catalog.unnest(pg_catalog.string_to_array(r.syllables, ' ')) AS u(s)
           GROUP BY u.s),
  v AS (SELECT r.name_key, pg_catalog.min(r.syllables) AS syllables, pg_catalog.count(*) AS sampled
          FROM r GROUP BY r.name_key HAVING pg_catalog.count(*) OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct OPERATOR(pg_catalog.>=) 20),
  e AS (SELECT v.*, (total.n OPERATOR(pg_catalog.-) v.sampled) OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct
                    OPERATOR(pg_catalog.*) (SELECT pg_catalog.exp(pg_catalog.sum(pg_catalog.ln(greatest(syl.c OPERATOR(pg_catalog.-) v.sampled, 0) OPERATOR(pg_catalog./) (total.n OPERATOR(pg_catalog.-) v.sampled) OPERATOR(pg_catalog.+) 1e-12))) OPERATOR(pg_catalog.*) pg_catalog.factorial(pg_catalog.count(*))
                         FROM pg_catalog.unnest(pg_catalog.string_to_array(v.syllables, ' ')) AS u(s) JOIN syl ON syl.s OPERATOR(pg_catalog.=) u.s)
                    AS expected
          FROM v, total
         WHERE total.n OPERATOR(pg_catalog.>) v.sampled AND v.syllables OPERATOR(pg_catalog.~~) '% %'),
  -- (only a name the sample finds 20 times too frequent is counted exactly)
  x AS (SELECT e.*, c.records, c.people FROM e
          CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS records,
                                     pg_catalog.count(DISTINCT coalesce(i.phone, i.email, i.id_number, i.source OPERATOR(pg_catalog.||) E'\x1f' OPERATOR(pg_catalog.||) i.key)) AS people
                                FROM @extschema@.identity_record i WHERE i.name_key OPERATOR(pg_catalog.=) e.name_key) c
         WHERE e.sampled OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct OPERATOR(pg_catalog.>=) (20 OPERATOR(pg_catalog.*) e.expected))
  SELECT 'name', x.name_key, true, 'detected', x.records, x.expected,
         pg_catalog.format('%s rows of %s different people; its syllables'' frequencies among the other names predict %s',
                x.records, x.people, pg_catalog.round(x.expected::numeric, 1))
    FROM x WHERE x.records OPERATOR(pg_catalog.>=) 20 AND x.people OPERATOR(pg_catalog.>=) (0.5 OPERATOR(pg_catalog.*) x.records) AND x.records OPERATOR(pg_catalog.>=) (20 OPERATOR(pg_catalog.*) x.expected)
  ON CONFLICT ON CONSTRAINT identity_placeholder_value_pkey DO NOTHING;
  -- an email or a mobile is one person's: one that many rows of as many
  -- different names carry (test@test.com, 13800000000) is nobody's; a
  -- landline (a switchboard) is an office's, and stays
  INSERT INTO @extschema@.identity_placeholder_value (kind, value, placeholder, origin, records, expected, reason)
  WITH v AS (SELECT 'email' AS kind, r.email AS value FROM identity_ph_sample r WHERE r.email IS NOT NULL
              GROUP BY r.email HAVING pg_catalog.count(*) OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct OPERATOR(pg_catalog.>=) 20
             UNION ALL
             SELECT 'phone', r.phone FROM identity_ph_sample r WHERE r.phone OPERATOR(pg_catalog.~) '^\+861[3-9][0-9]{9}$'
              GROUP BY r.phone HAVING pg_catalog.count(*) OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct OPERATOR(pg_catalog.>=) 20),
  x AS (SELECT v.kind, v.value, c.records, c.names FROM v
          CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS records, pg_catalog.count(DISTINCT i.name_key) AS names
                                FROM @extschema@.identity_record i WHERE v.kind OPERATOR(pg_catalog.=) 'email' AND i.email OPERATOR(pg_catalog.=) v.value) c
         WHERE v.kind OPERATOR(pg_catalog.=) 'email'
        UNION ALL
        SELECT v.kind, v.value, c.records, c.names FROM v
          CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS records, pg_catalog.count(DISTINCT i.name_key) AS names
                                FROM @extschema@.identity_record i WHERE v.kind OPERATOR(pg_catalog.=) 'phone' AND i.phone OPERATOR(pg_catalog.=) v.value) c
         WHERE v.kind OPERATOR(pg_catalog.=) 'phone')
  SELECT x.kind, x.value, true, 'detected', x.records, NULL::pg_catalog.float8,
         pg_catalog.format('%s rows of %s different names: no one person''s', x.records, x.names)
    FROM x WHERE x.records OPERATOR(pg_catalog.>=) 20 AND x.names OPERATOR(pg_catalog.>=) (0.5 OPERATOR(pg_catalog.*) x.records)
  ON CONFLICT ON CONSTRAINT identity_placeholder_value_pkey DO NOTHING;
  INSERT INTO @extschema@.identity_placeholder_value (kind, value, placeholder, origin, records, expected, reason)
  -- (the ten most frequent employers in the sample at most)
  WITH v AS (SELECT r.company FROM identity_ph_sample r WHERE r.company IS NOT NULL
              GROUP BY r.company HAVING pg_catalog.count(*) OPERATOR(pg_catalog.*) 100.0 OPERATOR(pg_catalog./) pct OPERATOR(pg_catalog.>=) 100 ORDER BY pg_catalog.count(*) DESC, r.company LIMIT 10),
  x AS (SELECT v.company, c.records, c.people, s.most FROM v
          CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS records,
                                     pg_catalog.count(DISTINCT coalesce(i.name_key, i.phone, i.email, i.source OPERATOR(pg_catalog.||) E'\x1f' OPERATOR(pg_catalog.||) i.key)) AS people
                                FROM @extschema@.identity_record i WHERE i.company OPERATOR(pg_catalog.=) v.company) c
          CROSS JOIN LATERAL (SELECT pg_catalog.max(y.c) AS most
                                FROM (SELECT pg_catalog.count(*) AS c FROM @extschema@.identity_record i
                                       WHERE i.company OPERATOR(pg_catalog.=) v.company AND i.phone IS NOT NULL AND i.phone OPERATOR(pg_catalog.!~) '^\+861[3-9][0-9]{9}$'
                                       GROUP BY i.phone
                                      UNION ALL
                                      SELECT pg_catalog.count(*) FROM @extschema@.identity_record i
                                       WHERE i.company OPERATOR(pg_catalog.=) v.company AND i.address IS NOT NULL GROUP BY i.address) y) s)
  SELECT 'company', x.company, false, 'detected', x.records, NULL::pg_catalog.float8,
         pg_catalog.format('a candidate, not applied: %s rows of %s different people sharing no landline or address (at most %s rows share one); identity_placeholder_set(''company'', value) applies it',
                x.records, x.people, coalesce(x.most, 0))
    FROM x
   WHERE x.records OPERATOR(pg_catalog.>=) 100 AND x.people OPERATOR(pg_catalog.>=) (0.3 OPERATOR(pg_catalog.*) x.records) AND coalesce(x.most, 0) OPERATOR(pg_catalog.<) greatest(2, 0.01 OPERATOR(pg_catalog.*) x.records)
  ON CONFLICT ON CONSTRAINT identity_placeholder_value_pkey DO NOTHING;
  DROP TABLE identity_ph_sample;
  SELECT pg_catalog.count(*) INTO n FROM @extschema@.identity_placeholder_value p WHERE p.origin OPERATOR(pg_catalog.=) 'detected' AND p.placeholder;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_detect_placeholders() IS
  'Internal to resolve: the placeholders detected from frequency (identity_placeholder_value, origin detected: names applied, employers as candidates), made again; returns how many are applied';

CREATE FUNCTION @extschema@.identity_blocking_rule_create(name text, keys text[], source text DEFAULT NULL)
RETURNS @extschema@.identity_blocking_rule
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
DECLARE
  row @extschema@.identity_blocking_rule;
  k text;
  known text[];
  other text;
BEGIN
  IF name IS NULL OR keys IS NULL THEN
    RAISE EXCEPTION 'name and keys must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name OPERATOR(pg_catalog.!~) '^[a-z_][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'invalid blocking rule name "%"', name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use lower-case letters, digits and underscores.';
  END IF;
  known := ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number']
           OPERATOR(pg_catalog.||) ARRAY(SELECT a.name FROM @extschema@.identity_attribute a ORDER BY a.name);
  IF pg_catalog.cardinality(keys) OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'blocking rule "%" has no keys', name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = pg_catalog.format('Give one key or more, e.g. ARRAY[''phone''] or ARRAY[''name'', ''birth_date'']; keys: %s.',
                          pg_catalog.array_to_string(known, ', '));
  END IF;
  IF pg_catalog.cardinality(keys) OPERATOR(pg_catalog.>) 4 THEN
    RAISE EXCEPTION 'blocking rule "%" has % keys, at most 4 are supported', name, pg_catalog.cardinality(keys)
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  FOREACH k IN ARRAY keys LOOP
    IF k IS NULL OR NOT k OPERATOR(pg_catalog.=) ANY (known) THEN
      RAISE EXCEPTION 'unknown key "%" in blocking rule "%"', coalesce(k, 'null'), name
        USING ERRCODE = 'invalid_parameter_value',
              HINT = pg_catalog.format('Keys: %s (declare others with concord.identity_attribute_create).',
                            pg_catalog.array_to_string(known, ', '));
    END IF;
  END LOOP;
  IF (SELECT pg_catalog.count(DISTINCT x) FROM unnest(keys) x) OPERATOR(pg_catalog.<) pg_catalog.cardinality(keys) THEN
    RAISE EXCEPTION 'blocking rule "%" names a key twice: %', name, pg_catalog.array_to_string(keys, ', ')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.identity_source s WHERE s.name OPERATOR(pg_catalog.=) source) THEN
    RAISE EXCEPTION 'identity source "%" of blocking rule "%" does not exist', source, name
      USING ERRCODE = 'undefined_object',
            HINT = 'Register it first with concord.identity_source_create, or give source => NULL for every source.';
  END IF;
  SELECT r.name INTO other FROM @extschema@.identity_blocking_rule r
   WHERE r.keys OPERATOR(pg_catalog.@>) keys AND r.keys OPERATOR(pg_catalog.<@) keys AND coalesce(r.source OPERATOR(pg_catalog.=) source, r.source IS NULL AND source IS NULL);
  IF other IS NOT NULL THEN
    RAISE EXCEPTION 'blocking rule "%" would block on the same keys as rule "%": %', name, other,
      pg_catalog.array_to_string(keys, ', ')
      USING ERRCODE = 'duplicate_object', HINT = 'One rule per set of keys and source is enough.';
  END IF;
  IF (SELECT pg_catalog.count(*) FROM @extschema@.identity_blocking_rule) OPERATOR(pg_catalog.>=) 24 THEN
    RAISE EXCEPTION 'there are 24 blocking rules already' USING ERRCODE = 'program_limit_exceeded',
      HINT = 'Drop a rule first (concord.identity_blocking_rule_drop).';
  END IF;
  INSERT INTO @extschema@.identity_blocking_rule (name, keys, source, origin)
  VALUES (name, keys, source, 'manual') RETURNING * INTO row;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'blocking rule "%" already exists', identity_blocking_rule_create.name
    USING ERRCODE = 'duplicate_object', HINT = 'Drop it first (concord.identity_blocking_rule_drop), or pick another name.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_blocking_rule_create(text, text[], text) IS
  'Adds a blocking rule: records sharing the value of every key (name, phone, email, company, address, id_number or a declared attribute) are compared, for every source or, with source, when either record is of it; the next resolve uses it';

CREATE FUNCTION @extschema@.identity_blocking_rule_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
BEGIN
  DELETE FROM @extschema@.identity_blocking_rule r WHERE r.name OPERATOR(pg_catalog.=) name;
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_blocking_rule_drop(text) IS
  'Removes a blocking rule (a shipped one too; a declared attribute''s makes it block no more); returns whether it existed';

-- The SQL expression of a blocking rule's value for the rows of
-- concord.identity_record aliased alias: its keys' values joined, NULL if
-- one is missing.
CREATE FUNCTION @extschema@.identity_blocking_rule_value(keys text[], alias text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT '(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(CASE WHEN u.k OPERATOR(pg_catalog.=) 'name' THEN pg_catalog.quote_ident(alias) OPERATOR(pg_catalog.||) '.name_key'
                                          WHEN u.k OPERATOR(pg_catalog.=) ANY (ARRAY['phone', 'email', 'company', 'address', 'id_number'])
                                          THEN pg_catalog.quote_ident(alias) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) u.k
                                          ELSE pg_catalog.format('(%I.extra OPERATOR(pg_catalog.->>) %L)', alias, u.k) END,
                                     ' OPERATOR(pg_catalog.||) E''\x1f'' OPERATOR(pg_catalog.||) ' ORDER BY u.n)
               OPERATOR(pg_catalog.||) ')'
          FROM pg_catalog.unnest(keys) WITH ORDINALITY AS u(k, n));
COMMENT ON FUNCTION @extschema@.identity_blocking_rule_value(text[], text) IS
  'Internal: the SQL expression of a blocking rule''s value over concord.identity_record under an alias';

-- How much of the truth each blocking rule reaches, on labelled data, and
-- what it costs.  Read with the caller's rights (her labels; members of
-- concord_identity read identity_record).
CREATE FUNCTION @extschema@.identity_blocking_reach(labels regclass, max_block integer DEFAULT 200)
RETURNS TABLE (rule text, keys text[], source text, true_pairs bigint, reached bigint, share double precision,
               pairs bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  col text;
  ea text;
  eb text;
  er text;
  tp bigint;
  n_reached bigint;
  n_pairs bigint;
BEGIN
  IF labels IS NULL OR max_block IS NULL THEN
    RAISE EXCEPTION 'labels and max_block must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF max_block OPERATOR(pg_catalog.<) 2 OR max_block OPERATOR(pg_catalog.>) 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH col IN ARRAY ARRAY['source', 'key', 'entity'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) labels
                    AND a.attname OPERATOR(pg_catalog.=) col AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'labels % have no column "%"', labels, col
        USING ERRCODE = 'undefined_column',
              HINT = 'Labels are a table or view of (source, key, entity): records of identity sources and the true entity each belongs to.';
    END IF;
  END LOOP;
  -- (left by an earlier call in this transaction; no DROP ... IF EXISTS,
  -- whose NOTICEs would reach the caller)
  FOREACH col IN ARRAY ARRAY['identity_reach_rec', 'identity_reach_true', 'identity_reach_pair'] LOOP
    IF pg_catalog.to_regclass('pg_temp.' OPERATOR(pg_catalog.||) col) IS NOT NULL THEN
      EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', col);
    END IF;
  END LOOP;
  -- the labelled records' normalized values
  EXECUTE pg_catalog.format('CREATE TEMP TABLE identity_reach_rec ON COMMIT DROP AS'
                 ' SELECT l.entity, r.* FROM @extschema@.identity_record r'
                 ' JOIN (SELECT x.source::text AS source, x.key::text AS key, x.entity::text AS entity FROM %s x) l'
                 ' ON l.source OPERATOR(pg_catalog.=) r.source AND l.key OPERATOR(pg_catalog.=) r.key', labels);
  SELECT coalesce(pg_catalog.sum(c.n OPERATOR(pg_catalog.*) (c.n OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 2), 0)::bigint INTO tp
    FROM (SELECT pg_catalog.count(*) AS n FROM identity_reach_rec GROUP BY entity) c;
  -- the true pairs each rule reaches, and the pairs it brings in all records
  CREATE TEMP TABLE identity_reach_true (sa text, ka text, sb text, kb text) ON COMMIT DROP;
  CREATE TEMP TABLE identity_reach_pair (sa text, ka text, sb text, kb text) ON COMMIT DROP;
  FOR r IN SELECT b.name, b.keys, b.source FROM @extschema@.identity_blocking_rule b
            ORDER BY pg_catalog.cardinality(b.keys), b.name LOOP
    ea := @extschema@.identity_blocking_rule_value(r.keys, 'a');
    eb := @extschema@.identity_blocking_rule_value(r.keys, 'b');
    er := @extschema@.identity_blocking_rule_value(r.keys, 'r');
    -- (a value more than max_block rows hold makes no pairs in resolve)
    EXECUTE pg_catalog.format('WITH v AS (SELECT %1$s AS v FROM @extschema@.identity_record r WHERE %1$s IS NOT NULL'
                   '           GROUP BY 1 HAVING count(*) BETWEEN 2 AND %2$s),'
                   ' p AS (SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb'
                   '         FROM v JOIN @extschema@.identity_record a ON %3$s OPERATOR(pg_catalog.=) v.v'
                   '         JOIN @extschema@.identity_record b ON %4$s OPERATOR(pg_catalog.=) v.v'
                   '          AND (a.source, a.key) < (b.source, b.key)'
                   '        WHERE %5$L IS NULL OR %5$L IN (a.source, b.source)),'
                   ' ins AS (INSERT INTO identity_reach_pair SELECT * FROM p)'
                   ' SELECT count(*) FROM p', er, max_block, ea, eb, r.source) INTO n_pairs;
    EXECUTE pg_catalog.format('WITH v AS (SELECT %1$s AS v FROM @extschema@.identity_record r WHERE %1$s IS NOT NULL'
                   '           GROUP BY 1 HAVING count(*) BETWEEN 2 AND %2$s),'
                   ' p AS (SELECT a.source AS sa, a.key AS ka, b.source AS sb, b.key AS kb'
                   '         FROM identity_reach_rec a JOIN identity_reach_rec b'
                   '           ON a.entity OPERATOR(pg_catalog.=) b.entity'
                   '          AND (a.source, a.key) < (b.source, b.key)'
                   '          AND %3$s OPERATOR(pg_catalog.=) %4$s'
                   '        WHERE (%5$L IS NULL OR %5$L IN (a.source, b.source))'
                   '          AND %3$s IN (SELECT v.v FROM v)),'
                   ' ins AS (INSERT INTO identity_reach_true SELECT * FROM p)'
                   ' SELECT count(*) FROM p', er, max_block, ea, eb, r.source) INTO n_reached;
    rule := r.name; keys := r.keys; source := r.source; true_pairs := tp; reached := n_reached;
    share := n_reached::pg_catalog.float8 OPERATOR(pg_catalog./) CASE WHEN tp OPERATOR(pg_catalog.<>) 0 THEN tp END; pairs := n_pairs;
    RETURN NEXT;
  END LOOP;
  -- every rule together: what resolve compares
  rule := 'every rule'; keys := NULL; source := NULL; true_pairs := tp;
  SELECT pg_catalog.count(*) INTO reached FROM (SELECT DISTINCT * FROM identity_reach_true) x;
  SELECT pg_catalog.count(*) INTO pairs FROM (SELECT DISTINCT * FROM identity_reach_pair) x;
  share := reached::pg_catalog.float8 OPERATOR(pg_catalog./) CASE WHEN tp OPERATOR(pg_catalog.<>) 0 THEN tp END;
  RETURN NEXT;
  DROP TABLE identity_reach_rec, identity_reach_true, identity_reach_pair;
  RETURN;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_blocking_reach(regclass, integer) IS
  'On labelled data (a table or view of source, key, entity), per blocking rule and for every rule together: the true pairs, how many the rule brings together (reached, share) and how many pairs it brings in all records (pairs, the cost); run after a resolve';

CREATE FUNCTION @extschema@.identity_survivorship_set(attribute text, rule text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
#variable_conflict use_variable
BEGIN
  IF attribute IS NULL OR rule IS NULL THEN
    RAISE EXCEPTION 'attribute and rule must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT attribute OPERATOR(pg_catalog.=) ANY (ARRAY['name', 'phone', 'email', 'company', 'address', 'id_number']) THEN
    RAISE EXCEPTION 'the golden record has no attribute "%"', attribute
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Attributes: name, phone, email, company, address, id_number.';
  END IF;
  IF NOT rule OPERATOR(pg_catalog.=) ANY (ARRAY['most_recent', 'source_priority', 'longest', 'most_frequent']) THEN
    RAISE EXCEPTION 'unknown survivorship rule "%" for attribute "%"', rule, attribute
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Rules: most_recent, source_priority, longest, most_frequent.';
  END IF;
  INSERT INTO @extschema@.identity_survivorship AS v (attribute, rule) VALUES (attribute, rule)
  ON CONFLICT ON CONSTRAINT identity_survivorship_pkey DO UPDATE SET rule = excluded.rule, updated_at = pg_catalog.now();
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_survivorship_set(text, text) IS
  'Sets which value of a customer''s rows the golden record keeps for an attribute (most_recent, source_priority, longest, most_frequent); the next resolve applies it';

CREATE FUNCTION @extschema@.identity_event_create(
  name text, event_table regclass, identity_source text, key_column text, at_column text, label text,
  detail_columns text[] DEFAULT '{}')
RETURNS @extschema@.identity_event
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  me regrole := @extschema@.caller();
  col text;
  typ regtype;
  row @extschema@.identity_event;
BEGIN
  IF name IS NULL OR event_table IS NULL OR identity_source IS NULL OR key_column IS NULL
     OR at_column IS NULL OR label IS NULL THEN
    RAISE EXCEPTION 'name, event_table, identity_source, key_column, at_column and label must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT pg_catalog.has_table_privilege(me, event_table, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table % (event "%")', event_table, name
      USING ERRCODE = 'insufficient_privilege', HINT = 'An event''s table is read with its declarer''s privileges.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.identity_source s WHERE s.name OPERATOR(pg_catalog.=) identity_event_create.identity_source) THEN
    RAISE EXCEPTION 'identity source "%" does not exist', identity_source
      USING ERRCODE = 'undefined_object',
            HINT = 'Register it first with concord.identity_source_create.';
  END IF;
  FOREACH col IN ARRAY ARRAY[key_column, at_column] OPERATOR(pg_catalog.||) coalesce(detail_columns, '{}') LOOP
    SELECT a.atttypid::pg_catalog.regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) event_table AND a.attname OPERATOR(pg_catalog.=) col AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of event "%" does not exist in table %', col, name, event_table
        USING ERRCODE = 'undefined_column';
    END IF;
    IF col OPERATOR(pg_catalog.=) at_column AND NOT typ OPERATOR(pg_catalog.=) ANY (ARRAY['timestamptz'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype, 'date'::pg_catalog.regtype]) THEN
      RAISE EXCEPTION 'column "%" (at) of event "%" must be a date or timestamp, not %', col, name, typ
        USING ERRCODE = 'datatype_mismatch';
    END IF;
  END LOOP;
  INSERT INTO @extschema@.identity_event (name, event_table, identity_source, key_column, at_column, label, detail_columns,
                                          defined_by)
  VALUES (identity_event_create.name, identity_event_create.event_table, identity_event_create.identity_source,
          identity_event_create.key_column, identity_event_create.at_column, identity_event_create.label,
          coalesce(identity_event_create.detail_columns, '{}'), me)
  RETURNING * INTO row;
  RETURN row;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'event "%" already exists', identity_event_create.name
    USING ERRCODE = 'duplicate_object';
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_event_create(text, regclass, text, text, text, text, text[]) IS
  'Declares that rows of a table are events of the customer whose identity-source row they name (a contract signed, an invoice issued, a ticket opened)';
SELECT @extschema@.deprecated_alias('identity_event_add', '@extschema@.identity_event_create(text, regclass, text, text, text, text, text[])');

CREATE FUNCTION @extschema@.identity_source_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  t regclass;
  owner regrole;
  k text;
  n bigint;
BEGIN
  SELECT s.source_table, s.defined_by INTO t, owner FROM @extschema@.identity_source s WHERE s.name OPERATOR(pg_catalog.=) identity_source_drop.name;
  PERFORM @extschema@.require_manages('identity source', name, owner, 'drop');
  IF t IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) t) THEN
    FOREACH k IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
      EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', 'concord_identity_' OPERATOR(pg_catalog.||) k OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) identity_source_drop.name, t);
    END LOOP;
  END IF;
  -- the links of its rows go; the customers are rebuilt by the next resolve
  DELETE FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) identity_source_drop.name;
  DELETE FROM @extschema@.identity_queue q WHERE q.source OPERATOR(pg_catalog.=) identity_source_drop.name;
  DELETE FROM @extschema@.identity_record r WHERE r.source OPERATOR(pg_catalog.=) identity_source_drop.name;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE @extschema@.identity_population p SET records = p.records OPERATOR(pg_catalog.-) n;
  -- (the spreads the last full run kept counted its rows: counted afresh)
  DELETE FROM @extschema@.identity_value_stat;
  DELETE FROM @extschema@.identity_review v
   WHERE v.source_a OPERATOR(pg_catalog.=) identity_source_drop.name OR v.source_b OPERATOR(pg_catalog.=) identity_source_drop.name;
  -- (its blocking rules: a rule of one source is for that source alone)
  DELETE FROM @extschema@.identity_blocking_rule b WHERE b.source OPERATOR(pg_catalog.=) identity_source_drop.name;
  DELETE FROM @extschema@.identity_source s WHERE s.name OPERATOR(pg_catalog.=) identity_source_drop.name;
  RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_source_drop(text) IS
  'Removes an identity source, its rows'' links and its event mappings; returns whether it existed';

CREATE FUNCTION @extschema@.identity_event_drop(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner'
AS $fn$
DECLARE
  owner regrole;
BEGIN
  SELECT e.defined_by INTO owner FROM @extschema@.identity_event e WHERE e.name OPERATOR(pg_catalog.=) identity_event_drop.name FOR UPDATE;
  IF owner IS NULL THEN
    RETURN false;
  END IF;
  PERFORM @extschema@.require_manages('event', name, owner, 'drop');
  DELETE FROM @extschema@.identity_event e WHERE e.name OPERATOR(pg_catalog.=) identity_event_drop.name;
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_event_drop(text) IS 'Removes an event mapping; returns whether it existed';

-- Neighbours of an incremental run by the blocking rules of
-- concord.identity_blocking_rule other than the built-in values (a
-- conjunction of keys, an address, an employer, a declared attribute that
-- does not block by itself): the rows sharing such a value with a changed
-- row (pg_temp.identity_vals), other than those in pg_temp.identity_scope,
-- with their normalized values.  A value held by more than max_block rows
-- makes no pairs: its rows stay out.  identity_cluster reads them with the
-- scope and the neighbours by the built-in values (phone, email, name key,
-- name and employer, ID number, declared blocking attributes), which it
-- reads itself (block.c, append_neighbours).
CREATE FUNCTION @extschema@.identity_neighbours(max_block integer)
RETURNS TABLE (source text, key text, name_key text, syllables text, phone text, email text, company text,
               address text, id_number text, extra jsonb, company_written text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  rule record;
  vals text;
  conds text;
  present text;
  k text;
BEGIN
  -- the other blocking rules (concord.identity_blocking_rule): a conjunction
  -- of keys, an address, an employer, a declared attribute that does not
  -- block by itself; each key looked up by its index
  FOR rule IN SELECT b.keys FROM @extschema@.identity_blocking_rule b
               WHERE NOT (b.keys OPERATOR(pg_catalog.=) '{phone}'::pg_catalog.text[] OR b.keys OPERATOR(pg_catalog.=) '{email}'::pg_catalog.text[]
                          OR b.keys OPERATOR(pg_catalog.=) '{name}'::pg_catalog.text[] OR b.keys OPERATOR(pg_catalog.=) '{id_number}'::pg_catalog.text[]
                          OR (b.keys OPERATOR(pg_catalog.@>) '{name,company}' AND b.keys OPERATOR(pg_catalog.<@) '{name,company}')
                          OR (pg_catalog.cardinality(b.keys) OPERATOR(pg_catalog.=) 1
                              AND EXISTS (SELECT 1 FROM @extschema@.identity_attribute a WHERE a.block AND a.name OPERATOR(pg_catalog.=) b.keys[1])))
  LOOP
    vals := ''; conds := ''; present := '';
    FOR i IN 1 .. pg_catalog.cardinality(rule.keys) LOOP
      k := rule.keys[i];
      vals := vals OPERATOR(pg_catalog.||) CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN ', ' ELSE '' END
              OPERATOR(pg_catalog.||) CASE WHEN k OPERATOR(pg_catalog.=) 'name' THEN 'v.name_key' WHEN k OPERATOR(pg_catalog.=) ANY (ARRAY['phone', 'email', 'company', 'address', 'id_number'])
                      THEN 'v.' OPERATOR(pg_catalog.||) k ELSE pg_catalog.format('v.extra OPERATOR(pg_catalog.->>) %L', k) END OPERATOR(pg_catalog.||) ' AS k' OPERATOR(pg_catalog.||) i;
      present := present OPERATOR(pg_catalog.||) CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
                 OPERATOR(pg_catalog.||) CASE WHEN k OPERATOR(pg_catalog.=) 'name' THEN 'v.name_key' WHEN k OPERATOR(pg_catalog.=) ANY (ARRAY['phone', 'email', 'company', 'address', 'id_number'])
                         THEN 'v.' OPERATOR(pg_catalog.||) k ELSE pg_catalog.format('(v.extra OPERATOR(pg_catalog.->>) %L)', k) END OPERATOR(pg_catalog.||) ' IS NOT NULL';
      conds := conds OPERATOR(pg_catalog.||) CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN ' AND ' ELSE '' END
               OPERATOR(pg_catalog.||) CASE WHEN k OPERATOR(pg_catalog.=) 'name' THEN 'r.name_key OPERATOR(pg_catalog.=) v.k' OPERATOR(pg_catalog.||) i
                       WHEN k OPERATOR(pg_catalog.=) ANY (ARRAY['phone', 'email', 'company', 'address', 'id_number']) THEN pg_catalog.format('r.%I OPERATOR(pg_catalog.=) v.k%s', k, i)
                       ELSE pg_catalog.format('r.extra OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_object(%L, v.k%s)', k, i) END;
    END LOOP;
    RETURN QUERY EXECUTE pg_catalog.format(
      'SELECT r.source, r.key, r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra,'
      ' CASE WHEN r.company IS NOT NULL THEN r.original OPERATOR(pg_catalog.->>) ''company'' END'
      ' FROM (SELECT DISTINCT %1$s FROM pg_temp.identity_vals v WHERE %2$s) v'
      ' CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS n FROM @extschema@.identity_record r WHERE %3$s) c'
      ' CROSS JOIN LATERAL (SELECT * FROM @extschema@.identity_record r WHERE %3$s OFFSET 0) r'
      ' WHERE c.n OPERATOR(pg_catalog.<=) %4$s AND NOT EXISTS (SELECT 1 FROM pg_temp.identity_scope x'
      '                                                  WHERE x.source OPERATOR(pg_catalog.=) r.source'
      '                                                    AND x.key OPERATOR(pg_catalog.=) r.key)',
      vals, present, conds, max_block);
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_neighbours(integer) IS
  'Internal to resolve_incremental: the rows sharing a value of a blocking rule other than the built-in values with a changed row, outside the scope (identity_cluster reads those sharing a built-in value itself)';

CREATE FUNCTION @extschema@.identity_cluster(max_block integer, scoped boolean DEFAULT false)
RETURNS TABLE (source text, key text, cluster integer, how text, score double precision, pairs integer,
               old_customer bigint, old_how text, old_score double precision)
AS 'MODULE_PATHNAME', 'concord_identity_cluster'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_cluster(integer, boolean) IS
  'Internal to resolve: blocks, scores and clusters the normalized records';

CREATE FUNCTION @extschema@.identity_golden(scoped boolean)
RETURNS SETOF @extschema@.customer
AS 'MODULE_PATHNAME', 'concord_identity_golden'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_golden(boolean) IS
  'Internal to resolve: the golden record of every linked customer (scoped: of those in pg_temp.identity_touched), each value from the most recent row that has one';

-- Deprecated in 0.2 (issue 20): one estimation step from the current
-- links, superseded by identity_train (m and u fitted by EM, without
-- labels).  Kept for 0.2 as a wrapper of it: a NOTICE says so; sample is
-- the random pairs u is estimated from (at least 1,000); with apply the
-- weights are stored as identity_train stores them (origin trained, never
-- over a row set by hand).  The columns are as they were: estimated is
-- the trained weight, current the weight before.
CREATE FUNCTION @extschema@.identity_estimate_weights(sample integer DEFAULT 100000, apply boolean DEFAULT false)
RETURNS TABLE (attribute text, level text, m double precision, u double precision,
               estimated double precision, current double precision)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM @extschema@.deprecated('identity_estimate_weights', 'identity_train');
  IF sample IS NULL OR sample OPERATOR(pg_catalog.<) 100 OR sample OPERATOR(pg_catalog.>) 10000000 THEN
    RAISE EXCEPTION 'sample must be between 100 and 10000000 pairs, not %', sample
      USING ERRCODE = 'invalid_parameter_value', HINT = 'u is estimated from that many random pairs of rows.';
  END IF;
  IF apply IS NULL THEN
    RAISE EXCEPTION 'identity_estimate_weights''s arguments must not be null' USING ERRCODE = 'null_value_not_allowed',
      HINT = 'Leave an argument out to take its default.';
  END IF;
  RETURN QUERY
    SELECT t.attribute, t.level, t.m, t.u, t.weight, t.previous
      FROM @extschema@.identity_train(apply => identity_estimate_weights.apply,
                                      random_pairs => GREATEST(identity_estimate_weights.sample, 1000)) t
     WHERE t.attribute OPERATOR(pg_catalog.<>) 'model'
     ORDER BY t.attribute, t.level;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_estimate_weights(integer, boolean) IS
  'Deprecated: concord.identity_train() with sample random pairs (at least 1,000), its weights per attribute and level; kept for 0.2 (a NOTICE says so)';

CREATE FUNCTION @extschema@.identity_train_fit(random_pairs integer, max_pairs integer, max_block integer)
RETURNS TABLE (attribute text, level text, m double precision, u double precision, weight double precision,
               pairs double precision)
AS 'MODULE_PATHNAME', 'concord_identity_train_fit'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.identity_train_fit(integer, integer, integer) IS
  'Internal to identity_train: u per level from random pairs of records, m and the share of matches by expectation-maximisation over the candidate pairs; the weights on the 1,000-record basis, and a row (model, prior) with the fit''s figures';

-- The fit in pg_temp.identity_train_out (identity_train_fit's rows, or
-- those identity_cluster's first run trained on its own records): its
-- NOTICE, stored with apply (never over a 'manual' row) when at least
-- min_pairs candidate pairs were found, and returned as identity_train
-- returns it.
CREATE FUNCTION @extschema@.identity_train_save(apply boolean, min_pairs integer)
RETURNS TABLE (attribute text, level text, m double precision, u double precision, weight double precision,
               previous double precision, origin text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  fit record;
BEGIN
  SELECT * INTO fit FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'prior';
  RAISE NOTICE 'identity_train: % records, % candidate pairs (% fitted), share of matches among them % after % iterations (%); prior log2 odds of two records being one person % (on the 1,000-record basis)',
    (SELECT o.pairs::bigint FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'records'),
    (SELECT o.pairs FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'candidates'),
    fit.pairs, pg_catalog.round(fit.m::numeric, 4),
    (SELECT o.weight FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'iterations'),
    CASE WHEN (SELECT o.m FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'iterations') OPERATOR(pg_catalog.=) 1
         THEN 'converged' ELSE 'not converged' END,
    pg_catalog.round(fit.weight::numeric, 2);
  -- (resolve's first run trains only on enough pairs: EM on a handful says nothing)
  IF (SELECT o.pairs FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) 'candidates') OPERATOR(pg_catalog.<) min_pairs THEN
    RAISE NOTICE 'identity_train: fewer than % candidate pairs, the model is not trained', min_pairs;
    apply := false;
  END IF;
  DELETE FROM identity_train_out o WHERE o.attribute OPERATOR(pg_catalog.=) 'model' AND o.level OPERATOR(pg_catalog.=) ANY (ARRAY['candidates', 'iterations', 'records']);
  -- (the weights before: returned beside the trained ones)
  ALTER TABLE identity_train_out ADD COLUMN previous double precision;
  UPDATE identity_train_out o SET previous = w.weight
    FROM @extschema@.identity_weight w WHERE w.attribute OPERATOR(pg_catalog.=) o.attribute AND w.level OPERATOR(pg_catalog.=) o.level;
  IF apply THEN
    -- hand-set weights stay: training never overwrites a 'manual' row
    INSERT INTO @extschema@.identity_weight AS w (attribute, level, weight, origin, m, u, updated_at)
    SELECT o.attribute, o.level, o.weight, 'trained', o.m, o.u, pg_catalog.now()
      FROM identity_train_out o WHERE o.weight IS NOT NULL
        AND (o.attribute OPERATOR(pg_catalog.<>) 'model'
             OR NOT EXISTS (SELECT 1 FROM @extschema@.identity_weight x WHERE x.attribute OPERATOR(pg_catalog.=) 'model'
                               AND x.level OPERATOR(pg_catalog.=) 'match_threshold' AND x.origin OPERATOR(pg_catalog.=) 'manual'))
    ON CONFLICT (attribute, level) DO UPDATE
       SET weight = excluded.weight, origin = 'trained', m = excluded.m, u = excluded.u, updated_at = excluded.updated_at
     WHERE w.origin OPERATOR(pg_catalog.<>) 'manual';
  END IF;
  RETURN QUERY
    SELECT o.attribute, o.level, o.m, o.u, o.weight, o.previous,
           CASE WHEN o.weight IS NULL THEN coalesce(w.origin, 'default') OPERATOR(pg_catalog.||) ' (too few pairs to train)'
                WHEN w.origin OPERATOR(pg_catalog.=) 'manual' THEN 'manual (kept)'
                WHEN o.attribute OPERATOR(pg_catalog.=) 'model' AND EXISTS (SELECT 1 FROM @extschema@.identity_weight x WHERE x.attribute OPERATOR(pg_catalog.=) 'model'
                                                        AND x.level OPERATOR(pg_catalog.=) 'match_threshold' AND x.origin OPERATOR(pg_catalog.=) 'manual')
                  THEN 'not used: the match threshold is set by hand'
                WHEN apply THEN 'trained' ELSE 'not applied' END
      FROM identity_train_out o
      LEFT JOIN @extschema@.identity_weight w ON w.attribute OPERATOR(pg_catalog.=) o.attribute AND w.level OPERATOR(pg_catalog.=) o.level
     ORDER BY o.attribute OPERATOR(pg_catalog.=) 'model', o.attribute, o.level;
  DROP TABLE identity_train_out;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_train_save(boolean, integer) IS
  'Internal to identity_train and resolve: the fit in pg_temp.identity_train_out, stored with apply when at least min_pairs candidate pairs were found';

CREATE FUNCTION @extschema@.identity_train_store(apply boolean, random_pairs integer, max_pairs integer,
                                                 max_block integer, min_pairs integer)
RETURNS TABLE (attribute text, level text, m double precision, u double precision, weight double precision,
               previous double precision, origin text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  n bigint;
BEGIN
  IF apply IS NULL OR random_pairs IS NULL OR max_pairs IS NULL OR max_block IS NULL THEN
    RAISE EXCEPTION 'identity_train''s arguments must not be null' USING ERRCODE = 'null_value_not_allowed',
      HINT = 'Leave an argument out to take its default.';
  END IF;
  IF random_pairs OPERATOR(pg_catalog.<) 1000 OR random_pairs OPERATOR(pg_catalog.>) 10000000 THEN
    RAISE EXCEPTION 'random_pairs must be between 1000 and 10000000, not %', random_pairs
      USING ERRCODE = 'invalid_parameter_value', HINT = 'u is estimated from that many random pairs of records.';
  END IF;
  IF max_pairs OPERATOR(pg_catalog.<) 1000 OR max_pairs OPERATOR(pg_catalog.>) 100000000 THEN
    RAISE EXCEPTION 'max_pairs must be between 1000 and 100000000, not %', max_pairs
      USING ERRCODE = 'invalid_parameter_value', HINT = 'At most that many candidate pairs (a fixed sample) are fitted.';
  END IF;
  IF max_block OPERATOR(pg_catalog.<) 2 OR max_block OPERATOR(pg_catalog.>) 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Train with the max_block resolve runs with (200 by default).';
  END IF;
  -- not while a resolve runs (it reads the model)
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('concord.resolve'), 1131);
  n := (SELECT pg_catalog.count(*) FROM @extschema@.identity_record);
  IF n OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'there are % normalized records to train the model on', n
      USING ERRCODE = 'no_data_found', HINT = 'Register sources and run concord.resolve() first.';
  END IF;
  IF pg_catalog.to_regclass('pg_temp.identity_train_out') IS NOT NULL THEN
    DROP TABLE pg_temp.identity_train_out;
  END IF;
  CREATE TEMP TABLE identity_train_out ON COMMIT DROP AS
    SELECT * FROM @extschema@.identity_train_fit(random_pairs, max_pairs, max_block);
  RETURN QUERY SELECT * FROM @extschema@.identity_train_save(apply, min_pairs);
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_train_store(boolean, integer, integer, integer, integer) IS
  'Internal to identity_train and resolve: fits the model and, with apply and at least min_pairs candidate pairs, stores it';

CREATE FUNCTION @extschema@.identity_train(apply boolean DEFAULT true, random_pairs integer DEFAULT 200000,
                                           max_pairs integer DEFAULT 200000, max_block integer DEFAULT 200)
RETURNS TABLE (attribute text, level text, m double precision, u double precision, weight double precision,
               previous double precision, origin text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
BEGIN ATOMIC
  SELECT * FROM @extschema@.identity_train_store(identity_train.apply, identity_train.random_pairs,
                                                 identity_train.max_pairs, identity_train.max_block, 0);
END;
COMMENT ON FUNCTION @extschema@.identity_train(boolean, integer, integer, integer) IS
  'Trains the matching model (Fellegi-Sunter): u from random pairs of records, m and the share of matches by expectation-maximisation over the candidate pairs; with apply, stores the weights log2(m/u) as origin trained (never over a manual row) and the prior the match probability is turned into a threshold with';

CREATE FUNCTION @extschema@.why_matched(source_a text, key_a text, source_b text, key_b text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'concord_identity_compare'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.why_matched(text, text, text, text) IS
  'How two source rows compare: per attribute the values, agreement level and weight, the total score, the rule, and whether they match';

CREATE FUNCTION @extschema@.identity_load(source_name text, keys text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
DECLARE
  src @extschema@.identity_source;
  c jsonb;
  sel text;
  target text := CASE WHEN keys IS NULL THEN 'pg_temp.identity_stage' ELSE 'pg_temp.identity_load_stage' END;
BEGIN
  SELECT * INTO src FROM @extschema@.identity_source s WHERE s.name OPERATOR(pg_catalog.=) source_name;
  IF keys IS NOT NULL THEN
    DELETE FROM @extschema@.identity_record r WHERE r.source OPERATOR(pg_catalog.=) source_name AND r.key OPERATOR(pg_catalog.=) ANY (keys);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) src.source_table) THEN
    RAISE EXCEPTION 'the table of identity source "%" no longer exists', src.name
      USING ERRCODE = 'undefined_table',
            HINT = 'Remove the source with concord.identity_source_drop(name), or register it again.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) src.defined_by) THEN
    RAISE EXCEPTION 'the role that registered identity source "%" no longer exists', src.name
      USING ERRCODE = 'undefined_object',
            HINT = 'Remove the source with concord.identity_source_drop(name) and register it again.';
  END IF;
  c := src.columns;
  -- The source's rows are read with its registrar's rights (its row
  -- policies, and whatever functions it runs, are hers: never concord's
  -- owner's) into a stage of concord's, which she may only insert into.
  -- All rows: into resolve's stage (pg_temp.identity_stage); some: into
  -- one of this call, then in place.
  IF keys IS NOT NULL THEN
    IF pg_catalog.to_regclass('pg_temp.identity_load_stage') IS NOT NULL THEN
      DROP TABLE pg_temp.identity_load_stage;
    END IF;
    CREATE TEMP TABLE identity_load_stage (LIKE @extschema@.identity_record) ON COMMIT DROP;
  END IF;
  EXECUTE pg_catalog.format('GRANT INSERT ON %s TO %s', target, src.defined_by);
  sel := pg_catalog.format(
    'INSERT INTO %s (source, key, name_key, syllables, phone, email, company, address, id_number, updated_at, original, extra)'
    ' SELECT %L, t.%I::text, %s, %s, %s, %s, %s, %s, %s, %s, jsonb_strip_nulls(jsonb_build_object(%s)), %s'
    ' FROM %s t WHERE t.%I IS NOT NULL%s',
    target, src.name, src.key_column,
    -- (a placeholder -- 未知, 张先生 -- is no name, 个人 no employer)
    CASE WHEN c OPERATOR(pg_catalog.?) 'name' THEN pg_catalog.format('CASE WHEN NOT %1$s.identity_placeholder(''name'', t.%2$I::text) THEN %1$s.name_key(t.%2$I::text) END',
                                     '@extschema@', c OPERATOR(pg_catalog.->>) 'name') ELSE 'NULL' END,
    -- (a family name and an honorific -- 王女士 -- keeps its family name here: see identity_name_form)
    CASE WHEN c OPERATOR(pg_catalog.?) 'name' THEN pg_catalog.format('%s.identity_name_form(t.%I::text)', '@extschema@', c OPERATOR(pg_catalog.->>) 'name') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'phone' THEN pg_catalog.format('%s.normalize_phone(t.%I::text)', '@extschema@', c OPERATOR(pg_catalog.->>) 'phone') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'email' THEN pg_catalog.format('%s.normalize_email(t.%I::text)', '@extschema@', c OPERATOR(pg_catalog.->>) 'email') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'company' THEN pg_catalog.format('CASE WHEN NOT %1$s.identity_placeholder(''company'', t.%2$I::text) THEN %1$s.normalize_company(t.%2$I::text) END',
                                        '@extschema@', c OPERATOR(pg_catalog.->>) 'company') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'address' THEN pg_catalog.format('%s.normalize_address(t.%I::text)', '@extschema@', c OPERATOR(pg_catalog.->>) 'address') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'id_number' THEN pg_catalog.format('%s.normalize_id(t.%I::text)', '@extschema@', c OPERATOR(pg_catalog.->>) 'id_number') ELSE 'NULL' END,
    CASE WHEN c OPERATOR(pg_catalog.?) 'updated_at' THEN pg_catalog.format('t.%I::timestamptz', c OPERATOR(pg_catalog.->>) 'updated_at') ELSE 'NULL' END,
    coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('%L, t.%I::text', e.key, e.value OPERATOR(pg_catalog.#>>) '{}'), ', ')
                FROM jsonb_each(c) e WHERE e.key OPERATOR(pg_catalog.<>) 'updated_at'), ''),
    -- declared attributes, in the form their comparison reads
    coalesce((SELECT 'nullif(jsonb_strip_nulls(jsonb_build_object(' OPERATOR(pg_catalog.||)
                     pg_catalog.string_agg(pg_catalog.format('%L, %s', a.name,
                       CASE
                         WHEN a.compare OPERATOR(pg_catalog.=) 'date' THEN pg_catalog.format('to_char(t.%I::date, ''YYYY-MM-DD'')', c OPERATOR(pg_catalog.->>) a.name)
                         WHEN a.compare OPERATOR(pg_catalog.=) 'number' THEN pg_catalog.format('t.%I::numeric::text', c OPERATOR(pg_catalog.->>) a.name)
                         ELSE pg_catalog.format('nullif(lower(btrim(%s.to_halfwidth(t.%I::text))), '''')', '@extschema@', c OPERATOR(pg_catalog.->>) a.name)
                       END), ', ' ORDER BY a.name) OPERATOR(pg_catalog.||) ')), ''{}'')'
                FROM @extschema@.identity_attribute a WHERE c OPERATOR(pg_catalog.?) a.name), 'NULL'),
    src.source_table, src.key_column,
    -- some keys only: as the key column's type, so that its index finds them
    CASE WHEN keys IS NULL THEN '' ELSE pg_catalog.format(' AND t.%I = ANY ($1::%s[])', src.key_column,
      (SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
        WHERE a.attrelid OPERATOR(pg_catalog.=) src.source_table AND a.attname OPERATOR(pg_catalog.=) src.key_column)) END);
  PERFORM @extschema@.exec_as(src.defined_by, sel, keys);
  IF keys IS NOT NULL THEN
    INSERT INTO @extschema@.identity_record SELECT * FROM pg_temp.identity_load_stage;
    DROP TABLE pg_temp.identity_load_stage;
  END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_load(text, text[]) IS
  'Internal to resolve: (re)reads a source''s rows -- all, or those with the given keys -- normalized, with the rights of the role that registered it';

CREATE FUNCTION @extschema@.identity_apply(max_block integer, scoped boolean)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  ev @extschema@.identity_event;
  n_gone bigint;
  bulk boolean;
  n_made bigint;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  -- 2. clusters
  IF pg_catalog.to_regclass('pg_temp.identity_cl') IS NOT NULL THEN
    DROP TABLE identity_cl, identity_n, identity_keep, identity_id;
  END IF;
  IF pg_catalog.to_regclass('pg_temp.identity_touched') IS NOT NULL THEN
    DROP TABLE identity_touched;
  END IF;
  IF pg_catalog.to_regclass('pg_temp.identity_review_found') IS NOT NULL THEN
    DROP TABLE identity_review_found;
  END IF;
  -- filled by identity_cluster
  CREATE TEMP TABLE identity_review_found (source_a text, key_a text, source_b text, key_b text, score float8)
    ON COMMIT DROP;
  CREATE TEMP TABLE identity_cl ON COMMIT DROP AS
    SELECT x.* FROM @extschema@.identity_cluster(max_block, scoped) x;
  -- (scoped: the rows of customers no changed row joined are not there,
  -- they stay as they were; one row, cluster -1, counts them and their pairs)
  SELECT pg_catalog.count(x.source) OPERATOR(pg_catalog.+) coalesce(pg_catalog.sum(x.score) FILTER (WHERE x.cluster OPERATOR(pg_catalog.<) 0), 0),
         coalesce(pg_catalog.sum(x.pairs), 0) OPERATOR(pg_catalog./) 2
    INTO records, pairs FROM identity_cl x;
  IF scoped THEN
    DELETE FROM identity_cl x WHERE x.cluster OPERATOR(pg_catalog.<) 0;
  END IF;
  ANALYZE identity_cl (source, key, cluster);

  RAISE DEBUG 'concord.resolve: clustered after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- 3. stable IDs.  Each old ID stays with the cluster holding most of its
  --    rows (ties: the first cluster); a cluster keeps the smallest (oldest)
  --    ID that stays with it, and the others staying there are merged into
  --    it.  A cluster no ID stays with gets a new ID: split off the IDs of
  --    its rows, or created if its rows had none.
  -- (scoped: identity_cluster knows the links the rows had)
  IF scoped THEN
    CREATE TEMP TABLE identity_n ON COMMIT DROP AS
      SELECT x.cluster, x.old_customer AS customer_id, pg_catalog.count(*) AS n
      FROM identity_cl x WHERE x.old_customer IS NOT NULL
      GROUP BY 1, 2;
  ELSE
    CREATE TEMP TABLE identity_n ON COMMIT DROP AS
      SELECT x.cluster, l.customer_id, pg_catalog.count(*) AS n
      FROM identity_cl x JOIN @extschema@.customer_link l USING (source, key)
      GROUP BY 1, 2;
  END IF;
  CREATE TEMP TABLE identity_keep ON COMMIT DROP AS
    SELECT DISTINCT ON (n.customer_id) n.customer_id, n.cluster
    FROM identity_n n ORDER BY n.customer_id, n.n DESC, n.cluster;
  CREATE TEMP TABLE identity_id ON COMMIT DROP AS
    SELECT k.cluster, pg_catalog.min(k.customer_id) AS customer_id, false AS is_new
    FROM identity_keep k GROUP BY k.cluster;
  INSERT INTO @extschema@.customer_id_history (customer_id, event, other_id)
    SELECT k.customer_id, 'merged', i.customer_id
    FROM identity_keep k JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) k.cluster
    WHERE k.customer_id OPERATOR(pg_catalog.<>) i.customer_id;
  GET DIAGNOSTICS merged = ROW_COUNT;
  INSERT INTO identity_id (cluster, customer_id, is_new)
    SELECT n.cluster, pg_catalog.nextval('@extschema@.customer_id_seq'), true
    FROM (SELECT DISTINCT x.cluster FROM identity_cl x
           WHERE NOT EXISTS (SELECT 1 FROM identity_id i WHERE i.cluster OPERATOR(pg_catalog.=) x.cluster)
           ORDER BY x.cluster) n;
  GET DIAGNOSTICS new_ids = ROW_COUNT;
  INSERT INTO @extschema@.customer_id_history (customer_id, event, other_id)
    SELECT DISTINCT i.customer_id, 'split', n.customer_id
    FROM identity_id i JOIN identity_n n ON n.cluster OPERATOR(pg_catalog.=) i.cluster
    WHERE i.is_new;
  split := (SELECT pg_catalog.count(*) FROM identity_id i
             WHERE i.is_new AND EXISTS (SELECT 1 FROM identity_n n WHERE n.cluster OPERATOR(pg_catalog.=) i.cluster));
  INSERT INTO @extschema@.customer_id_history (customer_id, event)
    SELECT i.customer_id, 'created' FROM identity_id i
    WHERE i.is_new AND NOT EXISTS (SELECT 1 FROM identity_n n WHERE n.cluster OPERATOR(pg_catalog.=) i.cluster);

  RAISE DEBUG 'concord.resolve: IDs assigned after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  CREATE INDEX ON identity_id (cluster);
  ANALYZE identity_id, identity_keep;
  -- 4. the links: changed only where the ID or the linkage changed
  -- the customers this run may change: all, or those of the rows in scope
  IF scoped THEN
    -- new customers, merged ones, and those that hold or held a core row
    -- (a neighbour's customer nothing joined is as it was)
    CREATE TEMP TABLE identity_touched ON COMMIT DROP AS
      SELECT i.customer_id FROM identity_id i WHERE i.is_new
      UNION SELECT k.customer_id FROM identity_keep k JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) k.cluster WHERE k.customer_id OPERATOR(pg_catalog.<>) i.customer_id
      UNION SELECT i.customer_id FROM identity_id i
             WHERE i.cluster OPERATOR(pg_catalog.=) ANY (SELECT x.cluster FROM identity_cl x JOIN identity_scope s ON s.source OPERATOR(pg_catalog.=) x.source AND s.key OPERATOR(pg_catalog.=) x.key
                                  WHERE s.core)
      UNION SELECT s.old_customer_id FROM identity_scope s WHERE s.core AND s.old_customer_id IS NOT NULL;
  ELSE
    -- (a full run rebuilds every customer: no list needed)
    CREATE TEMP TABLE identity_touched (customer_id bigint) ON COMMIT DROP;
  END IF;
  IF scoped THEN
    -- (the changed rows no longer in identity_record: deleted at the source)
    DELETE FROM @extschema@.customer_link l
     USING identity_scope s
     WHERE s.changed AND s.source OPERATOR(pg_catalog.=) l.source AND s.key OPERATOR(pg_catalog.=) l.key
       AND NOT EXISTS (SELECT 1 FROM @extschema@.identity_record r WHERE r.source OPERATOR(pg_catalog.=) l.source AND r.key OPERATOR(pg_catalog.=) l.key);
  ELSE
    DELETE FROM @extschema@.customer_link l
     WHERE NOT EXISTS (SELECT 1 FROM identity_cl x WHERE x.source OPERATOR(pg_catalog.=) l.source AND x.key OPERATOR(pg_catalog.=) l.key);
  END IF;
  -- (an update of what changed and an insert of what is new: cheaper than
  -- ON CONFLICT for a million rows)
  UPDATE @extschema@.customer_link l
     SET customer_id = i.customer_id, how = x.how, score = x.score, linked_at = pg_catalog.now()
    FROM identity_cl x JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) x.cluster
   WHERE l.source OPERATOR(pg_catalog.=) x.source AND l.key OPERATOR(pg_catalog.=) x.key
     AND (NOT scoped OR (x.old_customer, x.old_how, x.old_score) IS DISTINCT FROM (i.customer_id, x.how, x.score))
     AND (l.customer_id, l.how, l.score) IS DISTINCT FROM (i.customer_id, x.how, x.score);
  -- (most links new, a first resolve: the indexes are built after them)
  bulk := NOT scoped AND records OPERATOR(pg_catalog.>) 50000
          AND (SELECT pg_catalog.count(*) FROM @extschema@.customer_link) OPERATOR(pg_catalog.<) (records OPERATOR(pg_catalog./) 2);
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('customer_link', false);
  END IF;
  -- (the rows with their IDs first: planned with the anti-join, that join
  -- was a nested loop over both temporary tables)
  -- (scoped: the rows without a link before are the new ones)
  -- (bulk: the rows without a link are found against a copy of the links
  -- there were, indexed, never against customer_link itself, which has no
  -- index now: with statistics of a table then empty -- an ANALYZE or
  -- autovacuum before a first resolve -- that anti-join was planned as a
  -- nested loop whose inner scan read customer_link again for every row,
  -- while the insert made it grow: quadratic, 16 s became 299 s at 99,000
  -- rows.  Otherwise customer_link keeps its primary key, and the anti-join
  -- looks rows up in it, whatever the plan.)
  IF bulk THEN
    CREATE TEMP TABLE identity_had ON COMMIT DROP AS
      SELECT l.source, l.key FROM @extschema@.customer_link l;
    CREATE INDEX ON identity_had (source, key);
    ANALYZE identity_had;
    WITH x AS MATERIALIZED (SELECT x.source, x.key, i.customer_id, x.how, x.score
                              FROM identity_cl x JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) x.cluster)
    INSERT INTO @extschema@.customer_link (source, key, customer_id, how, score)
      SELECT x.source, x.key, x.customer_id, x.how, x.score FROM x
      WHERE NOT EXISTS (SELECT 1 FROM identity_had h WHERE h.source OPERATOR(pg_catalog.=) x.source AND h.key OPERATOR(pg_catalog.=) x.key);
    DROP TABLE identity_had;
  ELSE
    WITH x AS MATERIALIZED (SELECT x.source, x.key, i.customer_id, x.how, x.score
                              FROM identity_cl x JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) x.cluster
                             WHERE NOT scoped OR x.old_customer IS NULL)
    INSERT INTO @extschema@.customer_link (source, key, customer_id, how, score)
      SELECT x.source, x.key, x.customer_id, x.how, x.score FROM x
      WHERE scoped OR NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) x.source AND l.key OPERATOR(pg_catalog.=) x.key);
  END IF;
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('customer_link', true);
  END IF;
  -- the rows of a merged customer a scoped run did not read follow it
  IF scoped THEN
    UPDATE @extschema@.customer_link l SET customer_id = i.customer_id, linked_at = pg_catalog.now()
      FROM identity_keep k JOIN identity_id i ON i.cluster OPERATOR(pg_catalog.=) k.cluster
     WHERE k.customer_id OPERATOR(pg_catalog.<>) i.customer_id AND l.customer_id OPERATOR(pg_catalog.=) k.customer_id;
  END IF;

  -- the pairs to review: those of the rows in this run are replaced
  IF scoped THEN
    -- those this run compared again: of a changed row, or of two core rows
    DELETE FROM @extschema@.identity_review v
     WHERE (v.source_a, v.key_a) OPERATOR(pg_catalog.=) ANY (SELECT s.source, s.key FROM identity_scope s WHERE s.changed)
        OR (v.source_b, v.key_b) OPERATOR(pg_catalog.=) ANY (SELECT s.source, s.key FROM identity_scope s WHERE s.changed)
        OR ((v.source_a, v.key_a) OPERATOR(pg_catalog.=) ANY (SELECT s.source, s.key FROM identity_scope s WHERE s.core)
            AND (v.source_b, v.key_b) OPERATOR(pg_catalog.=) ANY (SELECT s.source, s.key FROM identity_scope s WHERE s.core));
  ELSE
    DELETE FROM @extschema@.identity_review;
  END IF;
  INSERT INTO @extschema@.identity_review AS v (source_a, key_a, source_b, key_b, score)
    SELECT f.source_a, f.key_a, f.source_b, f.key_b, f.score FROM identity_review_found f
    -- a pair someone already decided is not asked again
    WHERE NOT EXISTS (SELECT 1 FROM @extschema@.identity_constraint c
                       WHERE (c.source_a, c.key_a, c.source_b, c.key_b) OPERATOR(pg_catalog.=) (f.source_a, f.key_a, f.source_b, f.key_b)
                          OR (c.source_a, c.key_a, c.source_b, c.key_b) OPERATOR(pg_catalog.=) (f.source_b, f.key_b, f.source_a, f.key_a))
  ON CONFLICT (source_a, key_a, source_b, key_b) DO UPDATE SET score = excluded.score;
  DROP TABLE identity_review_found;

  RAISE DEBUG 'concord.resolve: linked after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- (a full run may have written most rows just now: the golden record's
  -- join of links and rows is planned on their statistics -- without
  -- them, a million index lookups)
  IF NOT scoped THEN
    PERFORM @extschema@.identity_analyze(false);
  END IF;
  -- 5. the golden record
  IF scoped THEN
    DELETE FROM @extschema@.customer c WHERE c.customer_id OPERATOR(pg_catalog.=) ANY (SELECT t.customer_id FROM identity_touched t);
  ELSE
    DELETE FROM @extschema@.customer;
  END IF;
  GET DIAGNOSTICS n_gone = ROW_COUNT;
  -- each attribute from the first row that has it in survivorship order
  -- (identity_golden: one sort, one pass)
  INSERT INTO @extschema@.customer (customer_id, name, phone, email, company, address, id_number, records, chosen_from, updated_at)
    SELECT * FROM @extschema@.identity_golden(scoped);
  GET DIAGNOSTICS n_made = ROW_COUNT;
  -- how many customers there are: counted by a full run, kept up to date
  -- by the others (a count of half a million rows cost a tenth of a second)
  IF scoped THEN
    UPDATE @extschema@.identity_population p SET customers = p.customers OPERATOR(pg_catalog.-) n_gone OPERATOR(pg_catalog.+) n_made
     RETURNING p.customers INTO customers;
  END IF;
  IF customers IS NULL THEN
    customers := (SELECT pg_catalog.count(*) FROM @extschema@.customer);
    UPDATE @extschema@.identity_population p SET customers = identity_apply.customers;
  END IF;

  RAISE DEBUG 'concord.resolve: golden record built after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- 6. the timeline: every mapped event, of the customer its row names
  IF scoped THEN
    DELETE FROM @extschema@.customer_event e WHERE e.customer_id OPERATOR(pg_catalog.=) ANY (SELECT t.customer_id FROM identity_touched t);
  ELSE
    DELETE FROM @extschema@.customer_event;
  END IF;
  FOR ev IN SELECT * FROM @extschema@.identity_event ORDER BY identity_event.name LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) ev.event_table) THEN
      RAISE EXCEPTION 'the table of event "%" no longer exists', ev.name
        USING ERRCODE = 'undefined_table',
              HINT = 'Remove the event with concord.identity_event_drop(name), or declare it again.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) ev.defined_by) THEN
      RAISE EXCEPTION 'the role that declared event "%" no longer exists', ev.name
        USING ERRCODE = 'undefined_object',
              HINT = 'Remove the event with concord.identity_event_drop(name) and declare it again.';
    END IF;
    -- read with its declarer's rights (as identity_load reads a source)
    IF pg_catalog.to_regclass('pg_temp.identity_event_stage') IS NOT NULL THEN
      DROP TABLE pg_temp.identity_event_stage;
    END IF;
    CREATE TEMP TABLE identity_event_stage (key text, at timestamptz, detail jsonb) ON COMMIT DROP;
    EXECUTE pg_catalog.format('GRANT INSERT ON pg_temp.identity_event_stage TO %s', ev.defined_by);
    PERFORM @extschema@.exec_as(ev.defined_by, pg_catalog.format(
      'INSERT INTO pg_temp.identity_event_stage (key, at, detail)'
      ' SELECT e.%I::text, e.%I::timestamptz, jsonb_strip_nulls(jsonb_build_object(%s)) FROM %s e%s',
      ev.key_column, ev.at_column,
      coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('%L, e.%I', d, d), ', ') FROM unnest(ev.detail_columns) d), ''),
      ev.event_table, CASE WHEN scoped THEN pg_catalog.format(' WHERE e.%I::text = ANY ($1)', ev.key_column) ELSE '' END),
      CASE WHEN scoped THEN ARRAY(SELECT l.key FROM @extschema@.customer_link l JOIN identity_touched t ON t.customer_id OPERATOR(pg_catalog.=) l.customer_id
                                   WHERE l.source OPERATOR(pg_catalog.=) ev.identity_source) END);
    INSERT INTO @extschema@.customer_event (customer_id, at, event, label, source, key, detail)
      SELECT l.customer_id, s.at, ev.name, ev.label, ev.identity_source, s.key, s.detail
        FROM pg_temp.identity_event_stage s
        JOIN @extschema@.customer_link l ON l.source OPERATOR(pg_catalog.=) ev.identity_source AND l.key OPERATOR(pg_catalog.=) s.key;
    DROP TABLE pg_temp.identity_event_stage;
  END LOOP;

  IF NOT scoped THEN
    PERFORM @extschema@.identity_analyze(true);
  END IF;
  RAISE DEBUG 'concord.resolve: timeline built after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  IF pg_catalog.to_regclass('pg_temp.identity_touched') IS NOT NULL THEN
    DROP TABLE identity_touched;
  END IF;
  RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_apply(integer, boolean) IS
  'Internal to resolve: clusters the normalized rows (all, or those in pg_temp.identity_scope), keeps IDs stable, rebuilds links, golden records and timelines of the customers touched';

CREATE FUNCTION @extschema@.resolve(max_block integer DEFAULT 200)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
AS $fn$
DECLARE
  s text;
  n_new bigint;
  bulk boolean;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF max_block IS NULL OR max_block OPERATOR(pg_catalog.<) 2 OR max_block OPERATOR(pg_catalog.>) 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- one resolve at a time
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('concord.resolve'), 1131);
  -- a full run covers whatever was queued
  DELETE FROM @extschema@.identity_queue;
  -- every source's rows, normalized, into a stage; then only what changed
  -- into identity_record (a rerun on unchanged data writes nothing)
  IF pg_catalog.to_regclass('pg_temp.identity_stage') IS NOT NULL THEN
    DROP TABLE identity_stage;
  END IF;
  CREATE TEMP TABLE identity_stage (LIKE @extschema@.identity_record) ON COMMIT DROP;
  FOR s IN SELECT name FROM @extschema@.identity_source ORDER BY name LOOP
    PERFORM @extschema@.identity_load(s, NULL);
  END LOOP;
  -- (statistics of the columns joined on only: ANALYZE of every column of a
  -- wide table cost 0.4 s, even for 30,000 rows)
  ANALYZE identity_stage (source, key);
  RAISE DEBUG 'concord.resolve: % rows read and normalized after % ms', (SELECT pg_catalog.count(*) FROM identity_stage),
    pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  DELETE FROM @extschema@.identity_record r
   WHERE NOT EXISTS (SELECT 1 FROM identity_stage t WHERE t.source OPERATOR(pg_catalog.=) r.source AND t.key OPERATOR(pg_catalog.=) r.key);
  UPDATE @extschema@.identity_record r
     SET name_key = t.name_key, syllables = t.syllables, phone = t.phone, email = t.email, company = t.company,
         address = t.address, id_number = t.id_number, updated_at = t.updated_at, original = t.original, extra = t.extra
    FROM identity_stage t
   WHERE r.source OPERATOR(pg_catalog.=) t.source AND r.key OPERATOR(pg_catalog.=) t.key
     AND (r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.updated_at, r.original, r.extra)
         IS DISTINCT FROM
         (t.name_key, t.syllables, t.phone, t.email, t.company, t.address, t.id_number, t.updated_at, t.original, t.extra);
  -- many rows and most of them new (a first resolve): the lookup indexes
  -- are built after the load
  bulk := (SELECT pg_catalog.count(*) FROM identity_stage) OPERATOR(pg_catalog.>) 50000
          AND (SELECT pg_catalog.count(*) FROM @extschema@.identity_record) OPERATOR(pg_catalog.<) ((SELECT pg_catalog.count(*) FROM identity_stage) OPERATOR(pg_catalog./) 2);
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('identity_record', false);
  END IF;
  -- (stored in name order: the rows of a name block, which an incremental
  -- run reads through the name index, then lie on a few pages rather than
  -- one page each)
  INSERT INTO @extschema@.identity_record
    SELECT t.* FROM identity_stage t
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.identity_record r WHERE r.source OPERATOR(pg_catalog.=) t.source AND r.key OPERATOR(pg_catalog.=) t.key)
     ORDER BY t.name_key COLLATE "C", t.company COLLATE "C";
  GET DIAGNOSTICS n_new = ROW_COUNT;
  IF bulk THEN
    PERFORM @extschema@.identity_bulk_indexes('identity_record', true);
  END IF;
  DROP TABLE identity_stage;
  RAISE DEBUG 'concord.resolve: % new rows stored after % ms', n_new,
    pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- values many unrelated rows share: read as missing from here on
  RAISE DEBUG 'concord.resolve: % placeholders detected after % ms', @extschema@.identity_detect_placeholders(),
    pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- (the first resolve of enough records to learn from trains the model,
  -- in identity_cluster: 1,000 records and 200 candidate pairs; fewer keep
  -- the defaults)
  RETURN QUERY SELECT * FROM @extschema@.identity_apply(max_block, false);
END
$fn$;
COMMENT ON FUNCTION @extschema@.resolve(integer) IS
  'Full resolve: reads every registered source, matches and clusters its rows, keeps customer IDs stable, rebuilds the golden record; returns what it did';


CREATE FUNCTION @extschema@.resolve_incremental(max_block integer DEFAULT 200)
RETURNS TABLE (records bigint, pairs bigint, customers bigint, new_ids bigint, merged bigint, split bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
-- (no JIT: its compiling cost a second per statement here and saved nothing)
SET jit = off
-- (a run looks up a few thousand rows by key in tables mostly in memory:
-- costed as reads from a spinning disk, the default 4, the lookups of 2,000
-- neighbours' links and the update of 3,000 links were planned as a scan
-- and hash of all of customer_link -- at 206,000 rows three such scans made
-- 0.7 s of a 1.5 s run, more than the whole run took at a million rows,
-- where the table is too large for that plan)
SET random_page_cost = 1.1
AS $fn$
DECLARE
  s record;
  t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF max_block IS NULL OR max_block OPERATOR(pg_catalog.<) 2 OR max_block OPERATOR(pg_catalog.>) 100000 THEN
    RAISE EXCEPTION 'max_block must be between 2 and 100000, not %', max_block
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('concord.resolve'), 1131);
  IF pg_catalog.to_regclass('pg_temp.identity_scope') IS NOT NULL THEN
    DROP TABLE identity_scope, identity_changed, identity_vals, identity_val_n;
  END IF;

  -- the rows changed since the last resolve (queued by the sources' triggers)
  CREATE TEMP TABLE identity_changed ON COMMIT DROP AS
    WITH q AS (DELETE FROM @extschema@.identity_queue RETURNING source, key)
    SELECT DISTINCT q.source, q.key FROM q
    WHERE EXISTS (SELECT 1 FROM @extschema@.identity_source x WHERE x.name OPERATOR(pg_catalog.=) q.source);
  -- their values before and after: every row sharing one is in scope
  CREATE TEMP TABLE identity_vals ON COMMIT DROP AS
    SELECT false AS is_new, r.name_key, r.phone, r.email, r.id_number, r.extra, r.company, r.address FROM @extschema@.identity_record r
    JOIN identity_changed c ON c.source OPERATOR(pg_catalog.=) r.source AND c.key OPERATOR(pg_catalog.=) r.key;
  FOR s IN SELECT c.source, pg_catalog.array_agg(c.key) AS keys FROM identity_changed c GROUP BY c.source LOOP
    PERFORM @extschema@.identity_load(s.source, s.keys);
  END LOOP;
  INSERT INTO identity_vals
    SELECT true, r.name_key, r.phone, r.email, r.id_number, r.extra, r.company, r.address FROM @extschema@.identity_record r
    JOIN identity_changed c ON c.source OPERATOR(pg_catalog.=) r.source AND c.key OPERATOR(pg_catalog.=) r.key;
  -- rows new less rows gone: the population the weights scale with
  UPDATE @extschema@.identity_population p
     SET records = p.records OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FILTER (WHERE v.is_new) OPERATOR(pg_catalog.-) pg_catalog.count(*) FILTER (WHERE NOT v.is_new)
                                  FROM identity_vals v);
  DELETE FROM identity_vals v WHERE NOT v.is_new;
  -- each value a changed row now holds, and how many rows hold it: counted
  -- no further than max_block + 1 (a value held by more makes no pairs, and
  -- counting every 王伟 cost a lookup per row), but an ID number's rows all
  -- (identity_neighbours reads them all).  A value held by at most
  -- max_block rows has them all read with the scope: identity_cluster
  -- takes its block as it finds it, without counting it again.
  CREATE TEMP TABLE identity_val_n ON COMMIT DROP AS
    SELECT 'phone'::pg_catalog.text AS attribute, v.phone AS value, NULL::pg_catalog.text AS company,
           (SELECT pg_catalog.count(*) FROM (SELECT FROM @extschema@.identity_record r WHERE r.phone OPERATOR(pg_catalog.=) v.phone
                                   LIMIT max_block OPERATOR(pg_catalog.+) 1) x) AS n
      FROM (SELECT DISTINCT v.phone FROM identity_vals v WHERE v.phone IS NOT NULL) v
    UNION ALL
    SELECT 'email', v.email, NULL,
           (SELECT pg_catalog.count(*) FROM (SELECT FROM @extschema@.identity_record r WHERE r.email OPERATOR(pg_catalog.=) v.email
                                   LIMIT max_block OPERATOR(pg_catalog.+) 1) x)
      FROM (SELECT DISTINCT v.email FROM identity_vals v WHERE v.email IS NOT NULL) v
    UNION ALL
    SELECT 'name_key', v.name_key, NULL,
           (SELECT pg_catalog.count(*) FROM (SELECT FROM @extschema@.identity_record r WHERE r.name_key OPERATOR(pg_catalog.=) v.name_key
                                   LIMIT max_block OPERATOR(pg_catalog.+) 1) x)
      FROM (SELECT DISTINCT v.name_key FROM identity_vals v WHERE v.name_key IS NOT NULL) v
    UNION ALL
    SELECT 'name_company', v.name_key, v.company,
           (SELECT pg_catalog.count(*) FROM (SELECT FROM @extschema@.identity_record r WHERE r.name_key OPERATOR(pg_catalog.=) v.name_key
                                   AND r.company OPERATOR(pg_catalog.=) v.company LIMIT max_block OPERATOR(pg_catalog.+) 1) x)
      FROM (SELECT DISTINCT v.name_key, v.company FROM identity_vals v
             WHERE v.name_key IS NOT NULL AND v.company IS NOT NULL) v
    UNION ALL
    SELECT 'id_number', v.id_number, NULL,
           (SELECT pg_catalog.count(*) FROM @extschema@.identity_record r WHERE r.id_number OPERATOR(pg_catalog.=) v.id_number)
      FROM (SELECT DISTINCT v.id_number FROM identity_vals v WHERE v.id_number IS NOT NULL) v;

  RAISE DEBUG 'concord.resolve_incremental: changed rows read after % ms', pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  -- scope.  Core: the changed rows and every row of the customers they
  -- belonged to, clustered afresh.  (Neighbours, the rows sharing a value
  -- with a changed row, are read with them by identity_cluster: see
  -- identity_neighbours.)  Each row of the scope carries its normalized
  -- values, read once here, and its customer before the run.
  CREATE TEMP TABLE identity_scope (
    source text, key text, old_customer_id bigint, old_how text, old_score double precision,
    core boolean, changed boolean, present boolean,
    name_key text, syllables text, phone text, email text, company text, address text, id_number text, extra jsonb,
    company_written text)
    ON COMMIT DROP;
  -- (present: a changed row deleted at the source is not)
  INSERT INTO identity_scope
    SELECT c.source, c.key, l.customer_id, l.how, l.score, true, true, r.source IS NOT NULL,
           r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra,
           CASE WHEN r.company IS NOT NULL THEN r.original OPERATOR(pg_catalog.->>) 'company' END
      FROM identity_changed c
      LEFT JOIN @extschema@.identity_record r ON r.source OPERATOR(pg_catalog.=) c.source AND r.key OPERATOR(pg_catalog.=) c.key
      LEFT JOIN @extschema@.customer_link l ON l.source OPERATOR(pg_catalog.=) c.source AND l.key OPERATOR(pg_catalog.=) c.key;
  INSERT INTO identity_scope
    SELECT l2.source, l2.key, l2.customer_id, l2.how, l2.score, true, false, true,
           r.name_key, r.syllables, r.phone, r.email, r.company, r.address, r.id_number, r.extra,
           CASE WHEN r.company IS NOT NULL THEN r.original OPERATOR(pg_catalog.->>) 'company' END
      FROM (SELECT DISTINCT sc.old_customer_id FROM identity_scope sc WHERE sc.old_customer_id IS NOT NULL) c
      JOIN @extschema@.customer_link l2 ON l2.customer_id OPERATOR(pg_catalog.=) c.old_customer_id
      JOIN @extschema@.identity_record r ON r.source OPERATOR(pg_catalog.=) l2.source AND r.key OPERATOR(pg_catalog.=) l2.key
     WHERE NOT EXISTS (SELECT 1 FROM identity_changed x WHERE x.source OPERATOR(pg_catalog.=) l2.source AND x.key OPERATOR(pg_catalog.=) l2.key);
  ANALYZE identity_scope (source, key, core, changed, old_customer_id);

  RAISE DEBUG 'concord.resolve_incremental: % rows of the changed rows'' customers after % ms', (SELECT pg_catalog.count(*) FROM identity_scope),
    pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0) OPERATOR(pg_catalog.*) 1000);
  RETURN QUERY SELECT * FROM @extschema@.identity_apply(max_block, true);
END
$fn$;
COMMENT ON FUNCTION @extschema@.resolve_incremental(integer) IS
  'Resolves only what changed since the last resolve: the queued rows, the rows sharing a value with them and the customers they belong to; gives what a full resolve would';

CREATE FUNCTION @extschema@.customer_merge(a bigint, b bigint, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
AS $fn$
DECLARE
  ra record;
  rb record;
  survivor bigint;
BEGIN
  IF a IS NULL OR b IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'customer_merge needs two customer IDs and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF a OPERATOR(pg_catalog.=) b THEN
    RAISE EXCEPTION 'cannot merge customer % with itself', a USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT l.source, l.key INTO ra FROM @extschema@.customer_link l WHERE l.customer_id OPERATOR(pg_catalog.=) a
   ORDER BY l.source COLLATE "C", l.key COLLATE "C" LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % does not exist', a USING ERRCODE = 'no_data_found',
      HINT = 'A merged ID lives on as concord.customer_id_now(id).';
  END IF;
  SELECT l.source, l.key INTO rb FROM @extschema@.customer_link l WHERE l.customer_id OPERATOR(pg_catalog.=) b
   ORDER BY l.source COLLATE "C", l.key COLLATE "C" LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % does not exist', b USING ERRCODE = 'no_data_found',
      HINT = 'A merged ID lives on as concord.customer_id_now(id).';
  END IF;
  -- a merge undoes any split between the two
  DELETE FROM @extschema@.identity_constraint c
   WHERE c.kind OPERATOR(pg_catalog.=) 'cannot_link'
     AND ((c.source_a, c.key_a) OPERATOR(pg_catalog.=) ANY (SELECT l.source, l.key FROM @extschema@.customer_link l
                                                            WHERE l.customer_id OPERATOR(pg_catalog.=) ANY (ARRAY[a, b])))
     AND ((c.source_b, c.key_b) OPERATOR(pg_catalog.=) ANY (SELECT l.source, l.key FROM @extschema@.customer_link l
                                                            WHERE l.customer_id OPERATOR(pg_catalog.=) ANY (ARRAY[a, b])));
  -- (its author is the caller: CURRENT_USER here is concord's owner)
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason, created_by)
  VALUES ('must_link', ra.source, ra.key, rb.source, rb.key, reason, pg_catalog.pg_get_userbyid(@extschema@.caller()));
  -- the two customers are resolved again (with whatever else is queued)
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (ra.source, ra.key), (rb.source, rb.key);
  PERFORM @extschema@.resolve_incremental();
  SELECT l.customer_id INTO survivor FROM @extschema@.customer_link l WHERE (l.source, l.key) OPERATOR(pg_catalog.=) (ra.source, ra.key);
  RETURN survivor;
END
$fn$;
COMMENT ON FUNCTION @extschema@.customer_merge(bigint, bigint, text) IS
  'Makes two customers one, for good (a must-link kept across resolves); resolves the two again and returns the surviving ID';

CREATE FUNCTION @extschema@.customer_split(source text, key text, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
AS $fn$
#variable_conflict use_variable
DECLARE
  cid bigint;
  n int;
BEGIN
  IF source IS NULL OR key IS NULL OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'customer_split needs a source, a key and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT l.customer_id INTO cid FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) source AND l.key OPERATOR(pg_catalog.=) key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key, source
      USING ERRCODE = 'no_data_found',
            HINT = 'Rows are linked by concord.resolve().';
  END IF;
  -- the row is not any of its customer's other rows, and stays so
  DELETE FROM @extschema@.identity_constraint c
   WHERE c.kind OPERATOR(pg_catalog.=) 'must_link'
     AND ((c.source_a OPERATOR(pg_catalog.=) source AND c.key_a OPERATOR(pg_catalog.=) key) OR (c.source_b OPERATOR(pg_catalog.=) source AND c.key_b OPERATOR(pg_catalog.=) key));
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason, created_by)
  SELECT 'cannot_link', source, key, l.source, l.key, reason, pg_catalog.pg_get_userbyid(@extschema@.caller())
    FROM @extschema@.customer_link l
   WHERE l.customer_id OPERATOR(pg_catalog.=) cid AND (l.source, l.key) OPERATOR(pg_catalog.<>) (source, key);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'row "%" of identity source "%" is the only row of customer %', key, source, cid
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (source, key);
  PERFORM @extschema@.resolve_incremental();
  SELECT l.customer_id INTO cid FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) source AND l.key OPERATOR(pg_catalog.=) key;
  RETURN cid;
END
$fn$;
COMMENT ON FUNCTION @extschema@.customer_split(text, text, text) IS
  'Takes a source row out of its customer, for good (cannot-links kept across resolves); resolves its customer again and returns the row''s new customer ID';

CREATE FUNCTION @extschema@.identity_review_decide(
  source_a text, key_a text, source_b text, key_b text, same boolean, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET concord.run_as = 'owner_temp'
AS $fn$
#variable_conflict use_variable
BEGIN
  IF source_a IS NULL OR key_a IS NULL OR source_b IS NULL OR key_b IS NULL OR same IS NULL
     OR reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'identity_review_decide needs two rows (source and key each), a decision and a reason'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF (source_a, key_a) OPERATOR(pg_catalog.=) (source_b, key_b) THEN
    RAISE EXCEPTION 'row "%" of identity source "%" cannot be compared with itself', key_a, source_a
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) source_a AND l.key OPERATOR(pg_catalog.=) key_a) THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key_a, source_a
      USING ERRCODE = 'no_data_found', HINT = 'Rows are linked by concord.resolve().';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) source_b AND l.key OPERATOR(pg_catalog.=) key_b) THEN
    RAISE EXCEPTION 'no row "%" of identity source "%" is linked to a customer', key_b, source_b
      USING ERRCODE = 'no_data_found', HINT = 'Rows are linked by concord.resolve().';
  END IF;
  -- a new decision replaces an earlier one about the same two rows
  DELETE FROM @extschema@.identity_constraint c
   WHERE (c.source_a, c.key_a, c.source_b, c.key_b) OPERATOR(pg_catalog.=) (source_a, key_a, source_b, key_b)
      OR (c.source_a, c.key_a, c.source_b, c.key_b) OPERATOR(pg_catalog.=) (source_b, key_b, source_a, key_a);
  INSERT INTO @extschema@.identity_constraint (kind, source_a, key_a, source_b, key_b, reason, created_by)
  VALUES (CASE WHEN same THEN 'must_link' ELSE 'cannot_link' END, source_a, key_a, source_b, key_b, reason,
          pg_catalog.pg_get_userbyid(@extschema@.caller()));
  DELETE FROM @extschema@.identity_review v
   WHERE (v.source_a, v.key_a, v.source_b, v.key_b) OPERATOR(pg_catalog.=) (source_a, key_a, source_b, key_b)
      OR (v.source_a, v.key_a, v.source_b, v.key_b) OPERATOR(pg_catalog.=) (source_b, key_b, source_a, key_a);
  INSERT INTO @extschema@.identity_queue (source, key) VALUES (source_a, key_a), (source_b, key_b);
  PERFORM @extschema@.resolve_incremental();
  RETURN (SELECT l.customer_id FROM @extschema@.customer_link l WHERE l.source OPERATOR(pg_catalog.=) source_a AND l.key OPERATOR(pg_catalog.=) key_a);
END
$fn$;
COMMENT ON FUNCTION @extschema@.identity_review_decide(text, text, text, text, boolean, text) IS
  'Decides a pair of rows under review: the same customer (a must-link) or not (a cannot-link), kept across resolves and audited; resolves the two again and returns the customer ID of the first row';

-- (one pair per two customers: the strongest; incremental runs can leave
-- an older pair of the same two beside a new one)
CREATE VIEW @extschema@.customer_review AS
  SELECT DISTINCT ON (LEAST(la.customer_id, lb.customer_id), GREATEST(la.customer_id, lb.customer_id))
         v.score, la.customer_id AS customer_a, lb.customer_id AS customer_b,
         v.source_a, v.key_a, v.source_b, v.key_b, ra.original AS row_a, rb.original AS row_b, v.found_at
  FROM @extschema@.identity_review v
       JOIN @extschema@.customer_link la ON la.source = v.source_a AND la.key = v.key_a
       JOIN @extschema@.customer_link lb ON lb.source = v.source_b AND lb.key = v.key_b
       JOIN @extschema@.identity_record ra ON ra.source = v.source_a AND ra.key = v.key_a
       JOIN @extschema@.identity_record rb ON rb.source = v.source_b AND rb.key = v.key_b
  WHERE la.customer_id <> lb.customer_id
  ORDER BY LEAST(la.customer_id, lb.customer_id), GREATEST(la.customer_id, lb.customer_id), v.score DESC,
           v.source_a, v.key_a, v.source_b, v.key_b;
COMMENT ON VIEW @extschema@.customer_review IS
  'The review queue: two customers that may be one, the pair of rows that says so with its score and the rows as their sources wrote them (query ORDER BY score DESC; decide with identity_review_decide, explain with why_matched)';

CREATE VIEW @extschema@.customer_360 AS
  SELECT c.*,
         (SELECT jsonb_object_agg(x.source, x.n) FROM (SELECT l.source, count(*) AS n FROM @extschema@.customer_link l
                                                        WHERE l.customer_id = c.customer_id GROUP BY l.source) x) AS rows_by_source,
         (SELECT jsonb_object_agg(x.event, jsonb_build_object('count', x.n, 'latest', x.latest, 'label', x.label))
            FROM (SELECT e.event, min(e.label) AS label, count(*) AS n, max(e.at) AS latest
                    FROM @extschema@.customer_event e WHERE e.customer_id = c.customer_id GROUP BY e.event) x) AS events,
         (SELECT max(e.at) FROM @extschema@.customer_event e WHERE e.customer_id = c.customer_id) AS last_event_at
  FROM @extschema@.customer c;
COMMENT ON VIEW @extschema@.customer_360 IS
  'The golden record, the rows each source has for the customer, and per mapped event its count and latest time';

CREATE VIEW @extschema@.customer_timeline AS
  SELECT e.customer_id, e.at, e.event, e.label, e.source, e.key, e.detail
  FROM @extschema@.customer_event e;
COMMENT ON VIEW @extschema@.customer_timeline IS
  'Every event about a customer from all sources (query it ORDER BY customer_id, at)';

CREATE FUNCTION @extschema@.customer_id_now(customer_id bigint)
RETURNS bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  WITH RECURSIVE hop(id, depth) AS (
    SELECT customer_id_now.customer_id, 0
    UNION ALL
    SELECT h.other_id, hop.depth OPERATOR(pg_catalog.+) 1
      FROM hop JOIN @extschema@.customer_id_history h ON h.customer_id OPERATOR(pg_catalog.=) hop.id AND h.event OPERATOR(pg_catalog.=) 'merged'
     WHERE hop.depth OPERATOR(pg_catalog.<) 100)
  SELECT id FROM hop ORDER BY depth DESC LIMIT 1;
END;
COMMENT ON FUNCTION @extschema@.customer_id_now(bigint) IS 'Where customer ID X went: the ID it was merged into, following merges (X itself if it still stands)';

-- every function above is for concord_identity, none for PUBLIC
SELECT @extschema@.grant_routines('concord_identity', ARRAY[
    'identity_source_create(text, regclass, text, jsonb, integer, boolean)', 'identity_source_drop(text)',
    'identity_event_create(text, regclass, text, text, text, text, text[])', 'identity_event_drop(text)',
    'customer_merge(bigint, bigint, text)', 'customer_split(text, text, text)',
    'resolve(integer)', 'resolve_incremental(integer)', 'why_matched(text, text, text, text)',
    'identity_train(boolean, integer, integer, integer)',
    'identity_review_decide(text, text, text, text, boolean, text)',
    'identity_attribute_create(text, text, double precision, boolean, double precision, double precision, double precision)',
    'identity_attribute_drop(text)', 'identity_survivorship_set(text, text)',
    'identity_blocking_rule_create(text, text[], text)', 'identity_blocking_rule_drop(text)',
    'identity_blocking_reach(regclass, integer)', 'identity_blocking_rule_value(text[], text)',
    'identity_placeholder_set(text, text, boolean)', 'identity_placeholder_drop(text, text)',
    -- the old names, deprecated in 0.2
    'identity_estimate_weights(integer, boolean)',
    'identity_source_add(text, regclass, text, jsonb, integer, boolean)',
    'identity_event_add(text, regclass, text, text, text, text, text[])',
    'identity_attribute_add(text, text, double precision, boolean, double precision, double precision, double precision)']);
REVOKE ALL ON @extschema@.identity_source, @extschema@.identity_record, @extschema@.customer_link,
  @extschema@.identity_value_stat, @extschema@.identity_population,
  @extschema@.identity_queue, @extschema@.identity_weight, @extschema@.identity_review, @extschema@.customer_review,
  @extschema@.identity_attribute, @extschema@.identity_survivorship, @extschema@.identity_blocking_rule,
  @extschema@.identity_placeholder_value, @extschema@.identity_constraint, @extschema@.identity_event, @extschema@.customer_event,
  @extschema@.customer_timeline,
  @extschema@.customer_id_history, @extschema@.customer, @extschema@.customer_360 FROM PUBLIC;
-- members of concord_identity read everything identity holds; only its
-- API (run as concord's owner) writes it
GRANT SELECT ON @extschema@.identity_source, @extschema@.identity_record, @extschema@.customer_link, @extschema@.customer,
  @extschema@.customer_id_history, @extschema@.identity_value_stat, @extschema@.identity_population,
  @extschema@.identity_constraint, @extschema@.identity_weight, @extschema@.identity_attribute,
  @extschema@.identity_survivorship, @extschema@.identity_queue, @extschema@.identity_review, @extschema@.identity_blocking_rule,
  @extschema@.identity_placeholder_value, @extschema@.customer_review, @extschema@.customer_360, @extschema@.customer_timeline,
  @extschema@.identity_event, @extschema@.customer_event TO concord_identity;
-- (internal: run by resolve, as concord's owner)
REVOKE EXECUTE ON FUNCTION @extschema@.identity_cluster(integer, boolean), @extschema@.identity_neighbours(integer),
  @extschema@.identity_detect_placeholders(), @extschema@.identity_train_fit(integer, integer, integer),
  @extschema@.identity_train_store(boolean, integer, integer, integer, integer),
  @extschema@.identity_train_save(boolean, integer),
  @extschema@.identity_golden(boolean), @extschema@.identity_load(text, text[]), @extschema@.identity_bulk_indexes(text, boolean),
  @extschema@.identity_analyze(boolean), @extschema@.identity_apply(integer, boolean) FROM PUBLIC;
