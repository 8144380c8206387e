-- flow: the worker resolves an endpoint's signing secret and headers for
-- the endpoint's owner, and a message's own headers for its sender, at
-- every delivery.  销售 (sales), a LOGIN role holding only concord_flow,
-- delivers with her department's key.  Finance's key -- named while she
-- briefly held its grant, revoked before the worker delivers -- as her
-- endpoint's signing secret, in its headers or in a message's headers
-- makes the message dead at once with the reason, never sent unsigned or
-- without the header; so does a signing secret dropped before delivery.
-- 财务, a sender of the endpoint, sends her own key.  Once the grant is
-- there, outbox_retry delivers the dead message signed.  Committed (the
-- worker reads committed rows); cleaned before and after.
SET client_min_messages = warning;
SELECT plan(19);
\ir ../harness/backends.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;

SELECT current_setting('concord_test.stub_url') AS stub, current_setting('concord_test.stub_port') AS port \gset
CREATE FUNCTION pg_temp.clean() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM concord.outbox WHERE endpoint LIKE 't_fsec_%';
  DELETE FROM concord.endpoint WHERE name LIKE 't_fsec_%';
  DELETE FROM concord.http_allow WHERE note = 't_fsec';
  PERFORM concord.secret_drop(n) FROM unnest(ARRAY['tap_fsec_sales_key', 'tap_fsec_fin_key', 'tap_fsec_gone']) n;
  DROP ROLE IF EXISTS 销售, 财务;
END $$;
SELECT pg_temp.clean() IS NULL AS clean \gset
CREATE FUNCTION pg_temp.received() RETURNS jsonb LANGUAGE sql AS $$
  SELECT ((concord.http_get(current_setting('concord_test.stub_url') || '/received/t_fsec_sales')).body)::jsonb -> 'received'
$$;
-- wait for message id to be delivered or dead; its status and last_error
CREATE FUNCTION pg_temp.outcome(id bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  PERFORM pg_temp.eventually(format('SELECT status IN (''delivered'', ''dead'') FROM concord.outbox WHERE id = %s', id), 15);
  SELECT status || coalesce(': ' || last_error, '') INTO r FROM concord.outbox o WHERE o.id = outcome.id;
  RETURN r;
END $$;

SELECT concord.http_allow_host('127.0.0.1', :'port'::int, allow_private => true, note => 't_fsec') IS NOT NULL AS allowed \gset
SELECT (concord.http_delete(:'stub' || '/received/t_fsec_sales')).status AS forgot \gset
CREATE ROLE 销售 LOGIN IN ROLE concord_flow;
CREATE ROLE 财务 LOGIN IN ROLE concord_flow;
SELECT concord.secret_set('tap_fsec_sales_key', 'sales-hook-key-5555'),
       concord.secret_set('tap_fsec_fin_key', 'finance-hook-key-6666'),
       concord.secret_set('tap_fsec_gone', 'soon-dropped-7777') \gset
SELECT concord.secret_grant('tap_fsec_sales_key', '销售'),
       concord.secret_grant('tap_fsec_fin_key', '财务') \gset
-- (re)define 销售's endpoint, as the current role; 财务 may send to it
CREATE FUNCTION pg_temp.define(secret text, headers jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT concord.endpoint_create('t_fsec_sales', current_setting('concord_test.stub_url') || '/hook/t_fsec_sales',
                                 secret, headers => headers, senders => '{财务}', unsigned => secret IS NULL, replace => true)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.define(text, jsonb) TO PUBLIC;

SET ROLE 销售;
SELECT is(pg_temp.define(NULL, '{"X-Api-Key": {"secret": "tap_fsec_sales_key"}}'), 't_fsec_sales',
          '销售 defines an endpoint whose header is her department''s key');
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 1}') AS m1 \gset
RESET ROLE;
SELECT is(pg_temp.outcome(:m1), 'delivered', 'a message to it is delivered');
SELECT is(pg_temp.received() #>> '{0,headers,x-api-key}', 'sales-hook-key-5555', 'with the key in the header');

SET ROLE 销售;
SELECT pg_temp.define('tap_fsec_sales_key', '{}') AS e \gset
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 2}') AS m2 \gset
RESET ROLE;
SELECT is(pg_temp.outcome(:m2), 'delivered', 'signed with her own key: delivered');
SELECT is(pg_temp.received() #>> '{1,signature}',
          'sha256=' || encode(hmac(pg_temp.received() #>> '{1,body}', 'sales-hook-key-5555', 'sha256'), 'hex'),
          'and the signature is the HMAC under her key');

-- Finance's key, named while 销售 briefly held its grant (whatever is checked
-- when an endpoint is defined or a message enqueued), revoked before the
-- worker delivers: the delivery checks again.
BEGIN;
SELECT concord.secret_grant('tap_fsec_fin_key', '销售') AS g \gset
SET LOCAL ROLE 销售;
SELECT pg_temp.define('tap_fsec_fin_key', '{}') AS e \gset
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 3}') AS m3 \gset
RESET ROLE;
SELECT concord.secret_revoke('tap_fsec_fin_key', '销售') AS r \gset
COMMIT;
SELECT is(pg_temp.outcome(:m3),
  'dead: signing secret of endpoint "t_fsec_sales": permission denied for secret "tap_fsec_fin_key" (for role 销售)',
  'finance''s key as her endpoint''s signing secret: dead at once, with the reason');
SELECT is((SELECT attempts FROM concord.outbox WHERE id = :m3), 1, 'after its first attempt, not retried');

BEGIN;
SELECT concord.secret_grant('tap_fsec_fin_key', '销售') AS g \gset
SET LOCAL ROLE 销售;
SELECT pg_temp.define(NULL, '{"X-Api-Key": {"secret": "tap_fsec_fin_key"}}') AS e \gset
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 4}') AS m4 \gset
RESET ROLE;
SELECT concord.secret_revoke('tap_fsec_fin_key', '销售') AS r \gset
COMMIT;
SELECT is(pg_temp.outcome(:m4),
  'dead: header "X-Api-Key" of endpoint "t_fsec_sales": permission denied for secret "tap_fsec_fin_key" (for role 销售)',
  'finance''s key in her endpoint''s headers: dead');

