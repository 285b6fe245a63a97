"""The import budget: ``import awspar`` loads nothing optional, and no public name drags one in.

Lambda bills cold starts and ships boto3, botocore and urllib3 but not aiohttp, so ``import awspar``
must stay cheap and every public name must load without the optional extras. Each check runs in a
fresh interpreter, because this test process has long since imported everything.
The time budget itself (<= 30 ms over ``import botocore``) is measured by
``benchmarks/bench_import.py``, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

import awspar

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Top-level packages of the optional extras (and their heavy dependencies): never loaded by
#: ``import awspar`` nor by touching any public name.
OPTIONAL_PACKAGES = frozenset({
    "aiohttp", "yarl", "multidict", "matplotlib", "numpy", "typer", "rich", "click",
    "moto", "werkzeug", "flask", "dask", "distributed",
})
#: The core dependencies: needed by the signer and engines, but not by ``import awspar`` alone.
CORE_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "urllib3"})
#: Modules that are plain data and must load with the standard library only (inside a
#: subinterpreter or a worker process that holds no botocore).
STDLIB_ONLY_MODULES = ("awspar._models", "awspar._config", "awspar._errors")

# Runs in the child: records who imports a watched package (file:line inside awspar) and prints
# the top-level packages loaded by ``code`` as JSON on the last line of stdout.
_PROBE = textwrap.dedent('''
    import json, sys, traceback

    WATCHED = set(json.loads(sys.argv[1]))
    culprits = {}

    class _Witness:
        """Never finds anything; notes where in awspar a watched package is first imported from."""

        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in WATCHED and top not in culprits:
                frames = [f for f in traceback.extract_stack() if "awspar" in f.filename]
                culprits[top] = [f"{f.filename}:{f.lineno}" for f in frames[-3:]]
            return None

    before = {m.partition(".")[0] for m in sys.modules}
    sys.meta_path.insert(0, _Witness())
    exec(sys.argv[2], {})
    loaded = sorted({m.partition(".")[0] for m in sys.modules} - before)
    print(json.dumps({"loaded": loaded, "culprits": culprits}))
''')


def _packages_loaded_by(code: str, **env_vars: str) -> tuple[set[str], dict[str, list[str]]]:
    """Top-level packages a fresh interpreter loads to run ``code`` (with ``env_vars`` set), and
    where awspar imported them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(env_vars, PYTHONPATH=str(REPO_ROOT))
    watched = json.dumps(sorted(OPTIONAL_PACKAGES | CORE_PACKAGES))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, watched, code],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60, check=False,
    )
    assert proc.returncode == 0, f"running {code!r} failed:\n{proc.stderr}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return set(report["loaded"]), report["culprits"]


def _explain(found: set[str], culprits: dict[str, list[str]]) -> str:
    """``name (imported at file:line <- file:line)`` for each package found."""
    where = {name: " <- ".join(reversed(culprits.get(name) or ["outside awspar"])) for name in found}
    return "; ".join(f"{name} (imported at {where[name]})" for name in sorted(found))


def _exported_modules() -> dict[str, list[str]]:
    """Each module named in ``awspar._EXPORTS``, with the public names it provides."""
    modules: dict[str, list[str]] = defaultdict(list)
    for name, module in awspar._EXPORTS.items():
        modules[module].append(name)
    return dict(sorted(modules.items()))


@pytest.mark.timeout(60)
def test_bare_import_loads_no_optional_and_no_core_package() -> None:
    loaded, culprits = _packages_loaded_by("import awspar")
    unwanted = loaded & (OPTIONAL_PACKAGES | CORE_PACKAGES)
    assert not unwanted, f"`import awspar` loads {_explain(unwanted, culprits)}"


@pytest.mark.timeout(60)
def test_plain_data_names_load_with_the_standard_library_only() -> None:
    names = [n for n, module in awspar._EXPORTS.items() if module in STDLIB_ONLY_MODULES]
    assert {"SignedRequest", "EngineConfig", "ServiceError"} <= set(names)
    code = "import awspar\n" + "\n".join(f"awspar.{name}" for name in names)
    loaded, culprits = _packages_loaded_by(code)
    unwanted = loaded & (OPTIONAL_PACKAGES | CORE_PACKAGES)
    assert not unwanted, f"touching the plain-data names loads {_explain(unwanted, culprits)}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", list(_exported_modules()))
