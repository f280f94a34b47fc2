#!/usr/bin/env bash
# ssh-vs-openssh.sh — the SSH bastion route of `rdsgate tunnel --via ssh`
# vs OpenSSH's own `ssh -N -L`, both through the same throwaway sshd (a temp
# config like internal/testharness's, on a free loopback port, run as the
# current user — root here) to the same byte server (bench/netload), in one
# run: throughput down (server → client) and up over 1 and 16 connections,
# CPU per MiB of each client process, and the round-trip time of 64-byte
# ping-pong messages, back to back and one every 20 ms (an idle tunnel),
# with direct loopback TCP as the reference.
#
#   bench/ssh-vs-openssh.sh [MIB]     bytes per transfer, default 256
#
# The round trips are also measured as thread context switches and CPU time
# of each client process per round trip, which a busy machine disturbs far
# less than wall-clock latency. TUNNEL_GOMAXPROCS=N runs only the rdsgate
# tunnel with GOMAXPROCS=N (e.g. 1, to see the Go scheduler's share).
. "$(dirname "$0")/lib.sh"
mib=${1:-256}

build_rdsgate
go build -o "$work/netload" ./bench/netload
sport=$(freeport)
"$work/netload" serve -listen "127.0.0.1:$sport" >/dev/null & pids+=($!)
wait_port "$sport"
server=127.0.0.1:$sport

# A throwaway sshd.
d=$work/sshd
mkdir -p "$d" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$d/host_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$d/client_key"
cp "$d/client_key.pub" "$d/authorized_keys"
chmod 600 "$d/authorized_keys"
shport=$(freeport)
cat >"$d/sshd_config" <<CONF
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
UseDNS no
MaxSessions 100
LogLevel DEBUG1
CONF
/usr/sbin/sshd -t -f "$d/sshd_config"
/usr/sbin/sshd -D -e -f "$d/sshd_config" -p "$shport" 2>"$d/sshd.log" & pids+=($!)
wait_port "$shport"
echo "[127.0.0.1]:$shport $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
me=$(id -un)

tport=$(freeport) oport=$(freeport)
tenv=()
[ -z "${TUNNEL_GOMAXPROCS:-}" ] || tenv=(GOMAXPROCS="$TUNNEL_GOMAXPROCS")
env "${tenv[@]}" "$work/rdsgate" tunnel --remote "$server" --via ssh --ssh "$me@127.0.0.1:$shport" --ssh-identity "$d/client_key" \
	--ssh-known-hosts "$d/known_hosts" --port "$tport" -q >"$work/tunnel.log" 2>&1 &
tpid=$!; pids=("$tpid" "${pids[@]}")
ssh -N -L "127.0.0.1:$oport:$server" -p "$shport" -i "$d/client_key" -o IdentitiesOnly=yes -o BatchMode=yes \
	-o UserKnownHostsFile="$d/known_hosts" -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes \
	-F /dev/null "$me@127.0.0.1" 2>"$work/ssh.log" &
opid=$!; pids=("$opid" "${pids[@]}")
wait_port "$tport" || { cat "$work/tunnel.log" >&2; exit 1; }
wait_port "$oport" || { cat "$work/ssh.log" >&2; exit 1; }

xfer() { # NAME PID ADDR MODE CONNS -> "mbps cpu_ms_per_mib"
	local c0=0 c1=0 out cpu=0
	[ "$2" = 0 ] || c0=$(cpu_ticks "$2")
	out=$("$work/netload" "$4" -addr "$3" -conns "$5" -bytes $((mib << 20)) -timeout 5m)
	[ "$2" = 0 ] || { c1=$(cpu_ticks "$2"); cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" -v m="$mib" 'BEGIN {printf "%.2f", (b-a)/t*1000/m}'); }
	log "$1 $4 x$5: $out cpu_ms_per_mib=$cpu"
	echo "$(kv mbps "$out") $cpu"
}
# ctx_switches PID: voluntary + involuntary context switches of all its threads.
ctx_switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
npings=2000
pingp() { # ADDR NAME PID [GAP [COUNT]] -> "p50 p90 ctx_per_rt cpu_us_per_rt"
	local out c0=0 c1=0 u0=0 u1=0 n=${5:-$npings}
	[ "$3" = 0 ] || { c0=$(ctx_switches "$3"); u0=$(cpu_ticks "$3"); }
	out=$("$work/netload" ping -addr "$1" -count "$n" -gap "${4:-0}")
	[ "$3" = 0 ] || { c1=$(ctx_switches "$3"); u1=$(cpu_ticks "$3"); }
	log "$2 ping${4:+ every $4}: $out"
	echo "$(kv p50_us "$out") $(kv p90_us "$out") $(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.1f", (b-a)/n}') $(awk -v a="$u0" -v b="$u1" -v t="$clk_tck" -v n="$n" 'BEGIN {printf "%.0f", (b-a)/t*1e6/n}')"
}

