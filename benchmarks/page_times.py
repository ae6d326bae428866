"""How long the Leaderboard and Diagnostics pages take on a finished study with many trials (issue 25).

    .venv/bin/python -m benchmarks.page_times --browser --repeats 7 --out benchmarks/results/page_times.json
    .venv/bin/python -m benchmarks.page_times --browser --repeats 7 --flag runner.postScriptGC=false \
        --flag runner.magicEnabled=false --out benchmarks/results/page_times_gc_magic_off.json
    .venv/bin/python -m benchmarks.page_times --table benchmarks/results/page_times*.json     # the table

The study: ``crossboard tune`` of lr and fm on the demo data (``--tuned`` trials of 1 epoch, one more seed
for the models in contention), really run, so that it has everything a finished study keeps (each model's
best weights and outputs, the ensemble, the verdict, the bests' diagnostics, Optuna's trials); then its
completed trials are copied, with new numbers and a validation AUC a little below the original's (so no
copy becomes a model's best), into ``cb_trial_results`` and into Optuna's trials, until it has
``--trials`` trials. The study is built once in ``--home`` and reused by later runs.

Timed for each page (``?study=ID``; the Diagnostics page's study view, and its trial view of the best fm
trial), each in a new session (an ``AppTest`` of ``app.py``, headless: the page's script run, no drawing):
``first``, the first load in this process (the page's modules imported then); ``uncached``, a load after
``st.cache_data.clear()`` (what a load costs right after the study changed); ``load``, the median of
``--repeats`` loads of the unchanged study. With ``--browser``: a Streamlit server and headless Chromium
(Playwright), the median of ``--repeats`` page loads, from ``goto`` until the page's title is shown, its
script has stopped and as many charts and tables are drawn as the page shows once settled (counted on a
first, untimed load 3 s after its script stopped: a chart still loading its code is not yet in the page,
so "every chart present is drawn" alone would stop the clock early); from a click in the sidebar (from the Start page) until the
same; and from a click on a tab a page does not open first (each page draws only its open tab) until that
tab's chart or table is drawn. ``FLOORS``: pages of Streamlit alone (a title; and a table, a Plotly chart
or a server-drawn SVG chart), timed the same way, what any page costs on this machine. ``--flag`` passes
Streamlit options to that server: ``runner.postScriptGC=false`` skips the full garbage collection Streamlit
runs after every script run, ``runner.magicEnabled=false`` the rewriting of a page's source each time it is
compiled again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STUDY = "pages"
DRAWN = """([title, settled]) => {   // the title shown, the script stopped, as many charts, tables and SVG
  const app = document.querySelector("[data-testid='stApp']");     // drawn as the settled page has
  if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
  const titled = [...document.querySelectorAll("h1")].some(h => h.textContent.includes(title));
  const count = (selector) => document.querySelectorAll(selector).length;
  return titled && count("[data-testid='stPlotlyChart'] .main-svg") >= settled.charts
    && count("[data-testid='stDataFrame'] canvas") >= settled.tables && count("svg.chart") >= settled.svg;
}"""
SETTLED = """() => ({charts: document.querySelectorAll("[data-testid='stPlotlyChart'] .main-svg").length,
        tables: document.querySelectorAll("[data-testid='stDataFrame'] canvas").length,
        svg: document.querySelectorAll("svg.chart").length})"""


def settled(page, url: str, title: str) -> dict:
    """What the page at ``url`` draws once it has settled (its script stopped, then 3 s more): the counts of
    drawn Plotly charts, tables and server-drawn SVG charts a timed load must reach."""
    page.goto(url)
    page.wait_for_function(DRAWN, arg=[title, {"charts": 0, "tables": 0, "svg": 0}], timeout=600_000, polling=50)
    page.wait_for_timeout(3000)
    return page.evaluate(SETTLED)


SHOWN = """(marker) => {             // after a tab click: the script stopped, the tab's own element shown, all drawn
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
  const own = [...document.querySelectorAll(".js-plotly-plot, button")].some(e => e.textContent.includes(marker));
  const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
  const tables = [...document.querySelectorAll("[data-testid='stDataFrame']")];
  return own && charts.every(chart => chart.querySelector(".main-svg")) && tables.every(t => t.querySelector("canvas"));
}"""
TABS = {             # a tab opened by a click: (the view it is on, the tab, a text only that tab draws)
    "leaderboard_all_trials": ("leaderboard", "All trials", "Download CSV"),
    "leaderboard_search_history": ("leaderboard", "Search history", "Optimization history"),
    "diagnostics_trial_fields": ("diagnostics_trial", "Fields", "Field importance"),
}


def crossboard(home: Path, *args: str) -> None:
    env = {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": f"sqlite:///{home / 'crossboard.db'}"}
    subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def build_study(home: Path, trials: int, tuned: int) -> None:
    """The study ``STUDY`` in ``home``: ``tuned`` real trials, their completed ones copied up to ``trials``."""
    import optuna

    from automl.data.demo import DEMO_NAME, ensure_demo
    from automl.search.optuna_storage import optuna_storage
    from storage import Store
    from storage.tables import TrialResultRow

    store = Store(f"sqlite:///{home / 'crossboard.db'}")
    ensure_demo(store)
    crossboard(home, "tune", DEMO_NAME, "--models", "lr,fm", "--trials", str(tuned), "--epochs", "1", "--seeds", "1",
               "--workers", "1", "--name", STUDY)
    study = store.find_study(STUDY)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kept = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage(store.url))
    done = {t.number: t for t in kept.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    rows = [r for r in store.results(study.id) if r.state == "COMPLETE" and r.trial_number in done]
    rng = np.random.default_rng(0)
    for k in range(trials - len(store.results(study.id))):
        row, below = rows[k % len(rows)], float(rng.uniform(0.001, 0.03))
        original = done[row.trial_number]
        kept.add_trial(optuna.trial.create_trial(params=original.params, distributions=original.distributions,
                                                 value=original.value - below))
        number = kept.get_trials(deepcopy=False)[-1].number
        val = {**json.loads(row.val_json), study.metric: json.loads(row.val_json)[study.metric] - below}
        store.save_result(TrialResultRow(**{c.name: getattr(row, c.name) for c in TrialResultRow.__table__.columns
                                            if c.name not in ("id", "trial_number", "val_json")},
                                         trial_number=number, val_json=json.dumps(val)))


def app_test_times(study_id: int, best_fm: int, repeats: int) -> dict:
    """Seconds of each page's script run in a new AppTest session: first, uncached, median load."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ui.common import PAGES

    def load(page: str, **params: str) -> float:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params.update({"study": str(study_id), **params})
        at.run()                                 # the Start page (navigation, sign-in check, demo)
        start = time.perf_counter()
        at.switch_page(PAGES[page]).run()
        seconds = time.perf_counter() - start
        assert not at.exception, at.exception
        return seconds

    views = {"leaderboard": ("leaderboard", {}), "diagnostics": ("diagnostics", {}),
             "diagnostics_trial": ("diagnostics", {"trial": str(best_fm)})}
    times = {}
    for name, (page, params) in views.items():
        first = load(page, **params)
        st.cache_data.clear()
        uncached = load(page, **params)
        loads = [load(page, **params) for _ in range(repeats)]
        times[name] = {"first": round(first, 3), "uncached": round(uncached, 3),
                       "load": round(statistics.median(loads), 3), "loads": [round(s, 3) for s in loads]}
        print(name, times[name], flush=True)
    return times


