"""Re-id speed benchmark: vectorised evaluation vs a per-query loop, training throughput.

    python benchmarks/bench_reid.py [--quick] [--dim 128] [--threads 1,0] [--repeat 3] [--eval-only]
    python benchmarks/bench_reid.py --step-variants 20

1. Market-1501-sized evaluation (3,368 queries × 15,913 gallery, 751 test identities,
   distractors, 6 cameras) on random embeddings, distances + CMC + mAP, once per torch
   thread count of ``--threads``: a straightforward per-query loop (torch distances as
   torchreid computes them, then per query a numpy argsort, CMC and AP, as torchreid's
   ``eval_market1501``) against ``reid.metrics`` ranking straight from the embeddings
   and from a distance matrix (numpy and torch backends); all in this run, same inputs,
   results checked equal; on a GPU also the GPU path. Target: ≥ 10× faster.
2. Open-ReID ``cuhk03`` CMC on a CUHK03-sized test set (1,400 images).
3. Training images per second (forward + backward + SGD step on random batches) of the
   study's Inception network at 144×56 and ResNet-50 at 256×128, on CPU and on the GPU
   when there is one.
4. The study's whole training recipe (``reid.engine.train``: Inception, softmax, 144×56,
   batch 64, validation every epoch) on a procedural dataset on disk, two ways in this
   run: the reference path (per-epoch JPEG decoding and PIL resizing in 2 DataLoader
   worker processes, NCHW, float32) against the decode-once path (crops decoded once, tensor
   augmentation in the training process, channels-last) in float32 and as the default
   (``amp = "auto"``: bf16 autocast on a CPU with native bf16, AVX-512 BF16 or AMX; float32
   elsewhere). Wall time of the whole call, decoding included. Target: ≥ 2× faster.
5. ``--step-variants STEPS`` (alone): the training step in float32 eager at batch 64 against
   ``torch.compile`` at batch 64 and eager at batch 128, taking turns step by step.

`main()` returns the figures as a dict and prints a table.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def market_sized_case(dim: int, seed: int = 0, num_query: int = 3368, num_gallery: int = 15913):
    rng = np.random.default_rng(seed)
    ids = np.arange(1, 752)
    centres = rng.normal(size=(752, dim)).astype(np.float32)
    g_pids = rng.choice(ids, num_gallery)
    g_pids[rng.random(num_gallery) < 0.2] = 0  # distractors
    q_pids = rng.choice(ids, num_query)
    g_cams, q_cams = rng.integers(1, 7, num_gallery), rng.integers(1, 7, num_query)
    gf = centres[g_pids] + 1.5 * rng.normal(size=(num_gallery, dim)).astype(np.float32)
    qf = centres[q_pids] + 1.5 * rng.normal(size=(num_query, dim)).astype(np.float32)
    return qf, gf, q_pids, g_pids, q_cams, g_cams


def per_query_loop(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=100):
    """The straightforward evaluation, as torchreid's ``eval_market1501``: per query, a numpy
    argsort of its row, then CMC and AP from the sorted matches (junk −1 also removed)."""
    all_cmc, all_ap = [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i])
        matches = g_pids[order] == q_pids[i]
        keep = ~((matches & (g_cams[order] == q_cams[i])) | (g_pids[order] == -1))
        raw = matches[keep]
        if not raw.any():
            continue
        cmc = raw.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        all_ap.append((raw.cumsum() / np.arange(1, len(raw) + 1) * raw).sum() / raw.sum())
    return np.mean(all_cmc, 0), float(np.mean(all_ap))


def _best_time(fn, repeat: int, sync=lambda: None):
    """(result, fastest wall time of `repeat` runs)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return out, best


