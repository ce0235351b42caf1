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
# # 01 — A diffusion refresher: DDPM, DDIM, flow matching, timestep shift, guidance
#
# Every video model of this course is a denoiser. LVDM, AnimateDiff, Latte and DiT predict the
# noise ε on a DDPM schedule; CogVideoX predicts v on a schedule with zero terminal SNR; Wan and
# HunyuanVideo predict a flow-matching velocity and sample with a timestep *shift*; nearly all
# steer with classifier-free guidance (HunyuanVideo's released model has it distilled into an
# extra input). This notebook rebuilds each of those pieces in a few lines
# of plain torch, proves each equal to `minivid.diffusion` with `assert_close`, and runs the
# samplers on a 2-D toy whose exact denoiser is known in closed form — an *oracle*, so sampling is
# exact without training and every error you see belongs to the sampler. A tiny MLP trained for
# a few hundred steps then shows how close a learned model gets.
#
# **Prerequisites:** notebook 00; the idea of a Gaussian and of a gradient step.
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 50 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
N_SAMPLES = 2000 if FAST else 20_000  # particles per sampler run on the 2-D toy
STEP_COUNTS = (2, 5, 10, 25, 100) if FAST else (2, 5, 10, 25, 100, 250, 1000)  # the steps table
TRAIN_STEPS = 300 if FAST else 3000  # the tiny flow-matching MLP
HIGH_DIM = 1024 if FAST else 4096  # values per sample in the timestep-shift experiment ...
N_HIGH_DIM = 1000 if FAST else 2000  # ... and samples drawn there (memory grows with both)

# %%
import math

import matplotlib.pyplot as plt
import torch
from einops import rearrange
from IPython.display import display
from torch import nn
from torch.testing import assert_close

from minivid import data, viz
from minivid.diffusion import (SAMPLE_SHIFT, cfg_combine, cfg_model, ddim_step, ddpm_step,
                               flow_euler_step, flow_noisy_sample, flow_sigmas,
                               flow_velocity_target, noise_schedule, predicted_eps, predicted_x0,
                               sample_ddim, sample_ddpm, sample_flow_euler, shift_sigmas, v_target)
from minivid.exercises import check

minivid.check_environment()
torch.set_num_threads(1)  # the toys are tiny: a second thread costs more in syncing than it saves
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. The forward process, and why the standard schedules never reach pure noise
#
# A DDPM noises clean data x0 in one jump to any step t of T = 1000:
#
# $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad
# \bar\alpha_t = \prod_{i \le t}(1-\beta_i),\qquad \mathrm{SNR}_t = \frac{\bar\alpha_t}{1-\bar\alpha_t}.$$
#
# The schedule is the list of β. Three cover the course's models:
#
# | schedule | β | used by |
# | --- | --- | --- |
# | linear | 1e-4 → 0.02 | DDPM, DiT, Latte |
# | scaled-linear | linear in √β, 0.00085 → 0.012 | Stable Diffusion, LVDM, AnimateDiff, CogVideoX |
# | cosine | from ᾱ(t) = cos²(((t/T + 0.008)/1.008)·π/2), β ≤ 0.999 | improved DDPM (Nichol & Dhariwal) |
#
# Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are Flawed") noticed that
# none of them reaches ᾱ_T = 0, and proposed to *rescale* √ᾱ affinely so that the last step is
# exactly zero and the first is unchanged. Built from scratch, then compared with minivid:

# %%
T = 1000
F64 = torch.float64  # schedules in float64 for analysis (minivid's default float32 matches diffusers)


def betas_from_scratch(kind: str) -> torch.Tensor:
    if kind == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=F64)
    if kind == "scaled_linear":
        return torch.linspace(0.00085**0.5, 0.012**0.5, T, dtype=F64) ** 2
    t = torch.arange(T + 1, dtype=F64) / T
    alpha_bar = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # cosine: define ᾱ, derive β
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)


def zero_terminal_snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    root = alpha_bar.sqrt()
    root = (root - root[-1]) * root[0] / (root[0] - root[-1])  # last → 0, first kept
    return root**2


SCHEDULE_ARGS = {"linear": ("linear", T, 1e-4, 0.02), "scaled_linear": ("scaled_linear", T, 0.00085, 0.012),
                 "cosine": ("cosine", T)}
alpha_bars = {}
for kind, args in SCHEDULE_ARGS.items():
    ours = torch.cumprod(1 - betas_from_scratch(kind), dim=0)
    assert_close(ours, noise_schedule(*args, dtype=F64).alphas_cumprod)
    rescaled = noise_schedule(*args, zero_terminal_snr=True, dtype=F64)
    assert_close(zero_terminal_snr(ours), rescaled.alphas_cumprod)
    alpha_bars[kind] = ours
alpha_bars["scaled_linear + zero SNR"] = zero_terminal_snr(alpha_bars["scaled_linear"])

schedule_rows = []
for name, ab in alpha_bars.items():
    snr = ab / (1 - ab)
    schedule_rows.append({"schedule": name, "√ᾱ_T": f"{ab[-1].sqrt():.4f}", "SNR_T": f"{snr[-1]:.2e}",
                          "t where SNR = 1": int((snr < 1).nonzero()[0])})
display(viz.table(schedule_rows))
assert abs(alpha_bars["scaled_linear"][-1].sqrt() - 0.068) < 5e-4  # Lin et al. §2: SD's √ᾱ_T = 0.068
assert alpha_bars["scaled_linear + zero SNR"][-1] == 0

# %% [markdown]
# At t = 999 Stable Diffusion's schedule (the one CogVideoX starts from) still keeps the signal at
# 0.068 of its amplitude. Training never shows the model pure noise, but sampling starts from pure noise: the
# model is asked a question it was never trained on, and it has learned to *rely* on that leftover
# signal (Lin et al. show SD cannot make a truly dark or bright image). The picture: one frame of
# a course clip noised with the *same* ε under both schedules. To the eye the two t = 999 images
# are identical noise — but their difference is 0.068·x0 (minus 0.0023·ε): the picture the model
# can still see in training and never gets at sampling time.

# %%
frame = data.load_samples()[-1].video[:, 0]  # C H W, a 64×64 frame in [-1, 1]
eps = torch.randn(frame.shape, generator=torch.Generator().manual_seed(0))
shown_t = (0, 200, 400, 600, 800, 999)
rows = {"scaled-linear (SD)": alpha_bars["scaled_linear"],
        "+ zero terminal SNR": alpha_bars["scaled_linear + zero SNR"]}
noised = {name: [ab[t].sqrt().float() * frame + (1 - ab[t]).sqrt().float() * eps for t in shown_t]
          for name, ab in rows.items()}
leftover = noised["scaled-linear (SD)"][-1] - noised["+ zero terminal SNR"][-1]
ab_T = alpha_bars["scaled_linear"][-1].float()
assert_close(leftover, ab_T.sqrt() * frame - (1 - (1 - ab_T).sqrt()) * eps)  # 0.068·x0 − 0.0023·ε
sd_minivid = noise_schedule("scaled_linear", T, 0.00085, 0.012)
assert_close(sd_minivid.add_noise(frame[None], eps[None], torch.tensor([400]))[0], noised["scaled-linear (SD)"][2])


