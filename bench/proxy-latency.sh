#!/usr/bin/env bash
# proxy-latency.sh — rdsgate proxy vs a direct TLS connection to the same
# sandbox PostgreSQL front, with 1 ms of round-trip delay injected in front
# of the front by Shopify's toxiproxy (bench/toxiproxy, v2.5.0) for both.
# The proxy takes the direct route to the delayed address
# (--via direct --address), so the proxy is the only difference.
# pgbench SELECT 1 at 1 and 4 clients, and with a new connection per
# transaction (-C). Prints Markdown tables; medians of REPS runs, direct and
# proxy runs interleaved.
#
#   bench/proxy-latency.sh [SECONDS [REPS [DELAY_MS]]]   defaults 8 3 1
#
# Targets (issue 4): proxy TPS >= 0.95x direct; new-connection latency
# <= 1.3x direct. The proxy runs with --logins-per-second 0 so that its
# login rate limiter (default 100/s) does not cap the -C runs.
. "$(dirname "$0")/lib.sh"
secs=${1:-8} reps=${2:-3} delay=${3:-1}

build_rdsgate
go build -o "$work/netload" ./bench/netload
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
pport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$pport" --via direct --address "$dpg" --logins-per-second 0 -q >"$work/proxy.log" 2>&1 & pids+=($!)
wait_port "$pport"

echo 'SELECT 1;' >"$work/select1.sql"
token=$("$work/rdsgate" token --target demo-pg)
direct="host=$ep_pg hostaddr=${dpg%:*} port=${dpg##*:} user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"
proxied="host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable"
# run CONNINFO PASSWORD CLIENTS [-C] -> "tps conn_ms"
run() {
	PGPASSWORD=$2 pgbench -n -f "$work/select1.sql" -T "$secs" -c "$3" -j "$3" ${4:-} "$1" 2>"$work/pgbench.err" |
		awk '/^tps/ {t=$3} /^average connection time/ {c=$5} END {if (t == "") exit 1; printf "%s %s\n", t, (c == "" ? 0 : c)}' ||
		{ cat "$work/pgbench.err" >&2; exit 1; }
}
declare -A tps conn
for r in $(seq "$reps"); do
	for w in 1 4 C1 C4; do
		c=${w#C} flag=; [ "$w" != "$c" ] && flag=-C
		read -r t m < <(run "$direct" "$token" "$c" $flag); tps[d$w]+="$t " conn[d$w]+="$m "
		read -r t m < <(run "$proxied" "" "$c" $flag); tps[p$w]+="$t " conn[p$w]+="$m "
		log "rep $r $w: direct ${tps[d$w]} / proxy ${tps[p$w]}"
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
echo "| workload | clients | direct TLS | rdsgate proxy | proxy / direct | target | met |"
echo "|---|---|---|---|---|---|---|"
for w in 1 4 C1 C4; do
	d=$(median ${tps[d$w]}) p=$(median ${tps[p$w]}) q=$(ratio "$p" "$d")
	if [ "${w#C}" = "$w" ]; then
		met=$(awk -v q="$q" 'BEGIN {print (q >= 0.95 ? "yes" : "no")}')
		printf '| SELECT 1 (TPS) | %s | %.0f | %.0f | %s | ≥ 0.95 | %s |\n' "${w#C}" "$d" "$p" "$q" "$met"
	else
		printf '| new connection each (-C), TPS | %s | %.1f | %.1f | %s | — | — |\n' "${w#C}" "$d" "$p" "$q"
		dm=$(median ${conn[d$w]}) pm=$(median ${conn[p$w]}) q=$(ratio "$pm" "$dm")
		met=$(awk -v q="$q" 'BEGIN {print (q <= 1.3 ? "yes" : "no")}')
		printf '| new connection each (-C), ms per connection (pgbench "average connection time") | %s | %.2f | %.2f | %s | ≤ 1.3 | %s |\n' "${w#C}" "$dm" "$pm" "$q" "$met"
	fi
done
