-- flow: the durable outbox, delivered by the database's background worker
-- to the stub's webhook receiver on 127.0.0.1: delivered only if the
-- enqueuing transaction commits, signed and keyed, retried after failures
-- (honouring Retry-After), dead after max_attempts, retried by hand.
-- Committed (the worker reads committed rows); cleaned before and after.
SET client_min_messages = warning;
SELECT plan(21);
\ir ../harness/backends.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;

SELECT current_setting('concord_test.stub_url') AS stub, current_setting('concord_test.stub_port') AS port \gset
CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE sql AS $$
  DELETE FROM concord.outbox WHERE endpoint LIKE 't_flow_%';
  DELETE FROM concord.endpoint WHERE name LIKE 't_flow_%';
  DELETE FROM concord.http_allow WHERE note = 't_flow';
$$;
SELECT pg_temp.clean() IS NULL AS clean \gset
-- The endpoints and messages are made by tap_flow_sender, a role holding
-- concord_flow alone (docs/flow.md); the allowlist row, the secret (and its
-- grant) and the stub's control calls (received, forget: SECURITY DEFINER)
-- are a superuser's.  Committed, like everything here; dropped at the end.
DROP ROLE IF EXISTS tap_flow_sender;
CREATE ROLE tap_flow_sender IN ROLE concord_flow;
CREATE FUNCTION pg_temp.received(hook text) RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$
  SELECT ((concord.http_get(current_setting('concord_test.stub_url') || '/received/' || hook)).body)::jsonb
$$;
CREATE FUNCTION pg_temp.forget(hook text) RETURNS int LANGUAGE sql SECURITY DEFINER AS $$
  SELECT (concord.http_delete(current_setting('concord_test.stub_url') || '/received/' || hook)).status
$$;

-- endpoints: checked when defined
SET ROLE tap_flow_sender;
SELECT throws_like($$SELECT concord.endpoint_create('t_flow_fin', 'http://127.0.0.1:9/hook/t_flow_fin')$$,
                   'destination 127.0.0.1 port 9 is not allowed%', 'an endpoint outside concord.http_allow is refused when it is defined');
RESET ROLE;
SELECT concord.http_allow_host('127.0.0.1', :'port'::int, allow_private => true, note => 't_flow') IS NOT NULL AS allowed \gset
SET ROLE tap_flow_sender;
SELECT pg_temp.forget('t_flow_fin') + pg_temp.forget('t_flow_retry') AS forgot \gset
SELECT throws_ok(format($$SELECT concord.endpoint_create('t_flow_fin', '%s/hook/t_flow_fin', 'no_such_secret')$$, :'stub'),
                 '42704', 'secret "no_such_secret" does not exist', 'an endpoint naming a secret that is not there');
SELECT throws_ok($$SELECT concord.endpoint_create('Finance Hook', 'http://127.0.0.1/')$$, '42602', 'invalid endpoint name "Finance Hook"',
                 'a bad endpoint name');
SELECT throws_ok($$SELECT concord.outbox_enqueue('t_flow_nosuch', '{}')$$, '42704', 'unknown endpoint "t_flow_nosuch"',
                 'a message to an unknown endpoint');
RESET ROLE;
SELECT concord.secret_set('t_flow_key', 'flow-test-key-0123456789abcdef') IS NULL AS k \gset
SELECT concord.secret_grant('t_flow_key', 'tap_flow_sender') AS g \gset
SET ROLE tap_flow_sender;
SELECT is(concord.endpoint_create('t_flow_fin', :'stub' || '/hook/t_flow_fin', 't_flow_key', description => '财务开票'), 't_flow_fin',
          'an endpoint: finance''s billing system');

-- delivered if the transaction commits, never if it rolls back
BEGIN;
SELECT concord.outbox_enqueue('t_flow_fin', '{"contract": "HT-rolled-back"}', 't-flow-rb') AS rb \gset
ROLLBACK;
SELECT concord.outbox_enqueue('t_flow_fin', '{"contract": "HT-2026-001", "amount": 128000}', 't-flow-1') AS m1 \gset
SELECT ok(pg_temp.eventually($$SELECT status = 'delivered' FROM concord.outbox WHERE id = $$ || :m1, 10),
          'a committed message is delivered by the worker');
