"""Find the recurring subtasks: embed requests, over-segment them, merge into call sites/subtasks.

1. **Embed** every request (TF-IDF over the hashed request features of `features`, then a
   TruncatedSVD fitted on a sample): shared contexts are projected once, so the cost per call is
   its user-turn features only.
2. **Over-segment** with k-means (k well above the expected number of subtasks) on a sample; every
   call goes to its nearest micro-cluster.
3. **Merge** micro-clusters by average-linkage agglomeration, first into call sites by request
   similarity (one call site stays whole, whatever tool or label each answer picks), then call
   sites into subtasks by the similarity of their pooled answers (differently worded prompts that
   give the same labels, JSON keys or tool calls are one subtask). Groups whose answers are of
   different kinds never merge (one generic prompt used to classify and to summarise is two
   subtasks).
4. **Outliers**: merged groups smaller than `min_cluster_size`, incoherent micro-clusters, and calls
   far from their cluster's centroid go to the explicit outlier group (they stay on the LLM).

Deterministic for a seed; the same data gives the same ids (ordered by size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import TruncatedSVD

from migrate.analyze import features
from migrate.analyze.table import CallTable

OUTLIER = -1
_CHUNK = 1 << 22  # nonzeros processed at a time when re-weighting the per-call matrix in place
KIND_VETO = 0.3  # micro-clusters whose answer-kind mixes are less alike than this never merge
SAME_REQUEST = 0.9  # ... unless their requests are at least this alike (indistinguishable)


class ClusterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="random seed (sampling, SVD, k-means)")
    dims: int = Field(64, ge=2, description="SVD dimensions of the request embedding")
    sample_size: int = Field(20_000, ge=100, description="calls used to fit the SVD and k-means")
    micro_clusters: int | None = Field(None, ge=2, description="k of the over-segmentation (default: from the data size)")
    site_threshold: float = Field(0.5, gt=0, lt=1, description="request similarity from which micro-clusters are one call site")
    merge_threshold: float = Field(0.65, gt=0, lt=1, description="answer similarity from which call sites are one subtask")
    min_cluster_size: int = Field(10, ge=1, description="smaller groups become outliers")
    min_cohesion: float = Field(0.30, ge=0, lt=1, description="micro-clusters less coherent than this are outliers")
    outlier_mads: float = Field(6.0, gt=0, description="calls this many MADs below their cluster's typical similarity are outliers")
    outlier_floor: float = Field(0.25, ge=0, lt=1, description="calls less similar than this to their cluster are outliers")
    min_captured: float = Field(0.35, ge=0, lt=1, description="calls whose features the recurring patterns explain less than this are outliers")


@dataclass
class Embedding:
    vectors: np.ndarray  # (n_calls, dims) float32, unit rows
    captured: np.ndarray  # per call: share of its feature vector's norm the SVD basis explains
    used_features: np.ndarray  # hashed feature ids kept (int64)
    idf: np.ndarray  # idf of the kept features
    components: np.ndarray  # (dims, n_kept) SVD basis


@dataclass
class Clustering:
    labels: np.ndarray  # per call: cluster index (0..n-1, largest first) or OUTLIER
    micro: np.ndarray  # per call: its micro-cluster
    micro_centroids: np.ndarray  # (n_micro, dims) unit rows: a new request goes to the nearest
    micro_cluster: np.ndarray  # per micro-cluster: its cluster or OUTLIER
    sample: np.ndarray  # indices of the calls the models were fitted on


def _row_sq_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """Squared L2 norm of each row, without copying the matrix."""
    out = np.zeros(matrix.shape[0], dtype=np.float64)
    nonempty = np.flatnonzero(np.diff(matrix.indptr) > 0)
    if len(nonempty):
        out[nonempty] = np.add.reduceat(np.square(matrix.data, dtype=np.float64), matrix.indptr[nonempty])
    return out


def _keep_columns(matrix: sp.csr_matrix, mapping: np.ndarray, n_cols: int, chunk: int = _CHUNK) -> sp.csr_matrix:
    """`matrix` with column j moved to `mapping[j]`; columns mapped to -1 are zeroed. In place and
    in chunks: the per-call matrix is the largest object of a run, and a copy would double the
    peak memory."""
    for start in range(0, len(matrix.indices), chunk):
        indices = matrix.indices[start:start + chunk]
        new = mapping[indices]
        matrix.data[start:start + chunk][new < 0] = 0.0
        np.maximum(new, 0, out=indices)
    return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], n_cols), copy=False)


def embed(table: CallTable, params: ClusterParams) -> Embedding:
    """The request embedding of every call. Consumes the table's user features (they are
    re-weighted in place to keep the peak memory at one copy)."""
    contexts, users = table.context_matrix(), table.consume_user_matrix()
    cids = table.column("context_ids")
    n, n_features = len(table), contexts.shape[1]
    counts = np.bincount(cids, minlength=contexts.shape[0]).astype(np.float64)
    df = np.bincount(contexts.indices, weights=counts[np.repeat(np.arange(contexts.shape[0]), np.diff(contexts.indptr))],
                     minlength=n_features)
    df += np.bincount(users.indices, minlength=n_features)  # hashed rows hold each feature once
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    for matrix in (contexts, users):  # in place, in chunks (see _keep_columns)
        for start in range(0, len(matrix.data), _CHUNK):
            matrix.data[start:start + _CHUNK] *= idf[matrix.indices[start:start + _CHUNK]]
    norms = np.sqrt(_row_sq_norms(contexts)[cids] + _row_sq_norms(users)) + 1e-12
    # The basis is fitted on features frequent enough to shape a cluster; rarer ones (an order's
    # words, a one-off prompt) still count in the norms, so `captured` sees how much of a call
    # the recurring patterns explain.
    shaping = np.flatnonzero(df >= max(2.0, params.min_cluster_size / 2))
    mapping = np.full(n_features, -1, dtype=np.int32)
    mapping[shaping] = np.arange(len(shaping), dtype=np.int32)
    contexts = _keep_columns(contexts, mapping, max(len(shaping), 1))
    users = _keep_columns(users, mapping, max(len(shaping), 1))

    rng = np.random.default_rng(params.seed)
    sample = np.sort(rng.choice(n, size=min(n, params.sample_size), replace=False))
    fit_rows = (contexts[cids[sample]] + users[sample]).multiply(1.0 / norms[sample, None]).tocsr()
    dims = max(2, min(params.dims, fit_rows.shape[1] - 1, len(sample) - 1))
    svd = TruncatedSVD(n_components=dims, random_state=params.seed, algorithm="randomized", n_iter=4)
    svd.fit(fit_rows)
    basis = svd.components_.astype(np.float32)
    vectors = np.asarray(contexts @ basis.T, dtype=np.float32)[cids]
    vectors += np.asarray(users @ basis.T, dtype=np.float32)
    vectors /= norms[:, None].astype(np.float32)
    captured = np.linalg.norm(vectors, axis=1)
    vectors /= captured[:, None] + 1e-12
    return Embedding(
        vectors=vectors, captured=captured, used_features=shaping.astype(np.int64),
        idf=idf[shaping], components=basis,
    )


def _nearest(vectors: np.ndarray, centers: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    labels = np.empty(len(vectors), dtype=np.int32)
    sims = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = vectors[start:start + chunk] @ centers.T
        labels[start:start + chunk] = block.argmax(axis=1)
        sims[start:start + chunk] = block[np.arange(len(block)), labels[start:start + chunk]]
    return labels, sims


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12)


def _group_means(labels: np.ndarray, values: np.ndarray | sp.spmatrix, k: int) -> np.ndarray:
    indicator = sp.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))), shape=(k, len(labels))
    )
    sums = indicator @ values
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    return sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]


def _idf_cosine(profiles: np.ndarray) -> np.ndarray:
    """Cosine of action profiles, each token weighted by how few groups share it (IDF).

    Tokens common to most groups (the kind "text", a length bucket) weigh little, so what makes
    actions alike is specific: the same labels, JSON keys, tools, or answer vocabulary.
    """
    df = (profiles > 0).sum(axis=0)
    weighted = _unit_rows(profiles * np.log((1.0 + len(profiles)) / (1.0 + df)))
    return np.clip(weighted @ weighted.T, 0.0, 1.0)


def _kind_veto(similarity: np.ndarray, kinds: np.ndarray, request: np.ndarray | None = None) -> np.ndarray:
    """Groups whose answer kinds differ (tool calls vs. JSON vs. code vs. text) never merge.

    Requests at least `SAME_REQUEST` alike are exempt: when a router cannot tell them apart, the
    kind of answer is the model's choice (ask back instead of calling a tool), not a subtask.
    Short and long text count as one kind here: answer length alone is no reason to split
    (a query rewriter answers in 3 words or in 9); labels and free text differ in what they say,
    which the request and answer similarities see.
    """
    coarse = kinds.copy()
    short, text = features.KINDS.index("short"), features.KINDS.index("text")
    coarse[:, text] += coarse[:, short]
    coarse[:, short] = 0.0
    coarse[:, features.KINDS.index("error")] = 0.0
    kind = _unit_rows(coarse) @ _unit_rows(coarse).T
    veto = kind < KIND_VETO
    if request is not None:  # requests a router cannot tell apart are one call site, whatever the answer
        veto &= request < SAME_REQUEST
    similarity = similarity.copy()
    similarity[veto] = 0.0
    np.fill_diagonal(similarity, 1.0)
    return similarity


def _agglomerate(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage groups of items whose similarity is at least `threshold`."""
    if len(similarity) == 1:
        return np.zeros(1, dtype=np.int64)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - threshold,
    )
    return model.fit(1.0 - similarity).labels_.astype(np.int64)


