"""HWComponents models of the SpikeX processing-element (PE) logic.

Energies are per action in J, areas in m^2, leak power in W. Every number comes from one
of two sources and is scaled from that source's node with HWComponents' CMOS scaling
(Stillmaker & Baas, Integration 2017) via ``self.scale("tech_node", ...)``:

- [H] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm, 0.9 V: integer add 8 bit 0.03 pJ / 36 um^2, 16 bit 0.05 pJ / 67 um^2,
  32 bit 0.1 pJ / 137 um^2.
- [A] Aladdin (Shao et al., ISCA 2014), 40 nm, 1 ns characterisation cycle, as shipped in
  ``hwcomponents_library.library.aladdin``: 32-bit adder 0.21 pJ, 278 um^2, 2.40 uW leak;
  1-bit register 0.009 pJ per read or write, 5.98 um^2, no leakage listed; 32-bit
  comparator 0.02947 pJ, 71 um^2, 25.1 nW; 32-bit counter 0.25074 pJ, 495.5 um^2,
  0.321 uW. The comparator and counter are used as the library classes themselves.

Our assumptions are marked "ASSUMPTION" in the class docstrings. Latency: one action per
1 ns at the source node (Aladdin's characterisation cycle), i.e. throughput 1e9 actions/s,
scaled with the node like the Aladdin models. The SpikeX clock (500 MHz by default) is a
property of the architecture, not of these models.
"""

from __future__ import annotations

from math import ceil, log2

from hwcomponents import ActionCost, ComponentModel, action
from hwcomponents.scaling import (
    linear,
    noscale,
    tech_node_area,
    tech_node_energy,
    tech_node_latency,
    tech_node_leak,
    tech_node_throughput,
)
from hwcomponents_library.library import aladdin

PRIORITY = 0.9
"""Above every hwcomponents-library default (<= 0.8) so our models win for our names."""

CYCLE_S = 1e-9
"""Characterisation cycle at the source node (Aladdin's global_cycle_period)."""

HOROWITZ_NODE = 45e-9
HOROWITZ_ADD32_ENERGY = 0.1e-12
HOROWITZ_ADD32_AREA = 137e-12

ALADDIN_NODE = 40e-9
ALADDIN_ADD32_LEAK = 2.40e-6
ALADDIN_REG_BIT_ENERGY = 0.009e-12
ALADDIN_REG_BIT_AREA = 5.98e-12

ADD32_LEAK_AT_45NM = ALADDIN_ADD32_LEAK * tech_node_leak(HOROWITZ_NODE, ALADDIN_NODE)
"""[A] 32-bit adder leakage moved from 40 nm to Horowitz's 45 nm with the same scaling."""

FLOP_BIT_LEAK = ALADDIN_ADD32_LEAK / 32
"""ASSUMPTION: a flip-flop bit leaks like one bit of the [A] adder (both ~24-28
transistors); Aladdin lists no register leakage."""


def _tech_node_scales() -> dict:
    return dict(
        area_scale_function=tech_node_area,
        energy_scale_function=tech_node_energy,
        latency_scale_function=tech_node_latency,
        throughput_scale_function=tech_node_throughput,
        leak_power_scale_function=tech_node_leak,
    )


def _linear_width_scales() -> dict:
    return dict(
        area_scale_function=linear,
        energy_scale_function=linear,
        latency_scale_function=noscale,
        throughput_scale_function=noscale,
        leak_power_scale_function=linear,
    )


def select_levels(target: float, scalefrom: float) -> float:
    """Per-access energy of a ``depth``-entry register file relative to ``scalefrom``
    entries: one cell access plus one cell-access equivalent per level of the
    ceil(log2(depth))-deep read-mux / write-decode tree (ASSUMPTION)."""
    return (1 + ceil(log2(target))) / (1 + ceil(log2(scalefrom)))


