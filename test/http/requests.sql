-- Requests and responses: every call function against the stub server
-- (/echo answers with the method, path, query, headers and body it got).
BEGIN;
SELECT plan(84);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset
-- The calls are made by a role that holds concord_http and nothing else, as
-- docs/http.md gives them to its users; the allowlist row above is a
-- superuser's.
CREATE ROLE tap_http_caller IN ROLE concord_http;
SET LOCAL ROLE tap_http_caller;

-- The echo of one call, as jsonb.
CREATE FUNCTION pg_temp.echo(r concord.http_response) RETURNS jsonb LANGUAGE sql AS $$
  SELECT r.body::jsonb
$$;

-- True when a statement either is refused for the one reason expected here
-- (text that is not valid in the database encoding: 22021 or 22P05) or
-- returns text that is valid in the database encoding (convert_from
-- verifies its input).  Any other error is not caught: it fails the test
-- instead of passing it.
CREATE FUNCTION pg_temp.valid_text_or_error(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  BEGIN
    EXECUTE q INTO t;
  EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN true;
  END;
  BEGIN
    PERFORM convert_from(convert_to(t, 'UTF8'), 'UTF8');
  EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN false;
  END;
  RETURN true;
END $$;

------------------------------------------------------------------------------
-- GET: the response columns
------------------------------------------------------------------------------

SELECT * FROM concord.http_get(:'u' || '/json') \gset r_
SELECT is(:r_status, 200, 'status');
SELECT is(:'r_content_type'::text, 'application/json; charset=utf-8', 'content_type as the server sent it');
SELECT is(:'r_body'::jsonb, $${"ok": true, "source": "crm", "customers": [
    {"id": 1, "name": "张三", "phone": "+86 138-1234-5678", "company": "上海某某科技有限公司", "status": "已签约"},
    {"id": 2, "name": "張三", "phone": "13812345678", "company": "某某科技(上海)", "status": "跟进中"},
    {"id": 3, "name": "Zhang San", "phone": "１３８１２３４５６７８", "company": "Moumou Tech Co., Ltd.", "status": "A"}]}$$::jsonb,
  'the UTF-8 JSON body is decoded, Chinese included');
SELECT is(:'r_body_bytes'::bytea, convert_to(:'r_body', 'UTF8'), 'body_bytes holds exactly the bytes of body');
SELECT is(:'r_headers'::jsonb - 'date' - 'server',
  jsonb_build_object('content-type', 'application/json; charset=utf-8',
                     'content-length', octet_length(:'r_body')::text),
  'headers: lower-case names, values as sent');
SELECT ok(:'r_headers'::jsonb ->> 'server' LIKE 'concord-stub/1.0%', 'headers: the Server header is there too');
SELECT ok(:r_elapsed_ms > 0, 'elapsed_ms is measured');
SELECT is(:'r_url'::text, :'u' || '/json', 'url is the URL fetched');
SELECT cmp_ok((concord.http_get(:'u' || '/delay/200')).elapsed_ms, '>=', 200::float8,
  'elapsed_ms covers the time the server took');

-- What a GET sends by default
SELECT is((SELECT (pg_temp.echo(r) -> 'headers') - 'accept-encoding' FROM concord.http_get(:'u' || '/echo') r),
  jsonb_build_object('host', '127.0.0.1:' || :'p', 'user-agent', 'concord/0.2', 'accept', '*/*'),
  'a GET sends Host, the default User-Agent and Accept, and no body headers');
SELECT ok((SELECT pg_temp.echo(r) -> 'headers' ->> 'accept-encoding' FROM concord.http_get(:'u' || '/echo') r) ~ 'gzip',
  'compressed responses are asked for');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'path', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http_get(%L) r) s$q$, :'u' || '/echo'),
  $$VALUES ('GET', '/echo', '')$$, 'http_get sends a GET without a body');

------------------------------------------------------------------------------
-- Query parameters
------------------------------------------------------------------------------

SELECT results_eq(
  format($q$SELECT url, pg_temp.echo(r) -> 'query' FROM concord.http_get(%L, %L) r$q$,
         :'u' || '/echo', '{"q": "张 三&co", "n": [1, 2.50, -3], "b": true, "f": false, "z": null, "e": ""}'),
  format($q$VALUES (%L, %L::jsonb)$q$,
         :'u' || '/echo?b=true&e=&f=false&n=1&n=2.50&n=-3&q=%E5%BC%A0%20%E4%B8%89%26co',
         '{"b": "true", "e": "", "f": "false", "n": ["1", "2.50", "-3"], "q": "张 三&co"}'),
  'parameters: arrays repeat the name, null is left out, numbers and booleans as text, UTF-8 percent-encoded');
