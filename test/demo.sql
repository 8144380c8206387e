-- test/demo.sql — the concord walk-through, run by test/demo.sh:
--   psql -v stub_url=... -v stub_tls_url=... -v ca_file=... -d concord_demo -f test/demo.sql
--
-- The stub API server on 127.0.0.1 plays the departments' systems: the
-- sales CRM (销售), finance's billing (财务) and customer service (客服).
-- Everything shown here is plain SQL a user can type.

\pset footer off
\pset null '∅'
\set QUIET on
SET client_min_messages = warning;

-- Runs a statement and shows its outcome as a row: what a user would see.
CREATE FUNCTION pg_temp.attempt(q text)
RETURNS TABLE (outcome text, sqlstate text, message text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
  h text;
BEGIN
  EXECUTE q;
  RETURN QUERY SELECT 'ok', NULL::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN QUERY SELECT 'error', SQLSTATE, SQLERRM, NULLIF(h, '');
END $$;

\echo
\echo '== 1. concord is installed =='
SELECT extname, extversion, extnamespace::regnamespace AS schema,
       current_setting('shared_preload_libraries') AS preloaded
FROM pg_extension WHERE extname = 'concord';
SELECT backend_type AS "background worker", coalesce(datname, '(launcher)') AS database
FROM pg_stat_activity WHERE backend_type LIKE 'concord%' ORDER BY 1, 2;

\echo
\echo '== 2. nothing is reachable until a superuser allows it =='
SELECT split_part(split_part(:'stub_url', '//', 2), ':', 2)::int AS stub_port \gset
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_url' || '/json'));
\x off
SELECT host_pattern, port, allow_private
FROM concord.http_allow_host('127.0.0.1', :stub_port, note => 'stub: sales CRM, billing, service desk');

\echo
\echo '== 3. sales CRM (销售): GET its customers and read them as rows =='
SELECT status, content_type, round(elapsed_ms::numeric, 2) AS ms, url
FROM concord.http_get(:'stub_url' || '/json', '{"page": 1, "status": ["已签约", "跟进中"]}');
SELECT c.*
FROM concord.http_get(:'stub_url' || '/json') r,
     jsonb_to_recordset(r.body::jsonb -> 'customers')
       AS c(id int, name text, phone text, company text, status text);

\echo
\echo '== 4. finance (财务): POST a JSON invoice request; the stub echoes what it received =='
SELECT status,
       body::jsonb ->> 'method' AS method,
       body::jsonb -> 'headers' ->> 'content-type' AS sent_as,
       body::jsonb ->> 'body' AS received
FROM concord.http_post(:'stub_url' || '/echo',
                       '{"contract": "HT-2026-001", "customer": "上海某某科技有限公司", "amount": 128000}'::jsonb,
                       headers => '{"X-Department": "sales"}');

\echo
\echo '== 5. many APIs at once: 40 calls that each take 200 ms, as one batch =='
SELECT count(*) AS requests,
       count(*) FILTER (WHERE status = 200) AS ok,
       round(sum(elapsed_ms)::numeric) AS "sum of call times (ms)",
       round(extract(epoch FROM clock_timestamp() - now()) * 1000) AS "wall time (ms)"
FROM concord.http_batch(
       ARRAY(SELECT concord.http_request('GET', :'stub_url' || '/delay/200')
             FROM generate_series(1, 40)),
       max_host_connections => 40);

\echo
\echo '== 6. one failing request does not sink the batch =='
SELECT ord, status, error_code, error
FROM concord.http_batch(ARRAY[
  concord.http_request('GET', :'stub_url' || '/status/503'),
  concord.http_request('GET', 'http://127.0.0.2:' || :stub_port || '/json'),
  concord.http_request('GET', :'stub_url' || '/redirect-to?url=http://127.0.0.2:' || :stub_port || '/json'),
  concord.http_request('GET', :'stub_url' || '/delay/2000'),
  concord.http_request('BREW', :'stub_url' || '/json')],
  timeout_ms => 500);

\echo
\echo '== 7. the guard checks the address actually dialled (DNS rebinding) =='
SELECT host_pattern, port, allow_private FROM concord.http_allow_host('localhost', :stub_port);
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', 'http://localhost:' || :stub_port || '/json'));
\x off
SELECT a AS address, concord.http_address_class(a) AS class
FROM unnest(ARRAY['203.0.113.9', '8.8.8.8', '10.20.30.40', '169.254.169.254',
                  '100.100.100.200', '::ffff:127.0.0.1', 'fd00:ec2::254']) a;

\echo
\echo '== 8. TLS is always verified; a superuser may name a private CA =='
SELECT split_part(split_part(:'stub_tls_url', '//', 2), ':', 2)::int AS stub_tls_port \gset
SELECT host_pattern, port FROM concord.http_allow_host('127.0.0.1', :stub_tls_port);
\x on
SELECT * FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_tls_url' || '/json'));
\x off
SET concord.http_ca_file = :'ca_file';
SELECT status, body::jsonb ->> 'source' AS source
FROM concord.http_get(:'stub_tls_url' || '/json');
RESET concord.http_ca_file;

\echo
\echo '== 9. least privilege: an analyst needs one GRANT; the call log hides secrets =='
DROP ROLE IF EXISTS demo_analyst;
CREATE ROLE demo_analyst;
SET ROLE demo_analyst;
SELECT outcome, sqlstate, message
FROM pg_temp.attempt(format('SELECT concord.http_get(%L)', :'stub_url' || '/json'));
RESET ROLE;
GRANT concord_http TO demo_analyst;
SET concord.http_log = on;
SET ROLE demo_analyst;
SELECT status FROM concord.http_get(:'stub_url' || '/json', '{"access_token": "s3cr3t-token", "page": 2}');
SELECT role_name, method, url, status, response_bytes FROM concord.http_call_log ORDER BY id;
RESET ROLE;

\echo
\echo 'All of the above is plain SQL; connect and try it yourself (see below).'
