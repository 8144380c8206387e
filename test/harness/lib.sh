# shellcheck shell=bash
#
# test/harness/lib.sh — shared functions of the test and demo commands.
#
# Sourced by test/check.sh and test/demo.sh. It installs what the project
# needs from Debian, builds and installs the extension, runs a project-local
# PostgreSQL cluster under $REPO/tmp/NAME (as the postgres OS user, since
# PostgreSQL refuses to run as root) and the stub API servers on 127.0.0.1,
# and stops every process it started by its recorded pid.
#
# Everything a run leaves behind lives in $REPO/tmp/ (gitignored):
#   tmp/log/                 package and build logs
#   tmp/NAME/                cluster directory, owned by postgres; also the
#                            unix socket directory (PGHOST)
#   tmp/NAME/data/           the data directory
#   tmp/NAME/postgres.log    the server log
#   tmp/NAME/pids            "label pid" per line, every process started
#   tmp/NAME/tls/            throwaway CA and server certificate of the stub
#   tmp/NAME/stub-*.log      stub server output
#
# Functions exit the calling script (through die) when something fails, so
# the caller's EXIT trap runs stop_all.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# The server and its tools.  PG_MAJOR picks the PostgreSQL major: 15 (the
# default) is Debian 12's package in /usr/lib/postgresql/15; 17 and 18 are
# built from Debian's source packages into /opt/postgresql-N by
# test/harness/build_postgres.sh the first time they are used (see
# ensure_postgres).  CONCORD_PGBIN points the harness at another
# installation's bin directory (a relocated copy, say, so that two work
# trees can build, install and test side by side); PG_MAJOR then follows
# that installation's pg_config.  CONCORD_PG15BIN does the same for 15
# alone: it is where 15 lives whenever 15 is used (PG_MAJOR=15, and the
# pg_upgrade test's old cluster), so that .ci/run, which runs 15 and 18,
# can be pointed at a relocated 15.
PG_MAJOR="${PG_MAJOR:-15}"
case "$PG_MAJOR" in
15 | 17 | 18) ;;
*)
	printf 'harness: ERROR: PG_MAJOR=%s: concord supports PostgreSQL 15, 17 and 18\n' "$PG_MAJOR" >&2
	exit 2
	;;
esac
if [[ -n "${CONCORD_PGBIN:-}" ]]; then
	PGBIN="$CONCORD_PGBIN"
	if [[ -x "$PGBIN/pg_config" ]]; then
		PG_MAJOR="$("$PGBIN/pg_config" --version | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p')"
	fi
elif [[ "$PG_MAJOR" == 15 ]]; then
	PGBIN="${CONCORD_PG15BIN:-/usr/lib/postgresql/15/bin}"
else
	PGBIN="/opt/postgresql-$PG_MAJOR/bin"
fi
export PG_MAJOR PGBIN
export PG_CONFIG="$PGBIN/pg_config"
# The PostgreSQL 15 installation that tests across majors start from (the
# pg_upgrade test); CONCORD_PG15BIN points it at a relocated copy.
PG15BIN="${CONCORD_PG15BIN:-/usr/lib/postgresql/15/bin}"
if [[ "$PG_MAJOR" == 15 ]]; then
	PG15BIN="$PGBIN"
fi
export PG15BIN
PYTHON=/usr/bin/python3
LOGDIR="$REPO/tmp/log"

# Name of the extension and of its preloaded library; overridable only so the
# harness itself can be tried on a throwaway extension.
CONCORD_EXT="${CONCORD_EXT:-concord}"

HARNESS_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib
	libcurl4-openssl-dev
	libssl-dev
	libjansson-dev
	libicu-dev
	pkg-config
	postgresql-15-pgtap
	libtap-parser-sourcehandler-pgtap-perl
	postgresql-15-cron
	python3
	openssl
	curl
	default-jdk-headless
	libpostgresql-jdbc-java
	odbc-postgresql
	unixodbc
	unixodbc-dev
	prometheus
)

# Print a harness message.
say() { printf 'harness: %s\n' "$*"; }

