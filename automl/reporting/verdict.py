"""The verdict in words: a short report of which models a study can tell apart, generated only from
what the database holds (the stored comparison, the trials, the ensemble, the diagnostics), so
every figure in a sentence is a stored number. ``crossboard report STUDY`` prints it and the
Leaderboard page shows it above the tables."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from automl.data.datasets import get_dataset
from automl.diagnostics.consensus import consensus_pairs
from automl.evaluation.comparison import BEHIND, CLEARLY_BEHIND, GROUP, LEADER, UNDER_EXPLORED, Comparison
from automl.features.prepare import task_schema
from automl.features.splits import DEFAULT_FRACTIONS, split_key
from automl.online.stream import OnlineSettings
from automl.reporting.leaderboard import read_leaderboard
from automl.search.config import StudyConfig
from automl.training.loop import TIME_CAP_NOTE
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialState

TOP_PAIRS = 3
TOP_OPTIONS = 2
NO_VERDICT = ("No verdict yet: it needs two models whose best trials kept their test outputs, and it is built as "
              "trials finish.")


@dataclass
class Report:
    sentences: list[str]                       # the verdict, then the evidence, then the caveats
    protocol: str                              # how the figures were obtained, in one line
    verdict: dict | None = None                # the stored comparison it was written from
    numbers: dict = field(default_factory=dict)    # the other stored figures it quotes

    def markdown(self) -> str:
        return " ".join(self.sentences) + f"\n\n*{self.protocol}*"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def figure(comparison: Comparison, model: str) -> str:
    """"model 0.7321 [0.7102, 0.7540]": a model's test value with its interval."""
    s = next(s for s in comparison.standings if s.model == model)
    low, high = s.interval[comparison.metric]
    return f"{model} {s.test[comparison.metric]:.4f} [{low:.4f}, {high:.4f}]"


def searched_apart(comparison: Comparison, leader: str, group: list[str]) -> list[str]:
    """A sentence for the leader group's members whose intervals on the test rows and the leader's are apart:
    the spread over seeds and searches, which the test counts and the intervals do not, keeps them together."""
    found = {s.model: s for s in comparison.standings}
    low, high = found[leader].interval[comparison.metric]
    apart = [m for m in group if found[m].interval[comparison.metric][1] < low or found[m].interval[comparison.metric][0] > high]
    if not apart:
        return []
    spreads = ", ".join(f"{m} ±{found[m].search_sd:.4f}" for m in [leader, *apart])
    return [(f"{', '.join(apart)} and {leader}: their intervals on the test rows are apart, but another seed or "
             f"another search of the same size could close the gap (search spread {spreads}), so the test does not "
             "tell them apart.")]


def verdict_sentences(comparison: Comparison, trial_counts: dict[str, tuple[int, int]]) -> list[str]:
    """The standings in words; ``trial_counts``: model -> (completed trials, of them cut by the time cap)."""
    by_standing: dict[str, list[str]] = {}
    for s in comparison.standings:
        by_standing.setdefault(s.standing, []).append(s.model)
    leader, group = by_standing[LEADER][0], by_standing.get(GROUP, [])
    metric, words = comparison.metric, f"{comparison.test}, Holm-corrected, 95%"
    best = "the best on validation" + (" of the models judged" if by_standing.get(UNDER_EXPLORED) else "")
    lead = figure(comparison, leader).split(" ", 1)[1]          # the leader's value and interval, without its name
    if group:
        first = (f"No single winner: {leader} is {best}, but on the {comparison.rows:,} shared test "
                 f"rows the test cannot tell it apart from {', '.join(group)} ({words}); they form the leader group. "
                 f"Test {metric}: " + "; ".join(figure(comparison, m) for m in [leader, *group]) + ".")
    elif by_standing.get(BEHIND) or by_standing.get(CLEARLY_BEHIND):
        first = (f"{leader} wins: it is {best}, and on the {comparison.rows:,} shared test rows the "
                 f"test tells it apart from every other model judged ({words}); test {metric} {lead}.")
    elif comparison.standings[0].why:     # every model under-explored, the leader too: no verdict yet
        first = (f"No model reached a fair budget, so there is no verdict yet: {leader} is the best on validation "
                 f"(under-explored too: {comparison.standings[0].why}), test {metric} {lead} on "
                 f"{comparison.rows:,} test rows. Give the study more time, or fewer models, to compare them.")
    else:
        first = f"{leader} is the only model judged: test {metric} {lead} on {comparison.rows:,} test rows."
    sentences = [first, *searched_apart(comparison, leader, group)]
    for standing, how in ((BEHIND, "behind the leader"), (CLEARLY_BEHIND, "clearly behind (intervals apart)")):
        models = by_standing.get(standing, [])
        if models:
            p = {s.model: s.p_vs_leader for s in comparison.standings}
            sentences.append(f"{'; '.join(f'{figure(comparison, m)} (p = {p[m]:.2g})' for m in models)}: {how}.")
    why = {s.model: s.why for s in comparison.standings}
    for model in by_standing.get(UNDER_EXPLORED, []):
        done, capped = trial_counts.get(model, (0, 0))
        cut = ", all cut at the time cap" if done and capped == done else ""
        said = why[model] or f"{done} completed trial{'s' * (done != 1)}{cut}"
        sentences.append(f"{model}: {said}; not judged (under-explored).")
    return sentences