def bench_evaluation(dim: int, quick: bool, repeat: int = 1, gpu: bool = False) -> dict:
    """Market-1501-sized evaluation, every variant in this process with the current torch
    thread setting: the per-query loop (torch distances + numpy argsort per query) against
    the vectorised ranking straight from the embeddings and from a distance matrix."""
    import torch

    from reid import metrics

    nq, ng = (800, 4000) if quick else (3368, 15913)
    qf, gf, q_pids, g_pids, q_cams, g_cams = market_sized_case(dim, num_query=nq, num_gallery=ng)
    ids = (q_pids, g_pids, q_cams, g_cams)
    q, g = torch.from_numpy(qf), torch.from_numpy(gf)

    def loop():
        dist = metrics.pairwise_distance(q, g, squared=True).numpy()  # as torchreid: squared, in torch
        return per_query_loop(dist, *ids)

    def from_features():
        return metrics.market1501_cmc_map_from_features(q, g, *ids, max_rank=100)

    def from_matrix(backend):
        def run():
            dist = metrics.pairwise_distance(q, g, squared=True)
            return metrics.market1501_cmc_map(dist, *ids, max_rank=100, backend=backend)
        return run

    (ref_cmc, ref_map), t_loop = _best_time(loop, repeat)
    _, t_dist = _best_time(lambda: metrics.pairwise_distance(q, g, squared=True), repeat)
    (cmc, m_ap, _), t_feat = _best_time(from_features, repeat)
    (cmc_m, m_ap_m, _), t_matrix = _best_time(from_matrix("numpy"), repeat)
    (cmc_t, m_ap_t, _), t_torch = _best_time(from_matrix("torch"), 1)
    diff = max(np.abs(c - ref_cmc).max() for c in (cmc, cmc_m, cmc_t))
    diff = max(diff, *(abs(m - ref_map) for m in (m_ap, m_ap_m, m_ap_t)))
    out = {"torch_threads": torch.get_num_threads(), "eval_queries": nq, "eval_gallery": ng, "eval_dim": dim,
           "eval_loop_s": t_loop, "eval_distance_s": t_dist, "eval_features_s": t_feat, "eval_matrix_s": t_matrix,
           "eval_matrix_torch_backend_s": t_torch, "eval_speedup": t_loop / t_feat,
           "eval_speedup_matrix": t_loop / t_matrix,
           # both sides minus the same distance computation: the ranking alone
           "eval_ranking_speedup": (t_loop - t_dist) / max(t_matrix - t_dist, 1e-9), "eval_rank1": float(cmc[0]), "eval_mAP": m_ap,
           "eval_max_abs_diff": float(diff)}
    if gpu and torch.cuda.is_available():
        qc, gc = q.cuda(), g.cuda()
        metrics.market1501_cmc_map_from_features(qc, gc, *ids, max_rank=100)  # warm-up: kernels, allocator
        (cmc_g, m_ap_g, _), t_gpu = _best_time(lambda: metrics.market1501_cmc_map_from_features(
            qc, gc, *ids, max_rank=100), max(repeat, 3), torch.cuda.synchronize)
        out.update(eval_gpu_s=t_gpu, eval_speedup_gpu=t_loop / t_gpu,
                   eval_gpu_max_abs_diff=float(max(np.abs(cmc_g - cmc).max(), abs(m_ap_g - m_ap))))
    return out


def bench_cuhk03() -> dict:
    from reid import metrics

    rng = np.random.default_rng(1)
    pids = np.repeat(np.arange(1, 101), 14)[:1400]
    cams = np.tile(np.repeat([1, 2], 7), 100)[:1400]
    d = rng.random((1400, 1400))
    t0 = time.perf_counter()
    metrics.cmc(d, pids, pids, cams, cams, protocol="cuhk03", rng=np.random.RandomState(0))
    return {"cuhk03_cmc_1400_s": time.perf_counter() - t0}