def show_image(ax, image, title=""):  # image: C H W, values roughly in [-1, 1]
    ax.imshow(rearrange(image, "c h w -> h w c").add(1).div(2).clamp(0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


fig, axes = plt.subplots(2, len(shown_t) + 1, figsize=(12, 4.2), layout="constrained")
for row, (name, images) in enumerate(noised.items()):
    for col, (t, image) in enumerate(zip(shown_t, images)):
        show_image(axes[row, col], image, f"t = {t}, √ᾱ = {rows[name][t].sqrt():.3f}")
    axes[row, 0].set_ylabel(name, fontsize=9)
show_image(axes[0, -1], leftover / leftover.abs().max(), "SD − zero-SNR at t = 999\n(≈ 0.068·x0, stretched)")
axes[1, -1].set_axis_off()
fig.suptitle("one frame noised with the same ε under two schedules")
plt.close(fig)
fig

# %% [markdown]
# The whole schedules, as ᾱ_t and as log-SNR. The zero-SNR curves dive to −∞ at the last step;
# the others stop short of it (the dots mark their terminal SNR). CogVideoX-2B adds one more change from SD3: an **SNR shift**
# that divides the SNR of every step by 3 before the zero-SNR rescale
# (`THUDM/CogVideo sat/configs/cogvideox_2b.yaml`: `ZeroSNRDDPMDiscretization`, `shift_scale: 3.0`;
# the 5B config uses 1.0; diffusers: `CogVideoXDDIMScheduler(snr_shift_scale=...)`). It is the same
# idea as the flow shift of §4 in another parameterisation. minivid has no switch for it, so here
# it is one line on top of minivid's schedule:

# %%
def snr_shift(alpha_bar: torch.Tensor, scale: float) -> torch.Tensor:
    return alpha_bar / (scale + (1 - scale) * alpha_bar)  # SNR → SNR / scale


cogvideox_2b = zero_terminal_snr(snr_shift(alpha_bars["scaled_linear"], 3.0))
curves = {**alpha_bars, "CogVideoX-2B": cogvideox_2b}
snr_of = {name: ab / (1 - ab) for name, ab in curves.items()}
shifted = snr_shift(alpha_bars["scaled_linear"], 3.0)
assert_close(shifted / (1 - shifted), snr_of["scaled_linear"] / 3)

labels = {"linear": "linear (DDPM, DiT, Latte)", "scaled_linear": "scaled-linear (SD, LVDM, AnimateDiff)",
          "cosine": "cosine", "scaled_linear + zero SNR": "scaled-linear + zero terminal SNR",
          "CogVideoX-2B": "CogVideoX-2B: scaled-linear, SNR ÷ 3, zero SNR"}
fig, (ax_ab, ax_snr) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
steps = torch.arange(T)
for name, ab in curves.items():
    ax_ab.plot(steps, ab, label=labels[name])
    log_snr = snr_of[name].log10()
    finite = torch.isfinite(log_snr)
    terminal = f"SNR_T = {snr_of[name][-1]:.1e}" if finite[-1] else "SNR_T = 0"
    line, = ax_snr.plot(steps[finite], log_snr[finite], label=terminal)
    if finite[-1]:  # the schedule stops short of pure noise: mark where
        ax_snr.plot(T - 1, log_snr[-1], "o", color=line.get_color(), markersize=4)
ax_snr.annotate("zero-SNR schedules → −∞", (T - 1, -11.8), xytext=(450, -10.5), fontsize=8, va="center",
                arrowprops=dict(arrowstyle="->", color="0.4"))
ax_ab.set(xlabel="training step t", ylabel="ᾱ_t (share of signal power)", title="ᾱ_t")
ax_snr.set(xlabel="training step t", ylabel="log₁₀ SNR_t", title="signal-to-noise ratio", ylim=(-12, 4.5))
ax_snr.axhline(0, color="0.7", linewidth=0.8)
ax_ab.legend(fontsize=8)
ax_snr.legend(fontsize=8, loc="lower left")
plt.close(fig)
fig

# %% [markdown]
# ## 2. What the network predicts: ε, v or x0 — and exact conversions
#
# With a = √ᾱ and s = √(1−ᾱ) (so a² + s² = 1), a network can be trained to output
#
# - **ε** (DDPM, Stable Diffusion, LVDM, AnimateDiff, DiT, Latte),
# - **v = a·ε − s·x0** (Salimans & Ho 2022; Imagen Video, CogVideoX, SVD),
# - **x0** itself.
#
# Given x_t, any one determines the others. (x_t, v) is (x0, ε) *rotated* by the angle φ with
# cos φ = a, which is where the formulas come from:
#
# | from | x̂0 | ε̂ |
# | --- | --- | --- |
# | ε | (x_t − s·ε)/a | ε |
# | v | a·x_t − s·v | a·v + s·x_t |
# | x0 | x0 | (x_t − a·x0)/s |
#
# From scratch, on a batch of video-shaped tensors with one ᾱ per sample, against minivid:

# %%
x0 = torch.randn(6, 3, 5, 8, 8)  # B C T H W
noise = torch.randn_like(x0)
alpha_bar = sd_minivid.alphas_cumprod[torch.tensor([0, 150, 400, 650, 900, 999])]  # B, one level per sample
a = alpha_bar.sqrt().reshape(-1, 1, 1, 1, 1)  # B 1 1 1 1, broadcasts over C T H W
s = (1 - alpha_bar).sqrt().reshape(-1, 1, 1, 1, 1)
x_t = a * x0 + s * noise
v = a * noise - s * x0
assert_close(v, v_target(x0, noise, alpha_bar))

to_x0 = {"eps": (x_t - s * noise) / a, "v": a * x_t - s * v, "x0": x0}
to_eps = {"eps": noise, "v": a * v + s * x_t, "x0": (x_t - a * x0) / s}
for prediction, output in {"eps": noise, "v": v, "x0": x0}.items():
    assert_close(predicted_x0(output, x_t, alpha_bar, prediction), to_x0[prediction])
    assert_close(predicted_eps(output, x_t, alpha_bar, prediction), to_eps[prediction])
    assert_close(to_x0[prediction], x0, atol=1e-4, rtol=1e-4)  # every route gives the truth back
    assert_close(to_eps[prediction], noise, atol=1e-4, rtol=1e-4)
assert_close(x_t.pow(2) + v.pow(2), x0.pow(2) + noise.pow(2))  # a rotation keeps lengths
print("eps, v and x0 convert into each other exactly; (x_t, v) is (x0, eps) rotated")

# %% [markdown]
# The conversions are exact, but they are not equally *safe*: a network is never exact, and a
# conversion multiplies its error. An error δ in the output becomes an error in x̂0 of
# (s/a)·δ for ε-prediction, s·δ for v and δ for x0; and an error in ε̂ of δ, a·δ and (a/s)·δ.
# ε-prediction blows up at high noise (where the sampler starts), x0-prediction at low noise
# (where it ends); v stays below 1 everywhere. That is why a zero-terminal-SNR schedule (a = 0 at
# the last step) goes with v-prediction — CogVideoX's pairing.

# %%
ab = alpha_bars["scaled_linear + zero SNR"][:-1]  # the last step (a = 0) is infinite for ε
a_, s_ = ab.sqrt(), (1 - ab).sqrt()
gains = {"ε-prediction": (s_ / a_, torch.ones_like(a_)), "v-prediction": (s_, a_),
         "x0-prediction": (torch.ones_like(a_), a_ / s_)}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained", sharey=True)
for name, (gain_x0, gain_eps) in gains.items():
    axes[0].plot(steps[:-1], gain_x0, label=name)
    axes[1].plot(steps[:-1], gain_eps, label=name)
for ax, what in zip(axes, ("x̂0", "ε̂")):
    ax.set(yscale="log", xlabel="training step t (scaled-linear + zero terminal SNR)",
           title=f"error in {what} per unit of network error")
axes[0].legend(fontsize=8)
plt.close(fig)
assert (gains["v-prediction"][0] <= 1).all() and (gains["v-prediction"][1] <= 1).all()
fig

# %%
try:  # at the zero-SNR step x_t *is* the noise: an ε-prediction says nothing about x0
    predicted_x0(torch.zeros(1, 2), torch.ones(1, 2), 0.0, "eps")
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ## 3. Sampling on a 2-D toy with an exact model
#
# The data: a mixture of four Gaussians in the plane (standard deviation 0.3, weights
# 0.3/0.2/0.3/0.2; the two upper-left components form class 0 and the others class 1, for §5).
# Noising a Gaussian mixture gives a Gaussian mixture, so the best possible denoiser has a closed
# form. For x = a·x0 + s·ε, component k contributes x ~ N(a·μ_k, (a²·0.3² + s²)·I); Bayes' rule
# gives each component's responsibility r_k(x), and
#
# $$\hat x_0(x) = \mathbb{E}[x_0 \mid x]
#   = \sum_k r_k(x)\Big(\mu_k + \frac{a\cdot 0.3^2}{a^2\cdot 0.3^2 + s^2}(x - a\mu_k)\Big).$$
#
# It is what a network trained with mean-squared error converges to, given enough capacity and
# data. From it, the **oracle** models: ε̂ = (x − a·x̂0)/s for a DDPM schedule, and for flow
# matching (x = (1−σ)·x0 + σ·ε, so a = 1−σ and s = σ) the velocity v̂ = E[ε − x0 | x] = (x − x̂0)/σ.

# %%
MEANS = torch.tensor([[-2.0, 0.5], [-0.5, 2.0], [2.0, -0.5], [0.5, -2.0]])  # K 2
WEIGHTS = torch.tensor([0.3, 0.2, 0.3, 0.2])  # K
LABELS = torch.tensor([0, 0, 1, 1])  # class of each component (§5)
STD = 0.3


def sample_toy(n: int, generator: torch.Generator) -> torch.Tensor:
    component = torch.multinomial(WEIGHTS, n, replacement=True, generator=generator)
    return MEANS[component] + STD * torch.randn(n, 2, generator=generator)  # N 2


def posterior_x0(x, signal, noise_var, means=MEANS, weights=WEIGHTS, std=STD):
    """E[x0 | x] for x = signal·x0 + N(0, noise_var) and x0 from the mixture; x (N, D), signal and
    noise_var scalars or (N,), means (K, D), weights (K,) → (N, D)."""
    signal = torch.as_tensor(signal, dtype=x.dtype).reshape(-1, 1, 1)  # N|1 1 1
    noise_var = torch.as_tensor(noise_var, dtype=x.dtype).reshape(-1, 1, 1)
    var = signal**2 * std**2 + noise_var  # variance of x around one component's centre
    offset = x[:, None] - signal * means  # N K D
    responsibility = (weights.log() - offset.pow(2).sum(-1) / (2 * var[..., 0])).softmax(-1)  # N K
    per_component = means + signal * std**2 / var * offset  # N K D: E[x0 | x, component]
    return torch.einsum("nk,nkd->nd", responsibility, per_component)


def ddpm_oracle(schedule, prediction="eps"):
    """The exact ε- (or v-) model for a DDPM schedule: `model(x, t)` with integer steps t (N,)."""
    def model(x, t):
        ab = schedule.alphas_cumprod[t]  # N
        a, s = ab.sqrt()[:, None], (1 - ab).sqrt()[:, None]
        x0_hat = posterior_x0(x, a[:, 0], s[:, 0] ** 2)
        eps_hat = (x - a * x0_hat) / s
        return eps_hat if prediction == "eps" else a * eps_hat - s * x0_hat
    return model


def flow_oracle(x, t):
    """The exact flow velocity; t (N,) is σ·1000, as Wan and HunyuanVideo feed their models."""
    sigma = t / 1000
    return (x - posterior_x0(x, 1 - sigma, sigma**2)) / sigma[:, None]


def toy_quality(samples: torch.Tensor) -> dict:
    """spread: rms distance to the nearest centre / 0.3 (1 = right); stranded: share of samples
    more than 3·0.3 from every centre (exp(−4.5) = 1.1 % for the data); weight error: total
    variation between the components' shares and the true weights."""
    distance, component = torch.cdist(samples, MEANS).min(1)
    shares = torch.bincount(component, minlength=len(WEIGHTS)) / len(samples)
    return {"spread": float((distance.pow(2).mean() / 2).sqrt() / STD),
            "stranded": float((distance > 3 * STD).float().mean()),
            "weight error": float((shares - WEIGHTS).abs().sum() / 2)}


toy_data = sample_toy(N_SAMPLES, torch.Generator().manual_seed(0))
print("the data itself:", {k: round(v, 3) for k, v in toy_quality(toy_data).items()})

# %% [markdown]
# ### The three update rules, from scratch
#
# - **DDPM** (Ho et al. 2020) draws x_{t'} from the Gaussian posterior q(x_{t'} | x_t, x̂0): a
#   weighted average of x̂0 and x_t **plus fresh noise**. It can jump several training steps at
#   once (t → t'), with β = 1 − ᾱ_t/ᾱ_{t'} for the whole jump.
# - **DDIM** (Song et al. 2021, η = 0) re-noises x̂0 to the next level along the *predicted* ε:
#   x_{t'} = √ᾱ_{t'}·x̂0 + √(1−ᾱ_{t'})·ε̂. No fresh noise: a deterministic ODE step.
# - **Flow Euler** moves along the velocity: x_{σ'} = x_σ + (σ' − σ)·v̂.

# %%
def ddpm_step_scratch(eps_hat, x, ab, ab_next, fresh_noise):
    x0_hat = (x - (1 - ab).sqrt() * eps_hat) / ab.sqrt()
    beta = 1 - ab / ab_next
    mean = (ab_next.sqrt() * beta * x0_hat + (1 - beta).sqrt() * (1 - ab_next) * x) / (1 - ab)
    return mean + ((1 - ab_next) / (1 - ab) * beta).sqrt() * fresh_noise


def ddim_step_scratch(eps_hat, x, ab, ab_next):
    x0_hat = (x - (1 - ab).sqrt() * eps_hat) / ab.sqrt()
    return ab_next.sqrt() * x0_hat + (1 - ab_next).sqrt() * eps_hat


def euler_step_scratch(velocity, x, sigma, sigma_next):
    return x + (sigma_next - sigma) * velocity


x, output, fresh = torch.randn(3, 64, 2).unbind(0)
ab, ab_next = torch.tensor(0.3), torch.tensor(0.55)
assert_close(ddpm_step_scratch(output, x, ab, ab_next, fresh),
             ddpm_step(output, x, ab, ab_next, "eps", noise=fresh))
assert_close(ddim_step_scratch(output, x, ab, ab_next), ddim_step(output, x, ab, ab_next, "eps"))
assert_close(euler_step_scratch(output, x, 0.8, 0.6), flow_euler_step(output, x, 0.8, 0.6))
print("one step: from scratch == minivid for DDPM, DDIM and flow Euler")

# %% [markdown]
# A step is not a sampler: which steps are visited, where the last one lands and in which order
# the random numbers are drawn matter as much. Whole loops from scratch — DDPM with the linear
# schedule, DDIM with the same, flow matching on uniform σ — against minivid's samplers,
# trajectory against trajectory:

# %%
linear = noise_schedule("linear")
eps_model = ddpm_oracle(linear)


def ddpm_loop_scratch(model, x, schedule, num_steps, generator):
    timesteps = schedule.timesteps(num_steps)  # "leading": 980, 960, ..., 0 for 50 steps
    path = [x]
    for i, t in enumerate(timesteps):
        ab = schedule.alphas_cumprod[t]
        ab_next = schedule.alphas_cumprod[timesteps[i + 1]] if i + 1 < num_steps else torch.tensor(1.0)
        fresh = torch.randn(x.shape, generator=generator) if i + 1 < num_steps else torch.zeros_like(x)
        x = ddpm_step_scratch(model(x, t.expand(len(x))), x, ab, ab_next, fresh)
        path.append(x)
    return torch.stack(path)  # (n+1) N 2


def ddim_loop_scratch(model, x, schedule, num_steps):
    timesteps = schedule.timesteps(num_steps)
    path = [x]
    for i, t in enumerate(timesteps):
        ab = schedule.alphas_cumprod[t]
        ab_next = schedule.alphas_cumprod[timesteps[i + 1]] if i + 1 < num_steps else torch.tensor(1.0)
        x = ddim_step_scratch(model(x, t.expand(len(x))), x, ab, ab_next)
        path.append(x)
    return torch.stack(path)


def euler_loop_scratch(velocity_model, x, num_steps):
    sigmas = torch.linspace(1, 0, num_steps + 1)
    path = [x]
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        x = euler_step_scratch(velocity_model(x, (1000 * sigma).expand(len(x))), x, sigma, sigma_next)
        path.append(x)
    return torch.stack(path)


PATH_STEPS = 50
start = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))  # N 2
paths = {
    "DDPM": ddpm_loop_scratch(eps_model, start, linear, PATH_STEPS, torch.Generator().manual_seed(2)),
    "DDIM": ddim_loop_scratch(eps_model, start, linear, PATH_STEPS),
    "flow Euler": euler_loop_scratch(flow_oracle, start, PATH_STEPS),
}
library = {
    "DDPM": sample_ddpm(eps_model, start, linear, PATH_STEPS, generator=torch.Generator().manual_seed(2),
                        return_trajectory=True)[1],
    "DDIM": sample_ddim(eps_model, start, linear, PATH_STEPS, return_trajectory=True)[1],
    "flow Euler": sample_flow_euler(flow_oracle, start, PATH_STEPS, return_trajectory=True)[1],
}
for name in paths:
    assert_close(paths[name], library[name], atol=1e-4, rtol=1e-4)
