#!/usr/bin/env bash
# connect-first-query.sh — time from command to first query result against
# the sandbox's demo-pg, through Session Manager (paced agent), in one run:
#
#   rdsgate:  rdsgate connect demo-pg --exec "select 1"
#   manual:   the path AWS documents without rdsgate, as fast as a script can:
#             /usr/bin/aws rds generate-db-auth-token (token) while
#             `aws ssm start-session ... AWS-StartPortForwardingSessionToRemoteHost`
#             with AWS's session-manager-plugin opens the tunnel (both
#             started at once), then as soon as the plugin prints "Waiting
#             for connections", psql "host=ENDPOINT hostaddr=127.0.0.1
#             port=LOCAL sslmode=verify-full" -c "select 1"; then the
#             tunnel is stopped.
#
#   bench/connect-first-query.sh [RUNS]     default 10 (after 1 warm-up)
#
# Uses hyperfine if installed (apt-get install hyperfine), else bash timing.
. "$(dirname "$0")/lib.sh"
runs=${1:-10}
aws=${AWS_CLI:-/usr/bin/aws}

build_rdsgate
mkdir -p "$work/bin"
tools/ssmplugin/build.sh "$work/bin/session-manager-plugin"
start_sandbox "$work/rdsgate" sandbox --dir "$work/sb" --engine postgres -q

cat >"$work/manual.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
port=\$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=\$(mktemp)
PATH=$work/bin:\$PATH "$aws" ssm start-session --endpoint-url "\$RDSGATE_SANDBOX_ENDPOINT" --target $bastion \\
	--document-name AWS-StartPortForwardingSessionToRemoteHost \\
	--parameters "host=$ep_pg,portNumber=5432,localPortNumber=\$port" >"\$out" 2>&1 &
awspid=\$!
token=\$("$aws" rds generate-db-auth-token --hostname $ep_pg --port 5432 --username app_user --region us-east-1)
for _ in \$(seq 3000); do grep -q 'Waiting for connections' "\$out" && break; sleep 0.01; done
PGPASSWORD=\$token psql "host=$ep_pg hostaddr=127.0.0.1 port=\$port user=app_user dbname=demo sslmode=verify-full sslrootcert=$work/sb/ca.pem" -Atc 'select 1'
plugin=\$(pgrep -P \$awspid -f session-manager-plugin || true)
kill \$plugin \$awspid 2>/dev/null || true
wait \$awspid 2>/dev/null || true
rm -f "\$out"
SH
chmod +x "$work/manual.sh"
rd="$work/rdsgate connect demo-pg --exec 'select 1'"
# Both must print the result.
[ "$(eval "$rd" | tail -1)" = 1 ] || { echo "rdsgate connect did not print 1: $(eval "$rd" 2>&1)" >&2; exit 1; }
[ "$("$work/manual.sh")" = 1 ] || { echo "manual path did not print 1" >&2; exit 1; }

echo "### Command to first query result, demo-pg through Session Manager (paced agent)"
echo
if command -v hyperfine >/dev/null; then
	hyperfine -N --warmup 1 --runs "$runs" --export-markdown "$work/hf.md" \
		-n 'rdsgate connect --exec' "$rd" -n 'manual: aws token + aws ssm start-session (plugin) + psql' "$work/manual.sh" >&2
	sed 's/`//g' "$work/hf.md"
else
	t() { local a b; a=$(date +%s%N); eval "$1" >/dev/null; b=$(date +%s%N); echo $(((b - a) / 1000000)); }
	t "$rd" >/dev/null; t "$work/manual.sh" >/dev/null
	r=() m=()
	for _ in $(seq "$runs"); do r+=("$(t "$rd")"); m+=("$(t "$work/manual.sh")"); done
	echo "| command | median ms | min ms | max ms |"
	echo "|---|---|---|---|"
	for n in r m; do
		declare -n a=$n
		name=rdsgate; [ $n = m ] && name=manual
		echo "| $name | $(median "${a[@]}") | $(printf '%s\n' "${a[@]}" | sort -n | head -1) | $(printf '%s\n' "${a[@]}" | sort -n | tail -1) |"
	done
fi