def chromium(playwright):
    """Headless Chromium, launched as the browser tests launch it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def serve(folder: Path, env: dict, flags: list[str]) -> tuple[subprocess.Popen, str]:
    """(the server, its address): ``streamlit run app.py`` in ``folder``, answering."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import free_port, wait_for_server

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.fileWatcherType", "none",
                               "--browser.gatherUsageStats", "false", *(f"--{flag}" for flag in flags)],
                              cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://localhost:{port}"
    wait_for_server(base, server)
    return server, base


FLOOR_HEAD = """import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
values = np.random.default_rng(0).random(150)
"""
FLOORS = {         # Streamlit alone, nothing of CrossBoard: a title and ...
    "floor_title": ("nothing else", ""),
    "floor_one_table": ("a 150-row table", "st.dataframe(pd.DataFrame({'x': np.arange(150), 'y': values}))\n"),
    "floor_one_chart": ("one 150-point Plotly chart",
                        "st.plotly_chart(go.Figure(go.Scatter(x=np.arange(150), y=values, mode='markers')))\n"),
    "floor_one_svg": ("one 150-point SVG chart drawn on the server",
                      ("dots = ''.join(f'<circle cx=\"{4 * i}\" cy=\"{200 - 200 * v:.1f}\" r=\"3\"/>' "
                       "for i, v in enumerate(values))\n"
                       "st.markdown(f'<svg class=\"chart\" width=\"600\" height=\"200\">{dots}</svg>', "
                       "unsafe_allow_html=True)\n")),
}


