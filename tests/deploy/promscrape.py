"""What a real service exports, turned into `promtool test rules` input.

A scenario is a sequence of events from real processes: a scrape of one instance's /metrics
(with the wall time it was taken) or the end of an instance. :func:`input_series` lays them on
promtool's clock, one event per minute from minute 1, and holds each instance's last values
until it stops (``stale`` then). Timestamps (``*_timestamp_seconds``) keep their *age*: a
last success scraped 3 s after it happened is 3 s old at every later step, as it is for a
service that keeps succeeding; 0 (never) stays 0."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

JOB = "handoff-guard"

#: one key per series: the sample name and its sorted labels
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class Scrape:
    """One GET /metrics of ``instance`` at ``at_s`` (Unix seconds)."""

    instance: str
    at_s: float
    text: str
    samples: dict[SeriesKey, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", parse_samples(self.text))

    def value(self, name: str, **labels: str) -> float | None:
        """The sample ``name{labels}`` (None: not exported)."""
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def names(self) -> set[str]:
        """Every metric name the text mentions (sample names and HELP/TYPE families), the
        ``*_created`` bookkeeping left out."""
        found = {name for name, _ in self.samples}
        for line in self.text.splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                found.add(line.split()[2])
        return {name for name in found if not name.endswith("_created")}


@dataclass(frozen=True, slots=True)
class Stopped:
    """``instance`` ended (its series go stale)."""

    instance: str


Event = Scrape | Stopped


def parse_samples(text: str) -> dict[SeriesKey, float]:
    """The samples of a text exposition, ``*_created`` left out (process bookkeeping)."""
    samples: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def _series_text(key: SeriesKey, instance: str) -> str:
    name, labels = key
    pairs = [*labels, ("instance", instance), ("job", JOB)]
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(int(value)) if value == int(value) else repr(value)


def input_series(events: Sequence[Event], *, minutes: int = 60) -> list[dict[str, str]]:
    """promtool ``input_series`` (1-minute steps, ``minutes`` + 1 points) from ``events``."""
    points: dict[tuple[str, SeriesKey], list[str]] = {}
    for step, event in enumerate(events, start=1):
        if isinstance(event, Stopped):
            for (instance, _key), values in points.items():
                if instance == event.instance:
                    values[step:] = ["stale"] + ["_"] * (minutes - step)
            continue
        for key, value in event.samples.items():
            values = points.setdefault((event.instance, key), ["_"] * (minutes + 1))
            for at in range(step, minutes + 1):
                values[at] = _number(_held(key, value, event, at))
    return [{"series": _series_text(key, instance), "values": " ".join(values)}
            for (instance, key), values in sorted(points.items())]


def _held(key: SeriesKey, value: float, scrape: Scrape, minute: int) -> float:
    """The value at ``minute`` of a sample scraped at its event's minute."""
    if not key[0].endswith("_timestamp_seconds") or value == 0:
        return value
    age_s = max(scrape.at_s - value, 0.0)
    return round(minute * 60 - age_s, 3)


def metric_names(scrapes: Iterable[Scrape]) -> set[str]:
    """Every metric name the scrapes mention."""
    found: set[str] = set()
    for scrape in scrapes:
        found |= scrape.names()
    return found
