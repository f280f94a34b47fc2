# lib.sh — helpers shared by the bench/*.sh scripts (sourced, not run).
# Every script builds what it needs into $work (a temp dir removed on exit)
# and stops only the processes it started (their ids are in $pids).

set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
command -v pgbench >/dev/null || PATH=$PATH:/usr/lib/postgresql/15/bin

log() { echo "# $*" >&2; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: wait up to 30 s for a listener on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# build_rdsgate: $work/rdsgate
build_rdsgate() { go build -o "$work/rdsgate" ./cmd/rdsgate; }

# start_sandbox CMD... : runs a sandbox writing into $work/sb, waits for
# ready, sources its env, sets $front_pg $front_my $ep_pg $ep_my $bastion.
start_sandbox() {
	"$@" >"$work/sandbox.log" 2>&1 &
	pids+=($!)
	local i
	for i in $(seq 600); do [ -f "$work/sb/ready" ] && break; sleep 0.1; done
	[ -f "$work/sb/ready" ] || { cat "$work/sandbox.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$work/sb/env"
	sbjson() { python3 -c "import json,sys; d=json.load(open('$work/sb/sandbox.json')); print(eval(sys.argv[1]))" "$1"; }
	bastion=$(sbjson 'd["bastion_id"]')
	front_pg=$(sbjson '([i["front_address"] for i in d["instances"] if i["identifier"]=="demo-pg"]+[""])[0]')
	ep_pg=$(sbjson '([i["endpoint"] for i in d["instances"] if i["identifier"]=="demo-pg"]+[""])[0]')
	front_my=$(sbjson '([i["front_address"] for i in d["instances"] if i["identifier"]=="demo-mysql"]+[""])[0]')
	ep_my=$(sbjson '([i["endpoint"] for i in d["instances"] if i["identifier"]=="demo-mysql"]+[""])[0]')
}

# start_toxiproxy: builds and starts toxiproxy-server; sets $toxi (API URL).
start_toxiproxy() {
	bench/toxiproxy/build.sh "$work/toxiproxy-server"
	local port
	port=$(freeport)
	"$work/toxiproxy-server" -host 127.0.0.1 -port "$port" >"$work/toxiproxy.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
	toxi=http://127.0.0.1:$port
}

# toxi_proxy NAME UPSTREAM DELAY_MS: a toxiproxy listener in front of
# UPSTREAM that delays every chunk going back to the client (downstream)
# by DELAY_MS, i.e. DELAY_MS of added round-trip time. Prints its address.
toxi_proxy() {
	local port
	port=$(freeport)
	curl -fsS -X POST "$toxi/proxies" -d "{\"name\":\"$1\",\"listen\":\"127.0.0.1:$port\",\"upstream\":\"$2\",\"enabled\":true}" >/dev/null
	if [ "$3" != 0 ]; then
		curl -fsS -X POST "$toxi/proxies/$1/toxics" -d "{\"name\":\"rtt\",\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":1.0,\"attributes\":{\"latency\":$3,\"jitter\":0}}" >/dev/null
	fi
	echo "127.0.0.1:$port"
}

# cpu_ticks PID: utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

# rss_kb PID: resident set size in KiB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# median N...: the median of numbers (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ratio A B: A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a/b }'; }

# kv KEY LINE: value of KEY=... in a key=value line.
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k {print $2}'; }

# pgbench_select1 SECS CONNINFO PASSWORD CLIENTS [-C] -> "tps conn_ms": pgbench
# running SELECT 1 for SECS seconds (conn_ms, pgbench's "average connection
# time", is 0 without -C); on failure its stderr and exit 1.
pgbench_select1() {
	[ -f "$work/select1.sql" ] || echo 'SELECT 1;' >"$work/select1.sql"
	PGPASSWORD=$3 pgbench -n -f "$work/select1.sql" -T "$1" -c "$4" -j "$4" ${5:-} "$2" 2>"$work/pgbench.err" |
		awk '/^tps/ {t=$3} /^average connection time/ {c=$5} END {if (t == "") exit 1; printf "%s %s\n", t, (c == "" ? 0 : c)}' ||
		{ cat "$work/pgbench.err" >&2; exit 1; }
}
