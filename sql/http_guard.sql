--
-- The destination guard as a reader sees it: address classes, URL
-- redaction, allowlist rows and the errors a refused request raises.  No
-- request here leaves the machine: every URL is refused before any
-- connection is opened.
--

-- Address classes: what a host admitted by name may reach (public only,
-- unless its row says allow_private; metadata only when listed literally).
SELECT a AS address, concord.http_address_class(a) AS class
FROM unnest(ARRAY[
  '8.8.8.8', '203.0.113.7', '127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1',
  '100.64.0.1', '169.254.10.10', '169.254.169.254', '100.100.100.200',
  '168.63.129.16', '0.0.0.0', '224.0.0.251', '255.255.255.255',
  '::1', '::', 'fe80::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1',
  'fd00:ec2::254', '::ffff:127.0.0.1', '::ffff:8.8.8.8', '64:ff9b::a00:1',
  '2002:a9fe:a9fe::1', '[2400:3200::1]', '2400:3200::1']) a;

SELECT concord.http_address_class('localhost');
SELECT concord.http_address_class('1.2.3');

-- What messages and the call log show of a URL.
SELECT u AS url, concord.http_redact_url(u) AS shown_as
FROM unnest(ARRAY[
  'https://crm.example.com/api/customers?page=2',
  'https://sales:hunter2@crm.example.com/api',
  'https://crm.example.com/api?access_token=abc&page=1',
  'https://billing.example.com/v1/invoices?apikey=k1&Signature=s2&customer=%E5%BC%A0',
  'https://service.example.com/tickets?session_id=42#top',
  'not even a url?password=p']) u;

-- Allowlist rows: patterns are trimmed and lower-cased; allowing again
-- updates the row.
SELECT host_pattern, port, allow_private, note
FROM concord.http_allow_host(' *.Sales.Example.COM ', 443, note => 'sales CRM');
SELECT host_pattern, port, allow_private, note
FROM concord.http_allow_host('10.20.0.0/16', 8080, note => 'finance billing');
SELECT host_pattern, port, allow_private, note
FROM concord.http_allow_host('*.sales.example.com', 443, allow_private => true);
SELECT host_pattern, port, allow_private, note FROM concord.http_allow ORDER BY host_pattern;

-- Patterns the table refuses, and why.
\set VERBOSITY default
SELECT concord.http_allow_host('Sales CRM');
SELECT concord.http_allow_host('*.');
SELECT concord.http_allow_host('10.0.0.0/33');
INSERT INTO concord.http_allow (host_pattern) VALUES ('CRM.Example.com');

-- Refusals name the destination and the fix.
SELECT concord.http_get('http://127.0.0.2:8080/customers');
SELECT concord.http_get('https://crm.example.com/api?token=SECRET');
SELECT concord.http_get('https://sales.example.com/api');
SELECT concord.http_get('http://crm.sales.example.com/api');
SELECT concord.http_get('http://[fd00::1]:8080/');
SELECT concord.http_get('ftp://files.example.com/export.csv');

-- Removing rows reports whether there was one.
SELECT concord.http_disallow_host('*.sales.example.com', 443) AS removed,
       concord.http_disallow_host('10.20.0.0/16', 8080) AS removed_too;
SELECT concord.http_disallow_host('10.20.0.0/16', 8080) AS removed_again;
SELECT count(*) AS rows_left FROM concord.http_allow;
