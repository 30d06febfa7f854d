"""The machine-translation detector: *does this text look machine-made, and how sure are we?*

Sentence level. A logistic regression over two kinds of evidence the base LM pass already
computes (no extra model pass):

* ``scalar`` features of the sentence (LM fluency profile, the word-order search, the
  artefact rules, length and punctuation style; :func:`scalar_features`), standardised;
* the sentence's **pooled representation**: the mean of the LM's last hidden states over
  its tokens, standardised and projected on the ``k`` leading principal components of the
  training sentences (the projection is part of the parameter file).

    logit_i          = cal(w . [scalar_i, pca(pooled_i)] + b) + sum_f flag_weight_f
    mt_probability_i = sigmoid(logit_i)             (Platt-calibrated on held-out documents)

The artefact flags (``number_spacing``, ``self_relation``, ``boilerplate``, ...) enter as
naive-Bayes evidence: each flag's weight is the log-ratio of its rate in machine and in human
sentences of the training data (Jeffreys prior, so a flag seen a handful of times gets a
modest weight), clipped to [0, 3]: a flag is never evidence of *human* writing (where one
corpus's typography made a flag more common in human text, that is a shortcut that would not
transfer), and no single flag decides alone. A logistic regression cannot learn these weights:
the flags are too rare for its penalty.

Article level. Evidence accumulates over sentences, but sentences of one article are not
independent (same topic, same translator), so the sum of log-odds is discounted by a power
of the number of sentences fitted on held-out documents:

    article_logit = a + b * n ** g * mean_i(lm_logit_i - c)  +  sum_i flag_evidence_i
                                                            (0 <= g <= 1, b > 0)

``g = 1`` would be naive Bayes (a plain sum), ``g = 0`` a mean. The artefact flags' evidence
is summed undiscounted: a flag is a discrete event of its own (a spaced currency sign, a
repeated title, site boilerplate), not another reading of the same fluency profile, so
several of them in one article add up as naive Bayes says. With ``b > 0`` the article's
probability never falls when one sentence gets more suspicious (tested), and it grows with
the number of consistently suspicious sentences. Sentences that are not English
(``not_english``) or that the LM could not score are left out: they say nothing about
*English* that was machine-translated; an article whose English part is below
``min_english_share`` gets no probability (NaN) and ``articles.language`` says so.

Priors. The parameters are fitted with both classes (and every domain within a class) the
same weight, so the probabilities assume that half of what is scored is machine-made. A job
that knows its base rate says so (``scoring.mt_prior``, ``--mt-prior``; in the signature):
every sentence's and every article's log-odds then moves by ``logit(prior)``, once (Bayes'
rule; the likelihood ratio the model estimates does not change, nor does any ranking).

The parameters are a JSON file shipped with the package (``mtqa/resources/``), fitted by
``python -m mtqa train --detector FEATURES`` (:mod:`mtqa.train.detector`); its sha256 enters the signature.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

FORMAT = "mtqa-mt-detector"
FORMAT_VERSION = 2  # 2: artefact flags as naive-Bayes weights (no n_artefacts scalar)

#: scalar features, in order (computed by :func:`scalar_features`)
SCALAR_FEATURES = [
    "slor", "surprisal_mean", "surprisal_max", "surprisal_p90", "entropy_mean", "excess_surprisal",
    "log_tokens", "surprisal_std", "share_predictable", "share_surprising", "entropy_std",
    "word_order_score", "chars_per_token", "comma_rate", "digit_share",
]

#: flags that do not count as artefact evidence for the detector
_NOT_EVIDENCE = {"low_quality", "truncated", "not_english", "lm_spike"}
_COMMA = re.compile(r"[,;:]")


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def scalar_features(row: Mapping[str, Any], logprobs: np.ndarray | None, entropies: np.ndarray | None) -> list[float]:
    """The detector's scalar features of one sentence (NaN where not computable).

    ``row`` holds the sentence's ``text``, its signal columns and ``flags``; ``logprobs`` /
    ``entropies`` are its token log-probabilities and predictive entropies (nats).
    """
    text = row.get("text") or ""
    s = -np.asarray(logprobs, dtype=np.float64) if logprobs is not None else np.zeros(0)
    e = np.asarray(entropies, dtype=np.float64) if entropies is not None else np.zeros(0)
    n_tok = len(s)
    n_chars = max(len(text), 1)
    wo = _num(row.get("word_order_score"))
    return [
        _num(row.get("slor")), _num(row.get("surprisal_mean")), _num(row.get("surprisal_max")),
        _num(row.get("surprisal_p90")), _num(row.get("entropy_mean")), _num(row.get("excess_surprisal")),
        math.log1p(n_tok),
        float(s.std()) if n_tok > 1 else math.nan,
        float((s < 0.5).mean()) if n_tok else math.nan,
        float((s > 8.0).mean()) if n_tok else math.nan,
        float(e.std()) if len(e) > 1 and np.isfinite(e).all() else math.nan,
        0.0 if math.isnan(wo) else wo,
        len(text) / max(n_tok, 1),
        len(_COMMA.findall(text)) / n_chars * 100.0,
        sum(ch.isdigit() for ch in text) / n_chars,
    ]


def flag_evidence(weights: Mapping[str, float], flags: Sequence[Sequence[str]]) -> np.ndarray:
    """Per sentence: the summed naive-Bayes weights of its distinct artefact flags."""
    return np.array([sum(weights.get(f, 0.0) for f in set(fl) - _NOT_EVIDENCE) for fl in flags], dtype=np.float64)


def _sigmoid(x: np.ndarray | float):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


class MTDetector:
    """Applies a shipped detector parameter file (see the module docstring)."""

    name = "mt-detector"
    version = "2"

    def __init__(self, params_bytes: bytes, params_name: str = "detector.json", prior: float = 0.5):
        if not 0.0 < prior < 1.0:
            raise ValueError(f"the MT prior must be strictly between 0 and 1, got {prior}")
        #: the share of machine-made text assumed in the input (``scoring.mt_prior``). The
        #: parameters are fitted with both classes the same weight, i.e. at prior 0.5; another
        #: prior shifts every sentence's and every article's log-odds by logit(prior) once
        #: (Bayes' rule: the likelihood ratio the model estimates is unchanged).
        self.prior = float(prior)
        self.prior_logit = math.log(self.prior / (1.0 - self.prior))
        doc = json.loads(params_bytes.decode("utf-8"))
        if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{params_name}: not an mtqa MT-detector parameter file (format {doc.get('format')!r})")
        self.doc = doc
        self.sha256 = hashlib.sha256(params_bytes).hexdigest()
        self.params_name = params_name
        sc = doc["scalar"]
        self.scalar_names: list[str] = sc["names"]
        self.scalar_mean = np.array(sc["mean"])
        self.scalar_std = np.array(sc["std"])
        pc = doc.get("pooled")
        self.uses_pooled = pc is not None
        if pc is not None:
            self.pooled_mean = np.array(pc["mean"], dtype=np.float32)
            self.pooled_std = np.array(pc["std"], dtype=np.float32)
            self.components = np.array(pc["components"], dtype=np.float32)  # [k, hidden]
        self.coef = np.array(doc["coef"])
        self.intercept = float(doc["intercept"])
        cal = doc["calibration"]
        self.cal_a, self.cal_b = float(cal["a"]), float(cal["b"])
        agg = doc["article"]
        self.agg = {k: float(agg[k]) for k in ("a", "b", "g", "c")}
        self.min_english_share = float(doc.get("min_english_share", 0.5))
        self.flag_weights: dict[str, float] = {k: float(v) for k, v in doc.get("flags", {}).items()}

    @classmethod
    def from_file(cls, path) -> "MTDetector":
        from pathlib import Path

        p = Path(str(path)) if not hasattr(path, "read_bytes") else path
        return cls(p.read_bytes(), p.name)

    def signature(self) -> str:
        return (f"{self.name}:{self.version}(params={self.params_name},sha256={self.sha256[:16]},"
                f"pooled={'pca' + str(len(self.components)) if self.uses_pooled else 'none'},prior={self.prior:g})")

    # sentences --------------------------------------------------------------------------------
    def design(self, scalars: np.ndarray, pooled: np.ndarray | None) -> np.ndarray:
        """Standardised design matrix: scalar features (NaN -> training mean) then PCA of pooled states."""
        z = (np.asarray(scalars, dtype=np.float64) - self.scalar_mean) / self.scalar_std
        z = np.nan_to_num(np.clip(z, -8, 8), nan=0.0)
        if not self.uses_pooled:
            return z
        if pooled is None:
            raise ValueError("this detector needs the LM's pooled hidden states")
        p = (np.asarray(pooled, dtype=np.float32) - self.pooled_mean) / self.pooled_std
        proj = np.clip(p @ self.components.T, -50, 50).astype(np.float64)
        return np.hstack([z, proj])

    def flag_evidence(self, flags: Sequence[Sequence[str]] | None, n: int) -> np.ndarray:
        return np.zeros(n) if flags is None else flag_evidence(self.flag_weights, flags)

    def lm_logits(self, scalars: np.ndarray, pooled: np.ndarray | None) -> np.ndarray:
        """Calibrated sentence log-odds of "machine-made" from the LM profile and states alone."""
        raw = self.design(scalars, pooled) @ self.coef + self.intercept
        return self.cal_a * raw + self.cal_b

    def logits(self, scalars: np.ndarray, pooled: np.ndarray | None,
               flags: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Sentence log-odds of "machine-made": the LM part plus the flags' evidence (when given),
        at the detector's prior."""
        lm = self.lm_logits(scalars, pooled)
        return lm + self.flag_evidence(flags, len(lm)) + self.prior_logit

    def probabilities(self, scalars: np.ndarray, pooled: np.ndarray | None,
                      flags: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        return _sigmoid(self.logits(scalars, pooled, flags))

    # articles ---------------------------------------------------------------------------------
    def article_logit(self, lm_logits: Sequence[float], flag_evidence: Sequence[float] | None = None) -> float:
        """Accumulated, length-calibrated log-odds of an article from its sentences' LM log-odds
        (:meth:`lm_logits`), plus the summed flag evidence of the same sentences, at the
        detector's prior (added once per article). Sentences with a NaN LM log-odds (not
        English, nothing scored) are left out of both."""
        lg = np.asarray([np.nan if v is None else v for v in lm_logits], dtype=np.float64)
        ok = np.isfinite(lg)
        if not ok.any():
            return math.nan
        fe = np.zeros(len(lg)) if flag_evidence is None else np.asarray(flag_evidence, dtype=np.float64)
        return float(article_logit_vec([lg[ok]], **self.agg, flag_sums=[fe[ok].sum()])[0]) + self.prior_logit

    def article_probability(self, lm_logits: Sequence[float], flag_evidence: Sequence[float] | None = None) -> float:
        v = self.article_logit(lm_logits, flag_evidence)
        return math.nan if math.isnan(v) else float(_sigmoid(v))


def article_logit_vec(groups: Sequence[np.ndarray], a: float, b: float, g: float, c: float,
                      flag_sums: Sequence[float] | None = None) -> np.ndarray:
    """:meth:`MTDetector.article_logit` for many articles at once (training)."""
    z = np.array([a + b * len(x) ** g * (np.asarray(x) - c).mean() for x in groups])
    return z if flag_sums is None else z + np.asarray(flag_sums, dtype=np.float64)


#: how each scalar feature reads to a user when it pushes a sentence towards "machine-made"
#: (a positive contribution) -- the direction is the learned one, not assumed
FEATURE_WORDS = {
    "slor": "fluency relative to word frequency (SLOR)",
    "surprisal_mean": "mean token surprisal",
    "surprisal_max": "most surprising token",
    "surprisal_p90": "surprisal of the oddest tokens (90th percentile)",
    "entropy_mean": "LM uncertainty (entropy)",
    "excess_surprisal": "surprisal above the LM's own uncertainty",
    "log_tokens": "sentence length",
    "surprisal_std": "how uneven the surprisal is",
    "share_predictable": "share of highly predictable tokens",
    "share_surprising": "share of very surprising tokens",
    "entropy_std": "how uneven the LM's uncertainty is",
    "word_order_score": "a reordering the LM finds much more natural",
    "chars_per_token": "word length / tokenisation",
    "comma_rate": "punctuation rate",
    "digit_share": "share of digits",
}


def contributions(det: MTDetector, scalars: np.ndarray, pooled: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence: each scalar feature's contribution to the logit, and the pooled states' total."""
    X = det.design(scalars, pooled)
    k = len(det.scalar_names)
    contrib = X * det.coef * det.cal_a
    return contrib[:, :k], contrib[:, k:].sum(1) if X.shape[1] > k else np.zeros(len(X))


def evidence(det: MTDetector, sentence_ids: Sequence[int], logits: Sequence[float], flags: Sequence[Sequence[str]],
             scalars: np.ndarray, pooled: np.ndarray | None, top: int = 3) -> str:
    """A few lines a user can check: how many sentences look machine-made, which ones most, and why."""
    lg = np.asarray(logits, dtype=np.float64)
    ok = np.isfinite(lg)
    if not ok.any():
        return "no English sentence to judge"
    n = int(ok.sum())
    high = int((lg[ok] > 0).sum())
    parts = [f"{high} of {n} English sentences look machine-made (p > 0.5)"]
    sc, pooled_part = contributions(det, scalars, pooled)
    order = [i for i in np.argsort(-np.where(ok, lg, -np.inf)) if ok[i]][:top]
    for i in order:
        if lg[i] <= 0:
            break
        why = []
        fl = [f for f in flags[i] if f not in _NOT_EVIDENCE]
        if fl:
            why.append("flags " + ", ".join(fl))
        feats = [(sc[i, j], det.scalar_names[j]) for j in range(sc.shape[1])]
        feats.sort(reverse=True)
        for value, name in feats[:2]:
            if value > 0.25:
                why.append(FEATURE_WORDS.get(name, name))
        if pooled_part[i] > 0.5:
            why.append("phrasing typical of MT (LM representation)")
        p = 1 / (1 + math.exp(-lg[i]))
        parts.append(f"sentence {sentence_ids[i]} (p={p:.2f}): " + ("; ".join(why) if why else "overall profile"))
    return " | ".join(parts)


def pooled_states(scores: Sequence[Any], hidden_size: int) -> np.ndarray:
    """Mean of each sentence's last hidden states (zeros where none were kept or nothing was scored)."""
    out = np.zeros((len(scores), hidden_size), dtype=np.float32)
    for i, ts in enumerate(scores):
        h = getattr(ts, "hidden", None)
        if h is not None and len(h):
            out[i] = np.asarray(h, dtype=np.float32).mean(0)
    return out


def apply(det: MTDetector, sentence_rows: list[dict], article_rows: list[dict], scores: Sequence[Any],
          hidden_size: int, pooled: np.ndarray | None = None) -> None:
    """Add ``mt_probability`` to every sentence row and ``mt_probability``, ``mt_evidence``,
    ``language`` to every article row (in place). ``scores[i]`` is the LM's TokenScores of
    sentence row ``i`` (its token log-probs, entropies and kept hidden states); ``pooled``, when
    the caller has them, their :func:`pooled_states`.

    A sentence flagged ``not_english``, or with no scored token, gets NaN: it is no evidence
    about machine-translated *English*. An article whose English sentences are fewer than
    ``min_english_share`` of its sentences gets ``language = "not-en"`` and NaN.
    """
    n = len(sentence_rows)
    scalars = np.array([scalar_features(r, ts.logprobs, ts.entropies) for r, ts in zip(sentence_rows, scores)],
                       dtype=np.float64).reshape(n, len(SCALAR_FEATURES))
    if not det.uses_pooled:
        pooled = None
    elif pooled is None:
        pooled = pooled_states(scores, hidden_size)
    lm = det.lm_logits(scalars, pooled) if n else np.zeros(0)
    fe = det.flag_evidence([r["flags"] for r in sentence_rows], n)
    logits = lm + fe + det.prior_logit
    english = np.array([("not_english" not in r["flags"]) and len(ts.logprobs) > 0
                        for r, ts in zip(sentence_rows, scores)], dtype=bool)
    logits = np.where(english, logits, np.nan)
    lm = np.where(english, lm, np.nan)
    for r, lg in zip(sentence_rows, logits):
        r["mt_probability"] = float(_sigmoid(lg)) if np.isfinite(lg) else math.nan
    by_article: dict[str, list[int]] = {}
    for i, r in enumerate(sentence_rows):
        by_article.setdefault(r["article_id"], []).append(i)
    for a in article_rows:
        idx = by_article.get(a["article_id"], [])
        share = float(english[idx].mean()) if idx else 0.0
        a["language"] = "en" if idx and share >= det.min_english_share else ("not-en" if idx else "")
        if a["language"] != "en":
            a["mt_probability"] = math.nan
            a["mt_evidence"] = (f"{int(round((1 - share) * len(idx)))} of {len(idx)} sentences are not English: "
                                "not judged as machine-translated English") if idx else ""
            continue
        lg = logits[idx]
        a["mt_probability"] = det.article_probability(lm[idx], fe[idx])
        a["mt_evidence"] = evidence(det, [sentence_rows[i]["sentence_id"] for i in idx], lg,
                                    [sentence_rows[i]["flags"] for i in idx], scalars[idx],
                                    pooled[idx] if pooled is not None else None)