print(f"whole {PATH_STEPS}-step trajectories: from scratch == minivid.diffusion for", ", ".join(paths))

# %% [markdown]
# The particles' paths. DDPM's zig-zag is the fresh noise it adds at every step; DDIM and flow
# Euler follow smooth deterministic curves. Each panel ends on the data (grey). DDIM's curves bulge
# outwards where flow's do not — the subsection after next explains why.

# %%
def draw_data(ax, points=toy_data[:1500]):
    ax.scatter(*points.T, s=2, color="0.75", zorder=0)
    ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", xticks=[], yticks=[])


fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), layout="constrained")
for ax, (name, path) in zip(axes, paths.items()):
    draw_data(ax)
    shown = 10 if name == "DDPM" else 30  # DDPM's noisy paths tangle quickly
    for i in range(shown):
        ax.plot(*path[:, i].T, linewidth=0.8, alpha=0.8)
    ax.scatter(*path[0, :shown].T, s=10, color="black", marker="x", label="start (noise)")
    ax.scatter(*path[-1, :300].T, s=6, color="tab:red", label="end")
    ax.set_title(f"{name}, {PATH_STEPS} steps")
axes[0].legend(loc="lower left", fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# Do the oracle samplers land on the data? Each statistic of `toy_quality` has a sampling noise of
# about 1–2 % at this sample size, so the tolerances below are several noise widths, not
# loosened until green:

# %%
checked = {
    "DDPM, 200 steps": sample_ddpm(eps_model, torch.randn(N_SAMPLES, 2), linear, 200,
                                   generator=torch.Generator().manual_seed(3)),
    "DDIM, 100 steps": sample_ddim(eps_model, torch.randn(N_SAMPLES, 2), linear, 100),
    "flow Euler, 100 steps": sample_flow_euler(flow_oracle, torch.randn(N_SAMPLES, 2), 100),
}
checked_rows = []
for name, samples in checked.items():
    quality = toy_quality(samples)
    checked_rows.append({"sampler": name, **quality})
    assert abs(quality["spread"] - 1) < 0.1 and quality["stranded"] < 0.025 and quality["weight error"] < 0.04
display(viz.table(checked_rows, floatfmt=".3f"))

# %% [markdown]
# ### DDIM and flow matching are one ODE in two coordinate systems
#
# Divide a DDPM sample by (a + s): x/(a+s) = (1−σ)·x0 + σ·ε with σ = s/(a+s). That is a flow
# sample. So the deterministic DDIM sampler and flow Euler integrate the *same* ODE — they differ
# only in the coordinates in which they take straight steps. Started from the same noise (a
# zero-terminal-SNR schedule with v-prediction starts DDIM at pure noise, exactly like flow),
# they land on the same points. The gap shrinks ≈ 3× for every 4× more steps, on its way to the 4×
# of two first-order methods converging to one solution. (This is also the bulge in the picture
# above: a DDIM particle is the flow particle times a + s, which reaches √2 half-way.)

# %%
zero_snr = noise_schedule("scaled_linear", 1000, 0.00085, 0.012, zero_terminal_snr=True)
v_model = ddpm_oracle(zero_snr, "v")
start = torch.randn(500, 2, generator=torch.Generator().manual_seed(4))
gaps = {}
for n in (25, 100, 400):
    ddim_end = sample_ddim(v_model, start, zero_snr, n, prediction="v", spacing="trailing")
    flow_end = sample_flow_euler(flow_oracle, start, n)
    gaps[n] = float((ddim_end - flow_end).norm(dim=1).mean())
display(viz.table([{"steps": n, "mean distance between DDIM's and flow's end points": gap}
                   for n, gap in gaps.items()], floatfmt=".4f"))
assert gaps[400] < 0.01 and gaps[400] < gaps[100] / 2.5 and gaps[100] < gaps[25] / 2.5

# %% [markdown]
# ### Measurements: how many steps does each sampler need?
#
# Each sampler, from the same noise, with a growing number of model calls. Read **spread** (1.00
# is right: too few steps leave samples smeared between the modes) and **stranded** (the data's
# own value is ≈ 1.1 %). The last column is DDIM in CogVideoX's setting: zero terminal SNR,
# v-prediction, "trailing" timesteps.

# %%
start = torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(5))
samplers = {
    "DDPM": lambda n: sample_ddpm(eps_model, start, linear, n, generator=torch.Generator().manual_seed(6)),
    "DDIM": lambda n: sample_ddim(eps_model, start, linear, n),
    "flow Euler": lambda n: sample_flow_euler(flow_oracle, start, n),
    "DDIM zero-SNR v": lambda n: sample_ddim(v_model, start, zero_snr, n, prediction="v", spacing="trailing"),
}
table = {(name, n): toy_quality(run(n)) for n in STEP_COUNTS for name, run in samplers.items()}
display(viz.table([{"steps": n, **{f"{name}: spread, stranded": f"{table[name, n]['spread']:.2f}, "
                                                                  f"{table[name, n]['stranded']:.1%}"
                                   for name in samplers}} for n in STEP_COUNTS]))
