"""Kept for scripts and `reid.evaluate`: the device and precision helpers live in
`torchkit.device`, which the refiner shares."""
from torchkit.device import autocast_dtype, cpu_bf16_support, cpu_has_native_bf16, describe_amp, resolve_device

__all__ = ["resolve_device", "autocast_dtype", "describe_amp", "cpu_bf16_support", "cpu_has_native_bf16"]
