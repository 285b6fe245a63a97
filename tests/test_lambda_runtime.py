"""The Lambda runtime check: each handler, built by infra/build.sh, runs where only Lambda's own
packages exist.

AWS Lambda's Python runtime ships boto3, botocore and urllib3 (with jmespath, python-dateutil,
s3transfer and six) and nothing else; the deployment package is awspar and the handler file. Here a
subprocess gets exactly that: ``python -I -S`` (no site-packages, no user site, no PYTHON*
variables), with ``sys.path`` = the build directory (``LAMBDA_TASK_ROOT``) + a directory of symlinks
to those seven packages only + the standard library. It proves ``import aiohttp`` fails there,
imports the handler module as Lambda does, calls it twice (a cold and a warm invocation), and lists
where every module it loaded came from. Its environment is Lambda's: the function's variables from
infra/template.yaml, ``AWS_LAMBDA_FUNCTION_NAME`` and friends, and temporary credentials with a
session token (:data:`~awspar.testing.TEST_SESSION_CREDENTIALS`, which the local endpoints accept
only together with that token), pointed at the local endpoints by ``AWS_ENDPOINT_URL_*``.

The check runs on this Python and, when it is installed, on Python 3.11 with that interpreter's own
boto3 (an older one, as a Lambda runtime's often is).
"""

# ruff: noqa: F401, F811 - fixtures imported from _local_examples: used as, and shadowed by, test parameters

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _local_examples import (  # the fixtures s3_endpoint, bedrock_endpoint, quiet_bedrock too
    BUCKET,
    EXAMPLES,
    PREFIX,
    REPO_ROOT,
    SEEDED,
    answer_template,
    bedrock_endpoint,
    broken_json_first,
    json_lines,
    quiet_bedrock,
    run,
    s3_endpoint,
    sha256,
)

from awspar.bedrock import DEFAULT_MODEL
from awspar.testing.bedrock_server import BedrockServer
from awspar.testing.credentials import TEST_SESSION_CREDENTIALS
from awspar.testing.object_server import ObjectServer

#: What Lambda's Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "urllib3", "jmespath", "dateutil", "s3transfer", "six")
#: Each function's variables as infra/template.yaml sets them with its default parameters
#: (checked against the template below).
FUNCTION_ENV = {
    "S3FanoutFunction": {"AWSPAR_ENGINE": "threads", "AWSPAR_BUCKET": BUCKET, "AWSPAR_CONCURRENCY": "64"},
    "BedrockRaceFunction": {
        "AWSPAR_ENGINE": "threads", "AWSPAR_MODEL_ID": DEFAULT_MODEL, "AWSPAR_ALTERNATE_MODEL_ID": "amazon.nova-micro-v1:0",
        "AWSPAR_RACE_N": "3", "AWSPAR_CONCURRENCY": "3",
    },
}
HANDLERS = {"S3FanoutFunction": "lambda_s3_fanout.handler", "BedrockRaceFunction": "lambda_bedrock_race.handler"}

# Runs in the child: arguments TASK_ROOT RUNTIME_DIR SCRIPT ARGS...; prints JSON lines.
BOOTSTRAP = """
import json, runpy, sys, sysconfig
task, runtime, script, *args = sys.argv[1:]
sys.path[:0] = [task, runtime]
try:
    import aiohttp
except ImportError:
    print(json.dumps({"aiohttp_importable": False}), flush=True)
else:
    print(json.dumps({"aiohttp_importable": True}), flush=True)
sys.argv = [script, *args]
try:
    runpy.run_path(script, run_name="__main__")
    code = 0
except SystemExit as exc:
    code = exc.code
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
         if "." not in name and not name.startswith("__")}  # not __main__ / __mp_main__ (the script)
print(json.dumps({"python": list(sys.version_info[:2]), "loaded": {n: f for n, f in files.items() if f},
                  "stdlib": sorted({sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")})}))
sys.exit(code)
"""
# Runs in the target interpreter (with its site-packages) to find its runtime packages.
LOCATE = """
import importlib.util, json, sys
specs = {name: importlib.util.find_spec(name) for name in sys.argv[1:]}
print(json.dumps({"executable": sys.executable, "version": list(sys.version_info[:2]),
                  "origins": {name: spec.origin if spec else None for name, spec in specs.items()}}))
"""


def _interpreter(which: str) -> str:
    if which == "this":
        return sys.executable
    found = shutil.which(which)
    if found is None:
        pytest.skip(f"{which} is not installed")
    return found


