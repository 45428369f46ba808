"""The container image: the trimming script the Dockerfile runs (on a real package with a
compiled extension, which must still import), and the image itself, built where a container
engine answers (the test says why it skips elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import markupsafe
import pytest

from tests.deploy.kit import DOCKERFILE, ROOT, SLIM_VENV, tool

#: "well under 200 MB", as `docker images` counts (decimal megabytes)
IMAGE_BUDGET_BYTES = 200_000_000


def _debug_sections(library: Path) -> list[str]:
    readelf = tool("readelf")
    assert readelf is not None
    done = subprocess.run([readelf, "-S", "-W", str(library)], capture_output=True, text=True,
                          check=True, timeout=30)
    return [w for w in done.stdout.split() if w.startswith(".debug_")]


def test_slim_venv_trims_bytecode_tests_and_debug_symbols_and_the_package_still_imports(
    tmp_path: Path,
) -> None:
    if tool("strip") is None or tool("readelf") is None:
        pytest.skip("binutils (strip, readelf) is not installed")
    site = tmp_path / "venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
        / "site-packages"
    package = site / "markupsafe"
    shutil.copytree(Path(markupsafe.__file__).parent, package)
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("assert False\n")
    (site / "top_level_module_named_test").mkdir()  # only tests *inside* packages go
    (extension,) = package.glob(f"_speedups*{sysconfig.get_config_var('EXT_SUFFIX')}")
    # give the copy debug sections to strip (a wheel's are usually stripped already)
    objcopy = tool("objcopy")
    if objcopy is not None:
        note = tmp_path / "note.txt"
        note.write_text("debug info\n")
        subprocess.run([objcopy, "--add-section", f".debug_handoff={note}", str(extension)],
                       check=True, timeout=30)
        assert ".debug_handoff" in _debug_sections(extension)
    subprocess.run(["sh", str(SLIM_VENV), str(tmp_path / "venv")], check=True, timeout=60)
    assert not list(site.rglob("__pycache__"))
    assert not (package / "tests").exists()
    assert (site / "top_level_module_named_test").is_dir()
    assert _debug_sections(extension) == []
    probe = ("import markupsafe._speedups as s, markupsafe; "
             f"assert markupsafe.__file__.startswith({str(site)!r}); print(s._escape_inner('<b>'))")
    done = subprocess.run([sys.executable, "-S", "-B", "-c", probe], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "&lt;b&gt;"


def _engine() -> str:
    """The docker client, when a container engine answers it; else skip with the reason."""
    docker = tool("docker") or tool("podman")
    if docker is None:
        pytest.skip("no container engine client (docker, podman) on PATH")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30,
                          check=False)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no container engine answers `{Path(docker).name} info`: {reason[:160]}")
    return docker


@pytest.mark.slow
def test_the_image_builds_small_runs_as_its_user_and_validates_a_mounted_policy() -> None:
    docker = _engine()
    tag = f"handoff-guard-test:{uuid.uuid4().hex[:12]}"

    def run(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker, *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)

    built = run("build", "-t", tag, "-f", str(DOCKERFILE), str(ROOT))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    try:
        size = run("image", "inspect", "--format", "{{.Size}}", tag)
        assert int(size.stdout.strip()) < IMAGE_BUDGET_BYTES
        whoami = run("run", "--rm", "--entrypoint", "id", tag, "-u")
        assert whoami.stdout.strip() == "10001"
        validated = run("run", "--rm", "--read-only", "--tmpfs", "/tmp",
                        "-v", f"{ROOT / 'config'}:/etc/handoff-guard:ro", tag, "validate")
        assert validated.returncode == 0, validated.stdout + validated.stderr
        health = run("image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag)
        assert "/livez" in health.stdout
    finally:
        run("image", "rm", "-f", tag, timeout=120)
