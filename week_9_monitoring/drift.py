"""Has what the model sees in production drifted from what it was trained on? Reference
statistics are saved with the exported model (convert_model_to_onnx.py); drift_report.py
compares a window of prediction events with them.

Features, per event: text_chars, text_tokens, unk_share (share of the sentence's tokens the
tokenizer does not know), score (the model's confidence) and label (what it predicted).
Tests: two-sample Kolmogorov-Smirnov for the numbers, chi-square for the label counts, and the
population stability index (PSI) for all of them. A feature alerts when its shift is both
significant (p below the threshold) and large (PSI above it): with thousands of events a
p-value alone flags shifts too small to matter.
"""

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from prediction import LABELS

NUMERIC = ("text_chars", "text_tokens", "unk_share", "score")
SAMPLE = 5000  # reference values kept per feature (KS needs the sample, not a summary)
PSI_BINS = 10
EPS = 1e-4  # stands in for an empty bin's share, so that PSI stays finite


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
