"""Is `--minutes` a promise? The default study (every available model) on the generated log through the real
CLI (``benchmarks/product_study.py``'s runner: a fresh home, `crossboard ingest`, `crossboard tune DATA
--minutes M --workers W`), timed from `tune`'s start to its return: alone, and beside a second identical
study started at the same moment (a busy machine). Seed reruns and diagnostics are included; the phases'
plan and what each phase did come from the study's progress.

    python -m benchmarks.budget_promise --minutes 3 --workers 2 --out benchmarks/results/budget_promise_DATE.json
    python -m benchmarks.budget_promise --table FILE          # the markdown table of a saved run

The promise (issue 25): alone, within M minutes plus one trial's time cap; beside another study, within 1.25 × M.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from automl.data.demo import demo_frame
from automl.reporting.progress import study_progress
from automl.search.allocation import trial_time_cap_s
from automl.search.budget import PHASE_WORDS, plan_words
from automl.search.config import StudyConfig
from benchmarks.product_study import NAME, run
from benchmarks.saved import parser_for, run_or_table
from storage import Store
from storage.db import resolve_url


def one_study(minutes: float, workers: int, rows: int, label: str) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"crossboard-budget-{label}-"))
    path = home / "planted.csv"
    demo_frame(n_rows=rows).to_csv(path, index=False)
    result = run([str(path)], ["--minutes", f"{minutes:g}", "--workers", str(workers)], home)
    store = Store(resolve_url(None, home))
    study = store.find_study(NAME)
    config = StudyConfig.from_json(study.config_json)
    progress = study_progress(store, study)
    return {"label": label, "wall_seconds": result["wall_seconds"], "trial_cap_s": trial_time_cap_s(config),
            "plan": plan_words(config), "status": progress.status,
            "phases": {PHASE_WORDS[p.phase]: [p.done, p.total] for p in progress.phases},
            "models": {m: r["trials"] for m, r in result["models"].items()}}


def measure(minutes: float, workers: int, rows: int) -> dict:
    alone = one_study(minutes, workers, rows, "alone")
    with ThreadPoolExecutor(2) as pool:
        busy = list(pool.map(lambda label: one_study(minutes, workers, rows, label), ["beside-a", "beside-b"]))
    return {"minutes": minutes, "workers": workers, "rows": rows, "runs": [alone, *busy],
            "measured": time.strftime("%Y-%m-%d")}


def markdown(result: dict) -> str:
    budget = result["minutes"] * 60
    lines = ["| run | wall (s) | budget (s) | trial cap (s) | promise (s) | kept | trials | diagnostics done | seed reruns done |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run_ in result["runs"]:
        promise = budget + run_["trial_cap_s"] if run_["label"] == "alone" else 1.25 * budget
        done = {name: f"{d}" if t is None else f"{d}/{t}" for name, (d, t) in run_["phases"].items()}
        lines.append(f"| {run_['label']} | {run_['wall_seconds']:.0f} | {budget:.0f} | {run_['trial_cap_s']:.0f} | "
                     f"{promise:.0f} | {'yes' if run_['wall_seconds'] <= promise else 'NO'} | "
                     + " | ".join(done.get(name, "—") for name in ("trials", "diagnostics", "seed reruns")) + " |")
    lines.append(f"\nPlan: {result['runs'][0]['plan']}; {result['rows']:,} generated rows, {result['workers']} workers "
                 "per study; *beside*: two studies started together on the same 2 cores.")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=40_000)
    args = parser.parse_args()
    run_or_table(args, lambda: measure(args.minutes, args.workers, args.rows), markdown)


if __name__ == "__main__":
    main()
