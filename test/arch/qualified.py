#!/usr/bin/env python3
"""test/arch/qualified.py -- operators in concord's function bodies are
written qualified, OPERATOR(pg_catalog.=), as conventions.md asks of code
that runs with more rights than its caller (issue: house rules in identity
SQL).

Reads the SQL parts given and, in the body of every CREATE FUNCTION (a
dollar-quoted body, BEGIN ATOMIC ... END or RETURN ...), finds the binary
operators written bare, outside string literals and comments, and the
constructs that look an operator up by its bare name (IN (...), NOT IN,
BETWEEN, LIKE, CASE x WHEN, NULLIF, JOIN ... USING).  Not IS [NOT]
DISTINCT FROM, which has no qualified spelling (a row's would be long and
slow to write out): it relies on the pinned search_path, which finds
pg_catalog's = first.  SQL built in string literals (EXECUTE format(...))
is not read: tests run it.  --elevated reads only the bodies of functions
that say SECURITY DEFINER or SET concord.run_as (the functions they call
are not followed).

  qualified.py [--elevated] check FILE...
                               lists what it finds as FILE:LINE: ...;
                               exits 1 if it found any
  qualified.py [--elevated] fix FILE
                               prints FILE with every bare binary operator
                               qualified, parenthesised where the bare
                               operators' precedence grouped them otherwise
                               than left to right (OPERATOR(...) binds like
                               any other operator: tighter than = and
                               looser than +); the constructs are left for
                               a person to rewrite

test/arch/same_parse.js checks a rewrite: the old and the new file must
parse, with PostgreSQL's parser, to the same function bodies but for the
pg_catalog qualification.
"""

import re
import sys

OPCHARS = set("+-*/<>=~!@#%^&|`?")
# words after which an operator is binary: operands end with these
OPERAND_KEYWORDS = {"end", "null", "true", "false"}
KEYWORDS = {
    "select", "where", "and", "or", "not", "then", "else", "when", "case", "on", "by", "set", "return",
    "returning", "in", "is", "as", "from", "join", "distinct", "all", "any", "values", "if", "elsif",
    "loop", "into", "using", "execute", "perform", "raise", "exception", "notice", "warning", "info",
    "group", "order", "having", "limit", "offset", "union", "except", "intersect", "with", "left",
    "right", "inner", "outer", "full", "cross", "lateral", "exists", "between", "like", "ilike",
    "insert", "update", "delete", "do", "nothing", "conflict", "begin", "declare", "for", "foreach",
    "while", "exit", "continue", "return", "query", "array", "some", "filter", "over", "partition",
    "asc", "desc", "nulls", "first", "last", "default", "strict", "get", "diagnostics", "open", "fetch",
    "close", "elseif", "atomic", "lock", "table", "create", "drop", "alter", "truncate", "analyze",
}


def string_end(text, j, end, backslash):
    """The index of the quote that closes a string literal whose text
    starts at j ('' inside is a quote; with backslash, as in E'...', a
    backslash escapes the next character); end if it is not closed."""
    while j < end:
        if backslash and text[j] == "\\":
            j += 2
            continue
        if text[j] == "'":
            if j + 1 < end and text[j + 1] == "'":
                j += 2
                continue
            break
        j += 1
    return j


def tokens(text, start, end):
    """Yield (kind, value, offset) for text[start:end]; kinds: str, comment,
    dollar, word, num, op, punct, space."""
    i = start
    while i < end:
        c = text[i]
        if c.isspace():
            j = i
            while j < end and text[j].isspace():
                j += 1
            yield "space", text[i:j], i
            i = j
        elif text.startswith("--", i):
            j = text.find("\n", i, end)
            j = end if j < 0 else j
            yield "comment", text[i:j], i
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2, end)
            j = end if j < 0 else j + 2
            yield "comment", text[i:j], i
            i = j
        elif c in "eE" and i + 1 < end and text[i + 1] == "'":
            j = string_end(text, i + 2, end, True)
            yield "str", text[i:j + 1], i
            i = j + 1
        elif c == "'":
            j = string_end(text, i + 1, end, False)
            yield "str", text[i:j + 1], i
            i = j + 1
        elif c == '"':
            j = text.find('"', i + 1, end)
            j = end if j < 0 else j
            yield "word", text[i:j + 1], i
            i = j + 1
        elif c == "$":
            m = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$").match(text, i, end)
            if m:
                tag = m.group(0)
                j = text.find(tag, m.end(), end)
                j = end if j < 0 else j + len(tag)
                yield "dollar", text[i:j], i
                i = j
            else:
                m = re.compile(r"\$[0-9]*").match(text, i, end)
                yield "word", m.group(0), i
                i = m.end()
        elif c.isalpha() or c == "_" or text.startswith("@extschema@", i):
            m = re.compile(r"[@A-Za-z_\u0080-\uffff][@A-Za-z_0-9\u0080-\uffff]*").match(text, i, end)
            yield "word", m.group(0), i
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?").match(text, i, end)
            yield "num", m.group(0), i
            i = m.end()
        elif text.startswith("::", i) or text.startswith(":=", i) or text.startswith("..", i):
            yield "punct", text[i:i + 2], i
            i += 2
        elif c in OPCHARS:
            j = i
            while j < end and text[j] in OPCHARS:
                # "--" or "/*" starts a comment even inside an operator
                if text.startswith("--", j) or text.startswith("/*", j):
                    break
                j += 1
            op = text[i:j]
            yield "op", op, i
            i = j
        else:
            yield "punct", c, i
            i += 1


