"""Query generators: the title, a tiny random T5 built here, the prompts, and the real Gemma.

No seq2seq doc2query weights exist on PyPI, so the seq2seq test builds a randomly
initialised T5 with a word-level tokenizer made in the test, saves it with
``save_pretrained`` and loads it back the way a user's folder is loaded.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

from podseek.catalog.episode import Episode
from podseek.catalog.ingest import ingest
from podseek.catalog.sources.listennotes import ListenNotesSource
from podseek.catalog.store import CatalogStore
from podseek.errors import PodseekError
from podseek.queries.generators import (
    GemmaGenerator,
    QueryGenerator,
    TitleGenerator,
    check_llama_build,
    clean_query,
    default_engine,
    gemma_gguf,
    load_generator,
)
from podseek.queries.prompts import PAGES, page_for

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


@pytest.fixture(scope="module")
def real_episodes(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> list[Episode]:
    """Real Listen Notes episodes: the first English ones and every Spanish one."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    with CatalogStore(path) as store:
        ingest(store, ListenNotesSource(shared_data / "listennotes-dec2017"), progress=False)
        episodes = list(store.iter_episodes())
    english = [e for e in episodes if e.language == "en"][:6]
    spanish = [e for e in episodes if e.language == "es"]
    return english + spanish


def _episode(language: str, title: str = "A title", description: str = "") -> Episode:
    return Episode(
        id=f"test:{language}:{title}",
        source="test",
        show_title="A show",
        episode_title=title,
        episode_description=description,
        language=language,
    )


# ---------------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        ("  how to grow tomatoes \n Search: more", "how to grow tomatoes"),
        ("- podcast about space", "podcast about space"),
        ("1. history of printing", "history of printing"),
        ("2) paella recipe", "paella recipe"),
        ("2017 review of formula 1", "2017 review of formula 1"),
        ("\n", ""),
    ],
)
def test_clean_query_keeps_one_line_without_list_marker(raw: str, query: str) -> None:
    assert clean_query(raw) == query


# ------------------------------------------------------------------------------------ title


def test_title_generator_gives_the_title_once_per_episode(real_episodes: list[Episode]) -> None:
    generator = load_generator("title")
    assert isinstance(generator, TitleGenerator) and generator.name == "title"
    queries = generator.generate(real_episodes, per_episode=3, seed=0)
    assert len(queries) == len(real_episodes)
    for episode, episode_queries in zip(real_episodes, queries, strict=True):
        assert episode_queries == [episode.episode_title.strip()]


def test_title_generator_skips_episodes_without_title() -> None:
    queries = TitleGenerator().generate([_episode("en", title=""), _episode("en")], 3, seed=0)
    assert queries == [[], ["A title"]]


# ---------------------------------------------------------------------------------- prompts


def test_prompt_examples_follow_the_episode_language() -> None:
    german = page_for("de").prompt("Folge 9 - Reflektiert ins neue Jahr!")
    assert "Suche: knie tut weh nach dem laufen" in german
    assert "Search:" not in german
    assert german.endswith("Folge: Folge 9 - Reflektiert ins neue Jahr!\nSuche:")
    for language in ("en", "de", "es", "fr", "sv"):
        assert page_for(language).language == language
        assert len(PAGES[language].examples) >= 2


@pytest.mark.parametrize("language", ["", "nl", "ja", "xx"])
def test_unknown_languages_fall_back_to_english_examples(language: str) -> None:
    prompt = page_for(language).prompt("Aflevering 3")
    assert page_for(language).language == "en"
    assert "\nSearch: growing tomatoes in containers\n" in prompt
    assert prompt.endswith("Episode: Aflevering 3\nSearch:")


def test_prompt_keeps_the_episode_on_one_line() -> None:
    prompt = page_for("en").prompt("Line one.\nLine two.")
    assert prompt.endswith("Episode: Line one. Line two.\nSearch:")


