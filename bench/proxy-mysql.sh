#!/usr/bin/env bash
# proxy-mysql.sh — in one run against the sandbox (both engines):
#
#   1. MySQL (MariaDB) SELECT 1 load with bench/myload (go-sql-driver/mysql):
#      direct TLS to demo-mysql's front (verify-full, IAM token) vs the same
#      through a bare TCP relay (bench/tcprelay) vs rdsgate proxy (direct
#      route to the front, --logins-per-second 0); on open connections
#      (queries/s) and with a new connection per query (ms per connection);
#   2. bulk relay throughput: a ~200 MB result read directly (TLS) vs through
#      rdsgate proxy — PostgreSQL COPY (...) TO STDOUT with psql, and a MySQL
#      SELECT of 200,000 1 kB rows with myload;
#   3. memory per idle connection: RSS of a fresh `rdsgate proxy demo-mysql`
#      after one warm-up login, and while holding N logged-in idle client
#      connections (each with its upstream TLS session), divided by N.
#
#   bench/proxy-mysql.sh [SECONDS [REPS [N]]]    defaults 6 3 200
#
# Loopback only, no injected delay: on 2 cores the hop's CPU is what shows.
. "$(dirname "$0")/lib.sh"
secs=${1:-6} reps=${2:-3} nidle=${3:-200}

build_rdsgate
go build -o "$work/myload" ./bench/myload
go build -o "$work/tcprelay" ./bench/tcprelay
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" -q

rport=$(freeport) pport=$(freeport) pgport=$(freeport)
"$work/tcprelay" -listen "127.0.0.1:$rport" -to "$front_my" 2>/dev/null & pids+=($!)
"$work/rdsgate" proxy "demo-mysql=$pport" --via direct --address "$front_my" --logins-per-second 0 -q >"$work/proxy.log" 2>&1 & pids+=($!)
"$work/rdsgate" proxy "demo-pg=$pgport" --via direct --address "$front_pg" --logins-per-second 0 -q >"$work/proxy-pg.log" 2>&1 & pids+=($!)
wait_port "$rport"; wait_port "$pport"; wait_port "$pgport"
export MYLOAD_PASSWORD
MYLOAD_PASSWORD=$("$work/rdsgate" token --target demo-mysql)
tlsargs=(-ca "$work/sb/ca.pem" -servername "$ep_my")