def study_report(store: Store, study: StudyRow) -> Report:
    """The report of ``study`` from what is stored (a report without a comparison says why)."""
    config = StudyConfig.from_json(study.config_json)
    board = read_leaderboard(store, study)
    comparison = board.verdict
    protocol = protocol_line(store, study, config, comparison)
    if comparison is None:
        return Report([NO_VERDICT], protocol)
    counts: dict[str, tuple[int, int]] = {}
    for r in board.trials:
        if r["state"] == TrialState.COMPLETE:
            done, capped = counts.get(r["model"], (0, 0))
            counts[r["model"]] = (done + 1, capped + (TIME_CAP_NOTE in r["notes"]))
    sentences = verdict_sentences(comparison, counts)
    leader = comparison.standings[0].model
    numbers: dict = {"trials": counts}
    if comparison.ensemble is not None:
        e = comparison.ensemble
        seen = "a difference the test sees" if e["p"] < comparison.level else "no difference this test set can see"
        sentences.append(f"The ensemble of the best trials scores {e['test']:.4f} test {comparison.metric}, "
                         f"{e['difference']:+.4f} against {leader} (p = {e['p']:.2g}): {seen}.")
    if comparison.full_corpus is not None:
        full = Comparison.from_dict(comparison.full_corpus)
        numbers["full_corpus"] = {s.model: s.test[full.metric] for s in full.standings}
        sentences.extend(full_corpus_sentences(comparison, full))
    best = {r["model"]: r for r in board.best}
    if study.task == "ctr" and leader in best and "ece" in best[leader]["test"]:
        test = best[leader]["test"]
        numbers["calibration"] = {"ece": test["ece"], "logloss": test.get("logloss")}
        sentences.append(f"{leader}'s calibrated probabilities: test ECE {test['ece']:.4f}, logloss "
                         f"{test.get('logloss', float('nan')):.4f}.")
    sentences.append(f"Counting the test rows, the seeds and the searches' spread, differences from {leader} of "
                     f"about {comparison.detectable:.4f} in {comparison.metric} can be told apart (80% power); "
                     "smaller ones stay open.")
    importance = leader_options(store, study, leader)
    if importance:
        numbers["options"] = importance
        sentences.append(f"For {leader} the options that mattered most (PED-ANOVA importance): "
                         + ", ".join(f"{k} {v:.2f}" for k, v in importance.items()) + ".")
    pairs = consensus_pairs(store, study.id)[:TOP_PAIRS]
    if pairs:
        numbers["pairs"] = pairs
        sentences.append("The field pairs the models agree on: "
                         + ", ".join(f"{' × '.join(p['fields'])} ({p['strength']:.2f})" for p in pairs) + ".")
    unfinished = [r["model"] for r in board.best if r["epochs"] == config.max_epochs == r["best_epoch"]]
    if unfinished:
        sentences.append(f"Caveat: {', '.join(unfinished)} still improved at the last epoch allowed "
                         f"({config.max_epochs}): more epochs may change {'their' if len(unfinished) > 1 else 'its'} "
                         "figures.")
    return Report(sentences, protocol, comparison.to_dict(), numbers)


def full_corpus_sentences(sampled: Comparison, full: Comparison) -> list[str]:
    """What ranking against every item says beside the sampled candidates: its leader group, how well the two
    orders agree, and the claims it contradicts (sampled metrics can reorder models: Krichene & Rendle, 2020)."""
    from scipy.stats import kendalltau

    metric, judged = full.metric, [s.model for s in full.standings if s.standing != UNDER_EXPLORED]
    group = [s.model for s in full.standings if s.standing in (LEADER, GROUP)]
    first = (f"Ranked against every item on {full.rows:,} test users, the leader group is {', '.join(group)} "
             f"(test {metric}: " + "; ".join(figure(full, m) for m in group) + ")")
    on_sampled = {s.model: s.test[metric] for s in sampled.standings}
    on_full = {s.model: s.test[metric] for s in full.standings}
    if len(judged) >= 3:
        tau = kendalltau([on_sampled[m] for m in judged], [on_full[m] for m in judged]).statistic
        first += f"; its order of the {len(judged)} judged models agrees with the sampled one at Kendall's tau {tau:.2f}"
    sentences = [first + "."]
    claims = {(s.model, o) for s in sampled.standings for o in s.better_than}
    reversed_ = sorted((s.model, o) for s in full.standings for o in s.better_than if (o, s.model) in claims)
    if reversed_:
        sentences.append("Caveat: ranked against every item, " + "; ".join(f"{a} beats {b}" for a, b in reversed_)
                         + ", the opposite of the sampled verdict: sampled metrics can reorder models.")
    return sentences


def leader_options(store: Store, study: StudyRow, model: str) -> dict[str, float]:
    """The leader model's most important options (PED-ANOVA), when it has enough trials for them."""
    from automl.reporting.diagnostics import parameter_importances

    found = parameter_importances(store, study).get(model, {})
    return dict(sorted(found.items(), key=lambda kv: -kv[1])[:TOP_OPTIONS])


def protocol_line(store: Store, study: StudyRow, config: StudyConfig, comparison: Comparison | None) -> str:
    """How the figures were obtained, in one line: the split, what chooses, what the test rows do, seeds."""
    dataset = get_dataset(store, study.dataset_id)
    fractions = DEFAULT_FRACTIONS if config.online is None else OnlineSettings.from_dict(config.online).fractions
    split = store.get_split(dataset.id, split_key(task_schema(dataset, study.task), fractions))
    how = f"{split.method} split " + ", ".join(f"{k} {v:,}" for k, v in loads(split.counts_json).items()) if split \
        else "split not made yet"
    negatives = (f"; each held-out item ranked among {config.candidates} sampled items (and against every item "
                 "beside it, the full-corpus figures)" if study.task == "implicit" and config.candidates else "")
    test = f"{comparison.test}, counting the seeds' and the search's spread" if comparison else "no test yet"
    return (f"Protocol: {study.task}, {how}{negatives}; epochs and trials chosen on validation {study.metric}, the "
            f"test rows only report ({test}); {config.seeds} more seed(s) for the models in contention.")
