"""The standings of a study's models on the shared test rows: planted differences separated, equal
models grouped, seeds' spread counted, and no claim made from a zero seed variance."""

from __future__ import annotations

import numpy as np
import pytest
from study_helpers import study_with

from automl.evaluation.comparison import (
    BEHIND,
    CLEARLY_BEHIND,
    GROUP,
    LEADER,
    UNDER_EXPLORED,
    Comparison,
    compare,
)
from automl.evaluation.significance import delong


def logits(labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return 2.0 * (labels - 0.5) + rng.normal(0, noise, len(labels))


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return (rng.random(3000) < 0.3).astype(float), rng


def by_model(comparison: Comparison) -> dict:
    return {s.model: s for s in comparison.standings}


def test_a_truly_better_model_leads_alone_and_equal_ones_share_the_group(rows):
    labels, rng = rows
    runs = {"good": [logits(labels, 1.0, rng)], "twin": [logits(labels, 1.0, rng)],
            "poor": [logits(labels, 2.5, rng)], "noise": [rng.normal(0, 1, len(labels))]}
    result = compare("ctr", "auc", labels, runs, {m: i for i, m in enumerate(runs)}, leader="good")
    found = by_model(result)
    assert found["good"].standing == LEADER and found["twin"].standing == GROUP
    assert found["poor"].standing in (BEHIND, CLEARLY_BEHIND) and found["noise"].standing == CLEARLY_BEHIND
    assert set(found["good"].better_than) == {"poor", "noise"} and "good" not in found["twin"].better_than
    assert found["twin"].p_vs_leader > 0.05 and found["poor"].p_vs_leader < 0.05 and found["good"].p_vs_leader is None
    aucs, cov = delong(np.vstack([runs["good"][0]]), labels)
    low, high = found["good"].interval["auc"]
    assert found["good"].test["auc"] == pytest.approx(aucs[0]) and low < aucs[0] < high
    assert high - low == pytest.approx(2 * 1.959964 * np.sqrt(cov[0, 0]), rel=1e-4)
    assert {"auc", "logloss"} <= set(found["poor"].interval) and result.rows == len(labels)
    assert 0 < result.detectable < 0.1 and result.standings[0].standing == LEADER
    assert Comparison.from_dict(result.to_dict()) == result


def test_a_deterministic_model_is_not_declared_different_for_lack_of_seed_variance(rows):
    """GBDT-like: three identical runs (seed spread exactly 0) against a leader with seed noise and the
    same quality: the rows' variance remains, so no claim."""
    labels, rng = rows
    base = logits(labels, 1.0, rng)
    deterministic = [base.copy(), base.copy(), base.copy()]
    lead_base = logits(labels, 1.0, rng)
    leader = [lead_base + rng.normal(0, 0.1, len(labels)) for _ in range(3)]
    found = by_model(compare("ctr", "auc", labels, {"lead": leader, "trees": deterministic},
                             {"lead": 0, "trees": 1}, leader="lead"))
    assert found["trees"].standing == GROUP and found["trees"].seeds == 3


def test_the_spread_over_seeds_widens_the_test(rows):
    """A small gap on the rows is separated with one seed each, not once the seeds disagree widely."""
    labels, rng = rows
    shared = logits(labels, 1.2, rng)
    lead = [shared + rng.normal(0, 0.05, len(labels))]
    close = [shared + rng.normal(0, 0.05, len(labels)) - 0.6 * (labels - 0.5)]      # a little worse
    alone = by_model(compare("ctr", "auc", labels, {"lead": lead, "close": close}, {"lead": 0, "close": 1}, "lead"))
    assert alone["close"].standing in (BEHIND, CLEARLY_BEHIND)
    wild = [close[0] + s * (labels - 0.5) for s in (-3.0, 0.0, 3.0)]             # seeds that disagree widely
    spread = by_model(compare("ctr", "auc", labels, {"lead": lead, "close": wild}, {"lead": 0, "close": 1}, "lead"))
    assert spread["close"].standing == GROUP


def test_a_model_with_too_few_trials_is_under_explored_not_behind(rows):
    labels, rng = rows
    runs = {"good": [logits(labels, 1.0, rng)], "capped": [rng.normal(0, 1, len(labels))]}
    found = by_model(compare("ctr", "auc", labels, runs, {"good": 0, "capped": 1}, "good", under_explored={"capped": "cut"}))
    assert found["capped"].standing == UNDER_EXPLORED and found["good"].better_than == [] == found["capped"].better_than


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_ratings_are_compared_by_their_per_row_errors(metric):
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, 2000).astype(float)
    runs = {"close": [truth + rng.normal(0, 0.5, 2000)], "far": [truth + rng.normal(0, 1.5, 2000)],
            "twin": [truth + rng.normal(0, 0.5, 2000)]}
    found = by_model(compare("rating", metric, truth, runs, {"close": 0, "far": 1, "twin": 2}, "close"))
    assert found["far"].standing == CLEARLY_BEHIND and found["twin"].standing == GROUP
    error = runs["close"][0] - truth
    expected = np.sqrt(np.mean(error ** 2)) if metric == "rmse" else np.mean(np.abs(error))
    low, high = found["close"].interval[metric]
    assert found["close"].test[metric] == pytest.approx(expected) and low < expected < high