assert table["DDIM", 25]["stranded"] < 0.03 and table["flow Euler", 25]["stranded"] < 0.03
assert table["DDPM", 25]["spread"] < table["DDIM", 25]["spread"]  # DDPM needs more steps

# %% [markdown]
# Two steps are useless for everyone. By 25 model calls the deterministic samplers (DDIM, flow
# Euler) are essentially done, while ancestral DDPM still under-disperses — its fresh noise
# only averages out over many small steps (run learner mode to see it approach 1.00 at 1000 steps).
# That is why no video model samples with 1000 DDPM steps: CogVideoX's official config runs 50
# steps of a multistep DPM-Solver++ sampler (`VPSDEDPMPP2MSampler`, `num_steps: 50`), and Wan and
# HunyuanVideo integrate the flow ODE with a few dozen steps.
#
# ### A trained model instead of the oracle
#
# The oracle is what training converges to. A 3-layer MLP trained with flow matching —
# `flow_noisy_sample` and `flow_velocity_target` from minivid — for a few hundred steps gets
# close. Flow-matching loss never reaches zero: the target ε − x0 is random given x_σ, and the
# best possible loss is the oracle's own, which we can compute. That floor is the stated target
# of this "overfit" check: a learner whose loss stalls far above it has a bug.

# %%
class VelocityMLP(nn.Module):
    def __init__(self, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x, sigma):  # x (N, 2), sigma (N,) → velocity (N, 2)
        return self.net(torch.cat([x, sigma[:, None]], dim=1))


generator = torch.Generator().manual_seed(7)
eval_x0, eval_noise = sample_toy(4096, generator), torch.randn(4096, 2, generator=generator)
eval_sigma = torch.rand(4096, generator=generator).clamp(1e-3, 1 - 1e-3)
eval_x = flow_noisy_sample(eval_x0, eval_noise, eval_sigma)
eval_target = flow_velocity_target(eval_x0, eval_noise)
floor = float((flow_oracle(eval_x, 1000 * eval_sigma) - eval_target).pow(2).mean())

