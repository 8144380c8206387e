/* concord — last part of the install script, after every component. */

-- Configuration tables added after 0.1, in the order the upgrade script
-- marks them (pg_dump --binary-upgrade lists them in that order, and
-- test/packaging/upgrade_dump.sh compares an updated install with a fresh
-- one): identity's blocking rules but the shipped ones.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_blocking_rule', 'WHERE origin <> ''default''');

-- A new installation wants its background worker as soon as it commits,
-- not after the launcher's backoff.
SELECT @extschema@.worker_wake();
