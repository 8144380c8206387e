#!/usr/bin/env python3
"""test/arch/deps.py -- the arrows between concord's components, as the code
has them, checked against the design.

An arrow A -> B means: code of component A names something of component B.
It is seen in three places:
  - C: `#include "B/..."` in a file of A (core's headers are concord.h and
    compat.h, at the top of src/);
  - SQL: `@extschema@.name` in an SQL part of A, where name is a table, view,
    function, procedure, type or sequence created by an SQL part of B;
  - SQL inside C: a string literal `concord.name` in a C file of A (the
    statements C runs through SPI), name as above.
Comments are not references.  Messages that mention another component's
function to the reader (a hint saying "store it with concord.secret_set")
are not references either: in C, a string passed to errhint/errdetail/
errmsg or marked as a hint; in SQL, the text of a RAISE or of a
HINT/DETAIL/MESSAGE option (they use the plain `concord.` spelling, never
`@extschema@`).

Usage: deps.py [--root DIR] edges|check|violations
  edges       every arrow with one example of where it is seen
  check       exit 1 when an arrow goes against the design (listed)
"""
import os
import re
import sys

COMPONENTS = ["core", "secret", "http", "sync", "identity", "policy", "metric", "flow"]

# The design (../shared/design.md): the arrows drawn there, between
# components; every component also uses core, and core uses none.  A
# component may use what it reaches along these arrows (flow uses http
# through sync's door as well as directly): the allowed arrows are their
# transitive closure.
DESIGN = {
    "flow": {"metric", "sync"},
    "metric": {"policy", "http"},
    "sync": {"http"},
    "http": {"secret"},
    "policy": {"secret"},
    "secret": set(),
    "identity": set(),
    "core": set(),
}


def closure(design):
    allowed = {}
    for a in design:
        seen, todo = set(), list(design[a])
        while todo:
            b = todo.pop()
            if b not in seen:
                seen.add(b)
                todo.extend(design.get(b, ()))
        allowed[a] = seen | ({"core"} if a != "core" else set())
    return allowed


ALLOWED = closure(DESIGN)

# The one file that names every component: it calls their registrations
# (src/components.c).  It is not core: core may not reach it but through
# concord.h, and it may include every component's header.
WIRING = "src/components.c"

DEF_RE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE|TABLE|(?:MATERIALIZED\s+)?VIEW|TYPE|SEQUENCE|DOMAIN|AGGREGATE)"
    r"\s+(?:IF\s+NOT\s+EXISTS\s+)?@extschema@\.(\w+)", re.I)
TABLE_RE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?@extschema@\.(\w+)", re.I)
SQL_REF_RE = re.compile(r"@extschema@\.(\w+)")
C_REF_RE = re.compile(r"\bconcord\.(\w+)")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def component_of(rel):
    if rel == WIRING:
        return "wiring"
    parts = rel.split("/")
    if parts[0] != "src":
        return None
    if len(parts) == 2:
        return "core"
    if parts[1] in COMPONENTS:
        return parts[1]
    return None  # src/upgrade: released history, not the code


def strip_c_comments(text):
    # Keep line numbers: comments become spaces (newlines kept).
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                  lambda m: blank(m) if m.group(0).startswith("/") else m.group(0),
                  text, flags=re.S)


def strip_sql_comments(text):
    out = []
    for line in text.split("\n"):
        # a -- comment outside a quoted string
        q = False
        cut = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if c == "'":
                q = not q
            elif not q and line.startswith("--", i):
                cut = i
                break
            i += 1
        out.append(line[:cut])
    return "\n".join(out)


MESSAGE_CALL_RE = re.compile(r"\b(errhint|errdetail|errmsg|errhint_plural|errdetail_plural|hint|detail)\s*\(|\bhint\s*=|_hint\s*=|\"[A-Z][^\"]*\bconcord\.", re.I)


def c_message_spans(text):
    """Ranges of text that are the argument lists of message calls."""
    spans = []
    for m in re.finditer(r"\b(errhint|errdetail|errmsg|errmsg_internal|errdetail_internal|http_error_set|refuse|\w+_bad|DefineCustom\w+Variable)\s*\(", text):
        depth = 0
        i = m.end() - 1
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            elif text[i] == '"':
                j = i + 1
                while j < len(text) and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                i = j
            i += 1
        spans.append((m.start(), i))
    return spans


def sql_message_spans(text):
    """Ranges that are RAISE statements (up to their semicolon)."""
    spans = []
    for m in re.finditer(r"\bRAISE\b", text, re.I):
        end = text.find(";", m.end())
        spans.append((m.start(), end if end >= 0 else len(text)))
    return spans