SELECT is((concord.http_get(:'u' || '/echo', '{"a b/c": "x+y=z?", "k": "a-b.c_d~e"}')).url,
  :'u' || '/echo?k=a-b.c_d~e&a%20b%2Fc=x%2By%3Dz%3F', 'names and values: reserved characters encoded, unreserved kept');
SELECT is((concord.http_get(:'u' || '/echo?a=1', '{"b": "x y"}')).url,
  :'u' || '/echo?a=1&b=x%20y', 'parameters are appended to an existing query');
SELECT is((concord.http_get(:'u' || '/echo?', '{"b": 2}')).url,
  :'u' || '/echo?b=2', 'a URL ending in ? gets no extra &');
SELECT is((concord.http_get(:'u' || '/echo?a=1&', '{"b": 2}')).url,
  :'u' || '/echo?a=1&b=2', 'a URL ending in & gets no extra &');
SELECT is((SELECT pg_temp.echo(r) -> 'query' FROM concord.http_get(:'u' || '/echo#top', '{"a": 1}') r),
  '{"a": "1"}'::jsonb, 'parameters go before a fragment, which is not sent');
SELECT is((concord.http_get(:'u' || '/echo', '{}')).url, :'u' || '/echo', 'empty parameters leave the URL alone');
SELECT is((concord.http_get(:'u' || '/echo', '{"z": null, "y": [null]}')).url, :'u' || '/echo',
  'only-null parameters leave the URL alone');

------------------------------------------------------------------------------
-- Request headers
------------------------------------------------------------------------------

SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'x-department'
           FROM concord.http_get(:'u' || '/echo', headers => '{"X-Department": "销售"}') r),
  '销售', 'request headers are sent (UTF-8 values as they are)');
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'x-empty'
           FROM concord.http_get(:'u' || '/echo', headers => '{"X-Empty": ""}') r),
  '', 'an empty header value is sent as an empty header');
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'user-agent'
           FROM concord.http_get(:'u' || '/echo', headers => '{"User-Agent": "crm-sync/2"}') r),
  'crm-sync/2', 'a User-Agent header replaces the default one');
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'accept'
           FROM concord.http_get(:'u' || '/echo', headers => '{"Accept": "application/json"}') r),
  'application/json', 'an Accept header replaces the default one');

------------------------------------------------------------------------------
-- Methods and bodies
------------------------------------------------------------------------------

SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type', e->'headers'->>'content-length'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'hello 你好') r) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', 'hello 你好', 'text/plain; charset=utf-8', '12')$$,
  'http_post of text: text/plain UTF-8 by default, length in bytes');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, '{"amount": 128000, "name": "张三"}'::jsonb) r) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', '{"name": "张三", "amount": 128000}', 'application/json')$$,
  'http_post of jsonb sends application/json');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_put(%L, '<a/>', 'application/xml') r) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '<a/>', 'application/xml')$$, 'http_put of text with an explicit content type');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_put(%L, '{"a": 1}'::jsonb) r) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '{"a": 1}', 'application/json')$$, 'http_put of jsonb');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_patch(%L, 'status=已签约', 'application/x-www-form-urlencoded') r) s$q$, :'u' || '/echo'),
  $$VALUES ('PATCH', 'status=已签约', 'application/x-www-form-urlencoded')$$, 'http_patch of text');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http_patch(%L, '{"status": "A"}'::jsonb) r) s$q$, :'u' || '/echo'),
  $$VALUES ('PATCH', '{"status": "A"}', 'application/json')$$, 'http_patch of jsonb');
SELECT results_eq(
  format($q$SELECT e->>'method', e->'query'->>'id', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http_delete(%L, '{"id": 7}') r) s$q$, :'u' || '/echo'),
  $$VALUES ('DELETE', '7', '')$$, 'http_delete with parameters');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http('DELETE', %L, body => 'reason=dup') r) s$q$, :'u' || '/echo'),
  $$VALUES ('DELETE', 'reason=dup')$$, 'http() sends a body with any method');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type' FROM (SELECT pg_temp.echo(r) e FROM concord.http('POST', %L, body => 'x') r) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', 'x', 'text/plain; charset=utf-8')$$, 'http() with a body and no content type: text/plain UTF-8');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body_length' FROM (SELECT pg_temp.echo(r) e FROM concord.http('POST', %L) r) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', '0')$$, 'http() POST without a body sends an empty one');
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'content-type' FROM concord.http('GET', :'u' || '/echo', content_type => 'application/json') r),
  'application/json', 'a content type without a body is still sent');
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ->> 'content-type'
           FROM concord.http('POST', :'u' || '/echo', headers => '{"content-type": "application/x-custom"}', body => 'x', content_type => 'text/csv') r),
  'application/x-custom', 'a Content-Type in headers wins over content_type');