def test_a_model_whose_figures_cannot_be_judged_is_under_explored(store):
    from automl.search.verdicts import under_explored
    from automl.training.loop import TIME_CAP_NOTE, TIME_LIMIT_NOTE

    capped, limited = {TIME_CAP_NOTE: 1}, {TIME_LIMIT_NOTE: 2}
    study = study_with(store, [("lr", 0.70, {}), ("lr", 0.72, {}), ("lr", 0.71, {}), ("lr", 0.69, {}),
                               ("fm", 0.70, {}), ("fm", 0.73, capped), ("fm", 0.72, {}),
                               ("gbdt", 0.75, {}), ("gbdt", 0.74, {}),
                               ("deepfm", 0.70, {}), ("deepfm", 0.71, {}), ("deepfm", 0.73, {}),
                               ("nfm", 0.69, {}), ("nfm", 0.74, limited), ("nfm", 0.72, {}), ("nfm", 0.70, capped),
                               ("afm", 0.72, {}), ("afm", 0.55, {}), ("afm", 0.71, {})])
    # fm and nfm: the best cut by the clock; gbdt: two trials; deepfm: its best on its last of 3 while others had 4;
    # afm: its 3 trials span 0.17, the models' bests 0.03
    found = under_explored(store, study)
    assert set(found) == {"fm", "nfm", "gbdt", "deepfm", "afm"}
    assert found["afm"].startswith("its 3 trials disagree widely (auc 0.5500 to 0.7200")
    assert found["gbdt"] == "2 completed trials of the fair minimum of 3" and "time cap" in found["fm"]
    assert "time limit" in found["nfm"] and "still improving" in found["deepfm"]


def test_a_best_that_rests_on_one_lucky_configuration_is_under_explored(store):
    """xdeepfm-like: its first trial gave test AUC 0.59, one of its three others 0.83 and two 0.45/0.50, so a
    search of its size often misses the 0.83; the others' trials agree. Given the compared metric, it is
    under-explored with that reason (and so ``verdicts.refresh`` leads with the best model judged)."""
    import json

    from automl.search.verdicts import under_explored
    from storage.tables import TrialResultRow

    trials = [("xdeepfm", 0.60, 0.59), ("xdeepfm", 0.84, 0.83), ("xdeepfm", 0.46, 0.45), ("xdeepfm", 0.51, 0.50),
              ("fm", 0.79, 0.78), ("fm", 0.78, 0.78), ("fm", 0.77, 0.77),
              ("lr", 0.70, 0.69), ("lr", 0.70, 0.70), ("lr", 0.69, 0.69),
              ("dcnv2", 0.80, 0.80), ("dcnv2", 0.79, 0.79), ("dcnv2", 0.79, 0.80)]
    study = study_with(store, [(m, v, {}) for m, v, _ in trials])
    for number, (model, val, test) in enumerate(trials):
        row = store.result(study.id, number)
        row.test_json = json.dumps({"auc": test})
        store.save_result(TrialResultRow(**{c: getattr(row, c) for c in ("study_id", "trial_number", "model", "state",
                                                                        "params_json", "val_json", "test_json",
                                                                        "extra_json", "train_seconds")}))
    assert under_explored(store, study) == {}                          # the trials' own rules: none applies
    found = under_explored(store, study, "auc")
    assert set(found) == {"xdeepfm"} and found["xdeepfm"].startswith("its best rests on one lucky configuration")