# ---------------------------------------------------------------------------------- seq2seq


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised T5 with a word-level tokenizer, saved like a user's folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    words = ["the", "a", "podcast", "episode", "about", "how", "to", "grow", "tomatoes"]
    words += ["history", "space", "money", "food", "music", "news", "show", "talk", "why"]
    vocab = {token: i for i, token in enumerate(["<pad>", "</s>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = T5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_seq2seq_gives_per_episode_queries_reproducibly(
    tiny_t5: Path, real_episodes: list[Episode]
) -> None:
    generator = load_generator(f"seq2seq:{tiny_t5}", batch_size=4)
    assert generator.name == f"seq2seq:{tiny_t5.resolve()}"
    queries = generator.generate(real_episodes, per_episode=3, seed=7)
    assert len(queries) == len(real_episodes)
    assert all(len(qs) == 3 and all(isinstance(q, str) for q in qs) for qs in queries)
    assert all("\n" not in q for qs in queries for q in qs)
    assert any(q for qs in queries for q in qs)  # a random model still writes words
    assert generator.generate(real_episodes, per_episode=3, seed=7) == queries
    assert generator.generate(real_episodes, per_episode=3, seed=8) != queries
    assert generator.generate([], per_episode=3, seed=7) == []


def test_seq2seq_bad_folders_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="no such model folder"):
        load_generator(f"seq2seq:{tmp_path / 'missing'}")
    with pytest.raises(PodseekError, match=r"no config\.json"):
        load_generator(f"seq2seq:{tmp_path}")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PodseekError, match="cannot load a seq2seq model"):
        load_generator(f"seq2seq:{tmp_path}")
    with pytest.raises(PodseekError, match="needs a folder"):
        load_generator("seq2seq:")


def test_unknown_spec_is_a_one_line_error() -> None:
    with pytest.raises(PodseekError, match=r"unknown query generator 'gpt-9'.*gemma-270m"):
        load_generator("gpt-9")


def test_a_gguf_spec_names_a_gguf_file_or_says_why_not(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="needs a file"):
        load_generator("gguf: ")
    with pytest.raises(PodseekError, match="no such GGUF file"):
        load_generator(f"gguf:{tmp_path / 'missing.gguf'}")
    with pytest.raises(PodseekError, match="no such GGUF file"):
        load_generator(f"gguf:{tmp_path}")  # a folder
    notes = tmp_path / "notes.gguf"
    notes.write_text("a model, honestly")
    with pytest.raises(PodseekError, match="not a GGUF file"):
        load_generator(f"gguf:{notes}")


def test_unknown_engine_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PodseekError, match="unknown engine 'vllm'"):
        GemmaGenerator(engine="vllm", models_dir=tmp_path)  # type: ignore[arg-type]
    assert not (tmp_path / "gemma-270m").exists()  # refused before assembling anything


# ------------------------------------------------------------------------------------ gemma


@pytest.fixture(scope="module")
def gemma_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the Gemma GGUF assembled from the package's chunks, once."""
    models = tmp_path_factory.mktemp("models")
    path = gemma_gguf(models / "gemma-270m")
    assert path.stat().st_size == 253_113_024
    assert [p.name for p in path.parent.iterdir()] == ["gemma-3-270m-q4_k_m.gguf"]  # no leftovers
    return models


def test_gemma_gguf_is_assembled_once(gemma_models: Path) -> None:
    path = gemma_models / "gemma-270m" / "gemma-3-270m-q4_k_m.gguf"
    modified = path.stat().st_mtime_ns
    assert gemma_gguf(path.parent) == path
    assert path.stat().st_mtime_ns == modified


