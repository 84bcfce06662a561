"""Cluster identity across runs: calls of a known subtask keep the cluster id they had.

When `analyze` runs into a workspace that already holds an analysis (yesterday's logs), the new
clusters are matched to the old ones, so that what hangs off an id (the adapter
`DIR/specialists/<id>`, its dataset, its routing entry) stays attached to the same subtask.

1. **Load** the previous `clusters.json` and `embedding.npz` before the new run overwrites them.
2. **Place** every new call where the *previous* analysis would have put it: its hashed request
   features weighted by the old IDF and projected on the old SVD basis (what
   `migrate.route.embed.RequestEmbedder` does for one request, here for the whole table at once),
   then the nearest old micro-centroid and that micro-cluster's cluster. A call that the old basis
   explains poorly (`captured` below the old `min_captured`) or that is far from every old
   micro-centroid (cosine below the old `outlier_floor`) places nowhere: the previous analysis did
   not know that work.
3. **Vote**: a new cluster agrees with an old one by the share of its calls placed there.
4. **Match** one to one: among the pairs where at least `MIN_AGREEMENT` of the new cluster's calls
   place in the old cluster, the matching that keeps the most calls' ids (Hungarian algorithm,
   `scipy.optimize.linear_sum_assignment`). A matched cluster takes the old id; when an old
   subtask split in two, the part holding more of its calls keeps the id.
5. **Fresh ids** for unmatched new clusters, largest first, counting on from the largest id ever
   used (`id_history.next_id`): an id is never given to a second subtask. Old clusters left
   unmatched are `vanished` and their ids `retired` (a subtask that comes back later gets a new id:
   the old one's embedding is gone).

The outlier group is always `outlier`. Deterministic: the same two analyses give the same ids.
Without a previous analysis the ids are `c00`, `c01`, ... in the clustering's order (largest first).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from migrate.analyze.cluster import OUTLIER, ClusterParams, _nearest
from migrate.analyze.table import N_FEATURES, CallTable
from migrate.errors import MigrateError

MIN_AGREEMENT = 0.5  # share of a new cluster's calls that must place in an old cluster to take its id
OUTLIER_ID = "outlier"
_ROWS = 65_536  # calls projected at a time
_ID = re.compile(r"c(\d+)")


def cluster_id(number: int) -> str:
    """The id of cluster number `number` (`c00`, `c01`, ... `c100`), or `outlier`."""
    return OUTLIER_ID if number == OUTLIER else f"c{number:02d}"


def id_number(cluster: str) -> int:
    found = _ID.fullmatch(cluster)
    if found is None:
        raise ValueError(f"unexpected cluster id {cluster!r}")
    return int(found.group(1))


@dataclass
class Previous:
    """What the previous analysis in the workspace knew: its embedding, clusters and ids."""

    used_features: np.ndarray  # hashed feature ids of the old basis
    idf: np.ndarray  # their IDF
    components: np.ndarray  # (dims, kept) old SVD basis
    micro_centroids: np.ndarray  # (n_micro, dims) unit rows
    micro_cluster: np.ndarray  # per old micro-cluster: its cluster's id number or OUTLIER
    unseen_idf: float  # weight of a feature the old basis does not hold
    clusters: dict[int, dict[str, Any]]  # id number -> {"id", "name", "size"}
    next_id: int  # the number the next new cluster gets
    retired: list[str]  # ids given before and no longer in use
    min_similarity: float  # old `outlier_floor`
    min_captured: float  # old `min_captured`


@dataclass
class Identity:
    """The id of each new cluster, and what changed since the previous analysis."""

    numbers: np.ndarray  # per cluster index (largest first): its id number
    next_id: int
    retired: list[str] = field(default_factory=list)
    previous: bool = False  # whether a previous analysis was matched against
    kept: dict[str, float] = field(default_factory=dict)  # id -> agreement (share of its calls)
    new: list[str] = field(default_factory=list)
    vanished: list[dict[str, Any]] = field(default_factory=list)

    def name(self, index: int) -> str:
        """The id of cluster index `index` (or `outlier`)."""
        return OUTLIER_ID if index == OUTLIER else cluster_id(int(self.numbers[index]))

    def renumber(self, indices: np.ndarray) -> np.ndarray:
        """Cluster indices (per call, per micro-cluster) as id numbers; OUTLIER stays."""
        indices = np.asarray(indices)
        return np.where(indices >= 0, self.numbers[np.maximum(indices, 0)] if len(self.numbers) else 0, OUTLIER)

    def history(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "retired": self.retired}

    def describe(self) -> dict[str, Any]:
        return {"previous": self.previous, "min_agreement": MIN_AGREEMENT, "kept": self.kept, "new": self.new}


def first_identity(labels: np.ndarray) -> Identity:
    """Ids without a previous analysis: cluster index i is `c{i:02d}`."""
    n = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    return Identity(numbers=np.arange(n, dtype=np.int64), next_id=n, new=[cluster_id(i) for i in range(n)])


# -- the previous analysis ----------------------------------------------------------------------
def load_previous(folder: Path) -> Previous | None:
    """The analysis in `folder` (`clusters.json` + `embedding.npz`), or None when there is none."""
    clusters_path, embedding_path = folder / "clusters.json", folder / "embedding.npz"
    if not (clusters_path.exists() and embedding_path.exists()):
        return None
    # imported here: the route package imports this one
    from migrate.route.embed import RequestEmbedder

    try:
        analysis = json.loads(clusters_path.read_text(encoding="utf-8"))
        with np.load(embedding_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("used_features", "idf", "components", "micro_centroids", "micro_cluster")}
        clusters = {
            id_number(c["id"]): {"id": c["id"], "name": c.get("name"), "size": int(c.get("size") or 0)}
            for c in analysis["clusters"] if c["id"] != OUTLIER_ID
        }
        history = analysis.get("id_history") or {}
        retired = [str(r) for r in history.get("retired") or []]
        used = [*clusters, *(id_number(r) for r in retired)]
        next_id = max(int(history.get("next_id") or 0), max(used, default=-1) + 1)
        settings = {**ClusterParams().model_dump(), **(analysis.get("params") or {}).get("cluster", {})}
        calls = int(analysis["totals"]["calls"])
        dims, kept = arrays["components"].shape
        if not (len(arrays["used_features"]) == len(arrays["idf"]) == kept
                and arrays["micro_centroids"].shape[1:] == (dims,)
                and len(arrays["micro_cluster"]) == len(arrays["micro_centroids"])):
            raise ValueError("embedding.npz arrays do not fit together")
    except Exception as exc:  # noqa: BLE001 - any unreadable previous analysis is reported the same way
        raise MigrateError(
            f"cannot read the previous analysis in {folder} to keep its cluster ids ({type(exc).__name__}: {exc})",
            hint=f"restore {folder} from a good run, or analyze with fresh ids (keep_ids off): the ids of "
                 "existing specialists and routing entries then no longer follow their subtasks",
        ) from None
    micro_cluster = np.asarray(arrays["micro_cluster"], dtype=np.int64)
    micro_cluster = np.where(np.isin(micro_cluster, list(clusters)), micro_cluster, OUTLIER)
    return Previous(
        used_features=arrays["used_features"], idf=arrays["idf"], components=arrays["components"],
        micro_centroids=np.asarray(arrays["micro_centroids"], dtype=np.float32), micro_cluster=micro_cluster,
        unseen_idf=RequestEmbedder.unseen_idf_for(calls), clusters=clusters, next_id=next_id, retired=retired,
        min_similarity=float(settings["outlier_floor"]), min_captured=float(settings["min_captured"]),
    )


# -- placing new calls in the old embedding -----------------------------------------------------
class OldEmbedding:
    """The previous analysis' request embedding, applied to a table's hashed features."""

    def __init__(self, previous: Previous):
        kept = len(previous.idf)
        used = np.asarray(previous.used_features, dtype=np.int64)
        self.column = np.full(N_FEATURES, -1, dtype=np.int32)
        self.column[used] = np.arange(kept, dtype=np.int32)
        self.weight = np.full(N_FEATURES, previous.unseen_idf, dtype=np.float64)
        self.weight[used] = previous.idf
        self.basis = np.asarray(previous.components, dtype=np.float64).T  # (kept, dims)

    def project(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(projection on the old basis, squared norm of the IDF-weighted features) per row."""
        values = matrix.data.astype(np.float64) * self.weight[matrix.indices]
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        sq = np.bincount(rows, weights=values * values, minlength=matrix.shape[0])
        columns = self.column[matrix.indices]
        values[columns < 0] = 0.0
        kept = sp.csr_matrix((values, np.maximum(columns, 0), matrix.indptr),
                             shape=(matrix.shape[0], self.basis.shape[0]))
        return np.asarray(kept @ self.basis), sq

    def embed(self, table: CallTable, start: int = 0, stop: int | None = None,
              contexts: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(unit vectors, captured) of the table's calls `start:stop`, as the previous analysis
        would have embedded them (before `embed` consumes the table's user features)."""
        context_proj, context_sq = contexts or self.project(table.context_matrix())
        cids = table.column("context_ids")[start:stop]
        user_proj, user_sq = self.project(table.user_matrix()[start:stop])
        vectors = context_proj[cids] + user_proj
        norms = np.sqrt(context_sq[cids] + user_sq) + 1e-12
        lengths = np.linalg.norm(vectors, axis=1)
        return vectors / (lengths[:, None] + 1e-12), lengths / norms


def place_calls(table: CallTable, previous: Previous) -> np.ndarray:
    """Per call: the id number of the old cluster the previous analysis would put it in, or
    OUTLIER where it places nowhere (poorly explained by the old basis, or far from every old
    micro-centroid, or nearest to one of the old outlier micro-clusters)."""
    old = OldEmbedding(previous)
    contexts = old.project(table.context_matrix())
    placed = np.full(len(table), OUTLIER, dtype=np.int64)
    for start in range(0, len(table), _ROWS):
        vectors, captured = old.embed(table, start, start + _ROWS, contexts)
        micro, similarity = _nearest(vectors.astype(np.float32), previous.micro_centroids)
        known = (similarity >= previous.min_similarity) & (captured >= previous.min_captured)
        placed[start:start + len(micro)] = np.where(known, previous.micro_cluster[micro], OUTLIER)
    return placed


# -- matching -----------------------------------------------------------------------------------
def match_clusters(labels: np.ndarray, placed: np.ndarray, previous: Previous) -> Identity:
    """Ids for the new clusters (`labels`: per call its cluster index or OUTLIER) from where the
    previous analysis places their calls (`placed`, from `place_calls`)."""
    n_new = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    old_numbers = np.array(sorted(previous.clusters), dtype=np.int64)
    known = np.isin(placed, old_numbers)
    column = np.searchsorted(old_numbers, placed)  # meaningful where `known`
    votes = np.zeros((n_new, len(old_numbers)), dtype=np.int64)
    voting = (labels >= 0) & known
    np.add.at(votes, (labels[voting], column[voting]), 1)
    sizes = np.bincount(labels[labels >= 0], minlength=n_new)
    share = votes / np.maximum(sizes, 1)[:, None]
    admissible = share >= MIN_AGREEMENT
    numbers = np.full(n_new, -1, dtype=np.int64)
    kept: dict[str, float] = {}
    if admissible.any():
        rows, cols = linear_sum_assignment(np.where(admissible, votes, 0), maximize=True)
        for row, col in zip(rows.tolist(), cols.tolist()):
            if admissible[row, col]:
                numbers[row] = old_numbers[col]
    next_id = previous.next_id
    new = []
    for index in range(n_new):  # largest first
        if numbers[index] < 0:
            numbers[index], next_id = next_id, next_id + 1
            new.append(cluster_id(int(numbers[index])))
        else:
            j = int(np.searchsorted(old_numbers, numbers[index]))
            kept[cluster_id(int(numbers[index]))] = round(float(share[index, j]), 4)
    vanished = []
    placed_anywhere = np.bincount(column[known], minlength=len(old_numbers))
    for j, number in enumerate(old_numbers.tolist()):
        if number in numbers:
            continue
        old = previous.clusters[number]
        mostly = int(votes[:, j].argmax()) if n_new and votes[:, j].any() else None
        vanished.append({
            "id": old["id"], "name": old["name"], "size": old["size"],
            "calls_placed": int(placed_anywhere[j]),  # this run's calls the old analysis would put there
            "mostly_in": cluster_id(int(numbers[mostly])) if mostly is not None else None,
        })
    retired = sorted({*previous.retired, *(v["id"] for v in vanished)}, key=id_number)
    return Identity(numbers=numbers, next_id=next_id, retired=retired, previous=True, kept=kept, new=new,
                    vanished=vanished)