@pytest.fixture(scope="module")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment package as infra/build.sh lays it out (what Lambda unpacks in /var/task)."""
    out = tmp_path_factory.mktemp("lambda") / "task"
    proc = subprocess.run(["bash", str(REPO_ROOT / "infra" / "build.sh"), str(out)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module", params=["this", "python3.11"], ids=["this-python", "python3.11"])
def runtime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An interpreter and a directory holding symlinks to its copies of RUNTIME_PACKAGES only."""
    python = _interpreter(request.param)
    proc = subprocess.run([python, "-c", LOCATE, *RUNTIME_PACKAGES], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    if request.param != "this" and found["version"] == list(sys.version_info[:2]):
        pytest.skip(f"{request.param} is this same Python")
    missing = [name for name, origin in found["origins"].items() if origin is None]
    if missing:
        pytest.skip(f"{request.param} lacks {', '.join(missing)}")
    directory = tmp_path_factory.mktemp("runtime")
    for origin in found["origins"].values():
        source = Path(origin)
        target = source.parent if source.name == "__init__.py" else source
        (directory / target.name).symlink_to(target)
    yield {"python": found["executable"], "dir": directory, "version": found["version"]}


def lambda_env(function: str, task: Path, runtime_dir: Path, home: Path, s3: ObjectServer,
               bedrock: BedrockServer) -> dict[str, str]:
    """A Lambda function's environment, from nothing: no variable of this process leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),  # empty: no ~/.aws of this machine
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"awspar-bench-{function}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/awspar-bench-{function}",
        "AWS_EC2_METADATA_DISABLED": "true",  # never look for credentials off this machine
        **TEST_SESSION_CREDENTIALS.env(),  # AWS_ACCESS_KEY_ID (ASIA...), secret, AWS_SESSION_TOKEN, region
        "AWS_ENDPOINT_URL_S3": s3.url,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        **FUNCTION_ENV[function],
    }


def run_in_lambda_runtime(function: str, event: dict[str, Any], runtime: dict[str, Any], task: Path,
                          tmp_path: Path, s3: ObjectServer, bedrock: BedrockServer) -> dict[str, Any]:
    """Invoke the function's handler twice in the bare runtime; what the child reported."""
    home = tmp_path / "home"
    home.mkdir()
    command = [runtime["python"], "-I", "-S", "-c", BOOTSTRAP, str(task), str(runtime["dir"]),
               str(EXAMPLES / "invoke_locally.py"), HANDLERS[function], json.dumps(event), "--times", "2",
               "--path", str(task)]
    proc = run(command, lambda_env(function, task, runtime["dir"], home, s3, bedrock), cwd=task)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    first, *invocations, report = json_lines(proc.stdout)
    assert first == {"aiohttp_importable": False}
    assert report["python"] == runtime["version"]
    assert [line["invocation"] for line in invocations] == [1, 2]
    assert invocations[0]["awspar_objects"] == invocations[1]["awspar_objects"]  # warm reuse
    assert {"SIGNER", "ENGINE"} <= set(invocations[0]["awspar_objects"])

    allowed = (str(task), str(runtime["dir"]), *report["stdlib"])
    loaded = report["loaded"]
    strays = {name: path for name, path in loaded.items() if not path.startswith(allowed)}
    assert not strays, f"loaded from outside the Lambda runtime and the package: {strays}"
    assert loaded["awspar"].startswith(str(task)) and loaded[HANDLERS[function].split(".")[0]].startswith(str(task))
    assert not {"aiohttp", "yarl", "multidict", "typer", "rich", "moto", "matplotlib"} & set(loaded)
    return {"invocations": invocations, "loaded": loaded}


@pytest.mark.timeout(90)
def test_s3_fanout_handler_in_the_bare_lambda_runtime(runtime, task_root, tmp_path, s3_endpoint,
                                                      bedrock_endpoint) -> None:
    child = run_in_lambda_runtime("S3FanoutFunction", {"prefix": PREFIX}, runtime, task_root, tmp_path,
                                  s3_endpoint, bedrock_endpoint)
    expected = {key: sha256(body) for key, body in SEEDED.items()}
    for line in child["invocations"]:
        summary = line["result"]
        assert summary["bucket"] == BUCKET  # from AWSPAR_BUCKET
        assert (summary["engine"], summary["concurrency"], summary["failed"]) == ("threads", 64, 0)
        assert {o["key"]: o["sha256"] for o in summary["objects"]} == expected
    assert {"boto3", "botocore", "urllib3"} <= set(child["loaded"])


@pytest.mark.timeout(90)
def test_bedrock_race_handler_in_the_bare_lambda_runtime(runtime, task_root, tmp_path, s3_endpoint,
                                                         quiet_bedrock) -> None:
    quiet_bedrock.configure(broken_json_first(invocations=2, n=3))  # AWSPAR_RACE_N=3
    prompt = "Reply with a JSON object for France."
    child = run_in_lambda_runtime("BedrockRaceFunction", {"prompt": prompt}, runtime, task_root, tmp_path,
                                  s3_endpoint, quiet_bedrock)
    for line in child["invocations"]:
        result = line["result"]
        assert result["ok"] is True and result["model"] == DEFAULT_MODEL  # from AWSPAR_MODEL_ID
        assert result["answer"] == json.loads(answer_template(prompt))
        assert len(result["calls"]) == 3 and any(c["outcome"] == "rejected" for c in result["calls"])
    assert quiet_bedrock.stats()["operations"]["Converse"] >= 6


def test_the_environment_here_is_the_templates() -> None:
    """FUNCTION_ENV names the variables infra/template.yaml gives each function, with its defaults."""
    decode = pytest.importorskip("cfnlint.decode", reason="cfn-lint (the dev extra) reads CloudFormation YAML")
    template, problems = decode.decode_str((REPO_ROOT / "infra" / "template.yaml").read_text())
    assert not problems
    defaults = {name: str(spec.get("Default")) for name, spec in template["Parameters"].items()}
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    for function, env in FUNCTION_ENV.items():
        resource = template["Resources"][function]["Properties"]
        assert resource["Handler"] == HANDLERS[function]
        variables = {**shared, **resource["Environment"]["Variables"]}
        assert set(variables) == set(env)
        for name, value in variables.items():
            if isinstance(value, str):
                assert env[name] == value, name
            elif set(value) == {"Ref"} and value["Ref"] in defaults:
                assert env[name] == defaults[value["Ref"]], name
