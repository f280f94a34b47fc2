#!/usr/bin/env bash
# ssm-bulk.sh — bulk work through Session Manager (issue 21), all in one run
# against the sandbox's paced agent (about 1 KiB per ms per session per
# direction, like AWS's) and its PostgreSQL front:
#
#   1. `pg_dump -j 4 -Fd` of a generated database (8 equal tables of
#      random-ish text, so the 4 workers get balanced work; loaded inside
#      the server through the front as the master user) through
#        a. `rdsgate proxy` on the ssm route, --ssm-sessions 4 (the default),
#        b. the same proxy with --ssm-sessions 1,
#        c. AWS's session-manager-plugin (`aws ssm start-session`,
#           AWS-StartPortForwardingSessionToRemoteHost to the front), pg_dump
#           speaking TLS verify-full and a fresh IAM token itself,
#      and, as pg_dump's own ceiling here, directly to the front (no Session
#      Manager). Time to dump and throughput (pg_database_size / seconds);
#      targets: a ≥ 3 × b and a ≥ 3 × c. The proxy's dump is then restored
#      (pg_restore -j 4, master user, directly) into a fresh database and
#      every table's row count and md5 compared with the source; every other
#      dump's table data must be byte-identical to the proxy's. Any
#      difference exits 1.
#   2. 8 parallel transfers (bench/netload down, 8 connections) through
#      `rdsgate tunnel --via ssm --ssm-sessions N` to a loopback byte server,
#      for each N in SESSIONS: aggregate throughput, and N=4 vs N=1 (target
#      ≥ 3×), on a fresh tunnel ("cold": its pool grows while the
#      connections arrive) and, for N > 1, again on a pool grown first to N
#      sessions ("warm": N connections opened one by one, then closed).
#
#   bench/ssm-bulk.sh [DB_MB [XFER_MIB [REPS [SESSIONS]]]]   defaults 104 16 1 "1 4 8"
#
# DB_MB is the generated tables' heap size in all (8 tables of DB_MB/8 MB;
# pg_database_size adds indexes and catalogs); XFER_MIB the bytes of each of
# the 8 parallel transfers; REPS how many times each dump and each transfer
# runs (the table shows medians; the dump paths rotate which goes first);
# SESSIONS the tunnel's --ssm-sessions values. At the defaults one paced
# session moves ~0.8 MB/s, so the run takes about 12 minutes. Needs
# /usr/bin/aws (Debian awscli) and PostgreSQL 15's client tools (the
# sandbox's server is 15; pg_dump -j wants its own version).
. "$(dirname "$0")/lib.sh"
db_mb=${1:-104} xfer_mib=${2:-16} reps=${3:-1} sessions=${4:-1 4 8}
aws=${AWS_CLI:-/usr/bin/aws}
tables=8 jobs=4
PATH=/usr/lib/postgresql/15/bin:$PATH
case "$(pg_dump --version)" in *" 15."*) ;; *) echo "pg_dump is not PostgreSQL 15: $(pg_dump --version)" >&2; exit 1 ;; esac

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b-a}'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.2f", n/1e6/s}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
build_rdsgate
go build -o "$work/netload" ./bench/netload
mkdir -p "$work/bin"
tools/ssmplugin/build.sh "$work/bin/session-manager-plugin"
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q
[ -n "$front_pg" ] || { echo "the sandbox has no demo-pg" >&2; exit 1; }
fport=${front_pg##*:}

# --- the database, loaded directly as the master user -------------------
master=$(sbjson '[i["master_user"] for i in d["instances"] if i["identifier"]=="demo-pg"][0]')
secret=$(sbjson '[i["master_secret_arn"] for i in d["instances"] if i["identifier"]=="demo-pg"][0]')
PGPASSWORD=$(timeout 60 "$aws" secretsmanager get-secret-value --endpoint-url "$RDSGATE_SANDBOX_ENDPOINT" \
	--secret-id "$secret" --query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
export PGPASSWORD PGCONNECT_TIMEOUT=30
tls="host=$ep_pg hostaddr=127.0.0.1 port=$fport sslmode=verify-full sslrootcert=$work/sb/ca.pem"
msql() { timeout 10m psql -X -q -v ON_ERROR_STOP=1 -At "$tls user=$master dbname=$1" -c "$2"; }
src=bulk_src dst=bulk_restore
msql postgres "CREATE DATABASE $src"
msql postgres "CREATE DATABASE $dst"
# ~155 bytes a row on disk (id and three md5s with a varying tail): DB_MB/8 MB of heap per table.
rows=$((db_mb * 1000000 / tables / 155))
log "loading $tables tables of $rows rows into $src"
for i in $(seq "$tables"); do  # two at a time
	msql "$src" "CREATE TABLE t$i (id int PRIMARY KEY, a text NOT NULL, b text NOT NULL);
INSERT INTO t$i SELECT g, md5('$i:' || g) || md5('a' || g * $i), md5('b' || g) || repeat(chr(97 + g % 26), g % 40)
  FROM generate_series(1, $rows) g;
GRANT SELECT ON t$i TO app_user;" &
	pids+=($!)
	if [ $((i % 2)) = 0 ] || [ "$i" = "$tables" ]; then
		for j in $(seq $(((i - 1) % 2 + 1))); do wait "${pids[-j]}"; done
	fi
done
msql "$src" "VACUUM ANALYZE $(seq -s, -f "t%g" "$tables")"
db_bytes=$(msql "$src" "SELECT pg_database_size('$src')")
heap_bytes=$(msql "$src" "SELECT sum(pg_relation_size(oid)) FROM pg_class WHERE relname ~ '^t[0-9]+\$' AND relkind = 'r'")
log "database $src: $db_bytes bytes (heap of the tables $heap_bytes)"

# --- the paths ----------------------------------------------------------
p4=$(freeport) p1=$(freeport) aport=$(freeport)
"$work/rdsgate" proxy "demo-pg=$p4" --ssm-sessions 4 --logins-per-second 0 >"$work/proxy4.log" 2>&1 &
p4pid=$!; pids+=($p4pid)
"$work/rdsgate" proxy "demo-pg=$p1" --ssm-sessions 1 --logins-per-second 0 >"$work/proxy1.log" 2>&1 &
p1pid=$!; pids+=($p1pid)
PATH=$work/bin:$PATH "$aws" ssm start-session --endpoint-url "$RDSGATE_SANDBOX_ENDPOINT" --target "$bastion" \
	--document-name AWS-StartPortForwardingSessionToRemoteHost \
	--parameters "host=127.0.0.1,portNumber=$fport,localPortNumber=$aport" >"$work/aws.log" 2>&1 &
awspid=$!; pids+=($awspid)
wait_port "$p4"; wait_port "$p1"
wait_port "$aport" || { cat "$work/aws.log" >&2; exit 1; }
apid=$(pgrep -P "$awspid" -f session-manager-plugin | head -1)
[ -n "$apid" ] || { echo "no plugin process under aws ($awspid)" >&2; exit 1; }
pids=("$apid" "${pids[@]}")
for n in 4 1; do
	grep -q 'via ssm' "$work/proxy$n.log" || { cat "$work/proxy$n.log" >&2; echo "the proxy does not use the ssm route" >&2; exit 1; }
	log "proxy --ssm-sessions $n: $(grep -m1 'via ssm' "$work/proxy$n.log")"
done

# dump NAME REP: pg_dump -j 4 -Fd of $src through path NAME into
# $work/dump-NAME-REP; prints its seconds.
dump() {
	local conn pw="" t0 t1
	case $1 in
	proxy4) conn="host=127.0.0.1 port=$p4 sslmode=disable" ;;
	proxy1) conn="host=127.0.0.1 port=$p1 sslmode=disable" ;;
	plugin) conn="host=$ep_pg hostaddr=127.0.0.1 port=$aport sslmode=verify-full sslrootcert=$work/sb/ca.pem" ;;
	direct) conn=$tls ;;
	esac
	case $1 in plugin | direct) pw=$("$work/rdsgate" token --target demo-pg) ;; esac
	t0=$(now)
	PGPASSWORD=$pw timeout 30m pg_dump -j "$jobs" -Fd -f "$work/dump-$1-$2" "$conn user=app_user dbname=$src" 2>"$work/pg_dump.err" ||
		{ cat "$work/pg_dump.err" >&2; echo "pg_dump through $1 failed" >&2; exit 1; }
	t1=$(now)
	log "rep $2: pg_dump -j $jobs through $1: $(secs "$t0" "$t1") s, $(mbps "$db_bytes" "$(secs "$t0" "$t1")") MB/s"
	secs "$t0" "$t1"
}
declare -A D
paths=(proxy4 proxy1 plugin)
for r in $(seq "$reps"); do
	k=$(((r - 1) % 3))
	for p in "${paths[@]:k}" "${paths[@]:0:k}"; do
		D[$p]+="$(dump "$p" "$r") "
	done
	D[direct]+="$(dump direct "$r") "
