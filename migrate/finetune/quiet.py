"""Keep the libraries' own progress bars off while a stage runs: stages print nothing, they
report through a progress callback and the CLI draws one display."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """No tqdm bars from transformers or datasets while inside (the CLI draws its own)."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_bars, ds_bars = hf_logging.is_progress_bar_enabled(), not datasets.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            # deprecations raised inside the libraries' own calls (peft reading transformers'
            # `is_gradient_checkpointing`): nothing a user of slm-migrate can act on
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|trl)\.")
            yield
    finally:
        if hf_bars:
            hf_logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()
