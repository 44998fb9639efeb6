"""hnswlib, usearch and faiss side by side: the in-memory HNSW graph for a serving snapshot.

Issue 17 wants uncached hybrid search over 1M episodes x 384-d under 10 ms end to end on
2 cores, RSS <= 4 GB, recall@10 >= 0.98 against exact search and a snapshot build under
10 minutes; filters (language ~10% of rows, a category ~5%) go to a filtered graph search
when they keep many rows and to an exact scan of the matching rows when they keep few. This
benchmark gives the figures to pick the library, the storage type and the parameters.
The snapshot chose faiss's HNSW over 8-bit codes from it, and later replaced the graph with
faiss's inverted file of 4-bit codes, measured on real vectors by ``snapshot_recall.py
--hnsw`` (docs/results.md).

Vectors: clustered synthetic unit vectors (``clustered`` as in ``index_latency.py``: 2,000
random centres), n + Q drawn together so the Q queries come from the same centres as the n
stored rows. Ground truth: exact float32 NumPy inner product, in chunks. For each size and
each configuration (library, storage type, M, ef_construction), each in its own subprocess
so that RSS deltas are the index's:

- build time (``--build-threads``, 2 by default) and its CPU time (CPU s / threads estimates
  the build on idle cores when other jobs share the machine), and memory: the process RSS
  delta over the build, the size the library reports (usearch) and the saved file's size;
- unfiltered single-query latency p50 / p99 with 1 thread (one query per call, Python call
  included) and recall@10 at k=10 (with the share of queries that found none of their top
  10), recall@100 at k=100 (hybrid search takes 100 candidates), for several efSearch values
  (the libraries search with max(ef, k));
- filtered search for random masks keeping ``--shares`` of the rows (10% ~ language, 5% ~
  category, and more to find the crossover): faiss with ``SearchParametersHNSW(sel=
  IDSelectorBitmap)`` (fixed ef, and ef = m*k/share since its ef counts rows that the
  filter drops), hnswlib with its ``filter=`` Python callable (its ef counts kept rows),
  usearch (its Python API has no filtered search) by post-filtering an over-fetched top
  m*k/share; recall@10 against exact filtered search.

Then the exact scan of only the matching rows, with 1 thread: NumPy over the rows gathered
ahead of time (one copy per filter value), NumPy gathering the rows per query, faiss
``IndexFlatIP`` over the gathered rows, and faiss ``IndexFlatIP`` over all rows with an
``IDSelectorBitmap`` (no copy: a snapshot could scan its own storage this way).

    .venv/bin/python benchmarks/ann_libraries.py --sizes 100000,1000000

A configuration is ``lib:storage:M:efc[:metric]`` (``--configs``): hnswlib f32; usearch f32,
f16 or i8 (metric ip, or cos, which i8 takes by default); faiss f32 (IndexHNSWFlat), sq8 or
f16 (IndexHNSWSQ). The defaults compare all six at M16 efc64; the settings that met the
recall target at 1M were run as

    .venv/bin/python benchmarks/ann_libraries.py --sizes 1000000 \
        --configs faiss:f32:32:128,hnswlib:f32:32:128,usearch:f16:32:128

Needs faiss-cpu, usearch, hnswlib and threadpoolctl (a configuration whose library does not
import shows as an error row). Rows go into each index in 10 batches: a build whose linear
projection passes ``--max-build-min`` on idle cores (its CPU time / threads) or
``--max-build-wall-min`` on this machine stops and is listed with the projection, and a
configuration whose build at a smaller size of the same run extrapolates past
``--max-build-min`` is skipped. Writes the tables to ``benchmarks/results/ann_libraries.txt``
(``--append`` adds this run's block, with its own header, after the file's).
"""

