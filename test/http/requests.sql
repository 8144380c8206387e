-- Requests and responses: every call function against the stub server.
BEGIN;
SELECT plan(40);

SELECT current_setting('concord_test.stub_url') AS u,
       current_setting('concord_test.stub_port') AS p \gset
SELECT concord.http_allow_host('127.0.0.1', :'p'::int) IS NOT NULL AS allowed \gset

-- GET: status, content type, decoded JSON text, final URL
SELECT * FROM concord.http_get(:'u' || '/json') \gset r_
SELECT is(:r_status, 200, 'http_get returns the status');
SELECT is(:'r_content_type'::text, 'application/json; charset=utf-8', 'content type as sent by the server');
SELECT is((:'r_body'::jsonb -> 'customers' -> 0 ->> 'name'), '张三'::text, 'UTF-8 JSON body decoded');
SELECT is(:'r_url'::text, :'u' || '/json', 'url is the URL fetched');
SELECT ok(:r_elapsed_ms > 0, 'elapsed_ms is measured');
SELECT is(length(:'r_body_bytes'::bytea), octet_length(:'r_body'::text), 'body_bytes holds the same bytes as body');

-- Query parameters: arrays repeat, null is left out, values are percent-encoded
SELECT is((SELECT body::jsonb -> 'query'
           FROM concord.http_get(:'u' || '/echo', '{"q": "张 三&co", "n": [1, 2], "b": true, "z": null}')),
  '{"q": "张 三&co", "n": ["1", "2"], "b": "true"}'::jsonb, 'query parameters encoded');
SELECT is((SELECT url FROM concord.http_get(:'u' || '/echo?a=1', '{"b": "x y"}')),
  :'u' || '/echo?a=1&b=x%20y', 'parameters are appended to an existing query');

-- Request headers are sent; response headers come back with lower-case names
SELECT is((SELECT body::jsonb -> 'headers' ->> 'x-department'
           FROM concord.http_get(:'u' || '/echo', headers => '{"X-Department": "销售"}')),
  '销售', 'request headers are sent');
SELECT is((SELECT body::jsonb -> 'headers' ->> 'x-empty'
           FROM concord.http_get(:'u' || '/echo', headers => '{"X-Empty": ""}')),
  '', 'an empty header value is sent');
SELECT is((SELECT headers ->> 'x-concord' FROM concord.http_get(:'u' || '/headers')), 'one',
  'response header names are lower-case');
SELECT is((SELECT headers ->> 'x-multi' FROM concord.http_get(:'u' || '/headers')), 'a, b',
  'repeated response headers are joined');
SELECT is((SELECT headers ->> 'set-cookie' FROM concord.http_get(:'u' || '/headers')), 'a=1, b=2',
  'repeated Set-Cookie headers are joined');

-- Methods and bodies
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT body::jsonb e FROM concord.http_post(%L, 'hello 你好')) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', 'hello 你好', 'text/plain; charset=utf-8')$$,
  'http_post with a text body defaults to text/plain UTF-8');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT body::jsonb e FROM concord.http_post(%L, '{"amount": 128000}'::jsonb)) s$q$, :'u' || '/echo'),
  $$VALUES ('POST', '{"amount": 128000}', 'application/json')$$,
  'http_post with a jsonb body sends application/json');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body', e->'headers'->>'content-type'
     FROM (SELECT body::jsonb e FROM concord.http_put(%L, '<a/>', 'application/xml')) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '<a/>', 'application/xml')$$,
  'http_put with an explicit content type');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body' FROM (SELECT body::jsonb e FROM concord.http_put(%L, '{"a": 1}'::jsonb)) s$q$, :'u' || '/echo'),
  $$VALUES ('PUT', '{"a": 1}')$$, 'http_put with a jsonb body');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body' FROM (SELECT body::jsonb e FROM concord.http_patch(%L, 'status=已签约', 'application/x-www-form-urlencoded')) s$q$, :'u' || '/echo'),
  $$VALUES ('PATCH', 'status=已签约')$$, 'http_patch with a text body');
SELECT results_eq(
  format($q$SELECT e->>'method', e->>'body' FROM (SELECT body::jsonb e FROM concord.http_patch(%L, '{"status": "A"}'::jsonb)) s$q$, :'u' || '/echo'),
  $$VALUES ('PATCH', '{"status": "A"}')$$, 'http_patch with a jsonb body');