done
load_dump=$(cut -d' ' -f1-3 /proc/loadavg)
# Done with the proxies and the plugin: their idle sessions' keepalives
# should not share the CPU with what follows.
kill "$p4pid" "$p1pid" "$apid" "$awspid" 2>/dev/null || true
wait "$p4pid" "$p1pid" "$awspid" 2>/dev/null || true

# --- the restore check --------------------------------------------------
t0=$(now)
timeout 30m pg_restore -j "$jobs" --no-owner --no-acl -d "$tls user=$master dbname=$dst" "$work/dump-proxy4-1" 2>"$work/pg_restore.err" ||
	{ cat "$work/pg_restore.err" >&2; echo "pg_restore failed" >&2; exit 1; }
restore_s=$(secs "$t0" "$(now)")
bad=0 total_rows=0
for i in $(seq "$tables"); do
	q="SELECT count(*) || ' ' || md5(string_agg(t::text, '' ORDER BY id)) FROM t$i t"
	a=$(msql "$src" "$q") b=$(msql "$dst" "$q")
	total_rows=$((total_rows + ${a%% *}))
	if [ "$a" != "$b" ]; then
		log "t$i differs: source $a, restored $b"; bad=1
	fi
done
[ $bad = 0 ] && restored="all $tables tables match ($total_rows rows; count and md5 of every row in id order)" ||
	restored="MISMATCH (see the log above)"