torch.manual_seed(0)
mlp = VelocityMLP()
optimizer = torch.optim.Adam(mlp.parameters(), lr=1e-2)
lr_decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, TRAIN_STEPS)
losses = []
for step in range(TRAIN_STEPS):
    x0_batch, noise_batch = sample_toy(512, generator), torch.randn(512, 2, generator=generator)
    sigma = torch.rand(512, generator=generator)  # σ ~ U(0, 1); SD3 draws it from a logit-normal
    loss = (mlp(flow_noisy_sample(x0_batch, noise_batch, sigma), sigma)
            - flow_velocity_target(x0_batch, noise_batch)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    lr_decay.step()
    losses.append(loss.item())
with torch.no_grad():
    trained = float((mlp(eval_x, eval_sigma) - eval_target).pow(2).mean())
    mlp_samples = sample_flow_euler(lambda x, t: mlp(x, t / 1000), torch.randn(N_SAMPLES, 2), 50)
print(f"held-out loss: trained {trained:.3f}, oracle floor {floor:.3f} ({trained / floor - 1:+.1%}), "
      f"predicting zero {eval_target.pow(2).mean():.3f}")
print("samples of the trained model:", {k: round(v, 3) for k, v in toy_quality(mlp_samples).items()})
assert trained < 1.04 * floor, "the MLP should get within 4% of the best possible loss"

fig = viz.plot_curve(losses, title="flow-matching loss (training batch)")
fig.axes[0].axhline(floor, color="tab:red", linestyle="--", label=f"oracle floor {floor:.2f}")
fig.axes[0].set_ylim(floor * 0.85, max(losses[:20]) * 1.05)
fig.axes[0].legend(fontsize=8)
fig

# %% [markdown]
# The loss is within a few per cent of the floor, yet the samples are visibly softer than the
# oracle's: stragglers between the modes. The loss is mostly irreducible noise (the floor), so a
# small gap in loss can hide a visible gap in samples — judge a diffusion model by its samples, not
# by its loss alone. Learner mode trains ten times longer and the stragglers thin out.

# %%
fig, ax = plt.subplots(figsize=(4.2, 4.2), layout="constrained")
draw_data(ax)
ax.scatter(*mlp_samples[:1000].T, s=3, color="tab:blue")
ax.set_title("trained MLP, 50 Euler steps (blue)\non the data (grey)", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# ## 4. The timestep shift of Wan and HunyuanVideo
#
# Flow samplers do not space σ uniformly. They *shift* it (Esser et al. 2024, SD3):
#
# $$\sigma' = \frac{s\,\sigma}{1 + (s-1)\,\sigma},$$
#
# a monotone map of [0, 1] onto itself that multiplies the noise odds σ/(1−σ) by s. With s > 1
# the steps crowd near σ = 1: a shift s puts s/(s+1) of the steps above σ = ½ (up to one step).

# %%
def shift_scratch(sigma, s):
    return s * sigma / (1 + (s - 1) * sigma)


uniform = torch.linspace(1, 0, 51)
for s in (1.0, 3.0, 5.0, 7.0, 16.0):
    assert_close(shift_scratch(uniform, s), shift_sigmas(uniform, s))
    assert_close(flow_sigmas(50, s), shift_scratch(uniform, s))  # minivid's "uniform" convention
    share_above_half = (shift_scratch(uniform[:-1], s) > 0.5).float().mean()
    assert abs(share_above_half - s / (s + 1)) <= 1 / 50
odds = lambda sigma: sigma / (1 - sigma)
inner = uniform[1:-1].double()  # the odds blow up near σ = 1: compare in float64
assert_close(odds(shift_scratch(inner, 5.0)), 5 * odds(inner))

fig, (ax_map, ax_ladder) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
grid = torch.linspace(0, 1, 201)
for row, s in enumerate((1.0, 3.0, 5.0, 7.0, 16.0)):
    ax_map.plot(grid, shift_scratch(grid, s), label=f"s = {s:g}")
    ladder = shift_scratch(uniform, s)
    ax_ladder.scatter(ladder, torch.full_like(ladder, row), s=8)
    ax_ladder.text(1.02, row, f"{s / (s + 1):.0%} of steps above ½", va="center", fontsize=8)
ax_map.set(xlabel="uniform σ", ylabel="shifted σ'", title="σ' = sσ / (1 + (s−1)σ)", aspect="equal")
ax_map.legend(fontsize=8)
ax_ladder.set(yticks=range(5), xlim=(-0.02, 1.3), xlabel="σ visited by a 50-step sampler",
              yticklabels=["s = 1", "s = 3", "s = 5 (Wan T2V)", "s = 7 (HunyuanVideo)", "s = 16"],
              title="where the 50 steps go")
ax_ladder.axvline(0.5, color="0.7", linewidth=0.8)
plt.close(fig)
fig

# %% [markdown]
# ### Why bigger samples need a bigger shift
#
# Esser et al.'s argument, made exact. Take a "video" of n values that are all the same colour
# c = ±1, and noise it: x = (1−σ)·c + σ·ε. Every value is an independent look at c, so their mean
# is √n times less noisy than one value. A short calculation gives the log-odds of the
# right colour, 2n(1−σ)²/σ² + 2√n·(1−σ)/σ·ξ with ξ ~ N(0, 1) — so a large sample is already
# *decided* at a σ where a small one is still pure guesswork. Work out the odds and you find
# that shifting σ by s = √n turns the n-value curve *exactly* into the 1-value curve: the shift
# gives large samples back the noise levels at which their content is still undecided.

# %%
def certainty(sigma, n, xi):
    """P(right colour | x_σ) for n values of one colour, averaged over draws ξ ~ N(0, 1)."""
    log_odds = 2 * n * (1 - sigma) ** 2 / sigma**2 + 2 * n**0.5 * (1 - sigma) / sigma * xi
    return torch.sigmoid(log_odds).mean(-1)


xi = torch.randn(4000, generator=torch.Generator().manual_seed(8), dtype=F64)
# the closed form against brute force: 256 noisy values, log-odds of c = +1 vs −1 from the Gaussians
n, sigma = 256, 0.9
values = (1 - sigma) + sigma * torch.randn(4000, n, generator=torch.Generator().manual_seed(9), dtype=F64)
brute = ((values + (1 - sigma)) ** 2 - (values - (1 - sigma)) ** 2).sum(-1) / (2 * sigma**2)
assert_close(brute, 2 * n * (1 - sigma) ** 2 / sigma**2 + 2 * n**0.5 * (1 - sigma) / sigma
             * (values - (1 - sigma)).sum(-1) / (sigma * n**0.5))

tau = torch.linspace(0.02, 0.999, 300, dtype=F64)[:, None]  # unshifted σ
fig, (ax_raw, ax_shifted) = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained", sharey=True)
for n in (1, 16, 256, 4096):
    raw = certainty(tau, n, xi)
    shifted = certainty(shift_scratch(tau, n**0.5), n, xi)
    assert_close(shifted, certainty(tau, 1, xi))  # exact collapse onto the 1-value curve
    ax_raw.plot(tau[:, 0], raw, label=f"n = {n}")
    ax_shifted.plot(tau[:, 0], shifted, label=f"n = {n}, s = √n = {n**0.5:g}")
ax_raw.set(xlabel="σ", ylabel="P(right colour | x_σ)", title="more values: decided at higher noise")
ax_shifted.set(xlabel="unshifted σ (the sampler's uniform grid)",
               title="after the shift s = √n: one curve")
ax_raw.legend(fontsize=8)
ax_shifted.legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# SD3 turns this into its resolution rule (shift by √(m/n) when moving from n to m pixels). Real
# video latents are far from one flat colour, so the published defaults were tuned by their
# authors, not computed (Wan's README even recommends 8–12 for T2V-1.3B instead of the script's
# 5.0). They live in `SAMPLE_SHIFT`, with their sources:

# %%
sources = {"wan2.1": "Wan-Video/Wan2.1 generate.py : _validate_args (sample_shift)",
           "hunyuanvideo": "Tencent-Hunyuan/HunyuanVideo hyvideo/config.py : --flow-shift"}
display(viz.table([{"model": name, "shift": shift, "source": f"`{sources[name.split('-')[0]]}`"}
                   for name, shift in SAMPLE_SHIFT.items()], floatfmt=".1f"))
assert SAMPLE_SHIFT["wan2.1-t2v"] == 5.0 and SAMPLE_SHIFT["hunyuanvideo-t2v"] == 7.0

# %% [markdown]
# Measured on mixtures: the 2-D toy, and a mixture of four random patterns of `HIGH_DIM` values
# (standard deviation 0.3 around each) — a crude stand-in for a video latent. Few steps (8), the
# oracle velocity, and two questions: did each component get its share of the samples (**weight
# error**, 0 is right), and is the detail around each centre right (**spread**, 1 is right)?

# %%
high_means = torch.randn(4, HIGH_DIM, generator=torch.Generator().manual_seed(10))  # K D


def mixture_velocity(means):
    def model(x, t):
        sigma = t / 1000
        return (x - posterior_x0(x, 1 - sigma, sigma**2, means=means)) / sigma[:, None]
    return model


def mixture_quality(samples, means):  # weight error and spread of `toy_quality`, in any dimension
    distance, component = torch.cdist(samples, means).min(1)
    shares = torch.bincount(component, minlength=len(WEIGHTS)) / len(samples)
    spread = (distance.pow(2).mean() / means.shape[1]).sqrt() / STD
    return float((shares - WEIGHTS).abs().sum() / 2), float(spread)


SHIFTS = (1.0, 3.0, 5.0, 7.0, 16.0)
MIXTURES = {"2-D toy": MEANS, f"{HIGH_DIM}-D mixture": high_means}
shift_table = {}
for name, means in MIXTURES.items():
    noise = torch.randn(N_HIGH_DIM, means.shape[1], generator=torch.Generator().manual_seed(11))
    for s in SHIFTS:
        samples = sample_flow_euler(mixture_velocity(means), noise, 8, shift=s)
        shift_table[name, s] = mixture_quality(samples, means)
display(viz.table([{"8 Euler steps": name, "measure": measure,
                    **{f"s = {s:g}": format(shift_table[name, s][column], fmt) for s in SHIFTS}}
                   for name in MIXTURES
                   for column, measure, fmt in ((0, "weight error", ".3f"), (1, "spread", ".2f"))]))
assert shift_table["2-D toy", 16.0][1] > shift_table["2-D toy", 1.0][1] + 0.5  # 2-D: the shift only hurts
assert shift_table[f"{HIGH_DIM}-D mixture", 7.0][0] < shift_table[f"{HIGH_DIM}-D mixture", 1.0][0] / 2

# %% [markdown]
# In 2-D every shift above 3 only smears the samples: the steps were needed at low noise. With
# many values per sample the unshifted sampler gets the *composition* wrong (a weight error several
# times the sampling noise) because the components are told apart at high noise, where it takes
# too few steps; the shift fixes that — paid for with the fine detail (spread falls), which
# needs the low-noise steps the shift took away. Try 50 steps instead of 8: on this crude mixture
# both errors shrink and the unshifted sampler does fine. The published shifts were tuned by their
# authors on real latents, a far harder distribution than four patterns — this table shows the
# mechanism, not their values.
#
# CogVideoX-2B's SNR shift from §1 is the same knob: on the flow path SNR = ((1−σ)/σ)², so a flow
# shift s divides the SNR by s². CogVideoX-2B's `shift_scale: 3.0` is, in SNR terms, a flow shift
# of √3 ≈ 1.73 (applied to its training schedule as well as to sampling).

# %%
snr_flow = lambda sigma: ((1 - sigma) / sigma) ** 2
assert_close(snr_flow(shift_sigmas(inner, 3**0.5)), snr_flow(inner) / 3)

# %% [markdown]
# ## 5. Classifier-free guidance
#
# Train one network both with and without its condition (dropping the prompt some of the time);
# at sampling, run it twice and extrapolate from the unconditional output u past the conditional
# one c (Ho & Salimans 2021). Two forms are in the official code:
#
# | form | formula | w that means "no guidance" | used by |
# | --- | --- | --- | --- |
# | standard | u + w·(c − u) | 1 | DiT, Wan (`guide_scale` 5.0), CogVideoX, diffusers, LVDM `uc_type=None` |
# | LVDM `cfg_original` | c + w·(c − u) | 0 | LVDM's long-video sampling (`--uncond_scale 0.1`) |
#
# The second is the first with w + 1. **A scale copied from one code base to the other must be
# shifted by one**: LVDM's 0.1 is a standard 1.1. Guidance is linear, so it applies alike to ε, v,
# x0 and flow velocities. On the toy, the condition is the class (0 = upper left, 1 = lower right)
# and the conditional oracle is the posterior of that class's two components; context 2 is the
# "null prompt" (the whole mixture).

# %%
NULL = 2


def class_weights(label):
    return WEIGHTS * (LABELS == label) / WEIGHTS[LABELS == label].sum() if label != NULL else WEIGHTS


def conditional_flow_oracle(x, t, context):  # context (N, 1): class 0, 1 or NULL
    sigma = t / 1000
    out = torch.empty_like(x)
    for label in (0, 1, NULL):
        rows = context[:, 0] == label
        if rows.any():
            x0_hat = posterior_x0(x[rows], 1 - sigma[rows], sigma[rows] ** 2, weights=class_weights(label))
            out[rows] = (x[rows] - x0_hat) / sigma[rows, None]
    return out


cond, uncond = torch.randn(2, 8, 4, 3, 5, 5).unbind(0)  # B C T H W model outputs
for w in (0.0, 1.0, 4.5):
    assert_close(cfg_combine(cond, uncond, w), uncond + w * (cond - uncond))
    assert_close(cfg_combine(cond, uncond, w, form="cfg_original"), cfg_combine(cond, uncond, w + 1))
assert_close(cfg_combine(cond, uncond, 1.0), cond)  # standard w = 1: the plain conditional model

x_probe, t_probe = torch.randn(16, 2), torch.full((16,), 600.0)
class0, null = torch.zeros(16, 1), torch.full((16, 1), float(NULL))
guided_model = cfg_model(conditional_flow_oracle, class0, null, 3.0)  # one doubled batch per call
by_hand = conditional_flow_oracle(x_probe, t_probe, null) + 3.0 * (
    conditional_flow_oracle(x_probe, t_probe, class0) - conditional_flow_oracle(x_probe, t_probe, null))
assert_close(guided_model(x_probe, t_probe), by_hand)
print("cfg_combine / cfg_model == u + w(c − u); LVDM's form == standard with w + 1")

# %% [markdown]
# Class-0 samples as w grows. At w = 1 they follow the class-0 data. Larger w pushes them
# away from class 1 — past where the class-0 data actually lie — and, at large w, off the data
# altogether: the toy version of the over-saturated, over-sharpened look of a too-high guidance
# scale.

# %%
start = torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(12))
class_axis = MEANS[LABELS == 0].mean(0) - MEANS[LABELS == 1].mean(0)
class_axis = class_axis / class_axis.norm()  # points from class 1 towards class 0
class0_data = toy_data[LABELS[torch.cdist(toy_data, MEANS).argmin(1)] == 0]
GUIDANCE = (0.0, 1.0, 3.0, 8.0)
guided = {w: sample_flow_euler(cfg_model(conditional_flow_oracle, torch.zeros(N_SAMPLES, 1),
                                         torch.full((N_SAMPLES, 1), float(NULL)), w), start, 50)
          for w in GUIDANCE}
guidance_rows = [{"w": "class-0 data", "mean position on the class axis": f"{(class0_data @ class_axis).mean():.2f}",
                  "spread": f"{toy_quality(class0_data)['spread']:.2f}", "stranded": ""}]
projection = {}
for w, samples in guided.items():
    projection[w] = float((samples @ class_axis).mean())
    quality = toy_quality(samples)
    guidance_rows.append({"w": f"{w:g}", "mean position on the class axis": f"{projection[w]:.2f}",
                          "spread": f"{quality['spread']:.2f}", "stranded": f"{quality['stranded']:.1%}"})
display(viz.table(guidance_rows))
assert abs(projection[1.0] - (class0_data @ class_axis).mean()) < 0.05  # w = 1: the class itself
assert projection[1.0] < projection[3.0] < projection[8.0]  # pushed away from class 1 as w grows
assert toy_quality(guided[8.0])["spread"] > 1.3  # ... and off the data

fig, axes = plt.subplots(1, len(GUIDANCE), figsize=(13, 3.6), layout="constrained")
for ax, (w, samples) in zip(axes, guided.items()):
    draw_data(ax)
    ax.scatter(*samples[:800].T, s=3, color="tab:blue")
    ax.set_title("w = 0 (unconditional)" if w == 0 else f"class 0, w = {w:g}")
axes[0].text(-3.7, 3.3, "class 0", fontsize=9)
axes[0].text(1.9, -3.6, "class 1", fontsize=9)
plt.close(fig)
fig

# %% [markdown]
# ## 6. Where the popular accounts get it wrong
#
# **"Denoising is the noisy image minus the predicted noise."** (*A Complete Analysis of Sora: from
# AI Painting and ViT to ViViT, TECO, DiT, VDT and NaViT*, v_JULY_v's long survey blog post, on DiT:
# "in essence, the noisy image minus the predicted noise, restoring the image step by step.")
# x_t − ε̂ is neither the clean sample nor the next step. The noise enters x_t scaled by √(1−ᾱ) and
# the signal by √ᾱ, so the clean estimate is x̂0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ, and a DDPM step then mixes
# x̂0 with x_t and *adds* fresh noise. Subtracting the whole ε̂ removes more noise than x_t
# contains — on the toy at t = 100 it lands *further* from the data than x_t itself:

# %%
x0_true = sample_toy(N_SAMPLES, torch.Generator().manual_seed(13))
t_probe = torch.full((N_SAMPLES,), 100)
ab_probe = linear.alphas_cumprod[100]  # ᾱ = 0.90: mostly signal
x_probe = ab_probe.sqrt() * x0_true + (1 - ab_probe).sqrt() * torch.randn(N_SAMPLES, 2)
eps_hat = eps_model(x_probe, t_probe)
guesses = {"x_t itself": x_probe, "x_t − ε̂": x_probe - eps_hat,
           "(x_t − √(1−ᾱ)·ε̂)/√ᾱ": predicted_x0(eps_hat, x_probe, ab_probe, "eps")}
error = {name: float((guess - x0_true).norm(dim=1).mean()) for name, guess in guesses.items()}
display(viz.table([{"estimate of x0": name, "mean distance to the true x0": value} for name, value in error.items()],
                  floatfmt=".3f"))
assert error["(x_t − √(1−ᾱ)·ε̂)/√ᾱ"] < error["x_t itself"] < error["x_t − ε̂"]

# %% [markdown]
# **"Sampling walks back through all 1000 training steps, predicting the noise."** (The pseudo-code
# in flyfish's blog post *How the Models inside Wan2.1 Image-to-Video Work Together* loops
# `for t in reversed(range(num_timesteps))` over `noise_pred`.) The steps table of §3 shows why
# nobody does this: deterministic samplers are done in a few dozen steps, and CogVideoX's official
# sampler runs 50. Nor do today's video models predict noise: CogVideoX predicts v, Wan and
# HunyuanVideo a flow velocity.
#
# **"At t = T the sample is pure Gaussian noise."** Not for the linear and scaled-linear schedules
# (§1's table: SD's √ᾱ_T = 0.068; the cosine schedule gets within 5·10⁻⁵). Only a zero-terminal-SNR
# schedule (CogVideoX) or flow matching (σ = 1) truly starts from pure noise.
#
# **diffusers' DDIM steps to t − T//n, not to the next listed timestep.**
# (`DDIMScheduler.step`: `prev_timestep = timestep - num_train_timesteps // num_inference_steps`.)
# Whenever n divides T (the usual 50 of 1000), and always with "leading" spacing, the two agree.
# With "linspace" spacing and 7 steps the sampler moves x to one noise level and then asks the
# model about another:

# %%
sd = noise_schedule("scaled_linear", 1000, 0.00085, 0.012)
sd_model = ddpm_oracle(sd)
listed = sd.timesteps(7, "linspace")
diffusers_jumps = listed - T // 7
print("visited timesteps       :", listed.tolist())
print("diffusers jumps x to    :", diffusers_jumps.tolist(), "(negative = clean)")
start = torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(14))
x = start
for t, t_next in zip(listed, diffusers_jumps):
    ab_next = sd.alphas_cumprod[t_next] if t_next >= 0 else torch.tensor(1.0)
    x = ddim_step(sd_model(x, t.expand(len(x))), x, sd.alphas_cumprod[t], ab_next, "eps")
