"""The examples in docs/api.md run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)


def test_api_doc_has_the_examples():
    blocks = examples()
    assert len(blocks) == 2
    assert "run_map" in blocks[0] and "SpikeRecorder" in blocks[1]


def test_api_example_runs(capsys):
    ns: dict = {}
    exec(compile(examples()[0], str(API_DOC), "exec"), ns)
    assert "EDP with bursty statistics" in capsys.readouterr().out
    assert ns["arch"].rows == 16 and ns["bursty"].edp_js > 0


def test_recorder_example_runs(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    ns: dict = {}
    exec(compile(examples()[1], str(API_DOC), "exec"), ns)
    layers = ns["stats"].layers
    assert list(layers) == ["0", "2", "4"]  # conv, pool, linear: the modules' qualified names
    # The conv reads the input itself: Bernoulli(0.1) over 5 x 2 x 8 x 8 x 8 = 5120 values.
    assert layers["0"].rate == pytest.approx(0.1, abs=0.02)
    assert capsys.readouterr().out.startswith("{'0': ")


def test_readme_default_job_runs(tmp_path, capsys):
    """The README's first command (a bundled network with its bundled trained profile, named
    by profile name) maps, and result.json records which profile file it read."""
    import hashlib
    import json

    from spikex_plugin.cli import main

    readme = (ROOT / "README.md").read_text()
    job = re.search(r"\.venv/bin/spikex (map [^\n]*?) --out out/default", readme)
    assert job, "README's default job not found"
    out = tmp_path / "default"
    assert main(job.group(1).split() + ["--out", str(out)]) == 0
    data = json.loads((out / "result.json").read_text())
    profile = data["inputs"]["profile"]
    assert profile["sha256"] == hashlib.sha256(Path(profile["path"]).read_bytes()).hexdigest()
    assert data["total"]["energy_j"] > 0 and len(data["layers"]) == 8
