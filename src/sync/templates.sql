/* concord — sync templates: ready sources for the systems departments use.
 *
 * A template turns a few parameters (the table, the secrets, the object)
 * into a complete source spec for one vendor's API, written from the
 * vendor's public API documentation: its paths, paging, authentication,
 * error codes and incremental filter.  concord.source_template_spec()
 * shows the spec; concord.source_create_from_template() creates the
 * source with it (checked like any other spec: secrets the caller may use,
 * credentials only to the API's origin).  Templates only build JSON: they
 * run as the caller and read nothing.  docs/sync.md has one page per
 * template.
 *
 * What the templates share is written once: their parameters and the
 * columns they make are data (template_def, template_columns), and
 * source_template_spec checks the parameters and puts every spec together;
 * a vendor's function (template_<vendor>) returns only what is its own
 * (request, auth, paging, records, errors, and any departure from the
 * common target and mode).
 */

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.template_args(template text, params jsonb, defaults jsonb, required text[])
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  k text;
  known text;
BEGIN
  known := pg_catalog.array_to_string(ARRAY(SELECT x FROM pg_catalog.unnest(required) x
                                            UNION SELECT pg_catalog.jsonb_object_keys(defaults) ORDER BY 1), ', ');
  IF params IS NULL OR pg_catalog.jsonb_typeof(params) OPERATOR(pg_catalog.<>) 'object' THEN
    RAISE EXCEPTION 'parameters of template "%" must be a JSON object', template
      USING ERRCODE = 'invalid_parameter_value', HINT = pg_catalog.format('Its parameters: %s.', known);
  END IF;
  FOR k IN SELECT pg_catalog.jsonb_object_keys(params) LOOP
    IF NOT (defaults OPERATOR(pg_catalog.?) k OR k OPERATOR(pg_catalog.=) ANY (required)) THEN
      RAISE EXCEPTION 'unknown parameter "%" for template "%"', k, template
        USING ERRCODE = 'invalid_parameter_value', HINT = pg_catalog.format('Its parameters: %s.', known);
    END IF;
  END LOOP;
  FOREACH k IN ARRAY required LOOP
    IF pg_catalog.jsonb_typeof(params OPERATOR(pg_catalog.->) k) IS NULL
       OR pg_catalog.jsonb_typeof(params OPERATOR(pg_catalog.->) k) OPERATOR(pg_catalog.=) 'null' THEN
      RAISE EXCEPTION 'template "%" needs parameter "%"', template, k
        USING ERRCODE = 'invalid_parameter_value', HINT = pg_catalog.format('Its parameters: %s.', known);
    END IF;
  END LOOP;
  -- a parameter keeps the JSON type of its default
  FOR k IN SELECT pg_catalog.jsonb_object_keys(params) LOOP
    IF defaults OPERATOR(pg_catalog.?) k
       AND pg_catalog.jsonb_typeof(defaults OPERATOR(pg_catalog.->) k) OPERATOR(pg_catalog.<>) 'null'
       AND pg_catalog.jsonb_typeof(params OPERATOR(pg_catalog.->) k)
           OPERATOR(pg_catalog.<>) pg_catalog.jsonb_typeof(defaults OPERATOR(pg_catalog.->) k) THEN
      RAISE EXCEPTION 'parameter "%" of template "%" must be a JSON %, not %', k, template,
        pg_catalog.jsonb_typeof(defaults OPERATOR(pg_catalog.->) k), params OPERATOR(pg_catalog.->) k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  RETURN defaults OPERATOR(pg_catalog.||) params;
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_args(text, jsonb, jsonb, text[]) IS
  'A template''s parameters checked (no unknown one, the required ones there, each of its default''s JSON type) and completed with the defaults';

CREATE FUNCTION @extschema@.template_secret(template text, params jsonb, name text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v jsonb := params OPERATOR(pg_catalog.->) name;
BEGIN
  IF v IS NULL OR pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'null' THEN
    RETURN NULL;
  END IF;
  IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'string' THEN
    RETURN pg_catalog.jsonb_build_object('secret', v);
  END IF;
  IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'object' AND v OPERATOR(pg_catalog.?) 'secret' THEN
    RETURN v;
  END IF;
  RAISE EXCEPTION 'parameter "%" of template "%" must name a secret, as "name" or {"secret": "name"}', name, template
    USING ERRCODE = 'invalid_parameter_value',
          HINT = 'Store the credential with concord.secret_set(name, value) and give its name.';
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_secret(text, jsonb, text) IS
  'A template''s credential parameter as a secret reference: "name" or {"secret": "name"} gives {"secret": "name"}';

CREATE FUNCTION @extschema@.template_choice(template text, params jsonb, name text, choices text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v text := params OPERATOR(pg_catalog.->>) name;
BEGIN
  IF v IS NULL OR NOT v OPERATOR(pg_catalog.=) ANY (choices) THEN
    RAISE EXCEPTION 'parameter "%" of template "%" must be one of %, not %', name, template,
      pg_catalog.array_to_string(choices, ', '), coalesce(v, 'null')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN v;
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_choice(text, jsonb, text, text[]) IS
  'A template''s parameter that must be one of a few words';

-- A column spec: name, path, and a type when not text.
CREATE FUNCTION @extschema@.template_column(name text, path text, type text DEFAULT NULL, format text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('name', name, 'path', path, 'type', type,
                                                                  'format', format));
COMMENT ON FUNCTION @extschema@.template_column(text, text, text, text) IS
  'One column of a template''s spec: {"name", "path", "type", "format"}, nulls left out';

-- The mode of a template's spec: full refresh (deletes as asked), or incremental.
CREATE FUNCTION @extschema@.template_mode(template text, params jsonb, incremental jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF (params OPERATOR(pg_catalog.->>) 'incremental')::boolean THEN
    IF (params OPERATOR(pg_catalog.->>) 'deletes') OPERATOR(pg_catalog.<>) 'none' THEN
      RAISE EXCEPTION 'template "%": deletes needs incremental false (a full refresh sees what is gone)', template
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_catalog.jsonb_build_object('type', 'incremental') OPERATOR(pg_catalog.||) incremental;
  END IF;
  RETURN pg_catalog.jsonb_build_object('type', 'full_refresh', 'delete',
           @extschema@.template_choice(template, params, 'deletes', ARRAY['none', 'delete', 'soft_delete']))
         OPERATOR(pg_catalog.||)
         CASE WHEN (params OPERATOR(pg_catalog.->>) 'deletes') OPERATOR(pg_catalog.=) 'soft_delete'
              THEN '{"soft_delete_column": "deleted"}'::pg_catalog.jsonb ELSE '{}'::pg_catalog.jsonb END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_mode(text, jsonb, jsonb) IS
  'The mode of a template''s spec: incremental as given when the parameter incremental is true, else a full refresh with the deletes asked';

------------------------------------------------------------------------------
-- What the templates are made of: data
------------------------------------------------------------------------------

-- Each template's parameters (the defaults of the optional ones, the
-- required ones), the parameter that picks what it syncs with its
-- choices, and whether the vendor's API can filter on changes
-- (incremental runs).  source_template_spec checks the parameters with
-- these before a template's function sees them.
CREATE FUNCTION @extschema@.template_def(template text)
RETURNS TABLE (defaults jsonb, required text[], pick text, choices text[], changes boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT d.defaults::pg_catalog.jsonb, d.required, d.pick, d.choices, d.changes
  FROM (VALUES
    ('stripe', '{"object": "customers", "base_url": "https://api.stripe.com", "incremental": false, "deletes": "none"}',
     ARRAY['table', 'api_key'], 'object', ARRAY['customers', 'charges', 'invoices'], true),
    ('github', '{"state": "all", "base_url": "https://api.github.com", "incremental": true, "deletes": "none"}',
     ARRAY['table', 'owner', 'repo', 'token'], 'state', ARRAY['open', 'closed', 'all'], true),
    ('salesforce', '{"object": "Account", "fields": null, "api_version": "v59.0", "batch_size": 2000, "refresh_token": null,
                     "incremental": true, "deletes": "none"}',
     ARRAY['table', 'instance_url', 'client_id', 'client_secret'], 'object', ARRAY['Account', 'Contact', 'Opportunity'], true),
    ('hubspot', '{"object": "contacts", "properties": null, "token": null, "client_id": null, "client_secret": null,
                  "refresh_token": null, "base_url": "https://api.hubapi.com", "incremental": true, "deletes": "none"}',
     ARRAY['table'], 'object', ARRAY['contacts', 'companies', 'deals'], true),
    ('shopify', '{"resource": "orders", "shop": null, "base_url": null, "api_version": "2024-01", "incremental": true,
                  "deletes": "none"}',
     ARRAY['table', 'token'], 'resource', ARRAY['customers', 'orders', 'products'], true),
    ('jira', '{"site": null, "base_url": null, "project": null, "jql": null, "incremental": true, "deletes": "none"}',
     ARRAY['table', 'email', 'api_token'], NULL, NULL, true),
    ('dingtalk', '{"object": "users", "dept_id": 1, "base_url": "https://oapi.dingtalk.com", "incremental": false,
                   "deletes": "none"}',
     ARRAY['table', 'app_key', 'app_secret'], 'object', ARRAY['users', 'departments'], false),
    ('wecom', '{"object": "user_ids", "department_id": 1, "base_url": "https://qyapi.weixin.qq.com", "incremental": false,
                "deletes": "none"}',
     ARRAY['table', 'corp_id', 'corp_secret'], 'object', ARRAY['user_ids', 'departments', 'users'], false),
    ('feishu', '{"object": "users", "department_id": "0", "base_url": "https://open.feishu.cn", "incremental": false,
                 "deletes": "none"}',
     ARRAY['table', 'app_id', 'app_secret'], 'object', ARRAY['users', 'departments'], false),
    ('yonyou', '{"auth_url": null, "incremental": true, "deletes": "none"}',
     ARRAY['table', 'base_url', 'app_key', 'app_secret'], NULL, NULL, true)
  ) AS d(template, defaults, required, pick, choices, changes)
  WHERE d.template OPERATOR(pg_catalog.=) template_def.template;
