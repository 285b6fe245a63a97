"""infra/: the SAM template lints clean and grants least privilege; build.sh and seed_bucket.py work.

The template is checked offline twice: by ``cfn-lint`` exactly as a developer runs it, and by the
SAM translator (the code CloudFormation runs for the transform), whose IAM roles are then resolved
for concrete parameter values and compared with the permissions each function needs, no more.
The seed script runs as a user runs it, against moto's server with signature checks on.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from awspar.testing.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRA = REPO_ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"

BUCKET_NAME = "awspar-stack-benchmarkbucket-1x2y3z"
FUNCTION_NAMES = {"S3FanoutFunction": "awspar-stack-S3FanoutFunction-4a5b",
                  "BedrockRaceFunction": "awspar-stack-BedrockRaceFunction-6c7d"}
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


# --- the template ---------------------------------------------------------------------------------

def _load_template() -> dict[str, Any]:
    decode = pytest.importorskip("cfnlint.decode", reason="cfn-lint (the dev extra) reads CloudFormation YAML")
    template, problems = decode.decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return json.loads(json.dumps(template))  # plain dicts and strings, as the translator expects


def _translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``template`` (as after ``sam package``)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    packaged = copy.deepcopy(template)
    packaged["Globals"]["Function"]["CodeUri"] = "s3://sam-artifacts/function.zip"
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name=PSEUDO["AWS::Region"]))
    return translator.translate(packaged, parameter_values={}, get_managed_policy_map=dict)


class _Resolver:
    """Evaluates the intrinsic functions this template uses, for given parameter values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
        self.refs = {**PSEUDO, **defaults, **parameters, **FUNCTION_NAMES,
                     "BenchmarkBucket": BUCKET_NAME}
        self.attributes = {"BenchmarkBucket.Arn": f"arn:aws:s3:::{BUCKET_NAME}"}
        self.conditions = {name: self.condition(body) for name, body in template.get("Conditions", {}).items()}

    def condition(self, node: Any) -> Any:
        if isinstance(node, dict):
            (function, argument), = node.items()
            if function == "Fn::Not":
                return not self.condition(argument[0])
            if function == "Fn::Equals":
                left, right = (self.condition(a) for a in argument)
                return left == right
            if function == "Ref":
                return self.refs[argument]
            raise ValueError(f"unexpected {function} in a condition")
        return node

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)).startswith(("Fn::", "Ref")):
            (function, argument), = node.items()
            if function == "Ref":
                return self.refs[argument]
            if function == "Fn::GetAtt":
                return self.attributes[".".join(argument) if isinstance(argument, list) else argument]
            if function == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}",
                              lambda m: self.attributes.get(m.group(1)) or self.refs[m.group(1)], argument)
            if function == "Fn::If":
                name, if_true, if_false = argument
                return self(if_true if self.conditions[name] else if_false)
            raise ValueError(f"unexpected intrinsic {function}")
        if isinstance(node, dict):
            return {key: self(value) for key, value in node.items()}
        return node


def _grants(resources: dict[str, Any], role: str, resolve: _Resolver) -> set[tuple[str, str]]:
    """Every ``(action, resource)`` pair that ``role``'s inline policies allow, resolved."""
    grants: set[tuple[str, str]] = set()
    for policy in resources[role]["Properties"].get("Policies", []):
        for statement in resolve(policy["PolicyDocument"])["Statement"]:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants.update((action, target) for action in actions for target in targets)
    return grants


def _model_arn(model_id: str, region: str = "us-east-1") -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


