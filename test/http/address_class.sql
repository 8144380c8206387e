-- concord.http_address_class: the destination guard's classes of IP
-- addresses.  A pure function: none of these addresses is ever dialled.
BEGIN;
SELECT plan(92);
-- PUBLIC may classify addresses (docs/http.md): a role granted nothing does.
CREATE ROLE tap_http_anyone;
SET LOCAL ROLE tap_http_anyone;

-- IPv4, with the edges of each range
SELECT is(concord.http_address_class(a), c, format('%s is %s', a, c))
FROM (VALUES
  ('127.0.0.1', 'loopback'),
  ('127.255.255.254', 'loopback'),
  ('10.0.0.1', 'private'),
  ('10.255.255.255', 'private'),
  ('172.15.255.255', 'public'),
  ('172.16.0.1', 'private'),
  ('172.31.255.255', 'private'),
  ('172.32.0.1', 'public'),
  ('192.168.0.1', 'private'),
  ('192.169.0.1', 'public'),
  ('100.63.255.255', 'public'),
  ('100.64.0.1', 'private'),
  ('100.127.255.255', 'private'),
  ('100.128.0.1', 'public'),
  ('169.254.0.1', 'link_local'),
  ('169.254.169.253', 'link_local'),
  ('169.254.169.254', 'metadata'),
  ('100.100.100.200', 'metadata'),
  ('168.63.129.16', 'metadata'),
  ('168.63.129.17', 'public'),
  ('0.0.0.0', 'unspecified'),
  ('0.1.2.3', 'unspecified'),
  ('224.0.0.1', 'multicast'),
  ('239.255.255.250', 'multicast'),
  ('240.0.0.1', 'reserved'),
  ('255.255.255.255', 'reserved'),
  ('192.0.0.8', 'reserved'),
  ('192.0.2.1', 'reserved'),
  ('198.51.100.7', 'reserved'),
  ('203.0.113.7', 'reserved'),
  ('198.18.0.1', 'reserved'),
  ('198.19.255.255', 'reserved'),
  ('198.20.0.1', 'public'),
  ('192.88.99.1', 'reserved'),
  ('8.8.8.8', 'public'),
  ('1.1.1.1', 'public'),
  ('223.255.255.255', 'public')
) AS t(a, c);

-- IPv6
SELECT is(concord.http_address_class(a), c, format('%s is %s', a, c))
FROM (VALUES
  ('::1', 'loopback'),
  ('0:0:0:0:0:0:0:1', 'loopback'),
  ('::', 'unspecified'),
  ('fe80::1', 'link_local'),
  ('FE80::1', 'link_local'),
  ('febf:ffff::1', 'link_local'),
  ('fec0::1', 'private'),
  ('fc00::1', 'private'),
  ('fd12:3456::1', 'private'),
  ('ff02::1', 'multicast'),
  ('ff05::1:3', 'multicast'),
  ('2001:db8::1', 'reserved'),
  ('2001::1', 'reserved'),
  ('100::1', 'reserved'),
  ('100:0:0:1::1', 'public'),
  ('fd00:ec2::254', 'metadata'),
  ('fd00:ec2::253', 'private'),
  ('2400:3200::1', 'public'),
  ('2606:4700:4700::1111', 'public')
) AS t(a, c);

-- IPv6 forms that embed an IPv4 address take that address's class
SELECT is(concord.http_address_class(a), c, format('%s is %s', a, c))
FROM (VALUES
  ('::ffff:127.0.0.1', 'loopback'),
  ('::ffff:7f00:1', 'loopback'),
  ('::ffff:10.0.0.1', 'private'),
  ('::ffff:8.8.8.8', 'public'),
  ('::ffff:169.254.169.254', 'metadata'),
  ('::127.0.0.1', 'loopback'),
  ('::8.8.8.8', 'public'),
  ('64:ff9b::7f00:1', 'loopback'),
  ('64:ff9b::a9fe:a9fe', 'metadata'),
  ('64:ff9b::808:808', 'public'),
  ('64:ff9b:1::1', 'private'),
  ('2002:a9fe:a9fe::', 'metadata'),
  ('2002:7f00:1::', 'loopback'),
  ('2002:808:808::1', 'public')
) AS t(a, c);

-- Brackets and zone ids are accepted
SELECT is(concord.http_address_class(a), c, format('%s is %s', a, c))
FROM (VALUES
  ('[::1]', 'loopback'),
  ('[2001:db8::1]', 'reserved'),
  ('fe80::1%eth0', 'link_local')
) AS t(a, c);

-- Anything else is refused
SELECT throws_ok(format('SELECT concord.http_address_class(%L)', a), '22P02',
                 format('invalid IP address "%s"', a), format('%L is not an IP address', a))
FROM (VALUES
  ('not-an-ip'), ('999.1.1.1'), (''), ('1.2.3'), ('2130706433'), ('localhost'),
  ('127.0.0.1 '), ('1.2.3.4/32'), ('::ffff:999.1.1.1'), ('12345::1'), (':::1'),
  ('[]'), ('[::1'), ('0x7f.0.0.1')
) AS t(a);
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN h;
END $$;
SELECT is(pg_temp.hint_of($$SELECT concord.http_address_class('not-an-ip')$$),
  'Give an IPv4 address such as 10.0.0.1 or an IPv6 address such as fd00::1.',
  'the refusal shows what an address looks like');

-- Function properties
SELECT is(concord.http_address_class(NULL), NULL, 'NULL in, NULL out (STRICT)');
SELECT volatility_is('concord', 'http_address_class', ARRAY['text'], 'immutable', 'http_address_class is IMMUTABLE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'concord.http_address_class(text)'::regprocedure), 's',
  'http_address_class is PARALLEL SAFE');
SELECT ok(has_function_privilege('public', 'concord.http_address_class(text)', 'EXECUTE'),
  'PUBLIC may classify addresses');

SELECT * FROM finish();
ROLLBACK;
