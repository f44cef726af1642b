"""Off-policy evaluation on the Open Bandit Dataset: Thompson sampling judged from a random log.

The protocol of obp's ``examples/obd`` (``evaluate_off_policy_estimators.py``, obp 0.4.1):
the evaluation policy is ZOZOTOWN's Bernoulli Thompson sampling (BTS) with the Beta prior it
started the data collection with; its action distribution per slot (left, centre, right) is
computed by Monte Carlo — each draw samples every item's click rate from its Beta, the best three
fill the slots in order. Its value is estimated from the **uniform-random** log (campaign
``all``, 80 items, propensity 1/80 per slot) by DM, IPS, SNIPS and DR, with a logistic-regression
reward model per slot (user features one-hot, item features; 3-fold cross-fitting), and compared
with the **on-policy** value: the click rate of the log BTS itself produced. The error is the
relative estimation error ``|V̂ - V| / V``, averaged over bootstrap resamples of the random log.

Published (obp 0.4.1 README, 20 runs): DM 0.180, IPW 0.333, DR 0.304.

``--policy logged`` evaluates instead the BTS policy *as it ran*: its per-slot action
distribution taken from how often each item filled each slot in the BTS log (the policy was
updated during the week, so the prior is only its starting point).

    .venv/bin/python bench/ope.py                       # 20 runs, about a minute
    .venv/bin/python bench/ope.py --runs 50 --policy logged

Nothing is copied: the data are read in place from ``--data``. The prior comes from
``bench/obd_bts_prior.json`` (obp's ``prior_bts.yaml``, Apache-2.0; see its ``source``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from tastemaker.experiments.ope import BanditLog, cross_fit_rewards, evaluate

HERE = Path(__file__).resolve().parent
PUBLISHED = {"dm": 0.180, "ips": 0.333, "dr": 0.304}
SLOTS = 3


def load(data: Path, policy: str, campaign: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = data / policy / campaign
    log = pd.read_csv(folder / f"{campaign}.csv", index_col=0).sort_values("timestamp")
    items = pd.read_csv(folder / "item_context.csv", index_col=0).sort_values("item_id")
    return log.reset_index(drop=True), items.reset_index(drop=True)


def user_features(log: pd.DataFrame) -> np.ndarray:
    """The four hashed categorical user features, one-hot (first level dropped), as obp does."""
    cols = [c for c in log.columns if c.startswith("user_feature")]
    return pd.get_dummies(log[cols].astype(str), drop_first=True).to_numpy(dtype=np.float64)


def item_features(items: pd.DataFrame, kind: str) -> np.ndarray | None:
    """``id``: one-hot item ids (the reward model's default); ``context``: the numeric item
    feature, standardized, and the three hashed categorical ones one-hot."""
    if kind == "id":
        return None
    cats = [c for c in items.columns if c.startswith("item_feature") and c != "item_feature_0"]
    numeric = items["item_feature_0"].to_numpy(dtype=np.float64)
    numeric = (numeric - numeric.mean()) / (numeric.std() or 1.0)
    onehot = pd.get_dummies(items[cats].astype(str)).to_numpy(dtype=np.float64)
    return np.column_stack([numeric, onehot])


def bts_distribution(
    alpha: np.ndarray, beta: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``(items, slots)``: how often BTS puts each item in each slot, over ``draws`` draws."""
    counts = np.zeros((len(alpha), SLOTS))
    chunk = 20_000
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        sampled = rng.beta(alpha, beta, size=(size, len(alpha)))
        top = np.argsort(-sampled, axis=1)[:, :SLOTS]
        for slot in range(SLOTS):
            counts[:, slot] += np.bincount(top[:, slot], minlength=len(alpha))
    return counts / draws


def logged_distribution(bts: pd.DataFrame, n_items: int) -> np.ndarray:
    """``(items, slots)``: each item's share of each slot in the BTS log."""
    counts = np.zeros((n_items, SLOTS))
    np.add.at(counts, (bts["item_id"].to_numpy(), bts["position"].to_numpy() - 1), 1.0)
    return counts / counts.sum(axis=0, keepdims=True)


def resample(run: int, n: int, how: str) -> np.ndarray:
    """Bootstrap indices of run ``run``. ``obp``: the very resamples obp draws
    (``check_random_state(run).choice(n, n)``, numpy's legacy generator), so the figures are
    compared on the same data; ``generator``: numpy's default generator seeded with the run."""
    if how == "obp":
        legacy = np.random.RandomState(run)
        return legacy.choice(np.arange(n), size=n, replace=True)
    return np.random.default_rng(run).integers(0, n, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/open-bandit-dataset-small")
    )
    parser.add_argument("--campaign", default="all", choices=["all", "men", "women"])
    parser.add_argument("--runs", type=int, default=20, help="bootstrap resamples")
    parser.add_argument("--draws", type=int, default=1_000_000, help="Monte Carlo draws of BTS")
    parser.add_argument("--policy", default="prior", choices=["prior", "logged"])
    parser.add_argument(
        "--items", default="id", choices=["id", "context"], help="item features of the reward model"
    )
    parser.add_argument("--regularization", type=float, default=1.0, help="sklearn's C")
    parser.add_argument("--resample", default="obp", choices=["obp", "generator"])
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    started = time.perf_counter()

    random_log, items = load(args.data, "random", args.campaign)
    bts_log, _ = load(args.data, "bts", args.campaign)
    n_items = len(items)
    on_policy = float(bts_log["click"].mean())
    if args.policy == "prior":
        prior = json.loads((HERE / "obd_bts_prior.json").read_text())["campaigns"][args.campaign]
        dist = bts_distribution(
            np.asarray(prior["alpha"], float),
            np.asarray(prior["beta"], float),
            args.draws,
            np.random.default_rng(args.seed),
        )
    else:
        dist = logged_distribution(bts_log, n_items)

    slot = random_log["position"].to_numpy() - 1
    log = BanditLog(
        actions=random_log["item_id"].to_numpy(),
        rewards=random_log["click"].to_numpy(dtype=np.float64),
        propensities=random_log["propensity_score"].to_numpy(dtype=np.float64),
        context=user_features(random_log),
        groups=slot,
    )
    target = dist[:, slot].T  # each round: the policy's distribution over items for its slot
    action_x = item_features(items, args.items)

    names = ["dm", "ips", "snips", "dr"]
    errors: dict[str, list[float]] = {n: [] for n in names}
    values: dict[str, list[float]] = {n: [] for n in names}
    for run in range(args.runs):
        idx = resample(run, len(log), args.resample)
        sample = log.take(idx)
        q = cross_fit_rewards(
            sample,
            n_items,
            action_x,
            folds=3,
            seed=args.seed + run,
            regularization=args.regularization,
        )
        for name, est in evaluate(sample, target[idx], q).items():
            values[name].append(est.value)
            errors[name].append(abs(est.value - on_policy) / on_policy)

    console = Console()
    table = Table(
        title=(
            f"Off-policy evaluation of Bernoulli TS ({args.policy}) from the random log, "
            f"campaign {args.campaign}: relative error vs on-policy value {on_policy:.5f}"
        ),
        title_justify="left",
    )
    for col in ("estimator", "mean rel. error", "std", "mean estimate", "published (obp 0.4.1)"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for name in names:
        e = np.asarray(errors[name])
        published = PUBLISHED.get(name)
        table.add_row(
            {"ips": "IPS (IPW)"}.get(name, name.upper()),
            f"{e.mean():.3f}",
            f"{e.std(ddof=1) if len(e) > 1 else 0.0:.3f}",
            f"{np.mean(values[name]):.5f}",
            "—" if published is None else f"{published:.3f}",
        )
    console.print(table)
    console.print(
        f"random log: {len(log):,} rounds, {int(log.rewards.sum())} clicks "
        f"(CTR {log.rewards.mean():.5f}); BTS log: {len(bts_log):,} rounds, "
        f"{int(bts_log['click'].sum())} clicks; {args.runs} bootstrap runs, "
        f"{args.draws:,} BTS draws, reward model: logistic (C={args.regularization}), "
        f"items as {args.items}; {platform.node()}, {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
