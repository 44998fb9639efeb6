"""The whole recipe as one run: ingest -> (base index) -> generate -> split -> train -> index
with the tuned model -> evaluate, each stage skipped when its output is up to date.

Each stage is one ``podseek`` command run as a child process (its output is the stage's
progress; a stage's memory, training's above all, goes back to the system when it ends).
What a stage did is recorded in ``<workspace>/pipeline/<stage>.json``: its command, the
inputs it read (file sizes and times, the settings that shape its output), the fingerprint
of the stage before it, the versions of podseek and its main libraries, and how long it took.
A stage is up to date when its fingerprint (command + inputs + the previous stage's
fingerprint) matches the record and its output is there, so changing one stage's settings
redoes it and every stage after it, and ``--force STAGE`` does the same by hand.

A stage that was interrupted left a ``.started`` record: run again with the same
fingerprint, the stage's own resume takes over (generation continues its batches, training
its checkpoints, indexing its committed chunks); with another fingerprint its partial output
is cleared first, so nothing from other settings is resumed.

The tuned model is indexed before the evaluation so that the evaluation reuses that index
for the catalog-wide judged sets instead of encoding the catalog a second time.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from podseek.config import TRAINING_RECORD, Settings
from podseek.errors import PodseekError, exit_reason
from podseek.models.device import settings_device

SOURCES = ("listennotes", "rss", "opml", "table")
LISTEN_NOTES_URL = (
    "https://www.kaggle.com/datasets/listennotes/all-podcast-episodes-published-in-december-2017"
)
RUN_NAME = "pipeline"  # the evaluation report: <workspace>/reports/pipeline/


@dataclass(frozen=True)
class PipelineOptions:
    """What a user chooses; ``--quick`` fills in the rest with settings that fit ~15 min."""

    source: str
    location: str
    mapping: str | None = None
    limit: int | None = None
    quick: bool = False
    generator: str = "gemma-270m"
    base: str | None = None  # default: the workspace's model setting (e5-small)
    qrels: tuple[Path, ...] = ()
    seed: int = 0
    ray: str | None = None  # --ray ADDRESS for the stages that run a model on many episodes


@dataclass
class Stage:
    """One step: the ``podseek`` arguments it runs and how to tell that its output exists."""

    name: str
    summary: str
    args: list[str]
    inputs: dict[str, Any] = field(default_factory=dict)
    done: Callable[[], bool] = lambda: True
    clear: Callable[[], None] = lambda: None  # removes a partial output of other settings
    redo: Callable[[], None] = lambda: None  # what --force STAGE removes besides
    needed_by: str | None = None  # run only when this later stage runs
    fingerprint: str = ""  # set by :func:`decide`
    # arguments that say where the stage runs, not what it writes (--ray ADDRESS): in its
    # command, not in its fingerprint, so adding or dropping them redoes nothing
    runner: list[str] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        return [*self.args, *self.runner]


QUICK = {
    "limit": 100,  # episodes that get synthetic queries (all of them are indexed)
    "eval": "0.1",  # shares of those episodes held out: enough for a few batches
    "test": "0.2",
}


def quick_summary() -> str:
    return (
        f"--quick: queries for a seeded {QUICK['limit']} episodes without the round-trip "
        f"filter (it needs the whole catalog encoded by the base model), held out "
        f"{QUICK['eval']} / {QUICK['test']} of them for eval / test; training, indexing and "
        "evaluation as in the full run"
    )


def source_signature(source: str, location: str) -> dict[str, Any]:
    """What the ingested data looked like: every file's size and time, or the URL."""
    path = Path(location).expanduser()
    if "://" in location:
        return {"url": location}
    if not path.exists():
        if source == "listennotes":
            raise PodseekError(
                f"{location} does not exist: podseek's default catalog is the Listen Notes "
                f"December 2017 dataset; download it from {LISTEN_NOTES_URL} and give its "
                "folder (the one with podcasts.csv and episodes.csv)"
            )
        raise PodseekError(f"{location} does not exist")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {
        "path": str(path.resolve()),
        "files": {
            str(p.relative_to(path) if path.is_dir() else p.name): [
                p.stat().st_size,
                p.stat().st_mtime_ns,
            ]
            for p in files
        },
    }


