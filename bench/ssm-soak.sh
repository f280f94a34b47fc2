#!/usr/bin/env bash
# ssm-soak.sh — fresh logins through `rdsgate proxy` on the Session Manager
# route (the sandbox's paced agent), PostgreSQL and MySQL, with bulk
# transfers on the same sessions and two CPU burners running, to catch rare
# stalls (issue 15 §4: a login whose reply never came within the front's
# 10 s handshake limit):
#
#   bench/ssm-soak.sh [LOGINS [WORKERS [BULK [MINUTES]]]]   defaults 10000 8 1 60
#
# LOGINS fresh logins in all (half per engine; every 10th by psql or
# mariadb, the rest by pgx and go-sql-driver), by WORKERS parallel workers,
# while BULK workers per engine read 2 MB results (COPY, SELECT) over and
# over. Each login is bounded (30 s: a hung one counts as failed), the run
# by MINUTES, the burners too. Fails unless every login and transfer
# succeeds and no login takes over 5 s. RDSGATE_BIN runs a given binary
# instead of building one (to compare commits); SOAK_LOGS=DIR keeps the
# proxy's and the sandbox's logs there.
. "$(dirname "$0")/lib.sh"
logins=${1:-10000} workers=${2:-8} bulk=${3:-1} minutes=${4:-60}

if [ -n "${RDSGATE_BIN:-}" ]; then
	cp "$RDSGATE_BIN" "$work/rdsgate"
else
	build_rdsgate
fi
go build -o "$work/ssmsoak" ./bench/ssmsoak
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb"

pgport=$(freeport) myport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$pgport" "demo-mysql=$myport" --logins-per-second 0 >"$work/proxy.log" 2>&1 & pids+=($!)
wait_port "$pgport"; wait_port "$myport"
grep -q 'via ssm' "$work/proxy.log" || { cat "$work/proxy.log" >&2; echo "the proxy does not use the ssm route" >&2; exit 1; }

for _ in 1 2; do
	timeout "${minutes}m" sh -c 'while :; do :; done' & pids+=($!)
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
set +e
"$work/ssmsoak" -pg "127.0.0.1:$pgport" -mysql "127.0.0.1:$myport" -logins "$logins" -workers "$workers" \
	-bulk "$bulk" -deadline "${minutes}m" >"$work/soak.out"
rc=$?
set -e
load1=$(cut -d' ' -f1-3 /proc/loadavg)

[ -z "${SOAK_LOGS:-}" ] || { mkdir -p "$SOAK_LOGS" && cp "$work/proxy.log" "$work/sandbox.log" "$SOAK_LOGS/"; }
what="commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- tunnel internal/rawsock || echo '+changes')"
[ -z "${RDSGATE_BIN:-}" ] || what="binary $RDSGATE_BIN"
echo "### Session Manager login soak ($(date -u +%Y-%m-%d), $what)"
echo
echo "\`bench/ssm-soak.sh $logins $workers $bulk $minutes\`: $(nproc) CPUs, two CPU burners, load average (1, 5, 15 min) $load0 before, $load1 after, $(($(date +%s) - t0)) s."
echo
echo '```'
cat "$work/soak.out"
echo '```'
if [ "$rc" != 0 ]; then
	log "soak failed; proxy log:"
	tail -50 "$work/proxy.log" >&2
fi
exit "$rc"
