"""Fine-tuning with sentence-transformers' trainer on a real small split.

Every built-in encoder is trained for a few steps on eight title pseudo-queries; a run
"worked" when the in-batch ranking loss on its training pairs went down (measured in eval
mode, before and after, so dropout and batch order add no noise), the saved folder loads by
name and gives other vectors, and the record says how the loss went.
"""

import io
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback, TrainerControl, TrainerState
from typer.testing import CliRunner

from podseek.beir import load_corpus, load_qrels
from podseek.cli import app
from podseek.config import Settings, get_settings
from podseek.errors import PodseekError
from podseek.models.base import Encoder
from podseek.models.registry import RECORD, load_encoder, query_languages
from podseek.training.train import (
    ProgressMeter,
    TrainSettings,
    format_duration,
    logging_interval,
    mining_corpus,
    partners_to_tune,
    progress_callback,
    train_model,
    training_pairs,
)
from tests.search_catalog import make_split

SETTINGS = TrainSettings(batch_size=4, epochs=2, learning_rate=1e-4, save_steps=1)
# The bigger encoders: one pass, two steps, no warm-up (a one-step warm-up at lr 0 would
# waste half the run).
SHORT = TrainSettings(batch_size=4, epochs=1, warmup=0.0, learning_rate=1e-4, save_steps=100)
PROGRESS_LINE = re.compile(r"^step (\d+)/(\d+)  loss \d+\.\d{3}  [\d,]+\.\d pairs/s  ETA \S+$")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with the catalog fixtures and a split of title pseudo-queries."""
    return make_split(tmp_path)


class StopAfter(TrainerCallback):
    """Ctrl-C after ``steps`` optimiser steps (the checkpoint of that step is written)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.steps:
            raise KeyboardInterrupt


class SavedAt(TrainerCallback):
    """The steps after which the trainer wrote a checkpoint."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_save(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def ranking_loss(encoder: Encoder, pairs: list[tuple[str, str]]) -> float:
    """``MultipleNegativesRankingLoss`` of all ``pairs`` as one batch (cosine x 20), with the
    encoder's own prefixes: what training lowers, without dropout or batch-order noise."""
    queries = encoder.encode_queries([q for q, _ in pairs]).astype(np.float64)
    episodes = encoder.encode_episodes([e for _, e in pairs]).astype(np.float64)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    episodes /= np.linalg.norm(episodes, axis=1, keepdims=True)
    scores = 20.0 * queries @ episodes.T
    top = scores.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(scores - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_sum - np.diag(scores)))


def train_and_compare(
    base: str, home: Path, settings: TrainSettings, name: str = "tuned"
) -> tuple[float, float, dict]:
    """Train ``base`` into ``name``; check the folder loads by name and moved. Returns the
    ranking loss on the training pairs before and after, and the record."""
    pairs = training_pairs(home / "pairs", settings.max_pairs, settings.seed)
    queries = [q for q, _ in pairs]
    encoder = load_encoder(base, home)
    before, base_vectors = ranking_loss(encoder, pairs), encoder.encode_queries(queries)
    del encoder
    saved = SavedAt()
    report = train_model(
        base, home / "pairs", home, name, settings, progress=False, callbacks=[saved]
    )
    # checkpoints every save_steps, none after the last step (the model is written then)
    assert saved.steps == list(range(settings.save_steps, report.steps, settings.save_steps))
    tuned = load_encoder(name, home)  # by name, from <home>/models/<name>
    after = ranking_loss(tuned, pairs)
    assert not np.allclose(base_vectors, tuned.encode_queries(queries), atol=1e-4)
    record = json.loads((home / "models" / name / RECORD).read_text())
    assert record["base"] == base and record["steps"] == report.steps > 0
    assert record["train_loss"] == report.train_loss > 0
    history = record["loss_history"]
    assert [entry["step"] for entry in history] == list(range(1, report.steps + 1))
    assert all(entry["loss"] >= 0 for entry in history)
    return before, after, record


def test_training_moves_the_model_and_saves_a_usable_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = training_pairs(home / "pairs", None, 0)
    assert len(pairs) == 8 and all(q and e for q, e in pairs)
    # a checkpoint a step (SETTINGS) is for the resume test; here none is written
    before, after, record = train_and_compare("minilm", home, replace(SETTINGS, save_steps=100))
    assert after < 0.5 * before  # observed: 0.041 -> 0.005
    assert record["steps"] == 4 and record["pairs"] == 8 and record["resumed_from"] is None
    assert record["settings"]["batch_size"] == 4
    assert record["split"]["seed"] == 0 and record["batch_sampler"] == "no duplicates"
    assert not (home / "models" / ".checkpoints" / "tuned").exists()
    assert "'loss'" not in capsys.readouterr().out  # no trainer log dicts from a library call


