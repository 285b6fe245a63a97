#!/usr/bin/env bash
# Sign with awspar, send with curl: a signed request is plain data that any HTTP client can send.
#
#   examples/sign_and_curl.sh BUCKET KEY
#
# 1. PUT a small object: `awspar sign s3 PutObject ... --curl` prints the curl command line that sends
#    exactly the request boto3 would send (signed headers, checksum, body); this script runs it.
# 2. GET it back the same way, with a header-signed request.
# 3. GET it again through a presigned URL (`--presign`): the URL alone is the permission.
#
# Credentials, region and endpoint come from the standard AWS settings. This demo is meant for
# awspar's local endpoints (`awspar local`, or AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT): it
# refuses to send anywhere but this machine unless SIGN_AND_CURL_ANY_HOST=1, because step 1
# writes to the bucket. Needs the `cli` extra (pip install 'awspar[cli]') and curl.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 BUCKET KEY" >&2
    exit 2
fi
bucket=$1
key=$2
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# Refuses a command or URL aimed anywhere but 127.0.0.1 / localhost, unless told otherwise.
check_target() {
    if [[ ! $1 =~ (https?://[^/\ \']+) ]]; then
        echo "sign_and_curl.sh: no URL in what awspar printed" >&2
        exit 1
    fi
    local origin=${BASH_REMATCH[1]}
    if [[ ${SIGN_AND_CURL_ANY_HOST:-} != 1 && ! $origin =~ ^https?://(127\.0\.0\.1|localhost)(:[0-9]+)?$ ]]; then
        echo "sign_and_curl.sh: refusing to send to $origin (set SIGN_AND_CURL_ANY_HOST=1 to allow it)" >&2
        exit 1
    fi
}

# Runs a curl command line printed by `awspar sign --curl`, with extra curl options appended.
send() {
    local command=$1
    shift
    check_target "$command"
    eval "$command --silent --show-error --fail-with-body $(printf '%q ' "$@")"
}

printf 'hello from curl, signed by awspar\n' >"$workdir/body.txt"

echo "1. PUT s3://$bucket/$key, signed by awspar, sent by curl"
put=$(awspar sign s3 PutObject --param "Bucket=$bucket" --param "Key=$key" --param "Body=@$workdir/body.txt" --curl)
send "$put" --output /dev/null --write-out '   HTTP %{http_code}\n'

echo "2. GET it back with a header-signed request"
get=$(awspar sign s3 GetObject --param "Bucket=$bucket" --param "Key=$key" --curl)
send "$get" --output "$workdir/header-signed.txt" --write-out '   HTTP %{http_code}, %{size_download} bytes\n'
printf '   %s' "$(cat "$workdir/header-signed.txt")"
echo

echo "3. GET it through a presigned URL (valid 5 minutes)"
url=$(awspar sign s3 GetObject --param "Bucket=$bucket" --param "Key=$key" --presign --expires 300)
check_target "$url"
curl --silent --show-error --fail-with-body --globoff --output "$workdir/presigned.txt" \
    --write-out '   HTTP %{http_code}, %{size_download} bytes\n' "$url"
printf '   %s' "$(cat "$workdir/presigned.txt")"
echo

if cmp -s "$workdir/body.txt" "$workdir/header-signed.txt" && cmp -s "$workdir/body.txt" "$workdir/presigned.txt"; then
    echo "both GETs returned the bytes the PUT sent"
else
    echo "sign_and_curl.sh: a GET returned other bytes than the PUT sent" >&2
    exit 1
fi
