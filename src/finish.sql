/* concord — last part of the install script, after every component. */

-- A new installation wants its background worker as soon as it commits,
-- not after the launcher's backoff.
SELECT @extschema@.worker_wake();