diffusers_rule = toy_quality(x)["stranded"]
minivid_rule = toy_quality(sample_ddim(sd_model, start, sd, 7, spacing="linspace"))["stranded"]
print(f"stranded samples: t − T//n {diffusers_rule:.1%}, next listed step (minivid) {minivid_rule:.1%}")
assert minivid_rule < diffusers_rule

# %% [markdown]
# **diffusers' flow scheduler shifts its last step twice.** `FlowMatchEulerDiscreteScheduler`
# stores its *training* sigmas already shifted; `set_timesteps(n)` then spaces n sigmas from 1 down
# to the smallest of those and shifts them again. So its last nonzero σ is shift(shift(1/1000)),
# not the uniform grid's shift(1/n). minivid reproduces both (`convention=`; checked against
# diffusers in `tests/test_diffusion_parity.py`). HunyuanVideo's diffusers pipeline passes its own
# uniform sigmas. The grids differ near the end — the uniform one finishes with a big jump from
# σ = shift(1/n), diffusers' with a tiny one — so few-step samples differ; by 50 steps they agree:

# %%
for convention in ("uniform", "diffusers"):
    sigmas = flow_sigmas(10, 5.0, convention)
    print(f"{convention:9} s = 5, 10 steps:", " ".join(f"{value:.3f}" for value in sigmas.tolist()))
