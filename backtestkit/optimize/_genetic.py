"""method='genetic': a genetic algorithm over candidate positions and ranges.

A population of admissible combinations is drawn at random and evaluated as one batch. Each next
generation keeps the ``elites`` best, and breeds the rest: two parents picked by tournament, their
genes mixed (uniform crossover, with probability ``crossover_rate``), each gene mutated with
probability ``mutation_rate`` (a small step for numbers, another value for categories). A child that
fails the constraint or was proposed before is mutated again (then replaced by a random admissible
one), so no evaluation is wasted and no combination is evaluated twice. Each generation is one batch,
run in parallel; the proposals depend only on the seed and the values told, so results do not depend
on ``n_jobs`` and a stored study replays.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from backtestkit._errors import param_error
from backtestkit.optimize._explore import Axis, Explorer, fitness, none_admissible
from backtestkit.optimize._method import Context, Evaluator, SearchMethod
from backtestkit.optimize._space import ParamSpace
from backtestkit.optimize._trial import Key

#: Tries to make a fresh child (breed, then mutate again) before drawing a random one instead.
BREED_TRIES = 20
#: A numeric gene's mutation is a normal step of this share of its axis (at least one position).
STEP_SHARE = 0.15

Member = tuple[Key, tuple[Any, ...], float]  # key, genome, score (higher is better)


class Genetic(SearchMethod):
    """A genetic algorithm: ``generations`` batches of ``population_size`` combinations at most.

    Args:
        population_size: combinations per generation (the first is drawn at random).
        generations: generations at most, the first included.
        mutation_rate: the chance that each gene of a child mutates, in [0, 1].
        crossover_rate: the chance that a child mixes two parents (else it copies one), in [0, 1].
        tournament_size: combinations compared to pick each parent (higher: greedier).
        elites: the best combinations carried to the next generation unchanged (never re-run).
        stagnation: stop after this many generations in a row without a better value (None: never).
        max_tries: evaluations at most (None: as many as the generations take, the elites of
            each generation after the first not being run again).
        random_state: a seed of its own (None: ``optimize``'s ``random_state``).

    Listed values (lists, ranges) are searched by position, scikit-optimize ``Integer``, ``Real`` and
    ``Categorical`` dimensions over their bounds. The study records why the search stopped
    (``study.info['ended_by']``: 'generations', 'max_tries', 'stagnation' or 'exhausted').

    >>> from backtestkit.optimize import run_search
    >>> study = run_search(lambda p: -(p['x'] - 37) ** 2 - (p['y'] - 12) ** 2,
    ...                    {'x': range(100), 'y': range(50)}, known_params=['x', 'y'],
    ...                    method=Genetic(population_size=20, generations=15), random_state=1, n_jobs=1)
    >>> study.n_evaluated <= 300, study.best_params
    (True, {'x': 37, 'y': 12})
    """

    name = "genetic"

    def __init__(self, population_size: int = 40, generations: int = 25, *, mutation_rate: float = 0.25,
                 crossover_rate: float = 0.8, tournament_size: int = 3, elites: int = 2,
                 stagnation: int | None = 8, max_tries: int | None = None,
                 random_state: int | None = None) -> None:
        owner = "Genetic"
        _check_int(owner, "population_size", population_size, 2)
        _check_int(owner, "generations", generations, 1)
        _check_rate(owner, "mutation_rate", mutation_rate)
        _check_rate(owner, "crossover_rate", crossover_rate)
        _check_int(owner, "tournament_size", tournament_size, 1)
        if not isinstance(elites, numbers.Integral) or isinstance(elites, bool) \
                or not 0 <= elites < population_size:
            raise param_error(owner, "elites", f"an int in [0, population_size={population_size})", elites)
        if stagnation is not None:
            _check_int(owner, "stagnation", stagnation, 1, "or None")
        if max_tries is not None:
            _check_int(owner, "max_tries", max_tries, 1, "or None")
        if random_state is not None:
            _check_int(owner, "random_state", random_state, 0, "or None")
        self.population_size, self.generations = int(population_size), int(generations)
        self.mutation_rate, self.crossover_rate = float(mutation_rate), float(crossover_rate)
        self.tournament_size, self.elites = int(tournament_size), int(elites)
        self.stagnation, self.max_tries, self.random_state = stagnation, max_tries, random_state

    @property
    def budget(self) -> int:
        """Evaluations at most: every generation's children (the elites are not run again), or
        ``max_tries`` when that is fewer."""
        budget = self.population_size + (self.generations - 1) * (self.population_size - self.elites)
        return budget if self.max_tries is None else min(budget, self.max_tries)

    def search(self, space: ParamSpace, driver: Evaluator, context: Context) -> dict[str, Any]:
        """Raises ValueError when no combination drawn satisfies the constraint."""
        seed = context.seed if self.random_state is None else np.random.SeedSequence(self.random_state)
        rng = np.random.default_rng(seed)
        explorer = Explorer(space, context.constraint, context.owner)
        budget = self.budget
        driver.expect(int(min(budget, explorer.size)))
        keys = list(explorer.sample(rng, min(self.population_size, budget)))
        if not keys:
            raise none_admissible(len(explorer.seen), context.owner)
        population = _evaluate(driver, explorer, keys, context.maximize)
        n_run, best, stale, generation, stopped = len(keys), _best(population), 0, 1, "generations"
        while generation < self.generations:
            if n_run >= budget:
                stopped = "max_tries"
                break
            if self.stagnation is not None and stale >= self.stagnation:
                stopped = "stagnation"
                break
            ranked = sorted(population, key=lambda member: -member[2])
            keys = self._breed(ranked, explorer, rng, min(self.population_size - self.elites, budget - n_run))
            if not keys:
                stopped = "exhausted"
                break
            children = _evaluate(driver, explorer, keys, context.maximize)
            n_run, generation = n_run + len(keys), generation + 1
            survivors = ranked[: self.elites] + children
            population = survivors + ranked[self.elites:][: self.population_size - len(survivors)]
            stale = 0 if _best(children) > best else stale + 1
            best = max(best, _best(children))
        return {"generations_run": generation, "ended_by": stopped}

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "population_size", "generations", "mutation_rate", "crossover_rate", "tournament_size", "elites",
            "stagnation", "max_tries", "random_state")}

    def _breed(self, ranked: list[Member], explorer: Explorer, rng: np.random.Generator,
               wanted: int) -> list[Key]:
        """Up to ``wanted`` fresh admissible children of the ranked population."""
        children: list[Key] = []
        for _ in range(wanted):
            genome = self._child(ranked, explorer.axes, rng)
            key = explorer.fresh(genome)
            for _ in range(BREED_TRIES):
                if key is not None:
                    break
                genome = _mutate(genome, explorer.axes, rng, rate=self.mutation_rate, at_least_one=True)
                key = explorer.fresh(genome)
            if key is None:
                key = next(explorer.sample(rng, 1), None)
            if key is None:  # the space (or what the constraint admits) has run out
                break
            children.append(key)
        return children

    def _child(self, ranked: list[Member], axes: list[Axis], rng: np.random.Generator) -> tuple[Any, ...]:
        first = self._tournament(ranked, rng)
        genome = first
        if rng.random() < self.crossover_rate:
            second = self._tournament(ranked, rng)
            mask = rng.random(len(axes)) < 0.5
            genome = tuple(b if take else a for a, b, take in zip(first, second, mask, strict=True))
        return _mutate(genome, axes, rng, rate=self.mutation_rate, at_least_one=False)

    def _tournament(self, ranked: list[Member], rng: np.random.Generator) -> tuple[Any, ...]:
        """The best of ``tournament_size`` members drawn at random (``ranked`` is best first)."""
        return ranked[int(rng.integers(len(ranked), size=self.tournament_size).min())][1]


def _evaluate(driver: Evaluator, explorer: Explorer, keys: list[Key], maximize: bool) -> list[Member]:
    trials = driver.evaluate(iter(keys), len(keys))
    scores = fitness([trial.value for trial in trials], maximize)
    return [(key, explorer.genome(key), float(score)) for key, score in zip(keys, scores, strict=True)]


def _best(members: list[Member]) -> float:
    return max((score for _, _, score in members), default=-math.inf)


def _mutate(genome: tuple[Any, ...], axes: list[Axis], rng: np.random.Generator, *, rate: float,
            at_least_one: bool) -> tuple[Any, ...]:
    """Each gene mutated with probability ``rate`` (and one at least if ``at_least_one``)."""
    mask = rng.random(len(axes)) < rate
    if at_least_one and not mask.any():
        mask[int(rng.integers(len(axes)))] = True
    return tuple(_mutate_gene(gene, axis, rng) if flip else gene
                 for gene, axis, flip in zip(genome, axes, mask, strict=True))


def _mutate_gene(gene: Any, axis: Axis, rng: np.random.Generator) -> Any:
    if axis.size == 1:
        return gene
    if not axis.ordered:  # a category: any other one
        other = int(rng.integers(axis.size - 1))  # type: ignore[operator]
        return other + (other >= gene)
    spread = STEP_SHARE * (axis.high - axis.low)
    if axis.kind == "real":
        return axis.clip(gene + rng.normal(0.0, spread))
    step = int(round(rng.normal(0.0, max(1.0, spread))))
    if step == 0:
        step = 1 if rng.random() < 0.5 else -1
    moved = axis.clip(gene + step)
    return moved if moved != gene else axis.clip(gene - step)


def _check_int(owner: str, name: str, value: Any, low: int, extra: str = "") -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        expected = f"an int >= {low}" + (f" {extra}" if extra else "")
        raise param_error(owner, name, expected, value)


def _check_rate(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
        raise param_error(owner, name, "a number in [0, 1]", value)
