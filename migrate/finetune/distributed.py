"""The process group as accelerate sees it, so that code running before the trainer (building
the tiny base, preparing the checkpoint folder) agrees with it on who the main process is.

`PartialState` is a singleton: the first call decides. Without CUDA the trainer runs with
`use_cpu=True`, which makes accelerate read the launcher's WORLD_SIZE/RANK for a multi-CPU group;
a plain `PartialState()` made earlier would instead settle on a single process. So it is always
made here with `cpu=` matching what the trainer will ask for.
"""

from __future__ import annotations

from typing import Any


def process_state() -> Any:
    """accelerate's `PartialState`, CPU-only exactly when the trainer will be."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
