#!/usr/bin/env bash
# token-cli.sh — time N runs of the AWS CLI's token generator, for comparison
# with iamauth.Build / Cache (see docs/benchmarks.md).
#
#   bench/token-cli.sh [N]        N defaults to 20
#
# Environment: AWS_CLI (default /usr/bin/aws, the Debian CLI v2). The CLI runs
# isolated: no config or credentials files, no IMDS, static example keys, so
# it does no network I/O. Prints one line per run and a summary, in ms.
set -euo pipefail

n=${1:-20}
aws=${AWS_CLI:-/usr/bin/aws}
case $n in ''|*[!0-9]*) echo "usage: $0 [N]" >&2; exit 2;; esac
if [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then echo "N must be 1..1000" >&2; exit 2; fi
[ -x "$aws" ] || { echo "$aws not found (apt-get install awscli)" >&2; exit 1; }

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT

run() {
	env -i PATH="$PATH" HOME="$home" TZ=UTC LC_ALL=C.UTF-8 \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		AWS_EC2_METADATA_DISABLED=true \
		AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
		AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
		"$aws" rds generate-db-auth-token \
		--hostname mydb.abc123.us-east-1.rds.amazonaws.com --port 5432 \
		--username 'iam user' --region us-east-1 >/dev/null
}

"$aws" --version
total=0 min= max=0
for i in $(seq 1 "$n"); do
	t0=$(date +%s%N)
	run
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	echo "run $i: ${ms} ms"
	total=$(( total + ms ))
	if [ -z "$min" ] || [ "$ms" -lt "$min" ]; then min=$ms; fi
	if [ "$ms" -gt "$max" ]; then max=$ms; fi
done
echo "runs=$n mean_ms=$(( total / n )) min_ms=$min max_ms=$max"
