"""Pricing of the graph kinds: lowering onto the priced conv/pool work, and element-wise ops.

Lowered (see docs/network-graph.md):
- a grouped conv is `groups` independent convs of C/groups -> M/groups channels, run one
  after another (a depthwise conv is C convs of one channel: no cross-channel reuse);
- a matmul of spike operands is such a conv per batch: the binary operand is the input,
  the other operand is streamed from the buffer as the weights, at its own bit width;
- a layer whose input is not spikes (b-bit values) runs once per bit-plane (bit-serial),
  so its work and traffic are b times those of a spike input.
Element-wise kinds (residual joins, concat, sums over an axis, resampling adaptive pools)
have no weights: they read their inputs from the global buffer (inactive spike blocks
skipped), combine them in the PE logic and write the output, at each tensor's bit width.
"""

from __future__ import annotations

from dataclasses import replace

from spikex_plugin.cost_model.spikex import LayerCost, bound_of, evaluate_pool, priced
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Layer, Network


def check_supported(network: Network) -> None:
    """Refuse a network with a layer SpikeX cannot run, naming the layer and why."""
    for layer in network.resolved:
        if layer.refused:
            raise SpikeXInputError(network.source, f"layers.{layer.name}",
                                   f"SpikeX cannot run layer '{layer.name}' ({layer.type}): {layer.refused}")


def lowering(layer: Layer) -> str | None:
    """How a weighted layer is lowered onto plain conv/fc work, or None when it is plain."""
    parts = ([f"{layer.groups} groups" if layer.type != "matmul" else f"a matmul over {layer.groups} batches"]
             if layer.groups > 1 or layer.type == "matmul" else [])
    if layer.in_bits > 1:
        parts.append(f"{layer.in_bits} input bit-planes")
    return ", ".join(parts) or None


def weighted_unit(layer: Layer, arch: SpikeXArch) -> tuple[Layer, SpikeXArch, int]:
    """(one group's conv/fc work, the arch it runs on, how many times it runs)."""
    groups = layer.groups
    unit = layer.model_copy(update={
        "type": "conv" if layer.type == "matmul" else layer.type, "C": layer.C // groups, "M": layer.M // groups,
        "groups": 1, "in_bits": 1, "in_shape": None if layer.type != "fc" else (layer.C // groups,)})
    if layer.weight_bits is not None and layer.weight_bits != arch.weight_bits:
        arch = replace(arch, extras=arch.extras.model_copy(update={"weight_bits": layer.weight_bits}))
    return unit, arch, groups * layer.in_bits


def scaled(cost: LayerCost, times: int) -> LayerCost:
    """The cost of running the same work `times` times one after another."""
    if times == 1:
        return cost
    return replace(cost, actions={k: v * times for k, v in cost.actions.items()}, energy_j=cost.energy_j * times,
                   cycles=cost.cycles * times, breakdown_j={k: v * times for k, v in cost.breakdown_j.items()},
                   cycle_parts={k: v * times for k, v in cost.cycle_parts.items()})


def evaluate_unweighted(layer: Layer, arch: SpikeXArch, d: DensityModel) -> LayerCost:
    """Cost of a layer without weights: pooling (per input bit-plane) or an element-wise op."""
    if layer.type == "pool":
        return scaled(evaluate_pool(layer, arch, d), layer.in_bits)
    return evaluate_elementwise(layer, arch, d)


def evaluate_elementwise(layer: Layer, arch: SpikeXArch, d: DensityModel) -> LayerCost:
    """Read every input value of an active block from the GLB, combine, write the output.
    add / sum: one accumulation per nonzero input value; and / iand: one tag-logic op per
    output bit; gate: a statistics pass and a scaling pass over the input, one multiply
    (priced as an accumulation) per nonzero value; concat / resampling: traffic only. A
    neuron, and a join that fires (spiking ResNet's add before the neuron), also update the
    membrane and compare once per output per step."""
    bpa = arch.bits_per_action["GLB"]
    active = d.p_channels_nonempty(1, layer.T) if arch.extras.skipping.zero_blocks else 1.0
    rate = d.rate if arch.extras.skipping.zero_spikes else 1.0
    outputs = layer.T * layer.M * layer.P * layer.Q
    passes = 2 if layer.type == "gate" else 1
    in_bits = passes * layer.T * layer.in_elements * layer.in_bits * active
    out_bits = outputs * layer.out_bits
    actions = {("GLB", "read"): in_bits / bpa, ("GLB", "write"): out_bits / bpa}
    ops = 0.0
    if layer.type in ("add", "sum", "gate"):
        ops = layer.T * layer.in_elements * min(1.0, rate * layer.in_bits)
        actions[("Accumulator", "compute")] = ops
    elif layer.type in ("and", "iand"):
        ops = float(outputs)
        actions[("TagLogic", "update")] = ops
    if layer.type == "neuron" or (layer.out_bits == 1 and layer.in_bits > 1 and layer.type in ("add", "gate")):
        vmem_actions = outputs * arch.vmem_bits / arch.bits_per_action["Vmem"]
        actions.update({("Comparator", "compare"): float(outputs), ("Vmem", "read"): vmem_actions,
                        ("Vmem", "write"): vmem_actions})
    parts = {"array": ops / (arch.rows * arch.cols),
             "glb_port": arch.port_cycles("GLB", in_bits / bpa, out_bits / bpa)}
    return priced(layer.name, None, arch, actions, max(parts.values()), parts, bound_of(parts))
