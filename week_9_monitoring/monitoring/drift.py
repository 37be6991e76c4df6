"""Has what the model sees in production drifted from what it was trained on? Reference
statistics are the exported model's view of the validation sentences (reference.py);
drift_report.py compares a window of prediction events with them.

Features, per event: text_chars, text_tokens, unk_share (share of the sentence's tokens the
tokenizer does not know), score (the model's confidence) and label (what it predicted).
Tests: two-sample Kolmogorov-Smirnov for the numbers, chi-square for the label counts, and the
population stability index (PSI) for all of them. A feature alerts when its shift is both
significant (p below the threshold) and large (PSI above it): with thousands of events a
p-value alone flags shifts too small to matter.

Before the tests, the window is cleaned: events whose features are missing, null, not numbers
or out of range are left out and counted (usable()), and a request of many sentences counts as
one event (one_per_request()): the tests assume independent samples, and the sentences of one
request come from one caller, so one heavy caller could otherwise raise an alert alone.
"""

import math
import random
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from prediction import LABELS

NUMERIC = ("text_chars", "text_tokens", "unk_share", "score")
SAMPLE = 5000  # reference values kept per feature (KS needs the sample, not a summary)
PSI_BINS = 10
EPS = 1e-4  # stands in for an empty bin's share, so that PSI stays finite


# the range each feature's values must be in: what prediction_log.py can write
RANGES = {"text_chars": (0, math.inf), "text_tokens": (0, math.inf), "unk_share": (0, 1),
          "score": (0, 1)}


def flaw(event: dict, feature: str) -> str | None:
    """Why `event` cannot be judged on `feature` (missing, null, not a number, out of range)."""
    if feature not in event:
        return "missing"
    value = event[feature]
    if value is None:
        return "null"
    if feature == "label":
        return None if value in LABELS else f"not one of {'/'.join(LABELS)}"
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return "not a number"
    low, high = RANGES[feature]
    return None if low <= value <= high else f"out of range [{low:g}, {high:g}]"


@dataclass
class LeftOut:
    """Events left out for one feature: how many, why (the first reason seen), an example."""
    feature: str
    count: int = 0
    reasons: Counter = field(default_factory=Counter)
    example: str = ""

    def line(self) -> str:
        why = ", ".join(f"{reason}: {n}" for reason, n in self.reasons.most_common())
        return (f"{self.feature}: {self.count} event{'s' * (self.count != 1)} left out "
                f"({why}; e.g. event {self.example})")


def usable(events: list[dict]) -> tuple[list[dict], list[LeftOut]]:
    """The events that can be judged on every feature, and per feature those that cannot."""
    kept, left_out = [], {}
    for event in events:
        flaws = {f: why for f in (*NUMERIC, "label") if (why := flaw(event, f))}
        if not flaws:
            kept.append(event)
        for feature, why in flaws.items():
            entry = left_out.setdefault(feature, LeftOut(feature))
            entry.count += 1
            entry.reasons[why] += 1
            entry.example = entry.example or str(event.get("event_id", "without an id"))
    return kept, [left_out[f] for f in (*NUMERIC, "label") if f in left_out]


def request_of(event: dict) -> str:
    """The request an event belongs to: its event_id without the sentence's position."""
    return str(event.get("event_id", "")).rpartition("-")[0] or str(event.get("event_id"))


def one_per_request(events: list[dict]) -> list[dict]:
    """One event of each request (a random one, the same on every run), in the window's order."""
    requests: dict[str, list[dict]] = {}
    for event in events:
        requests.setdefault(request_of(event), []).append(event)
    chosen = {id(random.Random(key).choice(group)) for key, group in requests.items()}
    return [event for event in events if id(event) in chosen]


def reference_stats(events: list[dict], train_labels: list[int], seed: int = 0) -> dict:
    """The reference: `events` are prediction events for the validation sentences (what the
    model says on data like its training data), `train_labels` the training set's labels."""
    rng = np.random.default_rng(seed)
    reference = {"events": len(events), "numeric": {}}
    for feature in NUMERIC:
        values = np.array([e[feature] for e in events], dtype=float)
        if len(values) > SAMPLE:
            values = rng.choice(values, SAMPLE, replace=False)
        reference["numeric"][feature] = sorted(values.round(6).tolist())
    predicted = Counter(e["label"] for e in events)
    reference["label"] = {label: predicted[label] for label in LABELS}
    trained = Counter(train_labels)
    reference["train_label"] = {label: trained[i] for i, label in enumerate(LABELS)}
    return reference


@dataclass
class FeatureDrift:
    feature: str
    test: str        # ks or chi2
    statistic: float
    p_value: float
    psi: float
    alert: bool

    def line(self) -> str:
        return (f"{self.feature}: {self.test} p={self.p_value:.2g}, PSI={self.psi:.3f}"
                f"{'  DRIFT' if self.alert else ''}")

    def as_dict(self) -> dict:
        return asdict(self)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors (same bins)."""
    e, a = np.clip(expected, EPS, None), np.clip(actual, EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI over bins cut at the reference's deciles (fewer cuts where values repeat, as
    counts do; a reference of zeros gets two bins: zero, and above)."""
    cuts = np.unique(np.quantile(reference, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(cuts, values), minlength=len(cuts) + 1) / len(values)

    return psi(shares(reference), shares(current))


def compare(reference: dict, events: list[dict], p_value: float, psi_limit: float
            ) -> list[FeatureDrift]:
    """One result per feature: this window of events against the reference."""
    results = []
    for feature in NUMERIC:
        ref = np.array(reference["numeric"][feature], dtype=float)
        cur = np.array([e[feature] for e in events], dtype=float)
        ks = stats.ks_2samp(ref, cur)
        shift = numeric_psi(ref, cur)
        results.append(FeatureDrift(feature, "ks", float(ks.statistic), float(ks.pvalue), shift,
                                    bool(ks.pvalue < p_value and shift > psi_limit)))
    ref_counts = np.array([reference["label"][label] for label in LABELS], dtype=float)
    seen = Counter(e["label"] for e in events)
    cur_counts = np.array([seen[label] for label in LABELS], dtype=float)
    chi2, p, _, _ = stats.chi2_contingency(np.stack([ref_counts, cur_counts]) + 0.5)
    shift = psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    results.append(FeatureDrift("label", "chi2", float(chi2), float(p), shift,
                                bool(p < p_value and shift > psi_limit)))
    return results
