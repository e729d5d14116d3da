"""method='skopt': surrogate-model search with scikit-optimize (the only module that imports it).

Listed numeric candidates are searched by position (an ``Integer`` dimension over the sorted
candidate list), other listed values as a ``Categorical`` over positions, and scikit-optimize
``Dimension`` objects as given, so only listed values are ever evaluated.

Each round fits one skopt surrogate (extra trees by default) to everything seen so far and picks a
batch from random candidates by the lower confidence bound ``mean - kappa * std`` with a spread of
kappas (from pure exploitation to exploration), then evaluates the batch in parallel. skopt's
``Optimizer.ask(n_points)`` refits the model once per point of a batch (constant liar): with 100
trees that costs 0.1-0.5 s per evaluation, and still 13-20 ms with 8-16 trees, for worse results on
``benchmarks/bench_skopt.py`` than this one fit per round (2-5 ms per evaluation).

The constraint filters the random candidates before the model scores them, so a point that fails
it is never proposed: it is never evaluated, uses up no try and costs no round (skopt's usual
alternative, telling the model a penalty for proposed violators, spends rounds on them and can stall
when few combinations pass). NaN and -inf values are told to the model as a penalty worse than any
value seen, so it learns to avoid them too.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backtestkit.optimize._method import Context, Evaluator, SearchMethod
from backtestkit.optimize._space import ParamSpace, admits, is_number

ESTIMATORS = ("et", "gp", "rf", "gbrt")
#: One evaluated combination: its key, its parameters and the objective's value.
Record = tuple[tuple[Any, ...], dict[str, Any], float]
#: Trees of the 'et'/'rf' surrogate (skopt: 100); one fit per round is most of the overhead.
N_TREES = 16
#: Random candidates scored by the acquisition function each round (skopt: 10,000).
N_POINTS = 1000
#: The search stops after this many rounds in a row that evaluated nothing.
MAX_IDLE_ROUNDS = 50


def batch_size(max_tries: int) -> int:
    """Points per round. It depends on ``max_tries`` only, so results do not depend on n_jobs."""
    return min(16, max(4, max_tries // 25))


def n_initial_points(max_tries: int) -> int:
    """Random points before the surrogate model takes over."""
    return min(20, max(5, max_tries // 10))


def kappas(k: int) -> np.ndarray:
    """Exploration weights of a batch of ``k``: quantiles of an exponential law of mean 2, from 0.

    >>> kappas(4).round(2)
    array([0.  , 0.58, 1.39, 2.77])
    """
    return -2.0 * np.log1p(-np.arange(k) / k)


class SkoptSpace:
    """The search space as scikit-optimize dimensions, and the way back to the user's values."""

    def __init__(self, space: ParamSpace, estimator: str) -> None:
        from skopt.space import Categorical, Integer, Space
        from skopt.utils import normalize_dimensions

        self.space = space
        self.free = [i for i, cands in enumerate(space.candidates) if cands is None or len(cands) > 1]
        dimensions: list[Any] = []
        for i in self.free:
            name, cands = space.names[i], space.candidates[i]
            if cands is None:
                dimension = copy.copy(space.dimensions[i])  # named on a copy: the user's stays as is
                dimension.name = name
            elif all(is_number(value) for value in cands):
                dimension = Integer(0, len(cands) - 1, name=name)
            else:
                dimension = Categorical(list(range(len(cands))), name=name)
            dimensions.append(dimension)
        # a Gaussian process wants every dimension scaled to [0, 1], as skopt's Optimizer does
        self.skopt = normalize_dimensions(dimensions) if estimator == "gp" else Space(dimensions)

    @property
    def size(self) -> float:
        """Number of distinct points (``math.inf`` with a continuous dimension)."""
        return math.prod(_dimension_size(dimension) for dimension in self.skopt.dimensions)

    def key(self, point: Sequence[Any]) -> tuple[Any, ...]:
        """A hashable, sortable key of a point, over all parameters (fixed ones at position 0)."""
        values = dict(zip(self.free, (_plain(value) for value in point), strict=True))
        return tuple(values.get(i, 0) for i in range(len(self.space.names)))

    def params(self, key: tuple[Any, ...]) -> dict[str, Any]:
        """The parameter values of a point given by its key."""
        return self.space.decode(key)

    def user_space(self) -> Any:
        """The space in the user's values: listed parameters become ``Categorical`` dimensions of the
        candidates, with the transform that maps them to what the model was fit on."""
        from skopt.space import Categorical, Space

        dimensions = []
        for i, dimension in zip(self.free, self.skopt.dimensions, strict=True):
            cands = self.space.candidates[i]
            if cands is not None:
                transform = {"normalize": "normalize", "identity": "label"}.get(
                    dimension.transform_, "onehot"
                )
                dimension = Categorical(list(cands), transform=transform, name=dimension.name)
            dimensions.append(dimension)
        return Space(dimensions)


