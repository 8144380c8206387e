#!/usr/bin/env bash
#
# test/story.sh — the whole story, end to end, as a test.  Runs the README's
# first command (test/demo.sh: build, cluster, the departments' systems on
# 127.0.0.1, test/demo.sql's 25 scenes), then checks the numbers and the
# visibility the story claims, logging in as its people, and stops it.  The
# demo runs as a run of its own (tmp/story, port CONCORD_STORY_PORT, default
# 54349), so a demo started by `bash test/demo.sh` (tmp/demo, port 54329)
# keeps running untouched.  Prints TAP; run by test/check.sh.

set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/harness/lib.sh
cd "$REPO"

DB=concord_demo
log="$LOGDIR/story-demo.log"
mkdir -p "$LOGDIR"
echo "1..14"

export CONCORD_DEMO_RUN=story CONCORD_DEMO_PORT="${CONCORD_STORY_PORT:-54349}"
rc=0
bash test/demo.sh >"$log" 2>&1 </dev/null || rc=$?
tap_is "the README's first command (test/demo.sh) runs the whole demo" "$rc" "0"
# the demo's cluster, as its people log in (on the port it got: the next
# one up if CONCORD_DEMO_PORT was taken)
PGHOST="$(run_dir story)"
PGPORT="$(sed -n 4p "$PGHOST/data/postmaster.pid" 2>/dev/null || echo "$CONCORD_DEMO_PORT")"
export PGHOST PGPORT
as() { "$PGBIN/psql" -X -At -U "$1" -d "$DB" -c "$2" </dev/null 2>&1; }

tap_is "sync: four systems of three departments became tables" \
	"$(as postgres "SELECT (SELECT count(*) FROM sales.customer) > 0 AND (SELECT count(*) FROM finance.contract) > 0 AND (SELECT count(*) FROM finance.invoice) > 0 AND (SELECT count(*) FROM service.ticket) > 0")" "t"
tap_is "identity: 张伟, spelled four ways by four departments, is one customer" \
	"$(as postgres "SELECT count(DISTINCT source) FROM concord.customer_link WHERE customer_id = (SELECT customer_id FROM concord.customer_link WHERE source = 'sales' AND key = '1')")" "4"
tap_is "policy: li_na (销售, 华东) logging in sees 华东's customers only" \
	"$(as li_na "SELECT count(*) FILTER (WHERE extra ->> 'region' <> '华东') || '/' || (count(*) > 0) FROM sales.customer_governed")" "0/true"
tap_is "and every phone masked" "$(as li_na "SELECT count(*) FROM sales.customer_governed WHERE phone NOT LIKE '%*%'")" "0"
tap_is "wang_fang (客服) sees every customer, phones in clear" \
	"$(as wang_fang "SELECT (count(*) = (SELECT count(*) FROM sales.customer_governed)) || '/' || count(*) FILTER (WHERE phone LIKE '%*%') FROM sales.customer_governed")" "true/0"
tap_is "li_na cannot read the CRM's table itself" "$(as li_na "SELECT count(*) FROM sales.customer" | grep -c 'permission denied')" "1"
tap_is "metric: revenue is certified by 财务 and one number for everyone who may see the contracts" \
	"$(as postgres "SELECT certified::text || '/' || owner FROM concord.metric_catalog WHERE name = 'revenue'")/$(as li_na "SELECT sum(revenue) FROM metrics.revenue_by_quarter")" \
	"true/zhao_min/$(as postgres "SELECT sum(amount) FROM finance.contract WHERE status = '已签约'")"
tap_is "flow: the signed contract made 财务's invoice task and 客服's onboarding ticket" \
	"$(as postgres "SELECT (SELECT count(*) FROM finance.invoice_task) || '/' || (SELECT count(*) FROM service.onboarding)")" "1/1"
tap_is "and reached 市场's system, delivered" "$(as postgres "SELECT status FROM concord.outbox WHERE endpoint = 'marketing'")" "delivered"
tap_is "the SLA alert is open, and 客服's DingTalk group got it" \
	"$(as postgres "SELECT (SELECT count(*) FROM concord.alert_event WHERE rule = 'ticket_sla' AND resolved_at IS NULL) || '/' || (SELECT status FROM concord.outbox WHERE endpoint = 'service_dingtalk')")" "1/delivered"
tap_is "the audit trail of it all verifies" "$(as postgres "SELECT intact FROM concord.audit_verify()")" "t"

# The README's five-minute tour, as written, on the running demo.
tour="$(awk '/^## A five-minute tour/ { on = 1; next } on && /^## / { exit } on' README.md |
	awk '/^```sql$/ { inblock = 1; next } /^```$/ { inblock = 0 } inblock')"
trc=0
tourout="$(printf '%s\n' "$tour" | "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -U postgres -d "$DB" 2>&1)" || trc=$?
tap_is "the README's five-minute tour runs on the demo as written" "$trc/$(printf '%s\n' "$tour" | grep -c '^SELECT')" "0/6"
tap_is "and shows what it says: li_na's masked phones, 客服's clear ones, 财务's revenue, the deliveries" \
	"$(grep -c '138\*\*\*\*0001' <<<"$tourout")/$(grep -c '+86 138-0000-0001' <<<"$tourout")/$(grep -c '"revenue"' <<<"$tourout")/$(grep -c '| delivered |' <<<"$tourout")" \
	"1/1/2/2"

bash test/demo.sh --stop >/dev/null 2>&1 || true