END;
COMMENT ON FUNCTION @extschema@.template_def(text) IS
  'What a template takes: its optional parameters with their defaults, the required ones, the parameter that picks what it syncs and its choices, whether its API filters on changes';

-- The columns a template makes of what it syncs (object: its choice of the
-- picking parameter, '' for a template without one), one word list a
-- column: "name path [type [format]]".  Salesforce and HubSpot make theirs
-- from the fields asked for.
CREATE FUNCTION @extschema@.template_columns(template text, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT pg_catalog.jsonb_agg(@extschema@.template_column(pg_catalog.split_part(u.c, ' ', 1), pg_catalog.split_part(u.c, ' ', 2),
                                                          NULLIF(pg_catalog.split_part(u.c, ' ', 3), ''),
                                                          NULLIF(pg_catalog.split_part(u.c, ' ', 4), ''))
                              ORDER BY u.n)
  FROM (VALUES
    ('stripe', 'customers', ARRAY['id $.id', 'email $.email', 'name $.name', 'phone $.phone', 'description $.description',
       'city $.address.city', 'currency $.currency', 'balance $.balance bigint', 'delinquent $.delinquent boolean',
       'metadata $.metadata jsonb', 'created $.created timestamptz epoch']),
    ('stripe', 'charges', ARRAY['id $.id', 'customer $.customer', 'amount $.amount bigint',
       'amount_refunded $.amount_refunded bigint', 'currency $.currency', 'status $.status', 'paid $.paid boolean',
       'description $.description', 'metadata $.metadata jsonb', 'created $.created timestamptz epoch']),
    ('stripe', 'invoices', ARRAY['id $.id', 'customer $.customer', 'number $.number', 'status $.status',
       'currency $.currency', 'amount_due $.amount_due bigint', 'amount_paid $.amount_paid bigint', 'total $.total bigint',
       'period_start $.period_start timestamptz epoch', 'period_end $.period_end timestamptz epoch',
       'created $.created timestamptz epoch']),
    ('github', '', ARRAY['id $.id bigint', 'number $.number integer', 'title $.title', 'state $.state',
       'author $.user.login', 'assignee $.assignee.login', 'labels $.labels[*].name text[]', 'comments $.comments integer',
       'pull_request $.pull_request.url', 'body $.body', 'created_at $.created_at timestamptz',
       'updated_at $.updated_at timestamptz', 'closed_at $.closed_at timestamptz']),
    ('hubspot', '', ARRAY['created_at $.createdAt timestamptz', 'updated_at $.updatedAt timestamptz',
       'archived $.archived boolean']),
    ('shopify', 'customers', ARRAY['id $.id bigint', 'email $.email', 'first_name $.first_name', 'last_name $.last_name',
       'phone $.phone', 'state $.state', 'orders_count $.orders_count integer', 'total_spent $.total_spent numeric',
       'currency $.currency', 'tags $.tags', 'city $.default_address.city', 'created_at $.created_at timestamptz',
       'updated_at $.updated_at timestamptz']),
    ('shopify', 'orders', ARRAY['id $.id bigint', 'name $.name', 'email $.email', 'customer_id $.customer.id bigint',
       'total_price $.total_price numeric', 'currency $.currency', 'financial_status $.financial_status',
       'fulfillment_status $.fulfillment_status', 'line_items $.line_items jsonb', 'cancelled_at $.cancelled_at timestamptz',
       'created_at $.created_at timestamptz', 'updated_at $.updated_at timestamptz']),
    ('shopify', 'products', ARRAY['id $.id bigint', 'title $.title', 'vendor $.vendor', 'product_type $.product_type',
       'status $.status', 'variants $.variants jsonb', 'created_at $.created_at timestamptz',
       'updated_at $.updated_at timestamptz']),
    ('jira', '', ARRAY['id $.id bigint', 'key $.key', 'project $.fields.project.key', 'summary $.fields.summary',
       'status $.fields.status.name', 'issue_type $.fields.issuetype.name', 'priority $.fields.priority.name',
       'assignee $.fields.assignee.displayName', 'assignee_id $.fields.assignee.accountId',
       'reporter $.fields.reporter.displayName', 'labels $.fields.labels text[]', 'created $.fields.created timestamptz',
       'updated $.fields.updated timestamptz']),
    ('dingtalk', 'users', ARRAY['userid $.userid', 'unionid $.unionid', 'name $.name', 'mobile $.mobile', 'email $.email',
       'title $.title', 'job_number $.job_number', 'dept_id_list $.dept_id_list bigint[]',
       'hired_date $.hired_date timestamptz epoch_ms', 'active $.active boolean', 'admin $.admin boolean',
       'leader $.leader boolean']),
    ('dingtalk', 'departments', ARRAY['dept_id $.dept_id bigint', 'name $.name', 'parent_id $.parent_id bigint',
       'auto_add_user $.auto_add_user boolean', 'create_dept_group $.create_dept_group boolean']),
    ('wecom', 'user_ids', ARRAY['userid $.userid', 'department $.department bigint']),
    ('wecom', 'departments', ARRAY['id $.id bigint', 'name $.name', 'name_en $.name_en', 'parentid $.parentid bigint',
       'order $.order bigint', 'department_leader $.department_leader text[]']),
    ('wecom', 'users', ARRAY['userid $.userid', 'name $.name', 'department $.department bigint[]',
       'main_department $.main_department bigint', 'position $.position', 'mobile $.mobile', 'email $.email',
       'gender $.gender', 'status $.status integer']),
    ('feishu', 'users', ARRAY['open_id $.open_id', 'union_id $.union_id', 'user_id $.user_id', 'name $.name',
       'en_name $.en_name', 'email $.email', 'mobile $.mobile', 'job_title $.job_title', 'employee_no $.employee_no',
       'city $.city', 'department_ids $.department_ids text[]', 'is_activated $.status.is_activated boolean',
       'is_resigned $.status.is_resigned boolean', 'join_time $.join_time timestamptz epoch']),
    ('feishu', 'departments', ARRAY['open_department_id $.open_department_id', 'department_id $.department_id',
       'name $.name', 'parent_department_id $.parent_department_id', 'leader_user_id $.leader_user_id',
       'member_count $.member_count integer', 'is_deleted $.status.is_deleted boolean']),
    ('yonyou', '', ARRAY['id $.id bigint', 'code $.code', 'name $.name.zh_CN', 'shortname $.shortname',
       'contact_name $.contactName', 'contact_tel $.contactTel', 'region $.region', 'stopped $.stopstatus boolean',
       'create_time $.createTime timestamp', 'pubts $.pubts timestamp'])
  ) AS t(template, object, cols),
  LATERAL pg_catalog.unnest(t.cols) WITH ORDINALITY AS u(c, n)
  WHERE t.template OPERATOR(pg_catalog.=) template_columns.template
    AND t.object OPERATOR(pg_catalog.=) coalesce(template_columns.object, '');
END;
COMMENT ON FUNCTION @extschema@.template_columns(text, text) IS
  'The columns of a template''s spec for what it syncs, from one word list a column ("name path [type [format]]")';

------------------------------------------------------------------------------
-- The templates: what is each vendor's own
------------------------------------------------------------------------------
-- Each function gets the checked parameters (p) and what they pick
-- (object), and returns the parts of the spec that are its vendor's:
-- syncs (the description's words), request, auth, pagination, records,
-- errors, and, where they are not the common ones, primary_key ("id"),
-- unmapped (true: the fields no column takes go to column "attributes"),
-- columns (template_columns) and incremental (the mode of an incremental
-- run, "{}").  source_template_spec puts the spec together.

-- Stripe: GET /v1/{customers|charges|invoices}, newest first, starting_after
-- the last id while has_more; a secret key as a bearer token; incremental on
-- created (Unix seconds) with created[gte].
CREATE FUNCTION @extschema@.template_stripe(p jsonb, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'Stripe ' OPERATOR(pg_catalog.||) object,
  'request', pg_catalog.jsonb_build_object('url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/v1/' OPERATOR(pg_catalog.||) object),
  'auth', pg_catalog.jsonb_build_object('type', 'bearer', 'token', @extschema@.template_secret('stripe', p, 'api_key')),
  'pagination', '{"type": "cursor", "cursor_param": "starting_after", "cursor_path": "$.data[-1].id",
                  "has_more_path": "$.has_more", "size_param": "limit", "size": 100}'::pg_catalog.jsonb,
  'records', '$.data[*]',
  'incremental', '{"cursor_column": "created", "cursor_param": "created[gte]", "lookback": "1 second"}'::pg_catalog.jsonb);
COMMENT ON FUNCTION @extschema@.template_stripe(jsonb, text) IS
  'Template stripe: customers, charges or invoices of a Stripe account (parameters: table, api_key; object, incremental, deletes, base_url)';

-- GitHub: GET /repos/{owner}/{repo}/issues (pull requests too), Link header
-- paging, a token as a bearer; incremental on updated_at with since.
CREATE FUNCTION @extschema@.template_github(p jsonb, state text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', pg_catalog.format('GitHub issues of %s/%s', p OPERATOR(pg_catalog.->>) 'owner', p OPERATOR(pg_catalog.->>) 'repo'),
  'request', pg_catalog.jsonb_build_object(
    'url', pg_catalog.format('%s/repos/%s/%s/issues', p OPERATOR(pg_catalog.->>) 'base_url',
                             p OPERATOR(pg_catalog.->>) 'owner', p OPERATOR(pg_catalog.->>) 'repo'),
    'params', pg_catalog.jsonb_build_object('state', state, 'sort', 'updated', 'direction', 'asc'),
    'headers', '{"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}'::pg_catalog.jsonb),
  'auth', pg_catalog.jsonb_build_object('type', 'bearer', 'token', @extschema@.template_secret('github', p, 'token')),
  'pagination', '{"type": "link_header", "size_param": "per_page", "size": 100}'::pg_catalog.jsonb,
  'records', '$[*]',
  'columns', @extschema@.template_columns('github', ''),
  'incremental', '{"cursor_column": "updated_at", "cursor_param": "since", "lookback": "1 second"}'::pg_catalog.jsonb);
COMMENT ON FUNCTION @extschema@.template_github(jsonb, text) IS
  'Template github: the issues (and pull requests) of a GitHub repository (parameters: table, owner, repo, token; state, incremental, deletes, base_url)';

-- The snake_case column name of a CamelCase field name (SystemModstamp -> system_modstamp).
CREATE FUNCTION @extschema@.template_snake(field text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN pg_catalog.lower(pg_catalog.regexp_replace(pg_catalog.regexp_replace(field,
         '([a-z0-9])([A-Z])', '\1_\2', 'g'), '([A-Z])([A-Z][a-z])', '\1_\2', 'g'));
COMMENT ON FUNCTION @extschema@.template_snake(text) IS
  'A CamelCase field name as a snake_case column name: SystemModstamp becomes system_modstamp';

-- Salesforce: SOQL through GET /services/data/v59.0/query, nextRecordsUrl
-- until done; OAuth2 (client credentials, or a refresh token) at the
-- My Domain's /services/oauth2/token; incremental on SystemModstamp
-- inside the query.
CREATE FUNCTION @extschema@.template_salesforce(p jsonb, object text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  fields text[];
  cols jsonb := '[]';
  f text;
  q text;
  auth jsonb;
BEGIN
  IF pg_catalog.jsonb_typeof(p OPERATOR(pg_catalog.->) 'fields') OPERATOR(pg_catalog.=) 'array' THEN
    fields := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p OPERATOR(pg_catalog.->) 'fields'));
  ELSIF pg_catalog.jsonb_typeof(p OPERATOR(pg_catalog.->) 'fields') OPERATOR(pg_catalog.<>) 'null' THEN
    RAISE EXCEPTION 'parameter "fields" of template "salesforce" must be an array of field names'
      USING ERRCODE = 'invalid_parameter_value';
  ELSE
    fields := CASE object
      WHEN 'Account' THEN ARRAY['Id', 'Name', 'Phone', 'Industry', 'BillingCity', 'AnnualRevenue', 'CreatedDate', 'SystemModstamp']
      WHEN 'Contact' THEN ARRAY['Id', 'FirstName', 'LastName', 'Email', 'Phone', 'AccountId', 'Title', 'CreatedDate', 'SystemModstamp']
      ELSE ARRAY['Id', 'Name', 'StageName', 'Amount', 'CloseDate', 'AccountId', 'Probability', 'CreatedDate', 'SystemModstamp']
    END;
  END IF;
  IF NOT 'Id' OPERATOR(pg_catalog.=) ANY (fields) THEN
    fields := ARRAY['Id'] OPERATOR(pg_catalog.||) fields;
  END IF;
  IF NOT 'SystemModstamp' OPERATOR(pg_catalog.=) ANY (fields) THEN
    fields := fields OPERATOR(pg_catalog.||) ARRAY['SystemModstamp'];
  END IF;
  FOREACH f IN ARRAY fields LOOP
    IF f !~ '^[A-Za-z][A-Za-z0-9_]*$' THEN
      RAISE EXCEPTION 'parameter "fields" of template "salesforce": "%" is not a field name', f
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(@extschema@.template_column(
      @extschema@.template_snake(f), '$.' OPERATOR(pg_catalog.||) f,
      CASE WHEN f IN ('CloseDate', 'Birthdate', 'LastActivityDate') THEN 'date'
           WHEN f IN ('CreatedDate', 'LastModifiedDate', 'SystemModstamp') OR f ~ 'Date$' THEN 'timestamptz'
           WHEN f IN ('Amount', 'AnnualRevenue', 'Probability', 'ExpectedRevenue') THEN 'numeric'
           WHEN f IN ('NumberOfEmployees') THEN 'integer'
           WHEN f ~ '^Is[A-Z]' OR f ~ '^Has[A-Z]' THEN 'boolean'
      END));
  END LOOP;
  q := pg_catalog.format('SELECT %s FROM %s', pg_catalog.array_to_string(fields, ', '), object);
  IF (p OPERATOR(pg_catalog.->>) 'incremental')::boolean THEN
    q := q OPERATOR(pg_catalog.||) ' WHERE SystemModstamp >= {cursor} ORDER BY SystemModstamp ASC';
  END IF;
  IF p OPERATOR(pg_catalog.->>) 'refresh_token' IS NOT NULL THEN
    auth := pg_catalog.jsonb_build_object('type', 'oauth2', 'grant_type', 'refresh_token',
      'refresh_token', @extschema@.template_secret('salesforce', p, 'refresh_token'));
  ELSE
    auth := '{"type": "oauth2", "grant_type": "client_credentials"}';
  END IF;
  auth := auth OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
    'token_url', (p OPERATOR(pg_catalog.->>) 'instance_url') OPERATOR(pg_catalog.||) '/services/oauth2/token',
    'client_id', p OPERATOR(pg_catalog.->>) 'client_id',
    'client_secret', @extschema@.template_secret('salesforce', p, 'client_secret'));
  RETURN pg_catalog.jsonb_build_object(
    'syncs', 'Salesforce ' OPERATOR(pg_catalog.||) object,
    'request', pg_catalog.jsonb_build_object(
      'url', pg_catalog.format('%s/services/data/%s/query', p OPERATOR(pg_catalog.->>) 'instance_url', p OPERATOR(pg_catalog.->>) 'api_version'),
      'params', pg_catalog.jsonb_build_object('q', q),
      'headers', pg_catalog.jsonb_build_object('Sforce-Query-Options',
                   'batchSize=' OPERATOR(pg_catalog.||) (p OPERATOR(pg_catalog.->>) 'batch_size'))),
    'auth', auth,
    'pagination', '{"type": "next_url", "next_url_path": "$.nextRecordsUrl", "done_path": "$.done",
                    "total_path": "$.totalSize"}'::pg_catalog.jsonb,
    'errors', '{"code_path": "$[0].errorCode", "message_path": "$[0].message",
                "token_expired": ["INVALID_SESSION_ID"], "retry": ["SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"]}'::pg_catalog.jsonb,
    'records', '$.records[*]',
    'columns', cols,
    'incremental', '{"cursor_column": "system_modstamp", "start": "1970-01-01T00:00:00Z",
                     "cursor_format": "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\""}'::pg_catalog.jsonb);
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_salesforce(jsonb, text) IS
  'Template salesforce: accounts, contacts or opportunities through SOQL (parameters: table, instance_url, client_id, client_secret; object, fields, refresh_token, incremental, deletes, api_version, batch_size)';

