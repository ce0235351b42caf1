"""Building blocks, one idea per file. Video tensors are `B C T H W` unless a docstring says otherwise."""
