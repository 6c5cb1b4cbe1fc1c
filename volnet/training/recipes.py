"""Named training recipes: a whole run's settings under one name (`volnet train --recipe NAME`).

A recipe is a TrainingConfig — the dataset, the architecture and every training setting —
with a one-line description and the result measured with it (on the 2-core
development machine, docs/performance.md's time-to-accuracy table). Settings given beside the
recipe replace its values (`with_settings`); `volnet train --recipe list` prints RECIPES.

    fashion-3min    Fashion-MNIST, the "fashion" preset, a short onecycle run with flips
    fashion-15min   the same for 12 epochs
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

from volnet.errors import SettingError
from volnet.training.run import TrainingConfig


@dataclass(frozen=True)
class Recipe:
    """A named run.

    Attributes:
        name: what --recipe takes, e.g. "fashion-3min".
        description: one line: what the run is.
        config: every setting of the run.
        measured: the result measured with it, e.g. "91.87–92.06 % in 2 min 26 s – 2 min 52 s (seeds
            0–2, 2 cores, 2026-12-02)", or None until it has been measured.
    """

    name: str
    description: str
    config: TrainingConfig
    measured: str | None = None

    def with_settings(self, **settings) -> TrainingConfig:
        """The recipe's configuration with `settings` in place of its own values."""
        return dataclasses.replace(self.config, **settings)

    def line(self) -> str:
        """One line for a listing: name, description, measured result."""
        return f"{self.name:<15} {self.description} ({self.measured or 'not measured yet'})"


_FASHION = TrainingConfig(dataset="fashion-mnist", architecture="fashion", epochs=3, batch_size=128, augment="flip",
                          schedule="onecycle", lr=0.003, label_smoothing=0.1, val_fraction=0, tta="flip")

RECIPES = {recipe.name: recipe for recipe in (
    Recipe("fashion-3min", "Fashion-MNIST (full set), preset fashion, 3 epochs onecycle Adam, flips, 2-view TTA",
           _FASHION, measured="92.56–92.94 % in 1 min 56 s – 2 min 26 s (seeds 0–2, 2 cores, 2026-12-02)"),
    Recipe("fashion-15min", "Fashion-MNIST (full set), preset fashion, 12 epochs onecycle Adam, flips, 2-view TTA",
           dataclasses.replace(_FASHION, epochs=12),
           measured="94.14–94.37 % in 11 min 3 s – 15 min 32 s (seeds 0–2, 2 cores, 2026-12-02)"),
)}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (case and surrounding spaces ignored).

    Raises:
        SettingError: no recipe of that name; the message names the setting recipe, the nearest
            names and all of them.
    """
    found = RECIPES.get(name.strip().lower())
    if found is None:
        near = difflib.get_close_matches(name.strip().lower(), RECIPES, n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(repr(each) for each in near)}?)" if near else ""
        raise SettingError("unknown {recipe} {name!r}{hint}; the recipes are {names}", name=name, hint=hint,
                           names=", ".join(RECIPES))
    return found
