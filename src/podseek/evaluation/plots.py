"""Pictures for ``podseek evaluate``'s report: a PCA view of the vector space and recall@k curves.

The numbers in the report say *whether* fine-tuning helped; these pictures say *how*. The
reference walkthrough plots query and episode vectors, reduced with PCA, before and after
fine-tuning: the point of contrastive tuning is to pull each query towards its own episode, so
the tuned model's picture should show shorter query-to-episode lines (and a higher mean pair
cosine) than the base model's. Recall@k curves show the gain at every cut-off, not just at the
@10 and @30 the tables report, so a model that only wins at the top of the list (or only deep
down) is visible at a glance.

Both pictures are written without a display: matplotlib runs on its Agg backend and the plotly
HTML embeds plotly.js, so the report opens offline.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

QUERY_COLOUR = "#1f77b4"
EPISODE_COLOUR = "#d62728"
LABEL_CHARS = 40
HOVER_CHARS = 200


def plot_pca(
    spaces: dict[str, tuple[np.ndarray, np.ndarray]],
    labels: list[str],
    png_path: Path,
    html_path: Path,
    labelled: int = 5,
    title: str = "Queries and episodes",
) -> None:
    """Draw each model's query and episode vectors in its own PCA space, as a PNG and 3-D HTML.

    Row ``i`` of a model's query array is a query whose relevant episode is row ``i`` of its
    episode array; a line joins each pair, so a model that pulls pairs together shows short
    lines. Each model gets its own PCA (their dimensions may differ), fitted on its stacked
    queries and episodes. The first ``labelled`` pairs carry their query text.
    """
    if not spaces:
        raise ValueError("plot_pca needs at least one model's vectors")
    if labelled < 0:
        raise ValueError(f"labelled must be >= 0, not {labelled}")
    projected = {
        name: _project(name, queries, episodes, len(labels))
        for name, (queries, episodes) in spaces.items()
    }
    short = [_truncate(text, LABEL_CHARS) for text in labels]
    _pca_png(projected, short, Path(png_path), min(labelled, len(labels)), title)
    _pca_html(projected, labels, short, Path(html_path), min(labelled, len(labels)), title)


def plot_recall_curves(
    curves: dict[str, dict[str, dict[int, float]]],
    png_path: Path,
) -> None:
    """Draw recall@k against k, one panel per query set and one line per model/retriever row.

    The report's tables give recall at a couple of cut-offs; the curve shows whether a gain
    holds at every k, on a log axis so small and large cut-offs get equal room.
    """
    if not curves:
        raise ValueError("plot_recall_curves needs at least one query set")
    for query_set, rows in curves.items():
        if not rows:
            raise ValueError(f"{query_set}: no rows to plot")
        for row, points in rows.items():
            if not points:
                raise ValueError(f"{query_set} / {row}: no recall@k points")
            if any(int(k) < 1 for k in points):
                raise ValueError(f"{query_set} / {row}: k must be >= 1, got {sorted(points)}")

    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(curves), figsize=(6.5 * len(curves), 4.8), squeeze=False, sharey=True
    )
    try:
        for ax, (query_set, rows) in zip(axes[0], curves.items(), strict=True):
            ks = sorted({int(k) for points in rows.values() for k in points})
            for row, points in rows.items():
                row_ks = sorted(points)
                ax.plot(
                    row_ks, [points[k] for k in row_ks], marker="o", ms=4, label=row, clip_on=False
                )
            ax.set_xscale("log")
            ax.set_xticks(ks, labels=[str(k) for k in ks])
            ax.minorticks_off()
            ax.set_xlim(ks[0] / 1.25, ks[-1] * 1.25)
            ax.set_ylim(0.0, 1.0)
            ax.set_xlabel("k (log scale)")
            ax.set_title(query_set, fontsize=10)
            ax.grid(True, which="major", alpha=0.35)
            ax.legend(fontsize=7, loc="lower right")
        axes[0][0].set_ylabel("recall@k")
        fig.suptitle("Recall at every cut-off")
        fig.tight_layout()
        _save(fig, Path(png_path))
    finally:
        plt.close(fig)


def _project(name: str, queries: np.ndarray, episodes: np.ndarray, n_labels: int) -> dict[str, Any]:
    """Check one model's pair arrays and reduce them to (up to) three principal components."""
    from sklearn.decomposition import PCA

    queries = np.asarray(queries, dtype=np.float64)
    episodes = np.asarray(episodes, dtype=np.float64)
    if queries.ndim != 2 or queries.shape != episodes.shape:
        raise ValueError(
            f"{name}: query and episode vectors must be 2-D arrays of the same shape, "
            f"got {queries.shape} and {episodes.shape}"
        )
    n, dims = queries.shape
    if n == 0 or dims == 0:
        raise ValueError(f"{name}: no vectors to plot (shape {queries.shape})")
    if n != n_labels:
        raise ValueError(f"{name}: {n} query/episode pairs but {n_labels} query labels")

    stacked = np.vstack([queries, episodes])
    components = min(3, stacked.shape[0], dims)
    pca = PCA(n_components=components, random_state=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # all points equal: no variance
        reduced = pca.fit_transform(stacked)
    variance = [float(v) for v in np.nan_to_num(pca.explained_variance_ratio_)]
    if components < 3:  # too few points or dims: the missing axes stay flat at zero
        reduced = np.hstack([reduced, np.zeros((reduced.shape[0], 3 - components))])
        variance += [0.0] * (3 - components)

    norms = np.linalg.norm(queries, axis=1) * np.linalg.norm(episodes, axis=1)
    cosines = np.sum(queries * episodes, axis=1) / np.where(norms > 0, norms, 1.0)
    return {
        "queries": reduced[:n],
        "episodes": reduced[n:],
        "variance": variance,
        "mean_cosine": float(np.mean(cosines)),
    }


def _pca_png(
    projected: dict[str, dict[str, Any]],
    short: list[str],
    png_path: Path,
    labelled: int,
    title: str,
) -> None:
    """Side-by-side 2-D panels: dots for queries, crosses for episodes, grey pair lines."""
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(projected), figsize=(6.5 * len(projected), 6), squeeze=False)
    try:
        for ax, (name, space) in zip(axes[0], projected.items(), strict=True):
            queries, episodes = space["queries"][:, :2], space["episodes"][:, :2]
            segments = np.stack([queries, episodes], axis=1)
            ax.add_collection(
                LineCollection(segments, colors="grey", linewidths=0.5, alpha=0.5, zorder=1)
            )
            ax.scatter(*queries.T, s=14, c=QUERY_COLOUR, label="query", zorder=2)
            ax.scatter(
                *episodes.T, s=22, c=EPISODE_COLOUR, marker="x", linewidths=1, label="episode"
            )
            _annotate(ax, queries[:labelled], short[:labelled])
            var = space["variance"]
            ax.set_xlabel(f"PC1 ({var[0]:.0%} of variance)")
            ax.set_ylabel(f"PC2 ({var[1]:.0%} of variance)")
            ax.set_title(f"{name} (mean pair cosine {space['mean_cosine']:.2f})", fontsize=10)
            ax.legend(fontsize=8, loc="best")
            ax.grid(True, alpha=0.25)
        fig.suptitle(title)
        fig.tight_layout()
        _save(fig, png_path)
    finally:
        plt.close(fig)


