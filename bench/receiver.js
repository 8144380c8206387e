// bench/receiver.js — a webhook receiver for bench/flow.sh, in plain
// Node.js (no packages): POST /hook/<name> counts the delivery and its
// Idempotency-Key and answers 200; GET /received/<name>/summary tells how
// many and how many distinct keys; GET /received/<name>/latency the p50 and
// p99 of (arrival - the "sent_ms" of the body), for bodies that carry it.
// POST /slow/<ms>/<name> is /hook/<name> answered after <ms> ms (a slow
// endpoint); POST /hang/<name> is never answered (a hanging endpoint: the
// client's timeout ends it); GET /delay/<ms> answers {} after <ms> ms (for
// http_batch and pg_net).
// Listens on 127.0.0.1 only; prints its port on the first line.
'use strict';
const http = require('http');
const hooks = new Map();

function hook(name) {
  if (!hooks.has(name)) hooks.set(name, { count: 0, keys: new Set(), lat: [] });
  return hooks.get(name);
}

const server = http.createServer((req, res) => {
  const d = req.url.match(/^\/delay\/(\d+)$/);
  if (d) {
    req.resume();
    setTimeout(() => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{}'); }, +d[1]);
    return;
  }
  if (/^\/hang\/[a-z0-9_]+$/.test(req.url)) { req.resume(); return; }
  let wait = 0;
  const s = req.url.match(/^\/slow\/(\d+)\/([a-z0-9_]+)$/);
  if (s) { wait = +s[1]; req.url = '/hook/' + s[2]; }
  const m = req.url.match(/^\/(hook|received)\/([a-z0-9_]+)(\/summary|\/latency)?$/);
  if (!m) { res.writeHead(404); res.end(); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const h = hook(m[2]);
    if (m[1] === 'hook' && req.method === 'POST') {
      h.count++;
      h.keys.add(req.headers['idempotency-key']);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body.sent_ms === 'number') h.lat.push(Date.now() - body.sent_ms);
      } catch (e) { /* not JSON: counted all the same */ }
      const answer = () => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"ok":true}'); };
      if (wait > 0) setTimeout(answer, wait); else answer();
    } else if (m[3] === '/latency') {
      const l = h.lat.slice().sort((a, b) => a - b);
      const q = (p) => (l.length ? l[Math.min(l.length - 1, Math.floor(p * l.length))] : null);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ n: l.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: l.length ? l[l.length - 1] : null }));
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: m[2], count: h.count, distinct_keys: h.keys.size }));
    }
  });
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
