#!/usr/bin/env bash
# tunnel-ab.sh — two rdsgate binaries' `rdsgate tunnel` (Session Manager
# route, the sandbox's paced agent) side by side: throughput and CPU per
# MiB of each tunnel process for server → client transfers (bench/netload
# down), over 1 and 16 connections, the binaries alternating which goes
# first in each round. For a change to the Session Manager client whose
# cost is CPU per message, e.g. before and after a commit:
#
#   git archive OLD | tar -x -C /tmp/old && (cd /tmp/old && go build -o /tmp/rdsgate-old ./cmd/rdsgate)
#   bench/tunnel-ab.sh /tmp/rdsgate-old /tmp/rdsgate-new [MIB [ROUNDS]]   defaults 8 5
#
# Prints medians over the rounds and B/A ratios. Both tunnels stay open
# through the sandbox (one session each); the sandbox is A's.
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || { echo "usage: $0 RDSGATE_A RDSGATE_B [MIB [ROUNDS]]" >&2; exit 2; }
cp "$1" "$work/a"; cp "$2" "$work/b"
mib=${3:-8} rounds=${4:-5}

go build -o "$work/netload" ./bench/netload
sport=$(freeport)
"$work/netload" serve -listen "127.0.0.1:$sport" >/dev/null & pids+=($!)
wait_port "$sport"
start_sandbox "$work/a" sandbox --dir "$work/sb" --engine postgres -q
declare -A port pid
for who in a b; do
	port[$who]=$(freeport)
	"$work/$who" tunnel --remote "127.0.0.1:$sport" --via ssm --bastion "$bastion" --port "${port[$who]}" -q >"$work/tunnel-$who.log" 2>&1 &
	pid[$who]=$!; pids+=($!)
	wait_port "${port[$who]}"
done

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A M C
for conns in 1 16; do
	for r in $(seq "$rounds"); do
		order="a b"; [ $((r % 2)) = 1 ] || order="b a"
		for who in $order; do
			c0=$(cpu_ticks "${pid[$who]}")
			out=$("$work/netload" down -addr "127.0.0.1:${port[$who]}" -conns "$conns" -bytes $((mib << 20)) -timeout 10m)
			c1=$(cpu_ticks "${pid[$who]}")
			cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" -v m="$mib" 'BEGIN {printf "%.1f", (b-a)/t*1000/m}')
			log "$who down x$conns round $r: $out cpu_ms_per_mib=$cpu"
			M[$who$conns]+="$(kv mbps "$out") " C[$who$conns]+="$cpu "
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "### \`rdsgate tunnel\` A/B, paced agent, down (${mib} MiB per transfer, median of $rounds rounds)"
echo
echo "A: $1, B: $2. $(nproc) CPUs; load average (1, 5, 15 min) $load0 before, $load1 after."
echo
echo "| conns | A MB/s | B MB/s | A CPU ms/MiB | B CPU ms/MiB | CPU B / A | each round's CPU ms/MiB, A; B |"
echo "|---|---|---|---|---|---|---|"
for conns in 1 16; do
	ma=$(median ${M[a$conns]}) mb=$(median ${M[b$conns]}) ca=$(median ${C[a$conns]}) cb=$(median ${C[b$conns]})
	echo "| $conns | $ma | $mb | $ca | $cb | $(ratio "$cb" "$ca") | ${C[a$conns]% }; ${C[b$conns]% } |"
done