BEGIN;
SELECT concord.secret_grant('tap_fsec_fin_key', '销售') AS g \gset
SET LOCAL ROLE 销售;
SELECT pg_temp.define(NULL, '{}') AS e \gset
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 5}', headers => '{"X-Api-Key": {"secret": "tap_fsec_fin_key"}}') AS m5 \gset
RESET ROLE;
SELECT concord.secret_revoke('tap_fsec_fin_key', '销售') AS r \gset
COMMIT;
SELECT is(pg_temp.outcome(:m5),
  'dead: header "X-Api-Key" of the message: permission denied for secret "tap_fsec_fin_key" (for role 销售)',
  'finance''s key in a message''s own headers: dead');

SET ROLE 财务;
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 6}', headers => '{"X-Api-Key": {"secret": "tap_fsec_fin_key"}}') AS m6 \gset
RESET ROLE;
SELECT is(pg_temp.outcome(:m6), 'delivered', 'a message''s headers are resolved for its sender: 财务 may send her key');
SELECT is(pg_temp.received() #>> '{2,headers,x-api-key}', 'finance-hook-key-6666', '(and it arrived)');
SELECT is(jsonb_array_length(pg_temp.received()), 3, 'the dead messages never reached the receiver');

-- a signing secret dropped after the endpoint was defined
BEGIN;
SELECT concord.secret_grant('tap_fsec_gone', '销售') AS g \gset
SET LOCAL ROLE 销售;
SELECT pg_temp.define('tap_fsec_gone', '{}') AS e \gset
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 7}') AS m7 \gset
RESET ROLE;
SELECT concord.secret_drop('tap_fsec_gone') AS dropped \gset
COMMIT;
SELECT is(pg_temp.outcome(:m7),
  'dead: signing secret of endpoint "t_fsec_sales": secret "tap_fsec_gone" does not exist (for role 销售)',
  'a signing secret that no longer exists: dead, not sent unsigned');
SELECT is(jsonb_array_length(pg_temp.received()), 3, 'nothing more arrived');

-- an endpoint with neither a secret nor unsigned => true (only a hand's
-- UPDATE makes one): its messages are dead, never sent unsigned
UPDATE concord.endpoint SET secret_name = NULL, unsigned = false WHERE name = 't_fsec_sales';
SET ROLE 销售;
SELECT concord.outbox_enqueue('t_fsec_sales', '{"n": 8}') AS m8 \gset
RESET ROLE;
SELECT is(pg_temp.outcome(:m8),
  'dead: endpoint "t_fsec_sales" has no signing secret and was not defined unsigned => true',
  'an endpoint without a secret that was not defined unsigned: dead, not sent unsigned');
SELECT is(jsonb_array_length(pg_temp.received()), 3, 'nothing arrived');

-- once 销售 may use finance's key, the dead message is sent by hand
SELECT concord.secret_grant('tap_fsec_fin_key', '销售') AS granted \gset
SET ROLE 销售;
SELECT pg_temp.define('tap_fsec_fin_key', '{}') AS e \gset
SELECT is(concord.outbox_retry(:m3), 'pending', 'the grant given, she retries the dead message');
RESET ROLE;
SELECT is(pg_temp.outcome(:m3), 'delivered', 'it is delivered');
SELECT is(pg_temp.received() #>> '{3,signature}',
          'sha256=' || encode(hmac(pg_temp.received() #>> '{3,body}', 'finance-hook-key-6666', 'sha256'), 'hex'),
          'signed with finance''s key');

SELECT * FROM finish();
SELECT pg_temp.clean() IS NULL AS clean \gset