SELECT results_eq(
  format($q$SELECT e->>'body_length', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'café', 'text/plain; charset=iso-8859-1') r) s$q$, :'u' || '/echo'),
  $$VALUES ('4', 'caf' || chr(65533))$$, 'a text body is sent in the charset its content type names (é is one byte in Latin-1)');
SELECT is((SELECT pg_temp.echo(r) ->> 'body_length' FROM concord.http_post(:'u' || '/echo', '张三', 'text/plain; charset=GBK') r),
  '4', 'a GBK content type sends GBK bytes');
SELECT results_eq(
  format($q$SELECT e->>'body_length', e->'headers' ? 'expect' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, repeat('x', 100000)) r) s$q$, :'u' || '/echo'),
  $$VALUES ('100000', false)$$, 'a 100 kB body is sent whole, without Expect: 100-continue');
SELECT results_eq(
  format($q$SELECT e->>'body_length', e->'headers'->>'content-type' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, '') r) s$q$, :'u' || '/echo'),
  $$VALUES ('0', 'text/plain; charset=utf-8')$$, 'an empty text body is a body');
SELECT results_eq(
  format($q$SELECT status, body, length(body_bytes), content_type, headers->>'content-length' FROM concord.http_head(%L)$q$, :'u' || '/json'),
  format($q$VALUES (200, '', 0, 'application/json; charset=utf-8', %L)$q$, octet_length(:'r_body')::text),
  'http_head: headers of the GET, no body');
SELECT is((SELECT pg_temp.echo(r) ->> 'method' FROM concord.http('options', :'u' || '/echo') r), 'OPTIONS',
  'http() takes the method in any case');
SELECT is((SELECT pg_temp.echo(r) ->> 'method' FROM concord.http('Patch', :'u' || '/echo') r), 'PATCH',
  'mixed-case methods are sent upper-case');
SELECT results_eq(
  format($q$SELECT e->>'method', e->'query'->>'a', e->'headers'->>'x-a', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT pg_temp.echo(r) e FROM concord.http(concord.http_request('PUT', %L, '{"a": 1}', '{"X-A": "b"}', 'via request', 'text/csv')) r) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '1', 'b', 'via request', 'text/csv')$$, 'the http(http_request) overload sends every part');
SELECT is(concord.http_request('get', 'http://example.invalid/'),
  ROW('get', 'http://example.invalid/', NULL, NULL, NULL, NULL)::concord.http_request,
  'http_request() only builds the value');

------------------------------------------------------------------------------
-- Response content
------------------------------------------------------------------------------

SELECT results_eq(format('SELECT body, content_type FROM concord.http_get(%L)', :'u' || '/latin1'),
  $$VALUES ('café crème', 'text/plain; charset=iso-8859-1')$$, 'ISO-8859-1 text converted to the database encoding');
SELECT is((concord.http_get(:'u' || '/latin1')).body_bytes, '\x636166e9206372e86d65'::bytea,
  'body_bytes keeps the Latin-1 bytes');
SELECT is((concord.http_get(:'u' || '/gbk')).body, '张三 上海某某科技有限公司', 'GBK text converted');
SELECT results_eq(format($q$SELECT content_type, body LIKE '<!doctype html>%%<title>客户 360</title>%%', body_bytes = convert_to(body, 'UTF8') FROM concord.http_get(%L)$q$, :'u' || '/html'),
  $$VALUES ('text/html; charset=utf-8', true, true)$$, 'HTML is text');
SELECT results_eq(format($q$SELECT content_type, body LIKE '<?xml%%<name>张三</name>%%', body_bytes = convert_to(body, 'UTF8') FROM concord.http_get(%L)$q$, :'u' || '/xml'),
  $$VALUES ('application/xml', true, true)$$, 'application/xml (no charset: UTF-8) is text');
SELECT results_eq(format('SELECT body, content_type, body_bytes FROM concord.http_get(%L)', :'u' || '/binary'),
  $$VALUES (NULL::text, 'image/png'::text,
            '\x89504e470d0a1a0a'::bytea || (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea ORDER BY i) FROM generate_series(0, 255) i))$$,
  'binary content: body NULL, body_bytes exact');