def test_only_the_models_in_contention_get_more_seeds(store):
    """Racing: a model the verdict puts behind the leader gets no further budget; without a verdict
    (an implicit study) the top models do."""
    import json

    from automl.evaluation.comparison import Standing
    from automl.search.reseed import contenders

    study = study_with(store, [("lr", 0.70, {}), ("fm", 0.72, {}), ("gbdt", 0.74, {}), ("deepfm", 0.73, {})])
    assert [r.model for r in contenders(store, study, None)] == ["gbdt", "deepfm", "fm"]     # no verdict: top 3
    standings = [Standing("gbdt", 2, 1, {}, {}, LEADER), Standing("deepfm", 3, 1, {}, {}, GROUP),
                 Standing("fm", 1, 1, {}, {}, BEHIND), Standing("lr", 0, 1, {}, {}, CLEARLY_BEHIND)]
    store.save_verdict(study.id, json.dumps(Comparison("auc", "", 40, 0.05, 0.1, standings).to_dict()))
    assert [r.model for r in contenders(store, study, None)] == ["gbdt", "deepfm"]
    assert [r.model for r in contenders(store, study, 1)] == ["gbdt"]              # --top asks for the best N


def test_the_verdict_in_words_is_made_of_the_stored_numbers():
    from automl.evaluation.comparison import Standing
    from automl.reporting.verdict import verdict_sentences

    def comparison(deepfm_standing: str, leader_auc: float) -> Comparison:
        return Comparison("auc", "DeLong's paired test", 4000, 0.05, 0.012, [
            Standing("gbdt", 4, 3, {"auc": leader_auc}, {"auc": [leader_auc - 0.01, leader_auc + 0.01]}, LEADER),
            Standing("deepfm", 7, 3, {"auc": 0.7651}, {"auc": [0.7551, 0.7751]}, deepfm_standing, 0.21),
            Standing("lr", 2, 1, {"auc": 0.7012}, {"auc": [0.6912, 0.7112]}, CLEARLY_BEHIND, 1e-6),
            Standing("xdeepfm", 9, 1, {"auc": 0.6990}, {"auc": [0.6890, 0.7090]}, UNDER_EXPLORED, 0.001)])

    trials = {"xdeepfm": (3, 3)}
    grouped = " ".join(verdict_sentences(comparison(GROUP, 0.7712), trials))
    assert grouped.startswith("No single winner: gbdt") and "cannot tell it apart from deepfm" in grouped
    assert "gbdt 0.7712 [0.7612, 0.7812]" in grouped and "deepfm 0.7651 [0.7551, 0.7751]" in grouped
    assert "lr 0.7012 [0.6912, 0.7112] (p = 1e-06): clearly behind" in grouped
    assert "xdeepfm: 3 completed trials, all cut at the time cap; not judged" in grouped
    assert "4,000 shared test rows" in grouped and "intervals on the test rows are apart" not in grouped
    far = comparison(GROUP, 0.7900)                     # deepfm's interval ends below gbdt's: kept by the spreads
    far.standings[0].search_sd, far.standings[1].search_sd = 0.004, 0.011
    sentence = verdict_sentences(far, trials)[1]
    assert sentence.startswith("deepfm and gbdt: their intervals on the test rows are apart")
    assert "search spread gbdt ±0.0040, deepfm ±0.0110" in sentence
    changed = " ".join(verdict_sentences(comparison(BEHIND, 0.7800), trials))
    assert changed.startswith("gbdt wins") and "test auc 0.7800 [0.7700, 0.7900]" in changed
    assert "deepfm 0.7651 [0.7551, 0.7751] (p = 0.21): behind the leader" in changed and "0.7712" not in changed
    short = "2 completed trials of the fair minimum of 3: the study's time ran out first"
    nobody = Comparison("auc", "DeLong's paired test", 4000, 0.05, 0.012, [
        Standing("lr", 8, 1, {"auc": 0.80}, {"auc": [0.79, 0.81]}, LEADER, why=short),
        Standing("fm", 7, 1, {"auc": 0.79}, {"auc": [0.78, 0.80]}, UNDER_EXPLORED, 0.3, why=short)])
    first, *rest = verdict_sentences(nobody, {})
    assert first.startswith("No model reached a fair budget, so there is no verdict yet: lr is the best on validation "
                            f"(under-explored too: {short}), test auc 0.8000 [0.7900, 0.8100]")
    assert "only model judged" not in first and rest == [f"fm: {short}; not judged (under-explored)."]


