-- Secrets: encrypted at rest, usable in HTTP headers, never readable
-- through SQL, never in messages or logs; bad input gets clear errors.
BEGIN;
SELECT plan(27);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS a \gset

SELECT lives_ok($$SELECT concord.secret_set('crm_token', 'Bearer tap-PLAINTEXT-42')$$, 'secret_set stores a secret');
SELECT is((SELECT count(*)::int FROM concord.secret WHERE name = 'crm_token'), 1, 'one row per secret');
SELECT is((SELECT position(convert_to('tap-PLAINTEXT-42', 'UTF8') IN sealed) FROM concord.secret WHERE name = 'crm_token'), 0,
  'the stored bytes do not contain the plaintext');
SELECT is((SELECT length(sealed) FROM concord.secret WHERE name = 'crm_token'), 12 + 23 + 16,
  'sealed = nonce + ciphertext + tag');
SELECT matches((SELECT key_id FROM concord.secret WHERE name = 'crm_token'), '^[0-9a-f]{16}$', 'key id recorded');
SELECT is((pg_stat_file(current_setting('data_directory') || '/concord_secret.key')).size, 32::bigint,
  'the key file holds 32 bytes');

-- Used in a header, resolved in C, by a role holding concord_http and the
-- secret's grant (docs/secret.md): only a superuser sets a secret.
CREATE ROLE tap_secret_user;
GRANT concord_http TO tap_secret_user;
SELECT concord.secret_grant('crm_token', 'tap_secret_user') AS granted \gset
SET LOCAL ROLE tap_secret_user;
SELECT is((SELECT body::jsonb -> 'headers' ->> 'authorization'
           FROM concord.http_get(:'u' || '/echo', headers => '{"Authorization": {"secret": "crm_token"}}')),
  'Bearer tap-PLAINTEXT-42', 'a header may take its value from a secret');
RESET ROLE;
SELECT concord.secret_set('crm_token', 'Bearer tap-NEW-VALUE-43');
SET LOCAL ROLE tap_secret_user;
SELECT is((SELECT body::jsonb -> 'headers' ->> 'authorization'
           FROM concord.http_get(:'u' || '/echo', headers => '{"Authorization": {"secret": "crm_token"}}')),
  'Bearer tap-NEW-VALUE-43', 'secret_set replaces the value');

-- Bad input
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"Authorization": {"secret": "no_such"}}'),
  '42704', 'secret "no_such" does not exist', 'unknown secret name');
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"Authorization": {"secret": 1}}'),
  '22023', 'request header "Authorization" must be a string or {"secret": "name"}', 'malformed secret reference');
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"Authorization": {"secret": "crm_token", "x": 1}}'),
  '22023', 'request header "Authorization" must be a string or {"secret": "name"}', 'extra keys in a secret reference');
RESET ROLE;
SELECT throws_ok($$SELECT concord.secret_set('bad name!', 'x')$$, '22023', 'invalid secret name "bad name!"', 'bad secret name');
SELECT throws_ok($$SELECT concord.secret_set('', 'x')$$, '22023', 'invalid secret name ""', 'empty secret name');
SELECT ok(concord.secret_set(NULL, 'x') IS NULL, 'secret_set is strict');

-- Key file problems
SAVEPOINT keyfile;
SET LOCAL concord.secret_key_file = '/nonexistent-dir/concord.key';
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"Authorization": {"secret": "crm_token"}}'),
  '58P01', format('the key that sealed secret "crm_token" (key id %s) is not in the key file',
                  (SELECT key_id FROM concord.secret WHERE name = 'crm_token')),
  'a missing key file: the secret cannot be opened');
SELECT throws_ok($$SELECT concord.secret_set('x', 'y')$$, '58P01',
  'could not create secret key file "/nonexistent-dir/concord.key": No such file or directory',
  'a key file that cannot be created');
COPY (SELECT 'short') TO '/tmp/concord-tap-short.key';
SET LOCAL concord.secret_key_file = '/tmp/concord-tap-short.key';
SELECT throws_ok($$SELECT concord.secret_set('x', 'y')$$, 'XX001',
  'secret key file "/tmp/concord-tap-short.key" must hold 32 bytes, not 6', 'a key file of the wrong size');
ROLLBACK TO keyfile;

-- Tampering is detected (GCM tag), and so is a value moved to another name
SAVEPOINT tamper;
-- (the 14th byte's bits flipped: writing a fixed byte left it as it was
-- whenever it already was that byte, one run in 256)
UPDATE concord.secret SET sealed = set_byte(sealed, 13, get_byte(sealed, 13) # 255) WHERE name = 'crm_token';
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"Authorization": {"secret": "crm_token"}}'),
  'XX001', 'secret "crm_token" cannot be decrypted: its authentication tag does not match', 'tampered ciphertext');
ROLLBACK TO tamper;
SAVEPOINT moved;
SELECT concord.secret_set('other', 'x');
UPDATE concord.secret SET sealed = (SELECT sealed FROM concord.secret WHERE name = 'crm_token') WHERE name = 'other';
SELECT throws_ok(format('SELECT concord.http_get(%L, headers => %L)', :'u' || '/echo', '{"X": {"secret": "other"}}'),
  'XX001', 'secret "other" cannot be decrypted: its authentication tag does not match', 'a value copied to another name does not open');
ROLLBACK TO moved;

-- Rotation: new key id, same values; a rolled-back rotation changes nothing
SAVEPOINT rot;
SELECT key_id AS old_id FROM concord.secret WHERE name = 'crm_token' \gset
SELECT is(concord.secret_rotate_key(), (SELECT count(*)::int FROM concord.secret), 'rotation re-seals every secret');
SELECT isnt((SELECT key_id FROM concord.secret WHERE name = 'crm_token'), :'old_id', 'under a new key');
SELECT is((SELECT body::jsonb -> 'headers' ->> 'authorization'
           FROM concord.http_get(:'u' || '/echo', headers => '{"Authorization": {"secret": "crm_token"}}')),
  'Bearer tap-NEW-VALUE-43', 'values survive rotation');
SELECT throws_ok($$SELECT concord.secret_rotate_key()$$, '55000',
  'the secret key was already rotated in this transaction', 'one rotation per transaction');
ROLLBACK TO rot;

-- Privileges and leaks
SET LOCAL concord.http_log = on;
SET ROLE tap_secret_user;
SELECT throws_ok($$SELECT * FROM concord.secret$$, '42501', 'permission denied for table secret', 'the table is not readable');
SELECT throws_ok($$SELECT concord.secret_set('x', 'y')$$, '42501', 'permission denied for function secret_set', 'nor writable through secret_set');
SELECT is((SELECT body::jsonb -> 'headers' ->> 'authorization'
           FROM concord.http_get(:'u' || '/echo', headers => '{"Authorization": {"secret": "crm_token"}}')),
  'Bearer tap-NEW-VALUE-43', 'a granted role can use a secret it cannot read');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM concord.http_call_log
           WHERE url LIKE '%tap-NEW-VALUE%' OR coalesce(error, '') LIKE '%tap-NEW-VALUE%'), 0,
  'the call log never holds the value');

SELECT * FROM finish();
ROLLBACK;
