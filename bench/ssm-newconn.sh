#!/usr/bin/env bash
# ssm-newconn.sh — what a new connection costs through `rdsgate proxy` on the
# sandbox's Session Manager route (paced agent), beside a direct TLS
# connection to the same PostgreSQL front: pgbench -C (a new connection and
# login for every SELECT 1), 1 and 4 clients, its average connection time.
# The stages of the route's share are measured in-process by
#   go test -run '^$' -bench BenchmarkNewConnection -benchtime=40x ./tunnel/ssm
#
#   bench/ssm-newconn.sh [SECONDS [REPS]]      defaults 5 3
. "$(dirname "$0")/lib.sh"
secs=${1:-5} reps=${2:-3}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
build_rdsgate
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q
pport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$pport" --logins-per-second 0 >"$work/proxy.log" 2>&1 & pids+=($!)
wait_port "$pport"
grep -q 'via ssm' "$work/proxy.log" || { cat "$work/proxy.log" >&2; echo "the proxy does not use the ssm route" >&2; exit 1; }

direct="host=$ep_pg hostaddr=127.0.0.1 port=${front_pg##*:} user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
proxied="host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable"
declare -A C
for r in $(seq "$reps"); do
	token=$("$work/rdsgate" token --target demo-pg)
	for c in 1 4; do
		read -r _ d < <(pgbench_select1 "$secs" "$direct" "$token" "$c" -C)
		read -r _ p < <(pgbench_select1 "$secs" "$proxied" "" "$c" -C)
		C[d$c]+="$d " C[p$c]+="$p "
		log "rep $r, $c clients: direct ${C[d$c]}/ proxy via ssm ${C[p$c]}"
	done
done
echo "### New connection through \`rdsgate proxy\` on the ssm route (pgbench -C, median of $reps × ${secs} s)"
echo
echo "Load average (1, 5, 15 min) before the run: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| clients | direct TLS, ms per connection | proxy via ssm, ms per connection | difference, ms |"
echo "|---|---|---|---|"
for c in 1 4; do
	d=$(median ${C[d$c]}) p=$(median ${C[p$c]})
	printf '| %s | %.1f | %.1f | %.1f |\n' "$c" "$d" "$p" "$(awk -v a="$p" -v b="$d" 'BEGIN {print a-b}')"
done
