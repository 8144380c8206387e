#!/usr/bin/env python3
"""test/arch/roles.py -- which pgTAP files call concord's API as a role other
than a superuser (issue 24: "run each component's API tests as the role the
docs give its users").

A test file "switches" when it, or a pg_temp helper it calls from a file it
includes with \\ir, does one of:

  SET [LOCAL] ROLE name / SET SESSION AUTHORIZATION name   (not postgres)
  a libpq connection string with user=...                  (not user=postgres)

Usage: roles.py [--root DIR] report   one line per component: files, switching
       roles.py [--root DIR] check    exits 1, saying why, when a component
                                      has no switching file, when a file of
                                      the components below switches nowhere
                                      and is not listed with a reason in
                                      test/arch/superuser_tests.txt, or when
                                      that list names a file that is gone or
                                      that switches.

Every component is held to the per-file rule.
"""

import os
import re
import sys

COMPONENTS = ["http", "secret", "sync", "identity", "policy", "metric", "flow"]
PER_FILE = ["http", "secret", "sync", "identity", "policy", "metric", "flow"]
LIST = "test/arch/superuser_tests.txt"

SWITCH = re.compile(
    r"\bSET\s+(?:LOCAL\s+|SESSION\s+)?ROLE\s+(?!postgres\b|NONE\b)[\"a-zA-Z_\u0080-\uffff]"
    r"|\bSET\s+SESSION\s+AUTHORIZATION\s+(?!postgres\b)[\"a-zA-Z_]"
    r"|\buser=(?!postgres\b)[a-zA-Z_%:'\"\u0080-\uffff]",
    re.IGNORECASE)
INCLUDE = re.compile(r"^\\ir\s+(\S+)", re.MULTILINE)
HELPER = re.compile(r"CREATE\s+FUNCTION\s+pg_temp\.([a-z_0-9]+)\s*\(", re.IGNORECASE)


def strip_comments(text):
    """The text without -- comments (a role named in prose is no switch)."""
    return re.sub(r"--[^\n]*", "", text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def includes(root, path, seen=None):
    """The files path includes with \\ir, recursively."""
    seen = set() if seen is None else seen
    for inc in INCLUDE.findall(read(os.path.join(root, path))):
        p = os.path.normpath(os.path.join(os.path.dirname(path), inc))
        if p not in seen and os.path.exists(os.path.join(root, p)):
            seen.add(p)
            includes(root, p, seen)
    return seen


def switching_helpers(text):
    """Names of the pg_temp functions defined in text whose body switches."""
    names = set()
    starts = [(m.start(), m.group(1)) for m in HELPER.finditer(text)]
    for i, (pos, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        if SWITCH.search(text[pos:end]):
            names.add(name)
    return names


def outside_helpers(text):
    """text without the bodies of the pg_temp functions it defines."""
    starts = [m.start() for m in HELPER.finditer(text)]
    if not starts:
        return text
    out = text[:starts[0]]
    for i, pos in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        body = text[pos:end]
        # a helper ends with its $$; or $fn$; line: keep what follows
        m = re.search(r"\$[a-z_]*\$\s*;", body[body.find("$"):] if "$" in body else "")
        tail = body[body.find("$") + m.end():] if m else ""
        out += tail
    return out


def switches(root, path):
    """Whether the test file at path calls the API as another role."""
    own = strip_comments(read(os.path.join(root, path)))
    if SWITCH.search(own):
        return True
    helpers = set()
    for inc in includes(root, path):
        text = strip_comments(read(os.path.join(root, inc)))
        # an included file that switches itself, outside its helpers
        # (people.psql registers the sources as a member and stays her)
        if SWITCH.search(outside_helpers(text)):
            return True
        helpers |= switching_helpers(text)
    return any(re.search(r"\bpg_temp\.%s\s*\(" % re.escape(h), own) for h in helpers)


def test_files(root, component):
    d = os.path.join(root, "test", component)
    if not os.path.isdir(d):
        return []
    return sorted("test/%s/%s" % (component, f) for f in os.listdir(d) if f.endswith(".sql"))


def listed(root):
    """The superuser list: {path: reason}."""
    out = {}
    p = os.path.join(root, LIST)
    if not os.path.exists(p):
        return out
    for n, line in enumerate(read(p).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path, _, reason = line.partition(":")
        out[path.strip()] = (reason.strip(), n)
    return out


def main(argv):
    root = "."
    if len(argv) > 2 and argv[1] == "--root":
        root = argv[2]
        argv = argv[:1] + argv[3:]
    cmd = argv[1] if len(argv) > 1 else "check"
    problems, lines = [], []
    su = listed(root)
    for c in COMPONENTS:
        files = test_files(root, c)
        sw = [f for f in files if switches(root, f)]
        lines.append("%s: %d of %d files switch to another role" % (c, len(sw), len(files)))
        if not sw:
            problems.append("component %s: no test file calls its API as a role other than a superuser" % c)
        if c in PER_FILE:
            for f in files:
                if f not in sw and f not in su:
                    problems.append("%s switches to no role and is not in %s (say why it runs as superuser)" % (f, LIST))
    for f, (reason, n) in sorted(su.items()):
        if not os.path.exists(os.path.join(root, f)):
            problems.append("%s:%d names %s, which is not there" % (LIST, n, f))
        elif not reason:
            problems.append("%s:%d gives no reason for %s" % (LIST, n, f))
        elif switches(root, f):
            problems.append("%s:%d lists %s, which switches to a role now: take it off" % (LIST, n, f))
    if cmd == "report":
        print("\n".join(lines))
        return 0
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
