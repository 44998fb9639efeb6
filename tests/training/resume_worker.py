"""One process of the DDP resume check, run by torchrun (tests/training/test_distributed.py).

``stop``: train 2 of 4 steps (a checkpoint each step) and stop as Ctrl-C would; ``go``: run
the same training again, which resumes from the last checkpoint. Rank 0 writes the report to
``<home>/report.json``.

    torchrun --standalone --nproc_per_node 2 tests/training/resume_worker.py HOME stop|go
"""

import json
import sys
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback

from podseek.training.train import TrainSettings, distributed_rank, end_distributed, train_model

# 8 pairs, 2 a process: 2 steps an epoch, 4 in all
SETTINGS = TrainSettings(
    batch_size=2, epochs=2, learning_rate=1e-4, save_steps=1, max_seq_length=32
)
STOPPED = 3  # the exit code of the interrupted run


class StopAfterTwo(TrainerCallback):
    """Ctrl-C once the checkpoint of step 2 is written (on every process)."""

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= 2:
            raise KeyboardInterrupt


def main(home: Path, stop: bool) -> None:
    try:
        report = train_model(
            "minilm", home / "pairs", home, "again", SETTINGS, progress=False,
            callbacks=[StopAfterTwo()] if stop else None,
        )  # fmt: skip
    except KeyboardInterrupt:
        sys.exit(STOPPED)
    end_distributed()
    if distributed_rank() == 0:
        (home / "report.json").write_text(json.dumps(asdict(report)))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] == "stop")
