# src/upgrade/expand.awk — builds an upgrade script from its .sql.in: the
# statements written for the upgrade as they are, and in place of these
# directives the current text of the sources (the install script's parts,
# given as -v parts="FILE ...", the Makefile's SQL_PARTS), so that no
# function is ever named by hand, and none can be missed:
#
#   -- @functions           every function and procedure of the parts, in
#                           their order, as CREATE OR REPLACE, with what
#                           the parts say about functions after it: COMMENT
#                           ON, ALTER, GRANT and REVOKE on functions and
#                           routines, and the install-time calls that make
#                           or grant routines (grant_routines,
#                           deprecated_alias).  Whatever the body: $fn$, $$
#                           or any dollar quote, BEGIN ATOMIC, RETURN, C.
#   -- @view FILE NAME      view NAME of FILE: its CREATE VIEW statement and
#                           the COMMENT ON VIEW that follows it
#   -- @file FILE           FILE's statements but those @functions emits
#   -- @comments FILE       every COMMENT ON COLUMN statement of FILE
#
# A function whose result, argument names or defaults changed since the
# last release cannot be replaced: the .in drops it above -- @functions
# (test/packaging/upgrade_functions.sh finds every such function and fails
# when its DROP is missing).  Whatever the functions need (tables, columns,
# types, the views that SQL-bodied functions read) is made above
# -- @functions; whatever needs them (views over them, policies, data
# migrations, registrations) below.
#
# Once a version is released, its upgrade script is frozen: the built
# script is committed under src/upgrade/ as concord--A--B.sql and its .in
# removed.  Usage:
#   awk -v parts="src/concord.sql ..." -f src/upgrade/expand.awk FILE.sql.in > FILE.sql

function fail(msg) {
	print "expand.awk: " msg > "/dev/stderr"
	failed = 1
	exit 1
}

# Split file f into its SQL statements: st[1..n] (each with the comment and
# blank lines before it), the count returned.  A statement ends at a ";"
# outside quotes ('...', E'...', "...", any dollar quote), comments (--,
# /* */) and a BEGIN ATOMIC body (whose CASE ... END pairs are counted).
# psql's backslash lines (\echo ... \quit) are left out.
function split_file(f, st,    line, n, buf, i, c, len, state, tag, word, prev, depth, got, t) {
	n = 0
	buf = ""
	state = ""     # "", "'", "E'", "\"", "$" (dollar quote), "/*"
	tag = ""
	prev = ""      # the last word outside quotes
	depth = 0      # > 0 inside a BEGIN ATOMIC body
	got = 0
	while ((getline line < f) > 0) {
		got = 1
		if (state == "" && line ~ /^\\/)
			continue
		len = length(line)
		i = 1
		while (i <= len) {
			c = substr(line, i, 1)
			if (state == "'" || state == "E'") {
				if (state == "E'" && c == "\\") {
					i += 2
					continue
				}
				if (c == "'") {
					if (substr(line, i + 1, 1) == "'") {
						i += 2
						continue
					}
					state = ""
				}
				i++
				continue
			}
			if (state == "\"") {
				if (c == "\"")
					state = ""
				i++
				continue
			}
			if (state == "/*") {
				if (substr(line, i, 2) == "*/") {
					state = ""
					i += 2
					continue
				}
				i++
				continue
			}
			if (state == "$") {
				if (substr(line, i, length(tag)) == tag) {
					i += length(tag)
					state = ""
					continue
				}
				i++
				continue
			}
			# outside quotes and comments
			if (substr(line, i, 2) == "--")
				break
			if (substr(line, i, 2) == "/*") {
				state = "/*"
				i += 2
				continue
			}
			if (c == "'") {
				state = (i > 1 && substr(line, i - 1, 1) ~ /[Ee]/ && (i == 2 || substr(line, i - 2, 1) !~ /[A-Za-z0-9_$]/)) ? "E'" : "'"
				i++
				continue
			}
			if (c == "\"") {
				state = "\""
				i++
				continue
			}
			if (c == "$" && (i == 1 || substr(line, i - 1, 1) !~ /[A-Za-z0-9_]/)) {
				t = substr(line, i)
				if (match(t, /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/)) {
					tag = substr(t, 1, RLENGTH)
					state = "$"
					i += RLENGTH
					continue
				}
			}
			if (c ~ /[A-Za-z_]/) {
				t = substr(line, i)
				match(t, /^[A-Za-z_][A-Za-z0-9_$]*/)
				word = toupper(substr(t, 1, RLENGTH))
				i += RLENGTH
				if (word == "ATOMIC" && prev == "BEGIN" && depth == 0)
					depth = 1
				else if (depth > 0 && word == "CASE")
					depth++
				else if (depth > 0 && word == "END")
					depth--
				prev = word
				continue
			}
			if (c == ";" && depth == 0) {
				st[++n] = buf substr(line, 1, i)
				buf = ""
				line = substr(line, i + 1)
				len = length(line)
				i = 1
				prev = ""
				continue
			}
			i++
		}
		buf = buf line "\n"
	}
	close(f)
	if (!got)
		fail("cannot read " f)
	if (state != "" || depth > 0)
		fail("a statement of " f " does not end (an open quote, comment or BEGIN ATOMIC)")
	if (buf ~ /[^ \t\n]/ && strip(buf) != "")
		fail("text after the last statement of " f)
	return n
}