def sambo_params(space: ParamSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as backtesting.py's method='sambo' reads them: the candidates of a numeric parameter
    give a range from the smallest to the largest (integers: an ``Integer`` dimension, else a ``Real``);
    other parameters, single values and dimensions stay as given.

    >>> from backtestkit.optimize._space import build_space
    >>> params = {'n1': [10, 100], 'x': (0.5, 0.1, 2), 'kind': ['a', 'b'], 'n2': 5}
    >>> sambo_params(build_space(params, list(params), 'demo'), params)  # doctest: +NORMALIZE_WHITESPACE
    {'n1': Integer(low=10, high=100, prior='uniform', transform='identity'),
     'x': Real(low=0.1, high=2.0, prior='uniform', transform='identity'), 'kind': ['a', 'b'], 'n2': 5}
    """
    from skopt.space import Integer, Real

    ranged = dict(params)
    for name, cands in zip(space.names, space.candidates, strict=True):
        if cands is None or len(cands) < 2 or not all(is_number(value) for value in cands):
            continue
        low, high = min(cands), max(cands)
        if all(isinstance(value, numbers.Integral) for value in cands):
            ranged[name] = Integer(int(low), int(high), name=name)
        else:
            ranged[name] = Real(float(low), float(high), name=name)
    return ranged


def _dimension_size(dimension: Any) -> float:
    from skopt.space import Categorical, Integer

    if isinstance(dimension, Integer):
        return dimension.high - dimension.low + 1
    if isinstance(dimension, Categorical):
        return len(dimension.categories)
    return math.inf


def _plain(value: Any) -> Any:
    """numpy scalars from skopt as plain Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def minimised(values: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    """Objective values as the model learns them: negated (skopt minimises), with NaN, -inf (and
    constraint violations, told as NaN) a penalty worse than any finite value of ``reference``, and
    +inf a bonus better than any. All NaN when ``reference`` has no finite value.

    >>> minimised([2.0, float('nan'), float('inf')], [1.0, 2.0])
    array([-2.,  0., -3.])
    """
    y = -np.asarray(values, dtype=float)
    finite = -np.asarray(reference, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return np.full(y.shape, np.nan)
    best, worst = finite.min(), finite.max()
    margin = worst - best or max(1.0, abs(worst))
    return np.where(np.isfinite(y), y, np.where(y == -np.inf, best - margin, worst + margin))


class Surrogate:
    """Remembers every point told, fits the surrogate model and proposes the next batch."""

    def __init__(self, mapping: SkoptSpace, estimator: str, seed: int, max_tries: int) -> None:
        from skopt.utils import cook_estimator

        forest = {"n_estimators": N_TREES, "min_samples_leaf": 3} if estimator in ("et", "rf") else {}
        self.mapping, self.rng = mapping, np.random.RandomState(seed)
        self.prototype = cook_estimator(estimator.upper(), space=mapping.skopt, random_state=seed, **forest)
        self.n_initial = n_initial_points(max_tries)
        self.points: list[Any] = []
        self.values: list[float] = []

    def tell(self, points: list[Any], values: list[float]) -> None:
        self.points += points
        self.values += values

    def fit(self) -> Any:
        from sklearn.base import clone

        model = clone(self.prototype)
        with warnings.catch_warnings():  # as in skopt: a GP's convergence warnings are expected
            warnings.simplefilter("ignore")
            model.fit(self.mapping.skopt.transform(self.points), minimised(self.values, self.values))
        return model

    def candidates(self, seen: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
        """Distinct random points not seen yet, by key."""
        candidates: dict[tuple[Any, ...], Any] = {}
        for point in self.mapping.skopt.rvs(N_POINTS, random_state=self.rng):
            key = self.mapping.key(point)
            if key not in seen:
                candidates.setdefault(key, point)
        return candidates

    def choose(self, candidates: dict[tuple[Any, ...], Any], k: int) -> dict[tuple[Any, ...], Any]:
        """Up to ``k`` of the candidates: the first ones at first, then the model's picks."""
        keys, points = list(candidates), list(candidates.values())
        if len(self.points) < self.n_initial or not np.isfinite(self.values).any() or not points:
            return dict(zip(keys[:k], points[:k], strict=True))
        mean, std = _mean_std(self.fit(), self.mapping.skopt.transform(points))
        chosen = {}
        for kappa in kappas(min(k, len(points))):
            i = int(np.argmin(mean - kappa * std))
            chosen[keys[i]] = points[i]
            mean[i] = np.inf  # taken
        return chosen

    def result(self, records: Sequence[Record]) -> Any:
        """skopt's ``OptimizeResult`` over the evaluated combinations, in the user's values.

        ``x_iters`` lists the free parameters' values (in ``params`` order, fixed ones left out) in
        evaluation order; ``func_vals`` are the negated objective values (NaN as a penalty);
        ``space`` is :meth:`SkoptSpace.user_space`, so ``space.transform(x_iters)`` is what
        ``models[-1]`` (fit on every point told) was fit on.
        """
        from skopt.utils import create_result

        names = [self.mapping.space.names[i] for i in self.mapping.free]
        x_iters = [[params[name] for name in names] for _, params, _ in records]
        func_vals = minimised([value for _, _, value in records], self.values)
        return create_result(x_iters, func_vals, self.mapping.user_space(), self.rng, models=[self.fit()])


def _mean_std(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """The surrogate's predicted mean and standard deviation at ``X``."""
    with warnings.catch_warnings():  # a GP warns of tiny negative variances, which it sets to 0
        warnings.simplefilter("ignore")
        if hasattr(model, "quantiles"):  # skopt's GBRT: its return_std uses np.in1d, gone in numpy 2.4
            low, mean, high = model.predict(X, return_quantiles=True).T
            return mean, (high - low) / 2
        return model.predict(X, return_std=True)


class Skopt(SearchMethod):
    """Surrogate-model search with scikit-optimize: ``max_tries`` distinct admissible combinations
    (fewer if the space runs out, or if rounds in a row find no admissible one).

    ``estimator``: 'et' (extra trees), 'gp', 'rf' or 'gbrt'. ``return_optimization`` keeps
    scikit-optimize's ``OptimizeResult`` in the search's facts.

    >>> Skopt(max_tries=100, estimator='gp')
    Skopt(max_tries=100, estimator='gp')
    """

    name = "skopt"

    def __init__(self, max_tries: int = 200, estimator: str = "et", *,
                 return_optimization: bool = False) -> None:
        self.max_tries, self.estimator = max_tries, estimator
        self._return_optimization = return_optimization

    def options(self) -> dict[str, Any]:
        return {"max_tries": self.max_tries, "estimator": self.estimator}

    def check(self, space: ParamSpace, owner: str) -> None:
        if all(cands is not None and len(cands) == 1 for cands in space.candidates):
            raise ValueError(
                f"{owner} with method='skopt' needs a parameter with two or more candidates; "
                "every parameter has one value. Use method='grid' to run that single combination."
            )

    def search(self, space: ParamSpace, driver: Evaluator, context: Context) -> dict[str, Any]:
        """Raises ValueError when no proposed combination satisfied the constraint."""
        mapping = SkoptSpace(space, self.estimator)
        seed = int(context.seed.generate_state(1)[0])
        surrogate = Surrogate(mapping, self.estimator, seed, self.max_tries)
        driver.expect(self.max_tries)
        seen: set[tuple[Any, ...]] = set()
        records: list[Record] = []
        idle = 0
        while len(records) < self.max_tries and len(seen) < mapping.size and idle < MAX_IDLE_ROUNDS:
            candidates = surrogate.candidates(seen)
            if context.constraint is not None:
                rejected = [key for key in candidates
                            if not admits(context.constraint, mapping.params(key), context.owner)]
                seen.update(rejected)
                for key in rejected:
                    del candidates[key]
            wanted = min(batch_size(self.max_tries), self.max_tries - len(records))
            fresh = surrogate.choose(candidates, wanted)
            seen.update(fresh)
            trials = driver.evaluate(iter(fresh), len(fresh))
            values = [trial.value if context.maximize else -trial.value for trial in trials]
            records += [(key, trial.params, value)
                        for key, trial, value in zip(fresh, trials, values, strict=True)]
            surrogate.tell(list(fresh.values()), values)
            idle = 0 if fresh else idle + 1
        if not records:
            raise ValueError(
                f"None of the {len(seen)} combinations tried satisfies the 'constraint' of {context.owner}. "
                "Loosen the constraint or widen the parameter ranges."
            )
        return {"optimize_result": surrogate.result(records)} if self._return_optimization else {}