-- HubSpot CRM objects: GET /crm/v3/objects/{type} (paging.next.after) for
-- a full refresh, POST .../search filtered on the last-modified property
-- for incremental runs; a private app's token, or OAuth2 with a refresh token.
CREATE FUNCTION @extschema@.template_hubspot(p jsonb, object text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  modified text := CASE object WHEN 'contacts' THEN 'lastmodifieddate' ELSE 'hs_lastmodifieddate' END;
  props text[];
  cols jsonb;
  prop text;
  auth jsonb;
  base text := p OPERATOR(pg_catalog.->>) 'base_url';
BEGIN
  IF pg_catalog.jsonb_typeof(p OPERATOR(pg_catalog.->) 'properties') OPERATOR(pg_catalog.=) 'array' THEN
    props := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p OPERATOR(pg_catalog.->) 'properties'));
  ELSE
    props := CASE object
      WHEN 'contacts' THEN ARRAY['firstname', 'lastname', 'email', 'phone', 'company', 'city', 'lifecyclestage']
      WHEN 'companies' THEN ARRAY['name', 'domain', 'city', 'industry', 'phone', 'numberofemployees']
      ELSE ARRAY['dealname', 'amount', 'dealstage', 'pipeline', 'closedate']
    END;
  END IF;
  cols := pg_catalog.jsonb_build_array(@extschema@.template_column('id', '$.id', 'bigint'));
  FOREACH prop IN ARRAY props LOOP
    IF prop !~ '^[a-z][a-z0-9_]*$' THEN
      RAISE EXCEPTION 'parameter "properties" of template "hubspot": "%" is not a property name', prop
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(@extschema@.template_column(prop,
      pg_catalog.format('$.properties.%s', prop),
      CASE WHEN prop IN ('amount') THEN 'numeric' WHEN prop IN ('numberofemployees') THEN 'integer'
           WHEN prop IN ('closedate') THEN 'timestamptz' END));
  END LOOP;
  cols := cols OPERATOR(pg_catalog.||) @extschema@.template_columns('hubspot', '');
  IF p OPERATOR(pg_catalog.->>) 'token' IS NOT NULL THEN
    auth := pg_catalog.jsonb_build_object('type', 'bearer', 'token', @extschema@.template_secret('hubspot', p, 'token'));
  ELSIF p OPERATOR(pg_catalog.->>) 'refresh_token' IS NOT NULL THEN
    IF p OPERATOR(pg_catalog.->>) 'client_id' IS NULL OR p OPERATOR(pg_catalog.->>) 'client_secret' IS NULL THEN
      RAISE EXCEPTION 'template "hubspot" needs client_id and client_secret with refresh_token'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    auth := pg_catalog.jsonb_build_object('type', 'oauth2', 'grant_type', 'refresh_token',
      'token_url', base OPERATOR(pg_catalog.||) '/oauth/v1/token', 'client_id', p OPERATOR(pg_catalog.->>) 'client_id',
      'client_secret', @extschema@.template_secret('hubspot', p, 'client_secret'),
      'refresh_token', @extschema@.template_secret('hubspot', p, 'refresh_token'));
  ELSE
    RAISE EXCEPTION 'template "hubspot" needs parameter "token" (a private app''s access token) or "refresh_token" (OAuth2)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (p OPERATOR(pg_catalog.->>) 'incremental')::boolean THEN
    RETURN pg_catalog.jsonb_build_object(
      'syncs', 'HubSpot ' OPERATOR(pg_catalog.||) object,
      'request', pg_catalog.jsonb_build_object('url', pg_catalog.format('%s/crm/v3/objects/%s/search', base, object),
        'method', 'POST',
        'body', pg_catalog.jsonb_build_object(
          'filterGroups', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('filters', pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('propertyName', modified, 'operator', 'GTE', 'value', '{cursor}')))),
          'sorts', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('propertyName', modified, 'direction', 'ASCENDING')),
          'properties', pg_catalog.to_jsonb(props))),
      'auth', auth,
      'pagination', '{"type": "cursor", "in": "body", "cursor_param": "after", "cursor_path": "$.paging.next.after",
                      "size_param": "limit", "size": 100}'::pg_catalog.jsonb,
      'records', '$.results[*]',
      'columns', cols,
      'incremental', '{"cursor_column": "updated_at", "cursor_format": "epoch_ms", "start": "1970-01-01T00:00:00Z"}'::pg_catalog.jsonb);
  END IF;
  RETURN pg_catalog.jsonb_build_object(
    'syncs', 'HubSpot ' OPERATOR(pg_catalog.||) object,
    'request', pg_catalog.jsonb_build_object('url', pg_catalog.format('%s/crm/v3/objects/%s', base, object),
      'params', pg_catalog.jsonb_build_object('properties', pg_catalog.array_to_string(props, ','), 'archived', 'false')),
    'auth', auth,
    'pagination', '{"type": "cursor", "cursor_param": "after", "cursor_path": "$.paging.next.after",
                    "size_param": "limit", "size": 100}'::pg_catalog.jsonb,
    'records', '$.results[*]',
    'columns', cols);
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_hubspot(jsonb, text) IS
  'Template hubspot: contacts, companies or deals of HubSpot CRM (parameters: table, and token, or client_id, client_secret and refresh_token; object, properties, incremental, deletes, base_url)';