def _index_model(settings: Settings) -> str | None:
    from podseek.index.episode_index import read_manifest

    try:
        manifest = read_manifest(settings.index_dir)
    except PodseekError:
        return None
    return manifest.model.name if manifest else None


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _forget_generated(settings: Settings) -> None:
    """``--force generate``: write the queries again (imported search logs are kept)."""
    from podseek.queries.store import QueryStore

    if settings.queries_path.is_file():
        with QueryStore(settings.queries_path) as store:
            store.clear_generated()


def plan(options: PipelineOptions, settings: Settings) -> list[Stage]:
    """The stages of this run, in order, with the commands docs/pipeline.md documents."""
    from podseek.training.train import partners_to_tune

    if options.source not in SOURCES:
        raise PodseekError(f"unknown source {options.source!r}; use {', '.join(SOURCES)}")
    base = options.base or settings.model
    tuned = f"{Path(base).name}-pipeline"
    limit = options.limit or (QUICK["limit"] if options.quick else None)
    round_trip = not options.quick
    home = settings.home

    ingest = ["ingest", options.source, options.location]
    if options.mapping:
        ingest += ["--mapping", options.mapping]
    stages = [
        Stage(
            "ingest",
            "read the catalog",
            ingest,
            {"source": source_signature(options.source, options.location)},
            done=lambda: settings.catalog_path.is_file(),
        )
    ]
    if round_trip:
        stages.append(
            Stage(
                "base-index",
                f"index the catalog with {base} (the round-trip filter searches it)",
                ["index", "--model", base],
                done=lambda: _index_model(settings) == base,
                needed_by="generate",
            )
        )
    generate = ["queries", "generate", "--generator", options.generator]
    generate += ["--seed", str(options.seed)]
    # transcribed episodes' windows get queries too: a changed count redoes the stage
    generate += ["--segments-per-episode", str(settings.segments_per_episode)]
    if limit:
        generate += ["--limit", str(limit)]
    if not round_trip:
        generate += ["--round-trip-k", "0"]
    split = ["pairs", "split", "--seed", str(options.seed)]
    if options.quick:
        split += ["--eval", QUICK["eval"], "--test", QUICK["test"]]
    model_dir = home / "models" / tuned
    # podseek train tunes the ensemble models beside it, and searches with it fuse those copies
    partners = partners_to_tune(settings, tuned, base)
    trained = [model_dir] + [home / "models" / partner for partner in partners.values()]
    evaluate = ["evaluate", "--models", f"base,{tuned}", "--run", RUN_NAME]
    evaluate += [arg for folder in options.qrels for arg in ("--qrels", str(folder))]
    report = settings.reports_dir / RUN_NAME
    stages += [
        Stage(
            "generate",
            f"write synthetic queries with {options.generator}",
            generate,
            done=lambda: settings.queries_path.is_file(),
            redo=lambda: _forget_generated(settings),
        ),
        Stage(
            "split",
            "split the pairs by episode into train / eval / test",
            split,
            done=lambda: (settings.pairs_dir / "split.json").is_file(),
        ),
        Stage(
            "train",
            f"fine-tune {base} on the train split"
            + (f", and {', '.join(partners)} beside it" if partners else ""),
            ["train", "--base", base, "--name", tuned, "--seed", str(options.seed)],
            done=lambda: all((folder / TRAINING_RECORD).is_file() for folder in trained),
            clear=lambda: _remove(
                *trained, *(home / "models" / ".checkpoints" / f.name for f in trained)
            ),
        ),
        Stage(
            "index",
            f"index the catalog with {tuned}",
            ["index", "--model", tuned],
            # another list of partners (an ensemble model added) indexes again: theirs too
            {"ensemble": settings.ensemble_models},
            done=lambda: _index_model(settings) == tuned,
        ),
        Stage(
            "evaluate",
            f"measure {base} against {tuned}",
            evaluate,
            {"qrels": [source_signature("qrels", str(folder)) for folder in options.qrels]},
            done=lambda: (report / "report.json").is_file(),
            clear=lambda: _remove(report),
        ),
    ]
    shaping = {
        name: getattr(settings, name)
        for name in ("text_max_chars", "min_detect_chars", "query_engine", "hybrid_fusion")
    }
    for stage in stages:
        stage.inputs["settings"] = shaping
        if options.ray is not None and stage.name in RAY_STAGES:
            stage.runner = ["--ray", options.ray]
    return stages


