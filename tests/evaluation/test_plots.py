"""The report's pictures: PCA of query/episode pairs (PNG and offline HTML) and recall curves."""

import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from podseek.evaluation.plots import plot_pca, plot_recall_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PAIRS, DIMS = 40, 16
LABELS = [f"query number {i} about topic {i % 7}" for i in range(PAIRS)]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _spaces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A base model whose pairs are unrelated and a tuned one whose episodes sit by their query."""
    rng = np.random.default_rng(0)
    base_q = _normalise(rng.normal(size=(PAIRS, DIMS)))
    base_e = _normalise(rng.normal(size=(PAIRS, DIMS)))
    tuned_q = _normalise(rng.normal(size=(PAIRS, DIMS + 8)))
    tuned_e = _normalise(tuned_q + 0.1 * rng.normal(size=tuned_q.shape))
    return {"base: tiny": (base_q, base_e), "tuned: tiny-tuned": (tuned_q, tuned_e)}


def test_pca_writes_a_wide_png_and_an_offline_html(tmp_path: Path) -> None:
    png, html = tmp_path / "deep" / "pca.png", tmp_path / "other" / "pca.html"
    long_label = "a very long query text " * 5
    plot_pca(_spaces(), [long_label, *LABELS[1:]], png, html, labelled=3)

    assert png.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(png).shape[:2]
    assert width > height

    page = html.read_text(encoding="utf-8")
    assert html.stat().st_size > 1_000_000  # plotly.js itself is embedded
    # plotly.js mentions cdn.plot.ly internally; what matters is that no script loads from it
    assert not re.search(r"<script[^>]*src=[^>]*cdn\.plot\.ly", page)
    assert "plotly.js" in page
    truncated = "a very long query text a very long"  # cut at a word, ellipsis added
    assert f"{truncated}…" in page or f"{truncated}\\u2026" in page
    assert all(label in page for label in LABELS[1:3])
    assert "episode of: query number 1 about topic 1" in page
    cosines = {
        model: float(value)
        for model, value in re.findall(
            r"(base|tuned): tiny[^\"(]* \(mean pair cosine ([-\d.]+)\)", page
        )
    }
    assert cosines["tuned"] > 0.8 > 0.3 > cosines["base"]  # the tuned pairs sit together


def test_pca_handles_one_model_and_too_few_points(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    one = _normalise(rng.normal(size=(1, 4)))
    plot_pca({"only": (one, one)}, ["q"], tmp_path / "p.png", tmp_path / "p.html")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "p.html").is_file()


def test_pca_rejects_mismatched_inputs(tmp_path: Path) -> None:
    queries, episodes = _spaces()["base: tiny"]
    with pytest.raises(ValueError, match="same shape"):
        plot_pca({"m": (queries, episodes[:-1])}, LABELS, tmp_path / "a.png", tmp_path / "a.html")
    with pytest.raises(ValueError, match="labels"):
        plot_pca({"m": (queries, episodes)}, LABELS[:-1], tmp_path / "a.png", tmp_path / "a.html")
    with pytest.raises(ValueError, match="at least one"):
        plot_pca({}, LABELS, tmp_path / "a.png", tmp_path / "a.html")
    assert not (tmp_path / "a.png").exists()


def test_recall_curves_png(tmp_path: Path) -> None:
    curves = {
        "held-out synthetic queries (40)": {
            "base tiny / dense": {1: 0.2, 5: 0.4, 10: 0.5, 30: 0.7, 100: 0.85},
            "tuned tiny-tuned / hybrid": {1: 0.4, 5: 0.65, 10: 0.75, 30: 0.9, 100: 0.97},
        },
        "dev set (78)": {"bm25": {10: 0.3, 30: 0.5}},
    }
    png = tmp_path / "nested" / "recall.png"
    plot_recall_curves(curves, png)
    assert png.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(png).shape[:2]
    assert width > height
    with pytest.raises(ValueError, match="k must be >= 1"):
        plot_recall_curves({"s": {"r": {0: 0.0}}}, tmp_path / "bad.png")
