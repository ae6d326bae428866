"""Does the verdict hold when the study is run again? The same default study twice, with two seeds, through
the real CLI (``benchmarks/product_study.py``'s runner: a fresh home each, `crossboard ingest`, `crossboard
tune DATA --minutes M --workers W --seed S`), then every claim each run makes ("A better than B": A's
``better_than`` in `leaderboard --best`) checked against the other run.

    python benchmarks/reproducibility.py --data demo --minutes 12 --workers 2 --out benchmarks/results/FILE.json
    python benchmarks/reproducibility.py --data frappe ...      # ../shared/data/frappe: validation file trains, test file tests
    python benchmarks/reproducibility.py --data ml100k ...      # ../shared/data/ml-100k-grouplens u1.base / u1.test, rating
    python benchmarks/reproducibility.py --table FILE [FILE ...]   # the markdown table of saved results
    python benchmarks/reproducibility.py --rescore FILE [FILE ...]  # recompute the agreement of saved runs
    python benchmarks/reproducibility.py --rejudge FILE --out NEW   # the saved runs' trials judged by this code

Per data set: the claims of each run, how many a claim of the other run reverses, the share whose direction
the other run's test means keep (of all claims, and of those whose two models the other run judged: a model it
calls under-explored has a figure that says where its search stopped, not what it can do), the two leader groups and their overlap, Kendall's tau of the models' test
means over the models both runs judged, and the smallest difference each run's test set detects.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from scipy.stats import kendalltau

from automl.data.demo import demo_frame
from automl.evaluation.metrics import direction
from benchmarks.product_study import NAME, crossboard, run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SEEDS = (0, 2)


def ingest_args(data: str, home: Path) -> list[str]:
    """What `crossboard ingest` is given for ``data``."""
    if data == "demo":
        path = home / "planted.csv"
        demo_frame(n_rows=40_000).to_csv(path, index=False)
        return [str(path)]
    if data == "frappe":
        folder = SHARED / "frappe"
        return [str(folder / "frappe.validation.libfm"), "--test", str(folder / "frappe.test.libfm")]
    folder = SHARED / "ml-100k-grouplens"
    return [str(folder / "u1.base"), "--test", str(folder / "u1.test"), "--names",
            "user_id,item_id,rating,timestamp"]


def one_run(data: str, minutes: float, workers: int, seed: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"crossboard-repro-{data}-{seed}-"))
    result = run(ingest_args(data, home), ["--minutes", f"{minutes:g}", "--workers", str(workers),
                                           "--seed", str(seed)], home)
    return {"seed": seed, **judged(home, result["best"]), "wall_seconds": result["wall_seconds"], "home": str(home)}


def judged(home: Path, best: list[dict]) -> dict:
    """A run's judged models (``best``: `leaderboard --best`) and its verdict (`report`)."""
    report = json.loads(crossboard(home, "report", NAME, "--format", "json").stdout)
    return {"best": [r for r in best if r["state"] != "ENSEMBLE"], "verdict": report["verdict"],
            "sentences": report["sentences"], "protocol": report["protocol"]}


def rejudge(run: dict) -> dict:
    """``run`` (a saved run whose home is still there) with its stored trials judged again by this code:
    ``verdicts.rebuild`` on its study, then the leaderboard and the report read again."""
    from automl.search import verdicts
    from automl.search.config import StudyConfig
    from automl.search.data import study_data
    from automl.training.device import pick_device
    from storage import Store
    from storage.db import resolve_url

    home = Path(run["home"])
    store = Store(resolve_url(None, home))
    study = store.find_study(NAME)
    config = StudyConfig.from_json(study.config_json)
    verdicts.rebuild(store, study, study_data(store, study, config, home, pick_device(config.device)), "re-judging")
    best = json.loads(crossboard(home, "leaderboard", NAME, "--best", "--format", "json").stdout)
    return {**run, **judged(home, best)}


def claims(best: list[dict]) -> set[tuple[str, str]]:
    return {(r["model"], other) for r in best for other in r.get("better_than") or []}


