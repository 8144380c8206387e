// test/arch/same_parse.js -- do two versions of an SQL part parse to the same
// function bodies, but for pg_catalog qualification?  The check behind the
// rewrites of test/arch/qualified.py fix: every CREATE FUNCTION of both
// files (in order) is parsed with PostgreSQL's own parser (libpg_query, the
// npm package libpg-query), PL/pgSQL bodies statement by statement and each
// embedded SQL expression on its own; locations are dropped and a leading
// pg_catalog taken off every name (operators, functions, types); then the
// trees must be equal.  It prints the functions that differ (with -v, where)
// and those whose new body does not parse.  SQL inside string literals
// (EXECUTE format(...)) is compared as text.  Not run by test/check.sh (it
// needs npm):
//   npm install --prefix /tmp/pgq libpg-query@18
//   NODE_PATH=/tmp/pgq/node_modules node test/arch/same_parse.js OLD.sql NEW.sql [-v]
// e.g. OLD from git show REV:src/identity/identity.sql.
const q = require('libpg-query');
const fs = require('fs');
function norm(o) {
  if (Array.isArray(o)) {
    let a = o.map(norm);
    if (a.length >= 2 && a[0] && a[0].String && a[0].String.sval === 'pg_catalog') a = a.slice(1);
    return a;
  }
  if (o && typeof o === 'object') {
    const r = {};
    for (const k of Object.keys(o)) {
      if (['location', 'stmt_location', 'stmt_len', 'lineno', 'list_start', 'list_end', 'rexpr_list_start', 'rexpr_list_end'].includes(k)) continue;
      if (k === 'query' && typeof o[k] === 'string') { r[k] = parseExpr(o[k]); continue; }
      r[k] = norm(o[k]);
    }
    return r;
  }
  return o;
}
function tryParse(s) { try { return norm(q.parseSync(s)); } catch (e) { return null; } }
function parseExpr(s) {
  let t = tryParse(s); if (t) return t;
  t = tryParse('SELECT ' + s); if (t) return t;
  const m = s.match(/^\s*[\w.\[\]"]+\s*:=([\s\S]*)$/);
  if (m) { t = tryParse('SELECT ' + m[1]); if (t) return {assign: t}; }
  return 'UNPARSED:' + s.replace(/\s+/g, ' ');
}
function funcs(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/@extschema@/g, 'concord');
  const tree = q.parseSync(text);
  const out = [];
  const buf = Buffer.from(text, 'utf8');
  for (const s of tree.stmts) {
    const st = s.stmt.CreateFunctionStmt;
    if (!st) continue;
    const src = buf.slice(s.stmt_location || 0, (s.stmt_location || 0) + s.stmt_len).toString('utf8');
    const name = st.funcname.map(n => n.String.sval).join('.');
    const lang = (st.options || []).map(o => o.DefElem).find(d => d.defname === 'language');
    const l = lang ? lang.arg.String.sval : 'sql';
    let body;
    if (l === 'plpgsql') {
      try { body = norm(q.parsePlPgSQLSync(src)); } catch (e) { body = 'PLPGSQL-ERROR ' + e.message; }
    } else {
      const as = (st.options || []).map(o => o.DefElem).find(d => d.defname === 'as');
      if (as && l === 'sql') body = tryParse(as.arg.List.items[0].String.sval) || 'SQLERR';
      else body = norm(st.sql_body || null);
    }
    out.push({name, body: JSON.stringify(body)});
  }
  return out;
}
(async () => {
  await q.loadModule();
  const a = funcs(process.argv[2]), b = funcs(process.argv[3]);
  if (a.length !== b.length) console.log('count differs', a.length, b.length);
  let bad = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i].body !== b[i].body) {
      bad++;
      console.log('DIFF', a[i].name);
      if (process.argv[4] === "-v") {
        const x = a[i].body, y = b[i].body; let k = 0; while (k < x.length && x[k] === y[k]) k++;
        console.log('  old:', x.slice(Math.max(0, k - 300), k + 300)); console.log('  new:', y.slice(Math.max(0, k - 300), k + 300));
      }
    }
    if (/UNPARSED|ERROR|SQLERR/.test(b[i].body)) console.log('UNPARSED in', b[i].name, (b[i].body.match(/UNPARSED:[^"]{0,120}/g)||[]).slice(0,3));
  }
  console.log(a.length, 'functions,', bad, 'differ');
})();
