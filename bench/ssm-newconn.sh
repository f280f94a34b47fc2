#!/usr/bin/env bash
# ssm-newconn.sh — what a new connection costs through `rdsgate proxy` on the
# sandbox's Session Manager route (paced agent), beside a direct TLS
# connection to the same PostgreSQL front: pgbench -C (a new connection and
# login for every SELECT 1), 1 and 4 clients, its average connection time;
# and the same proxy with --reuse-logins (a cleanly ended session, reset
# with DISCARD ALL, serves the next client), in the same run.
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
rport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$rport" --logins-per-second 0 --reuse-logins >"$work/proxy-reuse.log" 2>&1 & pids+=($!)
wait_port "$rport"

direct="host=$ep_pg hostaddr=127.0.0.1 port=${front_pg##*:} user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
proxied="host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable"
reused="host=127.0.0.1 port=$rport user=app_user dbname=demo sslmode=disable"
declare -A C
for r in $(seq "$reps"); do
	token=$("$work/rdsgate" token --target demo-pg)
	for c in 1 4; do
		read -r _ d < <(pgbench_select1 "$secs" "$direct" "$token" "$c" -C)
		read -r _ p < <(pgbench_select1 "$secs" "$proxied" "" "$c" -C)
		read -r _ u < <(pgbench_select1 "$secs" "$reused" "" "$c" -C)
		C[d$c]+="$d " C[p$c]+="$p " C[u$c]+="$u "
		log "rep $r, $c clients: direct ${C[d$c]}/ proxy via ssm ${C[p$c]}/ with --reuse-logins ${C[u$c]}"
	done
done
echo "### New connection through \`rdsgate proxy\` on the ssm route (pgbench -C, median of $reps × ${secs} s)"
echo
echo "Load average (1, 5, 15 min) before the run: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| clients | direct TLS, ms per connection | proxy via ssm, ms per connection | proxy via ssm --reuse-logins, ms | reuse / without |"
echo "|---|---|---|---|---|"
for c in 1 4; do
	d=$(median ${C[d$c]}) p=$(median ${C[p$c]}) u=$(median ${C[u$c]})
	printf '| %s | %.1f | %.1f | %.1f | %.3f |\n' "$c" "$d" "$p" "$u" "$(awk -v a="$u" -v b="$p" 'BEGIN {print a/b}')"
done