class SpikeAccumulator(ComponentModel):
    """Spike-gated accumulator: adds a weight into a ``width``-bit partial sum when the
    input spike is 1. No multiplier; a zero spike issues no action.

    Source [H], 45 nm: one 32-bit integer add, 0.1 pJ and 137 um^2, linear in width
    (16 bit: 0.05 pJ, which is [H]'s own 16-bit figure). Leakage: [A] 32-bit adder,
    2.40 uW at 40 nm, scaled to 45 nm and linearly in width.
    ASSUMPTION: the spike operand gating (AND of the spike into the add enable) is
    negligible next to the add and is not counted.
    """

    component_name = ["spike_accumulator", "SpikeAccumulator"]
    priority = PRIORITY

    def __init__(self, tech_node: float, width: int = 16):
        super().__init__(leak_power=ADD32_LEAK_AT_45NM, area=HOROWITZ_ADD32_AREA)
        self.tech_node: float = self.scale(
            "tech_node", tech_node, HOROWITZ_NODE, **_tech_node_scales()
        )
        self.width: int = self.scale("width", width, 32, **_linear_width_scales())

    @action
    def compute(self) -> ActionCost:
        """One conditional add of a weight into the partial sum."""
        return ActionCost(
            energy=HOROWITZ_ADD32_ENERGY, latency=CYCLE_S, throughput=1 / CYCLE_S
        )


class SpikeComparator(ComponentModel):
    """Membrane update and fire unit of a LIF neuron: per time point,
    u <- lambda*u + C[t], spike = (u >= Vth), u <- 0 if it spiked.

    Built from two ``width``-bit adders (:class:`SpikeAccumulator`, source [H]) and one
    ``width``-bit [A] comparator (``AladdinComparator``).
    ASSUMPTION: the leak is lambda = 1 - 2^-k, done as u - (u >> k) (a shift is wiring,
    so one subtract); the integration of C[t] is the second add; the reset to 0 goes
    through the Vmem write (priced by ``vmem_scratchpad``) and its select is not counted.
    """

    component_name = ["spike_comparator", "SpikeComparator"]
    priority = PRIORITY

    def __init__(self, tech_node: float, width: int = 16):
        self.leak = SpikeAccumulator(tech_node, width)
        self.integrate = SpikeAccumulator(tech_node, width)
        self.threshold = aladdin.AladdinComparator(tech_node, width)
        self.tech_node = tech_node
        self.width = width
        super().__init__(subcomponents=[self.leak, self.integrate, self.threshold])

    @action
    def compare(self) -> ActionCost:
        """One leak + integrate + threshold compare (+ reset) step of one neuron."""
        self.leak.compute()
        self.integrate.compute()
        self.threshold.compare()


class _RegisterFile(ComponentModel):
    """Flip-flop register file of ``depth`` entries of ``width`` bits, one port.

    Source [A], 40 nm: 1-bit register, 0.009 pJ per bit read or written, 5.98 um^2 per
    bit (area linear in width * depth). ASSUMPTIONS: per-access energy grows with depth
    as :func:`select_levels` (so a 1-entry file is exactly the [A] register); decoder
    and mux area are not counted; leakage per bit is :data:`FLOP_BIT_LEAK`; reads and
    writes both take one 1 ns cycle at 40 nm.
    """

    def __init__(self, tech_node: float, width: int, depth: int):
        super().__init__(leak_power=FLOP_BIT_LEAK, area=ALADDIN_REG_BIT_AREA)
        self.tech_node: float = self.scale(
            "tech_node", tech_node, ALADDIN_NODE, **_tech_node_scales()
        )
        self.width: int = self.scale("width", width, 1, **_linear_width_scales())
        self.depth: int = self.scale(
            "depth",
            depth,
            1,
            area_scale_function=linear,
            energy_scale_function=select_levels,
            leak_power_scale_function=linear,
        )

    @action(bits_per_action="width")
    def read(self) -> ActionCost:
        """Read one ``width``-bit entry."""
        return ActionCost(
            energy=ALADDIN_REG_BIT_ENERGY, latency=CYCLE_S, throughput=1 / CYCLE_S
        )

    @action(bits_per_action="width")
    def write(self) -> ActionCost:
        """Write one ``width``-bit entry."""
        return ActionCost(
            energy=ALADDIN_REG_BIT_ENERGY, latency=CYCLE_S, throughput=1 / CYCLE_S
        )


