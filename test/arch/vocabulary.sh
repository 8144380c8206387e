#!/usr/bin/env bash
#
# test/arch/vocabulary.sh — one vocabulary for the SQL API (TAP): every
# object a user can create is made with <object>_create by the role the
# docs give its users, and dropped by that role with <object>_drop; the
# old names (department_add, member_set, row_policy, column_mask,
# write_rule, audit_table, model_define, metric_define, metric_rollup,
# endpoint_define, event_rule, alert_rule, identity_source_add,
# identity_event_add, identity_attribute_add) still work, for 0.2, and each
# raises the NOTICE that names its replacement.  psql runs
# test/arch/vocabulary.psql in a database of its own; its output and
# notices are read here.  Run by test/check.sh on the suite's cluster.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_vocabulary
ROLES="tap_voc_pol, tap_voc_met, tap_voc_flow, tap_voc_id, tap_voc_m1, tap_voc_m2"
clean() {
	run_psql postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
		-c "DROP ROLE IF EXISTS $ROLES" </dev/null >/dev/null 2>&1 || true
}
clean
trap clean EXIT
run_psql postgres -c "CREATE DATABASE $DB" </dev/null >/dev/null

echo "1..22"
rc=0
out="$(run_psql "$DB" -X -q -f test/arch/vocabulary.psql </dev/null 2>&1)" || rc=$?
tap_is "the script ran to its end as each component's role" "$rc $(grep -c '^step done$' <<<"$out")" "0 1"
if ((rc != 0)); then
	printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
fi
line() { grep -E "^$1( |$)" <<<"$out" | head -n 1 || true; }

tap_is "two departments made by concord_policy's member (department_create, department_add)" "$(line 'count department')" "count department 2"
tap_is "two members (member_create, member_set)" "$(line 'count member')" "count member 2"
tap_is "two row policies (row_policy_create, row_policy)" "$(line 'count row_policy')" "count row_policy 2"
tap_is "two write rules (write_rule_create, write_rule)" "$(line 'count write_rule')" "count write_rule 2"
tap_is "two column masks (column_mask_create, column_mask)" "$(line 'count column_mask')" "count column_mask 2"
tap_is "each dropped by the role that made it: none left" "$(line 'left policy')" "left policy 0"
tap_is "audited tables (audit_table_create, audit_table)" "$(line 'step audit_table')" "step audit_table t t"
tap_is "models, metrics, rollups made by concord_metric's member, two of each" "$(line 'count metric')" "count metric 2/2/2"
tap_is "each dropped by the role that made it: none left" "$(line 'left metric')" "left metric 0"
tap_is "endpoints, event rules, alerts made by concord_flow's member, two of each" "$(line 'count flow')" "count flow 2/2/2"
tap_is "each dropped by the role that made it: none left" "$(line 'left flow')" "left flow 0"
tap_is "identity sources, events and attributes made by concord_identity's member, two of each" "$(line 'count identity')" "count identity 2/2/2"
tap_is "each dropped by the role that made it: none left" "$(line 'left identity')" "left identity 0"

notice() { grep -cF "NOTICE:  concord.$1() is deprecated: use concord.$2()" <<<"$out" || true; }
tap_is "department_add and member_set say they are deprecated, once each" \
	"$(notice department_add department_create) $(notice member_set member_create)" "1 1"
tap_is "row_policy, write_rule and column_mask say so" \
	"$(notice row_policy row_policy_create) $(notice write_rule write_rule_create) $(notice column_mask column_mask_create)" "1 1 1"
tap_is "audit_table says so" "$(notice audit_table audit_table_create)" "1"
tap_is "model_define, metric_define and metric_rollup say so" \
	"$(notice model_define model_create) $(notice metric_define metric_create) $(notice metric_rollup metric_rollup_create)" "1 1 1"
tap_is "endpoint_define, event_rule and alert_rule say so" \
	"$(notice endpoint_define endpoint_create) $(notice event_rule event_rule_create) $(notice alert_rule alert_create)" "1 1 1"
tap_is "identity_source_add, identity_event_add and identity_attribute_add say so" \
	"$(notice identity_source_add identity_source_create) $(notice identity_event_add identity_event_create) $(notice identity_attribute_add identity_attribute_create)" "1 1 1"
tap_is "no other deprecation notice: the new names raise none" "$(grep -c 'is deprecated' <<<"$out" || true)" "15"
tap_is "the notice's hint says the old name goes after 0.2" \
	"$(grep -c 'HINT:  The old name is kept for 0.2 only' <<<"$out" || true)" "15"
