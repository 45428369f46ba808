"""The sandbox CLI entry: serves a site file, prints its URL first, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

SMALL_SITE = Path(__file__).resolve().parent / "fixtures" / "site-small.yaml"
ROOT = Path(__file__).resolve().parents[2]
SERVE = "import sys; from pathlib import Path; from worker.sandbox.cli import serve; " \
        "sys.exit(serve(Path(sys.argv[1]), port=0))"


def test_serve_prints_url_first_then_summary_and_stops_on_sigterm() -> None:
    """serve() prints the base URL on line one, a summary, serves, and exits 0 on SIGTERM."""
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(SMALL_SITE)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        summary = [proc.stdout.readline().strip() for _ in range(2)]
        assert summary[0].startswith("flavor: cloud")
        assert "issues: 4" in summary[1]
        assert "pages: 1" in summary[1]
        response = requests.get(url + "/rest/api/3/myself", auth=("bot@example.com", "tok"),
                                timeout=10)
        assert response.json()["accountId"] == "712020:bot"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_reports_a_bad_site_file(tmp_path: Path) -> None:
    """An invalid site file exits 2 with the file and line on stderr."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("site:\n  flavour: cloud\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", SERVE, str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert f"{bad}:2:" in done.stderr
    assert "flavour" in done.stderr


def test_cli_serves_a_generated_site_and_saves_it(tmp_path: Path) -> None:
    """`python -m worker sandbox --generate N --seed S --write F` serves N tickets and saves F."""
    saved = tmp_path / "generated.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "sandbox", "--generate", "120", "--seed", "3",
         "--port", "0", "--write", str(saved)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        site = requests.get(url + "/_sandbox/site", timeout=10).json()
        assert len(site["issues"]) == 120
        from worker.sandbox.site import load_site

        assert len(load_site(saved).to_dict()["issues"]) == 120
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
