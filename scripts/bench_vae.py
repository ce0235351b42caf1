"""Benchmark the Wan VAE: minivid vs diffusers (time, peak memory), and streaming vs whole-sequence decode.

    python scripts/bench_vae.py                 # tiny Wan2.1 VAE; 17 / 33 / 81 frames at 64x64
    python scripts/bench_vae.py --preset wan2.2-vae-tiny --frames 17 33 --repeats 7

Both implementations get the same weights (a seeded diffusers `AutoencoderKLWan` converted with
`minivid.interop.wan_vae.from_diffusers`) and the same clip, and run encode + decode on the official
streaming path (chunks of 1, 4, 4, ... frames in; one latent frame at a time out) under inference mode.

Time: both models live in one process and their runs alternate, so load from other users of a shared
CPU hits both alike; the median of `--repeats` runs after one warm-up is reported. Torch runs
single-threaded by default (`--threads`), which keeps numbers stable on a small CPU.

Peak memory: each (implementation, task, length) runs in a fresh Python process on Linux. After imports
and model construction the process resets its resident-memory high-water mark (writing 5 to
/proc/self/clear_refs), notes its resident size, runs the task once and reports how far the high-water
mark (VmHWM in /proc/self/status) rose above it: the extra memory the task needed at its peak.
`tracemalloc` does not see torch's allocations, the current RSS misses short peaks, and
`getrusage().ru_maxrss` cannot be reset and, after fork + exec, starts from the parent's size. The
process runs with `MALLOC_MMAP_THRESHOLD_=65536`, so that glibc serves tensor buffers with mmap and
returns them on free; otherwise its heap keeps freed memory and fragments, and RSS tracks the
allocator's history instead of the tensors alive.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def memory_mb(field: str) -> float:
    """`VmRSS` (resident now) or `VmHWM` (resident high-water mark) from /proc/self/status, in MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(field + ":"))


def build(preset: str, threads: int):
    """The diffusers peer (seeded) and minivid's copy of it."""
    import torch
    from diffusers import AutoencoderKLWan

    import minivid.presets as presets
    from minivid.interop.wan_vae import config_to_diffusers, from_diffusers

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    theirs = AutoencoderKLWan(**config_to_diffusers(presets.build(preset).config)).eval()
    return theirs, from_diffusers(theirs).eval()


def inputs(config, frames: int, size: int):
    """A clip `1 3 T H W` in [-1, 1] and a latent `1 z T' H' W'` of the same length."""
    import torch

    video = torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    s = config.spatial_stride
    latent = torch.randn(1, config.z_dim, 1 + (frames - 1) // config.temporal_stride, size // s, size // s,
                         generator=torch.Generator().manual_seed(2))
    return video, latent


def tasks(theirs, ours, video, latent) -> dict:
    return {
        ("diffusers", "encode+decode"): lambda: theirs.decode(theirs.encode(video).latent_dist.mean).sample,
        ("minivid", "encode+decode"): lambda: ours.decode(ours.encode(video)),  # tiny configs: mean 0, std 1
        ("minivid", "decode-streaming"): lambda: ours.decode(latent, chunked=True),
        ("minivid", "decode-whole"): lambda: ours.decode(latent, chunked=False),
    }


def peak_memory_case(impl: str, task: str, preset: str, frames: int, size: int, threads: int) -> dict:
    """Runs in its own process: extra peak RSS (MB) of one run of one task."""
    import torch

    theirs, ours = build(preset, threads)
    video, latent = inputs(ours.config, frames, size)
    job = tasks(theirs, ours, video, latent)[impl, task]
    del theirs, ours  # the job keeps what it needs; the models are tiny anyway
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the high-water mark to the current resident size
    before = memory_mb("VmRSS")
    with torch.inference_mode():
        job()
    return {"peak_mb": memory_mb("VmHWM") - before}


def peak_memory(*args) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--case", json.dumps(args)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


def median_seconds(jobs: dict, repeats: int) -> dict:
    """Alternate the jobs, one warm-up each, and return each job's median time."""
    import torch

    times = {name: [] for name in jobs}
    with torch.inference_mode():
        for round_ in range(1 + repeats):
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                if round_:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="wan2.1-vae-tiny")
    parser.add_argument("--size", type=int, default=64, help="frame size for minivid vs diffusers")
    parser.add_argument("--frames", type=int, nargs="+", default=[17, 33, 81])
    parser.add_argument("--decode-size", type=int, default=128, help="frame size for streaming vs whole")
    parser.add_argument("--decode-frames", type=int, nargs="+", default=[17, 41, 81, 161])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(peak_memory_case(*json.loads(args.case))))
        return

    import torch
    theirs, ours = build(args.preset, args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.preset}; time = median of {args.repeats} "
          "alternating runs; memory = peak extra RSS of a fresh process (MB)")

    print(f"\nencode + decode at {args.size}x{args.size}, official streaming path, same weights and clip")
    print(f"{'frames':>6} | {'minivid s':>9} {'diffusers s':>11} {'ratio':>6} | {'minivid MB':>10} {'diffusers MB':>12}")
    for frames in args.frames:
        video, latent = inputs(ours.config, frames, args.size)
        jobs = {impl: tasks(theirs, ours, video, latent)[impl, "encode+decode"] for impl in ("minivid", "diffusers")}
        seconds = median_seconds(jobs, args.repeats)
        memory = {impl: peak_memory(impl, "encode+decode", args.preset, frames, args.size, args.threads)
                  for impl in jobs}
        print(f"{frames:>6} | {seconds['minivid']:>9.3f} {seconds['diffusers']:>11.3f} "
              f"{seconds['minivid'] / seconds['diffusers']:>6.2f} | {memory['minivid']:>10.1f} {memory['diffusers']:>12.1f}")

    print(f"\nminivid decode at {args.decode_size}x{args.decode_size}: streaming (one latent frame at a time) "
          "vs whole sequence")
    print(f"{'frames':>6} | {'streaming s':>11} {'whole s':>8} | {'streaming MB':>12} {'whole MB':>9}")
    for frames in args.decode_frames:
        video, latent = inputs(ours.config, frames, args.decode_size)
        modes = ("decode-streaming", "decode-whole")
        seconds = median_seconds({m: tasks(theirs, ours, video, latent)["minivid", m] for m in modes}, args.repeats)
        memory = {m: peak_memory("minivid", m, args.preset, frames, args.decode_size, args.threads) for m in modes}
        print(f"{frames:>6} | {seconds[modes[0]]:>11.3f} {seconds[modes[1]]:>8.3f} | "
              f"{memory[modes[0]]:>12.1f} {memory[modes[1]]:>9.1f}")


if __name__ == "__main__":
    main()
