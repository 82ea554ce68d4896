"""The SpikingJelly 2.0.0 model zoo as a test: every model class maps end to end (traced,
written as network YAML, loaded, mapped on SpikeX, its recorded statistics paired with every
layer by name) or is refused with its named reason.

Outcomes (README "Model zoo" table): run `pytest -q tests/test_zoo.py -rA` to list them.
"""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikex_plugin.api import run_map  # noqa: E402
from spikex_plugin.errors import SpikeXInputError  # noqa: E402
from spikex_plugin.sparsity.stats import check_stats_match_network  # noqa: E402
from spikex_plugin.training.recorder import SpikeRecorder  # noqa: E402
from spikex_plugin.training.shapes import network_from_model, write_network_yaml  # noqa: E402
from spikex_plugin.workload.network import load_network  # noqa: E402
from zoo_cases import CASES  # noqa: E402

REFUSED = {  # model class -> the reason it is refused
    "SNASNet": "does not run on a multi-step input",  # single-step forward with its own time loop
}
SLOW = {"SpikeDHS"}
NOT_MODELS = {"AuxiliaryHeadCIFAR"}  # SpikeDHS's auxiliary classifier head, a part of SpikeDHS


def outcome(name: str, tmp_path) -> str:
    case = CASES[name]
    try:
        spec = network_from_model(case.build(), case.input_shape, case.T, name, input_bits=case.input_bits)
    except SpikeXInputError as e:
        return f"refused: {e}"
    write_network_yaml(spec, tmp_path / f"{name}.yaml")
    network = load_network(tmp_path / f"{name}.yaml")
    result = run_map("spikex", network, density=0.05, workers=1)
    assert result.energy_j > 0 and math.isfinite(result.edp_js)
    assert [l.name for l in result.layers] == [l.name for l in network.resolved]
    # statistics of a forward pass pair with every layer by name
    model = case.build()
    with SpikeRecorder(model, case.T, ops=True) as rec, torch.no_grad():
        model(torch.rand(case.T, 2, *case.input_shape))
    stats = rec.to_stats(name, network=network)
    check_stats_match_network(stats, network, "stats")
    assert {l.name for l in network.resolved} <= set(stats.layers)
    return "maps"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_zoo_model(name, tmp_path):
    got = outcome(name, tmp_path)
    if name in REFUSED:
        assert got.startswith("refused") and REFUSED[name] in got and name in got
    else:
        assert got == "maps"


def test_zoo_covers_every_model_class():
    """Every public nn.Module class of the zoo's modules taking `num_classes` has a case,
    and at least 90 % of the cases map (test_zoo_model holds each to its outcome)."""
    import importlib
    import inspect
    import pkgutil

    from spikingjelly.activation_based import model as zoo

    classes = set()
    for info in pkgutil.iter_modules(zoo.__path__):
        mod = importlib.import_module(f"{zoo.__name__}.{info.name}")
        for obj in vars(mod).values():
            if (inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and obj.__module__ == mod.__name__
                    and not obj.__name__.startswith("_") and "num_classes" in _init_params(obj)):
                classes.add(obj.__name__)
    assert len(classes) >= 13  # the classifier-building classes found (parametric_lif_net's take no num_classes)
    assert classes - NOT_MODELS <= set(CASES), f"model classes without a case: {sorted(classes - set(CASES))}"
    mapped = len(CASES) - len(REFUSED)
    assert mapped / len(CASES) >= 0.9, f"{mapped}/{len(CASES)} model classes map"


def _init_params(cls) -> set[str]:
    import inspect
    try:
        return set(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return set()
