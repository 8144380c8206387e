# src/upgrade/expand.awk — builds an upgrade script from its .sql.in: the
# statements written for the upgrade as they are, and in place of these
# directives the current text of the sources, so that a function changed
# after the last release is written once, where it lives:
#
#   -- @replace FILE NAME   function NAME of FILE, from its line
#                           "CREATE FUNCTION @extschema@.NAME(" to its line
#                           "$fn$;", as CREATE OR REPLACE FUNCTION
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

function replace(f, name,    line, start, on) {
	start = "CREATE FUNCTION @extschema@." name "("
	on = 0
	while ((getline line < f) > 0) {
		if (!on && index(line, start) == 1) {
			on = 1
			sub(/^CREATE FUNCTION/, "CREATE OR REPLACE FUNCTION", line)
		}
		if (on) {
			print line
			if (line == "$fn$;")
				break
		}
	}
	close(f)
	if (!on || line != "$fn$;")
		fail("no function " name " ending in a line $fn$; in " f)
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
/^-- @file / { file($3); next }
/^-- @comments / { comments($3); next }
{ print }