-- A vendor's URL: base_url when given, else https://<name>.<domain> for the
-- account's name in parameter name_param (Shopify's shop, Jira's site).
CREATE FUNCTION @extschema@.template_site(template text, p jsonb, name_param text, domain text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p OPERATOR(pg_catalog.->>) 'base_url' IS NOT NULL THEN
    RETURN p OPERATOR(pg_catalog.->>) 'base_url';
  END IF;
  IF coalesce(p OPERATOR(pg_catalog.->>) name_param, '') !~ '^[a-z0-9][a-z0-9-]*$' THEN
    RAISE EXCEPTION 'template "%" needs parameter "%" (the name in <%>.%) or "base_url"', template, name_param, name_param, domain
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN pg_catalog.format('https://%s.%s', p OPERATOR(pg_catalog.->>) name_param, domain);
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_site(text, jsonb, text, text) IS
  'A template''s base URL: base_url, or https://<name>.<domain> for the account''s name (Shopify''s shop, Jira''s site)';

-- Shopify Admin REST: GET /admin/api/{version}/{resource}.json, Link header
-- with page_info (which takes no other filter), an access token in
-- X-Shopify-Access-Token; incremental on updated_at with updated_at_min.
CREATE FUNCTION @extschema@.template_shopify(p jsonb, resource text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'Shopify ' OPERATOR(pg_catalog.||) resource,
  'request', pg_catalog.jsonb_build_object(
    'url', pg_catalog.format('%s/admin/api/%s/%s.json', @extschema@.template_site('shopify', p, 'shop', 'myshopify.com'),
                             p OPERATOR(pg_catalog.->>) 'api_version', resource),
    'params', CASE WHEN resource OPERATOR(pg_catalog.=) 'orders' THEN '{"status": "any"}'::pg_catalog.jsonb ELSE '{}'::pg_catalog.jsonb END,
    'headers', pg_catalog.jsonb_build_object('X-Shopify-Access-Token', @extschema@.template_secret('shopify', p, 'token'))),
  'pagination', '{"type": "link_header", "size_param": "limit", "size": 250}'::pg_catalog.jsonb,
  'records', pg_catalog.format('$.%s[*]', resource),
  'incremental', '{"cursor_column": "updated_at", "cursor_param": "updated_at_min", "lookback": "1 second"}'::pg_catalog.jsonb);
COMMENT ON FUNCTION @extschema@.template_shopify(jsonb, text) IS
  'Template shopify: customers, orders or products of a Shopify store, Admin REST API (parameters: table, token, and shop or base_url; resource, api_version, incremental, deletes)';

-- Jira Cloud: GET /rest/api/3/search with JQL, startAt/maxResults/total,
-- basic auth with an account's e-mail and API token; incremental on
-- updated inside the JQL (minutes: JQL has no seconds).
CREATE FUNCTION @extschema@.template_jira(p jsonb, object text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  base text := @extschema@.template_site('jira', p, 'site', 'atlassian.net');
  jql text;
BEGIN
  IF p OPERATOR(pg_catalog.->>) 'project' IS NOT NULL AND (p OPERATOR(pg_catalog.->>) 'project') !~ '^[A-Z][A-Z0-9_]*$' THEN
    RAISE EXCEPTION 'parameter "project" of template "jira" must be a project key such as SUP, not %', p OPERATOR(pg_catalog.->) 'project'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  jql := coalesce(p OPERATOR(pg_catalog.->>) 'jql',
                  CASE WHEN p OPERATOR(pg_catalog.->>) 'project' IS NOT NULL
                       THEN 'project = ' OPERATOR(pg_catalog.||) (p OPERATOR(pg_catalog.->>) 'project') END);
  IF (p OPERATOR(pg_catalog.->>) 'incremental')::boolean THEN
    jql := CASE WHEN jql IS NULL THEN '' ELSE jql OPERATOR(pg_catalog.||) ' AND ' END
           OPERATOR(pg_catalog.||) 'updated >= "{cursor}" ORDER BY updated ASC';
  ELSE
    jql := coalesce(jql OPERATOR(pg_catalog.||) ' ', '') OPERATOR(pg_catalog.||) 'ORDER BY key ASC';
  END IF;
  RETURN pg_catalog.jsonb_build_object(
    'syncs', 'Jira Cloud issues',
    'request', pg_catalog.jsonb_build_object('url', base OPERATOR(pg_catalog.||) '/rest/api/3/search',
      'params', pg_catalog.jsonb_build_object('jql', jql,
        'fields', 'summary,status,issuetype,priority,assignee,reporter,labels,project,created,updated')),
    'auth', pg_catalog.jsonb_build_object('type', 'basic', 'username', p OPERATOR(pg_catalog.->>) 'email',
                                          'password', @extschema@.template_secret('jira', p, 'api_token')),
    'pagination', '{"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 100,
                    "total_path": "$.total"}'::pg_catalog.jsonb,
    'records', '$.issues[*]',
    'incremental', '{"cursor_column": "updated", "cursor_format": "YYYY/MM/DD HH24:MI", "lookback": "1 minute",
                     "start": "1970-01-01T00:00:00Z"}'::pg_catalog.jsonb);
END
$fn$;
COMMENT ON FUNCTION @extschema@.template_jira(jsonb, text) IS
  'Template jira: the issues of a Jira Cloud site found by JQL (parameters: table, email, api_token, and site or base_url; project, jql, incremental, deletes)';

-- DingTalk: an access_token from /gettoken for the app's key and secret,
-- sent as a query parameter; users of a department by cursor (in the JSON
-- body) while has_more, or its sub-departments; errcode in every answer.
CREATE FUNCTION @extschema@.template_dingtalk(p jsonb, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'DingTalk ' OPERATOR(pg_catalog.||) object,
  'request', pg_catalog.jsonb_build_object(
    'url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||)
           CASE WHEN object OPERATOR(pg_catalog.=) 'users' THEN '/topapi/v2/user/list' ELSE '/topapi/v2/department/listsub' END,
    'method', 'POST',
    'body', pg_catalog.jsonb_build_object('dept_id', p OPERATOR(pg_catalog.->) 'dept_id', 'language', 'zh_CN')),
  'auth', pg_catalog.jsonb_build_object('type', 'token', 'token_url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/gettoken',
    'params', pg_catalog.jsonb_build_object('appkey', p OPERATOR(pg_catalog.->>) 'app_key',
                                            'appsecret', @extschema@.template_secret('dingtalk', p, 'app_secret')),
    'token_path', '$.access_token', 'expires_path', '$.expires_in', 'in', 'query', 'name', 'access_token'),
  'errors', '{"code_path": "$.errcode", "message_path": "$.errmsg", "ok": [0],
              "token_expired": [40014, 42001], "retry": [-1, 90018, 90002]}'::pg_catalog.jsonb)
  OPERATOR(pg_catalog.||)
  CASE WHEN object OPERATOR(pg_catalog.=) 'users' THEN
    '{"pagination": {"type": "cursor", "in": "body", "cursor_param": "cursor", "start": 0,
                     "cursor_path": "$.result.next_cursor", "has_more_path": "$.result.has_more",
                     "size_param": "size", "size": 100},
      "records": "$.result.list[*]", "primary_key": "userid"}'::pg_catalog.jsonb
  ELSE '{"records": "$.result[*]", "primary_key": "dept_id"}'::pg_catalog.jsonb END;