# my MODE CLIENTS ROUTE -> qps or avg connect ms
my() {
	local out
	case $3 in
	direct) out=$("$work/myload" "$1" -addr "$front_my" "${tlsargs[@]}" -clients "$2" -secs "${secs}s") ;;
	relay) out=$("$work/myload" "$1" -addr "127.0.0.1:$rport" "${tlsargs[@]}" -clients "$2" -secs "${secs}s") ;;
	proxy) out=$(MYLOAD_PASSWORD= "$work/myload" "$1" -addr "127.0.0.1:$pport" -clients "$2" -secs "${secs}s") ;;
	esac
	log "$3: $out"
	if [ "$1" = conn ]; then kv avg_connect_ms "$out"; else kv qps "$out"; fi
}
declare -A M
for r in $(seq "$reps"); do
	for w in qps1 qps4 conn1 conn4; do
		mode=${w//[0-9]/} c=${w//[a-z]/}
		for route in direct relay proxy; do M[$w$route]+="$(my "$mode" "$c" "$route") "; done
	done
done

# Bulk: PostgreSQL COPY and a MySQL result of 200,000 × 1000 bytes.
pgtoken=$("$work/rdsgate" token --target demo-pg)
copy="COPY (SELECT repeat('x', 1000) FROM generate_series(1, 200000)) TO STDOUT"
bulkpg() { # CONNINFO PASSWORD -> MB/s
	local a b n
	a=$(date +%s%N)
	n=$(PGPASSWORD=$2 psql "$1" -Atc "$copy" | wc -c)
	b=$(date +%s%N)
	log "pg copy: $n bytes in $(((b - a) / 1000000)) ms"
	awk -v n="$n" -v ns=$((b - a)) 'BEGIN {printf "%.1f", n/(ns/1e9)/1e6}'
}
myq="SELECT REPEAT('x', 1000) FROM seq_1_to_200000"
declare -A B
for r in $(seq "$reps"); do
	B[pgd]+="$(bulkpg "host=$ep_pg hostaddr=${front_pg%:*} port=${front_pg##*:} user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem" "$pgtoken") "
	B[pgp]+="$(bulkpg "host=127.0.0.1 port=$pgport user=app_user dbname=demo sslmode=disable" "") "
	out=$("$work/myload" bulk -addr "$front_my" "${tlsargs[@]}" -query "$myq"); log "my direct: $out"; B[myd]+="$(kv mbps "$out") "
	out=$(MYLOAD_PASSWORD= "$work/myload" bulk -addr "127.0.0.1:$pport" -query "$myq"); log "my proxy: $out"; B[myp]+="$(kv mbps "$out") "
done

# Memory per idle connection, on a fresh proxy.
mport=$(freeport)
"$work/rdsgate" proxy "demo-mysql=$mport" --via direct --address "$front_my" --logins-per-second 0 -q >"$work/proxy-mem.log" 2>&1 &
mpid=$!; pids=("$mpid" "${pids[@]}")
wait_port "$mport"
MYLOAD_PASSWORD= "$work/myload" qps -addr "127.0.0.1:$mport" -clients 1 -secs 1s >/dev/null
sleep 1
rss0=$(rss_kb "$mpid")
MYLOAD_PASSWORD= "$work/myload" hold -addr "127.0.0.1:$mport" -n "$nidle" -secs 60s >"$work/hold.out" 2>&1 &
hpid=$!; pids=("$hpid" "${pids[@]}")
for _ in $(seq 600); do grep -q '^held' "$work/hold.out" && break; kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
grep -q '^held' "$work/hold.out" || { cat "$work/hold.out" >&2; exit 1; }
sleep 2
rss1=$(rss_kb "$mpid")
kill "$hpid" 2>/dev/null || true

echo "### MySQL (MariaDB) SELECT 1, loopback, myload (median of $reps × ${secs} s)"
echo
echo "| workload | clients | direct TLS | bare relay + TLS | rdsgate proxy | proxy / relay | proxy / direct |"
echo "|---|---|---|---|---|---|---|"
for w in qps1 qps4 conn1 conn4; do
	d=$(median ${M[${w}direct]}) r=$(median ${M[${w}relay]}) p=$(median ${M[${w}proxy]})
	if [ "${w#qps}" != "$w" ]; then
		echo "| SELECT 1, queries/s | ${w#qps} | $d | $r | $p | $(ratio "$p" "$r") | $(ratio "$p" "$d") |"
	else
		echo "| new connection + SELECT 1, ms per connection (lower is better) | ${w#conn} | $d | $r | $p | $(ratio "$p" "$r") | $(ratio "$p" "$d") |"
	fi
done
echo
echo "### Bulk relay throughput, ~200 MB result (median of $reps)"
echo
echo "| transfer | direct TLS MB/s | rdsgate proxy MB/s | proxy / direct |"
echo "|---|---|---|---|"
d=$(median ${B[pgd]}) p=$(median ${B[pgp]})
echo "| PostgreSQL \`COPY (SELECT repeat('x',1000) FROM generate_series(1,200000)) TO STDOUT\` (psql) | $d | $p | $(ratio "$p" "$d") |"
d=$(median ${B[myd]}) p=$(median ${B[myp]})
echo "| MariaDB \`SELECT REPEAT('x',1000) FROM seq_1_to_200000\` (myload) | $d | $p | $(ratio "$p" "$d") |"
echo
echo "### Memory per idle connection (fresh \`rdsgate proxy demo-mysql\`)"
echo
echo "| RSS after 1 warm-up login | RSS holding $nidle idle sessions | per connection |"
echo "|---|---|---|"
awk -v a="$rss0" -v b="$rss1" -v n="$nidle" 'BEGIN {printf "| %.1f MiB | %.1f MiB | %.1f KiB |\n", a/1024, b/1024, (b-a)/n}'
