"""What a run may use on this machine: CUDA or not, and the precision it trains and generates in.

`precision` in a recipe: `auto` (default) picks bf16 where the hardware computes it natively (a
CUDA GPU with bf16, or a CPU with AVX512-BF16/AMX instructions) and fp32 elsewhere; `bf16` and
`fp32` force one, and `bf16` is refused on hardware without native bf16, where it would be slower
than fp32. On this project's 2-core CPU (AVX512-BF16) a LoRA step of SmolLM2-135M is ~1.4x faster
in bf16 than in fp32 (bench/RESULTS.md, "Training speed on a CPU").

QLoRA (`load_in_4bit`) and gradient checkpointing need CUDA and are refused without it, before
anything is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate.errors import MigrateError

if TYPE_CHECKING:
    from migrate.finetune.recipe import Recipe


@dataclass(frozen=True)
class Hardware:
    """What the run may use: CUDA or not, bf16 or fp32."""

    cuda: bool
    bf16: bool

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"


def native_bf16(device: str) -> bool:
    """Whether `device` ("cuda..." or "cpu") computes bf16 natively (and so faster than fp32)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device != "cpu":
        return False  # other accelerators: fp32 unless a recipe asks otherwise
    try:  # oneDNN's own check: AVX512-BF16 or AMX (torch's CPU matmuls in bf16 go through oneDNN)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(precision: str, device: str) -> bool:
    """The precision a run uses: `auto` follows the hardware; `bf16` needs native support."""
    if precision == "fp32":
        return False
    native = native_bf16(device)
    if precision == "bf16" and not native:
        what = "this GPU" if device.startswith("cuda") else "this CPU (no AVX512-BF16 or AMX instructions)"
        raise MigrateError(
            f"recipe key precision: bf16 is not computed natively on {what}",
            hint="use --set precision=auto (bf16 where native, else fp32) or --set precision=fp32",
        )
    return native


def check_hardware(recipe: Recipe) -> Hardware:
    """Refuse CUDA-only options on a machine without CUDA, before anything is loaded."""
    import torch

    cuda = torch.cuda.is_available()
    wanted = [key for key in ("load_in_4bit", "gradient_checkpointing") if getattr(recipe, key)]
    if wanted and not cuda:
        raise MigrateError(
            f"{' and '.join(wanted)} {'needs' if len(wanted) == 1 else 'need'} a CUDA GPU, and none is available",
            hint="turn it off to train on this CPU ("
            + " ".join(f"--set {key}=false" for key in wanted) + "), or run on a GPU machine",
        )
    if recipe.load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise MigrateError("load_in_4bit (QLoRA) needs bitsandbytes", hint="pip install bitsandbytes") from None
    return Hardware(cuda=cuda, bf16=use_bf16(recipe.precision, "cuda" if cuda else "cpu"))