ELEVATED_ONLY = False


def bodies(text):
    """Yield (start, end) of each function body of text: the inside of the
    dollar quote after AS, or BEGIN ATOMIC ... END, or RETURN ... ;.  With
    ELEVATED_ONLY, only those of functions whose header says SECURITY
    DEFINER or SET concord.run_as."""
    for m in re.finditer(r"^CREATE (OR REPLACE )?(FUNCTION|PROCEDURE)\b", text, re.M | re.I):
        header_end = None
        for t in re.finditer(r"\bAS\s+(\$[A-Za-z_0-9]*\$)|^BEGIN ATOMIC\b|^RETURN\b|;\s*$", text[m.end():], re.M):
            header_end = t
            break
        if header_end is None or header_end.group(0).strip() == ";":
            continue
        s = m.end() + header_end.start()
        header = text[m.start():s]
        if ELEVATED_ONLY and not re.search(r"SECURITY DEFINER|SET concord\.run_as", header, re.I):
            continue
        if header_end.group(1):
            tag = header_end.group(1)
            b = m.end() + header_end.end()
            e = text.find(tag, b)
            yield b, e
        elif header_end.group(0).startswith("BEGIN"):
            b = s + len("BEGIN ATOMIC")
            e = re.compile(r"^END;", re.M).search(text, b).start()
            yield b, e
        else:
            b = s + len("RETURN")
            e = re.compile(r";\s*$", re.M).search(text, b).start()
            yield b, e


def scan(text):
    """Return (rewrites, constructs): rewrites are (offset, op) of bare binary
    operators, constructs (offset, what) of bare lookups by name."""
    rewrites, constructs = [], []
    for b, e in bodies(text):
        sig = []          # significant tokens so far: (kind, value, lower)
        depth = 0
        set_depth = None  # paren depth of an UPDATE ... SET / SET LOCAL list
        using_opts = False
        skip_operator = 0
        for kind, val, off in tokens(text, b, e):
            if kind in ("space", "comment"):
                continue
            low = val.lower()
            if kind == "dollar":
                # a nested dollar quote: a body of its own (DO, EXECUTE)
                sig.append(("str", val, low))
                continue
            if skip_operator:
                if val == "(":
                    skip_operator += 1
                elif val == ")":
                    skip_operator -= 1
                    if skip_operator == 1:
                        skip_operator = 0
                        sig.append(("op", "OPERATOR()", "operator()"))
                continue
            if kind == "word" and low == "operator":
                skip_operator = 1
                continue
            if val == "(":
                depth += 1
            elif val == ")":
                depth -= 1
                if set_depth is not None and depth < set_depth:
                    set_depth = None
            elif val == ";":
                set_depth = None
                using_opts = False
            if kind == "word":
                if low == "set":
                    set_depth = depth
                elif low in ("where", "from", "returning") and set_depth == depth:
                    set_depth = None
                elif low == "using" and any(s[2] == "raise" for s in sig[-40:]):
                    using_opts = True
                prev = sig[-1][2] if sig else ""
                prev2 = sig[-2][2] if len(sig) > 1 else ""
                prev3 = sig[-3][2] if len(sig) > 2 else ""
                if low == "in" and prev not in ("for", "foreach") and not (
                        prev2 in ("for", "foreach")) and not _in_for_header(sig) and not (
                        prev2 == "(" and prev3 == "position"):
                    constructs.append((off, ("NOT IN" if prev == "not" else "IN") + " (uses a bare =)"))
                elif low == "between":
                    constructs.append((off, "BETWEEN (uses bare <= and >=)"))
                elif low in ("like", "ilike") and prev != "(":
                    constructs.append((off, low.upper() + " (a bare ~~)"))
                elif low == "nullif":
                    constructs.append((off, "NULLIF (uses a bare =)"))
                elif low == "when" and _simple_case(sig):
                    constructs.append((off, "CASE x WHEN (uses a bare =)"))
                elif low == "using" and prev != "" and not using_opts and _join_using(sig):
                    constructs.append((off, "JOIN ... USING (uses a bare =)"))
            if kind == "op":
                prevk, prevv, prevl = sig[-1] if sig else ("", "", "")
                binary = (prevk in ("str", "num") or prevv in (")", "]")
                          or (prevk == "word" and (prevl not in KEYWORDS or prevl in OPERAND_KEYWORDS)))
                assignment = False
                if val == "=":
                    p2 = sig[-2][2] if len(sig) > 1 else ""
                    if set_depth == depth and prevk == "word" and (p2 in ("set", ",", "local") or prevv == ")"):
                        assignment = True
                    if p2 == "diagnostics" or (using_opts and p2 in ("using", ",")):
                        assignment = True
                if val in ("=>",) or (val == "*" and not binary):
                    pass
                elif binary and not assignment:
                    rewrites.append((off, val))
            sig.append((kind if kind != "dollar" else "str", val, low))
    return rewrites, constructs


