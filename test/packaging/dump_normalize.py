#!/usr/bin/env python3
"""test/packaging/dump_normalize.py DBNAME < dump > normalized

A pg_dump --schema-only --binary-upgrade of a database, made comparable
with another database's (test/packaging/upgrade_dump.sh): comments,
blank lines, psql's \\restrict lines, the OID-preserving calls of
binary upgrade and sequences' positions (data, not schema: an upgrade may
move concord.metric_generation_seq on) left out; the grants on an object
sorted; the configuration tables' conditions sorted (the tables' OIDs
are placeholders: their order is all that may differ); OIDs, transaction
ids and the database's name replaced by placeholders; and each CREATE TABLE's column lines sorted (a
column an upgrade adds comes last; its position is all that may differ).
"""
import re
import sys

text = sys.stdin.read().replace(sys.argv[1], "DB")
out, cols, in_table = [], [], False
for line in text.split("\n"):
    if (line.startswith("--") or line.startswith("\\restrict") or line.startswith("\\unrestrict")
            or "binary_upgrade_set_" in line or line.strip() == ""
            or line.startswith("SELECT pg_catalog.setval(")):
        continue
    line = re.sub(r"'\{[0-9,]+\}'", "'{OIDS}'", line)
    # the configuration tables' conditions, in any order (an upgrade marks
    # the tables it adds after those of the release it starts from)
    m = re.match(r"(SELECT pg_catalog\.binary_upgrade_create_empty_extension\(.*'\{OIDS\}', ')\{(.*)\}(', .*)$", line)
    if m:
        line = m.group(1) + "{" + ",".join(sorted(re.findall(r'"(?:[^"\\]|\\.)*"', m.group(2)))) + "}" + m.group(3)
    line = re.sub(r"(oid = )'[0-9]+'", r"\1'OID'", line)
    line = re.sub(r"relfrozenxid = '[0-9]+', relminmxid = '[0-9]+'", "relfrozenxid = 'XID', relminmxid = 'XID'", line)
    if in_table:
        if line.startswith(")"):
            out.extend(sorted(c.rstrip(",") for c in cols))
            out.append(line)
            in_table, cols = False, []
        else:
            cols.append(line)
        continue
    out.append(line)
    if re.match(r"CREATE TABLE .*\($", line):
        in_table = True
# the grants on one object, in any order (an ACL lists them as they were made)
final, run = [], []
for line in out + [""]:
    if line.startswith(("GRANT ", "REVOKE ")):
        run.append(line)
        continue
    final.extend(sorted(run))
    run = []
    final.append(line)
print("\n".join(final))