# A statement without the comments (--, /* */) and blank lines before it.
function strip(s,    e) {
	for (;;) {
		if (match(s, /^[ \t\n]+/))
			s = substr(s, RLENGTH + 1)
		else if (substr(s, 1, 2) == "--")
			s = (index(s, "\n") ? substr(s, index(s, "\n") + 1) : "")
		else if (substr(s, 1, 2) == "/*" && (e = index(s, "*/")))
			s = substr(s, e + 2)
		else
			return s
	}
}

# Whether statement s (stripped) is one that @functions emits: a function
# or procedure, or what is said about functions.
function about_functions(s) {
	if (s ~ /^CREATE (OR REPLACE )?(FUNCTION|PROCEDURE) /)
		return 1
	if (s ~ /^(COMMENT ON|ALTER) (FUNCTION|PROCEDURE|ROUTINE) /)
		return 1
	if (s ~ /^(GRANT|REVOKE) / && s ~ /[ \n]ON[ \n]+(FUNCTION|PROCEDURE|ROUTINE|ALL FUNCTIONS|ALL PROCEDURES|ALL ROUTINES)[ \n]/)
		return 1
	if (s ~ /^SELECT @extschema@\.(grant_routines|deprecated_alias)\(/)
		return 1
	return 0
}

function functions(    np, pl, k, n, st, j, s, made) {
	np = split(parts, pl, /[ \t\n]+/)
	made = 0
	for (k = 1; k <= np; k++) {
		if (pl[k] == "")
			continue
		delete st
		n = split_file(pl[k], st)
		print "-- (" pl[k] ")"
		for (j = 1; j <= n; j++) {
			s = strip(st[j])
			if (!about_functions(s))
				continue
			if (s ~ /^CREATE (OR REPLACE )?(FUNCTION|PROCEDURE) /) {
				sub(/^CREATE (OR REPLACE )?/, "CREATE OR REPLACE ", s)
				if (s !~ /^CREATE OR REPLACE (FUNCTION|PROCEDURE) @extschema@\./)
					fail("a function of " pl[k] " outside @extschema@: " substr(s, 1, 60))
				made++
			}
			print s
		}
	}
	if (made == 0)
		fail("no function in the parts (-v parts=\"...\" not given?)")
}

function view(f, name,    line, on, done, cm) {
	on = 0
	done = 0
	cm = 0
	while ((getline line < f) > 0) {
		if (done) {
			if (!cm && index(line, "COMMENT ON VIEW @extschema@." name " IS") == 1)
				cm = 1
			if (!cm)
				break
			print line
			if (line ~ /;$/)
				break
			continue
		}
		if (!on && (index(line, "CREATE VIEW @extschema@." name " ") == 1 ||
		            index(line, "CREATE VIEW @extschema@." name "\n") == 1 || line == "CREATE VIEW @extschema@." name))
			on = 1
		if (!on)
			continue
		print line
		if (line ~ /;$/)
			done = 1
	}
	close(f)
	if (!done)
		fail("no whole view " name " in " f)
}

# FILE's statements, but those @functions emits, and not its opening
# /* ... */ comment.
function file(f,    n, st, j, s, out) {
	n = split_file(f, st)
	out = 0
	for (j = 1; j <= n; j++) {
		s = strip(st[j])
		if (about_functions(s))
			continue
		if (j == 1 && index(st[j], "/*") == 1)
			st[j] = substr(st[j], index(st[j], "*/") + 2)
		sub(/^\n+/, "", st[j])
		print st[j]
		out++
	}
	if (out == 0)
		print "-- (" f ": functions only, made by -- @functions)"
}

function comments(f,    line, on, n) {
	on = 0
	n = 0
	while ((getline line < f) > 0) {
		if (index(line, "COMMENT ON COLUMN ") == 1) {
			on = 1
			n++
		}
		if (on) {
			print line
			if (line ~ /;$/)
				on = 0
		}
	}
	close(f)
	if (n == 0)
		fail("no COMMENT ON COLUMN in " f)
}

/^-- @functions *$/ { if (did_functions++) fail("-- @functions twice"); functions(); next }
/^-- @replace / { fail("line " NR ": -- @replace is gone: -- @functions makes every function from the sources (delete the line; put what the function needs above -- @functions, what needs it below)") }
/^-- @view / { view($3, $4); next }
/^-- @file / { file($3); next }
/^-- @comments / { comments($3); next }
/^-- @/ { fail("line " NR ": unknown directive " $2) }
{ print }
END {
	if (!failed && !did_functions)
		fail("no -- @functions line in the script")
}