# TAP for the shell tests: tap_is "description" got want prints the next
# "ok N - description", or "not ok N" with what was got and wanted.
TAP_N=0
tap_is() {
	TAP_N=$((TAP_N + 1))
	if [[ "$2" == "$3" ]]; then
		echo "ok $TAP_N - $1"
	else
		echo "not ok $TAP_N - $1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
	fi
}

# Print an error and exit the calling script with status 1.
die() {
	printf 'harness: ERROR: %s\n' "$*" >&2
	exit 1
}

# Print the last lines of a log file, framed, to stderr.
show_log_tail() {
	local log="$1" n="${2:-60}"
	[[ -f "$log" ]] || return 0
	{
		printf -- '----- last %s lines of %s -----\n' "$n" "$log"
		tail -n "$n" "$log"
		printf -- '----- end of %s -----\n' "$log"
	} >&2
}

# Run a command as the postgres OS user, from /, so that a working directory
# postgres cannot enter causes no warnings.
as_postgres() {
	(cd / && runuser -u postgres -- "$@")
}

# Quote a string as a SQL / postgresql.conf literal ('...', quotes doubled).
sql_literal() {
	local s="${1//\'/\'\'}"
	printf "'%s'" "$s"
}

# The harness installs packages, installs the extension and runs the
# cluster as the postgres user through runuser: it needs root.
require_root() {
	((EUID == 0)) || die "run this as root (it installs packages and runs PostgreSQL as the postgres user)"
}

#
# Packages
#