# observed ranking losses: use-multilingual 0.0077 -> 0.0032, e5-small 0.89 -> 0.11
@pytest.mark.parametrize(
    "base", [pytest.param("use-multilingual", marks=pytest.mark.slow), "e5-small"]
)  # USE-multilingual's 35 s are kept out of the default run's 15 minutes
def test_every_builtin_encoder_trains(
    home: Path, base: str, request: pytest.FixtureRequest
) -> None:
    """The USE torch port and e5-small learn too, not only MiniLM (two steps each)."""
    if base == "e5-small":  # the session's expansion, not one more of its own
        (home / "models").mkdir(exist_ok=True)
        (home / "models" / "e5-small").symlink_to(request.getfixturevalue("e5_folder"))
    before, after, record = train_and_compare(base, home, SHORT)
    assert record["steps"] == 2
    assert after < 0.8 * before, (before, after)
    if base == "e5-small":  # trained at 256 tokens, saved with the base's 512 for indexing
        assert record["settings"]["max_seq_length"] == 256
        assert load_encoder("tuned", home).model.max_seq_length == 512


def test_hard_negatives_come_from_the_catalog_outside_the_held_out_splits(home: Path) -> None:
    corpus = load_corpus(home / "pairs" / "corpus.jsonl")
    held_out = {
        doc
        for split in ("dev", "test")
        for judged in load_qrels(home / "pairs" / "qrels" / f"{split}.tsv").values()
        for doc in judged
    }
    mined_from = mining_corpus(home / "pairs")
    assert held_out and not set(mined_from) & {corpus[d] for d in held_out}
    # the show-level records and episodes without queries are candidates too
    assert (
        len(mined_from)
        == len(corpus) - len(held_out)
        > len(training_pairs(home / "pairs", None, 0))
    )
    # triplets in memory for 2 texts at a time (the cached loss)
    settings = replace(SHORT, hard_negatives=1, mini_batch=2)
    report = train_model("minilm", home / "pairs", home, "mined", settings, progress=False)
    record = json.loads((home / "models" / "mined" / RECORD).read_text())
    assert record["settings"]["hard_negatives"] == 1 and 0 < report.pairs <= 8
    assert record["loss"].startswith("CachedMultipleNegativesRankingLoss") and report.steps > 0


