"""One process of the gathering check, run by torchrun (tests/training/test_distributed.py).

Every process takes its share (``BATCH`` rows) of the same seeded query and episode
embeddings, computes podseek's training loss (``in_batch_loss`` with gathering on, plain MNRL
and its GradCache form) on it, runs the backward pass, and writes its loss and the gradients
of its own rows to ``<out>/rank<R>.json``. The test compares them with the loss of one
process over the whole, concatenated batch.

    torchrun --standalone --nproc_per_node 2 tests/training/gather_worker.py OUT_DIR
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from podseek.training.train import TrainSettings, in_batch_loss

BATCH = 4  # rows per process
DIMENSIONS = 8
# plain MNRL, and its GradCache form with 2 texts a forward pass
SETTINGS = {
    "mnrl": TrainSettings(batch_size=BATCH),
    "cached": TrainSettings(batch_size=BATCH, mini_batch=2),
}


def embeddings(world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch's query and episode embeddings (seeded, float64)."""
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(world * BATCH, DIMENSIONS, generator=generator, dtype=torch.float64)
    episodes = queries + 1.5 * torch.randn(
        world * BATCH, DIMENSIONS, generator=generator, dtype=torch.float64
    )
    return queries, episodes


def loss_and_gradients(
    kind: str, queries: torch.Tensor, episodes: torch.Tensor, gather: bool
) -> dict[str, object]:
    """The loss over these rows and its gradients with respect to them."""
    queries = queries.clone().requires_grad_()
    episodes = episodes.clone().requires_grad_()
    # the losses only touch the model to embed texts; these rows are embedded already
    model = torch.nn.Sequential(torch.nn.Identity())
    loss, _ = in_batch_loss(model, SETTINGS[kind], gather=gather)
    if kind == "cached":
        value = loss.calculate_loss([[queries[:2], queries[2:]], [episodes[:2], episodes[2:]]])
    else:
        value = loss.compute_loss_from_embeddings([queries, episodes], None)
    value.backward()
    return {
        "loss": value.item(),
        "queries": queries.grad.tolist(),
        "episodes": episodes.grad.tolist(),
    }


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    queries, episodes = embeddings(world)
    mine = slice(rank * BATCH, (rank + 1) * BATCH)
    result = {
        kind: loss_and_gradients(kind, queries[mine], episodes[mine], gather=True)
        for kind in SETTINGS
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
