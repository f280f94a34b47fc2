#!/usr/bin/env bash
# proxy-latency.sh — rdsgate proxy vs a direct TLS connection to the same
# sandbox PostgreSQL front, with 1 ms of round-trip delay injected in front
# of the front by Shopify's toxiproxy (bench/toxiproxy, v2.5.0) for both.
# The proxy takes the direct route to the delayed address
# (--via direct --address), so the proxy is the only difference.
# pgbench SELECT 1 at 1 and 4 clients, and with a new connection per
# transaction (-C), to the proxy's TCP port and to its unix socket (what
# `rdsgate connect` gives psql), and through a bare io.Copy TCP relay
# (bench/tcprelay, libpq doing the TLS through it) in front of the same
# delayed address: what any extra hop costs on this machine; socat (a C
# relay, one process per connection) beside it in the per-repetition
# table, to tell a Go hop's cost from any hop's. Prints
# Markdown tables; medians of REPS runs, all paths interleaved; the
# proxy's CPU time per transaction from /proc.
#
#   bench/proxy-latency.sh [SECONDS [REPS [DELAY_MS]]]   defaults 8 3 1
#
# WORKLOADS="1 4" runs only those rows (default "1 4 C1 C4"; Cn is -C with
# n clients). Each repetition runs every path back to back, so besides the
# ratio of medians the script prints the median and range of the
# per-repetition ratios, which a slow drift in the machine's load moves less.
#
# Targets (issue 4): proxy TPS >= 0.95x direct; new-connection latency
# <= 1.3x direct. The proxy runs with --logins-per-second 0 so that its
# login rate limiter (default 100/s) does not cap the -C runs.
. "$(dirname "$0")/lib.sh"
secs=${1:-8} reps=${2:-3} delay=${3:-1}
command -v socat >/dev/null || { echo "proxy-latency.sh needs socat (apt-get install socat)" >&2; exit 1; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)

build_rdsgate
go build -o "$work/netload" ./bench/netload
go build -o "$work/tcprelay" ./bench/tcprelay
start_toxiproxy
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q

# Calibration: ping-pong of 64-byte messages to an echo server, bare and
# through toxiproxy with and without the delay.
eport=$(freeport)
"$work/netload" serve -listen "127.0.0.1:$eport" >/dev/null & pids+=($!)
wait_port "$eport"
cal0=$(toxi_proxy cal0 "127.0.0.1:$eport" 0)
cal1=$(toxi_proxy cal1 "127.0.0.1:$eport" "$delay")
p_bare=$("$work/netload" ping -addr "127.0.0.1:$eport" -count 300)
p_t0=$("$work/netload" ping -addr "$cal0" -count 300)
p_t1=$("$work/netload" ping -addr "$cal1" -count 300)

dpg=$(toxi_proxy pg "$front_pg" "$delay")
rport=$(freeport)
"$work/tcprelay" -listen "127.0.0.1:$rport" -to "$dpg" 2>/dev/null & pids+=($!)
wait_port "$rport"
sport=$(freeport)
socat "TCP-LISTEN:$sport,bind=127.0.0.1,fork,reuseaddr,nodelay" "TCP:$dpg,nodelay" 2>/dev/null & pids+=($!)
wait_port "$sport"
pport=$(freeport)
mkdir -p "$work/sock"
"$work/rdsgate" proxy "demo-pg=$pport" --unix-socket "$work/sock" --via direct --address "$dpg" --logins-per-second 0 -q >"$work/proxy.log" 2>&1 &
ppid=$!
pids+=($ppid)
wait_port "$pport"