def training_step(model, opt, x, y, amp=None) -> None:
    """One softmax training step on a batch, as `reid.engine` takes it (autocast when `amp` is a dtype)."""
    import torch

    with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        loss = torch.nn.functional.cross_entropy(model(x).logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def bench_training(device_name: str, iters: int, quick: bool) -> dict:
    """Training images per second on random batches; on a GPU also with the default mixed
    precision (``amp = "auto"``: bf16 where the GPU has it) and channels-last, as `reid.engine`
    trains there, so the figure says what AMP is worth on that card."""
    import torch

    from torchkit.device import autocast_dtype
    from reid.models import build_model

    out = {}
    dev = torch.device(device_name)
    cases = (("inception", (144, 56), 32), ("resnet50", (256, 128), 16 if dev.type == "cpu" else 64))
    modes = [("", None)] if dev.type == "cpu" else [("", None), ("_amp", autocast_dtype("auto", dev))]
    for (arch, (h, w), batch), (suffix, amp) in itertools.product(cases, modes):
        if quick and dev.type == "cpu" and arch == "resnet50":
            continue
        torch.manual_seed(0)
        model = build_model(arch, 500).to(dev).train()
        x = torch.randn(batch, 3, h, w, device=dev)
        if amp is not None:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        y = torch.randint(0, 500, (batch,), device=dev)
        n = iters if dev.type == "cpu" else 5 * iters
        for i in range(n + 1):
            if i == 1:  # the first step warms up allocators and kernels
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            training_step(model, opt, x, y, amp)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[f"train_{arch}_{dev.type}{suffix}_img_per_s"] = n * batch / (time.perf_counter() - t0)
    return out


def bench_training_pipeline(epochs: int, characters: int, crop_height: int = 160) -> dict:
    """Seconds for `epochs` epochs of `reid.engine.train` with the reference data path, the
    decode-once channels-last path in float32, and the default (that path with `amp = "auto"`:
    bf16 on a CPU with native bf16), same dataset, same options otherwise."""
    import logging
    import tempfile

    import torch

    from reid.data.synthetic import make_procedural_dataset, small_spec
    from torchkit.device import describe_amp
    from reid.engine import CPU_BF16_BY_DEFAULT, train
    from reid.options import TrainOptions

    logging.getLogger("reid").setLevel(logging.WARNING)
    amp_choice = describe_amp("auto", torch.device("cpu"), cpu_auto=CPU_BF16_BY_DEFAULT)
    print(f"the default path trains with {amp_choice}", flush=True)
    out: dict = {"amp_auto": amp_choice}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_procedural_dataset(Path(tmp) / "data", small_spec(characters, 8, validation=10, test=0,
                                                                      crop_height=crop_height))
        variants = {"reference": dict(cache_images=False, channels_last="off", workers=2, amp="off"),
                    "float32": dict(cache_images=True, channels_last="on", workers=0, amp="off"),
                    "default": dict(cache_images=True, channels_last="auto", workers=0, amp="auto")}
        for name, kw in variants.items():
            opt = TrainOptions(data=str(data), output=str(Path(tmp) / name), epochs=epochs, progress=False,
                               num_test=0, **kw)
            t0 = time.perf_counter()
            result = train(opt)
            seconds = time.perf_counter() - t0
            images = sum(h["images_per_second"] * h["seconds"] for h in result.history)
            out[f"train_pipeline_{name}_s"] = seconds
            out[f"train_pipeline_{name}_img_per_s"] = images / seconds
        out["train_pipeline_images_per_epoch"] = int(round(images / epochs))
    ref = out["train_pipeline_reference_s"]
    out["train_pipeline_speedup"] = ref / out["train_pipeline_default_s"]
    out["train_pipeline_float32_speedup"] = ref / out["train_pipeline_float32_s"]
    print(f"training recipe ({out['train_pipeline_images_per_epoch']} images/epoch × {epochs} epochs, "
          f"{crop_height}-px crops): reference path {ref:.1f} s, decode-once float32 "
          f"{out['train_pipeline_float32_s']:.1f} s = {out['train_pipeline_float32_speedup']:.2f}×, default "
          f"(amp auto) {out['train_pipeline_default_s']:.1f} s = {out['train_pipeline_speedup']:.2f}× (target ≥ 2×)",
          flush=True)
    return out


def bench_step_variants(iters: int, threads: int) -> dict:
    """The study's Inception training step at 144×56 on the CPU in float32, three ways side by
    side in this run: eager at batch 64 (the recipe), `torch.compile` at batch 64 (compile time
    reported apart: it is paid once per run) and eager at batch 128. Images per second over the
    same number of steps after a warm-up step; the variants take turns step by step, so a busy
    machine slows each of them alike."""
    import torch

    from reid.models import build_model

    torch.set_num_threads(threads)
    variants = {}
    for name, batch, compiled in (("eager_b64", 64, False), ("compiled_b64", 64, True), ("eager_b128", 128, False)):
        torch.manual_seed(0)
        model = build_model("inception", 500).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

        def step(model=model, opt=opt, x=torch.randn(batch, 3, 144, 56), y=torch.randint(0, 500, (batch,))):
            training_step(model, opt, x, y)

        fn = torch.compile(step) if compiled else step
        t0 = time.perf_counter()
        fn()  # warm-up; for the compiled variant this is the compilation
        variants[name] = {"fn": fn, "batch": batch, "first_s": time.perf_counter() - t0, "s": 0.0}
    for _ in range(iters):
        for v in variants.values():
            t0 = time.perf_counter()
            v["fn"]()
            v["s"] += time.perf_counter() - t0
    out = {f"step_{name}_img_per_s": iters * v["batch"] / v["s"] for name, v in variants.items()}
    out["step_compile_s"] = variants["compiled_b64"]["first_s"] - variants["eager_b64"]["first_s"]
    out["step_compile_speedup"] = out["step_compiled_b64_img_per_s"] / out["step_eager_b64_img_per_s"]
    out["step_batch128_speedup"] = out["step_eager_b128_img_per_s"] / out["step_eager_b64_img_per_s"]
    out["step_threads"] = threads
    return out


def main(argv: list[str] | None = None) -> dict:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller evaluation case, fewer training steps")
    ap.add_argument("--dim", type=int, default=128, help="embedding size (128 inception, 2048 resnet50)")
    ap.add_argument("--threads", default="1,0",
                    help="torch CPU thread counts to run the evaluation with, comma-separated (0 = torch's default; "
                         "default: 1 and torch's default)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per evaluation variant; the fastest counts")
    ap.add_argument("--eval-only", action="store_true", help="skip the cuhk03 and training figures")
    ap.add_argument("--training-only", action="store_true", help="only the training figures")
    ap.add_argument("--step-variants", type=int, default=0, metavar="STEPS",
                    help="only the training step's variants (eager, torch.compile, batch 128; float32 CPU), "
                         "STEPS timed steps each")
    args = ap.parse_args(argv if argv is not None else [])
    if args.step_variants < 0:
        ap.error(f"--step-variants {args.step_variants}: give a number of steps ≥ 1 (0: off)")
    default_threads = torch.get_num_threads()
    res: dict = {}
    if args.step_variants:
        res.update(bench_step_variants(args.step_variants, default_threads))
        for k, v in res.items():
            print(f"{k:40s} {v:.4g}" if isinstance(v, float) else f"{k:40s} {v}")
        return res
    thread_counts = dict.fromkeys(int(t) or default_threads for t in args.threads.split(","))
    for i, threads in enumerate([] if args.training_only else thread_counts):
        torch.set_num_threads(threads)
        ev = bench_evaluation(args.dim, args.quick, args.repeat, gpu=i == 0)
        res.update({f"{k}@{ev['torch_threads']}t" if k.startswith("eval_") and "gpu" not in k else k: v
                    for k, v in ev.items() if k != "torch_threads"})
        print(f"Market-1501-sized evaluation ({ev['eval_queries']:,} × {ev['eval_gallery']:,}, {args.dim}-d, "
              f"{ev['torch_threads']} torch threads): per-query loop {ev['eval_loop_s']:.2f} s "
              f"(distances {ev['eval_distance_s']:.2f} s), vectorised {ev['eval_features_s']:.2f} s from the "
              f"embeddings = {ev['eval_speedup']:.1f}×, {ev['eval_matrix_s']:.2f} s from a distance matrix = "
              f"{ev['eval_speedup_matrix']:.1f}× (target ≥ 10×); ranking alone "
              f"{ev['eval_ranking_speedup']:.0f}× faster", flush=True)
    torch.set_num_threads(default_threads)
    res["torch_threads"] = default_threads
    if not args.eval_only:
        if not args.training_only:
            res.update(bench_cuhk03())
        res.update(bench_training("cpu", 2 if args.quick else 4, args.quick))
        res.update(bench_training_pipeline(1 if args.quick else 2, 30 if args.quick else 60))
        if torch.cuda.is_available():
            res.update(bench_training("cuda", 4, args.quick))
    if torch.cuda.is_available():
        res["gpu"] = torch.cuda.get_device_name(0)
    print(f"\n{'figure':40s} value")
    for k, v in res.items():
        print(f"{k:40s} {v:.4g}" if isinstance(v, float) else f"{k:40s} {v}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