def _pool(groups: np.ndarray, means: np.ndarray, sizes: np.ndarray, n_groups: int) -> np.ndarray:
    """Size-weighted means of per-item rows, per group."""
    sums = np.zeros((n_groups, means.shape[1]))
    np.add.at(sums, groups, means * sizes[:, None])
    return sums / np.maximum(np.bincount(groups, weights=sizes, minlength=n_groups), 1)[:, None]


def merge_micro_clusters(
    centroids: np.ndarray, actions: np.ndarray, kinds: np.ndarray, sizes: np.ndarray, params: ClusterParams
) -> np.ndarray:
    """Micro-clusters -> subtasks, in two steps.

    1. Call sites: micro-clusters whose requests look alike (centroid cosine >= `site_threshold`)
       are one call site, whichever tool or label each answer picks.
    2. Subtasks: call sites whose pooled answers are alike (IDF-weighted action cosine >=
       `merge_threshold`) are one subtask worded differently: the same labels, keys, tools.
    Both steps refuse to merge groups whose answer kinds differ.
    """
    request = np.clip(_unit_rows(centroids) @ _unit_rows(centroids).T, 0.0, 1.0)
    sites = _agglomerate(_kind_veto(request, kinds, request), params.site_threshold)
    n_sites = int(sites.max()) + 1
    site_actions = _pool(sites, actions, sizes, n_sites)
    site_kinds = _pool(sites, kinds, sizes, n_sites)
    subtasks = _agglomerate(_kind_veto(_idf_cosine(site_actions), site_kinds), params.merge_threshold)
    return subtasks[sites]