direct="host=$ep_pg hostaddr=${dpg%:*} port=${dpg##*:} user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
relayed="host=$ep_pg hostaddr=127.0.0.1 port=$rport user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
proxied="host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable"
socated="host=$ep_pg hostaddr=127.0.0.1 port=$sport user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
unix="host=$work/sock port=$pport user=app_user dbname=demo sslmode=disable"
# run CONNINFO PASSWORD CLIENTS [-C] -> "tps conn_ms"
run() { pgbench_select1 "$secs" "$@"; }
# runp CONNINFO CLIENTS [-C] -> "tps conn_ms proxy_cpu_us_per_transaction"
runp() {
	local c0 t m c1
	c0=$(cpu_ticks "$ppid")
	read -r t m < <(run "$1" "" "$2" ${3:-})
	c1=$(cpu_ticks "$ppid")
	echo "$t $m $(awk -v c=$((c1 - c0)) -v hz="$clk_tck" -v t="$t" -v s="$secs" 'BEGIN {printf "%.0f", c / hz * 1e6 / (t * s)}')"
}
declare -A tps conn cpu pair
workloads=${WORKLOADS:-1 4 C1 C4}
for r in $(seq "$reps"); do
	token=$("$work/rdsgate" token --target demo-pg) # 15 minutes: one per repetition
	for w in $workloads; do
		c=${w#C} flag=; [ "$w" != "$c" ] && flag=-C
		read -r td m < <(run "$direct" "$token" "$c" $flag); tps[d$w]+="$td " conn[d$w]+="$m "
		read -r t m < <(run "$relayed" "$token" "$c" $flag); tps[r$w]+="$t " conn[r$w]+="$m " pair[r$w]+="$(ratio "$t" "$td") "
		read -r t m < <(run "$socated" "$token" "$c" $flag); pair[s$w]+="$(ratio "$t" "$td") "
		read -r t m u < <(runp "$proxied" "$c" $flag); tps[p$w]+="$t " conn[p$w]+="$m " cpu[p$w]+="$u " pair[p$w]+="$(ratio "$t" "$td") "
		read -r t m u < <(runp "$unix" "$c" $flag); tps[u$w]+="$t " conn[u$w]+="$m " cpu[u$w]+="$u " pair[u$w]+="$(ratio "$t" "$td") "
		log "rep $r $w: direct ${tps[d$w]} / bare relay ${tps[r$w]} / proxy ${tps[p$w]} / proxy unix ${tps[u$w]}"
	done
done

echo "### Injected delay (64-byte ping-pong, 300 round trips)"
echo
echo "| path | p50 µs | p90 µs |"
echo "|---|---|---|"
echo "| echo server, bare loopback | $(kv p50_us "$p_bare") | $(kv p90_us "$p_bare") |"
echo "| through toxiproxy, no toxic | $(kv p50_us "$p_t0") | $(kv p90_us "$p_t0") |"
echo "| through toxiproxy, latency ${delay} ms downstream | $(kv p50_us "$p_t1") | $(kv p90_us "$p_t1") |"
echo
echo "### pgbench SELECT 1, ${delay} ms round-trip delay in front of the front (median of $reps × ${secs} s)"
echo
echo "Load average (1, 5, 15 min) before the run: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| workload | clients | direct TLS | bare relay | relay / direct | proxy, TCP | TCP / direct | proxy, unix socket | unix / direct | target | met (TCP, unix) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
meets() { awk -v q="$1" -v op="$2" 'BEGIN {print ((op == ">=" ? q >= 0.95 : q <= 1.3) ? "yes" : "no")}'; }
for w in $workloads; do
	d=$(median ${tps[d$w]}) rl=$(median ${tps[r$w]}) p=$(median ${tps[p$w]}) u=$(median ${tps[u$w]})
	qr=$(ratio "$rl" "$d") qp=$(ratio "$p" "$d") qu=$(ratio "$u" "$d")
	if [ "${w#C}" = "$w" ]; then
		printf '| SELECT 1 (TPS) | %s | %.0f | %.0f | %s | %.0f | %s | %.0f | %s | ≥ 0.95 | %s, %s |\n' "$w" "$d" "$rl" "$qr" "$p" "$qp" "$u" "$qu" "$(meets "$qp" ">=")" "$(meets "$qu" ">=")"
	else
		printf '| new connection each (-C), TPS | %s | %.1f | %.1f | %s | %.1f | %s | %.1f | %s | — | — |\n' "${w#C}" "$d" "$rl" "$qr" "$p" "$qp" "$u" "$qu"
		dm=$(median ${conn[d$w]}) rm_=$(median ${conn[r$w]}) pm=$(median ${conn[p$w]}) um=$(median ${conn[u$w]})
		qr=$(ratio "$rm_" "$dm") qp=$(ratio "$pm" "$dm") qu=$(ratio "$um" "$dm")
		printf '| new connection each (-C), ms per connection (pgbench "average connection time") | %s | %.2f | %.2f | %s | %.2f | %s | %.2f | %s | ≤ 1.3 | %s, %s |\n' "${w#C}" "$dm" "$rm_" "$qr" "$pm" "$qp" "$um" "$qu" "$(meets "$qp" "<=")" "$(meets "$qu" "<=")"
	fi
done
echo
echo "### The proxy's CPU time per transaction (µs, from /proc; median of $reps)"
echo
echo "| workload | clients | proxy, TCP | proxy, unix socket |"
echo "|---|---|---|---|"
for w in $workloads; do
	name="SELECT 1"; [ "${w#C}" != "$w" ] && name="new connection each (-C)"
	printf '| %s | %s | %s | %s |\n' "$name" "${w#C}" "$(median ${cpu[p$w]})" "$(median ${cpu[u$w]})"
done
echo
echo "### TPS / direct per repetition (median, min–max of $reps; each repetition runs the paths back to back)"
echo
echo "| workload | clients | bare relay | socat | proxy, TCP | proxy, unix socket |"
echo "|---|---|---|---|---|---|"
span() { printf '%s (%s–%s)' "$(median $1)" "$(printf '%s\n' $1 | sort -g | head -1)" "$(printf '%s\n' $1 | sort -g | tail -1)"; }
for w in $workloads; do
	name="SELECT 1"; [ "${w#C}" != "$w" ] && name="new connection each (-C)"
	printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${w#C}" "$(span "${pair[r$w]}")" "$(span "${pair[s$w]}")" "$(span "${pair[p$w]}")" "$(span "${pair[u$w]}")"
done
