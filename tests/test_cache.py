"""The disk cache: a warm `spikex map` needs neither AccelForge, numba nor scipy, a changed spec is
priced anew, a corrupt entry is ignored and rewritten, and bad input is reported before
any heavy import."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from spikex_plugin import cache
from spikex_plugin.cost_model.column_line import issued_step_cycles, line_table
from spikex_plugin.hardware.arch import arch_cache_key, forget_loaded_archs, load_arch, resolve_arch_path

HEAVY = ("accelforge", "hwcomponents", "numba", "scipy", "matplotlib", "torch")
ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPIKEX_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


LOADED = "import sys, json; print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))"


def test_warm_map_imports_neither_accelforge_numba_nor_scipy(tmp_path):
    code = ("from spikex_plugin.api import run_map\n"
            "r = run_map('spikex', 'nmnist', 0.01, workers=1, curves=True)\n"
            "print(r.edp_js)\n" + LOADED.format(heavy=HEAVY))
    cold, warm = run_python(code, tmp_path), run_python(code, tmp_path)
    assert cold.returncode == 0 and warm.returncode == 0, cold.stderr + warm.stderr
    cold_edp, cold_mods = cold.stdout.split("\n")[:2]
    warm_edp, warm_mods = warm.stdout.split("\n")[:2]
    assert warm_edp == cold_edp                             # same result from the cache
    assert {"accelforge", "numba"} <= set(json.loads(cold_mods))
    assert not {"accelforge", "hwcomponents", "numba", "scipy"} & set(json.loads(warm_mods))
    assert list((tmp_path / "arch").glob("*.pickle")) and list((tmp_path / "column-line").glob("*.pickle"))


def test_bad_input_is_reported_before_heavy_imports(tmp_path):
    for argv in (["map", "--density", "1.5"], ["map", "--density", "abc"],
                 ["map", "--profile", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")],
                 ["map", "--network", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")],
                 ["map", "--arch", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]):
        code = ("from spikex_plugin.cli import main\n"
                f"code = main({argv!r})\n" + LOADED.format(heavy=HEAVY) + "\nprint(code)")
        p = run_python(code, tmp_path)
        loaded, status = p.stdout.split("\n")[:2]
        assert status == "2", (argv, p.stdout, p.stderr)
        assert json.loads(loaded) == [], argv
        assert "error" in p.stderr and not (tmp_path / "o").exists()


def test_changed_spec_is_priced_anew(tmp_path):
    spec = tmp_path / "small.yaml"
    text = resolve_arch_path("spikex").read_text()
    assert "GLB_KB | default(54)" in text
    spec.write_text(text.replace("GLB_KB | default(54)", "GLB_KB | default(32)"))
    assert arch_cache_key(spec, {}) != arch_cache_key(resolve_arch_path("spikex"), {})
    small, default = load_arch(spec), load_arch("spikex")
    assert small.sizes_bits["GLB"] == 32 * 8192 and default.sizes_bits["GLB"] == 54 * 8192
    assert small.energy[("GLB", "read")] < default.energy[("GLB", "read")]   # CACTI priced the smaller SRAM


def test_corrupt_entries_are_ignored_and_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEX_CACHE_DIR", str(tmp_path))
    fresh = load_arch("spikex", ROWS=4)
    entry = cache.entry("arch", arch_cache_key(resolve_arch_path("spikex"), {"ROWS": 4}))
    assert entry.is_file()
    entry.write_bytes(b"\x80\x04 not a pickle")
    forget_loaded_archs()
    again = load_arch("spikex", ROWS=4)
    assert again.energy == fresh.energy and again.rows == 4
    assert pickle.loads(entry.read_bytes()).energy == fresh.energy   # rewritten whole
    entry.write_bytes(pickle.dumps({"not": "an arch"}))            # readable, but the wrong thing
    forget_loaded_archs()
    assert load_arch("spikex", ROWS=4).energy == fresh.energy


def test_column_line_table_survives_a_corrupt_file(tmp_path, monkeypatch):
    from spikex_plugin.cost_model import column_line

    monkeypatch.setenv("SPIKEX_CACHE_DIR", str(tmp_path))
    pmf, cols = (0.5, 0.3, 0.2), 3
    value = issued_step_cycles.__wrapped__(pmf, cols, 1.0)
    column_line.save_line_tables()
    files = list((tmp_path / "column-line").glob("*.pickle"))
    assert files
    for f in files:
        f.write_bytes(b"garbage")
    monkeypatch.setattr(column_line, "_TABLES", {})
    monkeypatch.setattr(column_line, "_SAVED", {})
    assert line_table(pmf, cols, 4096) == {}                      # the corrupt file reads as empty
    assert issued_step_cycles.__wrapped__(pmf, cols, 1.0) == pytest.approx(value, rel=0, abs=0)
