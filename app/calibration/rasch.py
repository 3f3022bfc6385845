"""Rasch calibration of right/wrong responses with the `mirt` library (marginal maximum likelihood, EM).

mirt's own "1PL" fixes both the slope and the ability spread at 1, which biases difficulties when the
candidates' spread is not 1 logit. So the fit is mirt's 2PL with one slope shared by every item and
abilities N(0, 1): the same model as a Rasch model with a free ability spread. Converted to the logit
(Rasch) scale, an item's difficulty is slope x location, and the slope is the ability spread in logits.
The scale is then anchored by centring: the mean difficulty of the items fitted together is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata

MODEL = "rasch-mml"


class CalibrationError(Exception):
    """The data cannot be fitted (too few items or persons, or the fit did not converge)."""


@dataclass(frozen=True)
class ItemDifficulty:
    item_id: str
    difficulty: float
    se: float
    responses: int


@dataclass(frozen=True)
class RaschFit:
    items: tuple[ItemDifficulty, ...]
    ability_sd: float
    persons: int
    model: str


def model_label() -> str:
    """What fitted the scale, with the library version (stored with every calibration)."""
    return f"{MODEL} (mirt {metadata.version('mirt')}: 2PL, one shared slope)"


def fit(persons: Sequence[Mapping[str, int]], item_ids: Sequence[str]) -> RaschFit:
    """Fit the Rasch model to persons' right (1) / wrong (0) results; items a person did not see are missing."""
    import mirt  # numpy, scipy and a compiled backend: loaded only by a calibration run
    import numpy as np

    if len(item_ids) < 2:
        raise CalibrationError("a Rasch fit needs at least two items")
    column = {item_id: index for index, item_id in enumerate(item_ids)}
    persons_kept = [person for person in persons if any(item_id in column for item_id in person)]
    if len(persons_kept) < 2:
        raise CalibrationError("a Rasch fit needs at least two persons")
    data = np.full((len(persons_kept), len(item_ids)), np.nan)
    for row, person in enumerate(persons_kept):
        for item_id, result in person.items():
            if item_id in column:
                data[row, column[item_id]] = float(result)
    names = [f"i{index}" for index in range(len(item_ids))]
    fitted = mirt.fit_mirt(
        data, model="2PL", item_names=names, constraints=[("discrimination", list(range(len(item_ids))))],
        max_iter=2000, tol=1e-5,
    )
    if not fitted.converged:
        raise CalibrationError(f"the Rasch fit did not converge in {fitted.n_iterations} iterations")
    parameters = fitted.model.parameters  # the 2PL's "discrimination" and "difficulty" arrays
    slope = float(np.asarray(parameters["discrimination"]).ravel()[0])
    location = np.asarray(parameters["difficulty"], dtype=np.float64).ravel()
    labels = list(fitted.vcov_labels or [])
    vcov = np.asarray(fitted.vcov, dtype=np.float64)
    difficulties = slope * location
    errors = []
    for index, name in enumerate(names):
        # Delta method for slope x location: the slope's uncertainty is shared by every item.
        a_at, b_at = labels.index(f"discrimination[{name}]"), labels.index(f"difficulty[{name}]")
        gradient = np.array([location[index], slope])
        block = vcov[np.ix_([a_at, b_at], [a_at, b_at])]
        errors.append(math.sqrt(max(float(gradient @ block @ gradient), 0.0)))
    centred = difficulties - difficulties.mean()
    counts = np.sum(~np.isnan(data), axis=0)
    return RaschFit(
        items=tuple(
            ItemDifficulty(item_id=item_id, difficulty=float(centred[index]), se=errors[index],
                           responses=int(counts[index]))
            for index, item_id in enumerate(item_ids)
        ),
        ability_sd=slope,
        persons=len(persons_kept),
        model=model_label(),
    )