SELECT results_eq(format('SELECT body, length(body_bytes), get_byte(body_bytes, 0), get_byte(body_bytes, 255), get_byte(body_bytes, 256), get_byte(body_bytes, 999) FROM concord.http_get(%L)', :'u' || '/bytes/1000'),
  $$VALUES (NULL::text, 1000, 0, 255, 0, 231)$$, 'application/octet-stream: 1000 exact bytes');
SELECT results_eq(format('SELECT body, content_type FROM concord.http_get(%L)', :'u' || '/no-type'),
  $$VALUES ('plain words'::text, NULL::text)$$, 'no content type and valid UTF-8: text');
SELECT results_eq(format('SELECT body, content_type, body_bytes FROM concord.http_get(%L)', :'u' || '/no-type-binary'),
  $$VALUES (NULL::text, NULL::text, '\x00fffe01'::bytea)$$, 'no content type and not UTF-8: binary');
SELECT results_eq(format('SELECT body::jsonb, headers->>''content-encoding'', body_bytes = convert_to(body, ''UTF8'') FROM concord.http_get(%L)', :'u' || '/gzip'),
  $$VALUES ('{"gzipped": true, "customers": [
    {"id": 1, "name": "张三", "phone": "+86 138-1234-5678", "company": "上海某某科技有限公司", "status": "已签约"},
    {"id": 2, "name": "張三", "phone": "13812345678", "company": "某某科技(上海)", "status": "跟进中"},
    {"id": 3, "name": "Zhang San", "phone": "１３８１２３４５６７８", "company": "Moumou Tech Co., Ltd.", "status": "A"}]}'::jsonb, 'gzip', true)$$,
  'gzip decoded: body and body_bytes hold the decoded content');
SELECT results_eq(format('SELECT body::jsonb ->> ''deflated'', body::jsonb -> ''customers'' -> 1 ->> ''name'', headers->>''content-encoding'' FROM concord.http_get(%L)', :'u' || '/deflate'),
  $$VALUES ('true', '張三', 'deflate')$$, 'deflate decoded');
SELECT results_eq(format('SELECT length(body), left(body, 16), headers->>''transfer-encoding'' FROM concord.http_get(%L)', :'u' || '/chunked/5000'),
  $$VALUES (5000, 'concord concord ', 'chunked')$$, 'a chunked body is assembled');
SELECT results_eq(format('SELECT octet_length(body), right(body, 8) FROM concord.http_get(%L)', :'u' || '/large/100000'),
  $$VALUES (100000, 'concord ')$$, 'a 100 kB body arrives whole');
SELECT results_eq(format('SELECT status, body, body_bytes, content_type FROM concord.http_get(%L)', :'u' || '/no-content'),
  $$VALUES (204, '', '\x'::bytea, NULL::text)$$, '204: empty body, no content type');
SELECT results_eq(format('SELECT status, body::jsonb FROM concord.http_get(%L)', :'u' || '/status/503'),
  $$VALUES (503, '{"status": 503}'::jsonb)$$, 'a 503 is a response, not an error');
SELECT results_eq(format('SELECT status, headers->>''retry-after'' FROM concord.http_get(%L)', :'u' || '/status/429?retry_after=120'),
  $$VALUES (429, '120')$$, 'a 429 with Retry-After');
SELECT is((SELECT headers - 'date' - 'server' - 'content-type' - 'content-length' FROM concord.http_get(:'u' || '/headers')),
  '{"x-concord": "one", "x-multi": "a, b", "set-cookie": "a=1, b=2"}'::jsonb,
  'repeated response headers are joined with ", "');
SELECT ok(pg_temp.valid_text_or_error(format('SELECT headers::text FROM concord.http_get(%L)',
                                              :'u' || '/status/429?retry_after=120')),
  'control: ordinary response headers are valid text');
-- A response header holding a byte that is not UTF-8 (here a Latin-1 é,
-- 0xE9) must not put invalid text into the headers jsonb.
SELECT ok(pg_temp.valid_text_or_error(format('SELECT headers::text FROM concord.http_get(%L)',
                                              :'u' || '/status/429?retry_after=caf%C3%A9')),
  'response headers never put invalid UTF-8 into the database (refused or converted)');
SELECT throws_ok($$SELECT pg_temp.valid_text_or_error('SELECT (1 / 0)::text')$$, '22012', NULL,
  'control: valid_text_or_error lets an error other than the encoding one through (it cannot pass on any error)');
