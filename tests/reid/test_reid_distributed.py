"""`torchrun --nproc-per-node 2 -m reid train`: real processes on gloo, against one process.

The DDP design keeps the global batch of a one-process run and gives each rank its slice,
with synchronised batch norm, so both runs compute the same thing and differ only by
float32 rounding (partial sums in another order, all-reduced). How far rounding carries is
a property of the network, not of DDP: on these 32×16 stick figures even a one-process
float32 run drifts measurably from the same run in float64 within a few SGD steps, so the
runs are short and the tolerances are stated relative to how far training moved the
weights. The first test fails clearly for per-rank batch norm (measured while writing it:
the weights end ≈ 18 % of the distance trained apart, the epoch losses 4e-4 apart).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_process import run_cli

torch = pytest.importorskip("torch")

from reid.data.augment import Augment  # noqa: E402
from reid.data.cached import CachedBatches  # noqa: E402
from reid.data.samplers import PKBatchSampler  # noqa: E402
from reid.data.synthetic import make_procedural_dataset, small_spec  # noqa: E402
from torchkit.distributed import DistContext, ShardedBatchSampler  # noqa: E402
from reid.engine import load_checkpoint, seed_everything  # noqa: E402
from reid.models import build_model  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.numeric]

# float32 (`--amp off`): the tolerances below are float32 rounding of a different reduction
# order; bf16 (the CPU default where native) would round each rank's half-batch apart.
TINY = ["--height", "32", "--width", "16", "--workers", "0", "--threads", "1", "--dropout", "0",
        "--val-identities", "4", "--val-repeats", "2", "--device", "cpu", "--amp", "off", "-q"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """10 training identities × 4 images (40 crops), 4 validation identities."""
    spec = small_spec(characters=16, images_per_character=4, validation=4, test=2, crop_height=32, seed=3)
    return make_procedural_dataset(tmp_path_factory.mktemp("reid-ddp") / "procedural", spec)


def one_process(cwd: Path, *args):
    result = run_cli("reid", "train", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def two_processes(cwd: Path, *args):
    result = run_cli("torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "reid", "train", *args,
                     cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def relative_weight_difference(a: dict, b: dict, num_classes: int) -> float:
    """|w_a − w_b| / |w_a − w_init| over every float tensor of the model (BN statistics too)."""
    seed_everything(0)  # the run's seed: the run's initial weights
    init = build_model("inception", num_classes, 128, 0.0).state_dict()
    keys = [k for k in a if a[k].is_floating_point()]
    diff = sum(float((a[k].double() - b[k].double()).square().sum()) for k in keys) ** 0.5
    moved = sum(float((a[k].double() - init[k].double()).square().sum()) for k in keys) ** 0.5
    return diff / moved


@pytest.mark.slow
def test_two_ranks_with_a_resume_train_what_one_process_trains(dataset, tmp_path):
    """Decode-once batches with flips (every rank augments the global batch, keeps its slice),
    synchronised batch norm, cross-entropy; the DDP run stops after epoch 1 and resumes."""
    args = ["--data", dataset, *TINY, "--batch-size", "8", "--lr", "0.001"]
    one_process(tmp_path, *args, "--epochs", "2", "--output", tmp_path / "one")
    two_processes(tmp_path, *args, "--epochs", "1", "--output", tmp_path / "two")
    resumed = two_processes(tmp_path, *args, "--epochs", "2", "--resume", "--output", tmp_path / "two")

    printed = json.loads(resumed.stdout)  # rank 0 alone reports
    assert printed["best_checkpoint"] == str(tmp_path / "two" / "best.pt")
    one, two = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(tmp_path / "two" / "last.pt")
    assert two["epoch"] == 2 and [h["epoch"] for h in two["history"]] == [1, 2]
    # Losses and accuracies are all ranks' (all-reduced): the global batch's, as in one process.
    # 1e-5: the epoch means agree to float32 rounding of 5 steps (measured ≤ 2e-6).
    for h1, h2 in zip(one["history"], two["history"]):
        assert h2["loss"] == pytest.approx(h1["loss"], rel=1e-5)
        assert h2["accuracy"] == h1["accuracy"]
        assert "score" in h2 and 0 <= h2["score"] <= 1  # rank 0 validated, every rank agreed
    # 1e-2 of the distance trained: measured 8e-4; per-rank batch norm gives 0.18.
    assert relative_weight_difference(one["model"], two["model"], one["num_classes"]) < 1e-2
    log_csv = (tmp_path / "two" / "log.csv").read_text().splitlines()
    assert len(log_csv) == 3  # header + 2 epochs: one writer
    assert {p.name for p in (tmp_path / "two").iterdir()} == {"best.pt", "last.pt", "history.json", "log.csv"}


@pytest.mark.slow
def test_two_ranks_on_the_reference_loader_with_pk_batches_and_the_triplet_loss(dataset, tmp_path):
    """The per-epoch DataLoader path: P×K batch sampler sharded per rank, batch-hard triplet
    mining on all ranks' features gathered. One global batch of 40 = one step (the
    triplet loss's gradient is ill-conditioned in float32 on near-identical features at
    initialisation, so more steps would measure rounding, not DDP)."""
    args = ["--data", dataset, *TINY, "--no-cache-images", "--no-flip", "--triplet-weight", "1",
            "--num-instances", "4", "--batch-size", "40", "--lr", "0.01", "--epochs", "1"]
    one_process(tmp_path, *args, "--output", tmp_path / "one")
    two_processes(tmp_path, *args, "--output", tmp_path / "two")
    one, two = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(tmp_path / "two" / "last.pt")
    assert two["history"][0]["loss"] == pytest.approx(one["history"][0]["loss"], rel=1e-5)
    # measured 4e-4 (cross-entropy alone: 3e-6)
    assert relative_weight_difference(one["model"], two["model"], one["num_classes"]) < 1e-2


@pytest.mark.slow
def test_batch_size_must_split_evenly_over_the_ranks(dataset, tmp_path):
    result = run_cli("torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "reid", "train",
                     "--data", dataset, *TINY, "--batch-size", "7", "--epochs", "1", "--output", tmp_path / "x",
                     cwd=tmp_path)
    assert result.returncode != 0
    assert "error: --batch-size 7: not a multiple of the 2 processes" in result.stderr
    assert not (tmp_path / "x" / "last.pt").exists()


# ---------------------------------------------------------------------------------------
# Sharding arithmetic (no process group needed: a rank's slice is pure bookkeeping)


def ranks(n: int) -> list[DistContext]:
    return [DistContext(rank=r, world_size=n) for r in range(n)]


def test_slices_of_a_global_batch_tile_it_in_order():
    batch = torch.arange(10)
    for n in (1, 2, 3, 4):
        parts = [ctx.take(batch) for ctx in ranks(n)]
        assert torch.equal(torch.cat(parts), batch)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        # the weighted slice means add up (after DDP's division by n) to the global mean
        x = torch.rand(10, dtype=torch.float64)
        means = [ctx.loss_weight(len(p), 10) * x[p].mean() for ctx, p in zip(ranks(n), parts)]
        assert float(sum(means) / n) == pytest.approx(float(x.mean()), rel=1e-12)


def test_sharded_batch_samplers_give_each_rank_its_slice_without_drawing_extra():
    def shuffled_batches():
        gen = torch.Generator().manual_seed(7)
        return gen, torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(range(11), generator=gen), 4,
                                                  drop_last=False)

    _, single = shuffled_batches()
    expected = list(single)  # [4, 4, 3]
    for ctx in ranks(2):
        gen, batches = shuffled_batches()
        sharded = ShardedBatchSampler(batches, ctx)
        state = gen.get_state()
        assert len(sharded) == 3 and torch.equal(gen.get_state(), state)  # len() draws nothing
        assert list(sharded) == [b[ctx.bounds(len(b))[0]:ctx.bounds(len(b))[1]] for b in expected]
    # a last global batch smaller than the number of ranks is skipped on every rank
    tiny = torch.utils.data.BatchSampler(range(9), 4, drop_last=False)  # [4, 4, 1]
    assert [len(ShardedBatchSampler(tiny, ctx)) for ctx in ranks(2)] == [2, 2]
    assert [list(ShardedBatchSampler(tiny, ctx)) for ctx in ranks(2)] == [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]
    pk = PKBatchSampler([i // 4 for i in range(24)], 8, 4, seed=1)
    slices = [list(ShardedBatchSampler(pk, ctx)) for ctx in ranks(2)]
    assert [a + b for a, b in zip(*slices)] == list(pk)


def test_cached_batches_augment_the_global_batch_and_yield_each_rank_its_slice():
    frames = torch.randint(0, 256, (20, 3, 8, 4), dtype=torch.uint8)
    labels = [i // 2 for i in range(20)]
    augment = Augment(flip=True, pad=1, colour_jitter=0.2, random_erasing=0.5)

    def batches(shard=None):
        cb = CachedBatches(frames, labels, 6, augment, seed=3, shard=shard)
        cb.set_epoch(2)
        return list(cb)

    whole = batches()
    parts = [batches(ctx) for ctx in ranks(2)]
    assert len(whole) == len(parts[0]) == len(parts[1]) == 3
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *parts):
        assert len(y0) == len(y1) == 3
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
