"""Write one cluster's dataset folder: the DatasetDict, the OpenAI JSONL files, the card, the stats.

Everything is written into a hidden temporary folder beside the target and renamed into place
when complete, so `DIR/datasets/<cluster>/` is either the previous build or the new one, never a
mix or a half.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from migrate.datasets.card import dataset_card, length_stats
from migrate.datasets.examples import Example, openai_row
from migrate.datasets.render import Renderer
from migrate.datasets.split import SPLITS, Split
from migrate.workspace import atomic_dir, write_json, write_text

if TYPE_CHECKING:
    from migrate.datasets import DatasetsParams


def features():
    """The columns' types, fixed so that every split (and every cluster) has the same schema."""
    from datasets import Features, List, Value

    call = {"id": Value("string"), "type": Value("string"),
            "function": {"name": Value("string"), "arguments": Value("string")}}
    message = {"role": Value("string"), "content": Value("string"), "tool_calls": List(call),
               "tool_call_id": Value("string"), "name": Value("string")}
    return Features({
        "id": Value("string"),
        "messages": List(message),
        "tools": Value("string"),
        "output_class": Value("string"),
        "group": Value("string"),
        "represents": Value("int64"),
        "prompt_tokens": Value("int32"),
        "total_tokens": Value("int32"),
    })


def _columns(examples: list[Example], lengths: list[tuple[int, int]], split: Split, indices: list[int]) -> dict:
    return {
        "id": [examples[i].id for i in indices],
        "messages": [examples[i].messages for i in indices],
        "tools": [orjson.dumps(examples[i].tools).decode() for i in indices],
        "output_class": [examples[i].output_class for i in indices],
        "group": [split.group[i] for i in indices],
        "represents": [examples[i].represents for i in indices],
        "prompt_tokens": [lengths[i][0] for i in indices],
        "total_tokens": [lengths[i][1] for i in indices],
    }


def write_cluster(
    target: Path,
    cluster: dict[str, Any],
    examples: list[Example],
    lengths: list[tuple[int, int]],
    split: Split,
    stats: dict[str, Any],
    params: DatasetsParams,
    renderer: Renderer,
) -> dict[str, Any]:
    """Write `target` (replacing a previous build) and return its stats (`dataset.json`)."""
    from datasets import Dataset, DatasetDict
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # the CLI draws its own bars; tqdm's would interleave with them
    schema = features()
    stats = {
        **stats,
        "groups": split.groups,
        "largest_group": split.largest_group,
        "strata": split.strata,
        "represents": {name: sum(examples[i].represents for i in split.indices[name]) for name in SPLITS},
        "tokens": {name: length_stats([lengths[i] for i in split.indices[name]]) for name in SPLITS},
        "classes": {name: _classes(examples, split.indices[name]) for name in SPLITS},
        "renderer": renderer.description,
        "max_length": params.max_length,
        "split_params": params.split.model_dump(mode="json"),
        "curation": cluster.get("curation", {}),
    }
    with atomic_dir(target) as temp:
        DatasetDict({
            name: Dataset.from_dict(_columns(examples, lengths, split, split.indices[name]), features=schema)
            for name in SPLITS
        }).save_to_disk(str(temp))
        (temp / "openai").mkdir()
        for name in SPLITS:
            with open(temp / "openai" / f"{name}.jsonl", "wb") as handle:
                handle.writelines(openai_row(examples[i]) for i in split.indices[name])
        train = split.indices["train"]
        sample = examples[train[0]] if train else None
        write_text(temp / "README.md", dataset_card(cluster, stats, sample))
        write_json(temp / "dataset.json", stats)
    return stats


def _classes(examples: list[Example], indices: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in indices:
        name = examples[i].output_class
        if name:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
