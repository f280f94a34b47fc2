#!/usr/bin/env bash
# proxy-pgbench.sh — the extra-hop limit: rdsgate proxy vs. a bare TCP relay
# (bench/tcprelay: io.Copy, no TLS, no parsing, the client doing verify-full
# TLS through it) vs. a direct TLS connection, all to the same sandbox
# PostgreSQL front on loopback, measured in one run with pgbench (SELECT 1).
# Prints a Markdown table of TPS (medians of REPS runs, the three paths
# interleaved) and ratios. The proxy takes the direct route to the front
# (--via direct --address), as the relay does; the sandbox's rdsgate.yaml
# would otherwise send it over the Session Manager route.
# --logins-per-second 0: the login limiter (default 100/s) would otherwise
# cap the -C rows.
#
#   bench/proxy-pgbench.sh [SECONDS [REPS]]      defaults 8 3
#
# Target (issue 4): proxy TPS >= 0.9x the bare relay's, at 1 and 4 clients.
. "$(dirname "$0")/lib.sh"
secs=${1:-8} reps=${2:-3}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
build_rdsgate
go build -o "$work/tcprelay" ./bench/tcprelay
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q

relay=$(freeport) pport=$(freeport)
"$work/tcprelay" -listen "127.0.0.1:$relay" -to "$front_pg" 2>/dev/null & pids+=($!)
"$work/rdsgate" proxy "demo-pg=$pport" --via direct --address "$front_pg" --logins-per-second 0 -q >"$work/proxy.log" 2>&1 & pids+=($!)
wait_port "$relay"
wait_port "$pport"

tls() { echo "host=$ep_pg hostaddr=127.0.0.1 port=$1 user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"; }
proxied="host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable"
# tps CONNINFO PASSWORD CLIENTS [-C] -> TPS
tps() { local t _; read -r t _ < <(pgbench_select1 "$secs" "$@") && echo "$t"; }
declare -A T
for r in $(seq "$reps"); do
	token=$("$work/rdsgate" token --target demo-pg) # 15 minutes: one per repetition
	for w in 1 4 C1 C4; do
		c=${w#C} flag=; [ "$w" != "$c" ] && flag=-C
		T[d$w]+="$(tps "$(tls "${front_pg##*:}")" "$token" "$c" $flag) "
		T[r$w]+="$(tps "$(tls "$relay")" "$token" "$c" $flag) "
		T[p$w]+="$(tps "$proxied" "" "$c" $flag) "
		log "rep $r $w: direct ${T[d$w]}/ relay ${T[r$w]}/ proxy ${T[p$w]}"
	done
done

echo "### The extra-hop limit: pgbench SELECT 1 on loopback (median of $reps × ${secs} s)"
echo
echo "Load average (1, 5, 15 min) before the run: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| workload | clients | direct TLS | bare relay + TLS | rdsgate proxy | proxy / relay | target | met | proxy / direct |"
echo "|---|---|---|---|---|---|---|---|---|"
for w in 1 4 C1 C4; do
	d=$(median ${T[d$w]}) rl=$(median ${T[r$w]}) p=$(median ${T[p$w]})
	q=$(ratio "$p" "$rl")
	if [ "${w#C}" = "$w" ]; then
		met=$(awk -v q="$q" 'BEGIN {print (q >= 0.9) ? "yes" : "no"}')
		printf '| SELECT 1 (TPS) | %s | %.0f | %.0f | %.0f | %s | ≥ 0.9 | %s | %s |\n' "$w" "$d" "$rl" "$p" "$q" "$met" "$(ratio "$p" "$d")"
	else
		printf '| new connection each (-C), TPS | %s | %.1f | %.1f | %.1f | %s | — | — | %s |\n' "${w#C}" "$d" "$rl" "$p" "$q" "$(ratio "$p" "$d")"
	fi
done
