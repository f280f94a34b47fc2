#!/usr/bin/env bash
# tunnel-vs-plugin.sh — `rdsgate tunnel` (rdsgate's native Session Manager
# client) vs AWS's session-manager-plugin (started by `aws ssm start-session`
# as users run it), both forwarding a local port through the sandbox's
# Session Manager agent to the same byte server (bench/netload) on
# loopback, in one run:
#
#   * paced agent (1 KiB messages 1 ms apart, like AWS's agent — the
#     realistic case): throughput server → client ("down") and client →
#     server ("up") over 1 and 16 connections, CPU per MiB of each client
#     process (utime+stime from /proc/PID/stat), and the round-trip time of
#     64-byte messages, back to back and one every 20 ms (an idle tunnel);
#   * unpaced agent (bench/unpacedsandbox): the ceiling of each client, vs
#     direct loopback TCP to the same server.
#
#   bench/tunnel-vs-plugin.sh [PACED_MIB [UNPACED_MIB [REPS]]]   defaults 8 64 3
#
# PACED_MIB and UNPACED_MIB are the bytes per transfer over all its
# connections. Each paced transfer runs REPS times per client, the two
# clients alternating which goes first, and the table shows the medians:
# both clients are held to the agent's pace, so a single pair of runs
# mostly measures the machine's noise. Goal (issue 5): at least the plugin's throughput at no more
# than half its CPU, and lower latency; the paced table says per row
# whether the CPU/throughput goal was met. The load average is printed
# because the CPU per MiB of both clients moves with it (wake-ups from
# idle dominate at AWS's pace). Needs /usr/bin/aws (Debian awscli).
. "$(dirname "$0")/lib.sh"
paced_mib=${1:-8} unpaced_mib=${2:-64} reps=${3:-3}
aws=${AWS_CLI:-/usr/bin/aws}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
build_rdsgate
go build -o "$work/netload" ./bench/netload
go build -o "$work/unpacedsandbox" ./bench/unpacedsandbox
mkdir -p "$work/bin"
tools/ssmplugin/build.sh "$work/bin/session-manager-plugin"

sport=$(freeport)
"$work/netload" serve -listen "127.0.0.1:$sport" >/dev/null & pids+=($!)
wait_port "$sport"
server=127.0.0.1:$sport

