"""Off-policy evaluation: how a candidate policy would do, judged on another policy's log.

A :class:`BanditLog` holds what a logging (behaviour) policy did: per round the action it
took, the reward, the probability it had of taking that action (the propensity) and,
optionally, the round's context features. A candidate (target) policy is given as its action
probabilities per logged round, an array ``(rounds, actions)``. Four estimators of the target
policy's value (its expected reward per round):

- :func:`ips`: inverse propensity scoring, ``mean(w · r)`` with ``w = π(a|x) / μ(a|x)``.
  Unbiased when every action the target takes had a positive logging probability; its
  variance grows with the weights.
- :func:`snips`: self-normalized IPS, ``Σ w r / Σ w``: slightly biased, much lower variance
  when weights are large, and invariant to adding a constant to the rewards.
- :func:`direct_method` (DM): ``mean(Σ_a π(a|x) q̂(x, a))`` with ``q̂`` a reward model: low
  variance, biased as far as the model is wrong.
- :func:`doubly_robust` (DR; Dudík, Langford & Li 2011): DM plus IPS on the model's residuals,
  unbiased if either the propensities or the model are right.

The reward model (:func:`cross_fit_rewards`) is a logistic regression (scikit-learn) over the
round's context features and the action's features, fit with K-fold *cross-fitting*: each
round's ``q̂`` comes from a model that did not see that round, so the model's overfitting to a
round's own noise does not leak into the DR correction term (Chernozhukov et al. 2018; what obp
calls ``n_folds``).

Examples
--------
Two actions logged uniformly; action 0 always pays 1, action 1 never. A target that takes
action 0 with probability 0.8 is worth exactly 0.8:

>>> log = BanditLog(actions=np.array([0, 1, 0, 1]), rewards=np.array([1.0, 0.0, 1.0, 0.0]),
...                 propensities=np.full(4, 0.5))
>>> target = np.tile([0.8, 0.2], (4, 1))
>>> round(ips(log, target).value, 6), round(snips(log, target).value, 6)
(0.8, 0.8)
>>> model = np.tile([0.5, 0.5], (4, 1))          # a poor reward model …
>>> round(direct_method(target, model).value, 6), round(doubly_robust(log, target, model).value, 6)
(0.5, 0.8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tastemaker.errors import FieldProblem, InvalidInput

__all__ = [
    "BanditLog",
    "Estimate",
    "cross_fit_rewards",
    "direct_method",
    "doubly_robust",
    "evaluate",
    "importance_weights",
    "ips",
    "snips",
]


def _problem(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"invalid {field}: {reason}", [FieldProblem(field=field, reason=reason)])


@dataclass(frozen=True)
class BanditLog:
    """Logged rounds of a behaviour policy.

    ``actions`` (int), ``rewards`` and ``propensities`` (the behaviour policy's probability of
    the logged action, in (0, 1]) have one value per round; ``context`` one row of features
    per round (for the reward model), ``groups`` an optional int per round (e.g. the slot or
    position) for which the reward model is fit separately.
    """

    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    context: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.actions)
        for name in ("rewards", "propensities"):
            if len(getattr(self, name)) != n:
                raise _problem(name, f"needs one value per round ({n})")
        if n and not np.all((self.propensities > 0) & (self.propensities <= 1)):
            raise _problem(
                "propensities",
                "must lie in (0, 1]: an action logged with probability 0 cannot be reweighted",
            )
        if self.context is not None and (self.context.ndim != 2 or len(self.context) != n):
            raise _problem("context", f"needs shape (rounds={n}, features)")
        if self.groups is not None and len(self.groups) != n:
            raise _problem("groups", f"needs one value per round ({n})")

    def __len__(self) -> int:
        return len(self.actions)

    def take(self, idx: np.ndarray) -> BanditLog:
        """The rounds at ``idx`` (e.g. a bootstrap resample)."""
        return BanditLog(
            actions=self.actions[idx],
            rewards=self.rewards[idx],
            propensities=self.propensities[idx],
            context=None if self.context is None else self.context[idx],
            groups=None if self.groups is None else self.groups[idx],
        )


@dataclass(frozen=True)
class Estimate:
    """An estimated policy value with its standard error (from the per-round terms)."""

    value: float
    stderr: float

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """The normal-approximation confidence interval (95 % by default)."""
        return self.value - z * self.stderr, self.value + z * self.stderr


def _mean(terms: np.ndarray) -> Estimate:
    n = len(terms)
    se = float(np.std(terms, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return Estimate(float(np.mean(terms)), se)


def _check_target(log: BanditLog, target: np.ndarray) -> None:
    if target.ndim != 2 or len(target) != len(log):
        raise _problem("target", f"needs shape (rounds={len(log)}, actions)")
    if len(log) and int(log.actions.max()) >= target.shape[1]:
        raise _problem("target", "has fewer action columns than the log has actions")
    if np.any(target < 0) or not np.allclose(target.sum(axis=1), 1.0, atol=1e-6):
        raise _problem("target", "each round's action probabilities must sum to 1")


def importance_weights(log: BanditLog, target: np.ndarray) -> np.ndarray:
    """``π(a_i | x_i) / μ(a_i | x_i)`` per logged round."""
    _check_target(log, target)
    out: np.ndarray = target[np.arange(len(log)), log.actions] / log.propensities
    return out


def ips(log: BanditLog, target: np.ndarray) -> Estimate:
    """Inverse propensity scoring."""
    return _mean(importance_weights(log, target) * log.rewards)


def snips(log: BanditLog, target: np.ndarray) -> Estimate:
    """Self-normalized IPS (its standard error by the delta method)."""
    w = importance_weights(log, target)
    total = float(w.sum())
    if total <= 0:
        raise _problem("target", "puts no weight on any logged action: nothing to estimate from")
    value = float((w * log.rewards).sum() / total)
    spread = _mean(w * (log.rewards - value) / w.mean())
    return Estimate(value, spread.stderr)


def direct_method(target: np.ndarray, rewards_hat: np.ndarray) -> Estimate:
    """The direct method: the reward model's value of the target, averaged over rounds."""
    if rewards_hat.shape != target.shape:
        raise _problem("rewards_hat", f"needs the target's shape {target.shape}")
    return _mean((target * rewards_hat).sum(axis=1))


