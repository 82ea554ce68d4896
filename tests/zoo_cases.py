"""Every model class of SpikingJelly 2.0.0's `activation_based.model`, at a small input.

Each case builds the model in multi-step mode, its per-sample input shape, the input's bits
(8: image frames, 1: events) and the expected outcome: "maps", or the reason it is refused.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import torch
from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.model import (masnn, maxformer, ms_resnet, parametric_lif_net, qkformer,
                                                 sew_resnet, snas_net, spike_dhs, spike_driven_transformer,
                                                 spikformer, spiking_resnet, spiking_vgg, spiking_vggws_ottt)

T = 2


def multistep(model: torch.nn.Module) -> torch.nn.Module:
    functional.set_step_mode(model, "m")
    return model


@dataclass
class ZooCase:
    build: Callable[[], torch.nn.Module]
    input_shape: tuple[int, ...]
    input_bits: int = 8
    refused: str | None = None
    T: int = T  # the named reason, when the case is refused


IF = {"spiking_neuron": neuron.IFNode}
CASES: dict[str, ZooCase] = {
    "MNISTNet": ZooCase(lambda: multistep(parametric_lif_net.MNISTNet(8, **IF)), (1, 28, 28)),
    "FashionMNISTNet": ZooCase(lambda: multistep(parametric_lif_net.FashionMNISTNet(8, **IF)), (1, 28, 28)),
    "NMNISTNet": ZooCase(lambda: multistep(parametric_lif_net.NMNISTNet(8, **IF)), (2, 34, 34), 1),
    "CIFAR10Net": ZooCase(lambda: multistep(parametric_lif_net.CIFAR10Net(8, **IF)), (3, 32, 32)),
    "CIFAR10DVSNet": ZooCase(lambda: multistep(parametric_lif_net.CIFAR10DVSNet(8, **IF)), (2, 128, 128), 1),
    "DVSGestureNet": ZooCase(lambda: multistep(parametric_lif_net.DVSGestureNet(8, **IF)), (2, 128, 128), 1),
    "SpikingVGG": ZooCase(lambda: multistep(spiking_vgg.spiking_vgg11_bn(**IF, num_classes=10)), (3, 32, 32)),
    "OTTTSpikingVGG": ZooCase(lambda: multistep(spiking_vggws_ottt.ottt_spiking_vgg11_ws(**IF, num_classes=10)),
                                (3, 32, 32)),
    "SpikingResNet": ZooCase(lambda: multistep(spiking_resnet.spiking_resnet18(**IF, num_classes=10)), (3, 32, 32)),
    "SEWResNet": ZooCase(lambda: multistep(sew_resnet.sew_resnet18(**IF, cnf="ADD", num_classes=10)), (3, 32, 32)),
    "MSResNet": ZooCase(lambda: multistep(ms_resnet.ms_resnet18(T=T, num_classes=10)), (3, 32, 32)),
    "MaxResNet": ZooCase(lambda: multistep(ms_resnet.max_resnet18(T=T, num_classes=10)), (3, 32, 32)),
    "AttMSResNet": ZooCase(lambda: multistep(masnn.att_ms_resnet18(T=T, num_classes=10)), (3, 32, 32)),
    "MASNN": ZooCase(lambda: multistep(masnn.MASNN(T=T, channels=(8, 16, 16), fc_hidden=32, reduction_t=1)),
                     (2, 32, 32), 1),
    "Spikformer": ZooCase(lambda: multistep(spikformer.Spikformer(T=T, img_size_h=32, img_size_w=32, patch_size=4,
                                                                  num_classes=10, embed_dims=64, num_heads=4,
                                                                  depths=1)), (3, 32, 32)),
    "SpikeDrivenTransformer": ZooCase(lambda: multistep(spike_driven_transformer.SpikeDrivenTransformer(
        T=T, num_classes=10, embed_dims=64, num_heads=4, depths=1)), (3, 32, 32)),
    "QKFormer": ZooCase(lambda: multistep(qkformer.QKFormer(T=T, num_classes=10, embed_dims=64, num_heads=(2, 4, 4),
                                                            depths=(1, 1, 1))), (3, 32, 32)),
    "MaxFormer": ZooCase(lambda: multistep(maxformer.MaxFormer(T=T, num_classes=10, embed_dims=64, depths=(1, 1, 1),
                                                               cifar=True)), (3, 32, 32)),
    "SNASNet": ZooCase(lambda: snas_net.SNASNet(argparse.Namespace(
        timestep=T, second_avgpooling=2, dataset="cifar10", celltype="backward", threshold=1.0, tau=2.0),
        torch.ones(4, 4, dtype=torch.long)), (3, 32, 32)),
    "SpikeDHS": ZooCase(lambda: multistep(spike_dhs.SpikeDHS(3, argparse.Namespace(
        fea_step=3, fea_num_layers=8, fea_block_multiplier=3, fea_filter_multiplier=48))), (3, 32, 32), T=6),
}
