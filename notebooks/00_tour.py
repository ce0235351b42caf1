# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 tour

# %% tags=["parameters"]
import minivid
FAST = minivid.fast_mode()

# %%
import torch
x = torch.zeros(2, 3)
assert x.shape == (2, 3)
