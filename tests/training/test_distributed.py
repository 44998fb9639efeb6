"""Training under torchrun (DDP), on two CPU processes with the gloo backend.

The CPU route is the one this machine can run; on GPUs only the backend (NCCL) and the
devices differ. Two things are checked: that the loss really ranks each query against the
global batch (two processes' loss and gradients equal one process's over the concatenated
batch), and that ``podseek train`` under torchrun trains, writes one model folder from rank
0 and says in its record how many processes trained and with which batch.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from podseek.errors import PodseekError
from podseek.models.device import CPU, Device
from podseek.models.registry import RECORD, load_encoder
from podseek.training.train import (
    TrainSettings,
    describe_ranks,
    distributed_arguments,
    distributed_rank,
    in_batch_loss,
    logging_interval,
    precision_arguments,
    rank_device,
    train_model,
    world_size,
)
from tests.search_catalog import make_split
from tests.training import gather_worker

BIN = Path(sys.executable).parent
PROGRESS_LINE = re.compile(r"^step (\d+)/(\d+)  loss \d+\.\d{3}  ")


def torchrun(
    args: list[str], env: dict[str, str], timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 ARGS`` on the CPU, one torch thread each."""
    return subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", *args],
        env={
            **os.environ,
            "PODSEEK_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # 2 processes on 2 cores
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def as_rank_1_of_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment torchrun gives the second of two processes on one machine."""
    for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)


def test_one_process_is_not_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_rank() is None and world_size() == 1
    assert distributed_arguments(CPU) == {}
    assert rank_device(Device("cuda:0", "bfloat16")) == Device("cuda:0", "bfloat16")
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node 1: one process, no DDP
    monkeypatch.setenv("RANK", "0")
    assert distributed_rank() is None and world_size() == 1


@pytest.mark.usefixtures("as_rank_1_of_2")
def test_each_process_trains_on_its_own_device_with_its_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert distributed_rank() == 1 and world_size() == 2
    assert distributed_arguments(CPU) == {"ddp_backend": "gloo", "dataloader_drop_last": True}
    gpu = Device("cuda:0", "bfloat16")  # what PODSEEK_DEVICE=cuda resolves to in each process
    assert distributed_arguments(gpu)["ddp_backend"] == "nccl"
    assert rank_device(gpu) == Device("cuda:1", "bfloat16")  # LOCAL_RANK's GPU
    assert rank_device(CPU) == CPU
    # an epoch is the rounds in which both processes have a full batch: 5,940 pairs in
    # batches of 64 on 2 processes are 46 steps, logged every 2
    assert logging_interval(5_940, TrainSettings(), world=2) == 2
    _, name = in_batch_loss(torch.nn.Sequential(torch.nn.Identity()), TrainSettings(), True)
    assert name.endswith("negatives gathered across 2 processes)")


def test_the_loader_processes_share_the_nodes_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Half the cores tokenize (at most 8); under torchrun, half shared by the node's GPUs."""
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    gpu = Device("cuda:0", "bfloat16")
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert precision_arguments(gpu)["dataloader_num_workers"] == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert precision_arguments(gpu)["dataloader_num_workers"] == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert precision_arguments(gpu)["dataloader_num_workers"] == 0  # each process tokenizes


@pytest.mark.usefixtures("as_rank_1_of_2")
def test_more_processes_than_gpus_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(PodseekError) as raised:
        rank_device(Device("cuda:0", "bfloat16"))
    assert str(raised.value) == (
        "process 1 of this node has no GPU of its own: the node has 1; "
        "start at most 1 a node (torchrun --nproc_per_node 1)"
    )


def test_the_device_line_names_the_processes_once() -> None:
    gpus = [
        {"rank": n, "host": f"node{n // 8}", "device": f"cuda:{n % 8} (NVIDIA H200, bf16)"}
        for n in range(16)
    ]
    assert describe_ranks(gpus, "nccl") == "16 x cuda (NVIDIA H200, bf16), nccl, 2 nodes"
    cpus = [{"rank": n, "host": "vm", "device": "cpu (1 threads, fp32)"} for n in range(2)]
    assert describe_ranks(cpus, "gloo") == "2 x cpu (1 threads, fp32), gloo"


def test_two_processes_rank_each_query_against_the_global_batch(tmp_path: Path) -> None:
    """Two gloo processes, 4 rows each, give the loss and gradients of one process over the 8.

    Each process's loss is the mean over its own 4 queries, each ranked against all 8
    episodes; DDP averages the processes' gradients. So the two losses average to the
    one-process loss, and each process's gradient on its rows, halved, is the one-process
    gradient on them. Without gathering, each query would see its own 4 episodes only and
    the loss would be lower (checked too, so the comparison can tell the two apart).
    """
    worker = Path(gather_worker.__file__)
    done = torchrun([str(worker), str(tmp_path)], env={}, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    queries, episodes = gather_worker.embeddings(world=2)
    for kind in gather_worker.SETTINGS:
        whole = gather_worker.loss_and_gradients(kind, queries, episodes, gather=False)
        halves = [ranks[r][kind]["loss"] for r in range(2)]
        assert sum(halves) / 2 == pytest.approx(whole["loss"], rel=1e-9), kind
        for rank in range(2):
            rows = slice(rank * gather_worker.BATCH, (rank + 1) * gather_worker.BATCH)
            for side in ("queries", "episodes"):
                mine = torch.tensor(ranks[rank][kind][side]) / 2
                expected = torch.tensor(whole[side])[rows]
                torch.testing.assert_close(mine, expected, rtol=1e-7, atol=1e-12)
        alone = [
            gather_worker.loss_and_gradients(kind, queries[rows], episodes[rows], False)["loss"]
            for rows in (slice(0, 4), slice(4, 8))
        ]
        assert sum(alone) / 2 < 0.8 * whole["loss"], (kind, alone, whole["loss"])


@pytest.mark.slow  # 25 s to 90 s: kept out of the default run's 15 minutes
def test_torchrun_trains_one_model_from_two_processes(tmp_path: Path) -> None:
    home = make_split(tmp_path / "ws")
    done = torchrun(
        [str(BIN / "podseek"), "train", "--base", "minilm", "--name", "ddp", "--batch", "4",
         "--max-seq-length", "32", "--epochs", "2", "--lr", "1e-4"],
        env={"PODSEEK_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # rank 0 alone reports, writes the progress lines and the folder
    assert done.stdout.count("trained ddp from minilm") == 1, done.stdout
    assert "global batch 8" in done.stdout and "2 x cpu" in done.stdout
    lines = [m.groups() for m in map(PROGRESS_LINE.match, done.stderr.splitlines()) if m]
    assert lines == [("1", "2"), ("2", "2")], done.stderr[-3000:]
    models = home / "models"
    assert sorted(p.name for p in models.iterdir()) == [".checkpoints", "ddp"]
    assert not any((models / ".checkpoints").iterdir())
    record = json.loads((models / "ddp" / RECORD).read_text())
    assert record["world_size"] == 2 and record["global_batch"] == 8
    assert record["distributed"]["backend"] == "gloo"
    assert record["distributed"]["negatives_gathered"] is True
    assert record["distributed"]["per_device_batch"] == 4
    assert [rank["rank"] for rank in record["distributed"]["ranks"]] == [0, 1]
    assert record["device"].startswith("2 x cpu") and record["device"].endswith(", gloo")
    assert record["loss"].endswith("negatives gathered across 2 processes)")
    # 8 pairs, a round of 2 x 4 an epoch: 2 steps, each logged
    assert record["steps"] == 2 and [e["step"] for e in record["loss_history"]] == [1, 2]
    assert all(e["loss"] > 0 for e in record["loss_history"])
    vectors = load_encoder("ddp", home).encode_queries(["we eat better during xmas holidays"])
    assert vectors.shape == (1, 384) and abs(float((vectors**2).sum()) - 1) < 1e-4


@pytest.mark.slow
def test_torchrun_trains_with_hard_negatives_in_mini_batches(tmp_path: Path) -> None:
    """Every process mines the same triplets (rank 0's are used if they differ), and the
    GradCache loss gathers the negatives too."""
    home = make_split(tmp_path / "ws")
    done = torchrun(
        [str(BIN / "podseek"), "train", "--base", "minilm", "--name", "hn", "--batch", "2",
         "--mini-batch", "1", "--hard-negatives", "1", "--max-seq-length", "32", "--json"],
        env={"PODSEEK_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # rank 0's report, alone on stdout
    assert report["world_size"] == 2 and report["global_batch"] == 4 and report["steps"] == 2
    assert done.stderr.count("hard negatives found for") == 1
    record = json.loads((home / "models" / "hn" / RECORD).read_text())
    assert record["settings"]["hard_negatives"] == 1
    assert record["loss"] == (
        "CachedMultipleNegativesRankingLoss (scale 20, cosine, mini-batch 1, "
        "negatives gathered across 2 processes)"
    )


@pytest.mark.usefixtures("as_rank_1_of_2")
def test_a_global_batch_larger_than_the_pairs_is_one_line(tmp_path: Path) -> None:
    """8 pairs cannot fill one round of 2 x 8: no step at all, said before anything loads
    (and the same on every process)."""
    home = make_split(tmp_path / "ws")
    with pytest.raises(PodseekError, match=re.escape(
        "8 training pairs are fewer than one global batch (2 processes x --batch 8)"
    )):  # fmt: skip
        train_model("minilm", home / "pairs", home, "big", TrainSettings(batch_size=8))
    assert not (home / "models" / "big").exists()


@pytest.mark.slow
def test_an_interrupted_ddp_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """Rank 0 writes the checkpoints, each process its random state; the rerun resumes."""
    home = make_split(tmp_path / "ws")
    worker = str(Path(__file__).with_name("resume_worker.py"))
    stopped = torchrun([worker, str(home), "stop"], env={})
    assert stopped.returncode != 0 and not (home / "models" / "again").exists()
    checkpoint = home / "models" / ".checkpoints" / "again" / "checkpoint-2"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
    done = torchrun([worker, str(home), "go"], env={})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((home / "report.json").read_text())
    assert report["resumed_from"] == str(checkpoint) and report["steps"] == 4
    assert [entry["step"] for entry in report["loss_history"]] == [1, 2, 3, 4]
    assert (home / "models" / "again" / RECORD).is_file()