assert_close(flow_sigmas(10, 5.0, "diffusers")[-2], shift_sigmas(shift_sigmas(torch.tensor(1e-3), 5.0), 5.0))
start = torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(15))
by_convention = {(c, n): toy_quality(sample_flow_euler(flow_oracle, start, n, shift=5.0, convention=c))
                 for c in ("uniform", "diffusers") for n in (10, 50)}
display(viz.table([{"convention": c, "steps": n, "spread": f"{quality['spread']:.2f}",
                    "stranded": f"{quality['stranded']:.1%}"} for (c, n), quality in by_convention.items()]))
assert abs(by_convention["uniform", 50]["spread"] - by_convention["diffusers", 50]["spread"]) < 0.03

# %% [markdown]
# **DiT guides only 3 of its 4 latent channels.** `facebookresearch/DiT models.py : forward_with_cfg`
# applies guidance to the first 3 channels "for exact reproducibility" and returns the 4th from
# the conditional branch; VDT copies this, Latte patches it to 4. A port that "fixes" it changes
# DiT's samples; a port that copies it to a model with 16 latent channels leaves 13 unguided.
# `guided_channels=3` reproduces it:

# %%
dit_style = cfg_combine(cond, uncond, 4.0, guided_channels=3)  # B C T H W with C = 4, like DiT's latent
assert_close(dit_style[:, :3], cfg_combine(cond, uncond, 4.0)[:, :3])
assert_close(dit_style[:, 3:], cond[:, 3:])  # the rest: conditional output, unguided
print(f"channels guided: 3 of {cond.shape[1]}")