log "restore (${restore_s} s): $restored"
# Every other dump's table data (decompressed) against the proxy's.
sums() { (cd "$1" && for f in [0-9]*.dat*; do printf '%s %s\n' "$f" "$(gzip -dcf "$f" | md5sum | cut -d' ' -f1)"; done); }
sums "$work/dump-proxy4-1" >"$work/sums.ref"
copy_bytes=$(cd "$work/dump-proxy4-1" && cat ./[0-9]*.dat* | gzip -dcf | wc -c)
same=0 differ=()
for d in "$work"/dump-*; do
	[ "$d" = "$work/dump-proxy4-1" ] && continue
	if sums "$d" | cmp -s - "$work/sums.ref"; then same=$((same + 1)); else differ+=("${d##*/dump-}"); bad=1; fi
done
[ ${#differ[@]} = 0 ] && others="the other $same dumps' table data are byte-identical to it" ||
	others="table data DIFFER from it in: ${differ[*]}"
log "dumps: $others"

# --- parallel transfers through rdsgate tunnel ---------------------------
sport=$(freeport)
"$work/netload" serve -listen "127.0.0.1:$sport" >/dev/null & pids+=($!)
wait_port "$sport"
# Each rep starts a fresh tunnel, so its first transfer ("cold") meets a
# pool that has only the route's first session and grows while the 8
# connections arrive, as a script run just after `rdsgate tunnel` does.
# With N > 1 a second transfer ("warm") follows on a pool grown first:
# grow opens N connections one after another, each held and confirmed by
# an echo through the tunnel before the next, so each new one finds every
# open session busy and starts the next session; then it closes them (the
# sessions stay up for a minute without a connection).
grow() {
	local i fds=() fd c
	for i in $(seq "$1"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$2"
		fds+=("$fd")
		printf 'echo 1\nx' >&"$fd"
		read -r -t 30 -N 1 c <&"$fd" && [ "$c" = x ] || { echo "grow: no echo through the tunnel" >&2; exit 1; }
	done
	log "grown: $(timeout 60 "$aws" ssm describe-sessions --endpoint-url "$RDSGATE_SANDBOX_ENDPOINT" --state Active \
		--query 'length(Sessions)' --output text 2>/dev/null || echo '?') Active sessions (DescribeSessions)"
	for fd in "${fds[@]}"; do exec {fd}>&-; done
}
declare -A X W
for n in $sessions; do
	for r in $(seq "$reps"); do
		tport=$(freeport)
		"$work/rdsgate" tunnel --remote "127.0.0.1:$sport" --via ssm --bastion "$bastion" --port "$tport" --ssm-sessions "$n" -q >"$work/tunnel$n.log" 2>&1 &
		tpid=$!; pids+=($tpid)
		wait_port "$tport" || { cat "$work/tunnel$n.log" >&2; exit 1; }
		for w in cold warm; do
			[ "$w" = warm ] && [ "$n" = 1 ] && continue
			[ "$w" = cold ] || grow "$n" "$tport"
			out=$("$work/netload" down -addr "127.0.0.1:$tport" -conns 8 -bytes $((8 * xfer_mib << 20)) -timeout 15m)
			log "tunnel --ssm-sessions $n, rep $r, $w: $out"
			if [ "$w" = cold ]; then X[$n]+="$(kv mbps "$out") "; else W[$n]+="$(kv mbps "$out") "; fi
		done
		kill "$tpid"; wait "$tpid" 2>/dev/null || true
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------
declare -A S M
for p in proxy4 proxy1 plugin direct; do S[$p]=$(median ${D[$p]}); M[$p]=$(mbps "$db_bytes" "${S[$p]}"); done
verdict() { awk -v r="$1" 'BEGIN { print (r >= 3) ? "met" : "missed" }'; }
rb=$(ratio "${M[proxy4]}" "${M[proxy1]}") rc=$(ratio "${M[proxy4]}" "${M[plugin]}")
echo "### Bulk work through Session Manager: pg_dump -j 4 and parallel tunnel transfers (issue 21, $(date -u +%Y-%m-%d))"
echo
echo "\`bench/ssm-bulk.sh $db_mb $xfer_mib $reps \"$sessions\"\` at commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ':!docs' ':!bench/ssm-bulk.sh' || echo ' (with uncommitted changes)'), $(nproc) CPUs, $(($(date +%s) - t_start)) s in all;"
echo "load average (1, 5, 15 min) $load0 before, $load_dump after the dumps, $load1 after the transfers."
echo
echo "Database \`$src\`: $tables tables, $total_rows rows, pg_database_size $(mbps "$db_bytes" 1) MB (table heap $(mbps "$heap_bytes" 1) MB;"
echo "the dump's table data, uncompressed, i.e. the COPY text that crossed the path: $(mbps "$copy_bytes" 1) MB). MB/s = pg_database_size / seconds"
echo "(10^6 bytes), as the issue defines it; COPY MB/s = that table data / seconds. Median of $reps."
echo
echo "| path | pg_dump -j $jobs -Fd, s | MB/s | COPY MB/s | × proxy, 1 session |"
echo "|---|---|---|---|---|"
row() { echo "| $1 | ${S[$2]} | ${M[$2]} | $(mbps "$copy_bytes" "${S[$2]}") | $3 |"; }
row "a. \`rdsgate proxy\`, --ssm-sessions 4 (default)" proxy4 "**$rb**"
row "b. \`rdsgate proxy\`, --ssm-sessions 1" proxy1 1.00
row "c. AWS's plugin (\`aws ssm start-session\`), pg_dump with TLS and a token" plugin "$(ratio "${M[plugin]}" "${M[proxy1]}")"
row "direct to the front, no Session Manager (pg_dump's ceiling here)" direct "$(ratio "${M[direct]}" "${M[proxy1]}")"
echo
echo "a / b = $rb (target ≥ 3: $(verdict "$rb")); a / c = $rc (target ≥ 3: $(verdict "$rc"))."
echo
echo "Restore: \`pg_restore -j $jobs\` of dump a into a fresh database ($restore_s s, direct): $restored; $others."
echo
echo "| \`rdsgate tunnel --ssm-sessions N\`, 8 × $xfer_mib MiB down in parallel | cold: aggregate MB/s | × one session | warm: aggregate MB/s | × one session |"
echo "|---|---|---|---|---|"
one=$(median ${X[1]:-0})
for n in $sessions; do
	m=$(median ${X[$n]}) w="—" wr="—"
	[ -z "${W[$n]:-}" ] || { w=$(median ${W[$n]}); wr=$(ratio "$w" "$one"); }
	echo "| $n | $m | $(ratio "$m" "$one") | $w | $wr |"
done
[ -z "${X[1]:-}" ] || [ -z "${X[4]:-}" ] || {
	r4=$(ratio "$(median ${X[4]})" "$one") w4=$(ratio "$(median ${W[4]})" "$one")
	echo
	echo "4 sessions / 1, cold = $r4 (target ≥ 3: $(verdict "$r4")); warm = $w4 ($(verdict "$w4"))."
}
exit "$bad"