SELECT results_eq(
  format($q$SELECT e->>'method', e->'query'->>'id' FROM (SELECT body::jsonb e FROM concord.http_delete(%L, '{"id": 7}')) s$q$, :'u' || '/echo'),
  $$VALUES ('DELETE', '7')$$, 'http_delete with parameters');
SELECT results_eq(
  format($q$SELECT status, body, length(body_bytes), content_type FROM concord.http_head(%L)$q$, :'u' || '/json'),
  $$VALUES (200, '', 0, 'application/json; charset=utf-8')$$, 'http_head has headers and no body');
SELECT is((SELECT body::jsonb ->> 'method' FROM concord.http('options', :'u' || '/echo')), 'OPTIONS',
  'http() takes the method in any case');
SELECT is((SELECT body::jsonb ->> 'body' FROM concord.http(concord.http_request('POST', :'u' || '/echo', body => 'via request'))),
  'via request', 'http(http_request) overload');

-- Redirects
SELECT results_eq(format('SELECT status, url FROM concord.http_get(%L)', :'u' || '/redirect/3'),
  format('VALUES (200, %L)', :'u' || '/redirect/0'), 'redirects are followed; url is the final URL');
SELECT results_eq(format('SELECT status, headers->>''location'' FROM concord.http_get(%L, max_redirects => 0)', :'u' || '/redirect/3'),
  $$VALUES (302, '/redirect/2')$$, 'max_redirects => 0 returns the redirect itself');
SELECT is((SELECT body::jsonb ->> 'method' FROM concord.http_post(:'u' || '/redirect-to?url=/echo&status=303', 'x')),
  'GET', '303 after POST continues as GET');
SELECT is((SELECT body::jsonb ->> 'method' FROM concord.http_post(:'u' || '/redirect-to?url=/echo&status=302', 'x')),
  'GET', '302 after POST continues as GET');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body' FROM (SELECT body::jsonb e FROM concord.http_post(%L, 'kept')) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=307'),
  $$VALUES ('POST', 'kept')$$, '307 keeps the method and body');
SELECT results_eq(format($q$SELECT e->>'method', e->>'body' FROM (SELECT body::jsonb e FROM concord.http_put(%L, 'kept')) s$q$,
                         :'u' || '/redirect-to?url=/echo&status=308'),
  $$VALUES ('PUT', 'kept')$$, '308 keeps the method and body');

-- Content: charsets, binary, compression, chunked, empty
SELECT is((concord.http_get(:'u' || '/latin1')).body, 'café crème', 'ISO-8859-1 text converted');
SELECT is((concord.http_get(:'u' || '/gbk')).body, '张三 上海某某科技有限公司', 'GBK text converted');
SELECT results_eq(format('SELECT body, body_bytes FROM concord.http_get(%L)', :'u' || '/binary'),
  $$VALUES (NULL::text, '\x89504e470d0a1a0a'::bytea || (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea ORDER BY i) FROM generate_series(0, 255) i))$$,
  'binary content: body NULL, body_bytes exact');
SELECT is((concord.http_get(:'u' || '/no-type')).body, 'plain words', 'untyped UTF-8 content is text');
SELECT results_eq(format('SELECT body, body_bytes FROM concord.http_get(%L)', :'u' || '/no-type-binary'),
  $$VALUES (NULL::text, '\x00fffe01'::bytea)$$, 'untyped non-UTF-8 content is binary');
SELECT is((concord.http_get(:'u' || '/gzip')).body::jsonb ->> 'gzipped', 'true', 'gzip decoded');
SELECT is((concord.http_get(:'u' || '/deflate')).body::jsonb ->> 'deflated', 'true', 'deflate decoded');
SELECT is(length((concord.http_get(:'u' || '/chunked/5000')).body), 5000, 'chunked body assembled');
SELECT results_eq(format('SELECT status, body, body_bytes FROM concord.http_get(%L)', :'u' || '/no-content'),
  $$VALUES (204, '', '\x'::bytea)$$, '204 has an empty body');
SELECT is((concord.http_get(:'u' || '/status/503')).status, 503, 'an error status is a response, not an error');

-- Keep-alive: consecutive calls reuse one connection
SELECT is((SELECT count(DISTINCT (concord.http_get(:'u' || '/echo', jsonb_build_object('i', g))).body::jsonb -> 'connection_id')
           FROM generate_series(1, 5) g)::int,
  1, 'five sequential calls share one kept-alive connection');

SELECT * FROM finish();
ROLLBACK;