SELECT is((SELECT attempts FROM concord.outbox WHERE id = :m1), 1, 'at the first attempt');
SELECT is(pg_temp.received('t_flow_fin') -> 'count', '1'::jsonb, 'the receiver got one message: the rolled-back one never left');
SELECT is(pg_temp.received('t_flow_fin') #>> '{received,0,key}', 't-flow-1', 'with its idempotency key');
SELECT is(pg_temp.received('t_flow_fin') #>> '{received,0,signature}',
          'sha256=' || encode(hmac(pg_temp.received('t_flow_fin') #>> '{received,0,body}', 'flow-test-key-0123456789abcdef', 'sha256'), 'hex'),
          'and an HMAC-SHA256 of the body under the endpoint''s secret (checked with pgcrypto)');
SELECT is((pg_temp.received('t_flow_fin') #>> '{received,0,body}')::jsonb, '{"contract": "HT-2026-001", "amount": 128000}'::jsonb,
          'the body is the payload');
SELECT is(concord.outbox_enqueue('t_flow_fin', '{"contract": "again"}', 't-flow-1'), :m1::bigint,
          'enqueueing the same key again returns the message already there');

-- a receiver failing twice (503, Retry-After: 1): delivered at the third attempt
SELECT is(concord.endpoint_create('t_flow_retry', :'stub' || '/hook/t_flow_retry', unsigned => true), 't_flow_retry', 'an endpoint without a secret');
RESET ROLE;
SELECT (concord.http_post(:'stub' || '/hook/t_flow_retry/fail/2', '')).status AS failing \gset
SET ROLE tap_flow_sender;
SELECT concord.outbox_enqueue('t_flow_retry', '{"ticket": 7}') AS m2 \gset
SELECT ok(pg_temp.eventually($$SELECT status = 'delivered' FROM concord.outbox WHERE id = $$ || :m2, 15),
          'a receiver failing twice: delivered after its Retry-After');
SELECT results_eq($$SELECT attempts, last_status FROM concord.outbox WHERE id = $$ || :m2, $$VALUES (3, 200)$$,
                  'at the third attempt');
SELECT is(pg_temp.received('t_flow_retry') #>> '{received,0,signature}', NULL, 'unsigned without a secret');

-- a receiver that always fails: dead after max_attempts, retried by hand
SELECT concord.endpoint_create('t_flow_dead', :'stub' || '/status/500', max_attempts => 2, unsigned => true) AS e \gset
SELECT concord.outbox_enqueue('t_flow_dead', '{"x": 1}') AS m3 \gset
SELECT ok(pg_temp.eventually($$SELECT status = 'dead' FROM concord.outbox WHERE id = $$ || :m3, 15),
          'a message failing max_attempts times is dead');
SELECT results_eq($$SELECT attempts, last_status, last_error FROM concord.outbox WHERE id = $$ || :m3,
                  $$VALUES (2, 500, 'HTTP 500')$$, 'with its last error');
SELECT is(concord.outbox_retry(:m3), 'pending', 'outbox_retry sends a dead message again');
SELECT throws_ok(format('SELECT concord.outbox_retry(%s)', :m1), '55000', format('outbox message %s is delivered, not dead', :m1),
                 'only a dead message is retried by hand');

-- Retry-After as an HTTP date (30 seconds from now)
SELECT to_char(now() AT TIME ZONE 'GMT' + interval '30 seconds', 'Dy, DD Mon YYYY HH24:MI:SS "GMT"') AS later \gset
SELECT concord.endpoint_create('t_flow_later', format('%s/status/503?retry_after=%s', :'stub', replace(replace(:'later', ' ', '%20'), ',', '%2C')),
                               max_attempts => 3, unsigned => true) AS e2 \gset
SELECT concord.outbox_enqueue('t_flow_later', '{"y": 1}') AS m4 \gset
SELECT ok(pg_temp.eventually($$SELECT attempts = 1 AND status = 'pending' AND next_attempt_at BETWEEN now() + interval '15 seconds' AND now() + interval '35 seconds'
                                 FROM concord.outbox WHERE id = $$ || :m4, 10),
          'a Retry-After given as an HTTP date is honoured (the next attempt about 30 seconds on)');

SELECT * FROM finish();
RESET ROLE;
SELECT pg_temp.clean() IS NULL AS clean \gset
SELECT concord.secret_drop('t_flow_key') IS NOT NULL AS dropped \gset
DROP ROLE tap_flow_sender;
