#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An S3-compatible server on loopback for the s3:// store tests: moto (installed by
# scripts/install-deps.sh), run so that it checks AWS Signature V4: its first
# three requests (make a user, its access key, its policy) go unauthenticated,
# every request after them must be signed with that key.
#
#   tests/tools/s3-server.sh start DIR BUCKET   writes DIR/env (AWS_* variables for
#                                               the endpoint, the region and the key),
#                                               makes BUCKET; the server's pid in DIR/pid
#   tests/tools/s3-server.sh stop DIR
set -euo pipefail
MOTO=${FERRY_MOTO_PREFIX:-/opt/ferry/moto}/usr/lib/python3/dist-packages

start() {
  local dir=$1 bucket=$2 port
  mkdir -p "$dir"
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  INITIAL_NO_AUTH_ACTION_COUNT=3 PYTHONPATH=$MOTO setsid /usr/bin/python3 -m moto.server -H 127.0.0.1 -p "$port" \
    >"$dir/server.log" 2>&1 3>&- &
  echo $! >"$dir/pid"
  local i
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
    sleep 0.1
  done
  /usr/bin/python3 - "http://127.0.0.1:$port" "$bucket" "$dir/env" <<'PY'
import json, sys
import boto3
endpoint, bucket, out = sys.argv[1:]
anon = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **anon)
iam.create_user(UserName="ferry")
key = iam.create_access_key(UserName="ferry")["AccessKey"]
iam.put_user_policy(UserName="ferry", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)
with open(out, "w") as f:
    f.write(f"export AWS_ENDPOINT_URL_S3={endpoint}\nexport AWS_REGION=us-east-1\n"
            f"export AWS_ACCESS_KEY_ID={key['AccessKeyId']}\nexport AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n")
PY
}

stop() {
  local dir=$1
  [ -f "$dir/pid" ] || return 0
  pkill -s "$(cat "$dir/pid")" 2>/dev/null || true
  rm -f "$dir/pid"
}

case ${1:-} in
start) start "$2" "$3" ;;
stop) stop "$2" ;;
*) echo "usage: $0 start DIR BUCKET | stop DIR" >&2; exit 2 ;;
esac
