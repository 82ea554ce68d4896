"""A density model that answers repeated questions from memory, also for arrays of arguments.

The cost model asks a density model the same few questions (a tile of `lines` x `steps`,
a window pmf) for thousands of mappings; the vectorised pricing asks them with arrays over
a layer's mapspace. `MemoDensity` forwards every method of the model it wraps, answers a
repeated argument tuple from memory and, when a method of scalar arguments (`ELEMENTWISE`)
gets arrays, asks once per distinct tuple of the broadcast arguments and spreads the answers
back. The wrapped model's methods are never changed, so a new or overridden method is
forwarded (and memoised for hashable arguments) like the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikex_plugin.sparsity.density import DensityModel


# Methods whose arguments are scalars (tile sizes, steps): asked with arrays, they are asked
# once per element. Any other method given an array gets it as it is.
ELEMENTWISE = frozenset({"p_nonempty", "p_channels_nonempty", "expected_nonzeros", "p_line_silent",
                         "expected_packed_rows", "p_field_nonempty", "p_row_nonempty"})


class MemoDensity:
    """`inner` with memoised methods; scalar arguments give what `inner` gives, arrays given
    to an `ELEMENTWISE` method an array of those answers."""

    def __init__(self, inner: DensityModel):
        self.inner = inner.inner if isinstance(inner, MemoDensity) else inner
        self._memo: dict[tuple, Any] = {}
        self._methods: dict[str, Any] = {}

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        value = getattr(self.inner, name)
        if not callable(value):
            return value
        if name not in self._methods:
            self._methods[name] = lambda *args: self._answer(name, args)
        return self._methods[name]

    def _answer(self, name: str, args: tuple):
        if any(isinstance(a, np.ndarray) and a.ndim for a in args):
            if name in ELEMENTWISE:
                return self._over_arrays(name, args)
            return getattr(self.inner, name)(*args)  # a method that takes arrays itself: not memoised
        return self._ask(name, tuple(a.item() if isinstance(a, np.generic | np.ndarray) else a for a in args))

    def _ask(self, name: str, args: tuple):
        key = (name, *args)
        if key not in self._memo:
            self._memo[key] = getattr(self.inner, name)(*args)
        answer = self._memo[key]
        return answer.copy() if isinstance(answer, np.ndarray) else answer

    def _over_arrays(self, name: str, args: tuple) -> np.ndarray:
        """One question per distinct argument tuple; each argument keeps its own values
        (ints stay ints), so every question is one the scalar path asks too."""
        arrays = np.broadcast_arrays(*(np.asarray(a) for a in args))
        code = np.zeros(arrays[0].shape, dtype=np.int64)
        uniques = []
        for a in arrays:
            values, inverse = np.unique(a, return_inverse=True)
            code = code * len(values) + inverse.reshape(a.shape)
            uniques.append((values.tolist(), inverse.reshape(a.shape)))
        distinct, first, where = np.unique(code.ravel(), return_index=True, return_inverse=True)
        answers = np.array([self._ask(name, tuple(values[inverse.flat[i]] for values, inverse in uniques))
                            for i in first], dtype=np.float64)
        return answers[where].reshape(code.shape)