def doubly_robust(log: BanditLog, target: np.ndarray, rewards_hat: np.ndarray) -> Estimate:
    """Doubly robust: DM plus importance-weighted residuals of the reward model."""
    w = importance_weights(log, target)
    if rewards_hat.shape != target.shape:
        raise _problem("rewards_hat", f"needs the target's shape {target.shape}")
    logged = rewards_hat[np.arange(len(log)), log.actions]
    return _mean((target * rewards_hat).sum(axis=1) + w * (log.rewards - logged))


def evaluate(
    log: BanditLog, target: np.ndarray, rewards_hat: np.ndarray | None = None
) -> dict[str, Estimate]:
    """Every estimator by name (``ips``, ``snips``, and with a reward model ``dm``, ``dr``)."""
    out = {"ips": ips(log, target), "snips": snips(log, target)}
    if rewards_hat is not None:
        out["dm"] = direct_method(target, rewards_hat)
        out["dr"] = doubly_robust(log, target, rewards_hat)
    return out


def cross_fit_rewards(
    log: BanditLog,
    n_actions: int,
    action_features: np.ndarray | None = None,
    *,
    folds: int = 3,
    seed: int = 0,
    regularization: float = 1.0,
) -> np.ndarray:
    """``q̂(x_i, a)`` for every round and action, ``(rounds, n_actions)``, by cross-fitting.

    The model is a logistic regression of the (binary) reward on the round's context and the
    action's features (one-hot action ids when ``action_features`` is ``None``), one model per
    ``log.groups`` value. Rounds are split into ``folds`` random folds (seeded); each fold's
    predictions come from the model fit on the other folds. A training part whose rewards are
    all equal predicts that constant. ``regularization`` is scikit-learn's ``C`` (inverse
    strength).
    """
    from sklearn.linear_model import LogisticRegression

    if not np.isin(log.rewards, (0.0, 1.0)).all():
        raise _problem("rewards", "the logistic reward model needs rewards of 0 or 1")
    if folds < 2:
        raise _problem("folds", "cross-fitting needs 2 or more folds")
    n = len(log)
    context = np.zeros((n, 0)) if log.context is None else log.context.astype(np.float64)
    actions_x = np.eye(n_actions) if action_features is None else np.asarray(action_features, float)
    if len(actions_x) != n_actions:
        raise _problem("action_features", f"needs one row per action ({n_actions})")
    groups = np.zeros(n, dtype=np.int64) if log.groups is None else log.groups
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = np.zeros((n, n_actions))
    for g in np.unique(groups):
        for f in range(folds):
            train = (groups == g) & (fold != f)
            test = (groups == g) & (fold == f)
            if not test.any():
                continue
            y = log.rewards[train]
            if len(np.unique(y)) < 2:
                out[test] = float(y[0]) if len(y) else float(log.rewards.mean())
                continue
            x = np.hstack([context[train], actions_x[log.actions[train]]])
            model = LogisticRegression(C=regularization, max_iter=10_000)
            model.fit(x, y)
            # Linear in the features: the logit splits into a round part and an action part,
            # so all rounds × actions are scored without building that many feature rows.
            coef = model.coef_[0]
            split = context.shape[1]
            by_round = context[test] @ coef[:split] + model.intercept_[0]
            by_action = actions_x @ coef[split:]
            out[test] = 1.0 / (1.0 + np.exp(-(by_round[:, None] + by_action[None, :])))
    return out
