"""Datasets: one fine-tuning dataset per subtask, with honest held-out splits.

Reads, from the workspace `DIR` that `analyze` wrote: `DIR/analysis/clusters.json` (which clusters
exist, their output kind and recommendation), `DIR/analysis/assignments.jsonl` (each call's
cluster) and `DIR/curate/records.jsonl` (the scrubbed calls fit for training), joined on the
record id.
Writes, per selected cluster, `DIR/datasets/<cluster>/`:
- a Hugging Face `DatasetDict` (`save_to_disk`; `train`/`validation`/`test`) in TRL's
  conversational format: `messages` (the request as sent, then the teacher's answer as the final
  assistant turn) and `tools` (the offered function schemas as a JSON string, which TRL parses),
  plus `id`, `group`, `output_class`, `represents` and token lengths;
- `openai/{train,validation,test}.jsonl`: the same splits in OpenAI's chat fine-tuning format;
- `README.md`: the dataset card; `dataset.json`: sizes, drops and the key that decides reuse.
Takes: `DatasetsParams`. A cluster whose records and parameters did not change is not rebuilt
(`force` rebuilds). Nothing half-written: each cluster is built in a hidden temporary folder and
renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from migrate import __version__
from migrate.datasets.examples import Example, to_example
from migrate.datasets.render import Renderer
from migrate.datasets.split import SPLITS, SplitParams, split_examples
from migrate.datasets.write import write_cluster
from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import Workspace, sha256_file

__all__ = ["DatasetsParams", "run"]

OUTLIER_ID = "outlier"
DEFAULT_MAX_LENGTH = 2048
MAX_REPORTED = 5  # example ids listed per drop reason


class DatasetsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("slm-migrate-out")
    clusters: list[str] | None = Field(None, description="cluster ids to build (None: the recommended ones)")
    min_examples: int = Field(50, ge=1, description="fewest usable examples for a cluster to be built")
    max_length: int | None = Field(
        None, ge=16, description="most tokens of prompt and answer (longer examples are dropped); "
        f"None: the recipe's max_length, else {DEFAULT_MAX_LENGTH}",
    )
    tokenizer: str | None = Field(None, description="local model folder whose tokenizer and chat template to check with")
    recipe: str | None = Field(
        None, description="the recipe the datasets are for: its chat template, max_length and (when available "
        "offline) its base model's tokenizer are used for the check",
    )
    split: SplitParams = Field(default_factory=SplitParams)
    force: bool = Field(False, description="rebuild clusters whose inputs did not change")


def run(params: DatasetsParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate datasets`: build the selected clusters' datasets; returns what was done."""
    workspace = Workspace(params.out)
    analysis = _read_analysis(workspace)
    selected = _select(analysis, params.clusters)
    root = workspace.stage_dir("datasets")
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    params, renderer = _validation(params)
    rows, digests = _read_records(workspace, {c["id"] for c in selected}, progress)

    results = []
    for index, cluster in enumerate(selected):
        progress("datasets", index, len(selected))
        key = _key(params, renderer, digests[cluster["id"]])
        target = root / cluster["id"]
        previous = _previous(target)
        if previous and previous.get("key") == key and not params.force:
            results.append({**_summary(cluster, previous), "status": "unchanged",
                            "message": "inputs and parameters unchanged since the last build (--force rebuilds)"})
            continue
        results.append(_build(cluster, rows.pop(cluster["id"], []), params, renderer, key, target))
    progress("datasets", len(selected), len(selected))

    outputs = sorted(p for r in results if r["status"] in ("built", "unchanged") for p in Path(r["path"]).rglob("*")
                     if p.is_file())
    workspace.record_stage(
        "datasets",
        inputs={name: sha256_file(path) for name, path in _inputs(workspace).items()},
        params={**params.model_dump(mode="json", exclude={"out", "force"}), "renderer": renderer.description,
                "keys": {r["id"]: r.get("key") for r in results}},
        outputs=outputs,
    )
    return {"clusters": results, "renderer": renderer.description, "out": str(root)}


