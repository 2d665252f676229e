"""The DPO strategy controller: which prompt strategies to use, learned from fitness.

A categorical policy pi = softmax(theta) over strategies (operator x hint). After each
generation the candidates are paired -- the strategy of the one with more credit is
"chosen", the other "rejected" (credit.py: improvement over its inputs by default; pairs
within `margin` are ties and teach nothing, so equal outcomes leave equal logits) -- and
theta takes a few gradient steps on the DPO loss

    L = -mean log sigmoid(beta * [(log pi(w) - log pi_ref(w)) - (log pi(l) - log pi_ref(l))])

with pi_ref the policy before the update (TAP v2, arXiv 2512.07419). The log-normalisers
cancel inside the bracket, so the loss depends on theta_w - theta_l only, and the sigmoid
saturates: one generation moves the policy a bounded amount, however many pairs agree.
Sampling mixes in a uniform floor so no strategy is ever starved. ``uniform`` keeps the
policy flat (the ablation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

CONTROLLERS = ("dpo", "uniform")


@dataclass(frozen=True)
class ControllerConfig:
    """Attributes:
        kind: ``dpo`` or ``uniform`` (never updated).
        beta: DPO temperature; larger trusts each preference more.
        lr: gradient step on theta.
        steps: gradient steps per generation.
        floor: share of sampling mass spread uniformly (exploration).
        margin: credit difference below which a pair is a tie and not used.
        reward: what a candidate is credited with (credit.py): ``improvement`` over its
            parents or the best seed (new tables only), or ``fitness`` (the old signal,
            under which a failure loses to any valid answer; runs stored before resume
            with it).
    """

    # Each is part of a discovery run's resume key, under the name in its metadata.
    kind: str = field(default="dpo", metadata={"resume": "controller"})
    beta: float = field(default=1.0, metadata={"resume": "controller_beta"})
    # 0.5, not 1: with identical strategies lr 1 ended with a median top probability of
    # 0.33 (improvement credit) -- noise; see benchmarks/controller_signal.py.
    lr: float = field(default=0.5, metadata={"resume": "controller_lr", "legacy": 1.0})
    steps: int = field(default=20, metadata={"resume": "controller_steps"})
    floor: float = field(default=0.1, metadata={"resume": "controller_floor"})
    margin: float = field(default=0.01, metadata={"resume": "controller_margin"})
    reward: str = field(default="improvement",
                        metadata={"resume": "controller_reward", "legacy": "fitness"})

    def __post_init__(self) -> None:
        if self.kind not in CONTROLLERS:
            raise ValueError(f"unknown controller {self.kind!r}; use one of {CONTROLLERS}")
        if self.reward not in ("improvement", "fitness"):
            raise ValueError(f"unknown controller reward {self.reward!r}; use improvement "
                             "or fitness")
        if not (self.beta > 0 and self.lr > 0 and self.steps >= 0 and 0 <= self.floor <= 1
                and self.margin >= 0):
            raise ValueError("controller settings: beta and lr must be positive, steps and "
                             "margin at least 0, floor within [0, 1]")


class StrategyController:
    """A policy over `keys` (strategy names) with DPO updates; state is `theta`."""

    def __init__(self, keys: list[str], config: ControllerConfig = ControllerConfig(),
                 theta: list[float] | None = None):
        self.keys = list(keys)
        self.config = config
        self.theta = np.zeros(len(keys)) if theta is None else np.asarray(theta, float)

    def probabilities(self) -> np.ndarray:
        """The learned policy pi (without the exploration floor)."""
        z = np.exp(self.theta - self.theta.max())
        return z / z.sum()

    def sampling_probabilities(self, allowed: list[str] | None = None) -> np.ndarray:
        """pi mixed with a uniform floor, restricted to `allowed` keys and renormalised."""
        p = (1 - self.config.floor) * self.probabilities() + self.config.floor / len(self.keys)
        if allowed is not None:
            p = p * np.isin(self.keys, allowed)
        return p / p.sum()

    def sample(self, rng: np.random.Generator, allowed: list[str] | None = None) -> str:
        """Draw one strategy key."""
        return self.keys[rng.choice(len(self.keys), p=self.sampling_probabilities(allowed))]

    def preference_pairs(self, results: list[tuple[str, float]]) -> list[tuple[int, int]]:
        """(chosen, rejected) strategy indices from (strategy, credit) results: every pair
        of candidates from different strategies whose credit differs by more than the
        margin (under the ``fitness`` reward a failure, -inf, loses to any valid one)."""
        index = {k: i for i, k in enumerate(self.keys)}
        pairs = []
        for i, (key_i, fit_i) in enumerate(results):
            for key_j, fit_j in results[i + 1:]:
                if key_i == key_j or not (math.isfinite(fit_i) or math.isfinite(fit_j)):
                    continue
                if fit_i > fit_j + self.config.margin or (math.isfinite(fit_i)
                                                          and not math.isfinite(fit_j)):
                    pairs.append((index[key_i], index[key_j]))
                elif fit_j > fit_i + self.config.margin or (math.isfinite(fit_j)
                                                            and not math.isfinite(fit_i)):
                    pairs.append((index[key_j], index[key_i]))
        return pairs

    def update(self, results: list[tuple[str, float]]) -> float:
        """One generation's DPO update from (strategy, credit) results; returns the
        final loss (NaN when there was nothing to learn from or the policy is uniform)."""
        pairs = self.preference_pairs(results)
        if self.config.kind == "uniform" or not pairs:
            return float("nan")
        chosen, rejected = (np.array(side) for side in zip(*pairs))
        reference = self.theta.copy()
        beta = self.config.beta
        for _ in range(self.config.steps):
            margin = beta * ((self.theta[chosen] - reference[chosen])
                             - (self.theta[rejected] - reference[rejected]))
            weight = beta * (1 - _sigmoid(margin)) / len(pairs)  # -dL/dmargin * beta
            gradient = np.zeros_like(self.theta)
            np.add.at(gradient, chosen, -weight)
            np.add.at(gradient, rejected, weight)
            self.theta -= self.config.lr * gradient
        margin = beta * ((self.theta[chosen] - reference[chosen])
                         - (self.theta[rejected] - reference[rejected]))
        return float(-np.mean(np.log(_sigmoid(margin))))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))
