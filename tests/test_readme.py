"""Everything README.md shows is run here: its Python blocks, and its command lines against the
local endpoints that its own `awspar local` line starts."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
BLOCKS = [(lang, body) for lang, body in FENCE.findall(README)]
AWSPAR = str(Path(sys.executable).with_name("awspar"))


def _lines(lang: str) -> list[str]:
    """Every command line of the README's ``lang`` blocks, comments stripped."""
    lines = []
    for block_lang, body in BLOCKS:
        if block_lang == lang:
            for line in body.splitlines():
                command = line.split("  #", 1)[0].strip()
                if command and not command.startswith("#"):
                    lines.append(command)
    return lines


def _commands(program: str) -> list[str]:
    return [line for line in _lines("bash") if line.split()[0] == program]


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    first_block = FENCE.search(README)
    assert first_block is not None and README.index(first_block.group(0)) < 400
    first = [line.split("#")[0].strip() for line in first_block.group(2).splitlines()]
    assert first == ["scripts/demo", "scripts/test"]
    for script in ("scripts/demo", "scripts/test", ".ci/run"):
        assert os.access(ROOT / script, os.X_OK), script
    assert "scripts/test" in (ROOT / ".ci/run").read_text()


def test_every_script_line_names_an_existing_script() -> None:
    for line in _lines("bash"):
        program = line.split()[0]
        if "/" in program:
            assert os.access(ROOT / program, os.X_OK), line


def test_install_lines_name_real_extras() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    lines = _commands("pip")
    assert lines
    for line in lines:
        spec = re.search(r"awspar\[([\w,-]+)\]", line)
        assert spec is not None, line
        assert set(spec.group(1).split(",")) <= extras, line


@pytest.fixture(scope="module")
def local_endpoints():
    """The README's own `awspar local` line, run as a user would, and the environment it prints."""
    (line,) = [c for c in _commands("awspar") if c.split()[1] == "local"]
    argv = [AWSPAR, *shlex.split(line)[1:]]
    env = {}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        assert process.stdout is not None
        for text in process.stdout:
            match = re.match(r"export (\w+)=(.*)", text.strip())
            if match:
                env[match.group(1)] = shlex.split(match.group(2))[0]
            if "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" in env and "AWS_REGION" in env:
                break
        try:
            assert env.get("AWS_ENDPOINT_URL_S3", "").startswith("http://127.0.0.1:")
            yield {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env}
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0


@pytest.mark.timeout(240)
def test_readme_commands_run_against_the_local_endpoints(local_endpoints, tmp_path: Path) -> None:
    commands = [c for c in _commands("awspar") if c.split()[1] != "local"]
    assert {c.split()[1] for c in commands} >= {"s3-get", "bedrock", "sign", "bench", "call"}
    for line in commands:
        result = subprocess.run([AWSPAR, *shlex.split(line)[1:]], cwd=tmp_path, env=local_endpoints,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"{line}\n{result.stderr[-2000:]}"
        assert result.stdout.strip() or result.stderr.strip(), line
    assert len(list((tmp_path / "data").iterdir())) == 10  # obj-000010 .. obj-000019


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(BLOCKS) if lang == "python"])
def test_readme_python_blocks_run(index: int, local_endpoints, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(BLOCKS[index][1], encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=local_endpoints,
                            capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


@pytest.mark.timeout(400)
def test_the_main_job_runs_as_scripts_demo_runs_it(tmp_path: Path) -> None:
    """scripts/demo's last line (`awspar bench --quick`) on its own local endpoints: tables, JSON, charts."""
    demo = (ROOT / "scripts/demo").read_text().strip().splitlines()[-1]
    argv = shlex.split(demo.removeprefix("exec ").replace('"$@"', ""))
    assert argv[0].endswith("/awspar") and argv[1:] == ["bench", "--quick"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([AWSPAR, *argv[1:], "--out", "out"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=380)
    assert result.returncode == 0, result.stderr[-2000:]
    for workload in ("cpu", "sleep", "s3", "bedrock"):
        assert f"{workload}:" in result.stdout
    assert (tmp_path / "out" / "bench.json").stat().st_size > 0
    assert (tmp_path / "out" / "overview.png").read_bytes().startswith(b"\x89PNG")
