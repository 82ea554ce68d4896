"""Spiking layers as AccelForge Einsums.

Conv/FC: Sout[t, m, p, q] = sum_{c,r,s} Sin[t, c, stride*p + r, stride*q + s] * Wt[m, c, r, s]
with 1-bit spikes in and out and multi-bit weights; the membrane recurrence that turns the
summed current into output spikes has no Einsum form and is costed by the SpikeX model.
"""

from __future__ import annotations

import yaml

from spikex_plugin.workload.network import Layer

TENSORS = ("Sin", "Wt", "Sout")


def workload_dict(layer: Layer, weight_bits: int = 8) -> dict:
    """AccelForge `workload:` section for one weighted layer."""
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name}: pooling has no Einsum with weights")
    st = layer.stride
    sin_proj = {"T": "t", "C": "c", "H": f"{st}*p + r" if st > 1 else "p + r",
                "W": f"{st}*q + s" if st > 1 else "q + s"}
    return {"workload": {
        "rank_sizes": {"T": layer.T, "C": layer.C, "M": layer.M, "H": layer.H, "W": layer.W,
                       "P": layer.P, "Q": layer.Q, "R": layer.R, "S": layer.S},
        "iteration_space_shape": {"r": f"0 <= r < {layer.R}", "s": f"0 <= s < {layer.S}"},
        "bits_per_value": {"Sin": 1, "Wt": weight_bits, "Sout": 1},
        "einsums": [{
            "name": layer.name,
            "tensor_accesses": [
                {"name": "Sin", "projection": sin_proj},
                {"name": "Wt", "projection": {"M": "m", "C": "c", "R": "r", "S": "s"}},
                {"name": "Sout", "projection": {"T": "t", "M": "m", "P": "p", "Q": "q"}, "output": True},
            ],
            "renames": {"input": "Sin", "weight": "Wt", "output": "Sout"},
        }],
    }}


def workload_yaml(layer: Layer, weight_bits: int = 8) -> str:
    return yaml.safe_dump(workload_dict(layer, weight_bits), sort_keys=False)
