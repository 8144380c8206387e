# concord — PGXS build.
#
# The versioned install script is built by joining each component's SQL part
# in dependency order (see ../shared/design.md); C objects come from src/ and
# every component folder under it.

EXTENSION = concord
EXTVERSION = 0.2

MODULE_big = concord
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# Component SQL, in dependency order: core first, then each component after
# the components it calls.
SQL_PARTS = src/concord.sql \
	src/monitor.sql \
	src/citus.sql \
	src/secret/secret.sql \
	src/http/http.sql \
	src/sync/sync.sql \
	src/sync/templates.sql \
	src/identity/identity.sql \
	src/policy/policy.sql \
	src/policy/mask.sql \
	src/policy/rules.sql \
	src/policy/audit.sql \
	src/policy/access.sql \
	src/policy/citus.sql \
	src/policy/guard.sql \
	src/policy/cleanup.sql \
	src/metric/model.sql \
	src/metric/metric.sql \
	src/metric/query.sql \
	src/metric/publish.sql \
	src/metric/rollup.sql \
	src/flow/flow.sql \
	src/flow/rules.sql \
	src/flow/alerts.sql \
	src/flow/monitor.sql \
	src/secret/grant.sql \
	src/uninstall.sql \
	src/finish.sql

# The upgrade scripts to the version in development are built from their
# .sql.in (src/upgrade/expand.awk puts in every function of SQL_PARTS, as
# CREATE OR REPLACE, and the other parts of the sources they name); released install and upgrade scripts are committed as
# they were released and never edited.  ALTER EXTENSION concord UPDATE
# walks them.
UPGRADES_built = $(patsubst src/upgrade/%.sql.in,%.sql,$(wildcard src/upgrade/concord--*.sql.in))
DATA_built = concord--$(EXTVERSION).sql $(UPGRADES_built)
DATA = $(wildcard src/upgrade/concord--*.sql)
EXTRA_CLEAN = concord--$(EXTVERSION).sql $(UPGRADES_built)

# pg_regress suites (sql/ + expected/), run by `make installcheck`.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=concord

PG_CPPFLAGS += -I$(srcdir)/src -DCONCORD_VERSION=\"$(EXTVERSION)\"
SHLIB_LINK += $(shell curl-config --libs) -ljansson -lcrypto $(shell pkg-config --libs icu-i18n icu-uc)

# CI builds with warnings as errors, so they never pile up; a user's build is
# not broken by a newer compiler's new warning.
ifdef CI
PG_CPPFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-sign-compare -Wno-missing-field-initializers
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows no header dependencies: an object is rebuilt when a header of
# src/ or of its own folder changes (a struct changed in a header, and an
# object compiled against the old one linked in beside the new, crashes).
$(OBJS): $(wildcard src/*.h)
$(foreach d,$(sort $(dir $(wildcard src/*/*.h))),$(eval $(filter $(d)%,$(OBJS)): $(wildcard $(d)*.h)))

concord--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

$(UPGRADES_built): concord--%.sql: src/upgrade/concord--%.sql.in src/upgrade/expand.awk $(SQL_PARTS)
	awk -v parts="$(SQL_PARTS)" -f src/upgrade/expand.awk $< > $@.tmp && mv $@.tmp $@

# A PGXN-ready archive of the committed tree: concord-<version>.zip with
# everything under concord-<version>/ (META.json at its top).
DIST_VERSION = $(shell sed -nE 's/^ *"version": "([0-9.]+)",?$$/\1/p' META.json | head -n 1)
.PHONY: dist
dist:
	git archive --format zip --prefix=concord-$(DIST_VERSION)/ -o concord-$(DIST_VERSION).zip HEAD