def test_racing_gives_no_more_trials_to_a_model_clearly_behind_and_keeps_the_leader_group():
    from automl.search.allocation import next_model, standings

    models = ["a", "b", "c", "d"]
    given, best = dict.fromkeys(models, 3), {"a": 0.80, "b": 0.79, "c": 0.70, "d": 0.60}
    halved = {s.model: s.dropped for s in standings(models, given, best, maximize=True)}
    assert halved == {"a": False, "b": False, "c": True, "d": True}              # the better half by validation
    verdict = {"a": LEADER, "b": CLEARLY_BEHIND, "c": GROUP, "d": BEHIND}
    raced = {s.model: s.dropped for s in standings(models, given, best, maximize=True, verdict=verdict)}
    assert raced == {"a": False, "b": True, "c": False, "d": True}
    chosen = {next_model(models, {**given, "a": 3 + n}, best, maximize=True, verdict=verdict) for n in range(3)}
    assert "b" not in chosen and chosen <= {"a", "c"}


def test_gauc_is_compared_user_by_user_by_hand():
    from automl.evaluation.comparison import figures, paired
    from automl.evaluation.metrics import gauc, per_user_auc

    labels = np.array([1, 0, 1, 0, 0], float)
    users = np.array([7, 7, 9, 9, 9])
    a, b = np.array([0.9, 0.1, 0.8, 0.2, 0.1]), np.array([0.1, 0.9, 0.5, 0.6, 0.1])
    assert [list(x) for x in per_user_auc(labels, b, users)] == [[0.0, 0.5], [2.0, 3.0]]
    values, _, row_cov = figures("ctr", "gauc", labels, {"a": a, "b": b}, users)
    assert values == pytest.approx({"a": 1.0, "b": 0.3}) and values["b"] == pytest.approx(gauc(labels, b, users))
    assert row_cov("a", "b") == pytest.approx((4 * 0.3 ** 2 + 9 * 0.2 ** 2) / 25)     # Σ w²(d − d̄)² / (Σ w)²
    assert paired("ctr", "gauc", labels, a, a.copy(), users) == {"test": 1.0, "difference": 0.0, "p": 1.0}


def test_a_model_better_for_every_user_is_separated_on_gauc(rows):
    labels, rng = rows
    users = rng.integers(0, 300, len(labels))
    runs = {"good": [logits(labels, 1.0, rng)], "poor": [logits(labels, 3.0, rng)], "twin": [logits(labels, 1.0, rng)]}
    found = by_model(compare("ctr", "gauc", labels, runs, {"good": 0, "poor": 1, "twin": 2}, "good", users=users))
    assert found["poor"].standing in (BEHIND, CLEARLY_BEHIND) and found["twin"].standing == GROUP
    assert {"auc", "logloss", "gauc"} == set(found["good"].interval)