COMMENT ON FUNCTION @extschema@.template_dingtalk(jsonb, text) IS
  'Template dingtalk: the users or the sub-departments of a DingTalk department (parameters: table, app_key, app_secret; object, dept_id, deletes, base_url)';

-- WeCom (企业微信): an access_token from /cgi-bin/gettoken for the corp's
-- id and an app's secret, as a query parameter; user ids by cursor (in the
-- JSON body), the departments, or the users of a department; errcode.
CREATE FUNCTION @extschema@.template_wecom(p jsonb, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'WeCom ' OPERATOR(pg_catalog.||) object,
  'auth', pg_catalog.jsonb_build_object('type', 'token',
    'token_url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/cgi-bin/gettoken',
    'params', pg_catalog.jsonb_build_object('corpid', p OPERATOR(pg_catalog.->>) 'corp_id',
                                            'corpsecret', @extschema@.template_secret('wecom', p, 'corp_secret')),
    'token_path', '$.access_token', 'expires_path', '$.expires_in', 'in', 'query', 'name', 'access_token'),
  'errors', '{"code_path": "$.errcode", "message_path": "$.errmsg", "ok": [0],
              "token_expired": [40014, 42001], "retry": [-1, 45009, 45033]}'::pg_catalog.jsonb)
  OPERATOR(pg_catalog.||)
  CASE object
  WHEN 'user_ids' THEN pg_catalog.jsonb_build_object(
    'request', pg_catalog.jsonb_build_object('url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/cgi-bin/user/list_id',
                                             'method', 'POST', 'body', '{}'::pg_catalog.jsonb),
    'pagination', '{"type": "cursor", "in": "body", "cursor_param": "cursor", "cursor_path": "$.next_cursor",
                    "size_param": "limit", "size": 10000}'::pg_catalog.jsonb,
    'records', '$.dept_user[*]',
    'primary_key', pg_catalog.jsonb_build_array('userid', 'department'),
    'unmapped', false)
  WHEN 'departments' THEN pg_catalog.jsonb_build_object(
    'request', pg_catalog.jsonb_build_object('url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/cgi-bin/department/list',
                                             'params', pg_catalog.jsonb_build_object('id', p OPERATOR(pg_catalog.->) 'department_id')),
    'records', '$.department[*]')
  ELSE pg_catalog.jsonb_build_object(
    'request', pg_catalog.jsonb_build_object('url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/cgi-bin/user/list',
                                             'params', pg_catalog.jsonb_build_object('department_id', p OPERATOR(pg_catalog.->) 'department_id')),
    'records', '$.userlist[*]',
    'primary_key', 'userid')
  END;
