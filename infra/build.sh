#!/usr/bin/env bash
# Lays out the Lambda code the SAM template deploys (CodeUri: build/function/):
#
#   build/function/
#     awspar/                   the package, pure Python, as in this checkout (no __pycache__)
#     lambda_s3_fanout.py       copied from examples/
#     lambda_bedrock_race.py    copied from examples/
#
# No requirements.txt and no dependencies: Lambda's Python runtime already ships boto3, botocore and
# urllib3, which is all awspar's threads engine needs (no aiohttp). Pure Python, so one build serves
# arm64 and x86_64 alike. The directory is built beside the target and swapped in whole, so a failed
# build never leaves a half-written one behind.
#
#   infra/build.sh [OUT_DIR]      (default: infra/build/function)
set -euo pipefail

infra_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$infra_dir")
out=${1:-$infra_dir/build/function}
handlers=(lambda_s3_fanout.py lambda_bedrock_race.py)

for handler in "${handlers[@]}"; do
    if [[ ! -f "$repo_root/examples/$handler" ]]; then
        echo "build.sh: $repo_root/examples/$handler is missing; nothing built" >&2
        exit 1
    fi
done
if [[ ! -f "$repo_root/awspar/__init__.py" ]]; then
    echo "build.sh: no awspar package in $repo_root; nothing built" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
staging=$(mktemp -d "$out.partial.XXXXXX")
trap 'rm -rf "$staging"' EXIT

tar -C "$repo_root" --exclude='__pycache__' --exclude='*.pyc' -cf - awspar | tar -C "$staging" -xf -
for handler in "${handlers[@]}"; do
    cp "$repo_root/examples/$handler" "$staging/"
done
chmod -R a+rX "$staging"

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "built $out: awspar $(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$out/awspar/__init__.py") + ${handlers[*]}"
