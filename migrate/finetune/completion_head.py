"""Score only the answer tokens on CPU: the LM head runs on the positions that have a label.

TRL's SFT loss goes through its fused LM head, which projects, in tiles, either only the positions
whose label is not -100 ("compact") or every position. It chooses compact only where Triton runs
(CUDA/XPU), because elsewhere the varying number of positions would recompile graphs on devices
like Neuron. In eager PyTorch on a CPU nothing recompiles, and scoring every position wastes most
of the head: with completion-only loss, a ~200-token prompt with a 4-token answer sends ~50x more
rows through a 49k-vocabulary projection (forward and backward) than the loss uses. Measured here
on SmolLM2-135M: 8.8 s -> 4.9 s per step of 4 examples, the same loss (bench/RESULTS.md).

`compact_lm_head_on_cpu()` makes TRL take its compact path on CPU devices for the duration of a
`with` block and leaves every other device as TRL decides. TRL computes the identical loss either
way (tests/test_finetune.py checks it); if a TRL release no longer has the switch, training runs
unchanged, only slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _trl_switch() -> tuple[Any, str] | None:
    """The module and name of TRL's "score only labelled positions?" decision, if it has one."""
    try:
        from trl.trainer import utils
    except ImportError:
        return None
    return (utils, "_use_triton") if callable(getattr(utils, "_use_triton", None)) else None


@contextmanager
def compact_lm_head_on_cpu() -> Iterator[bool]:
    """Within the block, TRL's fused LM head scores only labelled positions on CPU too. Yields
    whether the switch was found."""
    switch = _trl_switch()
    if switch is None:
        yield False
        return
    module, name = switch
    original = getattr(module, name)

    def compact(device: Any) -> bool:
        return getattr(device, "type", None) == "cpu" or original(device)

    setattr(module, name, compact)
    try:
        yield True
    finally:
        setattr(module, name, original)