def test_every_public_name_loads_no_optional_package(module: str) -> None:
    names = _exported_modules()[module]
    code = "import awspar\n" + "\n".join(f"awspar.{name}" for name in names)
    loaded, culprits = _packages_loaded_by(code)
    unwanted = loaded & OPTIONAL_PACKAGES
    assert not unwanted, f"awspar.{{{', '.join(names)}}} from {module} loads {_explain(unwanted, culprits)}"


@pytest.mark.timeout(60)
def test_submodules_are_attributes_loaded_on_first_use() -> None:
    """``import awspar; awspar.s3.get_objects`` works as the README writes it, and loads
    only what that submodule needs, when it is touched."""
    code = ("import sys, awspar\n"
            "assert 'awspar.s3' not in sys.modules\n"
            "awspar.s3.get_objects, awspar.bedrock.invoke, awspar.signer.Signer, awspar.parsing.parse\n"
            "awspar.engines.get_engine, awspar.cli.main\n"
            "assert {'s3', 'engines', 'testing'} <= set(dir(awspar))")
    loaded, culprits = _packages_loaded_by(code)
    unwanted = loaded & OPTIONAL_PACKAGES
    assert not unwanted, f"touching the submodules loads {_explain(unwanted, culprits)}"


def test_the_probe_catches_an_optional_import_and_names_its_origin(tmp_path: Path) -> None:
    """Guards the checks above: an optional package imported from awspar code is seen and located."""
    (tmp_path / "rich.py").write_text("")  # a stand-in, so this works whether rich is installed or not
    package = tmp_path / "awspar_offender"
    package.mkdir()
    (package / "__init__.py").write_text("import awspar\nimport rich\n")
    loaded, culprits = _packages_loaded_by(f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import awspar_offender")
    assert {"rich", "awspar"} <= loaded
    assert culprits["rich"][-1].endswith("awspar_offender/__init__.py:2")


@pytest.mark.timeout(60)
def test_the_lambda_path_loads_no_optional_package() -> None:
    """What a Lambda handler uses (Signer, the threads engine, parse) runs on boto3, botocore and urllib3."""
    code = ("import awspar\nfrom awspar.engines import engine_class\n"
            "awspar.Signer, awspar.parse, engine_class('threads'), engine_class('sequential')")
    loaded, culprits = _packages_loaded_by(code)
    unwanted = loaded & OPTIONAL_PACKAGES
    assert not unwanted, f"the Lambda path loads {_explain(unwanted, culprits)}"
    assert {"botocore", "urllib3"} <= loaded


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", ["awspar.s3", "awspar.bedrock", "awspar.s3.keys"])
def test_library_modules_import_asyncio_only_when_run(module: str) -> None:
    """Only the async twins need an event loop: importing the module (the CLI's --help) does not."""
    loaded, _ = _packages_loaded_by(f"import {module}")
    assert "awspar" in loaded and "asyncio" not in loaded


@pytest.mark.timeout(60)
def test_fetching_from_s3_never_imports_boto3() -> None:
    """get_objects signs through a botocore session: boto3 and the s3transfer it loads (~40 ms)
    stay out of an `awspar s3-get` run and of a Lambda cold start."""
    pytest.importorskip("aiohttp", reason="the local object endpoint needs aiohttp: pip install 'awspar[local]'")
    from awspar.testing.credentials import TEST_CREDENTIALS
    from awspar.testing.object_server import ObjectServer

    with ObjectServer({"b": {"k": b"hello"}}) as server:
        code = ("from awspar.s3 import get_objects\n"
                f"[result] = get_objects('b', ['k'], mode='threads', endpoint_url={server.url!r})\n"
                "assert result.ok and result.data == b'hello', result")
        loaded, culprits = _packages_loaded_by(code, **TEST_CREDENTIALS.env())
    assert {"botocore", "urllib3"} <= loaded
    unwanted = loaded & {"boto3", "s3transfer"}
    assert not unwanted, f"get_objects loads {_explain(unwanted, culprits)}"


def test_the_command_line_freezes_what_is_alive_before_the_interpreter_exits() -> None:
    """The interpreter's last collections skip frozen objects (botocore's models and client: tens
    of milliseconds per run); the freeze happens however the command ends, here with an exit code."""
    import gc

    from awspar.cli import main

    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["s3-get"])  # no bucket: a usage error, exit code 2
        assert exited.value.code == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