def _in_for_header(sig):
    """The IN of FOR x IN / FOR x, y IN (a loop, not a comparison)."""
    for k, v, low in reversed(sig[-8:]):
        if low in ("for", "foreach"):
            return True
        if k not in ("word",) and v != ",":
            return False
    return False


def _simple_case(sig):
    """WHEN of CASE x WHEN (a value after CASE), not of CASE WHEN."""
    depth = 0
    for i in range(len(sig) - 1, -1, -1):
        v, low = sig[i][1], sig[i][2]
        if v == ")":
            depth += 1
        elif v == "(":
            if depth == 0:
                return False
            depth -= 1
        elif depth == 0 and low == "end":
            depth_end = 1
            # skip a nested CASE ... END
            j = i - 1
            while j >= 0 and depth_end:
                if sig[j][2] == "end":
                    depth_end += 1
                elif sig[j][2] == "case":
                    depth_end -= 1
                j -= 1
            return _simple_case(sig[:j + 1]) if j >= 0 else False
        elif depth == 0 and low == "case":
            return i + 1 < len(sig) and sig[i + 1][2] != "when"
    return False


def _join_using(sig):
    """USING after a JOIN's table: a join by equality of named columns."""
    for k, v, low in reversed(sig[-4:]):
        if low == "join":
            return True
    return False


# Precedence classes as PostgreSQL's grammar has them for bare operators
# (OPERATOR(...) is always "any other operator").
def op_class(op):
    if op in ("*", "/", "%"):
        return 1
    if op in ("+", "-"):
        return 2
    if op in ("=", "<", ">", "<=", ">=", "<>", "!="):
        return 4
    return 3


def fix(text):
    """text with every bare binary operator of its function bodies written
    OPERATOR(pg_catalog.op), parenthesised where the bare operators'
    precedence grouped them otherwise than left to right."""
    rewrites, _ = scan(text)
    at = {off: op for off, op in rewrites}
    inserts = {}   # offset -> text inserted before it
    for b, e in bodies(text):
        toks = [(k, v, o) for k, v, o in tokens(text, b, e) if k not in ("space", "comment")]
        _fix_chains(toks, at, inserts)
    out, last = [], 0
    points = sorted(set(list(at) + list(inserts)))
    for off in points:
        out.append(text[last:off])
        if off in inserts:
            out.append(inserts[off])
        last = off
        if off in at:
            op = at[off]
            before = "" if out and out[-1][-1:].isspace() or out[-1].endswith("(") else " "
            after_c = text[off + len(op):off + len(op) + 1]
            after = "" if after_c.isspace() or after_c == ")" else " "
            out.append("%sOPERATOR(pg_catalog.%s)%s" % (before, op, after))
            last = off + len(op)
    out.append(text[last:])
    return "".join(out)


