"""minivid: modern video generation models rebuilt from scratch, small enough to read.

Layers (`minivid.layers`) build models (`minivid.models`); `minivid.presets` names every
configuration, tiny and full-size; `minivid.data` and `minivid.viz` serve the notebooks.
"""
from minivid.config import fast_mode, runs_dir

__version__ = "0.1.0"


def check_environment() -> dict[str, str]:
    """Print an [OK]/[FAIL] line per package the course needs and return the versions found."""
    import importlib
    from importlib import metadata

    wanted = ["torch", "einops", "numpy", "matplotlib", "ipywidgets", "safetensors", "tqdm"]
    found = {}
    for name in wanted:
        try:
            importlib.import_module(name)
            found[name] = metadata.version(name)
            print(f"[OK]   {name} {found[name]}")
        except Exception as error:  # a broken install should be reported, not hidden
            print(f"[FAIL] {name}: {error}")
    return found


__all__ = ["fast_mode", "runs_dir", "check_environment", "__version__"]
