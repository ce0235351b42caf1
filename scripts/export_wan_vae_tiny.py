"""Turn a wan-vae-tiny training run into the shipped data_samples/wan_vae_tiny.safetensors (+ its loss log).

    python scripts/export_wan_vae_tiny.py runs/wan-vae-tiny            # latest checkpoint of the run
    python scripts/export_wan_vae_tiny.py runs/wan-vae-tiny/step_0001500.safetensors --out /tmp/vae.safetensors

Keeps the EMA weights only (no optimizer state), measures the per-channel latent mean / std on training
clips and stores them, with the config, in the file's metadata (`minivid.training.vae_task.export`).
"""
import argparse
from pathlib import Path

from minivid.training.vae_task import SHIPPED, export, load_vae, read_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a wan-vae-tiny checkpoint, or its run directory")
    parser.add_argument("--out", type=Path, default=SHIPPED, help="the weights file to write")
    args = parser.parse_args()
    out = export(args.run, args.out)
    info, vae = read_info(out), load_vae(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, step {info['step']}, "
          f"{sum(p.numel() for p in vae.parameters()):,} parameters); latent std per channel "
          f"{min(vae.config.latents_std):.2f} .. {max(vae.config.latents_std):.2f}")


if __name__ == "__main__":
    main()
