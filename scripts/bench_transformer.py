"""minivid's video transformers vs diffusers' on the same weights and inputs: forward time and peak memory,
for a tiny and a medium config of each model, on CPU (and CUDA when available).

    python scripts/bench_transformer.py                          # every model and config, every device
    python scripts/bench_transformer.py --models cogvideox --repeats 20 --configs tiny

Models: `wan` (`WanModel` vs `WanTransformer3DModel`), `cogvideox` (`CogVideoXModel`, 5B layout with
3D RoPE, vs `CogVideoXTransformer3DModel`; diffusers gets its RoPE tables precomputed, as its pipeline
passes them, while minivid builds them inside every forward) and `hunyuanvideo` (`HunyuanVideoModel` vs
`HunyuanVideoTransformer3DModel`, guidance-distilled, a quarter of the text padded: minivid runs the
official two-segment attention, diffusers a key mask).

Time: median (and min) over `--repeats` calls after 2 warm-ups, the two implementations interleaved
call by call in one process so that machine load hits both alike. Peak memory: the most bytes held at
once by tensors created during one forward (weights and inputs excluded), tracked op by op with a
dispatch mode and storage weakrefs, so it means the same on CPU and CUDA; on CUDA the allocator's own
`max_memory_allocated` growth is printed too (it adds cuBLAS/SDPA workspaces and rounding).
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from minivid.memory import PeakTensorMemory

WAN = {  # diffusers kwargs, latent (T, H, W), text tokens
    "tiny": (dict(num_attention_heads=2, attention_head_dim=32, ffn_dim=128, num_layers=2, text_dim=32),
             (5, 16, 16), 16),
    "medium": (dict(num_attention_heads=4, attention_head_dim=128, ffn_dim=1536, num_layers=4, text_dim=512),
               (5, 16, 24), 64),
}
COGVIDEOX = {  # diffusers kwargs, latent (F, H, W), text tokens
    "tiny": (dict(num_attention_heads=2, attention_head_dim=32, time_embed_dim=64, text_embed_dim=32, num_layers=2),
             (5, 16, 16), 16),
    "medium": (dict(num_attention_heads=4, attention_head_dim=64, time_embed_dim=128, text_embed_dim=512,
                    num_layers=4), (5, 16, 24), 64),
}
HUNYUANVIDEO = {  # diffusers kwargs, latent (T, H, W), text tokens (a quarter of them padding)
    "tiny": (dict(num_attention_heads=2, attention_head_dim=32, num_layers=2, num_single_layers=2, text_embed_dim=32,
                  pooled_projection_dim=16, rope_axes_dim=(8, 12, 12)), (5, 16, 16), 16),
    "medium": (dict(num_attention_heads=4, attention_head_dim=128, num_layers=2, num_single_layers=4,
                    text_embed_dim=512, pooled_projection_dim=64), (5, 16, 24), 64),
}
CONFIGS = {"wan": WAN, "cogvideox": COGVIDEOX, "hunyuanvideo": HUNYUANVIDEO}


def build(model: str, config: str, device: str):
    """({implementation: forward call}, parameters, input shape): diffusers and minivid with the same
    weights and inputs on `device`, fp32, eval."""
    kwargs, (frames, h, w), text = CONFIGS[model][config]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    t = torch.tensor([937.5], device=device)
    if model == "wan":
        from diffusers import WanTransformer3DModel

        from minivid.interop.wan import from_diffusers
        theirs = WanTransformer3DModel(in_channels=16, out_channels=16, **kwargs).eval().to(device)
        ours = from_diffusers(theirs).eval()
        x = torch.randn(1, 16, frames, h, w, generator=g).to(device)  # B C T H W
        context = torch.randn(1, text, kwargs["text_dim"], generator=g).to(device)
        calls = {"minivid": lambda: ours(x, t, context), "diffusers": lambda: theirs(x, t, context).sample}
    elif model == "hunyuanvideo":
        from diffusers import HunyuanVideoTransformer3DModel

        from minivid.interop.hunyuan import from_diffusers
        theirs = HunyuanVideoTransformer3DModel(in_channels=16, out_channels=16, **kwargs).eval().to(device)
        ours = from_diffusers(theirs).eval()
        x = torch.randn(1, 16, frames, h, w, generator=g).to(device)  # B C T H W
        context = torch.randn(1, text, kwargs["text_embed_dim"], generator=g).to(device)
        mask = (torch.arange(text) < text * 3 // 4)[None].to(device)
        pooled = torch.randn(1, kwargs["pooled_projection_dim"], generator=g).to(device)
        guidance = torch.tensor([6000.0], device=device)
        calls = {"minivid": lambda: ours(x, t, context, mask, pooled, guidance),
                 "diffusers": lambda: theirs(x, t, context, mask, pooled, guidance).sample}
    else:
        from diffusers import CogVideoXTransformer3DModel
        from diffusers.models.embeddings import get_3d_rotary_pos_embed

        from minivid.interop.cogvideox import from_diffusers
        theirs = CogVideoXTransformer3DModel(in_channels=16, out_channels=16, sample_frames=4 * frames - 3,
                                             sample_height=h, sample_width=w, max_text_seq_length=text,
                                             use_rotary_positional_embeddings=True, **kwargs).eval().to(device)
        ours = from_diffusers(theirs).eval()
        x = torch.randn(1, frames, 16, h, w, generator=g).to(device)  # B F C H W
        context = torch.randn(1, text, kwargs["text_embed_dim"], generator=g).to(device)
        rope = get_3d_rotary_pos_embed(kwargs["attention_head_dim"], ((0, 0), (h // 2, w // 2)), (h // 2, w // 2),
                                       frames, use_real=True, device=device)
        calls = {"minivid": lambda: ours(x, t, context),
                 "diffusers": lambda: theirs(x, context, t, image_rotary_emb=rope).sample}
    return calls, sum(p.numel() for p in ours.parameters()), x.shape


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_both(model: str, config: str, device: str, repeats: int) -> dict:
    calls, params, shape = build(model, config, device)
    times = {name: [] for name in calls}
    with torch.inference_mode():
        diff = (calls["minivid"]() - calls["diffusers"]()).abs().max().item()
        for _ in range(2):
            for call in calls.values():
                call()
        for _ in range(repeats):
            for name, call in calls.items():
                sync(device)
                start = time.perf_counter()
                call()
                sync(device)
                times[name].append(time.perf_counter() - start)
    return dict(params=params, shape=tuple(shape), max_abs_diff=diff, mem=peak_memory(calls, device),
                **{f"{name}_ms": (1e3 * statistics.median(ts), 1e3 * min(ts)) for name, ts in times.items()})


def peak_memory(calls: dict, device: str) -> dict:
    """MiB of peak activation memory during one forward of each implementation."""
    out = {}
    with torch.inference_mode():
        for name, call in calls.items():
            sync(device)
            before = torch.cuda.memory_allocated() if device == "cuda" else 0
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            with PeakTensorMemory() as tracker:
                call()
            out[name] = tracker.peak / 2**20
            if device == "cuda":
                sync(device)
                out[name + "_cuda"] = (torch.cuda.max_memory_allocated() - before) / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--configs", nargs="+", default=["tiny", "medium"], choices=["tiny", "medium"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {args.threads} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA"))
    print(f"{'model':12} {'config':8} {'device':6} {'params':>9} {'input':>18} {'minivid ms':>16} {'diffusers ms':>16} "
          f"{'ratio':>6} {'minivid MiB':>11} {'diffusers MiB':>13} {'max|diff|':>9}")
    for model, config, device in itertools.product(args.models, args.configs, devices):
        r = time_both(model, config, device, args.repeats)
        mem, ours, theirs = r["mem"], r["minivid_ms"], r["diffusers_ms"]
        print(f"{model:12} {config:8} {device:6} {r['params']:>9,} {str(r['shape']):>18} "
              f"{ours[0]:>7.2f} ({ours[1]:>6.2f}) {theirs[0]:>7.2f} ({theirs[1]:>6.2f}) "
              f"{ours[0] / theirs[0]:>6.2f} "
              f"{mem['minivid']:>11.2f} {mem['diffusers']:>13.2f} {r['max_abs_diff']:>9.1e}"
              + (f"   (CUDA allocator: {mem['minivid_cuda']:.1f} / {mem['diffusers_cuda']:.1f} MiB)"
                 if device == "cuda" else ""))
    print("time: median (min) over repeats, interleaved; ratio = minivid / diffusers median; "
          "memory: peak bytes of the tensors one forward creates")


if __name__ == "__main__":
    main()