def floor_times(repeats: int) -> dict:
    """The same browser timing of pages with Streamlit alone (``FLOORS``): what any page with a title, a table
    or one chart costs on this machine, whatever the app."""
    import tempfile

    from playwright.sync_api import sync_playwright

    times = {}
    with tempfile.TemporaryDirectory() as folder:
        for key, (_, body) in FLOORS.items():
            (Path(folder) / "app.py").write_text(FLOOR_HEAD + body)
            server, base = serve(Path(folder), dict(os.environ), [])
            try:
                with sync_playwright() as p:
                    browser = chromium(p)
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    loads, drawn = [], settled(page, base, "Floor")     # the first load warms the browser's cache
                    for _ in range(repeats):
                        start = time.perf_counter()
                        page.goto(base)
                        page.wait_for_function(DRAWN, arg=["Floor", drawn], timeout=600_000, polling=20)
                        loads.append(time.perf_counter() - start)
                    browser.close()
            finally:
                server.terminate()
                server.wait(timeout=30)
            times[key] = {"load": round(statistics.median(loads), 3), "loads": [round(s, 3) for s in loads],
                          "drawn": drawn}
            print("browser, Streamlit alone:", FLOORS[key][0], times[key], flush=True)
    return times


def browser_times(home: Path, study_id: int, best_fm: int, repeats: int, flags: list[str]) -> dict:
    """Seconds from navigation until the script stopped and every chart is drawn, in headless Chromium;
    ``flags``: Streamlit options for the server (``runner.postScriptGC=false``)."""
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": f"sqlite:///{home / 'crossboard.db'}"}
    server, base = serve(ROOT, env, flags)
    views = {"leaderboard": ("Leaderboard", f"leaderboard?study={study_id}"),
             "diagnostics": ("Diagnostics", f"diagnostics?study={study_id}"),
             "diagnostics_trial": ("Diagnostics", f"diagnostics?study={study_id}&trial={best_fm}")}
    times = {}
    try:
        with sync_playwright() as p:
            browser = chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            drawn = {name: settled(page, f"{base}/{path}", title) for name, (title, path) in views.items()}  # warm

            def drawn_after(action, name: str) -> float:
                start = time.perf_counter()
                action()
                page.wait_for_function(DRAWN, arg=[views[name][0], drawn[name]], timeout=600_000, polling=20)
                return time.perf_counter() - start

            for name, (title, path) in views.items():
                loads = [drawn_after(lambda path=path: page.goto(f"{base}/{path}"), name) for _ in range(repeats)]
                times[name] = {"load": round(statistics.median(loads), 3), "loads": [round(s, 3) for s in loads],
                               "drawn": drawn[name]}
                print("browser", name, times[name], flush=True)
            for name in ("leaderboard", "diagnostics"):
                clicks = []
                for _ in range(repeats):
                    page.goto(f"{base}/?study={study_id}")
                    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{name}']")
                    clicks.append(drawn_after(link.click, name))
                times[f"{name}_from_sidebar"] = {"load": round(statistics.median(clicks), 3),
                                                 "loads": [round(s, 3) for s in clicks]}
                print("browser", name, "from the sidebar", times[f"{name}_from_sidebar"], flush=True)
            for name, (view, tab, marker) in TABS.items():
                clicks = []
                for _ in range(repeats):
                    drawn_after(lambda view=view: page.goto(f"{base}/{views[view][1]}"), view)
                    start = time.perf_counter()
                    page.get_by_role("tab", name=tab).click()
                    page.wait_for_function(SHOWN, arg=marker, timeout=600_000, polling=20)
                    clicks.append(time.perf_counter() - start)
                times[name] = {"load": round(statistics.median(clicks), 3), "loads": [round(s, 3) for s in clicks]}
                print("browser", name, times[name], flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times


VIEWS = {"leaderboard": "Leaderboard", "diagnostics": "Diagnostics (study view)",
         "diagnostics_trial": "Diagnostics (one trial)"}


def markdown(files: list[Path]) -> str:
    """One row per page and saved run: the AppTest medians (load, right after a change) and the browser's
    (a page load, a click in the sidebar; a click on a tab the page does not open first), with the run's
    Streamlit flags and machine load."""
    lines = ["| run | page | AppTest load (s) | AppTest after a change (s) | browser load (s) | from the sidebar (s) |",
             "|---|---|---|---|---|---|"]
    for path in files:
        result = json.loads(path.read_text())
        browser = result.get("browser", {})
        run = f"{path.stem} (load {result['machine']['load_1min']:.1f}{', ' + ' '.join(browser['flags']) if browser.get('flags') else ''})"
        for key, title in VIEWS.items():
            shown = browser.get(key, {}).get("load")
            sidebar = browser.get(f"{key}_from_sidebar", {}).get("load")
            lines.append(f"| {run} | {title} | {result['app_test'][key]['load']:.2f} | "
                         f"{result['app_test'][key]['uncached']:.2f} | {'—' if shown is None else f'{shown:.2f}'} | "
                         f"{'—' if sidebar is None else f'{sidebar:.2f}'} |")
        for key, (what, _) in FLOORS.items():
            if key in browser:
                lines.append(f"| {run} | Streamlit alone: a title and {what} | — | — | {browser[key]['load']:.2f} | — |")
        for key, (view, tab, _) in TABS.items():
            if key in browser:
                lines.append(f"| {run} | {VIEWS[view]}, a click on its tab {tab!r} | — | — | "
                             f"{browser[key]['load']:.2f} | — |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default="/tmp/crossboard-page-times", help="where the study is built (reused)")
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--tuned", type=int, default=12, help="trials really run before the copies")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="also time the pages in headless Chromium")
    parser.add_argument("--flag", action="append", default=[], metavar="OPTION=VALUE",
                        help="a Streamlit option for the browser's server, e.g. runner.postScriptGC=false")
    parser.add_argument("--out", help="write the raw results here (JSON)")
    parser.add_argument("--table", type=Path, nargs="+", help="print the table of these saved results and stop")
    parser.add_argument("--floors", action="store_true", help="time only the pages of Streamlit alone (FLOORS)")
    args = parser.parse_args()
    if args.table:
        print(markdown(args.table))
        return
    if args.floors:
        print(json.dumps(floor_times(args.repeats), indent=2))
        return
    home = Path(args.home)
    os.environ.update(CROSSBOARD_HOME=str(home), CROSSBOARD_DB=f"sqlite:///{home / 'crossboard.db'}")
    from storage import Store

    home.mkdir(parents=True, exist_ok=True)
    store = Store()
    if store.find_study(STUDY) is None:
        build_study(home, args.trials, args.tuned)
    study = store.find_study(STUDY)
    best_fm = next(a.trial_number for a in store.artifacts(study.id) if a.model == "fm")
    results = {"study": {"trials": len(store.results(study.id)), "status": study.status,
                         "diagnosed": len(store.diagnostics(study.id))},
               "machine": {"cores": os.cpu_count(), "load_1min": os.getloadavg()[0], "python": platform.python_version()},
               "app_test": app_test_times(study.id, best_fm, args.repeats)}
    if args.browser:
        results["browser"] = browser_times(home, study.id, best_fm, args.repeats, args.flag)
        results["browser"]["flags"] = args.flag
        results["browser"].update(floor_times(args.repeats))
    results["machine"]["load_1min_after"] = os.getloadavg()[0]
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
