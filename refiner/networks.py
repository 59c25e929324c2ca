"""CycleGAN's networks: the ResNet generator, the PatchGAN discriminator and weight init.

Layer for layer as in the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
`models/networks.py`), so parameter counts match it: a ResNet-9 generator with ngf = 64 has
11,378,179 parameters, a 3-layer PatchGAN with ndf = 64 has 2,764,737. Both networks are
fully convolutional, so any height × width divisible by 4 works, square or not.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from .options import RefinerOptions


def norm_layer(kind: str):
    """A constructor `f(channels) -> nn.Module` for the chosen normalisation."""
    if kind == "instance":  # the reference's choice: no affine parameters, no running stats
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"norm {kind!r}: must be instance, batch or none")


def _uses_bias(kind: str) -> bool:
    # BatchNorm has its own affine shift, so convs before it need no bias (reference rule).
    return kind != "batch"


class ResnetBlock(nn.Module):
    """conv-norm-relu-conv-norm with reflection padding and a skip connection."""

    def __init__(self, dim: int, norm: str, use_dropout: bool):
        super().__init__()
        make_norm, bias = norm_layer(norm), _uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim),
                                   nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, n_blocks × R4ngf, u2ngf, ungf, c7s1-3 with tanh output in [-1, 1]."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9):
        super().__init__()
        make_norm, bias = norm_layer(norm), _uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf),
                                   nn.ReLU(True)]
        for i in range(2):  # downsampling
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       make_norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       make_norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, each seeing a 70×70 patch when n_layers = 3."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        make_norm, bias = norm_layer(norm), _uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias), make_norm(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias), make_norm(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02, generator: torch.Generator | None = None
                 ) -> nn.Module:
    """The reference init: conv weights N(0, gain) (or xavier/kaiming/orthogonal), biases 0,
    BatchNorm weights N(1, gain)."""
    def init(m: nn.Module):
        name = type(m).__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain, generator=generator)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain, generator=generator)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in", generator=generator)
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain, generator=generator)
            else:
                raise ValueError(f"init_type {init_type!r}: must be normal, xavier, kaiming or orthogonal")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, gain, generator=generator)
            nn.init.zeros_(m.bias)

    net.apply(init)
    return net


def build_generator(opts: RefinerOptions, input_nc: int | None = None, output_nc: int | None = None) -> ResnetGenerator:
    return ResnetGenerator(input_nc or opts.input_nc, output_nc or opts.output_nc, opts.ngf, opts.norm,
                           opts.use_dropout, opts.n_blocks)


def build_discriminator(opts: RefinerOptions, input_nc: int | None = None) -> NLayerDiscriminator:
    return NLayerDiscriminator(input_nc or opts.output_nc, opts.ndf, opts.n_layers_d, opts.norm)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
