#!/usr/bin/env bash
# proxy-pgbench.sh — rdsgate proxy vs. a bare TCP relay vs. a direct TLS
# connection, all to the same sandbox PostgreSQL front, measured in one run
# with pgbench (SELECT 1). Prints a Markdown table of TPS and ratios. The
# proxy takes the direct route to the front (--via direct --address), as the
# relay does; the sandbox's rdsgate.yaml would otherwise send it over the
# Session Manager route. --logins-per-second 0: the login limiter (default
# 100/s) would otherwise cap the -C rows.
#
#   bench/proxy-pgbench.sh [SECONDS]      default 10 s per run
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v pgbench >/dev/null || PATH=$PATH:/usr/lib/postgresql/15/bin
go build -o "$work/rdsgate" ./cmd/rdsgate
go build -o "$work/tcprelay" ./bench/tcprelay

"$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q >"$work/sandbox.log" 2>&1 & pids+=($!)
for _ in $(seq 300); do [ -f "$work/sb/ready" ] && break; sleep 0.1; done
[ -f "$work/sb/ready" ] || { cat "$work/sandbox.log"; exit 1; }
. "$work/sb/env"
front=$(python3 -c "import json,sys; print(json.load(open('$work/sb/sandbox.json'))['instances'][0]['front_address'])")
endpoint=$(python3 -c "import json,sys; print(json.load(open('$work/sb/sandbox.json'))['instances'][0]['endpoint'])")
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
relay=$(free); pport=$(free)
"$work/tcprelay" -listen "127.0.0.1:$relay" -to "$front" 2>/dev/null & pids+=($!)
"$work/rdsgate" proxy "demo-pg=$pport" --via direct --address "$front" --logins-per-second 0 -q >/dev/null 2>&1 & pids+=($!)
sleep 1
echo 'SELECT 1;' >"$work/select1.sql"
export PGPASSWORD
PGPASSWORD=$("$work/rdsgate" token --target demo-pg)
tls() { echo "host=$endpoint hostaddr=127.0.0.1 port=$1 user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem"; }
tps() { # conninfo clients [extra]
  pgbench -n -f "$work/select1.sql" -T "$secs" -c "$2" -j "$2" $3 "$1" 2>/dev/null | awk '/^tps/ {print int($3); exit}'
}
printf '| workload | clients | direct TLS | bare relay + TLS | rdsgate proxy | proxy / relay | proxy / direct |\n|---|---|---|---|---|---|---|\n'
for c in 1 4; do
  for mode in "" "-C"; do
    d=$(tps "$(tls "${front##*:}")" $c "$mode")
    r=$(tps "$(tls "$relay")" $c "$mode")
    p=$(PGPASSWORD= tps "host=127.0.0.1 port=$pport user=app_user dbname=demo sslmode=disable" $c "$mode")
    name="SELECT 1"; [ "$mode" = "-C" ] && name="SELECT 1, new connection each (-C)"
    printf '| %s | %d | %s | %s | %s | %.2f | %.2f |\n' "$name" $c "$d" "$r" "$p" "$(echo "$p/$r" | bc -l)" "$(echo "$p/$d" | bc -l)"
  done
done
