"""Reproducible builds: the lock files pin every runtime and test dependency with hashes and
agree with pyproject.toml's ranges; `make install`, CI and the image install from them (the
package itself with --no-deps); `python -m build` makes a wheel and an sdist that carry the
migrations, the shipped policy file, its templates and the demo site; and the wheel, installed
into a clean virtual environment from the runtime lock, runs `validate` and `demo` outside
the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.kit import DOCKERFILE, ROOT

LOCKS = ROOT / "requirements"
#: lock file -> the extras of pyproject.toml it pins (with the runtime dependencies)
LOCKED = {"runtime.txt": (), "chart.txt": ("chart",), "dev.txt": ("test", "bench", "chart", "docs")}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+?)"
                 r"(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def entries(lock: str) -> list[tuple[str, str, str | None]]:
    """(name, version, marker) of each requirement of a lock file, every one pinned with
    ``==`` and hashed (a universal lock may pin two versions under exclusive markers)."""
    text = (LOCKS / lock).read_text("utf-8")
    found = []
    # a requirement is its first line and the hash lines continued after it
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.splitlines()[0].strip()
        if not first or first.startswith(("#", "-")):
            continue
        match = PIN.match(first)
        assert match is not None, f"{lock}: not pinned with ==: {first!r}"
        assert "--hash=sha256:" in block, f"{lock}: {first} has no hash"
        found.append((canonicalize_name(match.group("name")), match.group("version"),
                      match.group("marker")))
    return found


def pins(lock: str) -> dict[str, str]:
    """name -> the version a lock installs here (markers evaluated for this Python)."""
    return {name: version for name, version, marker in entries(lock)
            if marker is None or Marker(marker).evaluate()}


def _declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        declared += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return declared


@pytest.mark.parametrize("lock", sorted(LOCKED))
def test_each_lock_pins_what_pyproject_asks_within_its_ranges(lock: str) -> None:
    """Every dependency (and extra) pyproject.toml declares is pinned, inside its range: a
    range changed without `make lock` fails here."""
    pinned: dict[str, list[str]] = {}
    for name, version, _marker in entries(lock):
        pinned.setdefault(name, []).append(version)
    for requirement in _declared(LOCKED[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock}: {requirement} is not locked (run `make lock`)"
        for version in pinned[name]:
            assert requirement.specifier.contains(version, prereleases=True), \
                f"{lock}: {name}=={version} is outside {requirement} (run `make lock`)"


def test_the_locks_agree_with_each_other() -> None:
    """One version of each package whichever lock installs it (the image and the tests run
    the same code)."""
    dev = set(entries("dev.txt"))
    for lock in ("runtime.txt", "chart.txt"):
        differ = set(entries(lock)) - dev
        assert differ == set(), f"{lock} pins what dev.txt does not: {sorted(differ)}"


def test_this_environment_was_installed_from_the_lock() -> None:
    """What `make install` put in .venv is the dev lock, version for version."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in pins("dev.txt").items()
             if name in installed and installed[name] != version}
    assert wrong == {}, f"installed versions differ from requirements/dev.txt: {wrong}"


def test_make_ci_and_the_image_install_from_the_locks() -> None:
    """`make install` and the Dockerfile install the lock with --require-hashes, then the
    package with --no-deps (nothing resolved anew); `make lock` refreshes the locks."""
    def planned(target: str) -> str:
        """What `make TARGET` would run, variables expanded (dry run, as if out of date)."""
        done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=True)
        return done.stdout

    install = planned("install")
    assert "pip install --quiet --require-hashes -r requirements/dev.txt" in install
    assert re.search(r"pip install .*--no-deps -e \.", install)
    lock = planned("lock")
    for name in LOCKED:
        assert re.search(rf"uv pip compile pyproject.toml .*--generate-hashes.* -o "
                         rf"requirements/{name}", lock), name
    dockerfile = DOCKERFILE.read_text("utf-8")
    assert "--require-hashes" in dockerfile
    assert "requirements/${LOCK}.txt" in dockerfile or "requirements/runtime.txt" in dockerfile
    assert "--no-deps" in dockerfile


def _build(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "dist"
    # no --sdist/--wheel: the sdist first, then the wheel built from the unpacked sdist (so the
    # sdist is proven complete, and no build/ folder left in the checkout can leak stale code)
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


#: what the package needs at run time besides its modules (paths in the wheel)
CARRIED = [
    "worker/py.typed",
    "worker/state/migrations/env.py",
    "worker/state/migrations/script.py.mako",
    "worker/state/migrations/versions/r0001_initial.py",
]
SHARED = ["policies.yaml", "handoff-guard.env.example", "sandbox/demo-site.yaml"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # a build, a venv from the runtime lock (a minute), the demo
def test_the_wheel_installed_in_a_clean_venv_runs_validate_and_demo(tmp_path: Path) -> None:
    """Build, check what the wheel and the sdist carry, install the wheel into a fresh
    virtual environment (the runtime lock, then the wheel with --no-deps) and run `validate`
    on the policy file it ships and `demo`, from a folder outside the checkout."""
    wheel, sdist = _build(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"handoff_guard-{pyproject()['project']['version']}.data/data/share/handoff-guard/"
    missing = [p for p in CARRIED if p not in names]
    missing += [data + p for p in SHARED if data + p not in names]
    templates = sorted((ROOT / "config" / "templates").glob("*.j2"))
    missing += [data + "templates/" + t.name for t in templates
                if data + "templates/" + t.name not in names]
    versions = sorted(p.name for p in (ROOT / "worker/state/migrations/versions").glob("r*.py"))
    missing += [f"worker/state/migrations/versions/{v}" for v in versions
                if f"worker/state/migrations/versions/{v}" not in names]
    assert missing == [], f"not in the wheel: {missing}"
    with tarfile.open(sdist) as archive:
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for path in ["pyproject.toml", "config/policies.yaml", "requirements/runtime.txt",
                 *(p for p in CARRIED)]:
        assert path in inside, f"not in the sdist: {path}"

    venv = tmp_path / "clean"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    for args in (["--require-hashes", "-r", str(LOCKS / "runtime.txt")],
                 ["--no-deps", str(wheel)]):
        done = subprocess.run(pip + args, capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "HANDOFF_GUARD_LOG_FORMAT": "json"}
    shipped = venv / "share" / "handoff-guard" / "policies.yaml"
    command = str(venv / "bin" / "handoff-guard")
    validate = subprocess.run([command, "validate", str(shipped)], cwd=outside, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert f"{shipped}: OK" in validate.stdout
    demo = subprocess.run([command, "demo"], cwd=outside, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "ACME-1" in demo.stdout
    # the code that ran is the wheel's, not this checkout's
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import worker, sys; print(worker.__file__)"], cwd=outside,
                           env=env, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.strip().startswith(str(venv))
    assert os.path.commonpath([where.stdout.strip(), str(ROOT)]) != str(ROOT)