def _annotate(ax: "Axes", points: np.ndarray, texts: list[str]) -> None:
    """Label the first few queries with their text, offset so the dot stays visible."""
    for (x, y), text in zip(points, texts, strict=True):
        ax.annotate(
            text,
            xy=(x, y),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=3,
        )


def _pca_html(
    projected: dict[str, dict[str, Any]],
    labels: list[str],
    short: list[str],
    html_path: Path,
    labelled: int,
    title: str,
) -> None:
    """One interactive 3-D scene per model, written with plotly.js embedded (works offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    hover = [_truncate(text, HOVER_CHARS) for text in labels]
    titles = [f"{name} (mean pair cosine {s['mean_cosine']:.2f})" for name, s in projected.items()]
    fig = make_subplots(
        rows=1,
        cols=len(projected),
        specs=[[{"type": "scene"}] * len(projected)],
        subplot_titles=titles,
    )
    for col, space in enumerate(projected.values(), start=1):
        queries, episodes = space["queries"], space["episodes"]
        first = col == 1
        traces = [
            go.Scatter3d(
                x=queries[:, 0],
                y=queries[:, 1],
                z=queries[:, 2],
                mode="markers",
                marker={"size": 3, "color": QUERY_COLOUR},
                name="query",
                legendgroup="query",
                showlegend=first,
                hovertext=hover,
                hoverinfo="text",
            ),
            go.Scatter3d(
                x=episodes[:, 0],
                y=episodes[:, 1],
                z=episodes[:, 2],
                mode="markers",
                marker={"size": 3, "color": EPISODE_COLOUR, "symbol": "x"},
                name="episode",
                legendgroup="episode",
                showlegend=first,
                hovertext=[f"episode of: {text}" for text in hover],
                hoverinfo="text",
            ),
        ]
        if labelled:
            lines = _pair_lines(queries[:labelled], episodes[:labelled])
            traces += [
                go.Scatter3d(
                    x=lines[0],
                    y=lines[1],
                    z=lines[2],
                    mode="lines",
                    line={"color": "grey", "width": 3},
                    name="labelled pair",
                    legendgroup="pair",
                    showlegend=first,
                    hoverinfo="skip",
                ),
                go.Scatter3d(
                    x=queries[:labelled, 0],
                    y=queries[:labelled, 1],
                    z=queries[:labelled, 2],
                    mode="text",
                    text=short[:labelled],
                    textposition="top center",
                    textfont={"size": 10},
                    showlegend=False,
                    hoverinfo="skip",
                ),
            ]
        for trace in traces:
            fig.add_trace(trace, row=1, col=col)
    fig.update_layout(title=title, height=650, width=max(700, 600 * len(projected)))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(html_path, include_plotlyjs=True, full_html=True)


def _pair_lines(queries: np.ndarray, episodes: np.ndarray) -> list[list[float | None]]:
    """Query-episode segments as one x/y/z polyline each, broken by ``None`` (plotly's gap)."""
    axes: list[list[float | None]] = [[], [], []]
    for query, episode in zip(queries, episodes, strict=True):
        for axis, coords in enumerate(axes):
            coords += [float(query[axis]), float(episode[axis]), None]
    return axes


def _truncate(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, cut at a word boundary where there is one."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def _pyplot() -> Any:
    """pyplot on the Agg backend: the report is written headless, never shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, png_path: Path) -> None:
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