def _validation(params: DatasetsParams) -> tuple[DatasetsParams, Renderer]:
    """The resolved max_length and the renderer: from the recipe when one is named, else the
    default template (and `tokenizer` when given)."""
    if not params.recipe:
        return params.model_copy(update={"max_length": params.max_length or DEFAULT_MAX_LENGTH}), Renderer(params.tokenizer)
    from migrate.finetune.recipe import chat_template_text, load_recipe

    recipe = load_recipe(params.recipe)
    tokenizer = params.tokenizer or _offline_tokenizer(recipe.base_model)
    resolved = params.model_copy(update={"max_length": params.max_length or recipe.max_length})
    return resolved, Renderer(tokenizer, chat_template_text(recipe))


def _offline_tokenizer(base_model: str) -> str | None:
    """`base_model` when its tokenizer can be loaded without the network (a local folder, a GGUF
    file's converted folder, or a hub id already in the Hugging Face cache); None otherwise
    (tiny-local is built by finetune)."""
    from migrate.finetune.gguf import is_gguf, resolve_gguf

    if is_gguf(base_model):  # converted once (finetune would do it next anyway), then exact
        return str(resolve_gguf(base_model))
    path = Path(base_model).expanduser()
    if path.is_dir():
        return str(path) if (path / "tokenizer_config.json").exists() else None
    if base_model == "tiny-local":
        return None
    from huggingface_hub import try_to_load_from_cache

    return base_model if isinstance(try_to_load_from_cache(base_model, "tokenizer_config.json"), str) else None


# -- inputs -------------------------------------------------------------------------------------
def _inputs(workspace: Workspace) -> dict[str, Path]:
    analysis = workspace.stage_dir("analysis")
    return {
        "clusters": analysis / "clusters.json",
        "assignments": analysis / "assignments.jsonl",
        "records": workspace.stage_dir("curate") / "records.jsonl",
    }


def _read_analysis(workspace: Workspace) -> dict[str, Any]:
    paths = _inputs(workspace)
    if not paths["clusters"].exists() or not paths["assignments"].exists():
        raise MigrateError(
            f"no analysis in {workspace.root} (missing {paths['clusters'].relative_to(workspace.root)})",
            hint=f"run `slm-migrate analyze LOGS... --out {workspace.root}` first",
        )
    if not paths["records"].exists():
        raise MigrateError(
            f"no curated records in {workspace.root} (missing curate/records.jsonl): the analysis ran "
            "without curation, so there is no scrubbed training data",
            hint=f"rerun `slm-migrate analyze LOGS... --out {workspace.root}` without --no-curate",
        )
    return json.loads(paths["clusters"].read_text(encoding="utf-8"))


def _select(analysis: dict[str, Any], wanted: list[str] | None) -> list[dict[str, Any]]:
    clusters = {c["id"]: c for c in analysis["clusters"] if c["id"] != OUTLIER_ID}
    if wanted is None:
        return [c for c in clusters.values() if c["suitability"]["recommendation"] == "specialize"]
    if OUTLIER_ID in wanted:
        raise MigrateError("'outlier' is not a subtask: outliers stay on the LLM",
                           hint="name cluster ids from the analysis report, e.g. " + ", ".join(list(clusters)[:3]))
    unknown = [c for c in dict.fromkeys(wanted) if c not in clusters]
    if unknown:
        raise MigrateError(
            f"no cluster {', '.join(map(repr, unknown))} in the analysis",
            hint="clusters of this analysis: " + ", ".join(clusters),
        )
    return [clusters[c] for c in dict.fromkeys(wanted)]


