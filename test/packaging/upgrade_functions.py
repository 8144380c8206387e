#!/usr/bin/env python3
"""test/packaging/upgrade_functions.py -- the functions of the sources
against a built upgrade script, read independently of src/upgrade/expand.awk
(its own SQL statement splitter), for test/packaging/upgrade_functions.sh.

  upgrade_functions.py parts                 the Makefile's SQL_PARTS, one a line
  upgrade_functions.py missing SCRIPT [PART...]
        every CREATE FUNCTION / CREATE PROCEDURE statement of the parts
        (default: SQL_PARTS) that SCRIPT does not hold word for word as
        CREATE OR REPLACE, one "file: name(arguments" a line; exit 1 if any
  upgrade_functions.py functions FILE        the function statements of FILE,
        as CREATE OR REPLACE, separated by a line "-- ----"
  upgrade_functions.py drops IN              the DROP FUNCTION / PROCEDURE /
        ROUTINE statements of an upgrade script's .in, "before" or "after"
        its -- @functions line, tab, the routine as written
"""
import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def statements(text):
    """The statements of a SQL file: each ends at a ';' outside quotes
    ('...', E'...', "...", dollar quotes), comments and BEGIN ATOMIC
    bodies (CASE ... END pairs inside them counted)."""
    out = []
    i, n, start = 0, len(text), 0
    depth = 0
    prev = ""
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        if c == "\\" and (i == 0 or text[i - 1] == "\n"):  # psql's \echo ... \quit
            j = text.find("\n", i)
            i = n if j < 0 else j
            start = i
            continue
        if c == "'":
            escapes = i > 0 and text[i - 1] in "Ee" and (i < 2 or not re.match(r"[A-Za-z0-9_$]", text[i - 2]))
            j = i + 1
            while True:
                if escapes and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c == '"':
            i = text.index('"', i + 1) + 1
            continue
        if c == "$" and (i == 0 or not re.match(r"[A-Za-z0-9_]", text[i - 1])):
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m:
                i = text.index(m.group(0), i + len(m.group(0))) + len(m.group(0))
                continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_$]*", text[i:]) if (c.isalpha() or c == "_") else None
        if m:
            word = m.group(0).upper()
            if word == "ATOMIC" and prev == "BEGIN" and depth == 0:
                depth = 1
            elif depth and word == "CASE":
                depth += 1
            elif depth and word == "END":
                depth -= 1
            prev = word
            i += len(m.group(0))
            continue
        if c == ";" and depth == 0:
            out.append(strip(text[start:i + 1]))
            start = i + 1
            prev = ""
        i += 1
    if strip(text[start:]):
        raise SystemExit("text after the last statement: " + strip(text[start:])[:80])
    return out


def strip(s):
    """A statement without the comments and blank lines before it."""
    while True:
        s = s.lstrip()
        if s.startswith("--"):
            s = s[s.index("\n") + 1:] if "\n" in s else ""
        elif s.startswith("/*"):
            s = s[s.index("*/") + 2:]
        else:
            return s


def sql_parts():
    text = open(os.path.join(REPO, "Makefile")).read().replace("\\\n", " ")
    m = re.search(r"^SQL_PARTS\s*=(.*)$", text, re.M)
    return m.group(1).split()


FUNCTION = re.compile(r"CREATE (OR REPLACE )?(FUNCTION|PROCEDURE) ")


def functions(path):
    return [FUNCTION.sub(lambda m: "CREATE OR REPLACE %s " % m.group(2), s, count=1)
            for s in statements(open(path).read()) if FUNCTION.match(s)]


def main(argv):
    if argv[:1] == ["parts"]:
        print("\n".join(sql_parts()))
        return 0
    if argv[:1] == ["functions"]:
        print("\n-- ----\n".join(functions(argv[1])))
        return 0
    if argv[:1] == ["missing"]:
        script = set(statements(open(argv[1]).read()))
        parts = argv[2:] or sql_parts()
        bad = 0
        for part in parts:
            for f in functions(os.path.join(REPO, part) if not os.path.isabs(part) else part):
                if f not in script:
                    print("%s: %s" % (part, re.match(r"CREATE OR REPLACE \w+ @extschema@\.([^)\n]*)", f).group(1)))
                    bad += 1
        return 1 if bad else 0
    if argv[:1] == ["drops"]:
        text = open(argv[1]).read()
        at = text.find("\n-- @functions\n")
        for s in statements(text):
            m = re.match(r"DROP (FUNCTION|PROCEDURE|ROUTINE) (IF EXISTS )?(.*);$", s, re.S)
            if m:
                pos = text.find(s)
                print("%s\t%s" % ("before" if at < 0 or pos < at else "after", " ".join(m.group(3).split())))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