def _fix_chains(toks, at, inserts):
    """Group toks into chains of operands joined by operators at one depth,
    and parenthesise the right operands that are themselves chains."""
    # split into segments at boundaries of each depth, recursively
    def ends(i):
        """index after the operand atom starting at i (a paren group, a
        CASE ... END, or one token, with what binds tighter: calls, casts,
        subscripts, field selection)."""
        k, v, o = toks[i]
        low = v.lower()
        if low == "case":
            d = 1
            j = i + 1
            while j < len(toks) and d:
                lw = toks[j][1].lower()
                if lw == "case":
                    d += 1
                elif lw == "end":
                    d -= 1
                j += 1
            return j
        if v in ("(", "["):
            d = 1
            j = i + 1
            while j < len(toks) and d:
                if toks[j][1] in ("(", "["):
                    d += 1
                elif toks[j][1] in (")", "]"):
                    d -= 1
                j += 1
            return j
        return i + 1

    def is_op(j):
        return toks[j][2] in at or toks[j][1].lower() == "operator"

    def op_end(j):
        if toks[j][1].lower() == "operator":
            return ends(j + 1)
        return j + 1

    def op_name(j):
        if toks[j][1].lower() == "operator":
            return "OPERATOR"
        return toks[j][1]

    def walk(i, stop):
        """Chains in toks[i:stop] at this depth; recurse into groups."""
        chain_ops, operands, cur_start = [], [], i
        j = i
        def close(end):
            if chain_ops:
                operands.append((cur_start_[0], end))
                _paren(toks, chain_ops, operands, inserts)
            chain_ops.clear()
            operands.clear()
        cur_start_ = [i]
        while j < stop:
            k, v, o = toks[j]
            low = v.lower()
            if is_op(j):
                operands.append((cur_start_[0], j))
                chain_ops.append(j)
                j = op_end(j)
                cur_start_[0] = j
                continue
            boundary = (v in (",", ";", ":=", "..") or (k == "op" and o not in at)
                        or (k == "word" and low in KEYWORDS and low not in OPERAND_KEYWORDS and low != "case"))
            if boundary:
                close(j)
                cur_start_[0] = j + 1
                j += 1
                continue
            n = ends(j)
            if n > j + 1:
                # a group: recurse inside it
                inner_from = j + 1
                inner_to = n - 1
                if low == "case":
                    walk_case(j + 1, n - 1)
                else:
                    walk(inner_from, inner_to)
            j = n
        close(stop)

    def walk_case(i, stop):
        # CASE ... END: keywords split it into chains already
        walk(i, stop)

    walk(0, len(toks))


def _paren(toks, ops, operands, inserts):
    """ops (token indexes) join operands (spans) left to right; build the
    tree PostgreSQL builds from bare operators and parenthesise each right
    operand that is an operation itself."""
    classes = []
    for j in ops:
        v = toks[j][1]
        classes.append(3 if v.lower() == "operator" else op_class(v))
    if len(set(classes)) <= 1 and 4 not in classes:
        return
    # precedence climbing over operands[0..n] and ops[0..n-1]
    pos = [0]

    def parse(min_prec_class):
        # lower class number binds tighter; comparison (4) loosest
        left = ("leaf", operands[pos[0]][0], operands[pos[0]][1])
        while pos[0] < len(ops) and classes[pos[0]] <= min_prec_class:
            c = classes[pos[0]]
            pos[0] += 1
            right = parse(c - 1)
            left = ("node", left[1], right[2], left, right)
        return left

    def parse_top():
        left = ("leaf", operands[0][0], operands[0][1])
        pos[0] = 0
        return parse_all()

    def parse_all():
        left = ("leaf", operands[pos[0]][0], operands[pos[0]][1])
        return climb(left, 4)

    def climb(left, max_c):
        while pos[0] < len(ops) and classes[pos[0]] <= max_c:
            c = classes[pos[0]]
            pos[0] += 1
            right = ("leaf", operands[pos[0]][0], operands[pos[0]][1])
            while pos[0] < len(ops) and classes[pos[0]] < c:
                right = climb(right, classes[pos[0]])
            left = ("node", left[1], right[2], left, right)
        return left

    pos[0] = 0
    tree = parse_all()

    def mark(node):
        if node[0] == "leaf":
            return
        l, r = node[3], node[4]
        mark(l)
        mark(r)
        if r[0] == "node":
            a, z = r[1], r[2]
            inserts[toks[a][2]] = inserts.get(toks[a][2], "") + "("
            endoff = toks[z - 1][2] + len(toks[z - 1][1])
            inserts[endoff] = ")" + inserts.get(endoff, "")

    mark(tree)


def line_of(text, off):
    return text.count("\n", 0, off) + 1


def main(argv):
    global ELEVATED_ONLY
    if argv and argv[0] == "--elevated":
        ELEVATED_ONLY = True
        argv = argv[1:]
    if len(argv) >= 2 and argv[0] == "check":
        bad = 0
        for f in argv[1:]:
            text = open(f, encoding="utf-8").read()
            rewrites, constructs = scan(text)
            for off, op in rewrites:
                print("%s:%d: bare operator %s" % (f, line_of(text, off), op))
            for off, what in constructs:
                print("%s:%d: %s" % (f, line_of(text, off), what))
            bad += len(rewrites) + len(constructs)
        return 1 if bad else 0
    if len(argv) == 2 and argv[0] == "fix":
        text = open(argv[1], encoding="utf-8").read()
        sys.stdout.write(fix(text))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