@pytest.mark.timeout(120)
def test_cfn_lint_reports_nothing() -> None:
    pytest.importorskip("cfnlint", reason="cfn-lint comes with the dev extra")
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint.runner"]
    proc = subprocess.run([*command, "--regions", "us-east-1", "us-west-2", "eu-central-1", "--", str(TEMPLATE)],
                          capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("parameters", "model_arns"),
    [
        ({}, [_model_arn(HAIKU), _model_arn(NOVA_MICRO)]),
        ({"ModelId": "amazon.nova-lite-v1:0"}, [_model_arn("amazon.nova-lite-v1:0"), _model_arn(NOVA_MICRO)]),
        ({"InferenceProfileGeo": "us"}, [
            f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}",
            f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{NOVA_MICRO}",
            _model_arn(HAIKU, region="*"),
            _model_arn(NOVA_MICRO, region="*"),
        ]),
    ],
    ids=["defaults", "other-model", "inference-profile"],
)
def test_sam_transform_grants_each_function_exactly_its_job(parameters: dict[str, str], model_arns: list[str]) -> None:
    template = _load_template()
    pytest.importorskip("samtranslator", reason="aws-sam-translator comes with the dev extra")
    resources = _translate(template)["Resources"]
    resolve = _Resolver(template, parameters)

    roles = {name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == {"S3FanoutFunctionRole", "BedrockRaceFunctionRole"}
    assert not [name for name, r in resources.items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]
    for role in roles:
        assert resources[role]["Properties"]["ManagedPolicyArns"] == [BASIC_EXECUTION_ROLE]  # logs only

    bucket_arn = f"arn:aws:s3:::{BUCKET_NAME}"
    assert _grants(resources, "S3FanoutFunctionRole", resolve) == {
        ("s3:ListBucket", bucket_arn),
        ("s3:GetObject", f"{bucket_arn}/*"),
    }
    assert _grants(resources, "BedrockRaceFunctionRole", resolve) == {
        (action, arn) for action in BEDROCK_ACTIONS for arn in model_arns
    }


def test_no_wildcard_action_or_resource_anywhere_in_the_iam_policies() -> None:
    template = _load_template()
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            for profile in ({}, {"InferenceProfileGeo": "eu"}):
                for statement in _Resolver(template, profile)(policy)["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    assert all("*" not in action for action in actions), (name, actions)
                    targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    assert "*" not in targets and all(t.startswith("arn:aws:") for t in targets), (name, targets)


def test_functions_bucket_and_outputs_are_as_documented() -> None:
    template = _load_template()
    pytest.importorskip("samtranslator", reason="aws-sam-translator comes with the dev extra")
    cfn = _translate(template)
    resources = cfn["Resources"]
    resolve = _Resolver(template, {})

    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert {name: f["Handler"] for name, f in functions.items()} == {
        "S3FanoutFunction": "lambda_s3_fanout.handler",
        "BedrockRaceFunction": "lambda_bedrock_race.handler",
    }
    for function in functions.values():
        assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
        assert 128 <= function["MemorySize"] <= 2048 and 30 <= function["Timeout"] <= 300
        assert function["Code"] == {"S3Bucket": "sam-artifacts", "S3Key": "function.zip"}
    fanout_env = resolve(functions["S3FanoutFunction"]["Environment"]["Variables"])
    race_env = resolve(functions["BedrockRaceFunction"]["Environment"]["Variables"])
    assert fanout_env == {"AWSPAR_ENGINE": "threads", "AWSPAR_BUCKET": BUCKET_NAME, "AWSPAR_CONCURRENCY": "64"}
    assert race_env == {"AWSPAR_ENGINE": "threads", "AWSPAR_MODEL_ID": HAIKU, "AWSPAR_ALTERNATE_MODEL_ID": NOVA_MICRO,
                        "AWSPAR_RACE_N": "3", "AWSPAR_CONCURRENCY": "3"}
    profile_env = _Resolver(template, {"InferenceProfileGeo": "eu"})(functions["BedrockRaceFunction"]["Environment"])
    assert profile_env["Variables"]["AWSPAR_MODEL_ID"] == f"eu.{HAIKU}"

    bucket = resources["BenchmarkBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    log_groups = {resolve(r["Properties"]["LogGroupName"]) for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"}
    # each function's logs are kept for a bounded time and go with the stack
    assert log_groups == {f"/aws/lambda/{name}" for name in FUNCTION_NAMES.values()}

    assert {"BucketName", "S3FanoutFunctionName", "S3FanoutFunctionArn", "BedrockRaceFunctionName",
            "BedrockRaceFunctionArn"} <= set(cfn["Outputs"])
    assert resolve(cfn["Outputs"]["BucketName"]["Value"]) == BUCKET_NAME


def test_readme_documents_every_parameter_variable_and_output() -> None:
    template = _load_template()
    readme = (INFRA / "README.md").read_text()
    variables = {name for r in template["Resources"].values()
                 for name in r.get("Properties", {}).get("Environment", {}).get("Variables", {})}
    variables |= set(template["Globals"]["Function"]["Environment"]["Variables"])
    for name in [*template["Parameters"], *variables, "BucketName", "S3FanoutFunctionName", "BedrockRaceFunctionName"]:
        assert f"`{name}`" in readme or f"{name})" in readme, f"infra/README.md does not mention {name}"
    for parameter, spec in template["Parameters"].items():
        if spec.get("Default"):
            assert f"`{spec['Default']}`" in readme, f"README does not give {parameter}'s default {spec['Default']}"


# --- build.sh ---------------------------------------------------------------------------------------

HANDLERS = ("lambda_s3_fanout.py", "lambda_bedrock_race.py")


def _checkout_copy(root: Path, handlers: tuple[str, ...] = HANDLERS) -> Path:
    """A copy of the parts of this checkout that build.sh reads, with stand-in handler files."""
    shutil.copytree(REPO_ROOT / "awspar", root / "awspar", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "awspar" / "__pycache__").mkdir()
    (root / "awspar" / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"\0")
    (root / "infra").mkdir()
    shutil.copy2(INFRA / "build.sh", root / "infra" / "build.sh")
    (root / "examples").mkdir()
    for handler in handlers:
        (root / "examples" / handler).write_text(f"import awspar\n\ndef handler(event, context):\n    return {handler!r}\n")
    return root


@pytest.mark.timeout(60)
def test_build_lays_out_awspar_and_the_handlers_and_nothing_else(tmp_path: Path) -> None:
    root = _checkout_copy(tmp_path / "checkout")
    proc = subprocess.run(["bash", str(root / "infra" / "build.sh")], capture_output=True, text=True, timeout=50,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    out = root / "infra" / "build" / "function"
    assert sorted(p.name for p in out.iterdir()) == ["awspar", *sorted(HANDLERS)]
    for handler in HANDLERS:
        assert (out / handler).read_bytes() == (root / "examples" / handler).read_bytes()
    shipped = {p.relative_to(out / "awspar") for p in (out / "awspar").rglob("*") if p.is_file()}
    source = {p.relative_to(REPO_ROOT / "awspar") for p in (REPO_ROOT / "awspar").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == source
    assert all(path.stat().st_mode & stat.S_IROTH for path in out.rglob("*"))  # Lambda reads as another user
    assert not list(out.parent.glob("*.partial.*"))

    env = {**os.environ, "PYTHONPATH": str(out)}
    found = subprocess.run([sys.executable, "-c", "import lambda_s3_fanout, awspar; print(awspar.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=30, check=True)
    assert found.stdout.strip() == str(out / "awspar" / "__init__.py")


@pytest.mark.timeout(60)
def test_build_without_a_handler_fails_clearly_and_keeps_the_previous_build(tmp_path: Path) -> None:
    root = _checkout_copy(tmp_path / "checkout", handlers=("lambda_s3_fanout.py",))
    previous = root / "infra" / "build" / "function"
    previous.mkdir(parents=True)
    (previous / "marker").write_text("previous build")
    proc = subprocess.run(["bash", str(root / "infra" / "build.sh")], capture_output=True, text=True, timeout=50,
                          check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"build.sh: {root}/examples/lambda_bedrock_race.py is missing; nothing built"
    ]
    assert [p.name for p in previous.iterdir()] == ["marker"]
    assert sorted(p.name for p in previous.parent.iterdir()) == ["function"]


# --- seed_bucket.py ---------------------------------------------------------------------------------

def _seed_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_bucket", INFRA / "seed_bucket.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the seed script as a user does, with this checkout's awspar importable."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(INFRA / "seed_bucket.py"), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, **env}, timeout=90, check=False)


def _listing(moto: MotoServer, bucket: str) -> dict[str, tuple[int, str]]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", ())}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("via", ["awspar", "boto3"])
def test_seed_puts_the_objects_then_only_fills_gaps(moto_server: MotoServer, via: str) -> None:
    seed = _seed_module()
    bucket = f"seed-gaps-{via}"
    moto_server.create_bucket(bucket, [("other-keep.txt", b"not mine")])
    env = moto_server.env()
    # prefixes without "/": moto 5.2.1 (Python 3.11 here) miscomputes signatures of query values with "/"
    args = (bucket, "--count", "12", "--size", "3KiB", "--prefix", "bench-", "--concurrency", "4", "--via", via)

    first = _seed(env, *args)
    assert first.returncode == 0, first.stderr
    keys = [f"bench-{i:06d}.bin" for i in range(12)]
    listing = _listing(moto_server, bucket)
    assert sorted(listing) == sorted([*keys, "other-keep.txt"])
    assert {listing[key][0] for key in keys} == {3072}
    s3 = moto_server.client("s3")
    body = s3.get_object(Bucket=bucket, Key=keys[5])["Body"].read()
    assert body == seed.object_body(keys[5], 3072) and body != seed.object_body(keys[6], 3072)
    assert "(put 12, already there 0, failed 0)" in first.stdout
    assert f"via {via}: 12 to put, 0 already there" in first.stderr and "put 12/12" in first.stderr

    second = _seed(env, *args)
    assert second.returncode == 0, second.stderr
    assert "(put 0, already there 12, failed 0)" in second.stdout
    assert _listing(moto_server, bucket) == listing

    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:3]]})
    s3.put_object(Bucket=bucket, Key=keys[7], Body=b"wrong size")
    third = _seed(env, *args)
    assert third.returncode == 0, third.stderr
    assert "12/12 objects of 3072 bytes in place (put 4, already there 8, failed 0)" in third.stdout
    after = _listing(moto_server, bucket)
    assert {after[key][0] for key in keys} == {3072}
    assert s3.get_object(Bucket=bucket, Key=keys[7])["Body"].read() == seed.object_body(keys[7], 3072)
    assert after["other-keep.txt"] == listing["other-keep.txt"]

    forced = _seed(env, *args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "(put 12, already there 0, failed 0)" in forced.stdout
    assert {key: size for key, (size, _) in _listing(moto_server, bucket).items()} == {
        key: size for key, (size, _) in after.items()}
    for proc in (first, second, third, forced):
        assert env["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr


@pytest.mark.timeout(60)
def test_seed_reports_a_missing_bucket_in_one_line(moto_server: MotoServer) -> None:
    proc = _seed(moto_server.env(), "no-such-bucket", "--count", "2")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "seed_bucket: bucket 'no-such-bucket' does not exist (deploy the stack first, or check --region)"
    ]
    assert proc.stdout == ""


@pytest.mark.timeout(60)
def test_seed_without_credentials_says_so_in_one_line(moto_server: MotoServer) -> None:
    env = {k: v for k, v in moto_server.env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    proc = _seed(env, "any-bucket")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "seed_bucket: no AWS credentials found (set AWS_PROFILE, or run `aws configure` / `aws sso login`)"
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("via", ["awspar", "boto3"])
def test_seed_lists_failed_puts_and_exits_nonzero(moto_server: MotoServer, via: str) -> None:
    """Credentials that may read the bucket but not write to it: every put fails, each is listed."""
    bucket, user = f"seed-readonly-{via}", f"seed-reader-{via}"
    moto_server.create_bucket(bucket)
    iam = moto_server.client("iam")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        # List*/Get*, not s3:ListBucket alone: moto 5.2.6 no longer lets s3:ListBucket cover ListObjectsV2
        "Statement": [{"Effect": "Allow", "Action": ["s3:List*", "s3:Get*"], "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    env = {**moto_server.env(), "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    proc = _seed(env, bucket, "--count", "7", "--size", "10", "--prefix", "ro-", "--via", via)
    assert proc.returncode == 1, proc.stderr
    assert "0/7 objects of 10 bytes in place (put 0, already there 0, failed 7)" in proc.stdout
    (last,) = [line for line in proc.stderr.splitlines() if line.startswith("seed_bucket:")]
    assert last.startswith("seed_bucket: 7 puts failed: ro-") and "(AccessDenied)" in last
    assert last.endswith("and 2 more; run again to retry them")
    assert _listing(moto_server, bucket) == {}
    assert key["SecretAccessKey"] not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("text", "size"), [("16384", 16384), ("16KiB", 16384), ("1MiB", 2**20), ("2k", 2048),
                                            ("1MB", 10**6), (" 0 ", 0)])
def test_seed_sizes_parse(text: str, size: int) -> None:
    assert _seed_module().parse_size(text) == size


def test_seed_refuses_a_bad_size_before_touching_anything() -> None:
    proc = _seed({}, "any-bucket", "--size", "12parsecs")
    assert proc.returncode == 2
    assert "argument --size: not a size: '12parsecs'" in proc.stderr
    assert "Traceback" not in proc.stderr