def in_spans(pos, spans):
    return any(a <= pos < b for a, b in spans)


def statement_spans(text, keyword):
    """Ranges of the statements starting with keyword (to their semicolon)."""
    spans = []
    for m in re.finditer(r"^\s*" + keyword + r"\b", text, re.I | re.M):
        end = text.find(";", m.end())
        spans.append((m.start(), end if end >= 0 else len(text)))
    return spans


def scan(root):
    """Every reference across components: a list of
    (from, to, "file:line what", private) where private says the reference
    reads another component's table (not through its API)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, "src")):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith((".c", ".h", ".sql")):
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                comp = component_of(rel)
                if comp:
                    files.append((rel, comp))
    texts = {}
    for rel, comp in files:
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            texts[rel] = fh.read()

    owner = {}  # SQL object name -> set of components defining it
    tables = set()
    for rel, comp in files:
        if rel.endswith(".sql"):
            code = strip_sql_comments(texts[rel])
            for m in DEF_RE.finditer(code):
                owner.setdefault(m.group(1).lower(), set()).add(comp)
            for m in TABLE_RE.finditer(code):
                tables.add(m.group(1).lower())

    refs = []

    def add(a, b, rel, text, pos, what, private=False):
        if a == b:
            return
        line = text.count("\n", 0, pos) + 1
        refs.append((a, b, "%s:%d %s" % (rel, line, what), private))

    for rel, comp in files:
        text = texts[rel]
        if rel.endswith((".c", ".h")):
            code = strip_c_comments(text)
            for m in INCLUDE_RE.finditer(code):
                inc = m.group(1)
                if "/" in inc and inc.split("/")[0] in COMPONENTS:
                    add(comp, inc.split("/")[0], rel, code, m.start(1), '#include "%s"' % inc)
                elif inc in ("concord.h", "compat.h"):
                    add(comp, "core", rel, code, m.start(1), '#include "%s"' % inc)
            spans = c_message_spans(code)
            for m in C_REF_RE.finditer(code):
                name = m.group(1).lower()
                if name in owner and comp not in owner[name] and not in_spans(m.start(), spans):
                    for b in owner[name]:
                        add(comp, b, rel, code, m.start(), "concord.%s" % name, name in tables)
        else:
            code = strip_sql_comments(text)
            spans = sql_message_spans(code)
            grants = statement_spans(code, "(?:GRANT|REVOKE)")
            for m in SQL_REF_RE.finditer(code):
                name = m.group(1).lower()
                if name in owner and comp not in owner[name] and not in_spans(m.start(), spans):
                    for b in owner[name]:
                        add(comp, b, rel, code, m.start(), "@extschema@.%s" % name,
                            name in tables and not in_spans(m.start(), grants))
    return refs, owner


def order(c):
    return COMPONENTS.index(c) if c in COMPONENTS else len(COMPONENTS)


def violations(refs):
    """The references against the design: an arrow it does not allow, or
    another component's table read directly."""
    out = []
    for a, b, where, private in refs:
        if a == "wiring":
            if not where.split(" ", 1)[1].startswith("#include"):
                out.append("the wiring file does more than include headers: %s" % where)
            continue
        if b not in ALLOWED.get(a, set()):
            out.append("arrow against the design: %s -> %s    %s" % (a, b, where))
        elif private:
            out.append("%s reads a table of %s, not its API: %s" % (a, b, where))
    return out


def arrows(refs):
    edges = {}
    for a, b, where, private in refs:
        if a != "wiring":
            edges.setdefault((a, b), []).append(where)
    return edges


def main():
    args = sys.argv[1:]
    root = "."
    if args[:1] == ["--root"]:
        root = args[1]
        args = args[2:]
    cmd = args[0] if args else "check"
    refs, owner = scan(root)
    edges = arrows(refs)
    if cmd == "edges":
        for (a, b) in sorted(edges, key=lambda e: (order(e[0]), order(e[1]))):
            for where in (edges[(a, b)] if "--all" in args else edges[(a, b)][:1]):
                print("%s -> %s    %s" % (a, b, where))
        return 0
    if cmd == "arrows":
        # what each component reaches, as docs/architecture.md shows it
        for a in COMPONENTS:
            outs = [b for b in COMPONENTS if (a, b) in edges]
            print("%-8s -> %s" % (a, ", ".join(outs) if outs else "(nothing)"))
        return 0
    if cmd == "dupes":
        for name, comps in sorted(owner.items()):
            if len(comps) > 1:
                print("%s defined by %s" % (name, ", ".join(sorted(comps))))
        return 0
    bad = violations(refs)
    for v in bad:
        print(v)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