class VmemScratchpad(_RegisterFile):
    """Per-PE membrane-potential scratchpad: ``depth`` entries of ``width`` bits in
    latches/flops. Numbers and assumptions: see :class:`_RegisterFile` (source [A]).
    Meant for small files (depth <= 64); larger buffers belong to CACTI's ``SRAM``."""

    component_name = ["vmem_scratchpad", "VmemScratchpad"]
    priority = PRIORITY

    def __init__(self, tech_node: float, width: int = 16, depth: int = 16):
        super().__init__(tech_node, width, depth)


class WeightRegister(_RegisterFile):
    """Per-PE weight register holding one ``width``-bit weight: exactly the [A]
    register, 0.009 pJ per bit read or written and 5.98 um^2 per bit at 40 nm
    (leakage: ASSUMPTION, see :data:`FLOP_BIT_LEAK`)."""

    component_name = ["weight_register", "WeightRegister"]
    priority = PRIORITY

    def __init__(self, tech_node: float, width: int = 8):
        super().__init__(tech_node, width, 1)


class ActivityTagLogic(ComponentModel):
    """Activity-tag logic: a tag is the OR of ``fan_in`` child tags; zero-tagged work
    is neither loaded nor processed.

    ``update`` OR-reduces ``fan_in`` 1-bit tags and writes the tag bit; ``check`` reads
    one tag bit. The tag bit is a 1-bit [A] register (:class:`_RegisterFile`).
    ASSUMPTION: an OR-reduction of ``fan_in`` bits (a zero-detect) costs what a
    ``fan_in``-bit [A] comparator costs (``AladdinComparator``, linear in width); a
    zero-detect is an equality compare against a constant, so this is an upper bound.
    """

    component_name = ["activity_tag_logic", "ActivityTagLogic"]
    priority = PRIORITY

    def __init__(self, tech_node: float, fan_in: int = 8):
        self.reduce = aladdin.AladdinComparator(tech_node, fan_in)
        self.tag = _RegisterFile(tech_node, 1, 1)
        self.tech_node = tech_node
        self.fan_in = fan_in
        super().__init__(subcomponents=[self.reduce, self.tag])

    @action
    def update(self) -> ActionCost:
        """OR-reduce ``fan_in`` child tags and write the tag bit."""
        self.reduce.compare()
        self.tag.write()

    @action
    def check(self) -> ActionCost:
        """Read one tag bit."""
        self.tag.read()


class PEController(ComponentModel):
    """PE controller: one dispatch decision per NTWU (neuron x time window).

    ``dispatch`` steps a ``counter_width``-bit work counter (``AladdinCounter``, [A])
    and compares it with the loop bound (``AladdinComparator``, [A]).
    ASSUMPTIONS: an 8-bit counter by default; the activity-tag check and the weight
    load are priced by ``activity_tag_logic.check`` and ``weight_register.write``, and
    the FSM state flops are not counted.
    """

    component_name = ["pe_controller", "PEController"]
    priority = PRIORITY

    def __init__(self, tech_node: float, counter_width: int = 8):
        self.counter = aladdin.AladdinCounter(tech_node, counter_width)
        self.bound = aladdin.AladdinComparator(tech_node, counter_width)
        self.tech_node = tech_node
        self.counter_width = counter_width
        super().__init__(subcomponents=[self.counter, self.bound])

    @action
    def dispatch(self) -> ActionCost:
        """One NTWU dispatch decision."""
        self.counter.count()
        self.bound.compare()


MODELS: tuple[type[ComponentModel], ...] = (
    SpikeAccumulator,
    SpikeComparator,
    VmemScratchpad,
    WeightRegister,
    ActivityTagLogic,
    PEController,
)