SELECT is((SELECT headers ->> 'retry-after' FROM concord.http_get(:'u' || '/status/429?retry_after=caf%C3%A9')),
  'café', 'a header value that is not UTF-8 is read as ISO-8859-1');
SELECT is((SELECT headers ->> 'retry-after' FROM concord.http_get(:'u' || '/status/429?retry_after=%E5%BC%A0%E4%B8%89')),
  '张三', 'a header value in UTF-8 is read as UTF-8');

------------------------------------------------------------------------------
-- Redirects
------------------------------------------------------------------------------

SELECT results_eq(format('SELECT status, url, body::jsonb FROM concord.http_get(%L)', :'u' || '/redirect/3'),
  format($q$VALUES (200, %L, '{"redirected": true}'::jsonb)$q$, :'u' || '/redirect/0'),
  'redirects are followed; url is the final URL');
SELECT is((concord.http_get(:'u' || '/redirect/3', max_redirects => 3)).status, 200,
  'max_redirects => 3 is enough for three redirects');
SELECT results_eq(format('SELECT status, headers->>''location'', body, url FROM concord.http_get(%L, max_redirects => 0)', :'u' || '/redirect/3'),
  format($q$VALUES (302, '/redirect/2', '', %L)$q$, :'u' || '/redirect/3'),
  'max_redirects => 0 returns the redirect itself');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body_length' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'x') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=303'),
  $$VALUES ('GET', '0')$$, '303 after POST continues as GET without the body');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body_length' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'x') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=302'),
  $$VALUES ('GET', '0')$$, '302 after POST continues as GET without the body');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body_length' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'x') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=301'),
  $$VALUES ('GET', '0')$$, '301 after POST continues as GET without the body');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body_length' FROM (SELECT pg_temp.echo(r) e FROM concord.http_put(%L, 'x') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=303'),
  $$VALUES ('GET', '0')$$, '303 after PUT continues as GET');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http_put(%L, 'kept') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=302'),
  $$VALUES ('PUT', 'kept')$$, '302 after PUT keeps the method and body');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type' FROM (SELECT pg_temp.echo(r) e FROM concord.http_post(%L, 'kept') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=307'),
  $$VALUES ('POST', 'kept', 'text/plain; charset=utf-8')$$, '307 keeps the method, body and content type');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body' FROM (SELECT pg_temp.echo(r) e FROM concord.http_put(%L, 'kept') r) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=308'),
  $$VALUES ('PUT', 'kept')$$, '308 keeps the method and body');
SELECT results_eq(format($q$SELECT status, body, url FROM concord.http_head(%L)$q$, :'u' || '/redirect-to?url=/echo&status=303'),
  format($q$VALUES (200, '', %L)$q$, :'u' || '/echo'), 'HEAD stays HEAD through a 303');
-- After a 303 (or a 301/302 answering a POST) the body is dropped, and with
-- it its Content-Type (RFC 9110, section 15.4).
SELECT is((SELECT pg_temp.echo(r) -> 'headers' ? 'content-type'
           FROM concord.http_post(:'u' || '/redirect-to?url=/echo&status=303', 'x') r),
  false, 'the GET after a 303 carries no Content-Type of the dropped body');
SELECT is((concord.http_get(:'u' || '/redirect-to?url=' || :'u' || '/echo%3Fvia%3Dabsolute')).url,
  :'u' || '/echo?via=absolute', 'an absolute Location is followed');

------------------------------------------------------------------------------
-- Connections are kept alive across calls in a backend
------------------------------------------------------------------------------

SELECT is((SELECT count(DISTINCT pg_temp.echo(concord.http_get(:'u' || '/echo', jsonb_build_object('i', g))) -> 'connection_id')
           FROM generate_series(1, 5) g)::int,
  1, 'five calls in one statement share one kept-alive connection');
SELECT pg_temp.echo(concord.http_get(:'u' || '/echo')) -> 'connection_id' AS conn \gset
SELECT is(pg_temp.echo(concord.http_get(:'u' || '/echo')) -> 'connection_id', :'conn'::jsonb,
  'a call in the next statement reuses the connection');
SELECT is(pg_temp.echo(concord.http_post(:'u' || '/echo', 'x')) -> 'connection_id', :'conn'::jsonb,
  'so does a POST');

SELECT is((SELECT body::jsonb -> 'headers' ? 'content-type' FROM concord.http('POST', :'u' || '/echo')), false,
  'a POST without a body or content type sends no Content-Type');

SELECT * FROM finish();
ROLLBACK;
