"""Models, each one readable file built from `minivid.layers`."""
