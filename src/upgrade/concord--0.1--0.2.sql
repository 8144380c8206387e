/* concord — upgrade from 0.1 (the first release, src/upgrade/concord--0.1.sql,
 * never edited) to 0.2.  Every change to concord's SQL objects after 0.1 is
 * made here too, so that ALTER EXTENSION concord UPDATE gives what
 * CREATE EXTENSION concord gives (test/packaging/upgrade.sql compares
 * them).  No change yet. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION concord UPDATE" to load this file. \quit