COMMENT ON FUNCTION @extschema@.template_wecom(jsonb, text) IS
  'Template wecom: WeCom (企业微信) user ids, departments, or the users of a department (parameters: table, corp_id, corp_secret; object, department_id, deletes, base_url)';

-- Feishu / Lark: a tenant_access_token from /open-apis/auth/v3/
-- tenant_access_token/internal for the app's id and secret (JSON body), as
-- a bearer token; users of a department or its sub-departments, page_token
-- while has_more; code in every answer.
CREATE FUNCTION @extschema@.template_feishu(p jsonb, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'Feishu ' OPERATOR(pg_catalog.||) object,
  'auth', pg_catalog.jsonb_build_object('type', 'token',
    'token_url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/open-apis/auth/v3/tenant_access_token/internal',
    'method', 'POST',
    'body', pg_catalog.jsonb_build_object('app_id', p OPERATOR(pg_catalog.->>) 'app_id',
                                          'app_secret', @extschema@.template_secret('feishu', p, 'app_secret')),
    'token_path', '$.tenant_access_token', 'expires_path', '$.expire'),
  'errors', '{"code_path": "$.code", "message_path": "$.msg", "ok": [0],
              "token_expired": [99991661, 99991663, 99991668], "retry": [99991400]}'::pg_catalog.jsonb,
  'pagination', '{"type": "cursor", "cursor_param": "page_token", "cursor_path": "$.data.page_token",
                  "has_more_path": "$.data.has_more", "size_param": "page_size", "size": 50}'::pg_catalog.jsonb,
  'records', '$.data.items[*]')
  OPERATOR(pg_catalog.||)
  CASE WHEN object OPERATOR(pg_catalog.=) 'users' THEN pg_catalog.jsonb_build_object(
    'request', pg_catalog.jsonb_build_object(
      'url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/open-apis/contact/v3/users/find_by_department',
      'params', pg_catalog.jsonb_build_object('department_id', p OPERATOR(pg_catalog.->>) 'department_id',
                                              'department_id_type', 'open_department_id', 'user_id_type', 'open_id')),
    'primary_key', 'open_id')
  ELSE pg_catalog.jsonb_build_object(
    'request', pg_catalog.jsonb_build_object(
      'url', pg_catalog.format('%s/open-apis/contact/v3/departments/%s/children', p OPERATOR(pg_catalog.->>) 'base_url',
                               p OPERATOR(pg_catalog.->>) 'department_id'),
      'params', '{"fetch_child": "true", "department_id_type": "open_department_id"}'::pg_catalog.jsonb),
    'primary_key', 'open_department_id')
  END;
