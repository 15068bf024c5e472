"""Supervised scoring when labelled pairs exist: scikit-learn or recordlinkage classifiers
behind the same fit / predict shape as :class:`linkage.match.score.FellegiSunter`.

Features are the comparison levels one-hot encoded (the null level included, so a
missing value is its own signal). The output is a ScoredPairs table whose
``match_weight`` is the classifier's log2 odds, so histograms and thresholds work the same
way as for the unsupervised scorer; rule columns from compare (``ml_*`` / ``cl_*``) pass
through as ``must_link`` / ``cannot_link``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import LinkageError, SchemaError
from linkage.match.compare import Comparison
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

Model = Literal["logistic", "recordlinkage_logistic", "recordlinkage_naive_bayes"]


class SupervisedScorer:
    """A classifier trained on labelled comparison vectors."""

    def __init__(
        self,
        comparisons: Sequence[Comparison],
        *,
        model: Model = "logistic",
        link_threshold: float = 0.9,
        seed: int = 0,
    ) -> None:
        if not 0.0 < link_threshold < 1.0:
            raise ValueError("link_threshold is a probability strictly between 0 and 1")
        self.comparisons = tuple(comparisons)
        self.model = model
        self.link_threshold = link_threshold
        self.seed = seed

    def fit(self, vectors: pa.Table, is_match: npt.ArrayLike) -> SupervisedScorer:
        """Train on ``vectors`` with one bool label per row."""
        labels = np.asarray(is_match, dtype=bool)
        if labels.shape != (vectors.num_rows,):
            raise SchemaError(f"SupervisedScorer.fit: {labels.size} labels for "
                              f"{vectors.num_rows} comparison vectors")
        if labels.all() or not labels.any():
            raise LinkageError("SupervisedScorer.fit needs both matching and non-matching "
                               "labelled pairs")
        features = self._features(vectors)
        if self.model == "logistic":
            from sklearn.linear_model import LogisticRegression

            clf: Any = LogisticRegression(max_iter=1000, random_state=self.seed)
            clf.fit(features, labels)
        else:
            clf = _recordlinkage_classifier(self.model)
            frame = _frame(features, vectors)
            clf.fit(frame, frame.index[labels])
        self.classifier_ = clf
        log.info("supervised: %s fitted on %d pairs (%d matches)", self.model, len(labels),
                 int(labels.sum()))
        return self

    def predict(self, vectors: pa.Table) -> pa.Table:
        """ScoredPairs: id_l, id_r, match_weight (log2 odds), match_probability."""
        if not hasattr(self, "classifier_"):
            raise LinkageError("SupervisedScorer is not fitted: call fit(vectors, is_match)")
        features = self._features(vectors)
        if self.model == "logistic":
            prob = self.classifier_.predict_proba(features)[:, 1]
        else:
            prob = np.asarray(self.classifier_.prob(_frame(features, vectors)), dtype=float)
        prob = np.clip(np.asarray(prob, dtype=np.float64), 1e-12, 1 - 1e-12)
        columns: dict[str, Any] = {
            "id_l": vectors.column("id_l"),
            "id_r": vectors.column("id_r"),
            "match_weight": np.log2(prob / (1 - prob)),
            "match_probability": prob,
        }
        for kind, name in (("ml_", "must_link"), ("cl_", "cannot_link")):
            flags = [c for c in vectors.column_names if c.startswith(kind)]
            if flags:
                acc = np.zeros(vectors.num_rows, dtype=bool)
                for c in flags:
                    acc |= np.asarray(pc.fill_null(vectors.column(c), False)
                                      .to_numpy(zero_copy_only=False), dtype=bool)
                columns[name] = acc
        return pa.table(columns)

    def _features(self, vectors: pa.Table) -> npt.NDArray[np.float64]:
        needed = ["id_l", "id_r", *(f"gamma_{c.name}" for c in self.comparisons)]
        require_fields(vectors, needed, what="SupervisedScorer(vectors)")
        blocks = []
        for comp in self.comparisons:
            gamma = np.asarray(vectors.column(f"gamma_{comp.name}").to_numpy(), dtype=np.int64)
            onehot = np.zeros((len(gamma), comp.n_levels + 1), dtype=np.float64)
            onehot[np.arange(len(gamma)), np.clip(gamma + 1, 0, comp.n_levels)] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((vectors.num_rows, 0))


def labels_from_entities(
    vectors: pa.Table, record_ids: npt.ArrayLike, entity_ids: Sequence[Any]
) -> npt.NDArray[np.bool_]:
    """True where a pair's two records carry the same known entity id (e.g. ground truth
    or a clerical review table)."""
    ids = np.asarray(record_ids, dtype=np.int64)
    codes = np.asarray(pc.dictionary_encode(pa.array(list(entity_ids))).indices.to_numpy(),
                       dtype=np.int64)
    order = np.argsort(ids)
    lookup_ids, lookup_codes = ids[order], codes[order]

    def code(column: str) -> npt.NDArray[np.int64]:
        wanted = np.asarray(vectors.column(column).to_numpy(), dtype=np.int64)
        pos = np.clip(np.searchsorted(lookup_ids, wanted), 0, max(len(ids) - 1, 0))
        found = lookup_ids[pos] == wanted
        return np.where(found, lookup_codes[pos], -1 - np.arange(len(wanted)))

    return np.asarray(code("id_l") == code("id_r"), dtype=bool)


def _recordlinkage_classifier(model: str) -> Any:
    try:
        import recordlinkage
    except ImportError:
        raise LinkageError(f"model {model!r} needs the optional 'recordlinkage' extra "
                           "(pip install linkage[recordlinkage])") from None
    if model == "recordlinkage_logistic":
        return recordlinkage.LogisticRegressionClassifier()
    return recordlinkage.NaiveBayesClassifier(binarize=0.5)


def _frame(features: npt.NDArray[np.float64], vectors: pa.Table) -> Any:
    import pandas as pd

    index = pd.MultiIndex.from_arrays([vectors.column("id_l").to_numpy(),
                                       vectors.column("id_r").to_numpy()],
                                      names=["id_l", "id_r"])
    return pd.DataFrame(features, index=index,
                        columns=[f"f{i}" for i in range(features.shape[1])])