# Install the Debian packages the build and tests need, if any is missing.
ensure_packages() {
	local missing=() p status
	for p in "${HARNESS_PACKAGES[@]}"; do
		status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)"
		[[ "$status" == ii* ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		say "packages: all ${#HARNESS_PACKAGES[@]} present"
	else
		mkdir -p "$LOGDIR"
		local log="$LOGDIR/apt.log"
		say "packages: installing ${missing[*]} (log: $log)"
		: >"$log"
		if ! apt-get update >>"$log" 2>&1 </dev/null; then
			show_log_tail "$log"
			die "apt-get update failed"
		fi
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			"${missing[@]}" >>"$log" 2>&1 </dev/null; then
			show_log_tail "$log"
			die "apt-get install failed"
		fi
	fi
	ensure_postgres
	[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found after installing packages"
	[[ -x "$PYTHON" ]] || die "$PYTHON not found after installing packages"
	id postgres >/dev/null 2>&1 || die "the postgres OS user does not exist"
}

# PostgreSQL 17 or 18 (PG_MAJOR), with pgTAP and pg_cron, built once from
# Debian's source packages into /opt/postgresql-N (test/harness/build_postgres.sh
# holds a lock, so two runs never build at once, and does nothing when the
# build is there).  Nothing to do for 15, or when CONCORD_PGBIN names the
# installation.
ensure_postgres() {
	[[ "$PG_MAJOR" != 15 && -z "${CONCORD_PGBIN:-}" ]] || return 0
	if [[ -f "/opt/postgresql-$PG_MAJOR/.concord-build-complete" ]]; then
		return 0
	fi
	say "PostgreSQL $PG_MAJOR is not built yet: building it into /opt/postgresql-$PG_MAJOR (a few minutes, once)"
	bash "$REPO/test/harness/build_postgres.sh" "$PG_MAJOR" </dev/null ||
		die "could not build PostgreSQL $PG_MAJOR"
}

# True if pg_cron is installed for the server the harness runs.  Debian 12
# packages it for 15 (postgresql-15-cron); for 17 and 18 it is built from
# Debian's pg-cron source package when the archive serves it, and the
# archive reached here does not (see test/harness/build_postgres.sh).
# Without it, the clusters run without pg_cron and the tests that need it
# skip, saying so.
pg_cron_available() {
	[[ -f "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control" ]]
}

# "PostgreSQL 18.6": the server the harness runs.
pg_version() {
	"$PGBIN/pg_config" --version | sed -E 's/ \(.*//'
}

#
# Build
#

# Build the extension and install it into the PostgreSQL the harness runs
# (as root).  Objects built against another installation's headers (the
# previous run's PG_MAJOR) are cleaned first: tmp/build-for names it.
build_install() {
	mkdir -p "$LOGDIR"
	local log="$LOGDIR/build.log" stamp="$REPO/tmp/build-for" want
	want="$PG_CONFIG $("$PG_CONFIG" --version)"
	if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
		make -C "$REPO" PG_CONFIG="$PG_CONFIG" clean >/dev/null 2>&1 </dev/null || true
	fi
	say "build: make && make install for $(pg_version) (log: $log)"
	if ! make -C "$REPO" PG_CONFIG="$PG_CONFIG" -j2 >"$log" 2>&1 </dev/null; then
		show_log_tail "$log" 80
		die "build failed"
	fi
	if ! make -C "$REPO" PG_CONFIG="$PG_CONFIG" install >>"$log" 2>&1 </dev/null; then
		show_log_tail "$log" 80
		die "make install failed"
	fi
	printf '%s\n' "$want" >"$stamp"
}

#
# Process bookkeeping
#

# Directory of the named run (cluster, sockets, logs, pids).
run_dir() { printf '%s/tmp/%s' "$REPO" "$1"; }

# Record a started process in the run's pids file.
record_pid() {
	local name="$1" label="$2" pid="$3"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 0
	printf '%s %s\n' "$label" "$pid" >>"$(run_dir "$name")/pids"
}

# True if PID is alive and its command line contains PATTERN, so a recycled
# pid of an unrelated process is never signalled.
pid_matches() {
	local pid="$1" pattern="$2" cmd
	[[ -r "/proc/$pid/cmdline" ]] || return 1
	cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
	[[ "$cmd" == *"$pattern"* ]]
}

# Send TERM to the given pids, wait up to WAIT seconds, then KILL survivors.
# Usage: terminate_pids WAIT PATTERN PID...
terminate_pids() {
	local wait_s="$1" pattern="$2" pid i alive
	shift 2
	local pids=()
	for pid in "$@"; do
		pid_matches "$pid" "$pattern" && pids+=("$pid")
	done
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < wait_s * 10; i++)); do
		alive=()
		for pid in "${pids[@]}"; do
			pid_matches "$pid" "$pattern" && alive+=("$pid")
		done
		((${#alive[@]})) || return 0
		sleep 0.1
	done
	say "killing pids that ignored TERM: ${alive[*]}"
	kill -KILL "${alive[@]}" 2>/dev/null || true
	sleep 0.2
}

# Recorded pids of the run whose label starts with PREFIX.
recorded_pids() {
	local name="$1" prefix="$2" file
	file="$(run_dir "$name")/pids"
	[[ -f "$file" ]] || return 0
	awk -v p="$prefix" 'index($1, p) == 1 { print $2 }' "$file"
}

#
# Cluster
#

# Make sure the postgres user can traverse every ancestor of DIR; add only
# o+x where it is missing, and say so.
ensure_traversable() {
	local dir="$1" path="" part parts=() changed=()
	IFS=/ read -ra parts <<<"$dir"
	for part in "${parts[@]}"; do
		[[ -n "$part" ]] || continue
		path="$path/$part"
		if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
			chmod o+x "$path" || die "cannot chmod o+x $path"
			changed+=("$path")
		fi
	done
	if ((${#changed[@]})); then
		say "added o+x to ${changed[*]} so the postgres user can reach $dir"
	fi
	runuser -u postgres -- test -x "$dir" || die "postgres still cannot reach $dir"
}

# True if something listens on 127.0.0.1:PORT (or on all addresses).
port_in_use() {
	local port="$1"
	if command -v ss >/dev/null 2>&1; then
		if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
	fi
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
}

# Stop the named cluster: pg_ctl fast stop, then immediate stop if that did
# not finish; then any recorded postmaster pid still alive, and its
# children, get TERM, then KILL.
cluster_stop() {
	local name="$1" dir data
	dir="$(run_dir "$name")"
	data="$dir/data"
	if [[ -f "$data/postmaster.pid" ]]; then
		as_postgres "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_postgres "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
			true
	fi
	local pids=() pid children=()
	mapfile -t pids < <(recorded_pids "$name" postmaster)
	for pid in "${pids[@]}"; do
		pid_matches "$pid" postgres || continue
		mapfile -t -O "${#children[@]}" children < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
	done
	if ((${#pids[@]} + ${#children[@]})); then
		terminate_pids 10 postgres "${pids[@]}" "${children[@]}"
	fi
}

# Create, configure and start the named cluster on 127.0.0.1:PORT, with its
# data directory in $REPO/tmp/NAME/data, and export PGHOST, PGPORT, PGUSER.
# A port taken by something else makes it try the next ones (up to +9).
cluster_start() {
	local name="$1" port="$2" dir data sockdir
	dir="$(run_dir "$name")"
	data="$dir/data"

	# Whatever a previous run of the same name left running is stopped.
	stop_all "$name"

	local try
	for ((try = port; try < port + 10; try++)); do
		port_in_use "$try" || break
	done
	if ((try == port + 10)); then
		die "ports $port..$((port + 9)) on 127.0.0.1 are all in use"
	fi
	if ((try != port)); then
		say "port $port is in use; cluster $name uses port $try instead"
		port="$try"
	fi

	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	chmod 0755 "$dir"
	ensure_traversable "$dir"

	# The unix socket path has a hard limit of 107 bytes.
	sockdir="$dir"
	if ((${#sockdir} + 18 > 107)); then
		sockdir="/tmp/concord-$name-$port"
		mkdir -p "$sockdir"
		chown postgres:postgres "$sockdir"
		chmod 0755 "$sockdir"
		say "$dir is too long for a unix socket path; sockets go to $sockdir"
	fi

	if [[ ! -f "$data/PG_VERSION" ]]; then
		local initlog="$dir/initdb.log"
		# shellcheck disable=SC2086 # CLUSTER_INITDB_OPTS: words on purpose
		if ! as_postgres "$PGBIN/initdb" -D "$data" --auth=trust -U postgres \
			--encoding=UTF8 --locale=C.UTF-8 ${CLUSTER_INITDB_OPTS-} >"$initlog" 2>&1 </dev/null; then
			show_log_tail "$initlog"
			die "initdb failed for cluster $name"
		fi
	fi

	# Our settings go into their own file, included last, so rerunning on an
	# existing data directory rewrites them instead of piling them up.
	local conf="$data/concord_harness.conf"
	cat >"$conf" <<EOF
# written by test/harness/lib.sh; rewritten at every start
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = $(sql_literal "$sockdir")
shared_preload_libraries = $(sql_literal "${CLUSTER_PRELOAD-$CONCORD_EXT}")
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
log_min_messages = warning
${CLUSTER_EXTRA_CONF-}
EOF
	chown postgres:postgres "$conf"
	local inc
	for inc in concord_harness.conf concord_stubs.conf; do
		if ! grep -q "^include_if_exists = '$inc'" "$data/postgresql.conf"; then
			printf "include_if_exists = '%s'\n" "$inc" >>"$data/postgresql.conf"
		fi
	done

	# Exported before the start, so the server's own libpq clients (dblink,
	# postgres_fdw) also default to this cluster.
	export PGHOST="$sockdir" PGPORT="$port" PGUSER=postgres
	unset PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE PGCONNECT_TIMEOUT

	: >"$dir/pids"
	if ! as_postgres "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
		start >"$dir/pg_ctl.log" 2>&1 </dev/null; then
		show_log_tail "$dir/postgres.log"
		show_log_tail "$dir/pg_ctl.log" 20
		die "cluster $name did not start"
	fi
	local pmpid
	pmpid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
	record_pid "$name" postmaster "$pmpid"

	say "cluster $name: $(pg_version) on 127.0.0.1:$port, socket dir $sockdir, pid $pmpid"
}

# psql as the postgres superuser on the current cluster, stopping at the
# first error; give it -c or -f (stdin is read only with -f -).
# Usage: run_psql DB [psql args...]
run_psql() {
	local db="$1"
	shift
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

#
# Stub API servers
#

# Make a throwaway CA and a server certificate for localhost/127.0.0.1
# signed by it, in DIR.
make_tls_files() {
	local dir="$1" log="$1/openssl.log"
	mkdir -p "$dir"
	chmod 0755 "$dir"
	cat >"$dir/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = concord test CA (throwaway)
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	cat >"$dir/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
	(
		set -e
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -config "$dir/ca.cnf" \
			-keyout "$dir/ca.key" -out "$dir/ca.crt"
		openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
			-keyout "$dir/server.key" -out "$dir/server.csr"
		openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 2 -sha256 -extfile "$dir/server.ext" -out "$dir/server.crt"
	) >"$log" 2>&1 </dev/null || {
		show_log_tail "$log"
		die "could not create the stub's TLS files"
	}
	chmod 0644 "$dir/ca.crt" "$dir/server.crt"
}

# Start one stub server instance; print its port. Usage:
# start_one_stub NAME LABEL [stub args...]
start_one_stub() {
	local name="$1" label="$2" dir
	shift 2
	dir="$(run_dir "$name")"
	local portfile="$dir/$label.port" pidfile="$dir/$label.pid" log="$dir/$label.log"
	rm -f "$portfile" "$pidfile"
	setsid "$PYTHON" "$REPO/test/fixtures/stub_api.py" --host 127.0.0.1 --port 0 \
		--port-file "$portfile" --pid-file "$pidfile" "$@" \
		</dev/null >"$log" 2>&1 &
	local bgpid=$!
	record_pid "$name" "$label" "$bgpid"

	local i port=""
	for ((i = 0; i < 100; i++)); do
		if [[ -s "$portfile" ]]; then
			port="$(tr -dc '0-9' <"$portfile")"
			[[ -n "$port" ]] && break
		fi
		if ! kill -0 "$bgpid" 2>/dev/null; then
			show_log_tail "$log"
			die "stub server $label exited before writing its port"
		fi
		sleep 0.1
	done
	if [[ -z "$port" ]]; then
		show_log_tail "$log"
		die "stub server $label wrote no port file within 10 s"
	fi
	if [[ -s "$pidfile" ]]; then
		local realpid
		realpid="$(tr -dc '0-9' <"$pidfile")"
		[[ "$realpid" != "$bgpid" ]] && record_pid "$name" "$label" "$realpid"
	fi
	printf '%s' "$port"
}

# Wait until URL answers with any HTTP status (extra curl args may follow).
wait_http() {
	local url="$1" i code
	shift
	for ((i = 0; i < 50; i++)); do
		code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null || true)"
		if [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# Start the plain HTTP and the HTTPS stub servers of the run, export
# STUB_URL, STUB_TLS_URL, STUB_CA_FILE, STUB_PORT, STUB_TLS_PORT and make
# them known to SQL as concord_test.* settings (needs the cluster running).
stubs_start() {
	local name="$1" dir tls
	dir="$(run_dir "$name")"
	tls="$dir/tls"
	[[ -f "$REPO/test/fixtures/stub_api.py" ]] || die "test/fixtures/stub_api.py is missing"

	make_tls_files "$tls"

	local port tlsport
	port="$(start_one_stub "$name" stub-http)" || exit 1
	tlsport="$(start_one_stub "$name" stub-https \
		--tls-cert "$tls/server.crt" --tls-key "$tls/server.key")" || exit 1

	export STUB_PORT="$port" STUB_TLS_PORT="$tlsport"
	export STUB_URL="http://127.0.0.1:$port"
	export STUB_TLS_URL="https://127.0.0.1:$tlsport"
	export STUB_CA_FILE="$tls/ca.crt"

	wait_http "$STUB_URL/json" || die "stub server at $STUB_URL does not answer"
	wait_http "$STUB_TLS_URL/json" --cacert "$STUB_CA_FILE" ||
		die "stub server at $STUB_TLS_URL does not answer over verified TLS"
	runuser -u postgres -- test -r "$STUB_CA_FILE" || die "postgres cannot read $STUB_CA_FILE"

	# ALTER SYSTEM rejects custom (placeholder) parameters in PostgreSQL 15,
	# so the settings go into a file that postgresql.conf includes.
	local conf="$dir/data/concord_stubs.conf"
	cat >"$conf" <<EOF
# written by test/harness/lib.sh (stubs_start); rewritten at every start
concord_test.stub_url = $(sql_literal "$STUB_URL")
concord_test.stub_tls_url = $(sql_literal "$STUB_TLS_URL")
concord_test.ca_file = $(sql_literal "$STUB_CA_FILE")
concord_test.stub_port = $(sql_literal "$STUB_PORT")
concord_test.stub_tls_port = $(sql_literal "$STUB_TLS_PORT")
concord_test.repo = $(sql_literal "$REPO")
EOF
	chown postgres:postgres "$conf"
	run_psql postgres -c "SELECT pg_reload_conf()" </dev/null >/dev/null ||
		die "could not reload the configuration"
	# New sessions see the settings once the postmaster has reloaded.
	local i seen=""
	for ((i = 0; i < 50; i++)); do
		seen="$("$PGBIN/psql" -X -At -d postgres \
			-c "SELECT current_setting('concord_test.stub_tls_port', true)" </dev/null 2>/dev/null || true)"
		[[ "$seen" == "$STUB_TLS_PORT" ]] && break
		sleep 0.1
	done
	[[ "$seen" == "$STUB_TLS_PORT" ]] || die "the server did not pick up the concord_test.* settings"
	say "stubs $name: $STUB_URL and $STUB_TLS_URL (CA $STUB_CA_FILE)"
}

# Stop the stub servers of the run by their recorded pids.
stubs_stop() {
	local name="$1" pids=()
	mapfile -t pids < <(recorded_pids "$name" stub-)
	if ((${#pids[@]})); then
		terminate_pids 5 stub_api.py "${pids[@]}"
	fi
}

# Stop every process the named run started: stubs, then the cluster.
stop_all() {
	local name="$1"
	stubs_stop "$name"
	cluster_stop "$name"
	local f
	f="$(run_dir "$name")/pids"
	[[ -f "$f" ]] && : >"$f"
	return 0
}

# Kill the named run's cluster as a crash would: SIGKILL to the postmaster
# and every process it started, by their PIDs.  Sets CRASH_KILLED to the
# PIDs, postmaster first.
cluster_kill9() {
	local name="$1" data pm
	data="$(run_dir "$name")/data"
	pm="$(head -n 1 "$data/postmaster.pid")"
	mapfile -t CRASH_KILLED < <(echo "$pm"; ps -o pid= --ppid "$pm" | tr -d ' ')
	kill -9 "${CRASH_KILLED[@]}"
}

# Start the named run's cluster again after cluster_kill9, once every killed
# process is gone (a zombie nobody reaps counts as gone: it holds nothing,
# but still answers kill -0, so its lock files are removed); records the
# new postmaster's PID.  Fails if the cluster does not start.
cluster_start_after_kill() {
	local name="$1" dir data p i st
	dir="$(run_dir "$name")"
	data="$dir/data"
	for p in "${CRASH_KILLED[@]}"; do
		for ((i = 0; i < 100; i++)); do
			st="$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)"
			[[ -z "$st" || "$st" == Z ]] && break
			sleep 0.1
		done
	done
	st="$(awk '/^State:/ {print $2}' "/proc/${CRASH_KILLED[0]}/status" 2>/dev/null || true)"
	if [[ "$st" == Z ]]; then
		rm -f "$data/postmaster.pid" "$dir"/.s.PGSQL.*.lock
	fi
	as_postgres "$PGBIN/pg_ctl" -D "$data" -w -t 60 start >>"$dir/postgres.log" 2>&1 </dev/null || return 1
	record_pid "$name" postgres-after-kill "$(head -n 1 "$data/postmaster.pid")"
}

# A benchmark's cluster: packages, a fresh build and install, a new cluster
# for the named run on port (CLUSTER_EXTRA_CONF applies), stopped with
# everything the run started when the script exits.
bench_cluster() {
	local name="$1" port="$2"
	# shellcheck disable=SC2064 # the name is fixed now, on purpose
	trap "stop_all '$name' >/dev/null 2>&1 || true" EXIT
	ensure_packages
	build_install
	stop_all "$name" >/dev/null 2>&1 || true
	rm -rf "$(run_dir "$name")"
	cluster_start "$name" "$port" >/dev/null
}
