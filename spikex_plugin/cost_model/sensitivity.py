"""EDP of a layer as a function of the time-window occupancy of the spikes it reads.

The hardware-aware training loss needs this curve per layer. Occupancy `o` at window `tws`
is turned into the Bernoulli rate with the same occupancy, r = 1 - (1 - o)^(1/tws), and the
layer is mapped at that rate with its TWS fixed, so the curve is the mapper's best EDP.
"""

from __future__ import annotations

import numpy as np

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.workload.network import Layer


def rate_for_occupancy(occupancy: float, window: int) -> float:
    return float(1.0 - (1.0 - np.clip(occupancy, 0.0, 1.0)) ** (1.0 / window))


def edp_curve(layer: Layer, arch: SpikeXArch, occupancies: np.ndarray, tws: int) -> np.ndarray:
    """Layer EDP (J*s) at each occupancy of window `tws`, with that TWS fixed."""
    tws_choices = [tws] if layer.T % tws == 0 else None
    return np.array([
        map_layer(layer, arch, UniformDensity(rate_for_occupancy(o, tws), layer.lines_per_channel),
                  "edp", tws_choices).cost.edp_js
        for o in np.asarray(occupancies, dtype=float)])
