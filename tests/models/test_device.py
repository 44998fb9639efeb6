"""The device setting: what it resolves to, what a user sees when a device is missing, and
the parts of the GPU paths that run on any machine (trainer flags, the batched Gemma engine)."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from podseek.cli import app
from podseek.config import Settings
from podseek.errors import PodseekError
from podseek.models.device import CPU, Device, resolve_device
from podseek.training.train import (
    MAX_PLAIN_BATCH,
    TrainSettings,
    effective_mini_batch,
    precision_arguments,
)

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"
runner = CliRunner()
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_auto_and_cpu_resolve_to_a_device_this_machine_has() -> None:
    assert resolve_device("cpu") == CPU
    auto = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.kind in (expected, "mps")
    assert "fp32" in CPU.describe() and CPU.describe().startswith("cpu (")


@no_cuda
@pytest.mark.parametrize("setting", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_a_clear_error(setting: str) -> None:
    with pytest.raises(PodseekError, match=rf"device {setting}: .*CUDA.*use auto or cpu"):
        resolve_device(setting)


@pytest.mark.parametrize("setting", ["gpu", "cuda:x", "CUDA", "", "cuda:-1"])
def test_unknown_device_names_are_refused(setting: str) -> None:
    with pytest.raises(PodseekError, match="unknown device"):
        resolve_device(setting)


def test_half_precision_is_used_only_on_cuda() -> None:
    assert resolve_device("cpu", half_precision=True).half is None
    with CPU.autocast():  # a no-op on the CPU
        assert not torch.is_autocast_enabled("cpu")


def test_trainer_flags_per_device() -> None:
    assert precision_arguments(CPU) == {"use_cpu": True}
    bf16 = precision_arguments(Device("cuda:0", "bfloat16"))
    assert bf16["bf16"] and not bf16["fp16"] and bf16["tf32"] and not bf16["use_cpu"]
    assert precision_arguments(Device("cuda:1", "float16"))["fp16"]
    plain = precision_arguments(Device("cuda:0", None))
    assert "bf16" not in plain and not plain["use_cpu"]


def test_large_batches_are_computed_in_mini_batches() -> None:
    assert effective_mini_batch(TrainSettings(batch_size=64)) is None
    assert effective_mini_batch(TrainSettings(batch_size=MAX_PLAIN_BATCH)) is None
    assert effective_mini_batch(TrainSettings(batch_size=1024)) == MAX_PLAIN_BATCH
    assert effective_mini_batch(TrainSettings(batch_size=1024, mini_batch=1024)) is None
    assert effective_mini_batch(TrainSettings(batch_size=64, mini_batch=16)) == 16


def test_settings_and_models_list_say_which_device_runs(workspace: Settings) -> None:
    result = runner.invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["device"] == resolve_device("auto").describe()
    assert {row["name"] for row in data["settings"]} >= {"device", "half_precision"}
    models = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert models["device"] == data["device"]


@no_cuda
def test_a_missing_device_stops_a_stage_with_one_line(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        runner.invoke(app, ["ingest", "listennotes", str(FIXTURES / "listennotes")]).exit_code == 0
    )
    monkeypatch.setenv("PODSEEK_DEVICE", "cuda")
    from podseek.config import get_settings

    get_settings.cache_clear()
    for command in (["index", "--model", "minilm"], ["settings"]):
        result = runner.invoke(app, command)
        if command[0] == "settings":  # settings still lists everything, and says why
            assert result.exit_code == 0 and "unavailable (device cuda:" in result.output
            continue
        assert result.exit_code == 1
        assert result.output.strip().startswith("error: device cuda:")
        assert len(result.output.strip().splitlines()) == 1
    assert not (workspace.index_dir / "manifest.json").exists()


def test_a_misspelt_device_setting_is_one_line(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podseek.config import get_settings

    monkeypatch.setenv("PODSEEK_DEVICE", "gpu")
    get_settings.cache_clear()
    for command in (["index"], ["--home", str(workspace.home), "search", "x"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == (
            "error: setting PODSEEK_DEVICE: unknown device 'gpu': use auto, cpu, cuda, cuda:N "
            "(N a GPU number) or mps"
        )


def test_index_report_names_the_device(workspace: Settings) -> None:
    assert (
        runner.invoke(app, ["ingest", "listennotes", str(FIXTURES / "listennotes")]).exit_code == 0
    )
    result = runner.invoke(app, ["index", "--model", "minilm", "--json"])
    assert result.exit_code == 0, result.output
    device = resolve_device("auto")
    # on the CPU, the episode engine (ONNX Runtime) encodes
    expected = device.describe() + (" through ONNX Runtime" if device.kind == "cpu" else "")
    assert json.loads(result.stdout)["device"] == expected
    output = runner.invoke(app, ["index", "--model", "minilm"]).output
    assert output.strip().endswith(f" on {expected}")


def test_batched_gemma_engine_shares_each_prompts_cache_across_its_samples() -> None:
    """The GPU generation path on a tiny random Gemma: prompts of different lengths, left
    padded, each prefilled once and sampled n times; the same seed gives the same samples."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from podseek.queries.generators import MAX_NEW_TOKENS, _seeded_torch, _TransformersGemma

    config = Gemma3TextConfig(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=16,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    runner_ = _TransformersGemma(Gemma3ForCausalLM(config), None, [1], 8, 1.0, CPU)
    ids = torch.randint(5, 300, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # a shorter prompt, left padded
    mask[1, :2] = 0

    def sample() -> torch.Tensor:
        with _seeded_torch(7), torch.inference_mode():
            return runner_.sample(ids, mask, 3)

    first = sample()
    assert first.shape[0] == 9 and 1 <= first.shape[1] <= MAX_NEW_TOKENS
    assert torch.equal(first, sample())
    # the three samples of one prompt differ (sampling), prompts are in order
    assert len({tuple(row.tolist()) for row in first[:3]}) > 1
