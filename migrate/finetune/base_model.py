"""Where the base model of a recipe comes from, checked before any training starts.

- `tiny-local`: built offline from the workspace's texts (`tiny.build_tiny_base`) on first use
  and cached under `cache_dir` by a hash of the tiny parameters and the seed, so every cluster of
  a run (and every rerun, and every CI job) shares one base.
- an existing local folder: used as is (it must hold a `config.json`).
- a `.gguf` file, or `pkg:package/file.gguf` inside an installed package: converted once into a
  cached Hugging Face folder (`migrate.finetune.gguf`).
- anything else is a hub id: it must already be in the local Hugging Face cache when the hub is
  off (`HF_HUB_OFFLINE=1`, as in tests and CI); online, transformers downloads it on first use.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from migrate.errors import MigrateError
from migrate.finetune.distributed import process_state
from migrate.finetune.gguf import is_gguf, resolve_gguf
from migrate.finetune.recipe import TINY_LOCAL, Recipe
from migrate.progress import ProgressFn, no_progress

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_base(
    recipe: Recipe,
    workspace_texts_fn: Callable[[], Iterable[str]],
    cache_dir: Path,
    *,
    allow_download: bool | None = None,
    progress: ProgressFn | None = None,
) -> Path | str:
    """A local folder (Path) or a cached/downloadable hub id (str) for `recipe.base_model`.

    `workspace_texts_fn` is only called for `tiny-local` (the texts its tokenizer and
    pre-training read). `allow_download` defaults to "the hub is not switched off".
    """
    name = recipe.base_model
    if name == TINY_LOCAL:
        return resolve_tiny(recipe, workspace_texts_fn, Path(cache_dir), progress=progress)
    if is_gguf(name):  # a .gguf file or pkg:package/file.gguf: converted once, cached
        with process_state().main_process_first():
            return resolve_gguf(name, progress=progress or no_progress)
    path = Path(name).expanduser()
    has_config = (path / "config.json").exists()
    if path.is_dir():
        if not has_config:
            raise MigrateError(f"base_model {name!r}: the folder has no config.json",
                               hint="point it at a Hugging Face model folder")
        return path.resolve()
    if path.exists() or not HUB_ID.match(name):
        raise MigrateError(
            f"base_model {name!r}: " + ("not a model folder" if path.exists() else "no such model folder"),
            hint="give a Hugging Face model folder, a hub id (HuggingFaceTB/SmolLM2-360M-Instruct) or tiny-local",
        )
    return resolve_hub_id(name, allow_download=allow_download)


def resolve_hub_id(repo_id: str, *, allow_download: bool | None = None) -> str:
    """`repo_id` if it is in the local cache or may be downloaded; a MigrateError otherwise."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return repo_id
    if allow_download is None:
        allow_download = not constants.HF_HUB_OFFLINE
    if allow_download:
        return repo_id
    raise MigrateError(
        f"base model {repo_id!r} is not in the local Hugging Face cache and the hub is switched off",
        hint="to download it, unset HF_HUB_OFFLINE and run online once (`huggingface-cli download "
        f"{repo_id}`); or set base_model to a local model folder; tests and the demo use tiny-local",
    )


def tiny_cache_key(recipe: Recipe) -> str:
    """Hash of what identifies the tiny base: its parameters and the seed. Not the texts: the base
    is built once per workspace cache from the data of that day and then kept, so that new data in
    one cluster retrains that cluster's adapter only, not every adapter over a new base (delete
    `DIR/cache/base/` to rebuild it from today's data)."""
    params = recipe.tiny.model_dump(mode="json") if recipe.tiny else {}
    payload = json.dumps({"tiny": params, "seed": recipe.seed}, sort_keys=True).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


def resolve_tiny(recipe: Recipe, texts: Iterable[str] | Callable[[], Iterable[str]], cache_dir: Path, *,
                 progress: ProgressFn | None = None) -> Path:
    """The cached tiny base for these parameters; built from `texts` (read only then) on first use."""
    from migrate.finetune.tiny import build_tiny_base

    folder = cache_dir / f"tiny-local-{tiny_cache_key(recipe)}"
    assert recipe.tiny is not None  # set by the Recipe validator for tiny-local
    # Under `accelerate launch` the main process builds; the others then find it cached.
    with process_state().main_process_first():
        if not (folder / "config.json").exists():
            corpus = list(texts() if callable(texts) else texts)
            build_tiny_base(corpus, folder, recipe.tiny, seed=recipe.seed, progress=progress)
    return folder


def rendered_texts(dataset_dirs: Iterable[Path], splits: tuple[str, ...] = ("train",)) -> list[str]:
    """The chats of the given splits rendered with the default template: the tiny model's
    corpus. Only `train` by default, so held-out examples stay unseen by the base."""
    from migrate.chat_template import render
    from migrate.finetune.examples import load_splits, to_prompt_completion

    texts = []
    for dataset_dir in dataset_dirs:
        dataset = load_splits(Path(dataset_dir))
        for split in splits:
            if split not in dataset:
                continue
            for row in dataset[split].select_columns(["messages", "tools"]):
                example = to_prompt_completion(row)
                texts.append(render(example["prompt"] + example["completion"], example["tools"]))
    return texts