def test_models_run_once_borrow_the_pooled_seed_spread(rows):
    """Two single-run models whose small gap the rows alone would separate are not told apart once the
    study's reseeded models show that a change of seed moves AUC by more than that gap."""
    labels, rng = rows
    shared = logits(labels, 1.2, rng)
    a = [shared + rng.normal(0, 0.05, len(labels))]
    b = [shared + rng.normal(0, 0.05, len(labels)) - 0.6 * (labels - 0.5)]
    leader = [logits(labels, 0.5, rng)]
    alone = by_model(compare("ctr", "auc", labels, {"lead": leader, "a": a, "b": b}, {"lead": 0, "a": 1, "b": 2},
                             "lead"))
    assert "b" in alone["a"].better_than
    noisy = [logits(labels, 0.5, rng) + s * (labels - 0.5) for s in (-3.0, 0.0, 3.0)]    # the leader, reseeded
    pooled = by_model(compare("ctr", "auc", labels, {"lead": noisy, "a": a, "b": b}, {"lead": 0, "a": 1, "b": 2},
                              "lead"))
    assert "b" not in pooled["a"].better_than


def test_top_k_metrics_are_compared_user_by_user_by_hand():
    """Implicit outputs are ranks, one held-out item per user: the paired test reads the per-user gains; seeds
    average the gains (a mean of ranks is no rank)."""
    from automl.evaluation.comparison import figures, paired, seed_average

    a, b = np.array([1.0, 3.0, 12.0, 2.0]), np.array([2.0, 11.0, 1.0, 40.0])
    hits_a, hits_b = np.array([1, 1, 0, 1.0]), np.array([1, 0, 1, 0.0])
    values, intervals, row_cov = figures("implicit", "hr@10", np.zeros(4), {"a": a, "b": b})
    assert values == pytest.approx({"a": 0.75, "b": 0.5})
    assert row_cov("a", "b") == pytest.approx(np.var(hits_a - hits_b, ddof=1) / 4)
    assert all(0 <= low <= high <= 1 for low, high in intervals.values())
    result = paired("implicit", "ndcg@10", np.zeros(4), a, b)
    gain_a, gain_b = 1 / np.log2(1 + np.array([1, 3, 2.0])), 1 / np.log2(1 + np.array([2, 1.0]))
    assert result["difference"] == pytest.approx(gain_a.sum() / 4 - gain_b.sum() / 4)
    two_seeds = seed_average("implicit", [a, b])
    assert figures("implicit", "mrr", np.zeros(4), {"m": two_seeds})[0]["m"] == pytest.approx(
        np.mean((1 / a + 1 / b) / 2))


def test_a_ranking_model_better_for_most_users_is_separated_and_twins_are_grouped():
    rng = np.random.default_rng(1)
    users = 2000
    good = rng.geometric(0.25, users).astype(float)                # held-out item near the top
    runs = {"good": [good], "twin": [rng.geometric(0.25, users).astype(float)],
            "poor": [rng.geometric(0.05, users).astype(float)]}
    found = by_model(compare("implicit", "ndcg@10", np.zeros(users), runs, {"good": 0, "twin": 1, "poor": 2}, "good"))
    assert found["twin"].standing == GROUP and found["poor"].standing == CLEARLY_BEHIND
    assert found["good"].better_than == ["poor"] and set(found["good"].interval) == {"ndcg@10", "hr@10", "mrr"}


