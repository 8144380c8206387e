# bench/compare.sh -- sourced by benchmarks that time a question against
# the same question written another way, side by side in one run.  Needs
# $PGBIN and $DB (the benchmark's cluster must be the one PGHOST/PGPORT
# point at, as bench_cluster leaves it).
#
#   compare timed|fetched "label" "baseline label" role_a query_a role_b query_b target

# One timed run of query as role; prints "<ms> <result>".
timed() {
	local role="$1" query="$2"
	"$PGBIN/psql" -X -q -At -U "$role" -d "$DB" -v ON_ERROR_STOP=1 </dev/null \
		-c "CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t" \
		-c "CREATE TEMP TABLE r AS $query" \
		-c "SELECT round(extract(epoch FROM clock_timestamp() - t) * 1000, 1) || ' ' || (SELECT string_agg(r::text, ';') FROM r) FROM t0"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# One run of COPY (query) TO STDOUT as role, the rows sent to the client
# and dropped there: prints "<ms> <lines>".
fetched() {
	local role="$1" query="$2" t0 t1 lines
	t0="$(date +%s%N)"
	lines="$("$PGBIN/psql" -X -q -U "$role" -d "$DB" -v ON_ERROR_STOP=1 -c "COPY ($query) TO STDOUT" </dev/null | wc -l)"
	t1="$(date +%s%N)"
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}') $lines"
}

# compare runner label baseline role_a query_a role_b query_b target: five
# (BENCH_RUNS)
# runs of each side by runner (timed or fetched), alternating, after one
# of each to warm up; the medians, their ratio and the results, which must
# be equal.
compare() {
	local runner="$1" label="$2" baseline="$3" ra="$4" qa="$5" rb="$6" qb="$7" target="$8"
	local ta=() tb=() out resa resb ma mb
	"$runner" "$ra" "$qa" >/dev/null
	"$runner" "$rb" "$qb" >/dev/null
	for ((run = 0; run < ${BENCH_RUNS:-5}; run++)); do
		out="$("$runner" "$ra" "$qa")"
		ta+=("${out%% *}")
		resa="${out#* }"
		out="$("$runner" "$rb" "$qb")"
		tb+=("${out%% *}")
		resb="${out#* }"
	done
	if [[ "$resa" != "$resb" ]]; then
		echo "bench/policy: WRONG RESULT for $label: $resa vs $resb" >&2
		exit 1
	fi
	ma="$(printf '%s\n' "${ta[@]}" | median)"
	mb="$(printf '%s\n' "${tb[@]}" | median)"
	# (the medians, for a caller that prints more figures)
	COMPARE_A="$ma"
	COMPARE_B="$mb"
	printf '%s: %s ms (%s %s ms, ratio %sx; target <= %s) -- runs %s vs %s; result %s\n' \
		"$label" "$ma" "$baseline" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')" "$target" \
		"${ta[*]}" "${tb[*]}" "$(if ((${#resa} > 120)); then echo "${resa:0:120}... (the same on both sides)"; else echo "$resa"; fi)"
}
