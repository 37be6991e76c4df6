"""drift.py's statistics and cleaning on their own, with made-up numbers (no model): PSI and
the KS/chi-square verdicts, which values are left out and why, one event per request. Quick to
run, so they are what `make mutants` runs against drift.py."""

import numpy as np
import pytest

from monitoring.drift import compare, flaw, numeric_psi, one_per_request, usable


def test_the_statistics_separate_shifted_from_resampled_data() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(50, 10, 2000)
    assert numeric_psi(base, base) == pytest.approx(0, abs=1e-9)
    assert numeric_psi(base, rng.normal(50, 10, 500)) < 0.1
    assert numeric_psi(base, rng.normal(65, 10, 500)) > 0.5
    reference = {"numeric": {f: base.tolist() for f in
                             ("text_chars", "text_tokens", "unk_share", "score")},
                 "label": {"unacceptable": 300, "acceptable": 700}}

    def events(shift: float, unacceptable: float) -> list[dict]:
        values = rng.normal(50 + shift, 10, 400)
        return [{"text_chars": v, "text_tokens": v, "unk_share": v, "score": v,
                 "label": "unacceptable" if rng.random() < unacceptable else "acceptable"}
                for v in values]

    assert not any(r.alert for r in compare(reference, events(0, 0.3), 0.01, 0.2))
    shifted = {r.feature: r.alert for r in compare(reference, events(15, 0.7), 0.01, 0.2)}
    assert shifted == dict.fromkeys(["text_chars", "text_tokens", "unk_share", "score",
                                     "label"], True)


@pytest.mark.parametrize("value, why", [
    (None, "null"), ("0.9", "not a number"), (True, "not a number"), (float("nan"), "not a number"),
    (-0.01, "out of range [0, 1]"), (1.01, "out of range [0, 1]"), (0, None), (1, None),
    (0.5, None)])
def test_each_kind_of_bad_value_is_told_apart(value: object, why: str | None) -> None:
    assert flaw({"score": value}, "score") == why
    assert flaw({"unk_share": value}, "unk_share") == why
    assert flaw({}, "score") == "missing"
    assert flaw({"text_chars": -1}, "text_chars") == "out of range [0, inf]"
    assert flaw({"text_chars": 10**9}, "text_chars") is None
    assert flaw({"label": "acceptable"}, "label") is None
    assert flaw({"label": "maybe"}, "label") == "not one of unacceptable/acceptable"


def test_one_event_is_kept_per_request_and_not_always_the_first() -> None:
    events = [{"event_id": f"req{r}-{i}", "n": r} for r in range(40) for i in range(r % 5 + 1)]
    kept = one_per_request(events)
    assert [e["n"] for e in kept] == list(range(40))
    assert one_per_request(events) == kept  # the same on every run
    positions = {e["event_id"].rsplit("-", 1)[1] for e in kept}
    assert len(positions) > 2
    assert one_per_request([{"event_id": "a-b-0"}, {"event_id": "a-b-1"},
                            {"event_id": "a-c-0"}]) != [{"event_id": "a-b-0"}] * 2
    assert len(one_per_request([{"event_id": "a-b-0"}, {"event_id": "a-b-1"},
                                {"event_id": "a-c-0"}])) == 2


def test_usable_keeps_the_clean_events_and_counts_the_others_per_feature() -> None:
    clean = {"event_id": "a-0", "text_chars": 10, "text_tokens": 3, "unk_share": 0.0,
             "score": 0.9, "label": "acceptable"}
    events = [clean, {**clean, "event_id": "b-0", "score": None, "unk_share": 2},
              {**clean, "event_id": "c-0", "score": "x"}, {**clean, "event_id": "d-0"}]
    del events[3]["label"]
    kept, left_out = usable(events)
    assert kept == [clean]
    assert [(e.feature, e.count, dict(e.reasons), e.example) for e in left_out] == [
        ("unk_share", 1, {"out of range [0, 1]": 1}, "b-0"),
        ("score", 2, {"null": 1, "not a number": 1}, "b-0"),
        ("label", 1, {"missing": 1}, "d-0")]
    assert [e.line() for e in left_out] == [
        "unk_share: 1 event left out (out of range [0, 1]: 1; e.g. event b-0)",
        "score: 2 events left out (null: 1, not a number: 1; e.g. event b-0)",
        "label: 1 event left out (missing: 1; e.g. event d-0)"]
    assert usable([{"score": None}])[1][0].example == "without an id"
    (twice,) = [e for e in usable([{**clean, "score": None}, {**clean, "score": None}])[1]]
    assert twice.reasons == {"null": 2} and twice.line().startswith("score: 2 events left out")
    assert usable([]) == ([], [])