def assign_clusters(table: CallTable, embedding: Embedding, params: ClusterParams) -> Clustering:
    vectors = embedding.vectors
    n = len(vectors)
    rng = np.random.default_rng(params.seed + 1)
    sample = np.sort(rng.choice(n, size=min(n, params.sample_size), replace=False))
    k = params.micro_clusters or int(np.clip(np.sqrt(len(sample)) * 1.5, 8, 160))
    k = min(k, len(sample))
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=params.seed, max_iter=100).fit(vectors[sample])
    micro, _ = _nearest(vectors, _unit_rows(kmeans.cluster_centers_.astype(np.float32)))
    k = int(micro.max()) + 1

    sizes = np.bincount(micro, minlength=k)
    centroids = _group_means(micro, vectors, k)
    cohesion = np.einsum("ij,ij->i", _unit_rows(centroids)[micro], vectors)
    cohesion_by_micro = np.bincount(micro, weights=cohesion, minlength=k) / np.maximum(sizes, 1)
    actions = _group_means(micro, table.action_matrix(), k)
    kind_onehot = sp.csr_matrix(
        (np.ones(n, dtype=np.float32), (np.arange(n), table.column("kinds"))), shape=(n, len(features.KINDS))
    )
    kinds = _group_means(micro, kind_onehot, k)

    live = np.flatnonzero((sizes > 0) & (cohesion_by_micro >= params.min_cohesion))
    merged = np.full(k, OUTLIER, dtype=np.int64)
    if len(live):
        merged[live] = merge_micro_clusters(centroids[live], actions[live], kinds[live], sizes[live], params)
    labels, micro_cluster = _finalise(micro, merged, cohesion, embedding.captured, params)
    return Clustering(
        labels=labels, micro=micro, micro_centroids=_unit_rows(centroids).astype(np.float32),
        micro_cluster=micro_cluster, sample=sample,
    )


