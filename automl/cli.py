"""``crossboard``: ingest, tune, leaderboard, diagnose, reseed, worker, models, app — for headless use.

Every user error ends with a one-paragraph message and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from automl.data import datasets
from automl.data.schema import CROSSABLE_ROLES, DEFAULT_CANDIDATES, ROLES, SHOWN_METRICS, TASKS, Schema
from automl.errors import CrossBoardError, NotFoundError, SettingsError, disk_full
from automl.search.config import PRUNERS, StudyConfig
from storage import Store, default_home, resolve_url
from storage.db import UnsupportedDatabase
from storage.tables import WorkerStatus

POLL_S = 1.0
PASSWORD_ENV = "CROSSBOARD_PASSWORD"   # the app's password; required when it listens beyond this machine
APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"     # the Streamlit entry point beside the engine
SERVE_SCRIPT = Path(__file__).resolve().parents[1] / "ui" / "serve.py"     # app.py's server, with the sign-in gate


def parse_roles(items: list[str]) -> dict[str, str]:
    roles = {}
    for item in items or []:
        column, sep, role = item.rpartition("=")
        if not sep or not column:
            raise SettingsError(f"--role {item!r}: write COLUMN=ROLE, e.g. --role user_id=user (roles: {', '.join(ROLES)})")
        roles[column] = role
    return roles


def cmd_ingest(args, store: Store, home: Path) -> int:
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    parts = {part: (path, None) for part, path in (("valid", args.valid), ("test", args.test)) if path}
    if args.by_reference:
        text_only = [f"--{o}" for o in ("valid", "test", "delimiter", "names") if getattr(args, o)]
        if text_only:
            raise SettingsError(f"{', '.join(text_only)}: not with --by-reference, which registers one Parquet "
                                "file (give it a split column for a given split); leave them out")
        inspection = datasets.inspect_reference(args.path, home / "incoming", label=args.label, task=args.task,
                                                roles=parse_roles(args.role))
    else:
        inspection = datasets.inspect(args.path, label=args.label, task=args.task, roles=parse_roles(args.role),
                                      delimiter=args.delimiter, names=names,
                                      max_bytes=int(args.max_mb * 2**20) if args.max_mb else None, parts=parts,
                                      spool=home / "incoming", memory_bytes=int(args.memory_mb * 2**20))
    schema = replace(inspection.schema, time_fields=args.time_fields)
    if args.time_fields and not schema.names("timestamp"):
        raise SettingsError("--time-fields needs a timestamp column; set one with --role COLUMN=timestamp")
    try:
        row = datasets.save(store, inspection, schema, name=args.name, home=home)  # validates: raises on a problem
    except CrossBoardError:
        for note in inspection.raw.notes:       # how the file was read (e.g. without a header line) may be why
            print(f"  note: {note}", file=sys.stderr)
        raise
    print(f"dataset {row.name!r} ({row.id[:12]}): {row.n_rows:,} rows, {row.n_cols} columns, "
          f"format {row.file_format}, task {schema.task} ({schema.task_reason})")
    if row.source_url:
        print(f"  by reference: every worker copies {row.source_url} into its home and checks its digest "
              f"({row.digest[:12]}); the database keeps no copy")
    for note in inspection.raw.notes + inspection.warnings:
        print(f"  note: {note}")
    width = max(len(c.name) for c in schema.columns)
    for c in schema.columns:
        unsure = f"  [unsure: --role {c.name}={c.alternative}]" if c.alternative else ""
        print(f"  {c.name:<{width}}  {c.role:<11}  {c.reason}{unsure}")
    stored = Schema.from_json(row.schema_json)
    if stored.item_history:
        print(f"  behavior history: {stored.item_history!r} lists past item ids (DIN, DIEN and BST read it)")
    return 0


def study_config(args, store: Store, schema: Schema) -> StudyConfig:
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    pairs = [p.split("*") for p in args.cross] if args.cross else []
    diagnosed = []
    if args.crosses_from:
        from automl.diagnostics.consensus import detected_crosses

        source = find_study(store, args.crosses_from)
        diagnosed = detected_crosses(store, source.id, set(schema.names(*CROSSABLE_ROLES)))
        if not diagnosed:
            raise SettingsError(f"study {source.name!r} has no diagnosed pairs of categorical or numeric columns yet "
                                f"(see `crossboard diagnose {source.name}`)")
    online = None
    if args.online:
        from automl.online.stream import OnlineSettings

        modes = tuple(m.strip() for m in args.modes.split(",") if m.strip()) if args.modes else None
        online = asdict(OnlineSettings(initial=args.initial, window_rows=args.window_rows,
                                       window_hours=args.window_hours, **({"modes": modes} if modes else {})))
    return StudyConfig(models=models or [], n_trials=args.trials, minutes=args.minutes, workers=args.workers,
                       max_epochs=args.epochs, patience=args.patience, pruner=args.pruner, seed=args.seed,
                       device=args.device, wide_pairs=pairs, diagnosed_pairs=diagnosed, candidates=args.candidates,
                       trial_minutes=args.trial_minutes, seeds=args.seeds, online=online)


def cmd_tune(args, store: Store, home: Path) -> int:
    import signal

    from automl.errors import space_for
    from automl.reporting.progress import study_progress
    from automl.search.allocation import MIN_TRIALS
    from automl.search.budget import plan_words
    from automl.search.capabilities import model_availability
    from automl.search.control import launch_workers, request_stop
    from automl.search.liveness import log_tail, settle_study
    from automl.search.recommended import MIN_SHARE_S, fair_share_s, recommend
    from automl.search.study import create_study
    from models import REGISTRY
    from storage.db import database_place

    dataset = datasets.get_dataset(store, args.dataset)
    if args.trials is None and args.minutes is None:
        args.trials = StudyConfig.n_trials
    schema = datasets.schema_of(dataset)
    config = study_config(args, store, schema)
    if not config.models:
        config.models = [m for m, why in model_availability(schema, args.task).items() if why is None]
    takers = [m for m, card in REGISTRY.items() if "diagnosed" in card.pair_sources]
    if config.diagnosed_pairs and not set(takers) & set(config.models):
        raise SettingsError(f"--crosses-from gives the diagnosed crosses to {', '.join(takers)}; add "
                            f"{' or '.join(takers)} to --models")
    with space_for("creating the study", database_place(store.url)):
        study = create_study(store, dataset, config, task=args.task, metric=args.metric, name=args.name)
    print(f"study {study.name!r} (id {study.id}): {', '.join(config.models)}; metric {study.metric}; "
          f"{config.workers} worker(s)" + (f"; {config.minutes:g} minutes: {plan_words(config)}" if config.minutes else ""))
    if config.n_trials is not None and config.n_trials < MIN_TRIALS * len(config.models):
        print(f"note: {config.n_trials} trials for {len(config.models)} models give each model "
              f"{config.n_trials // len(config.models)} or {config.n_trials // len(config.models) + 1}, fewer than the "
              f"{MIN_TRIALS} of a fair comparison; use --trials {MIN_TRIALS * len(config.models)} or fewer --models")
    share = fair_share_s(config, config.models)
    if share is not None and share < MIN_SHARE_S and len(config.models) > 1:
        advice = recommend(model_availability(schema, study.task), config)
        print(f"note: {config.minutes:g} minutes for {len(config.models)} models give each trial about {share:.0f} s of "
              f"training, under the {MIN_SHARE_S:.0f} s a fair start needs: models left under {MIN_TRIALS} trials are "
              f"reported as under-explored. For this budget: --models {','.join(advice.models)}, or more --minutes")
    if config.workers == 0:
        print(f"no local workers started; on each machine run: crossboard --db URL worker {study.name}")
        return 0
    procs = launch_workers(store.url, study.id, home, config.workers)
    last = ""
    try:
        while any(p.poll() is None for p in procs):
            line = study_progress(store, study).line(study.metric)
            if line != last:
                print(line, flush=True)
                last = line
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        print("stopping after the current trials, reruns or replay windows…", flush=True)
        request_stop(store, study)
        for p in procs:
            p.wait()
    with space_for(f"settling study {study.name!r}", database_place(store.url)):
        settle_study(store, study.id, home=home)        # workers that died without a word are lost
    progress = study_progress(store, study)
    print(progress.line(study.metric))
    print("trials per model (done/given, planned in its rung): " + ", ".join(
        f"{m.model} {m.done}/{m.given}" + (" dropped" if m.dropped else f" of {m.planned}")
        for m in progress.models))
    ended = progress.status in ("finished", "stopped")
    exits = {p.pid: p.returncode for p in procs}
    for worker in progress.workers:
        if worker.status in (WorkerStatus.FAILED, WorkerStatus.LOST):
            signal_ = -exits.get(worker.pid, 0)
            killed = f" (its process was killed by {signal.Signals(signal_).name})" if signal_ > 0 else ""
            print(f"worker {worker.id} {worker.status}{killed}: {worker.message}", file=sys.stderr)
    if not ended and progress.message:
        print(f"study {study.name!r} {progress.status}: {progress.message}", file=sys.stderr)
    if not ended and set(exits.values()) - {0, 2} and (tail := log_tail(home, study.id)):    # a worker died unheard
        print(f"the end of its worker logs (in {home / 'logs'}):\n{tail}", file=sys.stderr)
    print_leaderboard(store, study, "table")
    return 0 if progress.done and ended else 2


def print_leaderboard(store: Store, study, fmt: str, best: bool = False) -> None:
    """Every trial (or, with ``best``, each model's best with its spread over seeds), then the ensemble."""
    from automl.reporting.leaderboard import read_leaderboard, table, to_json
    from automl.reporting.online import is_online

    if is_online(study):
        print_online(store, study, fmt)
        return
    board = read_leaderboard(store, study)
    blend = board.ensemble
    shown = (board.best if best else board.trials) + ([blend] if blend else [])
    if fmt == "json":
        print(to_json(shown))
        return
    frame = table(shown, SHOWN_METRICS[study.task], study.metric)
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif frame.empty:
        print("no trials recorded yet")
    else:
        print(frame.drop(columns=["reason", "device"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if best and board.verdict is not None:
            v = board.verdict
            print(f"standing on test {v.metric}: {v.test}, Holm-corrected over every pair, 95% intervals "
                  f"(test_low, test_high) on {v.rows:,} rows; with the seeds' and searches' spread, differences of about "
                  f"{v.detectable:.4f} from the leader can be told apart; leader = best on validation")
        if blend:
            print(f"ensemble: greedy selection on validation {study.metric} over the best trial of each model; "
                  "its validation figure is optimistic (chosen on it), read its test figure")


def print_online(store: Store, study, fmt: str) -> None:
    """An online study's replays (model x mode), each with the offline trial it started from."""
    from automl.reporting.leaderboard import to_json
    from automl.reporting.online import online_records, online_table

    records = online_records(store, study)
    if fmt == "json":
        print(to_json(records))
        return
    frame = online_table(records)
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif frame.empty:
        print("no online replays recorded yet (they start when the offline trials are done)")
    else:
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print("online: each window scored before its labels were revealed; options chosen on the first "
              f"{records[0]['online'].get('tuning_windows', '?')} windows, the later ones reported")


def cmd_leaderboard(args, store: Store, home: Path) -> int:
    study = find_study(store, args.study)
    print_leaderboard(store, study, args.format, best=args.best)
    return 0


def cmd_report(args, store: Store, home: Path) -> int:
    from automl.reporting.verdict import study_report

    report = study_report(store, find_study(store, args.study))
    print(report.to_json() if args.format == "json" else report.markdown())
    return 0


def cmd_reseed(args, store: Store, home: Path) -> int:
    from automl.search import verdicts
    from automl.search.config import StudyConfig
    from automl.search.data import study_data
    from automl.search.reseed import run_reseeds
    from automl.training.device import pick_device

    study = find_study(store, args.study)
    config = StudyConfig.from_json(study.config_json)
    data = study_data(store, study, config, home, pick_device(config.device))
    ran = run_reseeds(store, study, config, data, args.seeds, top=args.top)
    verdicts.rebuild(store, study, data, "the seed reruns")
    which = f"the top {args.top} models" if args.top else "the models in contention"
    print(f"{ran} rerun(s) of the best trials of {which} ({args.seeds} extra seeds each)")
    print_leaderboard(store, study, "table", best=True)
    return 0


def cmd_settle(args, store: Store, home: Path) -> int:
    from automl.errors import space_for
    from automl.search.liveness import WAITING, settle_study
    from storage.db import database_place

    study = find_study(store, args.study)
    with space_for(f"settling study {study.name!r}", database_place(store.url)):
        done = settle_study(store, study.id, home=home)
    lost = ", ".join(map(str, done["lost"])) or "none"
    again = ", ".join(map(str, done["requeued"])) or "none"
    print(f"study {study.name!r}: lost workers {lost}; trials queued again {again}; status {done['status']}")
    if done["status"] in (WAITING, "failed"):
        print(store.find_study(study.id).message)
    return 0


def cmd_predict(args, store: Store, home: Path) -> int:
    from automl.data.files import partial_path, removed_on_failure
    from automl.serving.score import figures_line, score_file, study_scorer, unseen_report

    study = find_study(store, args.study)
    scorer = study_scorer(store, study, home, model=args.model, trial=args.trial, ensemble=args.ensemble)
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    def scored(out) -> None:
        score_file(scorer, Path(args.file), home / "incoming",
                   lambda chunk, first: chunk.to_csv(out, index=False, header=first),
                   progress=lambda rows: print(f"scored {rows:,} rows", file=sys.stderr, flush=True),
                   delimiter=args.delimiter, names=names)

    if args.out:            # written beside --out, moved there once every row is scored
        with removed_on_failure(partial_path(Path(args.out)), f"writing {args.out}") as partial:
            with open(partial, "w", newline="") as out:
                scored(out)
            partial.replace(args.out)
    else:
        scored(sys.stdout)
    print(f"scored {scorer.rows:,} rows with {scorer.what}: column {scorer.output!r}"
          + (f" written to {args.out}" if args.out else ""), file=sys.stderr)
    judged = figures_line(scorer)
    if judged:
        print(f"  {judged}", file=sys.stderr)
    for line in scorer.notes + unseen_report(scorer):
        print(f"  note: {line}", file=sys.stderr)
    return 0


def cmd_export(args, store: Store, home: Path) -> int:
    from automl.serving.export import export_study

    card, scorer = export_study(store, find_study(store, args.study), home, Path(args.dir), args.model, args.trial)
    latency = card["latency_ms"]
    print(f"exported {scorer.what} to {args.dir}: model.onnx, encoder.json, card.json, predict.py\n"
          f"  onnxruntime latency (this CPU): 1 row p50 {latency['1_row']['p50']:.2f} ms, p99 "
          f"{latency['1_row']['p99']:.2f} ms; 1,000 rows p50 {latency['1000_rows']['p50']:.1f} ms, p99 "
          f"{latency['1000_rows']['p99']:.1f} ms\n"
          f"  score a file anywhere with onnxruntime, numpy and pandas: python {Path(args.dir) / 'predict.py'} FILE")
    return 0


def cmd_recommend(args, store: Store, home: Path) -> int:
    from automl.serving.recommend import recommend

    study = find_study(store, args.study)
    given = Path(args.users)
    if given.is_file():
        lines = [line.strip() for line in given.read_text().splitlines() if line.strip()]
        users = lines[1:] if lines and lines[0] == args.user_header else lines
    else:
        users = [u.strip() for u in args.users.split(",") if u.strip()]
    table, unknown = recommend(store, study, home, users, args.k, args.model)
    if args.out:
        table.to_csv(args.out, index=False)
    else:
        table.to_csv(sys.stdout, index=False)
    if unknown:
        print(f"note: {len(unknown)} user(s) training never saw, left out: {', '.join(unknown[:10])}", file=sys.stderr)
    return 0


def cmd_diagnose(args, store: Store, home: Path) -> int:
    from automl.diagnostics.results import DiagnosticsFailed
    from automl.reporting.diagnostics import chosen_trial, study_diagnostics, trial_view

    study = find_study(store, args.study)
    if args.model is None and args.trial is None:
        result = study_diagnostics(store, study)
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        print(f"study {study.name!r}: field pairs by consensus over the models' best trials (shadows folded)")
        print_pairs(result["consensus"], extra=lambda p: f"  ({p['models']} models){also_seen(p)}")
        print_not_interactions(result.get("not_interactions", []))
        for miss in result.get("misses", []):
            print(f"  {miss['sentence']}")
        print(f"\noptions ({study.metric} on validation across trials; Kruskal-Wallis p):")
        for c in result["options"][:TOP_LINES]:
            values = ", ".join(f"{v['value']}: {v['mean']:.4f} (n={v['count']})" for v in c["values"])
            p = "—" if c["p_value"] is None else f"{c['p_value']:.3g}"
            print(f"  {c['model']}.{c['option']}  p={p}  {values}")
        print("\nparameter importance (PED-ANOVA, per model):")
        for model, found in result["importance"].items():
            top = sorted(found.items(), key=lambda kv: -kv[1])[:3]
            print(f"  {model}: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
        return 0
    number = chosen_trial(store, study, args.model, args.trial)
    try:
        result = trial_view(store, study, home, number, again=args.again)
    except DiagnosticsFailed as failed:
        raise SettingsError(f"{failed}; `crossboard diagnose {study.name} --trial {number} --again` computes "
                            "them anew") from failed
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"trial {number} ({result['model']}): {result['rows']:,} validation rows, {result['seconds']:.1f} s")
    print("field pairs (ArchDetect mixed difference, share of the output's variance; band over repeats):")
    folded = result.get("folded")
    if folded:
        print(" shadows folded under the pair they are seen through:")
        print_pairs(folded["folded"], extra=also_seen)
        print_not_interactions(folded["not_interactions"])
        print(" as measured:")
    print_pairs(result["pairs"])
    print(f"\nfield importance (drop of validation {result['metric']} when the field is shuffled):")
    for f in result["fields"][:TOP_LINES]:
        print(f"  {f['field']:<30} {f['importance']:+.4f}  [{f['low']:+.4f}, {f['high']:+.4f}]")
    for method, pairs in result["intrinsic"].items():
        rho = result["agreement"].get(method)
        print(f"\nthe model's own view: {method} (Spearman with the pairs above: "
              f"{'—' if rho is None else f'{rho:.2f}'})")
        for p in pairs[:5]:
            print(f"  {' × '.join(p['fields']):<40} {p['strength']:.4g}")
    if "share" in result:
        print(f"\nshare of the logit's variance: wide {result['share']['wide']:.2f}, deep {result['share']['deep']:.2f}")
    if "attention" in result:
        recency = ", ".join("—" if w is None else f"{w:.2f}" for w in result["attention"]["by_recency"])
        print(f"\nhistory attention, newest first (1 = uniform): {recency}")
        for name, s in result["attention"]["by_attribute"].items():
            print(f"  steps sharing the candidate's {name}: {s['same'] or 0:.2f}, others {s['other'] or 0:.2f}")
    return 0


TOP_LINES = 10


def print_pairs(pairs: list[dict], extra=lambda p: "") -> None:
    for p in pairs[:TOP_LINES]:
        print(f"  {' × '.join(p['fields']):<40} {p['strength']:.4f}  [{p['low']:.4f}, {p['high']:.4f}]{extra(p)}")


def also_seen(pair: dict) -> str:
    """"; also seen as a × b, …": the shadows folded under ``pair`` (each a field list or a pair's dict)."""
    shadows = [" × ".join(a["fields"] if isinstance(a, dict) else a) for a in pair.get("also", [])]
    return f"; also seen as {', '.join(shadows)}" if shadows else ""


def print_not_interactions(pairs: list[dict]) -> None:
    for p in pairs:
        print(f"  not an interaction: {' × '.join(p['fields'])} ({p['reason']})")


def find_study(store: Store, ref: str):
    study = store.find_study(ref)
    if study is None:
        known = ", ".join(s.name for s in store.studies()) or "none yet (use `crossboard tune DATASET`)"
        raise NotFoundError(f"no study called {ref!r}; the studies are: {known}")
    return study


def cmd_worker(args, store: Store, home: Path) -> int:
    from automl.search.worker import run_worker

    return run_worker(store, find_study(store, args.study).id, home, device=args.device)


def cmd_stop(args, store: Store, home: Path) -> int:
    from automl.search.control import request_stop

    study = find_study(store, args.study)
    request_stop(store, study)
    print(f"stop requested for {study.name!r}: workers end after their current trial")
    return 0


def cmd_models(args, store: Store, home: Path) -> int:
    from models import REGISTRY
    from models.card import search_options

    if args.json:
        print(json.dumps([{**c.describe(), "options": search_options(c)} for c in REGISTRY.values()],
                         indent=2, default=str))
        return 0
    for card in REGISTRY.values():
        print(f"{card.name:<12} {card.family:<16} {'/'.join(sorted(card.tasks)):<12} {card.title}")
    return 0


def cmd_datasets(args, store: Store, home: Path) -> int:
    for row in store.datasets():
        schema = datasets.schema_of(row)
        print(f"{row.name:<30} {row.id[:12]}  {row.n_rows:>10,} rows  task {schema.task}  label {schema.label}")
    return 0


def max_upload_mb() -> int:
    """The upload cap in MB, the same for the browser and for ingestion."""
    from automl.data.read import DEFAULT_MAX_MB

    return int(float(os.environ.get("CROSSBOARD_MAX_UPLOAD_MB", DEFAULT_MAX_MB)))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_app(args, store: Store, home: Path) -> int:
    if not is_loopback(args.host) and not os.environ.get(PASSWORD_ENV):
        raise SettingsError(f"--host {args.host} opens CrossBoard to the network, so it needs a password: set "
                            f"{PASSWORD_ENV} in the environment (never on the command line) and run again, or "
                            "leave --host out to serve this machine only")
    env = {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": store.url}
    command = [sys.executable, "-m", "streamlit", "run", str(SERVE_SCRIPT), "--server.port", str(args.port),
               "--server.address", args.host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.maxUploadSize", str(max_upload_mb()), "--client.toolbarMode", "minimal",
               "--runner.postScriptGC", "false", "--runner.magicEnabled", "false"]    # as .streamlit/config.toml
    shown = "localhost" if is_loopback(args.host) else args.host
    gate = "password required" if os.environ.get(PASSWORD_ENV) else "this machine only"
    print(f"CrossBoard on http://{shown}:{args.port}  ({gate}; data in {home})", flush=True)
    os.execve(sys.executable, command, env)     # the server takes this process's place: a signal ends it


def stored_model_choice(p: argparse.ArgumentParser):
    """--model / --trial (one of them) for the commands that use a stored model; -> their group."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="this model's best trial (default: the study's best stored trial)")
    which.add_argument("--trial", type=int, help="this trial (a model's best trial keeps its model)")
    return which


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossboard", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="data directory (default $CROSSBOARD_HOME or ~/.crossboard)")
    parser.add_argument("--db", help="SQLAlchemy URL (default $CROSSBOARD_DB or a SQLite file in the home)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="read a table and store it as a dataset")
    p.add_argument("path", help="the file; with --by-reference also a file://, s3://, gs:// or hdfs:// URL")
    p.add_argument("--by-reference", action="store_true",
                   help="register a Parquet file that every worker reads at this path or URL (a shared folder "
                        "or object storage): the database keeps its digest, not a copy; each worker copies it "
                        "into its home once and refuses it if it changed")
    p.add_argument("--name")
    p.add_argument("--label", help="the label column (default: inferred)")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--role", action="append", metavar="COL=ROLE", help=f"override a role ({', '.join(ROLES)})")
    p.add_argument("--delimiter", help="field delimiter (default: sniffed)")
    p.add_argument("--names", help="comma-separated column names for a file without a header")
    p.add_argument("--max-mb", type=float, help="size cap in MB of a file read in memory "
                                                "(default $CROSSBOARD_MAX_UPLOAD_MB or 500)")
    p.add_argument("--memory-mb", type=float, default=datasets.IN_MEMORY_BYTES / 2**20,
                   help="files past this many MB are read in blocks, with no size cap "
                        "(CSV/TSV/Parquet; default %(default)g)")
    p.add_argument("--time-fields", action="store_true",
                   help="also give every model the timestamp's hour of day and weekday as fields")
    p.add_argument("--valid", metavar="FILE", help="the validation rows of a given split (PATH holds the training rows)")
    p.add_argument("--test", metavar="FILE", help="the test rows of a given split; they are never used to choose")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("tune", help="create a study and run it with local workers")
    p.add_argument("dataset")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--metric", "--select", dest="metric",
                   help="the validation metric that picks epochs and trials (default: the task's first, e.g. auc; "
                        "ctr: logloss to choose on calibrated logloss)")
    p.add_argument("--models", help="comma-separated model names (default: every available model)")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--workers", type=int, default=StudyConfig.workers,
                   help="local worker processes; 0 creates the study for `crossboard worker` to join")
    p.add_argument("--trial-minutes", type=float, default=None,
                   help="training time cap of one trial (default: with --minutes, two fair shares of the budget)")
    p.add_argument("--seeds", type=int, default=StudyConfig.seeds,
                   help="when the budget is spent, train the best trial of every model still in contention again "
                        "with this many more seeds (0: none)")
    p.add_argument("--epochs", type=int, default=StudyConfig.max_epochs, help="maximum epochs per trial")
    p.add_argument("--patience", type=int, default=StudyConfig.patience,
                   help="epochs without improvement before stopping")
    p.add_argument("--pruner", default=StudyConfig.pruner, choices=PRUNERS)
    p.add_argument("--seed", type=int, default=StudyConfig.seed)
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    p.add_argument("--cross", action="append", metavar="COL_A*COL_B", help="a column pair for Wide & Deep to cross")
    p.add_argument("--crosses-from", metavar="STUDY",
                   help="give Wide & Deep the option cross_source=diagnosed: the field pairs this earlier "
                        "study's diagnostics agree on (see `crossboard diagnose STUDY`)")
    p.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                   help="implicit: sampled unseen items ranked with each held-out item (0 = the full item corpus)")
    p.add_argument("--name", help="study name (default: dataset name and time)")
    p.add_argument("--online", action="store_true",
                   help="replay the log in time order: tune offline on the oldest rows, then score each window of "
                        "the rest before learning from it (static, incremental and retrain modes; DRN's own)")
    p.add_argument("--window-rows", type=int, help="online: rows per window (default: the stream in 20 windows)")
    p.add_argument("--window-hours", type=float, help="online: hours per window")
    p.add_argument("--initial", type=float, default=0.2, help="online: the oldest share of the log that trains offline")
    p.add_argument("--modes", help="online: comma-separated modes (default: static,incremental,retrain)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("leaderboard", help="print a study's results")
    p.add_argument("study")
    p.add_argument("--format", default="table", choices=["table", "csv", "json"])
    p.add_argument("--best", action="store_true",
                   help="each model's best trial with its spread over seeds and whether it ties with the leader")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="the verdict in words: which models the test rows tell apart, the "
                                      "ensemble, calibration, options and field pairs that mattered, caveats")
    p.add_argument("study")
    p.add_argument("--format", default="md", choices=["md", "json"])
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reseed", help="train the best trial of the models in contention again with more seeds")
    p.add_argument("study")
    p.add_argument("--seeds", type=int, default=StudyConfig.seeds, help="extra seeds per model")
    p.add_argument("--top", type=int, help="how many of the best models (default: every model the verdict cannot "
                                          "tell apart from the leader)")
    p.set_defaults(func=cmd_reseed)

    p = sub.add_parser("settle", help="mark the study's lost workers, queue their trials again, end a study "
                                      "whose workers are all gone")
    p.add_argument("study")
    p.set_defaults(func=cmd_settle)

    p = sub.add_parser("diagnose", help="which fields and field pairs a trial's model uses, or the study's consensus")
    p.add_argument("study")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="the best trial of this model")
    which.add_argument("--trial", type=int, help="this trial (computed on demand if not stored)")
    p.add_argument("--again", action="store_true", help="compute the trial's diagnostics anew, even if stored")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("predict", help="score a file with a study's stored model: the calibrated probability "
                                       "(ctr) or the rating, beside the file's columns")
    p.add_argument("study")
    p.add_argument("file")
    stored_model_choice(p).add_argument("--ensemble", action="store_true", help="the study's ensemble of models")
    p.add_argument("--out", help="write the scored CSV here (default: standard output)")
    p.add_argument("--delimiter", help="field delimiter (default: sniffed)")
    p.add_argument("--names", help="comma-separated column names for a file without a header")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a folder that scores files without CrossBoard: model.onnx, "
                                      "encoder.json, card.json, predict.py")
    p.add_argument("study")
    p.add_argument("dir")
    stored_model_choice(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("recommend", help="each user's top-K items they never interacted with (implicit studies)")
    p.add_argument("study")
    p.add_argument("--users", required=True, help="comma-separated user ids, or a file with one id per line")
    p.add_argument("--user-header", default="user_id", help="a first line of the users file to skip (a header)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--model", help="this model's best trial (default: the study's best stored trial)")
    p.add_argument("--out", help="write the CSV here (default: standard output)")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("worker", help="join a study as one more worker")
    p.add_argument("study")
    p.add_argument("--device", help="this worker's device, e.g. cuda:1 (used when the study names no device "
                                    "or only 'cuda'; default: CUDA when present)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("stop", help="ask a study's workers to stop after their current trial")
    p.add_argument("study")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("models", help="list the model zoo")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("datasets", help="list stored datasets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("app", help="launch the web app")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1",
                   help=f"the address to listen on (default 127.0.0.1: this machine only); any other needs "
                        f"${PASSWORD_ENV}")
    p.set_defaults(func=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    home = Path(args.home or default_home()).expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
        return args.func(args, Store(resolve_url(args.db, home)), home)
    except (CrossBoardError, UnsupportedDatabase) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:          # the reader went away (`crossboard report S | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if not disk_full(error):
            raise
        print(f"error: the disk holding {home} (or the database) is full: {error}. Free some space (old studies' "
              f"caches in {home / 'cache'} can go) and run the command again", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
