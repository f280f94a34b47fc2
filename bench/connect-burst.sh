#!/usr/bin/env bash
# connect-burst.sh — what clients that connect and leave cost a real login
# through `rdsgate proxy` (issue 15, section 2): 1,000 connect+close clients
# (50 at a time) while a real login is timed, one after another, for as long
# as the burst lasts; and the most database connections open at once
# meanwhile (PostgreSQL: client backends in pg_stat_activity; MariaDB:
# Threads_connected), sampled every 20 ms by a session opened before.
#
# Bursts: "tcp" connects and closes without a byte (a port scanner, a TCP
# health check); "startup" (PostgreSQL) sends a StartupMessage and closes
# (a client killed, a probe that hangs up at once). Logins: psql (demo-pg)
# and mariadb (demo-mysql) running "select 1" through the proxy, which
# takes the direct route to the sandbox fronts with the default login
# limit (--logins-per-second 100).
#
#   bench/connect-burst.sh [CLIENTS [IDLE_LOGINS]]     defaults 1000 10
#
# Target: logins during the burst under 2x their idle time, all succeed,
# and no more database connections than the timed login and the sampler.
# The "control" rows send the same burst to a bare listener instead of the
# proxy: the login's slow-down there is the machine's, not the proxy's.
. "$(dirname "$0")/lib.sh"
clients=${1:-1000} nidle=${2:-10}

build_rdsgate
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" -q
pgport=$(freeport) myport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$pgport" --via direct --address "$front_pg" -q >"$work/proxy-pg.log" 2>&1 & pids+=($!)
"$work/rdsgate" proxy "demo-mysql=$myport" --via direct --address "$front_my" -q >"$work/proxy-my.log" 2>&1 & pids+=($!)
wait_port "$pgport"; wait_port "$myport"

cat >"$work/burst.py" <<'PY'
import socket, struct, sys, threading
kind, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = b"user\0app_user\0database\0demo\0\0"
startup = struct.pack("!ii", 8 + len(params), 196608) + params
left = list(range(n)); lock = threading.Lock(); errors = [0]
def worker():
    while True:
        with lock:
            if not left: return
            left.pop()
        try:
            s = socket.create_connection(("127.0.0.1", port))
            if kind == "startup": s.sendall(startup)
            s.close()
        except OSError:
            with lock: errors[0] += 1
ts = [threading.Thread(target=worker) for _ in range(50)]
for t in ts: t.start()
for t in ts: t.join()
print("burst errors", errors[0], file=sys.stderr)
PY

pglogin() { psql "host=127.0.0.1 port=$pgport user=app_user dbname=demo sslmode=disable connect_timeout=30" -Atc 'select 1' >/dev/null 2>>"$work/login.err"; }
mylogin() { mariadb -h 127.0.0.1 -P "$myport" -u app_user --skip-ssl --connect-timeout=30 demo -e 'select 1' >/dev/null 2>>"$work/login.err"; }
# timed FN -> ms, or "fail"
timed() { local a b; a=$(date +%s%N); if "$1"; then b=$(date +%s%N); echo $(((b - a) / 1000000)); else echo fail; fi; }

# sampler ENGINE: prints the most database connections open at once until
# $work/stop exists (its own session included).
sampler() {
	local q
	if [ "$1" = pg ]; then
		q="select count(*) from pg_stat_activity where backend_type = 'client backend';"
		while [ ! -e "$work/stop" ]; do echo "$q"; sleep 0.02; done |
			psql "host=127.0.0.1 port=$pgport user=app_user dbname=demo sslmode=disable" -At 2>/dev/null
	else
		q="show status like 'Threads_connected';"
		while [ ! -e "$work/stop" ]; do echo "$q"; sleep 0.02; done |
			mariadb -h 127.0.0.1 -P "$myport" -u app_user --skip-ssl -N demo 2>/dev/null | awk '{print $2}'
	fi | sort -n | tail -1
}

# The control: the same burst against a bare accept-and-close listener, not
# the proxy, while the login still goes through the proxy. What the login
# loses there is the machine (two CPUs shared with the burst generator and
# 1,000 accepts a second), not work the proxy does for vanished clients.
ctrlport=$(freeport)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
while True:
    c, _ = s.accept(); c.close()
' "$ctrlport" & pids+=($!)
wait_port "$ctrlport"

rows=()
for case in "pg control $ctrlport pglogin" "pg tcp $pgport pglogin" "pg startup $pgport pglogin" "mysql control $ctrlport mylogin" "mysql tcp $myport mylogin"; do
	read -r eng kind port fn <<<"$case"
	idle=()
	for _ in $(seq "$nidle"); do idle+=("$(timed "$fn")"); done
	rm -f "$work/stop"
	sampler "$eng" >"$work/peak" & sp=$!
	sleep 0.5
	bkind=$kind; [ "$kind" = control ] && bkind=tcp
	python3 "$work/burst.py" "$bkind" "$port" "$clients" 2>>"$work/burst.err" & bp=$!
	during=() a=$(date +%s%N)
	while kill -0 "$bp" 2>/dev/null; do during+=("$(timed "$fn")"); done
	wait "$bp"
	b=$(date +%s%N)
	touch "$work/stop"; wait "$sp"
	peak=$(cat "$work/peak")
	fails=$(printf '%s\n' "${idle[@]}" "${during[@]}" | grep -c fail || true)
	ok=$(printf '%s\n' "${during[@]}" | grep -v fail || true)
	[ -n "$ok" ] || ok=0
	# shellcheck disable=SC2046
	rows+=("| $eng | $kind | $(median "${idle[@]}") | $(median $ok) | $(printf '%s\n' $ok | sort -n | tail -1) | ${#during[@]} | $fails | $(((b - a) / 1000000)) | $peak |")
	log "$eng $kind: idle ${idle[*]} / during ${during[*]} / peak $peak"
done

echo "### $clients connect+close clients vs. a real login, rdsgate proxy (direct route, 100 logins/s)"
echo
echo "Load average (1, 5, 15 min) after the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
echo
echo "| engine | burst | login idle, median ms | during burst, median ms | during, max ms | logins during | failed logins | burst ms | most DB connections at once |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
[ -s "$work/login.err" ] && { echo; echo "Login errors:"; sort "$work/login.err" | uniq -c | head -5 | sed 's/^/    /'; }
exit 0
