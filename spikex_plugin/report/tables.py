"""Terminal tables of results."""

from __future__ import annotations

from spikex_plugin.hardware.arch import SpikeXArch


def _eng(x: float, unit: str) -> str:
    for scale, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1, "")):
        if abs(x) < scale * 1000:
            return f"{x / scale:8.3f} {prefix}{unit}"
    return f"{x:8.3g} {unit}"


def print_layer_table(data: dict) -> None:
    print(f"{data['network']} on {data['arch']['name']} "
          f"({data['arch']['rows']}x{data['arch']['cols']}, {data['density']})")
    head = (f"{'layer':<8} {'mode':<8} {'tws':>4} {'mapping':<44} {'energy':>12} {'cycles':>12} {'bound':>9} "
            f"{'EDP':>13}")
    print(head)
    print("-" * len(head))
    for l in data["layers"]:
        m = l["mapping"]
        summary = (_ptb_summary(m) if m and m.get("mode") == "ptb"
                   else f"{m['rows']}x{m['cols']} c{m['c_l1']} GLB[m{m['m_glb']} p{m['p_glb']} t{m['tb_glb']}] "
                        f"{m.get('dram_order', 'tmp')}"
                   if m else "OR-pool in tag logic" if l["type"] == "pool"
                   else "AccelForge mapping (outside the template)")
        print(f"{l['name']:<8} {l['mode'] or '-':<8} {l['tws'] or '-':>4} {summary:<44} "
              f"{_eng(l['energy_j'], 'J'):>12} {l['cycles']:12.4g} {l.get('bound') or '-':>9} {l['edp_js']:13.4g}")
    t = data["total"]
    print("-" * len(head))
    print(f"{'total':<66} {_eng(t['energy_j'], 'J'):>12} {t['cycles']:12.4g} {'':>9} {t['edp_js']:13.4g}"
          f"   latency {t['latency_s'] * 1e3:.3f} ms")


def _ptb_summary(m: dict) -> str:
    order = {"weights-stationary": "WS", "spikes-stationary": "SS", "streaming": "stream"}[m["order"]]
    return f"{m['rows']}x{m['cols']} fold{m['fold']} {order} GLB[m{m['m_glb']} p{m['p_glb']} t{m['t_glb']}]"


def print_components(arch: SpikeXArch) -> None:
    print(f"{arch.name}: {arch.rows}x{arch.cols} PEs, clock {arch.clock_hz / 1e6:.0f} MHz, params {dict(arch.params)}")
    print(f"{'component':<14} {'action':<10} {'energy/action':>15} {'area (all instances)':>22}")
    for comp in sorted({c for c, _ in arch.energy}):
        for (c, action), e in sorted(arch.energy.items()):
            if c == comp:
                print(f"{comp:<14} {action:<10} {_eng(e, 'J'):>15} {arch.area.get(comp, 0) * 1e12:18.1f} µm²")
    print(f"total area {arch.total_area * 1e6:.4f} mm²")
