"""Torch helpers that re-id and the refiner share; nothing here knows about people or datasets
(torchreid and fast-reid keep the same in their utils and engine).

* `torchkit.device`: the device option → a torch device; the amp mode → an autocast dtype
  (`resolve_device`, `autocast_dtype`, `describe_amp`, `cpu_bf16_support`).
* `torchkit.distributed`: torchrun's process group, sharded batches, batch norm over the
  global batch (`process_group`, `DistContext`, `ShardedBatchSampler`).
* `torchkit.saving`: a checkpoint written whole or not at all (`atomic_save`).
"""

# The mixed-precision modes of every trainer's `amp` option (`device.autocast_dtype` reads
# them). Here, not in device.py, so the option modules name them without importing torch.
AMP_MODES = ("auto", "off", "bf16", "fp16")