def agreement(first: dict, second: dict) -> dict:
    """How far the claims and the ranking of one run hold in the other."""
    metric = first["verdict"]["metric"]
    sign = 1.0 if direction(metric) == "maximize" else -1.0
    means = [{r["model"]: r["test_mean"].get(metric) for r in run["best"]} for run in (first, second)]
    made = [claims(run["best"]) for run in (first, second)]
    reversed_ = sum((b, a) in made[1 - i] for i in (0, 1) for a, b in made[i])
    kept = [sum(means[1 - i].get(a) is not None and means[1 - i].get(b) is not None
                and sign * (means[1 - i][a] - means[1 - i][b]) > 0 for a, b in made[i]) for i in (0, 1)]
    judged = [{r["model"] for r in run["best"] if r.get("standing") not in (None, "under-explored")}
              for run in (first, second)]
    testable = [[(a, b) for a, b in made[i] if {a, b} <= judged[1 - i]] for i in (0, 1)]
    kept_judged = [sum(sign * (means[1 - i][a] - means[1 - i][b]) > 0 for a, b in testable[i]) for i in (0, 1)]
    groups = [{s["model"] for s in run["verdict"]["standings"] if s["standing"] in ("leader", "leader group")}
              for run in (first, second)]
    common = sorted(set(means[0]) & set(means[1]))
    tau = kendalltau([means[0][m] for m in common], [means[1][m] for m in common]).statistic if len(common) > 2 \
        else float("nan")
    return {"metric": metric, "claims": [len(c) for c in made], "reversed": reversed_,
            "kept_direction": sum(kept) / max(sum(len(c) for c in made), 1),
            "kept_direction_judged": sum(kept_judged) / max(sum(len(t) for t in testable), 1),
            "claims_judged": [len(t) for t in testable],
            "leader_groups": [sorted(g) for g in groups], "groups_overlap": sorted(groups[0] & groups[1]),
            "kendall_tau": float(tau), "models": len(common),
            "detectable": [run["verdict"]["detectable"] for run in (first, second)]}


def judged_words(agreement_: dict) -> str:
    """"100% of 12": the direction kept over the claims whose two models the other run judged (older files: "—")."""
    if "kept_direction_judged" not in agreement_:
        return "—"
    return f"{agreement_['kept_direction_judged']:.0%} of {sum(agreement_['claims_judged'])}"


def markdown(results: list[dict]) -> str:
    header = ("| data | metric | claims (run 1, run 2) | reversed | direction kept | kept where the other run judged both |"
              " leader groups | shared | Kendall's tau | detectable | wall (s) |")
    lines = [header, "|" + "---|" * 11]
    for r in results:
        a = r["agreement"]
        groups = " / ".join(", ".join(g) for g in a["leader_groups"])
        lines.append(f"| {r['data']} | {a['metric']} | {a['claims'][0]}, {a['claims'][1]} | {a['reversed']} | "
                     f"{a['kept_direction']:.0%} | {judged_words(a)} | {groups} | {', '.join(a['groups_overlap']) or 'none'} | "
                     f"{a['kendall_tau']:.2f} ({a['models']} models) | "
                     f"{a['detectable'][0]:.4f}, {a['detectable'][1]:.4f} | "
                     f"{r['runs'][0]['wall_seconds']:.0f}, {r['runs'][1]['wall_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["demo", "frappe", "ml100k"])
    parser.add_argument("--minutes", type=float, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, nargs="+", help="print the table of saved results and stop")
    parser.add_argument("--rescore", type=Path, nargs="+", help="recompute the agreement of saved results, then --table")
    parser.add_argument("--rejudge", type=Path, help="judge a saved result's runs again (their homes kept) into --out")
    args = parser.parse_args()
    if args.rejudge:
        saved = json.loads(args.rejudge.read_text())
        runs = [rejudge(run) for run in saved["runs"]]
        result = {**saved, "runs": runs, "agreement": agreement(*runs), "rejudged_from": str(args.rejudge)}
        (args.out or args.rejudge).write_text(json.dumps(result, indent=2, default=str))
        print(markdown([result]))
        return
    if args.rescore:
        for path in args.rescore:
            saved = json.loads(path.read_text())
            saved["agreement"] = agreement(*saved["runs"])
            path.write_text(json.dumps(saved, indent=2, default=str))
        args.table = args.rescore
    if args.table:
        print(markdown([json.loads(p.read_text()) for p in args.table]))
        return
    if args.data is None:
        parser.error("give --data demo|frappe|ml100k, or --table FILE")
    runs = [one_run(args.data, args.minutes, args.workers, seed) for seed in SEEDS]
    result = {"data": args.data, "minutes": args.minutes, "workers": args.workers, "runs": runs,
              "agreement": agreement(*runs)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str))
    print(markdown([result]))


if __name__ == "__main__":
    main()