def _read_records(
    workspace: Workspace, wanted: set[str], progress: ProgressFn
) -> tuple[dict[str, list[bytes]], dict[str, str]]:
    """The curated record lines of each wanted cluster, and a digest of each cluster's lines."""
    paths = _inputs(workspace)
    cluster_of: dict[str, str] = {}
    with open(paths["assignments"], "rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            if row["cluster"] in wanted:
                cluster_of.setdefault(row["id"], row["cluster"])
    rows: dict[str, list[bytes]] = defaultdict(list)
    digests = {c: hashlib.sha256() for c in wanted}
    size = paths["records"].stat().st_size
    done = 0
    with open(paths["records"], "rb") as handle:
        for line in handle:
            done += len(line)
            if len(rows) % 1000 == 0:
                progress("reading records", done, size)
            record_id = orjson.loads(line)["id"]
            cluster = cluster_of.get(record_id)
            if cluster is not None:
                rows[cluster].append(line)
                digests[cluster].update(line)
    progress("reading records", size, size)
    return rows, {c: d.hexdigest() for c, d in digests.items()}


def _key(params: DatasetsParams, renderer: Renderer, records_digest: str) -> str:
    """What decides whether a cluster's dataset can be reused."""
    settings = params.model_dump(mode="json", exclude={"out", "force", "clusters"})
    payload = json.dumps([__version__, settings, renderer.description, records_digest], sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def _previous(target: Path) -> dict[str, Any] | None:
    try:
        return json.loads((target / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_leftovers(root: Path) -> None:
    """Temporary folders of an interrupted run (hidden names) are removed."""
    for path in root.glob(".*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


# -- one cluster --------------------------------------------------------------------------------
def _build(
    cluster: dict[str, Any], lines: list[bytes], params: DatasetsParams, renderer: Renderer, key: str, target: Path
) -> dict[str, Any]:
    kind = cluster["output"]["kind"]
    examples: list[Example] = []
    lengths: list[tuple[int, int]] = []
    dropped: Counter[str] = Counter()
    dropped_ids: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        example = to_example(orjson.loads(line), kind)
        try:
            measured = renderer.lengths(example)
        except ValueError:
            reason = "does_not_render"
        else:
            reason = "too_long" if measured.total > params.max_length else None
        if reason:
            dropped[reason] += 1
            if len(dropped_ids[reason]) < MAX_REPORTED:
                dropped_ids[reason].append(example.id)
            continue
        examples.append(example)
        lengths.append((measured.prompt, measured.total))

    base = {"id": cluster["id"], "name": cluster["name"], "kind": kind, "key": key, "path": str(target),
            "examples": len(examples), "dropped": dict(dropped), "dropped_ids": dict(dropped_ids)}
    if len(examples) < params.min_examples:
        return {**base, "status": "too_small", "message": _too_small(cluster, len(lines), len(examples), dropped, params)}
    split = split_examples(examples, params.split)
    sizes = {name: len(split.indices[name]) for name in SPLITS}
    if sizes["train"] == 0 or sizes["test"] == 0:
        return {**base, "status": "too_small", "message": (
            f"cluster {cluster['id']} ({cluster['name']}): its {len(examples)} examples form {split.groups} groups "
            "of near-identical requests, too few to hold out a test set without leakage; collect more varied logs")}
    stats = write_cluster(target, cluster, examples, lengths, split, {**base, "sizes": sizes}, params, renderer)
    return {**_summary(cluster, stats), "status": "built", "message": None}


def _too_small(cluster: dict[str, Any], lines: int, usable: int, dropped: Counter[str], params: DatasetsParams) -> str:
    why = f"{usable} usable examples"
    if dropped:
        why += f" ({lines} curated, " + ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.items()) + ")"
    hint = "collect more logs of this subtask, or lower --min-examples"
    if dropped.get("too_long"):
        hint += f", or raise --max-length (now {params.max_length})"
    return f"cluster {cluster['id']} ({cluster['name']}): {why}, fewer than --min-examples {params.min_examples}; skipped: {hint}"


def _summary(cluster: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "kind", "key", "path", "examples", "sizes", "dropped", "dropped_ids")
    return {k: stats.get(k) for k in keys} | {"id": cluster["id"], "name": cluster["name"]}