# start_clients: rdsgate tunnel on $tport (pid $tpid) and AWS's plugin on
# $aport (pid $apid), both to $server through the current sandbox.
start_clients() {
	tport=$(freeport) aport=$(freeport)
	"$work/rdsgate" tunnel --remote "$server" --via ssm --bastion "$bastion" --port "$tport" -q >"$work/tunnel.log" 2>&1 &
	tpid=$!; pids+=($tpid)
	PATH=$work/bin:$PATH "$aws" ssm start-session --endpoint-url "$RDSGATE_SANDBOX_ENDPOINT" --target "$bastion" \
		--document-name AWS-StartPortForwardingSessionToRemoteHost \
		--parameters "host=127.0.0.1,portNumber=$sport,localPortNumber=$aport" >"$work/aws.log" 2>&1 &
	local awspid=$!; pids+=($awspid)
	wait_port "$tport"
	wait_port "$aport" || { cat "$work/aws.log" >&2; exit 1; }
	apid=$(pgrep -P "$awspid" -f session-manager-plugin | head -1)
	[ -n "$apid" ] || { echo "no plugin process under aws ($awspid)" >&2; exit 1; }
	pids=("$apid" "${pids[@]}")
}
stop_clients() { kill "$tpid" "$apid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; sleep 1; }

# xfer NAME PID ADDR MODE CONNS MIB -> "mbps cpu_ms_per_mib" (PID 0: no CPU)
xfer() {
	local c0 c1 out
	[ "$2" = 0 ] || c0=$(cpu_ticks "$2")
	out=$("$work/netload" "$4" -addr "$3" -conns "$5" -bytes $(($6 << 20)) -timeout 10m)
	[ "$2" = 0 ] || c1=$(cpu_ticks "$2")
	local cpu=0
	[ "$2" = 0 ] || cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" -v m="$6" 'BEGIN {printf "%.1f", (b-a)/t*1000/m}')
	log "$1 $4 x$5 $6 MiB: $out cpu_ms_per_mib=$cpu"
	echo "$(kv mbps "$out") $cpu"
}
# pingp ADDR NAME [GAP [COUNT]] -> "p50_us p90_us" of COUNT (300) ping-pongs, GAP apart
pingp() { local out; out=$("$work/netload" ping -addr "$1" -count "${4:-300}" -gap "${3:-0}"); log "$2 ping: $out"; echo "$(kv p50_us "$out") $(kv p90_us "$out")"; }

# --- paced agent ---------------------------------------------------------
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q
sbpid=${pids[-1]}
start_clients
read -r dp50 dp90 < <(pingp "$server" direct)
read -r tp50 tp90 < <(pingp "127.0.0.1:$tport" rdsgate)
read -r ap50 ap90 < <(pingp "127.0.0.1:$aport" plugin)
# One message every 20 ms meets an idle tunnel, as an interactive query
# does: the agent's 1 ms pause after its previous message has long passed,
# so what remains is the path through each client and the agent. Three
# rounds of 200, the clients alternating; medians of the rounds' p50/p90.
gap=20ms
sd50=() sd90=() st50=() st90=() sa50=() sa90=()
for r in 1 2 3; do
	order="t a"; [ $((r % 2)) = 1 ] || order="a t"
	read -r a b < <(pingp "$server" "direct, $gap apart" $gap 200); sd50+=("$a") sd90+=("$b")
	for who in $order; do
		if [ "$who" = t ]; then
			read -r a b < <(pingp "127.0.0.1:$tport" "rdsgate, $gap apart" $gap 200); st50+=("$a") st90+=("$b")
		else
			read -r a b < <(pingp "127.0.0.1:$aport" "plugin, $gap apart" $gap 200); sa50+=("$a") sa90+=("$b")
		fi
	done
done
sdp50=$(median "${sd50[@]}") sdp90=$(median "${sd90[@]}")
stp50=$(median "${st50[@]}") stp90=$(median "${st90[@]}")
sap50=$(median "${sa50[@]}") sap90=$(median "${sa90[@]}")
declare -A R
for t in "down 1" "down 16" "up 1" "up 16"; do
	set -- $t
	tm=() tc=() am=() ac=()
	for r in $(seq "$reps"); do
		order="t a"
		[ $((r % 2)) = 1 ] || order="a t"
		for who in $order; do
			if [ "$who" = t ]; then
				read -r m c < <(xfer rdsgate "$tpid" "127.0.0.1:$tport" "$1" "$2" "$paced_mib")
				tm+=("$m") tc+=("$c")
			else
				read -r m c < <(xfer plugin "$apid" "127.0.0.1:$aport" "$1" "$2" "$paced_mib")
				am+=("$m") ac+=("$c")
			fi
		done
	done
	R[t$1$2]="$(median "${tm[@]}") $(median "${tc[@]}")"
	R[a$1$2]="$(median "${am[@]}") $(median "${ac[@]}")"
done
stop_clients
kill "$sbpid"; wait "$sbpid" 2>/dev/null || true

# --- unpaced agent -------------------------------------------------------
rm -rf "$work/sb"
start_sandbox "$work/unpacedsandbox" -dir "$work/sb" -engine postgres
start_clients
for t in "down 1" "up 1" "down 16"; do
	set -- $t
	R[ut$1$2]=$(xfer rdsgate "$tpid" "127.0.0.1:$tport" "$1" "$2" "$unpaced_mib")
	R[ua$1$2]=$(xfer plugin "$apid" "127.0.0.1:$aport" "$1" "$2" "$unpaced_mib")
	R[ud$1$2]=$(xfer direct 0 "$server" "$1" "$2" "$unpaced_mib")
done
read -r utp50 utp90 < <(pingp "127.0.0.1:$tport" "rdsgate unpaced")
read -r uap50 uap90 < <(pingp "127.0.0.1:$aport" "plugin unpaced")
stop_clients

echo "### Session Manager, paced agent (${paced_mib} MiB per transfer, median of $reps)"
echo
echo "Load average (1, 5, 15 min) before the run: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| transfer | conns | rdsgate tunnel MB/s | plugin MB/s | rdsgate / plugin | rdsgate CPU ms/MiB | plugin CPU ms/MiB | CPU rdsgate / plugin | goal: CPU ≤ 0.5 at throughput ≥ 1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in "down 1" "down 16" "up 1" "up 16"; do
	set -- $t
	read -r tm tc <<<"${R[t$1$2]}"; read -r am ac <<<"${R[a$1$2]}"
	met=$(awk -v tm="$tm" -v am="$am" -v tc="$tc" -v ac="$ac" 'BEGIN { print (ac > 0 && tc / ac <= 0.5 && tm >= am) ? "met" : "missed" }')
	echo "| $1 | $2 | $tm | $am | $(ratio "$tm" "$am") | $tc | $ac | $(ratio "$tc" "$ac") | $met |"
done
echo
echo "### Round trip of 64-byte messages (300 ping-pongs, one connection)"
echo
echo "| path | p50 µs | p90 µs | added p50 vs direct, µs |"
echo "|---|---|---|---|"
echo "| direct loopback TCP | $dp50 | $dp90 | — |"
echo "| rdsgate tunnel, paced agent | $tp50 | $tp90 | $((tp50 - dp50)) |"
echo "| AWS plugin, paced agent | $ap50 | $ap90 | $((ap50 - dp50)) |"
echo "| rdsgate tunnel, unpaced agent | $utp50 | $utp90 | $((utp50 - dp50)) |"
echo "| AWS plugin, unpaced agent | $uap50 | $uap90 | $((uap50 - dp50)) |"
echo
echo "### Round trip of one 64-byte message every $gap (3 × 200 round trips, clients alternating, one connection, paced agent; medians)"
echo
echo "| path | p50 µs | p90 µs | added p50 vs direct, µs | added rdsgate / plugin |"
echo "|---|---|---|---|---|"
echo "| direct loopback TCP | $sdp50 | $sdp90 | — | |"
echo "| rdsgate tunnel | $stp50 | $stp90 | $((stp50 - sdp50)) | $(ratio $((stp50 - sdp50)) $((sap50 - sdp50))) |"
echo "| AWS plugin | $sap50 | $sap90 | $((sap50 - sdp50)) | |"
echo
echo "### Unpaced agent: the clients' ceiling vs direct loopback TCP (${unpaced_mib} MiB per transfer)"
echo
echo "| transfer | conns | direct TCP MB/s | rdsgate tunnel MB/s | plugin MB/s | rdsgate / direct | rdsgate / plugin | rdsgate CPU ms/MiB | plugin CPU ms/MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in "down 1" "up 1" "down 16"; do
	set -- $t
	read -r dm _ <<<"${R[ud$1$2]}"; read -r tm tc <<<"${R[ut$1$2]}"; read -r am ac <<<"${R[ua$1$2]}"
	echo "| $1 | $2 | $dm | $tm | $am | $(ratio "$tm" "$dm") | $(ratio "$tm" "$am") | $tc | $ac |"
done
