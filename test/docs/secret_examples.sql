-- docs/secret.md: the example runs against the stub API (the page names
-- it http://127.0.0.1:8765; here it is the harness's stub): the token is
-- stored sealed, a role with concord_http and the grant sends it without
-- being able to read it, and the key's rotation re-seals it and keeps it
-- usable (once the grant is revoked the role cannot send it); a secret set
-- from a file (the page's path replaced by a file this test writes)
-- arrives as the file says.  In a transaction rolled back (its role too;
-- the rotation's new key file is removed at the rollback).
BEGIN;
SET LOCAL client_min_messages = warning;

SELECT current_setting('concord_test.stub_port') AS p \gset
\set page secret
\ir blocks.psql

SELECT plan((SELECT count(*)::int FROM blocks) + 9);

-- what the page takes from docs/http.md: the stub allowed, a role that calls
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset
CREATE ROLE analyst;
GRANT concord_http TO analyst;
-- the echo of the example's request, as the analyst
CREATE FUNCTION pg_temp.sent_authorization() RETURNS text LANGUAGE sql AS $$
  SELECT body::jsonb #>> '{headers,authorization}'
  FROM concord.http_get('http://127.0.0.1:' || current_setting('concord_test.stub_port') || '/echo',
                        headers => '{"Authorization": {"secret": "crm_token"}}')
$$;

-- the example in three parts, at its comments: store, use (as the analyst), rotate
SELECT s[1] AS store, s[2] AS use, s[3] AS rotate
FROM blocks, regexp_matches(code, '^(.*?)(-- any role.*?)(-- yearly.*)$') AS s WHERE n = 1 \gset

SELECT lives_ok(:'store', 'docs/secret.md example 1 runs: a superuser stores the token and grants its use');
SELECT is((SELECT position(convert_to('eyJhbGciOi', 'UTF8') IN sealed) FROM concord.secret WHERE name = 'crm_token'), 0,
          'it is stored sealed: the table does not hold the token');
SET LOCAL ROLE analyst;
SELECT results_eq(:'use', $$VALUES (200)$$, 'the analyst''s request with the secret answers 200');
SELECT is(pg_temp.sent_authorization(), 'Bearer eyJhbGciOi…', 'and the API got the token in the Authorization header');
SELECT throws_ok('SELECT sealed FROM concord.secret', '42501', 'permission denied for table secret', 'but she cannot read it');
RESET ROLE;
SELECT key_id AS old_key FROM concord.secret WHERE name = 'crm_token' \gset
SELECT lives_ok(:'rotate', 'and the rotation runs as written');
SELECT isnt((SELECT key_id FROM concord.secret WHERE name = 'crm_token'), :'old_key', 'the rotation re-sealed the token under a new key');
SET LOCAL ROLE analyst;
SELECT is(pg_temp.sent_authorization(), 'Bearer eyJhbGciOi…', 'which still opens it');
RESET ROLE;

SELECT concord.secret_revoke('crm_token', 'analyst') AS revoked \gset
SET LOCAL ROLE analyst;
SELECT throws_ok(:'use', '42501', 'permission denied for secret "crm_token"', 'without the grant the analyst may not use the token');
RESET ROLE;

-- example 2: the value from a file (COPY writes it with a line break)
SELECT current_setting('data_directory') || '/tap_docs_billing_api_key' AS keyfile \gset
COPY (SELECT 'billing-key-from-a-file') TO :'keyfile';
SELECT replace(code, '/etc/concord/billing_api_key', :'keyfile') AS from_file FROM blocks WHERE n = 2 \gset
SELECT lives_ok(:'from_file', 'docs/secret.md example 2 runs: a secret set from a file');
SELECT is((SELECT body::jsonb #>> '{headers,x-api-key}'
           FROM concord.http_get('http://127.0.0.1:' || :'p' || '/echo',
                                 headers => '{"X-Api-Key": {"secret": "billing_api_key"}}')),
          'billing-key-from-a-file', 'its value is the file''s content without the line break');

SELECT * FROM finish();
ROLLBACK;