# %% [markdown]
# ## Summary
#
# - x_t = √ᾱ·x0 + √(1−ᾱ)·ε. The linear and scaled-linear schedules stop short of pure noise (SD:
#   √ᾱ_T = 0.068); the zero-terminal-SNR rescale fixes it, and needs v- (or x0-) prediction because
#   ε says nothing about x0 at SNR 0. CogVideoX uses both, plus (2B) an SNR shift by 3.
# - ε, v and x0 convert exactly; v = a·ε − s·x0 is a rotation, and converting from v never
#   amplifies the network's error.
# - DDPM adds fresh noise and needs many steps; DDIM and flow Euler are deterministic and are the
#   *same ODE* in different coordinates — on the toy both are done in ≈ 25 steps.
# - The shift σ' = sσ/(1+(s−1)σ) multiplies the noise odds by s and puts s/(s+1) of the steps above
#   σ = ½. Samples with many values are decided at high noise, which is why video needs it
#   (Wan2.1 T2V 5.0, HunyuanVideo 7.0; `SAMPLE_SHIFT`). A flow shift s = an SNR shift s².
# - Guidance u + w(c − u) pushes samples away from the other conditions; LVDM's c + w(c − u) is the
#   same with w + 1.
#
# ## Check yourself
#
# 1. Why can an ε-prediction model not be sampled from the last step of a zero-terminal-SNR
#    schedule, while a v-prediction model can?
# 2. DDPM with 25 steps under-disperses on the toy, DDIM with 25 steps does not. Which term of
#    the DDPM step is responsible?
# 3. With shift 5, what share of a 50-step sampler's steps lies above σ = ½? With shift 7?
# 4. A config from LVDM's long-video script says `--uncond_scale 0.1`. What `guidance_scale` gives
#    the same samples in a diffusers pipeline?
# 5. Why does the trained MLP's loss stop at the oracle's floor instead of going to zero, and why
#    is a loss close to the floor not yet proof of good samples?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1. DDIM inversion.** Run the deterministic DDIM step *backwards* (from ᾱ_t to a smaller
# ᾱ) with the oracle, from data points to noise, then sample forwards again from the result: you
# should get the data points back (Tune-A-Video edits videos this way).

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1: DDIM inversion with the oracle, 200 steps each way
inv_steps = 200
timesteps = linear.timesteps(inv_steps).flip(0)  # ascending: 0, 5, ..., 995
points = sample_toy(256, torch.Generator().manual_seed(15))
x = points
ab_prev = torch.tensor(1.0)
for t in timesteps:  # x at level ab_prev → level ᾱ_t, using the model at the current level
    t_model = max(int(t) - 1000 // inv_steps, 0)
    ab = linear.alphas_cumprod[t]
    x = ddim_step(eps_model(x, torch.full((len(x),), t_model)), x, ab_prev, ab, "eps")
    ab_prev = ab
recovered = sample_ddim(eps_model, x, linear, inv_steps)
print(f"inversion: mean |x_T| {x.norm(dim=1).mean():.2f}, reconstruction error "
      f"{(recovered - points).norm(dim=1).mean():.4f}")
assert (recovered - points).norm(dim=1).mean() < 0.05

# %% [markdown]
# **Exercise 2. Composing shifts.** Shifting σ by a and then by b is one shift by some s. diffusers'
# flow scheduler shifts its last step twice with s = 5 (section 6): which single shift does the
# same? Answer with a number. (The check measures how much the double shift multiplies the noise
# odds σ/(1−σ).) Then show numerically that shifting by a and then by b equals one shift by your
# rule, for a = 2 and b = 3.5.

# %%
# Exercise 2: replace None with your answer, then run the cell; it tells you whether you are right
answer_2 = None
sigma_probe = torch.tensor(0.3, dtype=F64)
double_shift_odds = float(odds(shift_sigmas(shift_sigmas(sigma_probe, 5.0), 5.0)) / odds(sigma_probe))
check(answer_2, double_shift_odds, "section 4: what does one shift by s do to the odds σ/(1−σ)?", rtol=1e-9)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2: each shift multiplies the odds, so shifts compose multiplicatively
solution_2 = 5.0 * 5.0
check(solution_2, double_shift_odds, rtol=1e-9)
a_shift, b_shift = 2.0, 3.5
assert_close(shift_sigmas(shift_sigmas(uniform, a_shift), b_shift), shift_sigmas(uniform, a_shift * b_shift))
assert_close(shift_sigmas(shift_sigmas(torch.tensor(1e-3), 5.0), 5.0), shift_sigmas(torch.tensor(1e-3), solution_2))

# %% [markdown]
# **Exercise 3. Steps above ½.** HunyuanVideo samples with shift 7. Of the 50 steps of a 50-step
# flow sampler (the σ it evaluates the model at, 1 included, the final 0 not), how many lie above
# σ = ½? Answer with an int: section 4's s/(s+1) is only right up to one step.

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
check(answer_3, int((flow_sigmas(50, 7.0)[:-1] > 0.5).sum()),
      "solve sσ/(1+(s−1)σ) > ½ for the *unshifted* σ, then count the uniform σ = 1 − i/50 that qualify")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3: sσ/(1+(s−1)σ) > ½  ⇔  σ > 1/(s+1) = 1/8, and σ = 1 − i/50 > 1/8 ⇔ i < 43.75
solution_3 = len([i for i in range(50) if 1 - i / 50 > 1 / (7 + 1)])  # i = 0 … 43
check(solution_3, int((flow_sigmas(50, 7.0)[:-1] > 0.5).sum()))

# %% [markdown]
# **Exercise 4. Terminal SNR.** From which training step t on is the cosine schedule's SNR below
# Stable Diffusion's terminal SNR (0.0047)? Answer with an int. (The check reads both schedules
# from `minivid.diffusion`.)

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
cosine_ab = noise_schedule(*SCHEDULE_ARGS["cosine"], dtype=F64).alphas_cumprod
sd_ab = noise_schedule(*SCHEDULE_ARGS["scaled_linear"], dtype=F64).alphas_cumprod
cosine_snr, sd_terminal_snr = cosine_ab / (1 - cosine_ab), sd_ab[-1] / (1 - sd_ab[-1])
check(answer_4, int((cosine_snr < sd_terminal_snr).float().argmax()),
      "the SNR of a schedule is ᾱ/(1−ᾱ) and falls with t; find the first step below the threshold")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4: where the from-scratch cosine SNR of section 1 falls below SD's terminal SNR
sd_terminal = snr_of["scaled_linear"][-1]
solution_4 = int((snr_of["cosine"] < sd_terminal).nonzero()[0])
print(f"cosine SNR < {sd_terminal:.4f} from step {solution_4} on")
assert snr_of["cosine"][solution_4] < sd_terminal <= snr_of["cosine"][solution_4 - 1]
check(solution_4, int((cosine_snr < sd_terminal_snr).float().argmax()))

# %% [markdown]
# **Exercise 5. Guidance on ε.** Sample class 1 with DDIM and ε-prediction at w = 3 using
# `cfg_model` and a conditional ε-oracle, and check that the samples move away from class 0.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 5: guidance on ε with DDIM
def conditional_eps_oracle(x, t, context):
    ab = linear.alphas_cumprod[t]
    a_t, s_t = ab.sqrt()[:, None], (1 - ab).sqrt()[:, None]
    out = torch.empty_like(x)
    for label in (0, 1, NULL):
        rows = context[:, 0] == label
        if rows.any():
            x0_hat = posterior_x0(x[rows], a_t[rows, 0], s_t[rows, 0] ** 2, weights=class_weights(label))
            out[rows] = (x[rows] - a_t[rows] * x0_hat) / s_t[rows]
    return out


start = torch.randn(1000, 2, generator=torch.Generator().manual_seed(16))
class1, null_ctx = torch.ones(1000, 1), torch.full((1000, 1), float(NULL))
plain = sample_ddim(cfg_model(conditional_eps_oracle, class1, null_ctx, 1.0), start, linear, 50)
pushed = sample_ddim(cfg_model(conditional_eps_oracle, class1, null_ctx, 3.0), start, linear, 50)
assert (pushed @ class_axis).mean() < (plain @ class_axis).mean() < 0  # further from class 0
