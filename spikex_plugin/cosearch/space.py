"""The hardware search space, and pricing of its points without one AccelForge run per point.

Pricing a spec with AccelForge + CACTI costs about a second, but each part depends on few
knobs: the GLB and L1 SRAMs only on their own size, the PE parts (Vmem, weight register,
accumulator, comparator, tag logic, controller) only on the weight width, and the array
size only multiplies the per-PE area and leakage. `ComponentPrices` therefore prices each
distinct GLB size, L1 size and weight width once (a dozen `load_arch` calls for the default
2,000-point grid) and `compose` assembles any point in microseconds; the tests check a
composed point against `load_arch` with the same parameters.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch, load_arch, resolve_arch_path

SHARED = ("DRAM", "GLB", "L1")
"""Components with one instance per chip; every other priced part sits in each PE."""
KNOBS = ("ROWS", "COLS", "GLB_KB", "L1_KB", "WEIGHT_BITS")


@dataclass(frozen=True)
class ArchPoint:
    rows: int
    cols: int
    glb_kb: int
    l1_kb: int
    weight_bits: int

    @property
    def key(self) -> str:
        return f"r{self.rows}c{self.cols}g{self.glb_kb}l{self.l1_kb}w{self.weight_bits}"

    def params(self) -> dict[str, int]:
        return dict(zip(KNOBS, (self.rows, self.cols, self.glb_kb, self.l1_kb, self.weight_bits)))


@dataclass(frozen=True)
class SearchSpace:
    """Grid of array shapes, buffer sizes (KB) and weight widths, plus chip constraints.
    Per-layer TWS and dispatch mode are searched by the mapper inside every point."""
    rows: tuple[int, ...] = (2, 4, 8, 16, 32)
    cols: tuple[int, ...] = (2, 4, 8, 16, 32)
    glb_kb: tuple[int, ...] = (16, 32, 54, 64, 96, 128, 192, 256)
    l1_kb: tuple[int, ...] = (1, 2, 4, 8, 16)
    weight_bits: tuple[int, ...] = (8, 16)
    max_area_mm2: float | None = None
    max_onchip_kb: float | None = None

    def validate(self) -> "SearchSpace":
        for name in ("rows", "cols", "glb_kb", "l1_kb", "weight_bits"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise SpikeXInputError(f"--{name.replace('_', '-')}", name,
                                       f"{list(values)} must be a non-empty list of positive integers")
        for name in ("max_area_mm2", "max_onchip_kb"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpikeXInputError(f"--{name.replace('_', '-')}", name, f"{value} must be > 0")
        return self

    def grid(self) -> list[ArchPoint]:
        return [ArchPoint(*p) for p in itertools.product(
            sorted(set(self.rows)), sorted(set(self.cols)), sorted(set(self.glb_kb)), sorted(set(self.l1_kb)),
            sorted(set(self.weight_bits)))]

    def to_dict(self) -> dict:
        return {k: sorted(set(v)) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def onchip_kb(arch: SpikeXArch) -> float:
    """GLB + L1 + every PE's Vmem and weight register, in KB."""
    s = arch.sizes_bits
    return (s["GLB"] + s["L1"] + arch.rows * arch.cols * (s["Vmem"] + s["WReg"])) / 8192


_PRICED: dict[tuple[str, tuple], SpikeXArch] = {}
"""Priced parts by (spec path, parameters), kept for later searches in this process."""


def _price_one(job: tuple[str, tuple]) -> SpikeXArch:
    return load_arch(job[0], **dict(job[1]))


def sample_order(points: list[ArchPoint], seed: int) -> list[ArchPoint]:
    """A seeded permutation: `--points N` takes its first N, so a larger N (or a resumed
    run) extends, never reshuffles, what an earlier run evaluated."""
    return [points[i] for i in np.random.default_rng(seed).permutation(len(points))]


@dataclass
class ComponentPrices:
    """Priced parts of one spec: per weight width (PE parts, at the spec's array size), per
    GLB size and per L1 size. `fixed` are the spec parameters held constant (tech node,
    clock, DRAM bandwidth, ...)."""
    spec: str
    fixed: dict
    pe: dict[int, SpikeXArch]
    glb: dict[int, SpikeXArch]
    l1: dict[int, SpikeXArch]

    @classmethod
    def price(cls, spec: str | Path, space: SearchSpace, pool: Executor | None = None, **fixed) -> "ComponentPrices":
        """Price every weight width, GLB size and L1 size of `space` (in `pool` if given)."""
        clash = set(fixed) & set(KNOBS)
        if clash:
            raise SpikeXInputError("--set", sorted(clash)[0], "is a searched knob; set its choices instead")
        path = str(resolve_arch_path(spec).resolve())
        jobs = [("WEIGHT_BITS", w) for w in sorted(set(space.weight_bits))] + \
            [("GLB_KB", g) for g in sorted(set(space.glb_kb))] + [("L1_KB", k) for k in sorted(set(space.l1_kb))]
        keys = [(path, tuple(sorted({**fixed, knob: v}.items()))) for knob, v in jobs]
        todo = [k for k in dict.fromkeys(keys) if k not in _PRICED]
        _PRICED.update(zip(todo, (pool.map if pool and len(todo) > 1 else map)(_price_one, todo)))
        by = {knob: {v: _PRICED[key] for (k, v), key in zip(jobs, keys) if k == knob}
              for knob in ("WEIGHT_BITS", "GLB_KB", "L1_KB")}
        return cls(path, dict(fixed), by["WEIGHT_BITS"], by["GLB_KB"], by["L1_KB"])

    def compose(self, p: ArchPoint) -> SpikeXArch:
        """The architecture of point `p`, equal to `load_arch(spec, **fixed, **p.params())`."""
        base, glb, l1 = self.pe[p.weight_bits], self.glb[p.glb_kb], self.l1[p.l1_kb]
        scale = p.rows * p.cols / (base.rows * base.cols)
        own = {"GLB": glb, "L1": l1}

        def per_comp(table: dict[str, float], attr: str) -> dict[str, float]:
            return {c: getattr(own[c], attr)[c] if c in own else v if c in SHARED else v * scale
                    for c, v in table.items()}

        energy = {k: own[k[0]].energy[k] if k[0] in own else v for k, v in base.energy.items()}
        return replace(base, params=tuple(sorted({**self.fixed, **p.params()}.items())), rows=p.rows, cols=p.cols,
                       sizes_bits={**base.sizes_bits, "GLB": glb.sizes_bits["GLB"], "L1": l1.sizes_bits["L1"]},
                       bits_per_action={**base.bits_per_action, "GLB": glb.bits_per_action["GLB"],
                                        "L1": l1.bits_per_action["L1"]},
                       energy=energy, area=per_comp(base.area, "area"), leak_w=per_comp(base.leak_w, "leak_w"))
