"""Make the project root importable so the tests can import ``bench`` (it is run as
``python -m bench`` from the root, not installed; pytest's importlib mode adds no path)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
