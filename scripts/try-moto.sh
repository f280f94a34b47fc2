#!/usr/bin/env bash
# Try rdsgate's discovery and token commands with no AWS account: start a
# throwaway moto_server on loopback, create two databases in it with the AWS
# SDK's wire protocol (via the AWS CLI), and run rdsgate against it.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v moto_server >/dev/null || { echo "needs moto_server: pip install 'moto[server]'" >&2; exit 1; }
AWS=/usr/bin/aws; [ -x "$AWS" ] || AWS=aws
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
aws_() { "$AWS" --endpoint-url "$AWS_ENDPOINT_URL" "$@" >/dev/null; }
aws_ rds create-db-instance --db-instance-identifier orders-pg --engine postgres --db-instance-class db.t3.micro \
  --master-username dbadmin --master-user-password 'not-used-123' --allocated-storage 20 --enable-iam-database-authentication
aws_ rds create-db-cluster --db-cluster-identifier billing --engine aurora-mysql \
  --master-username dbadmin --master-user-password 'not-used-123' --enable-iam-database-authentication

go build -o bin/rdsgate ./cmd/rdsgate
set -x
bin/rdsgate ls
bin/rdsgate token --target orders-pg --user jane