def test_an_interrupted_training_resumes_from_its_checkpoint(home: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train_model(
            "minilm", home / "pairs", home, "again", SETTINGS, False, callbacks=[StopAfter(2)]
        )
    checkpoints = home / "models" / ".checkpoints" / "again"
    assert (checkpoints / "checkpoint-2").is_dir()
    assert not (home / "models" / "again").exists()
    saved = SavedAt()
    report = train_model(
        "minilm", home / "pairs", home, "again", SETTINGS, progress=False, callbacks=[saved]
    )
    assert report.resumed_from == str(checkpoints / "checkpoint-2") and report.steps == 4
    assert saved.steps == [3]  # a checkpoint a step, but not after the last (4)
    # the losses logged before the interruption come back with the checkpoint
    assert [entry["step"] for entry in report.loss_history] == [1, 2, 3, 4]


def test_checkpoints_also_come_by_the_clock(home: Path) -> None:
    """A checkpoint once save_minutes have passed, though save_steps is far off: with a
    minutes-long step (a CPU's) every step is one, but still none after the last."""
    saved = SavedAt()
    settings = replace(SETTINGS, save_steps=100, save_minutes=1e-9)
    report = train_model(
        "minilm", home / "pairs", home, "timed", settings, progress=False, callbacks=[saved]
    )
    assert report.steps == 4 and saved.steps == [1, 2, 3]
    assert not (home / "models" / ".checkpoints" / "timed").exists()  # gone with the model


def test_progress_lines_count_this_runs_steps_only() -> None:
    """A run resumed at step 20 that reaches step 60 in 30 s did 40 steps of 4 pairs."""
    now = iter([0.0, 100.0, 130.0])
    meter = ProgressMeter(batch_size=4, clock=lambda: next(now))
    stream = io.StringIO()
    callback = progress_callback(meter, stream)
    state, control = TrainerState(global_step=20, max_steps=100), TrainerControl()
    callback.on_train_begin(None, state, control)
    state.global_step = 60
    callback.on_log(None, state, control, logs={"loss": 1.23456, "learning_rate": 1e-5})
    callback.on_log(None, state, control, logs={"train_loss": 1.0})  # the end summary: no line
    assert stream.getvalue() == "step 60/100  loss 1.235  5.3 pairs/s  ETA 30s\n"
    assert [format_duration(s) for s in (0.4, 59, 130, 3600 * 2 + 300)] == [
        "0s",
        "59s",
        "2m10s",
        "2h05m",
    ]


def test_the_loss_is_logged_about_every_5_percent_of_the_steps() -> None:
    assert logging_interval(5_940, TrainSettings()) == 4  # 93 steps of 64 (the last smaller)
    assert logging_interval(5_940, TrainSettings(epochs=3)) == 13  # 279 steps
    assert logging_interval(8, SETTINGS) == 1  # 4 steps: every one


def test_train_command_prints_progress_on_stderr_and_json_on_stdout(
    workspace: Settings,
) -> None:
    make_split(workspace.home)
    result = CliRunner().invoke(
        app,
        ["train", "--base", "minilm", "--name", "cli", "--batch", "4", "--lr", "1e-4", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # the trainer's log dicts stay off stdout
    assert report["steps"] == 2 and report["train_loss"] > 0
    assert [entry["step"] for entry in report["loss_history"]] == [1, 2]
    lines = [m.groups() for m in map(PROGRESS_LINE.match, result.stderr.splitlines()) if m]
    assert lines == [("1", "2"), ("2", "2")], result.stderr

    mined = CliRunner().invoke(
        app,
        ["train", "--base", "minilm", "--name", "cli-hn", "--batch", "4", "--hard-negatives", "1",
         "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert mined.exit_code == 0, mined.output
    assert json.loads(mined.stdout)["settings"]["hard_negatives"] == 1  # the miner's table: stderr
    assert re.search(r"hard negatives found for \d+ of 8 pairs", mined.stderr), mined.stderr


def test_train_tunes_the_ensemble_models_beside_and_searches_fuse_those_copies(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_split(workspace.home)
    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", "use-multilingual, e5-small")

    def podseek(*args: str) -> dict:
        get_settings.cache_clear()
        result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    report = podseek("train", "--base", "minilm", "--name", "pair", "--batch", "4")
    partner, second = report["partners"]
    assert report["partner"] == partner  # a one-partner workspace's key: the first
    assert partner["name"] == "pair-use-multilingual" and partner["base"] == "use-multilingual"
    assert partner["pairs"] == report["pairs"] == 8 and partner["train_loss"] > 0
    assert second["name"] == "pair-e5-small" and second["base"] == "e5-small"
    settings = get_settings()
    home = settings.home
    assert settings.ensembles_for("pair") == [
        ("pair-use-multilingual", home / "index-ensemble"),
        ("pair-e5-small", home / "index-ensemble-2"),
    ]
    # a tuned model knows the languages its base knows: MiniLM's English, USE's any
    assert query_languages("pair", settings.home) == {"en"}
    assert query_languages("pair-use-multilingual", settings.home) is None
    indexed = podseek("index", "--model", "pair")
    assert indexed["ensemble"]["model"] == "pair-use-multilingual"
    assert indexed["ensemble_2"]["model"] == "pair-e5-small"
    assert indexed["ensemble"]["rows"] == indexed["ensemble_2"]["rows"] == indexed["rows"]
    assert podseek("search", "bread")["results"][0]["data"]

    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", "use-multilingual")
    alone = podseek("train", "--base", "minilm", "--name", "alone", "--batch", "4", "--no-partner")
    assert alone["partner"] is None and alone["partners"] == []
    untuned = [("use-multilingual", home / "index-ensemble")]
    assert get_settings().ensembles_for("alone") == untuned
    assert get_settings().ensembles_for("e5-small") == untuned
    monkeypatch.setenv("PODSEEK_ENSEMBLE_MODEL", "")
    assert podseek("train", "--base", "minilm", "--name", "one", "--batch", "4")["partner"] is None
    assert get_settings().ensembles_for("pair") == []  # one encoder: the setting rules


def test_bad_requests_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no training split"):
        train_model("minilm", tmp_path / "nowhere", home, "x", SETTINGS)
    with pytest.raises(PodseekError, match="plain name"):
        train_model("minilm", home / "pairs", home, "e5-small", SETTINGS)
    with pytest.raises(PodseekError, match="unknown model 'gpt-9'"):
        train_model("gpt-9", home / "pairs", home, "x", SETTINGS)


def test_english_only_partners_are_fused_as_packaged(tmp_path: Path) -> None:
    """A tuned MiniLM partner ranked no better than the packaged one on English queries, the
    only ones it joins, and tuning mpnet would take hours on a CPU: train tunes neither."""
    settings = Settings(
        _env_file=None, home=tmp_path, ensemble_model="use-multilingual,mpnet,minilm,e5-small"
    )
    assert partners_to_tune(settings, "pair", "e5-small") == {
        "use-multilingual": "pair-use-multilingual"  # e5-small is the base: no copy of itself
    }
    assert partners_to_tune(settings, "pair", "minilm") == {
        "use-multilingual": "pair-use-multilingual",
        "e5-small": "pair-e5-small",
    }
