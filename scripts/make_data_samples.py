"""Write data_samples/clips.safetensors and data_samples/captions.json, byte for byte.

    python scripts/make_data_samples.py            # into data_samples/
    python scripts/make_data_samples.py --out DIR  # anywhere else (tests compare the two)

Which clips: `minivid.data.sample_specs()`. Every clip is a pure function of its spec, so running
this again reproduces the committed files exactly.
"""
import argparse
from pathlib import Path

from minivid.data import SAMPLE_DIR, load_samples, write_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="output folder")
    out = parser.parse_args().out
    write_samples(out)
    clips = load_samples(out)
    size = sum(f.stat().st_size for f in out.glob("clips.safetensors")) / 1e6
    print(f"wrote {len(clips)} clips to {out} (clips.safetensors: {size:.2f} MB)")


if __name__ == "__main__":
    main()