def test_the_full_corpus_verdict_says_when_it_reverses_a_sampled_claim():
    from automl.evaluation.comparison import Standing
    from automl.reporting.verdict import full_corpus_sentences

    def comparison(a: float, b: float, c: float, claims: dict) -> Comparison:
        return Comparison("ndcg@10", "paired z-test", 900, 0.05, 0.02, [
            Standing(m, i, 1, {"ndcg@10": v}, {"ndcg@10": [v - 0.01, v + 0.01]}, s, None, claims.get(m, []))
            for i, (m, v, s) in enumerate([("a", a, LEADER), ("b", b, GROUP), ("c", c, BEHIND)])])

    sampled = comparison(0.61, 0.60, 0.40, {"a": ["c"], "b": ["c"]})
    agree = full_corpus_sentences(sampled, comparison(0.21, 0.20, 0.10, {"a": ["c"]}))
    assert agree == [("Ranked against every item on 900 test users, the leader group is a, b (test ndcg@10: "
                      "a 0.2100 [0.2000, 0.2200]; b 0.2000 [0.1900, 0.2100]); its order of the 3 judged models "
                      "agrees with the sampled one at Kendall's tau 1.00.")]
    flipped = full_corpus_sentences(sampled, comparison(0.21, 0.20, 0.30, {"c": ["a"]}))
    assert "tau -0.33" in flipped[0] and flipped[1].startswith("Caveat: ranked against every item, c beats a,")


def test_the_search_spread_is_the_bootstrap_of_the_validation_best_trials_test_figure():
    """Trials that agree give no spread; one lucky trial among poor ones gives a spread near the gap times
    sqrt(p(1 − p)), p = 1 − (1 − 1/n)^n the chance that a resample keeps it; the direction is respected."""
    from automl.evaluation.comparison import search_spread
    assert search_spread([0.7], [0.71], maximize=True) == 0.0
    assert search_spread([0.70, 0.71, 0.72], [0.75, 0.75, 0.75], maximize=True) == 0.0
    validation, test = [0.80, 0.70, 0.70, 0.70, 0.70], [0.78, 0.70, 0.70, 0.70, 0.70]
    keep = 1 - (1 - 1 / 5) ** 5
    assert search_spread(validation, test, maximize=True) == pytest.approx(0.08 * np.sqrt(keep * (1 - keep)), rel=0.1)
    losses = [0.9, 1.0, 1.0, 1.0, 1.0]                      # a loss: the lowest validation is the best trial
    assert search_spread(losses, test, maximize=False) == pytest.approx(0.08 * np.sqrt(keep * (1 - keep)), rel=0.1)
    assert search_spread(losses, test, maximize=True) == pytest.approx(0.0, abs=0.03)
    # the defaults' trial is one draw like the others: a best that is the defaults, first of three trials far
    # above the other two, spreads as much as a lucky third trial would (another search may miss or beat it)
    first, third = search_spread([0.80, 0.70, 0.70], [0.78, 0.70, 0.70], maximize=True), \
        search_spread([0.70, 0.70, 0.80], [0.70, 0.70, 0.78], maximize=True)
    keep = 1 - (2 / 3) ** 3
    assert first == pytest.approx(third, rel=0.05)
    assert first == pytest.approx(0.08 * np.sqrt(keep * (1 - keep)), rel=0.1)


def test_a_gap_that_another_search_could_close_makes_no_claim(rows):
    """The same rows and seeds: a gap the paired test separates is not claimed once the worse model's search
    is known to land anywhere within it; the spread is kept on its standing."""
    labels, rng = rows
    shared = logits(labels, 1.2, rng)
    runs = {"lead": [shared + rng.normal(0, 0.05, len(labels))],
            "close": [shared + rng.normal(0, 0.05, len(labels)) - 0.6 * (labels - 0.5)]}
    sure = by_model(compare("ctr", "auc", labels, runs, {"lead": 0, "close": 1}, "lead"))
    gap = sure["lead"].test["auc"] - sure["close"].test["auc"]
    assert sure["close"].standing in (BEHIND, CLEARLY_BEHIND) and sure["lead"].better_than == ["close"]
    unsure = by_model(compare("ctr", "auc", labels, runs, {"lead": 0, "close": 1}, "lead",
                              search_sd={"close": gap}))
    assert unsure["close"].standing == GROUP and unsure["lead"].better_than == []
    assert unsure["close"].search_sd == gap and unsure["lead"].search_sd == 0.0