import argparse
import gc
import itertools
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DIM = 384
DEFAULT_CONFIGS = (
    "hnswlib:f32:16:64,usearch:f32:16:64,usearch:f16:16:64,usearch:i8:16:64,"
    "faiss:f32:16:64,faiss:sq8:16:64"
)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 2,000 random centres (a copy of ``index_latency.clustered``;
    importing that module loads podseek's index backends)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return _status_field("VmRSS")


def peak_rss_mb() -> float:
    return _status_field("VmHWM")


def _status_field(name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def share_label(share: float) -> str:
    return f"{share * 100:g}%"


# --- data and ground truth (parent process) ------------------------------------------------


def exact_topk(rows: np.ndarray, queries: np.ndarray, k: int, chunk: int = 64) -> np.ndarray:
    """Indices (into ``rows``) of each query's top ``k`` by inner product, best first."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ rows.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + chunk] = np.take_along_axis(top, order, axis=1)
    return out


def prepare(folder: Path, n: int, n_queries: int, shares: list[float], seed: int) -> dict:
    """Vectors, queries, filter rows and exact ground truth, saved as .npy in ``folder``."""
    t0 = time.perf_counter()
    both = clustered(n + n_queries, DIM, seed)
    vectors, queries = both[:n], np.ascontiguousarray(both[n:])
    del both
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "gt_all.npy", exact_topk(vectors, queries, 100))
    rng = np.random.default_rng(seed + 1)
    for share in shares:
        rows = np.sort(rng.choice(n, round(share * n), replace=False))
        np.save(folder / f"rows_{share}.npy", rows)
        np.save(folder / f"gt_{share}.npy", rows[exact_topk(vectors[rows], queries, 10)])
    return {"prepare_s": time.perf_counter() - t0}


# --- measurements (worker processes) -------------------------------------------------------


def timed(search, queries: list, n_warm: int = 20) -> tuple[float, float, list]:
    """p50 and p99 in ms of ``search(q)`` one query at a time, and the results."""
    for q in queries[:n_warm]:
        search(q)
    lat, found = [], []
    for q in queries:
        t = time.perf_counter()
        ids = search(q)
        lat.append(time.perf_counter() - t)
        found.append(ids)
    ms = np.array(lat) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), found


def recall(found: list, truth: np.ndarray, k: int) -> float:
    """Mean share of each query's exact top ``k`` found (``found`` may cover fewer queries)."""
    pairs = zip(found, truth[: len(found)], strict=True)
    hits = [len(set(np.asarray(f[:k]).tolist()) & set(t[:k].tolist())) for f, t in pairs]
    return float(np.mean(hits)) / k


def missed(found: list, truth: np.ndarray, k: int) -> float:
    """Share of queries that found none of their exact top ``k`` (a search that never
    reached the query's region of the graph, rather than one that stopped short)."""
    pairs = zip(found, truth[: len(found)], strict=True)
    hits = [set(np.asarray(f[:k]).tolist()) & set(t[:k].tolist()) for f, t in pairs]
    return float(np.mean([not h for h in hits]))


class BuildTooSlow(Exception):
    pass


def build(
    config: dict,
    vectors: np.ndarray,
    threads: int,
    scratch: Path,
    limit_s: float,
    wall_limit_s: float,
):
    """The index and what the build measured. Rows go in 10 batches; after each from the
    second on, a build whose linear projection passes ``limit_s`` on idle cores (its CPU
    time / threads) or ``wall_limit_s`` here stops (BuildTooSlow)."""
    lib, storage, m, efc = config["lib"], config["storage"], config["M"], config["efc"]
    n = len(vectors)
    saved = scratch / "index.bin"
    info: dict = {}
    if lib == "hnswlib":
        import hnswlib

        if storage != "f32":
            raise ValueError("hnswlib stores float32 only")
        index = hnswlib.Index(space="ip", dim=DIM)
        index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)

        def add(a: int, b: int) -> None:
            index.add_items(vectors[a:b], np.arange(a, b), num_threads=threads)

    elif lib == "usearch":
        from usearch.index import Index

        metric = config["metric"]
        index = Index(ndim=DIM, metric=metric, dtype=storage, connectivity=m, expansion_add=efc)

        def add(a: int, b: int) -> None:
            index.add(np.arange(a, b, dtype=np.uint64), vectors[a:b], threads=threads)

    elif lib == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        if storage == "f32":
            index = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
        else:
            qtype = {"sq8": faiss.ScalarQuantizer.QT_8bit, "f16": faiss.ScalarQuantizer.QT_fp16}
            index = faiss.IndexHNSWSQ(DIM, qtype[storage], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc

        def add(a: int, b: int) -> None:
            if not index.is_trained:
                index.train(vectors)
            index.add(vectors[a:b])

    else:
        raise ValueError(f"unknown library {lib}")
    t0, cpu0 = time.perf_counter(), cpu_s()
    bounds = np.linspace(0, n, 11).astype(int)
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        add(int(a), int(b))
        elapsed, cpu = time.perf_counter() - t0, cpu_s() - cpu0
        wall_left, idle_left = elapsed * n / b, cpu * n / b / threads
        if i >= 1 and b < n and (idle_left > limit_s or wall_left > wall_limit_s):
            raise BuildTooSlow(
                f"build stopped after {b / n:.0%} of rows in {elapsed / 60:.1f} min: projected "
                f"{wall_left / 60:.0f} min here, {idle_left / 60:.0f} min on {threads} idle "
                f"cores (CPU time / threads), limits {limit_s / 60:.0f} min idle, "
                f"{wall_limit_s / 60:.0f} min here"
            )
    info["build_s"] = time.perf_counter() - t0
    info["build_cpu_s"] = cpu_s() - cpu0
    info["rss_after_build_mb"] = rss_mb()
    if lib == "hnswlib":
        index.save_index(str(saved))
        index.set_num_threads(1)
    elif lib == "usearch":
        info["lib_mb"] = index.memory_usage / 2**20
        index.save(str(saved))
    else:
        faiss.write_index(index, str(saved))
        faiss.omp_set_num_threads(1)
    info["saved_mb"] = saved.stat().st_size / 2**20
    saved.unlink()
    return index, info


def searcher(lib: str, index, n: int, k: int, ef: int, rows: np.ndarray | None):
    """A one-query search function returning ids, for ``ef`` and an optional row filter."""
    if lib == "hnswlib":
        index.set_ef(ef)
        if rows is None:
            return lambda q: index.knn_query(q, k=k, num_threads=1)[0][0]
        allowed = np.zeros(n, dtype=bool)
        allowed[rows] = True
        check = allowed.tolist().__getitem__  # the Python callable hnswlib calls per node

        def filtered(q):
            try:
                return index.knn_query(q, k=k, num_threads=1, filter=check)[0][0]
            except RuntimeError:  # fewer than k found
                return np.empty(0, dtype=np.int64)

        return filtered
    if lib == "usearch":
        if rows is None:
            index.expansion_search = ef
            return lambda q: index.search(q, k, threads=1).keys
        allowed = np.zeros(n, dtype=bool)
        allowed[rows] = True
        count = min(n, ef)  # over-fetch ef results, keep the first k allowed
        index.expansion_search = count

        def post_filtered(q):
            keys = index.search(q, count, threads=1).keys.astype(np.int64)
            return keys[allowed[keys]][:k]

        return post_filtered
    import faiss

    if rows is None:
        params = faiss.SearchParametersHNSW(efSearch=ef)
    else:
        allowed = np.zeros(n, dtype=bool)
        allowed[rows] = True
        bitmap = np.packbits(allowed, bitorder="little")
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        # the selector reads the bitmap: the default arguments keep both alive
        return lambda q, keep=(bitmap, sel): index.search(q, k, params=params)[1][0]
    return lambda q: index.search(q, k, params=params)[1][0]


def run_config(job: dict) -> dict:
    folder = Path(job["folder"])
    config = job["config"]
    vectors = np.load(folder / "vectors.npy")
    queries = np.load(folder / "queries.npy")
    gt_all = np.load(folder / "gt_all.npy")
    n = len(vectors)
    gc.collect()
    out: dict = {"config": config, "build_threads": job["build_threads"]}
    out["rss_before_mb"] = rss_mb()
    out["load_before"] = os.getloadavg()[0]
    try:
        limits = job["max_build_s"], job["max_build_wall_s"]
        index, info = build(config, vectors, job["build_threads"], folder, *limits)
    except BuildTooSlow as error:
        out["error"] = str(error)
        return out
    out.update(info)
    out["rss_delta_mb"] = info.pop("rss_after_build_mb") - out["rss_before_mb"]
    out["peak_rss_mb"] = peak_rss_mb()
    out["load_after_build"] = os.getloadavg()[0]
    print(f"  built {config['name']} in {out['build_s']:.1f}s", file=sys.stderr, flush=True)
    lib = config["lib"]
    one = [np.ascontiguousarray(q) for q in queries]
    if lib == "faiss":
        one = [q[None, :] for q in one]
    out["unfiltered"] = []
    for ef in job["efs"]:
        for k in (10, 100):
            p50, p99, found = timed(searcher(lib, index, n, k, ef, None), one)
            row = {"ef": ef, "k": k, "p50": p50, "p99": p99, "recall": recall(found, gt_all, k)}
            row["missed"] = missed(found, gt_all, k)
            out["unfiltered"].append(row)
    out["filtered"] = []
    for share in job["shares"]:
        rows = np.load(folder / f"rows_{share}.npy")
        truth = np.load(folder / f"gt_{share}.npy")
        settings = [] if lib == "usearch" else [(f"ef {ef}", ef) for ef in job["filter_efs"]]
        if lib != "hnswlib":  # faiss's ef and usearch's over-fetch count all rows, kept or not
            word = "ef" if lib == "faiss" else "post-filter top"
            for m in job["filter_scales"]:
                settings.append((f"{word} {m}k/share", math.ceil(m * 10 / share)))
        for setting, ef in settings:
            t0 = time.perf_counter()
            fn = searcher(lib, index, n, 10, ef, rows)
            p50, p99, found = timed(fn, one[: job["filter_queries"]])
            took = time.perf_counter() - t0
            print(f"    {share_label(share)} {setting}: {took:.0f}s", file=sys.stderr, flush=True)
            row = {"share": share, "setting": setting, "ef": ef, "p50": p50, "p99": p99}
            row["recall"] = recall(found, truth, 10)
            out["filtered"].append(row)
    out["load_end"] = os.getloadavg()[0]
    return out


def run_exact(job: dict) -> dict:
    """Exact scans of the matching rows only, 1 thread."""
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    threadpool_limits(1)
    folder = Path(job["folder"])
    vectors = np.load(folder / "vectors.npy")
    queries = np.load(folder / "queries.npy")[: job["exact_queries"]]
    n = len(vectors)
    k = 10

    def top(scores: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return best if rows is None else rows[best]

    flat_all = faiss.IndexFlatIP(DIM)
    flat_all.add(vectors)
    out: dict = {"load_before": os.getloadavg()[0], "rows": []}
    gt_all = np.load(folder / "gt_all.npy")
    p50, p99, found = timed(lambda q: top(vectors @ q, None), list(queries[:200]))
    out["unfiltered"] = {"p50": p50, "p99": p99, "recall": recall(found, gt_all, k)}
    for share in job["shares"]:
        rows = np.load(folder / f"rows_{share}.npy")
        truth = np.load(folder / f"gt_{share}.npy")
        gathered = vectors[rows]
        extra_mb = gathered.nbytes / 2**20
        flat_sub = faiss.IndexFlatIP(DIM)
        flat_sub.add(gathered)
        allowed = np.zeros(n, dtype=bool)
        allowed[rows] = True
        bitmap = np.packbits(allowed, bitorder="little")
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        params = faiss.SearchParameters(sel=sel)
        keep = (bitmap, sel)  # the selector reads the bitmap
        methods = {
            "numpy, rows gathered ahead": lambda q, g=gathered, r=rows: top(g @ q, r),
            "numpy, rows gathered per query": lambda q, r=rows: top(vectors[r] @ q, r),
            "faiss IndexFlatIP, rows gathered ahead": (
                lambda q, f=flat_sub, r=rows: r[f.search(q[None, :], k)[1][0]]
            ),
            "faiss IndexFlatIP over all rows + IDSelectorBitmap": (
                lambda q, p=params, _=keep: flat_all.search(q[None, :], k, params=p)[1][0]
            ),
        }
        for name, fn in methods.items():
            p50, p99, found = timed(fn, list(queries))
            out["rows"].append(
                {
                    "share": share,
                    "method": name,
                    "p50": p50,
                    "p99": p99,
                    "recall": recall(found, truth, k),
                    "extra_mb": extra_mb if "ahead" in name else 0.0,
                }
            )
        del gathered, flat_sub
        gc.collect()
    out["load_end"] = os.getloadavg()[0]
    return out


def worker(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    result = run_exact(job) if job["kind"] == "exact" else run_config(job)
    Path(job["result"]).write_text(json.dumps(result))


# --- orchestration and tables (parent process) ---------------------------------------------


def parse_config(spec: str) -> dict:
    """``lib:storage:M:efc[:metric]``; the metric is usearch's (ip, or cos that i8 needs)."""
    lib, storage, m, efc, *rest = spec.split(":")
    metric = rest[0] if rest else ("cos" if storage == "i8" else "ip")
    name = f"{lib} {storage} M{m} efc{efc}" + (f" {metric}" if lib == "usearch" else "")
    config = {"lib": lib, "storage": storage, "M": int(m), "efc": int(efc), "name": name}
    return config | {"metric": metric}


def spawn(job: dict, folder: Path, timeout_s: float) -> dict:
    job_path = folder / "job.json"
    job["result"] = str(folder / "result.json")
    Path(job["result"]).unlink(missing_ok=True)
    job_path.write_text(json.dumps(job))
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(job.get("build_threads", 1)), OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--worker", str(job_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout_s / 60:.0f} min"}
    if proc.returncode != 0:
        return {"error": f"worker exited {proc.returncode}"}
    result = json.loads(Path(job["result"]).read_text())
    result["wall_s"] = time.perf_counter() - t0
    return result


def fmt(value: float, digits: int = 2) -> str:
    missing = value is None or not math.isfinite(value)
    return "n/a" if missing else f"{value:.{digits}f}"


def cell(row: dict) -> str:
    return f"{row['p50']:.2f} / {row['p99']:.2f} ms, R {row['recall']:.3f}"


def tables(n: int, results: list[dict], exact: dict | None, skipped: dict[str, str]) -> list[str]:
    lines = [f"## {n:,} vectors x {DIM}-d", ""]
    lines += [
        "Build and memory (build CPU s = user + system time of the build, all threads: "
        "CPU s / threads ~ the build's wall time on idle cores; RSS delta = process RSS "
        "after the build minus before; the worker already held the float32 vectors, "
        "which the libraries copy):",
        "",
        "| config | build threads | build s | build CPU s | RSS delta MB "
        "| library-reported MB | saved file MB | peak RSS MB | load avg (start/built/end) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        name = r["config"]["name"]
        if "error" in r:
            lines.append(f"| {name} | | {r['error']} | | | | | | |")
            continue
        load = f"{r['load_before']:.1f}/{r['load_after_build']:.1f}/{r['load_end']:.1f}"
        lines.append(
            f"| {name} | {r['build_threads']} | {r['build_s']:.1f} | {r['build_cpu_s']:.0f} "
            f"| {r['rss_delta_mb']:.0f} "
            f"| {fmt(r.get('lib_mb'), 0)} | {r['saved_mb']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {load} |"
        )
    for name in skipped:
        lines.append(f"| {name} | | skipped: {skipped[name]} | | | | | | |")
    lines += [
        "",
        "Unfiltered, one query per call, 1 thread (p50 / p99 ms; recall@k against exact "
        "top-k; missed all 10: share of queries that found none of their exact top 10; "
        "the libraries search with max(ef, k)):",
        "",
        "| config | ef | k=10 p50 | k=10 p99 | recall@10 | missed all 10 | k=100 p50 "
        "| k=100 p99 | recall@100 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            continue
        by = {(u["ef"], u["k"]): u for u in r["unfiltered"]}
        for ef in sorted({u["ef"] for u in r["unfiltered"]}):
            a, b = by[(ef, 10)], by[(ef, 100)]
            lines.append(
                f"| {r['config']['name']} | {ef} | {a['p50']:.3f} | {a['p99']:.3f} "
                f"| {a['recall']:.4f} | {a['missed']:.1%} | {b['p50']:.3f} | {b['p99']:.3f} "
                f"| {b['recall']:.4f} |"
            )
    shares = sorted({f["share"] for r in results if "error" not in r for f in r["filtered"]})
    shares = shares[::-1]
    if shares:
        head = " | ".join(share_label(s) for s in shares)
        lines += [
            "",
            "Filtered graph search, k=10, random masks keeping the share of rows (p50 / p99 "
            "ms, recall@10 against exact filtered top 10). faiss: IDSelectorBitmap in "
            "SearchParametersHNSW (its ef counts every row visited, kept or not, so ef is also "
            "scaled as m*k/share); hnswlib: filter= Python callable (its ef counts kept rows); "
            "usearch: no filtered search in its Python API, so post-filter of an over-fetched "
            "top m*k/share (ef = that count):",
            "",
            f"| config | ef | {head} |",
            "|---|---|" + "---|" * len(shares),
        ]
        for r in results:
            if "error" in r:
                continue
            by = {(f["setting"], f["share"]): f for f in r["filtered"]}
            for setting in dict.fromkeys(f["setting"] for f in r["filtered"]):
                cells = " | ".join(cell(by[(setting, s)]) for s in shares)
                lines.append(f"| {r['config']['name']} | {setting} | {cells} |")
    if exact:
        if "error" in exact:
            lines += ["", f"Exact scans: {exact['error']}"]
        else:
            u = exact["unfiltered"]
            head = " | ".join(share_label(s) for s in shares)
            lines += [
                "",
                "Exact scan of the matching rows only, k=10, 1 thread (p50 / p99 ms, recall@10)"
                f"; for reference, NumPy over all {n:,} rows unfiltered (200 queries): p50 "
                f"{u['p50']:.2f} ms, "
                f"p99 {u['p99']:.2f} ms. Extra MB: the gathered copy, per filter value:",
                "",
                f"| method | {head} | extra MB ({', '.join(share_label(s) for s in shares)}) |",
                "|---|" + "---|" * len(shares) + "---|",
            ]
            by = {(x["method"], x["share"]): x for x in exact["rows"]}
            for method in dict.fromkeys(x["method"] for x in exact["rows"]):
                cells = " | ".join(cell(by[(method, s)]) for s in shares)
                extra = ", ".join(f"{by[(method, s)]['extra_mb']:.0f}" for s in shares)
                lines.append(f"| {method} | {cells} | {extra} |")
            lines += ["", *crossover(results, exact, shares)]
    lines.append("")
    return lines


def actual(row: dict) -> str:
    return f" (= {row['ef']})" if "share" in row["setting"] else ""


def crossover(results: list[dict], exact: dict, shares: list[float]) -> list[str]:
    """Per share: the fastest graph search with recall@10 >= 0.98 against the fastest scan."""
    lines = [
        "Crossover (fastest p50 with recall@10 >= 0.98 per share):",
        "",
        "| share | fastest filtered graph | p50 ms | fastest exact scan | p50 ms | faster |",
        "|---|---|---|---|---|---|",
    ]
    for share in shares:
        graph = [
            (f["p50"], f"{r['config']['name']} {f['setting']}{actual(f)}")
            for r in results
            if "error" not in r
            for f in r["filtered"]
            if f["share"] == share and f["recall"] >= 0.98
        ]
        scans = [(x["p50"], x["method"]) for x in exact["rows"] if x["share"] == share]
        g = min(graph) if graph else (float("inf"), "none reaches 0.98")
        s = min(scans)
        faster = "graph" if g[0] < s[0] else "exact scan"
        lines.append(
            f"| {share_label(share)} | {g[1]} | {fmt(g[0])} | {s[1]} | {s[0]:.2f} | {faster} |"
        )
    return lines


def header(args: argparse.Namespace) -> list[str]:
    versions = []
    for package in ("numpy", "faiss-cpu", "usearch", "hnswlib"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        "# ANN libraries for the serving snapshot (issue 17)",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"Machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, Python "
        f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}",
        f"Command: {shlex.join([os.path.relpath(sys.executable), *sys.argv])}",
        f"Versions: {', '.join(versions)}",
        f"Build threads: {args.build_threads}; searches: 1 thread, one query per call; "
        f"{args.queries} queries ({args.filter_queries} for filtered graph searches, "
        f"{args.exact_queries} for the exact scans).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--filter-queries", type=int, default=500)
    parser.add_argument("--exact-queries", type=int, default=500)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="lib:storage:M:efc,...")
    parser.add_argument("--efs", default="64,128,256,512")
    parser.add_argument("--filter-efs", default="64")
    parser.add_argument("--filter-scales", default="2,8", help="m in ef = m*k/share")
    parser.add_argument("--shares", default="0.2,0.1,0.05,0.02,0.01,0.005")
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--max-build-min", type=float, default=12.0, help="on idle cores")
    parser.add_argument("--max-build-wall-min", type=float, default=25.0, help="on this run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line for the output (e.g. machine busy)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ann_libraries.txt")
    parser.add_argument("--append", action="store_true", help="add to --out, don't replace")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    configs = [parse_config(c) for c in args.configs.split(",")]
    shares = [float(s) for s in args.shares.split(",")]
    before = args.out.read_text() + "\n" if args.append and args.out.exists() else ""
    lines = header(args)
    if args.note:
        lines.append(f"Note: {args.note}")
    lines.append("")
    build_s: dict[str, tuple[int, float]] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="ann-libraries-") as tmp:
            folder = Path(tmp)
            print(f"{n:,}: preparing data and ground truth", file=sys.stderr, flush=True)
            prep = prepare(folder, n, args.queries, shares, args.seed)
            print(f"  {prep['prepare_s']:.0f}s", file=sys.stderr, flush=True)
            gc.collect()
            results, skipped = [], {}
            for config in configs:
                name = config["name"]
                if name in build_s:
                    n0, t0 = build_s[name]
                    estimate = t0 * n / n0 * math.log(n) / math.log(n0)
                    if estimate > args.max_build_min * 60:
                        skipped[name] = f"build estimated at {estimate / 60:.0f} min on idle cores"
                        continue
                print(f"{n:,}: {name}", file=sys.stderr, flush=True)
                job = {
                    "kind": "config",
                    "folder": str(folder),
                    "config": config,
                    "build_threads": args.build_threads,
                    "efs": [int(e) for e in args.efs.split(",")],
                    "filter_efs": [int(e) for e in args.filter_efs.split(",")],
                    "filter_scales": [int(m) for m in args.filter_scales.split(",")],
                    "filter_queries": args.filter_queries,
                    "shares": shares,
                    "max_build_s": args.max_build_min * 60,
                    "max_build_wall_s": args.max_build_wall_min * 60,
                }
                result = spawn(job, folder, args.max_build_wall_min * 60 + 1800)
                result.setdefault("config", config)
                if "build_cpu_s" in result:  # CPU time / threads: the build on idle cores
                    build_s[name] = (n, result["build_cpu_s"] / args.build_threads)
                results.append(result)
            print(f"{n:,}: exact scans", file=sys.stderr, flush=True)
            job = {
                "kind": "exact",
                "folder": str(folder),
                "shares": shares,
                "exact_queries": args.exact_queries,
            }
            exact = spawn(job, folder, 1800)
        lines += tables(n, results, exact, skipped)
        print("\n".join(tables(n, results, exact, skipped)), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(before + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
