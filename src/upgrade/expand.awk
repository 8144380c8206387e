# src/upgrade/expand.awk — builds an upgrade script from its .sql.in: the
# statements written for the upgrade as they are, and in place of these
# directives the current text of the sources, so that a function changed
# after the last release is written once, where it lives:
#
#   -- @replace FILE NAME   function NAME of FILE, from its line
#                           "CREATE FUNCTION @extschema@.NAME(" to the end
#                           of the statement ("$fn$;" after a $fn$ body,
#                           "END;" after BEGIN ATOMIC, else the first line
#                           ending in ";"), as CREATE OR REPLACE FUNCTION,
#                           with the COMMENT ON FUNCTION that follows it
#   -- @view FILE NAME      view NAME of FILE: its CREATE VIEW statement and
#                           the COMMENT ON VIEW that follows it
#   -- @file FILE           FILE after its opening /* ... */ comment
#   -- @comments FILE       every COMMENT ON COLUMN statement of FILE
#
# Once a version is released, its upgrade script is frozen: the built
# script is committed under src/upgrade/ as concord--A--B.sql and its .in
# removed.  Usage: awk -f src/upgrade/expand.awk FILE.sql.in > FILE.sql

function fail(msg) {
	print "expand.awk: " msg > "/dev/stderr"
	failed = 1
	exit 1
}

function replace(f, name,    line, start, on, body, done, cm, base) {
	# NAME may carry the start of its arguments, "manages(role", to pick
	# one of several functions of that name
	base = name
	sub(/\(.*$/, "", base)
	start = "CREATE FUNCTION @extschema@." name (index(name, "(") ? "" : "(")
	on = 0
	body = ""
	done = 0
	cm = 0
	while ((getline line < f) > 0) {
		if (done) {
			# and the COMMENT ON FUNCTION right after it, if there is one
			if (!cm && index(line, "COMMENT ON FUNCTION @extschema@." base "(") == 1)
				cm = 1
			if (!cm)
				break
			print line
			if (line ~ /;$/)
				break
			continue
		}
		if (!on && index(line, start) == 1) {
			on = 1
			sub(/^CREATE FUNCTION/, "CREATE OR REPLACE FUNCTION", line)
		}
		if (!on)
			continue
		print line
		# where the statement ends: a $fn$ body at its line "$fn$;", a
		# BEGIN ATOMIC body at "END;", any other at its first ";"
		if (body == "" && line ~ /AS \$fn\$$/)
			body = "fn"
		else if (body == "" && line ~ /BEGIN ATOMIC$/)
			body = "atomic"
		if ((body == "fn" && line == "$fn$;") || (body == "atomic" && line == "END;") ||
		    (body == "" && line ~ /;$/))
			done = 1
	}
	close(f)
	if (!done)
		fail("no whole function " name " in " f)
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

function file(f,    line, body, n) {
	body = 0
	n = 0
	while ((getline line < f) > 0) {
		n++
		if (!body) {
			if (index(line, "*/") > 0)
				body = 1
			continue
		}
		if (body == 1 && line == "")
			continue
		body = 2
		print line
	}
	close(f)
	if (n == 0)
		fail("cannot read " f)
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

/^-- @replace / { replace($3, $4); next }
/^-- @view / { view($3, $4); next }
/^-- @file / { file($3); next }
/^-- @comments / { comments($3); next }
{ print }
