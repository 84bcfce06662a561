"""The router: an incoming chat request -> a cluster and a confidence, or "leave it to the LLM".

The model, trained and calibrated by `migrate.route.calibrate`:
1. **Embed** the request as `analyze` embedded the logs (`RequestEmbedder`): a unit vector in the
   analysis embedding and `captured`, the share of the request the recurring patterns explain.
2. **Classify** with a multinomial logistic regression over the vector; the classes are the
   clusters and, when the analysis found any, the outliers. The confidence is the probability of
   the top class.
3. **Abstain** unless every check passes, in this order: the top class is not the outliers;
   `captured` and the similarity to the cluster's micro-cluster centroids are not below the
   cluster's floors (the rule `analyze` uses for outliers, so a request unlike the logs goes to the
   LLM whatever the classifier says); the request offers no tool the cluster's calls never offered
   (its specialist never learned to call it); the confidence reaches the cluster's threshold,
   calibrated on held-out calls to the target precision. A cluster whose threshold could not be
   calibrated never takes traffic.
4. **Target**: a recognised request goes to its cluster's specialist only when that cluster's
   status is `slm` (its specialist passed evaluation); otherwise it stays on the LLM, and the
   decision says why.

Storage: `router.json` (a header: format, version, the sha256 of the weights, the feature settings
it was built with, per-cluster thresholds, floors, tools, status and reason) and `router.npz` (the
arrays; read with `allow_pickle=False`). Loading checks the format, the version, the feature
settings and the hash, and refuses anything else: nothing in either file is executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from migrate.analyze import features
from migrate.analyze.table import N_FEATURES
from migrate.errors import MigrateError
from migrate.records import CallRecord
from migrate.route.embed import RequestEmbedder, record_from_request
from migrate.workspace import write_bytes, write_json

FORMAT = "slm-migrate-router"
VERSION = 1
HEADER, WEIGHTS = "router.json", "router.npz"
OUTLIER_ID = "outlier"
ARRAYS = ("used_features", "idf", "components", "centroids", "centroid_class", "coef", "intercept")


def feature_settings() -> dict[str, Any]:
    """What the request features depend on: a router built with other settings would misplace
    requests, so loading compares these."""
    return {
        "n_features": N_FEATURES,
        "hash": "murmurhash3_32 seed 0, abs mod n_features (sklearn FeatureHasher, alternate_sign=False)",
        "field_weights": dict(sorted(features.FIELD_WEIGHTS.items())),
        "opening_words": features.OPENING_WORDS,
        "user_words": [features.USER_HEAD, features.USER_TAIL],
        "system_words": features.SYSTEM_WORDS,
    }


@dataclass(frozen=True)
class Decision:
    """Where one request goes, and why."""

    target: str  # "slm" or "llm"
    cluster: str | None  # the recognised cluster; None when the router abstains
    confidence: float  # the classifier's probability of its best guess (0..1)
    reason: str  # routed | not_promoted | outlier | unlike_logs | far_from_cluster | unknown_tools
    #              | not_calibrated | low_confidence
    why: str  # one human-readable sentence
    model: str | None  # what to call: the specialist's adapter name, or the fallback LLM
    candidate: str | None  # the classifier's best guess, even when abstaining

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scores:
    """Batch scores of many requests (calibration and curves use the same rule as `route`)."""

    best: np.ndarray  # class index of the top class
    confidence: np.ndarray  # its probability
    check: np.ndarray  # per request: "" when every check before the threshold passed, else the reason


class Router:
    """Load with `Router.load(path)`; `route(request)` gives a `Decision`."""

    def __init__(self, header: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.header = header
        self.arrays = arrays
        self.classes: list[str] = list(header["classes"])
        self.clusters: dict[str, dict[str, Any]] = header["clusters"]
        self.fallback_model: str | None = header["fallback_model"]
        self.fallback_configured = bool(header.get("fallback_configured"))
        self.embedder = RequestEmbedder(
            arrays["used_features"], arrays["idf"], arrays["components"], header["unseen_idf"]
        )
        self.centroids = np.asarray(arrays["centroids"], dtype=np.float64)
        self.centroid_class = np.asarray(arrays["centroid_class"], dtype=np.int64)
        self.coef = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        rows = [self.clusters.get(c, {}) for c in self.classes]
        self.min_captured = np.array([r.get("min_captured", 0.0) for r in rows], dtype=np.float64)
        self.min_similarity = np.array([r.get("min_similarity", 0.0) for r in rows], dtype=np.float64)
        self.tools = [frozenset(r.get("tools", ())) for r in rows]
        self.outlier = self.classes.index(OUTLIER_ID) if OUTLIER_ID in self.classes else -1
        self._check_shapes()

    # -- storage -------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write `router.npz` and its header `router.json` into `folder`; returns the header path."""
        data = npz_bytes({name: self.arrays[name] for name in ARRAYS})
        write_bytes(folder / WEIGHTS, data)
        self.header = {**self.header, "format": FORMAT, "version": VERSION, "weights": WEIGHTS,
                       "sha256": "sha256:" + hashlib.sha256(data).hexdigest(), "features": feature_settings()}
        return write_json(folder / HEADER, self.header)

    @classmethod
    def load(cls, path: Path | str) -> Router:
        """The router of `path`: a `router.json` header, or the folder holding it."""
        path = Path(path)
        header_path = path / HEADER if path.is_dir() else path
        hint = "rebuild it with `slm-migrate route build`"
        try:
            header = json.loads(header_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MigrateError(f"no router at {header_path}", hint="run `slm-migrate route build` first") from None
        except (OSError, ValueError) as exc:
            raise MigrateError(f"{header_path}: not a router header ({exc})", hint=hint) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise MigrateError(f"{header_path}: not an slm-migrate router header", hint=hint)
        if header.get("version") != VERSION:
            raise MigrateError(
                f"{header_path}: router format version {header.get('version')!r}, this slm-migrate reads {VERSION}",
                hint=hint)
        if header.get("features") != feature_settings():
            raise MigrateError(f"{header_path}: the router was built with other request features than this "
                               "slm-migrate computes", hint=hint)
        weights = header_path.parent / Path(str(header.get("weights", WEIGHTS))).name
        try:
            data = weights.read_bytes()
        except OSError:
            raise MigrateError(f"{header_path}: its weights file {weights.name} is missing", hint=hint) from None
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest != header.get("sha256"):
            raise MigrateError(
                f"{weights}: its sha256 does not match the header (the file was changed or replaced after "
                "the build); refusing to load it", hint=hint)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in ARRAYS}
            return cls(header, arrays)
        except (KeyError, ValueError, OSError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise MigrateError(f"{weights}: not a valid router ({exc})", hint=hint) from None

    def _check_shapes(self) -> None:
        k, dims = len(self.classes), self.embedder.dims
        ok = (
            self.coef.shape == (k, dims) and self.intercept.shape == (k,)
            and self.centroids.ndim == 2 and self.centroids.shape[1] == dims
            and self.centroid_class.shape == (self.centroids.shape[0],)
            and len(self.embedder.column) + 1 == self.embedder.basis.shape[0] == len(self.embedder.idf)
        )
        if not ok:
            raise ValueError("array shapes do not fit together")

    # -- scoring -------------------------------------------------------------------------------
    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = np.atleast_2d(vectors) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)

    def similarity(self, vectors: np.ndarray, best: np.ndarray) -> np.ndarray:
        """Cosine of each vector to the nearest micro-cluster centroid of its class."""
        sims = np.atleast_2d(vectors) @ self.centroids.T
        sims[self.centroid_class[None, :] != best[:, None]] = -1.0
        return sims.max(axis=1) if sims.shape[1] else np.full(len(best), -1.0)

    def score(self, vectors: np.ndarray, captured: np.ndarray, tool_sets: list[frozenset[str]]) -> Scores:
        """The checks of `route` for many embedded requests, before thresholds and statuses."""
        probs = self.probabilities(vectors)
        best = probs.argmax(axis=1)
        confidence = probs[np.arange(len(best)), best]
        similarity = self.similarity(vectors, best)
        check = np.full(len(best), "", dtype=object)
        for i, k in enumerate(best.tolist()):
            check[i] = self._check(k, float(captured[i]), float(similarity[i]), tool_sets[i])[0]
        return Scores(best=best, confidence=confidence, check=check)

    def _check(self, k: int, captured: float, similarity: float, tools: frozenset[str]) -> tuple[str, str]:
        """("", "") when class `k` may take the request, else (reason, why)."""
        if k == self.outlier:
            return "outlier", "it looks like the one-off calls the analysis left on the LLM"
        name = self.classes[k]
        if captured < self.min_captured[k]:
            return "unlike_logs", (f"only {captured:.0%} of the request is made of patterns that recur in the logs "
                                   f"({name}'s calls: at least {self.min_captured[k]:.0%})")
        if similarity < self.min_similarity[k]:
            return "far_from_cluster", (f"its similarity to {name}'s calls is {similarity:.2f}, below the "
                                        f"{self.min_similarity[k]:.2f} the cluster's own calls reach")
        unknown = sorted(tools - self.tools[k])
        if unknown:
            return "unknown_tools", (f"it looks like {name} but offers {_names(unknown)}, which {name}'s calls never "
                                     "offered, so its specialist never learned to use them")
        return "", ""

    # -- one request ---------------------------------------------------------------------------
    def route(self, request: dict[str, Any]) -> Decision:
        """Where an OpenAI chat request (`messages`, `tools`, ...) should go."""
        return self.route_record(record_from_request(request))

    def llm_for(self, record: CallRecord) -> str | None:
        """The LLM of a request the router leaves on the LLM: the configured fallback, else the
        model the request names, else the most used model of the logs."""
        return self.fallback_model if self.fallback_configured else (record.model or self.fallback_model)

    def route_record(self, record: CallRecord) -> Decision:
        vector, captured = self.embedder.embed(record)
        vector = vector.astype(np.float32)  # as the calibration scored its calls: the same confidences
        probs = self.probabilities(vector)[0]
        k = int(probs.argmax())
        confidence = float(probs[k])
        name = self.classes[k]
        tools = frozenset(t["function"].get("name", "") for t in record.tools)
        similarity = float(self.similarity(vector, np.array([k]))[0])
        reason, why = self._check(k, captured, similarity, tools)
        info = self.clusters.get(name, {})
        threshold = info.get("threshold")
        if not reason and threshold is None:
            reason, why = "not_calibrated", (f"it looks like {name}, but the router could not reach the target "
                                             f"precision for {name} on held-out calls")
        elif not reason and confidence < threshold:
            reason, why = "low_confidence", (f"it looks most like {name} ({_label(info)}), but with confidence "
                                             f"{confidence:.6f}, below the cluster's threshold {threshold:.6f}")
        if reason:
            return Decision("llm", None, confidence, reason, f"LLM: {why}.", self.llm_for(record), name)
        seen = f"{name} ({_label(info)}) with confidence {confidence:.4f} (threshold {threshold:.4f})"
        if info.get("status") != "slm":
            return Decision("llm", name, confidence, "not_promoted",
                            f"LLM: recognised as {seen}, but {name} stays on the LLM: {info.get('reason')}.",
                            self.llm_for(record), name)
        return Decision("slm", name, confidence, "routed", f"SLM: recognised as {seen}; its specialist passed "
                        "evaluation.", info.get("adapter_name") or name, name)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """`arrays` as a compressed .npz (what `np.load` reads) with fixed zip timestamps, so the
    same arrays give the same bytes and the same sha256 (`np.savez` stamps the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _label(info: dict[str, Any]) -> str:
    return str(info.get("name") or "unnamed")


def _names(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:3])
    more = f" and {len(values) - 3} more" if len(values) > 3 else ""
    return ("tool " if len(values) == 1 else "tools ") + shown + more