read -r dp50 dp90 _ _ < <(pingp "$server" direct 0)
read -r tp50 tp90 tctx tcpu < <(pingp "127.0.0.1:$tport" rdsgate "$tpid")
read -r op50 op90 octx ocpu < <(pingp "127.0.0.1:$oport" openssh "$opid")
# An idle tunnel, as an interactive query meets it: one message every
# $gap, three rounds of 200 with the paths alternating; medians of rounds.
gap=20ms
idle_d=() idle_t=() idle_o=()
for round in 1 2 3; do
	read -r a _ _ _ < <(pingp "$server" direct 0 $gap 200); idle_d+=("$a")
	read -r a _ _ _ < <(pingp "127.0.0.1:$tport" rdsgate "$tpid" $gap 200); idle_t+=("$a")
	read -r a _ _ _ < <(pingp "127.0.0.1:$oport" openssh "$opid" $gap 200); idle_o+=("$a")
done
declare -A R
for t in "down 1" "down 16" "up 1" "up 16"; do
	set -- $t
	R[d$1$2]=$(xfer direct 0 "$server" "$1" "$2")
	R[t$1$2]=$(xfer rdsgate "$tpid" "127.0.0.1:$tport" "$1" "$2")
	R[o$1$2]=$(xfer openssh "$opid" "127.0.0.1:$oport" "$1" "$2")
done
ciphers=$(grep -o 'kex: client->server cipher: [^ ]*' "$d/sshd.log" | awk '{print $4}' | sort | uniq -c | awk '{printf "%s%s ×%s", (NR>1?", ":""), $2, $1}')

echo "### SSH route vs OpenSSH \`ssh -N -L\`, same sshd (${mib} MiB per transfer)"
echo
echo "sshd saw ciphers: $ciphers (one per SSH connection: rdsgate's and ssh's)."
echo
echo "| transfer | conns | direct TCP MB/s | rdsgate tunnel --via ssh MB/s | ssh -N -L MB/s | rdsgate / ssh | rdsgate CPU ms/MiB | ssh CPU ms/MiB | CPU rdsgate / ssh |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in "down 1" "down 16" "up 1" "up 16"; do
	set -- $t
	read -r dm _ <<<"${R[d$1$2]}"; read -r tm tc <<<"${R[t$1$2]}"; read -r om oc <<<"${R[o$1$2]}"
	echo "| $1 | $2 | $dm | $tm | $om | $(ratio "$tm" "$om") | $tc | $oc | $(ratio "$tc" "$oc") |"
done
echo
echo "### Round trip of 64-byte messages ($npings ping-pongs, one connection${TUNNEL_GOMAXPROCS:+; rdsgate with GOMAXPROCS=$TUNNEL_GOMAXPROCS})"
echo
echo "| path | p50 µs | p90 µs | added p50 vs direct, µs | client context switches per round trip | client CPU µs per round trip |"
echo "|---|---|---|---|---|---|"
echo "| direct loopback TCP | $dp50 | $dp90 | — | — | — |"
echo "| rdsgate tunnel --via ssh | $tp50 | $tp90 | $((tp50 - dp50)) | $tctx | $tcpu |"
echo "| ssh -N -L | $op50 | $op90 | $((op50 - dp50)) | $octx | $ocpu |"
echo
echo "### Round trip of one 64-byte message every $gap (3 × 200 round trips, paths alternating; medians of the rounds)"
echo
echo "| path | p50 µs per round | median p50 µs | added vs direct, µs | added / ssh's |"
echo "|---|---|---|---|---|"
id=$(median "${idle_d[@]}") it=$(median "${idle_t[@]}") io=$(median "${idle_o[@]}")
echo "| direct loopback TCP | ${idle_d[*]} | $id | — | — |"
echo "| rdsgate tunnel --via ssh | ${idle_t[*]} | $it | $((it - id)) | $(ratio $((it - id)) $((io - id))) |"
echo "| ssh -N -L | ${idle_o[*]} | $io | $((io - id)) | — |"
