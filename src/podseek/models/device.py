"""Which device runs a model, and in which precision.

The heavy stages (index, train, queries generate, evaluate) run their model on the device the
``device`` setting names: ``auto`` takes CUDA when torch sees a GPU, then Apple's MPS, then
the CPU. Asking for a device this machine lacks is a user's mistake with one clear line, not
a silent fall back to a CPU that would take days.

On CUDA, encoding runs under bf16 autocast (fp16 on GPUs without bf16), which is several
times faster than float32 and gives the same vectors to a cosine of 0.999 or more: autocast
keeps the layer norms, softmax and the final normalisation in float32 (docs/scale.md). The
``half_precision`` setting turns it off. Search keeps encoding queries on the CPU engines:
one query is faster there than a round trip to a GPU (``search_device``).
"""

import contextlib
import re
import sys
from dataclasses import dataclass
from typing import Any

from podseek.config import DEVICE_PATTERN
from podseek.errors import PodseekError
from podseek.extras import installed, require

_PATTERN = re.compile(DEVICE_PATTERN)


@dataclass(frozen=True)
class Device:
    """A resolved device: a torch device string and the half type used on it, if any."""

    name: str  # "cpu", "cuda:0", "mps"
    half: str | None = None  # "bfloat16", "float16" or None (float32)

    @property
    def kind(self) -> str:
        """ "cpu", "cuda" or "mps"."""
        return self.name.split(":", 1)[0]

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    def describe(self) -> str:
        """What stage records and ``podseek settings`` show: ``cuda:0 (NVIDIA H200, bf16)``."""
        if self.is_cuda:
            import torch

            gpu = torch.cuda.get_device_name(torch.device(self.name))
            precision = {"bfloat16": "bf16", "float16": "fp16"}.get(self.half or "", "fp32")
            return f"{self.name} ({gpu}, {precision})"
        if self.kind == "cpu":
            torch = sys.modules.get("torch")  # what runs on the CPU without torch: numpy
            threads = f"{torch.get_num_threads()} threads, " if torch is not None else ""
            return f"cpu ({threads}fp32)"
        return f"{self.name} (fp32)"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Half-precision autocast on CUDA when ``half`` is set, else nothing."""
        if not self.is_cuda or self.half is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cuda", dtype=getattr(torch, self.half))


CPU = Device("cpu")


def check_device_setting(value: str) -> str:
    """The setting's value if it names a device, or an error that lists the choices."""
    if not _PATTERN.match(value or ""):
        raise PodseekError(
            f"unknown device {value!r}: use auto, cpu, cuda, cuda:N (N a GPU number) or mps"
        )
    return value


def resolve_device(setting: str = "auto", half_precision: bool = True) -> Device:
    """The device ``setting`` stands for on this machine.

    Without torch (a base install), ``auto`` is the CPU, where the numpy engines run; any
    other device needs torch.

    Raises:
        PodseekError: the setting is not a device name, or names one this machine lacks
            (CUDA on a machine or a torch build without it, a GPU number past the last GPU,
            MPS off Apple silicon).
        MissingExtra: a device other than the CPU without torch installed.
    """
    check_device_setting(setting)
    if setting == "cpu" or (setting == "auto" and not installed("torch")):
        return CPU
    require("encoders", "torch", what=f"device {setting}")
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if setting == "auto":
        setting = "cuda" if cuda else "mps" if mps else "cpu"
        if setting == "cpu":
            return CPU
    if setting == "mps":
        if not mps:
            raise PodseekError("device mps: this machine has no Apple MPS device; use auto or cpu")
        return Device("mps")
    if not cuda:
        why = (
            "this torch build has no CUDA"
            if torch.version.cuda is None
            else "torch finds no CUDA GPU here"
        )
        raise PodseekError(f"device {setting}: {why} (torch {torch.__version__}); use auto or cpu")
    number = int(setting.split(":", 1)[1]) if ":" in setting else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if number >= count:
        raise PodseekError(
            f"device {setting}: this machine has {count} CUDA GPU(s), numbered 0 to {count - 1}"
        )
    half = None
    if half_precision:
        half = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return Device(f"cuda:{number}", half)


def settings_device(settings: Any, for_search: bool = False) -> Device:
    """The device the settings ask for: ``device`` for the heavy stages, ``search_device`` for
    query encoding in search and serve."""
    setting = settings.search_device if for_search else settings.device
    return resolve_device(setting, settings.half_precision)