def test_compare_reports_each_test_as_scipy_computes_it() -> None:
    from scipy import stats

    from monitoring.drift import psi

    rng = np.random.default_rng(1)
    base = np.round(rng.normal(50, 10, 1000), 3)
    reference = {"numeric": {f: base.tolist() for f in
                             ("text_chars", "text_tokens", "unk_share", "score")},
                 "label": {"unacceptable": 300, "acceptable": 700}}
    values = np.round(rng.normal(53, 10, 300), 3)
    events = [{"text_chars": v, "text_tokens": v, "unk_share": v, "score": v,
               "label": "unacceptable" if i % 4 == 0 else "acceptable"}
              for i, v in enumerate(values)]
    results = compare(reference, events, p_value=0.01, psi_limit=0.2)
    ks = stats.ks_2samp(base, values)
    for result in results[:4]:
        assert (result.test, result.statistic, result.p_value) == ("ks", ks.statistic, ks.pvalue)
        assert result.psi == numeric_psi(base, values)
    label = results[4]
    counts = np.array([[300, 700], [75, 225]]) + 0.5
    chi2, p, _, _ = stats.chi2_contingency(counts)
    assert (label.feature, label.test, label.statistic, label.p_value) == ("label", "chi2", chi2, p)
    assert label.psi == psi(np.array([0.3, 0.7]), np.array([0.25, 0.75]))
    assert [r.feature for r in results] == ["text_chars", "text_tokens", "unk_share", "score",
                                            "label"]


@pytest.mark.parametrize("p_limit, psi_limit, alert", [
    (0.5, 0.01, True),     # both passed
    (0.5, 10.0, False),    # significant, too small
    (1e-300, 0.01, False),  # large enough, not significant
])
def test_a_feature_alerts_only_when_both_limits_are_passed(p_limit: float, psi_limit: float,
                                                          alert: bool) -> None:
    base = np.linspace(0, 1, 500)
    reference = {"numeric": {f: base.tolist() for f in
                             ("text_chars", "text_tokens", "unk_share", "score")},
                 "label": {"unacceptable": 50, "acceptable": 50}}
    events = [{"text_chars": v, "text_tokens": v, "unk_share": v, "score": v,
               "label": ("acceptable", "unacceptable")[i % 10 == 0]}
              for i, v in enumerate(np.linspace(0.2, 1, 200))]
    assert {r.feature: r.alert for r in compare(reference, events, p_limit, psi_limit)} == \
        dict.fromkeys(["text_chars", "text_tokens", "unk_share", "score", "label"], alert)


def test_psi_uses_the_reference_deciles_and_keeps_empty_bins_finite() -> None:
    from monitoring.drift import EPS, psi

    reference = np.arange(1000, dtype=float)
    first_decile = np.arange(100, dtype=float)
    expected = np.full(10, 0.1)
    actual = np.array([1.0] + [EPS] * 9)
    assert numeric_psi(reference, first_decile) == pytest.approx(
        float(np.sum((actual - expected) * np.log(actual / expected))))
    assert psi(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(
        (1 - 0.5) * np.log(1 / 0.5) + (EPS - 0.5) * np.log(EPS / 0.5))
    assert numeric_psi(np.zeros(100), np.zeros(10)) == 0  # a reference of zeros: two bins
    assert numeric_psi(np.zeros(100), np.ones(10)) > 5


def test_the_reference_keeps_a_seeded_sample_and_the_label_counts() -> None:
    from monitoring.drift import SAMPLE, reference_stats

    events = [{"text_chars": 10 + i, "text_tokens": 3 + i % 4, "unk_share": i / 1e7,
               "score": 0.5 + i / 2e4, "label": ("acceptable", "unacceptable")[i % 3 == 0]}
              for i in range(SAMPLE + 1000)]
    reference = reference_stats(events, [0, 1, 1, 1], seed=3)
    assert reference["events"] == SAMPLE + 1000
    assert reference["label"] == {"unacceptable": 2000, "acceptable": 4000}
    assert reference["train_label"] == {"unacceptable": 1, "acceptable": 3}
    for feature in ("text_chars", "text_tokens", "unk_share", "score"):
        kept = reference["numeric"][feature]
        assert len(kept) == SAMPLE and kept == sorted(kept)
        assert set(kept) <= {round(float(e[feature]), 6) for e in events}
    assert len(set(reference["numeric"]["text_chars"])) == SAMPLE  # drawn without replacement
    assert reference == reference_stats(events, [0, 1, 1, 1], seed=3)
    assert reference["numeric"]["text_chars"] != reference_stats(events, [0], seed=4)[
        "numeric"]["text_chars"]
    small = reference_stats(events[:3], [])
    assert small["numeric"]["score"] == [0.5, 0.50005, 0.5001]
    assert small["numeric"]["unk_share"] == [0.0, 0.0, 0.0]  # rounded to 6 digits


def test_a_result_reads_as_one_line_and_a_document() -> None:
    from monitoring.drift import FeatureDrift

    result = FeatureDrift("score", "ks", 0.31, 0.00042, 0.2345, True)
    assert result.line() == "score: ks p=0.00042, PSI=0.234  DRIFT"
    assert FeatureDrift("label", "chi2", 1.0, 0.5, 0.01, False).line() == \
        "label: chi2 p=0.5, PSI=0.010"
    assert result.as_dict() == {"feature": "score", "test": "ks", "statistic": 0.31,
                                "p_value": 0.00042, "psi": 0.2345, "alert": True}


def test_the_request_of_an_event_is_its_id_without_the_position() -> None:
    from monitoring.drift import request_of

    assert request_of({"event_id": "9f1c-3"}) == "9f1c"
    assert request_of({"event_id": "a-b-12"}) == "a-b"
    assert request_of({"event_id": "plain"}) == "plain"
    assert request_of({}) == "None"
