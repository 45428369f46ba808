"""Snapshots: a read-only copy of a site, as a site file the sandbox serves.

``python -m worker snapshot --out site.yaml [--anonymize] [--issues N]`` reads what the loaded
policies need through the cycle's own read (same requests, same permissions), and writes it in
the site-file format (``config/sandbox/site-example.yaml``). Served by
``python -m worker sandbox --site site.yaml``, it plans as the site did.
"""

from __future__ import annotations

from worker.snapshot.anonymize import Anonymizer, anonymize_site, policy_words, words_of
from worker.snapshot.take import Snapshot, dump_site, take_snapshot

__all__ = ["Anonymizer", "Snapshot", "anonymize_site", "dump_site", "policy_words", "take_snapshot",
           "words_of"]