def _check_gemma(generator: QueryGenerator, episodes: list[Episode]) -> list[list[str]]:
    assert generator.name == "gemma-270m"
    queries = generator.generate(episodes, per_episode=2, seed=3)
    assert len(queries) == len(episodes)
    assert all(len(qs) == 2 for qs in queries)
    assert all(any(q.strip() for q in qs) for qs in queries)  # non-empty queries per episode
    assert all("\n" not in q for qs in queries for q in qs)
    assert generator.generate(episodes, per_episode=2, seed=3) == queries  # seeded
    return queries


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (podseek[llama])")
def test_gemma_llama_cpp_writes_queries_for_real_episodes(
    gemma_models: Path, real_episodes: list[Episode], capfd: pytest.CaptureFixture[str]
) -> None:
    assert default_engine() == "llama-cpp"
    generator = load_generator("gemma-270m", models_dir=gemma_models)
    assert capfd.readouterr().err == ""  # llama.cpp's load notices stay back
    assert isinstance(generator, GemmaGenerator) and generator.engine == "llama-cpp"
    episodes = real_episodes[:2] + real_episodes[-1:]  # two English, one Spanish
    queries = _check_gemma(generator, episodes)
    # each sample's seed comes from the run's seed and its prompt, and each episode starts
    # from the same cached page: neither the batch nor the order changes a query
    assert generator.generate(episodes[::-1], per_episode=2, seed=3) == queries[::-1]
    assert generator.generate(episodes[2:], per_episode=2, seed=3) == queries[2:]


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(
            "llama-cpp",
            marks=pytest.mark.skipif(
                not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (podseek[llama])"
            ),
        ),
        pytest.param("transformers", marks=pytest.mark.slow),
    ],
)
def test_any_gguf_continues_the_page_as_the_packaged_model_does(
    engine: str, gemma_models: Path, real_episodes: list[Episode], tmp_path: Path
) -> None:
    # the packaged GGUF under another name, as a user's own model file
    own = tmp_path / "my-model.gguf"
    own.symlink_to(gemma_models / "gemma-270m" / "gemma-3-270m-q4_k_m.gguf")
    generator = load_generator(f"gguf:{own}", engine=engine, models_dir=tmp_path / "unused")
    assert isinstance(generator, GemmaGenerator) and generator.engine == engine
    assert generator.name == f"gguf:{own.resolve()}"  # the run's record names the file
    assert not (tmp_path / "unused").exists()  # nothing packaged was assembled
    episodes = real_episodes[:1] + real_episodes[-1:]  # one English, one Spanish
    packaged = load_generator("gemma-270m", engine=engine, models_dir=gemma_models)
    assert generator.prompt(episodes[1]) == packaged.prompt(episodes[1])  # the Spanish page
    queries = generator.generate(episodes, per_episode=2, seed=3)
    assert queries == packaged.generate(episodes, per_episode=2, seed=3)
    assert all(len(qs) == 2 and any(q.strip() for q in qs) for qs in queries)


@pytest.mark.slow
def test_gemma_transformers_writes_queries_for_real_episodes(
    gemma_models: Path, real_episodes: list[Episode]
) -> None:
    generator = load_generator("gemma-270m", engine="transformers", models_dir=gemma_models)
    assert isinstance(generator, GemmaGenerator) and generator.engine == "transformers"
    _check_gemma(generator, real_episodes[:2] + real_episodes[-1:])


def test_missing_llama_cpp_is_a_one_line_error(
    gemma_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(PodseekError, match=r"pip install 'podseek\[llama\]'"):
        load_generator("gemma-270m", engine="llama-cpp", models_dir=gemma_models)


def test_a_llama_build_that_crashes_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A build that dies on this CPU cannot be installed on purpose; this stand-in dies the same
    # way (a segmentation fault in native code), in the child process that tries the build.
    fake = tmp_path / "llama_cpp"
    fake.mkdir()
    (fake / "__init__.py").write_text("import ctypes\nctypes.string_at(0)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(PodseekError, match="killed by SIGSEGV") as raised:
        check_llama_build({"model_path": str(tmp_path / "model.gguf")})
    assert "docs/install.md#crashes" in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (podseek[llama])")
def test_a_llama_build_that_cannot_load_the_model_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(PodseekError, match=f"llama.cpp cannot load {missing}: .*does not exist"):
        check_llama_build({"model_path": str(missing), "verbose": False})