COMMENT ON FUNCTION @extschema@.template_feishu(jsonb, text) IS
  'Template feishu: Feishu/Lark users of a department, or its sub-departments (parameters: table, app_id, app_secret; object, department_id, deletes, base_url: https://open.larksuite.com for Lark)';

-- Yonyou YonBIP open API: an access_token from
-- /open-auth/selfAppAuth/getAccessToken for the app's key, signed with its
-- secret (HMAC-SHA256 of appKey<key>timestamp<ms>, base64), as a query
-- parameter; customers (merchants) by pageIndex/pageSize in the JSON body;
-- incremental on pubts; code "200" in every answer.
CREATE FUNCTION @extschema@.template_yonyou(p jsonb, object text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.jsonb_build_object(
  'syncs', 'Yonyou customers (merchants)',
  'request', pg_catalog.jsonb_build_object('url', (p OPERATOR(pg_catalog.->>) 'base_url') OPERATOR(pg_catalog.||) '/yonbip/digitalModel/merchant/list',
    'method', 'POST',
    'body', CASE WHEN (p OPERATOR(pg_catalog.->>) 'incremental')::boolean
                 THEN '{"simpleVOs": [{"field": "pubts", "op": "egt", "value1": "{cursor}"}]}'::pg_catalog.jsonb
                 ELSE '{}'::pg_catalog.jsonb END),
  'auth', pg_catalog.jsonb_build_object('type', 'token',
    'token_url', coalesce(p OPERATOR(pg_catalog.->>) 'auth_url', p OPERATOR(pg_catalog.->>) 'base_url')
                 OPERATOR(pg_catalog.||) '/open-auth/selfAppAuth/getAccessToken',
    'params', pg_catalog.jsonb_build_object('appKey', p OPERATOR(pg_catalog.->>) 'app_key', 'timestamp', '{timestamp}'),
    'sign', pg_catalog.jsonb_build_object('param', 'signature', 'key', @extschema@.template_secret('yonyou', p, 'app_secret'),
                                          'message', 'appKey{appKey}timestamp{timestamp}'),
    'token_path', '$.data.access_token', 'expires_path', '$.data.expire', 'in', 'query', 'name', 'access_token'),
  'errors', '{"code_path": "$.code", "message_path": "$.message", "ok": ["200", "00000"],
              "token_expired": ["1090003500065"], "retry": ["1090003500024"]}'::pg_catalog.jsonb,
  'pagination', '{"type": "page_number", "in": "body", "page_param": "pageIndex", "start": 1,
                  "size_param": "pageSize", "size": 100, "total_path": "$.data.recordCount"}'::pg_catalog.jsonb,
  'records', '$.data.recordList[*]',
  'incremental', '{"cursor_column": "pubts", "cursor_format": "YYYY-MM-DD HH24:MI:SS", "start": "1970-01-01 00:00:00"}'::pg_catalog.jsonb);
COMMENT ON FUNCTION @extschema@.template_yonyou(jsonb, text) IS
  'Template yonyou: the customers (merchants) of a Yonyou YonBIP tenant through its open API (parameters: table, base_url, app_key, app_secret; auth_url, incremental, deletes)';

