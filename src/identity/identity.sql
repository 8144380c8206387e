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