# The stages that can run their model on a Ray cluster (podseek.scale.ray_jobs).
RAY_STAGES = frozenset({"base-index", "generate", "index"})


def versions() -> dict[str, str]:
    found = {}
    for name in ("podseek", "sentence-transformers", "transformers", "torch", "lancedb"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def fingerprint(stage: Stage, previous: str) -> str:
    key = json.dumps(
        {"args": stage.args, "inputs": stage.inputs, "previous": previous}, sort_keys=True
    )
    return hashlib.sha1(key.encode()).hexdigest()[:16]


# The stages that run a model, on the device setting's device (the others read and write files).
MODEL_STAGES = frozenset({"base-index", "generate", "train", "index", "evaluate"})


class Records:
    """``<workspace>/pipeline/<stage>.json`` (finished) and ``<stage>.started`` (begun)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, stage: str, suffix: str = ".json") -> dict[str, Any] | None:
        path = self.folder / f"{stage}{suffix}"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write(self, stage: str, record: dict[str, Any], suffix: str = ".json") -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{stage}{suffix}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def forget(self, stage: str) -> None:
        _remove(self.folder / f"{stage}.json")


@dataclass
class StageResult:
    name: str
    summary: str
    status: str  # "ran", "skipped", "not needed"
    seconds: float
    command: str


def _command_line(args: Sequence[str]) -> str:
    return "podseek " + " ".join(a if a and " " not in a else repr(a) for a in args)


def decide(stages: list[Stage], records: "Records", force: str | None) -> dict[str, str]:
    """Which stages run: one runs when it is forced, its fingerprint or output changed, or a
    stage before it ran (its input changed); a stage that only feeds a later one runs only
    when that one does."""
    names = [stage.name for stage in stages]
    if force is not None and force not in names:
        raise PodseekError(f"--force {force!r}: not a stage of this run; use {', '.join(names)}")
    decision: dict[str, str] = {}
    previous = ""
    forced = earlier_ran = False
    for stage in stages:
        stage.fingerprint = previous = fingerprint(stage, previous)
        forced = forced or stage.name == force
        record = records.read(stage.name)
        stale = forced or record is None or record.get("fingerprint") != previous
        if stage.needed_by:  # decided with the stage it feeds, below
            decision[stage.name] = "stale" if stale or not stage.done() else "ok"
            continue
        runs = earlier_ran or stale or not stage.done()
        decision[stage.name] = "run" if runs else "skip"
        earlier_ran = earlier_ran or runs
    for stage in stages:
        if stage.needed_by:
            feeds = decision[stage.needed_by] == "run"
            if not feeds:
                decision[stage.name] = "not needed"
            else:
                decision[stage.name] = "run" if decision[stage.name] == "stale" else "skip"
    return decision


def run(
    stages: list[Stage],
    settings: Settings,
    force: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[StageResult]:
    """Run the stages that are not up to date, in order; raise on the first that fails."""
    records = Records(settings.home / "pipeline")
    device = settings_device(settings).describe()  # an unknown or missing device stops here
    decision = decide(stages, records, force)
    env = {**os.environ, "PODSEEK_HOME": str(settings.home)}
    results = []
    for number, stage in enumerate(stages, 1):
        label = f"[{number}/{len(stages)}] {stage.name}: {stage.summary}"
        command = _command_line(stage.command)
        if decision[stage.name] == "not needed":
            echo(f"{label}: not needed (the stage it feeds is up to date)")
            results.append(StageResult(stage.name, stage.summary, "not needed", 0.0, command))
            continue
        if decision[stage.name] == "skip":
            echo(f"{label}: up to date, skipped")
            results.append(StageResult(stage.name, stage.summary, "skipped", 0.0, command))
            continue
        records.forget(stage.name)
        began = records.read(stage.name, ".started")
        if stage.name == force:
            stage.redo()
        if began is None or began.get("fingerprint") != stage.fingerprint or stage.name == force:
            stage.clear()  # a partial output of other settings is never resumed
        else:
            echo(f"  resuming the interrupted {stage.name} stage")
        records.write(stage.name, {"fingerprint": stage.fingerprint}, ".started")
        echo(f"{label}\n  $ {command}")
        started = time.monotonic()
        code = _run_child([sys.executable, "-m", "podseek", *stage.command], env)
        seconds = time.monotonic() - started
        if code in (130, -signal.SIGINT):
            raise Interrupted(stage.name)
        if code != 0:
            raise PodseekError(stage_failure(stage.name, code, seconds))
        records.write(
            stage.name,
            {
                "stage": stage.name,
                "command": command,
                "fingerprint": stage.fingerprint,
                "inputs": stage.inputs,
                "versions": versions(),
                "device": device if stage.name in MODEL_STAGES else None,
                "seconds": round(seconds, 1),
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        _remove(records.folder / f"{stage.name}.started")
        echo(f"  {stage.name} took {_duration(seconds)}")
        results.append(StageResult(stage.name, stage.summary, "ran", seconds, command))
    return results


class Interrupted(Exception):
    """Ctrl-C during a stage: the stage stopped cleanly and resumes on the next run."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


def _run_child(argv: list[str], env: dict[str, str]) -> int:
    """Run one stage; on Ctrl-C let it stop by itself (it got the signal too and saves what
    it finished) rather than killing it mid-write."""
    child = subprocess.Popen(argv, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 130


def stage_failure(name: str, code: int, seconds: float) -> str:
    """The line a failed stage ends the run with. A stage killed by a signal printed nothing
    (a native library, llama.cpp or torch, took the process down), so the line says so."""
    how = f"{exit_reason(code)} after {_duration(seconds)}"
    if code >= 0:
        what = f"failed ({how}); fix what it said"
    else:
        what = f"crashed ({how}) in a native library: see docs/install.md#crashes"
    return f"stage {name} {what} and run the same command again: finished stages are kept"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def summary(results: list[StageResult], settings: Settings) -> list[str]:
    """The closing lines: time per stage, then the evaluation's key rows."""
    lines = ["", "| stage | status | time |", "|---|---|---:|"]
    for result in results:
        took = _duration(result.seconds) if result.status == "ran" else ""
        lines.append(f"| {result.name} | {result.status} | {took} |")
    ran = sum(r.seconds for r in results)
    lines.append(f"| all | | {_duration(ran)} |")
    report_path = settings.reports_dir / RUN_NAME / "report.json"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return lines
    for part in report.get("retrieval", {}).values():
        lines += [
            "",
            f"{part['title']}: {part['queries']:,} queries over {part['corpus_episodes']:,} "
            "episodes",
            "| run | recall@10 | recall@30 | MRR@10 |",
            "|---|---:|---:|---:|",
        ]
        for row, scores in part["rows"].items():
            lines.append(
                f"| {row} | {scores['recall@10']:.3f} | {scores['recall@30']:.3f} | "
                f"{scores['mrr@10']:.3f} |"
            )
    for part in (report.get("in_batch") or {}).values():
        rows = ", ".join(f"{row} {scores['mrr@5']:.3f}" for row, scores in part["rows"].items())
        lines.append(
            f"\nin-batch MRR@5 on the {part['split']} split ({part['queries']:,} queries): {rows}"
        )
    lines.append(f"\nreport: {report_path.parent / 'report.md'}")
    return lines