def _outside(values: np.ndarray, mads: float, floor: float, gap: float = 0.2) -> np.ndarray:
    """Which values sit far below the group's typical value, or below `floor`.

    Far means both `mads` MADs and `gap` below the median: a very tight group does not
    reject calls that are merely a little less alike.
    """
    typical = float(np.median(values))
    mad = float(np.median(np.abs(values - typical)))
    return values < max(floor, typical - max(mads * mad, gap))


def _finalise(
    micro: np.ndarray, merged: np.ndarray, micro_sims: np.ndarray, captured: np.ndarray, params: ClusterParams
) -> tuple[np.ndarray, np.ndarray]:
    """Per call its final cluster (largest first) or OUTLIER; per micro-cluster its cluster.

    A call is an outlier when it sits far from its micro-cluster's centroid, or when the recurring
    patterns (the SVD basis) explain little of it; both are judged within its micro-cluster. Then
    clusters smaller than `min_cluster_size` become outliers.
    """
    labels = merged[micro].copy()
    order = np.argsort(micro, kind="stable")
    for members in np.split(order, np.cumsum(np.bincount(micro, minlength=len(merged)))[:-1]):
        if len(members) == 0 or merged[micro[members[0]]] == OUTLIER:
            continue
        far = _outside(micro_sims[members], params.outlier_mads, params.outlier_floor)
        unexplained = _outside(captured[members], params.outlier_mads, params.min_captured)
        labels[members[far | unexplained]] = OUTLIER
    valid = labels >= 0
    if not valid.any():
        return labels, np.full(len(merged), OUTLIER, dtype=np.int64)
    sizes = np.bincount(labels[valid])
    labels[valid & (sizes[np.maximum(labels, 0)] < params.min_cluster_size)] = OUTLIER
    valid = labels >= 0
    groups, first, counts = np.unique(labels[valid], return_index=True, return_counts=True)
    order = np.lexsort((np.flatnonzero(valid)[first], -counts))  # largest first, ties by first call
    rank = np.full(int(merged.max()) + 1, OUTLIER, dtype=np.int64)
    rank[groups[order]] = np.arange(len(groups))
    final = np.where(valid, rank[np.maximum(labels, 0)], OUTLIER)
    micro_cluster = np.where(merged >= 0, rank[np.maximum(merged, 0)], OUTLIER)
    return final, micro_cluster