------------------------------------------------------------------------------
-- The catalog and the entry points
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.source_templates()
RETURNS TABLE (template text, vendor text, syncs text, auth text, parameters text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT t.template, t.vendor, t.syncs, t.auth, t.parameters
  FROM (VALUES
    ('stripe', 'Stripe', 'customers, charges or invoices', 'secret API key (bearer)',
     'table, api_key; object (customers), incremental (false), deletes (none), base_url'),
    ('github', 'GitHub', 'issues and pull requests of a repository', 'token (bearer)',
     'table, owner, repo, token; state (all), incremental (true), deletes (none), base_url'),
    ('salesforce', 'Salesforce', 'Account, Contact or Opportunity through SOQL', 'OAuth2 client credentials or refresh token',
     'table, instance_url, client_id, client_secret; object (Account), fields, refresh_token, incremental (true), deletes (none), api_version (v59.0), batch_size (2000)'),
    ('hubspot', 'HubSpot', 'CRM contacts, companies or deals', 'private app token, or OAuth2 refresh token',
     'table, token or client_id + client_secret + refresh_token; object (contacts), properties, incremental (true), deletes (none), base_url'),
    ('shopify', 'Shopify', 'customers, orders or products (Admin REST)', 'access token (X-Shopify-Access-Token)',
     'table, token, shop or base_url; resource (orders), api_version (2024-01), incremental (true), deletes (none)'),
    ('jira', 'Atlassian Jira Cloud', 'issues found by JQL', 'e-mail and API token (basic)',
     'table, email, api_token, site or base_url; project, jql, incremental (true), deletes (none)'),
    ('dingtalk', 'DingTalk 钉钉', 'users or sub-departments of a department', 'access_token for app key and secret',
     'table, app_key, app_secret; object (users), dept_id (1), deletes (none), base_url'),
    ('wecom', 'WeCom 企业微信', 'user ids, departments, or users of a department', 'access_token for corp id and secret',
     'table, corp_id, corp_secret; object (user_ids), department_id (1), deletes (none), base_url'),
    ('feishu', 'Feishu / Lark 飞书', 'users of a department, or its sub-departments', 'tenant_access_token for app id and secret',
     'table, app_id, app_secret; object (users), department_id (0), deletes (none), base_url'),
    ('yonyou', 'Yonyou YonBIP 用友', 'customers (merchants)', 'access_token for app key, signed with the secret',
     'table, base_url, app_key, app_secret; auth_url, incremental (true), deletes (none)')
  ) AS t(template, vendor, syncs, auth, parameters)
  ORDER BY 1;
END;
COMMENT ON FUNCTION @extschema@.source_templates() IS
  'The ready source templates: what each syncs, how it logs in, its parameters (required; optional with defaults); docs/sync.md has a page on each';

CREATE FUNCTION @extschema@.source_template_spec(template text, params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  d record;
  p jsonb;
  object text;
  parts jsonb;
BEGIN
  IF template IS NULL THEN
    RAISE EXCEPTION 'template name must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @extschema@.source_templates() t WHERE t.template OPERATOR(pg_catalog.=) source_template_spec.template) THEN
    RAISE EXCEPTION 'unknown source template "%"', template
      USING ERRCODE = 'undefined_object',
            HINT = pg_catalog.format('Templates: %s (concord.source_templates() lists them).',
                                     (SELECT pg_catalog.string_agg(t.template, ', ') FROM @extschema@.source_templates() t));
  END IF;
  -- the parameters: checked, completed, what they pick
  SELECT * INTO d FROM @extschema@.template_def(template);
  p := @extschema@.template_args(template, params, d.defaults, d.required);
  IF d.pick IS NOT NULL THEN
    object := @extschema@.template_choice(template, p, d.pick, d.choices);
  END IF;
  IF NOT d.changes AND (p OPERATOR(pg_catalog.->>) 'incremental')::boolean THEN
    RAISE EXCEPTION 'template "%": the contact API has no change filter; use incremental false', template
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- what is the vendor's own
  parts := CASE template
    WHEN 'stripe' THEN @extschema@.template_stripe(p, object)
    WHEN 'github' THEN @extschema@.template_github(p, object)
    WHEN 'salesforce' THEN @extschema@.template_salesforce(p, object)
    WHEN 'hubspot' THEN @extschema@.template_hubspot(p, object)
    WHEN 'shopify' THEN @extschema@.template_shopify(p, object)
    WHEN 'jira' THEN @extschema@.template_jira(p, object)
    WHEN 'dingtalk' THEN @extschema@.template_dingtalk(p, object)
    WHEN 'wecom' THEN @extschema@.template_wecom(p, object)
    WHEN 'feishu' THEN @extschema@.template_feishu(p, object)
    WHEN 'yonyou' THEN @extschema@.template_yonyou(p, object)
  END;
  -- and what every template's spec has
  RETURN pg_catalog.jsonb_build_object(
      'description', pg_catalog.format('%s (template %s)', parts OPERATOR(pg_catalog.->>) 'syncs', template),
      'retry', '{"max_attempts": 6, "backoff_ms": 1000}'::pg_catalog.jsonb,
      'target', pg_catalog.jsonb_build_object('table', p OPERATOR(pg_catalog.->>) 'table', 'create', true,
                  'primary_key', coalesce(parts OPERATOR(pg_catalog.->) 'primary_key', '"id"'::pg_catalog.jsonb))
                OPERATOR(pg_catalog.||)
                CASE WHEN coalesce((parts OPERATOR(pg_catalog.->>) 'unmapped')::boolean, true)
                     THEN '{"unmapped_column": "attributes"}'::pg_catalog.jsonb ELSE '{}'::pg_catalog.jsonb END,
      'columns', coalesce(parts OPERATOR(pg_catalog.->) 'columns', @extschema@.template_columns(template, object)),
      'mode', @extschema@.template_mode(template, p, coalesce(parts OPERATOR(pg_catalog.->) 'incremental', '{}'::pg_catalog.jsonb)))
    OPERATOR(pg_catalog.||)
    (parts OPERATOR(pg_catalog.-) ARRAY['syncs', 'primary_key', 'unmapped', 'columns', 'incremental']);
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_template_spec(text, jsonb) IS
  'The source spec a template makes with these parameters (nothing is created): to read, or to adjust and pass to concord.source_create';

CREATE FUNCTION @extschema@.source_create_from_template(name text, template text, params jsonb DEFAULT '{}')
RETURNS @extschema@.source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  RETURN @extschema@.source_create(name, @extschema@.source_template_spec(template, params));
END
$fn$;
COMMENT ON FUNCTION @extschema@.source_create_from_template(text, text, jsonb) IS
  'Creates a source from a ready template (concord.source_templates()) and its parameters; the spec is checked like any other, the source belongs to the caller';

SELECT @extschema@.grant_routines('concord_sync', ARRAY[
    'source_templates()', 'source_template_spec(text, jsonb)', 'source_create_from_template(text, text, jsonb)']);
REVOKE EXECUTE ON FUNCTION @extschema@.template_args(text, jsonb, jsonb, text[]),
  @extschema@.template_secret(text, jsonb, text), @extschema@.template_choice(text, jsonb, text, text[]),
  @extschema@.template_column(text, text, text, text), @extschema@.template_mode(text, jsonb, jsonb),
  @extschema@.template_def(text), @extschema@.template_columns(text, text), @extschema@.template_snake(text),
  @extschema@.template_site(text, jsonb, text, text),
  @extschema@.template_stripe(jsonb, text), @extschema@.template_github(jsonb, text), @extschema@.template_salesforce(jsonb, text),
  @extschema@.template_hubspot(jsonb, text), @extschema@.template_shopify(jsonb, text), @extschema@.template_jira(jsonb, text),
  @extschema@.template_dingtalk(jsonb, text), @extschema@.template_wecom(jsonb, text), @extschema@.template_feishu(jsonb, text),
  @extschema@.template_yonyou(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.template_args(text, jsonb, jsonb, text[]),
  @extschema@.template_secret(text, jsonb, text), @extschema@.template_choice(text, jsonb, text, text[]),
  @extschema@.template_column(text, text, text, text), @extschema@.template_mode(text, jsonb, jsonb),
  @extschema@.template_def(text), @extschema@.template_columns(text, text), @extschema@.template_snake(text),
  @extschema@.template_site(text, jsonb, text, text),
  @extschema@.template_stripe(jsonb, text), @extschema@.template_github(jsonb, text), @extschema@.template_salesforce(jsonb, text),
  @extschema@.template_hubspot(jsonb, text), @extschema@.template_shopify(jsonb, text), @extschema@.template_jira(jsonb, text),
  @extschema@.template_dingtalk(jsonb, text), @extschema@.template_wecom(jsonb, text), @extschema@.template_feishu(jsonb, text),
  @extschema@.template_yonyou(jsonb, text) TO concord_sync;
