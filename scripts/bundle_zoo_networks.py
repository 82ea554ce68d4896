"""Regenerate the bundled networks traced from SpikingJelly's model zoo (shapes only):
    PYTHONPATH=. .venv/bin/python scripts/bundle_zoo_networks.py
"""

from pathlib import Path

from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.model import sew_resnet, spikformer, spiking_vgg

from spikex_plugin.training.shapes import network_from_model, write_network_yaml

OUT = Path(__file__).resolve().parent.parent / "spikex_plugin" / "workload" / "networks"
T = 4
NETWORKS = {
    "sew-resnet18-cifar10": (lambda: sew_resnet.sew_resnet18(spiking_neuron=neuron.IFNode, cnf="ADD", num_classes=10),
                             "sew_resnet.sew_resnet18(cnf='ADD', num_classes=10)"),
    "spiking-vgg11-cifar10": (lambda: spiking_vgg.spiking_vgg11(spiking_neuron=neuron.IFNode, num_classes=10),
                              "spiking_vgg.spiking_vgg11(num_classes=10)"),
    "spikformer-cifar10": (lambda: spikformer.spikformer_cifar10(T=T), "spikformer.spikformer_cifar10(T=4)"),
}

for name, (build, call) in NETWORKS.items():
    model = build()
    functional.set_step_mode(model, "m")
    net = network_from_model(model, (3, 32, 32), T, name, input_bits=8)
    header = (f"{name}: traced from SpikingJelly 2.0.0 {call} at 3x32x32, T = {T}, 8-bit image input\n"
              "(shapes only; regenerate with scripts/bundle_zoo_networks.py).")
    write_network_yaml(net, OUT / f"{name}.yaml", header)
    print(f"wrote {name}: {len(net['layers'])} layers")
