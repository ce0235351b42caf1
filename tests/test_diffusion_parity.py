"""minivid.diffusion against diffusers' schedulers: same schedules, same timesteps, and, for the
same fake model and the same noise, the same sampling trajectory step for step (fp32).

The fake model is a fixed random channel mix of x plus a function of t, so every step's output
depends on both the sample and the timestep the sampler hands it.
"""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

from minivid.diffusion import (flow_sigmas, noise_schedule, sample_ddim, sample_ddpm,
                               sample_flow_euler, v_target)
from minivid.diffusion.schedules import DIFFUSERS_BETA_SCHEDULE
from minivid.diffusion.targets import DIFFUSERS_PREDICTION

SHAPE = (2, 4, 3, 4, 4)  # B C T H W
SD_BETAS = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "cosine": (1e-4, 0.02)}


def fake_model(time_scale: float):
    """A deterministic `(x, t) -> output`: mix channels of x, add a per-channel function of t."""
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(SHAPE[1], SHAPE[1], generator=g) / SHAPE[1] ** 0.5
    phase = torch.randn(SHAPE[1], generator=g)

    def model_fn(x, t):
        bias = torch.sin(t.float()[:, None] / time_scale * 3 + phase)  # B C
        return torch.einsum("oc,bc...->bo...", mix, x) * 0.5 + bias[:, :, None, None, None]

    return model_fn


def initial_noise(seed=1):
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def diffusers_loop(scheduler, model_fn, x, step_kwargs=None):
    """The diffusers pipeline loop, recording x after every step."""
    trajectory = [x]
    for t in scheduler.timesteps:
        output = model_fn(x, t.expand(x.shape[0]))
        x = scheduler.step(output, t, x, **(step_kwargs or {})).prev_sample
        trajectory.append(x)
    return torch.stack(trajectory)


def assert_trajectories_match(ours, theirs, rtol=1e-6):
    assert ours.shape == theirs.shape
    for step, (a, b) in enumerate(zip(ours, theirs)):
        scale = b.abs().max()
        assert torch.isfinite(a).all() and torch.isfinite(b).all(), f"non-finite at step {step}"
        assert (a - b).abs().max() <= rtol * scale, (
            f"step {step}: max error {(a - b).abs().max():.3g} vs scale {scale:.3g}")


def ddpm_config(kind, prediction, spacing, zero_snr, **extra):
    beta_start, beta_end = SD_BETAS[kind]
    return dict(num_train_timesteps=1000, beta_start=beta_start, beta_end=beta_end,
                beta_schedule=DIFFUSERS_BETA_SCHEDULE[kind], rescale_betas_zero_snr=zero_snr,
                prediction_type=DIFFUSERS_PREDICTION[prediction], timestep_spacing=spacing, **extra)


def schedule_for(kind, zero_snr):
    beta_start, beta_end = SD_BETAS[kind]
    return noise_schedule(kind, 1000, beta_start, beta_end, zero_terminal_snr=zero_snr)


# --- schedules and timesteps ------------------------------------------------------------------

@pytest.mark.parametrize("zero_snr", [False, True])
@pytest.mark.parametrize("kind", ["linear", "scaled_linear", "cosine"])
def test_betas_and_alphas_cumprod_equal_diffusers(kind, zero_snr):
    theirs = DDPMScheduler(**ddpm_config(kind, "eps", "leading", zero_snr))
    ours = schedule_for(kind, zero_snr)
    torch.testing.assert_close(ours.betas, theirs.betas, rtol=1e-6, atol=0)
    torch.testing.assert_close(ours.alphas_cumprod, theirs.alphas_cumprod, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("spacing, offset, num_steps", [
    (spacing, 0, n) for spacing in ("leading", "trailing", "linspace") for n in (1, 10, 30, 50, 1000)
] + [("leading", 1, n) for n in (1, 10, 30, 50)])  # offset 1 with 1000 steps would reach t = 1000
def test_timesteps_equal_diffusers(spacing, offset, num_steps):
    theirs = DDPMScheduler(timestep_spacing=spacing, steps_offset=offset)
    theirs.set_timesteps(num_steps)
    ours = schedule_for("linear", False).timesteps(num_steps, spacing, offset)
    assert ours.tolist() == theirs.timesteps.tolist()


def test_add_noise_and_velocity_equal_diffusers():
    theirs = DDPMScheduler(**ddpm_config("scaled_linear", "v", "trailing", True))
    ours = schedule_for("scaled_linear", True)
    x0, noise = initial_noise(2), initial_noise(3)
    t = torch.tensor([999, 17])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), theirs.add_noise(x0, noise, t),
                               rtol=1e-6, atol=1e-6)
    ab = ours.alphas_cumprod[t]
    torch.testing.assert_close(v_target(x0, noise, ab), theirs.get_velocity(x0, noise, t),
                               rtol=1e-6, atol=1e-6)


# --- DDPM -------------------------------------------------------------------------------------

DDPM_CASES = [  # kind, prediction, spacing, zero terminal SNR, steps
    ("linear", "eps", "leading", False, 10),
    ("linear", "eps", "linspace", False, 50),
    ("scaled_linear", "eps", "trailing", False, 50),
    ("cosine", "eps", "leading", False, 50),
    ("linear", "x0", "leading", False, 10),
    ("scaled_linear", "v", "trailing", True, 10),
    ("scaled_linear", "v", "trailing", True, 50),
    ("cosine", "v", "linspace", True, 50),
    ("linear", "x0", "trailing", True, 50),
]


@pytest.mark.parametrize("clip", [None, 1.0])
@pytest.mark.parametrize("kind, prediction, spacing, zero_snr, num_steps", DDPM_CASES)
def test_ddpm_trajectory_equals_diffusers(kind, prediction, spacing, zero_snr, num_steps, clip):
    model_fn = fake_model(1000)
    theirs = DDPMScheduler(**ddpm_config(kind, prediction, spacing, zero_snr,
                                         clip_sample=clip is not None, clip_sample_range=clip or 1.0))
    theirs.set_timesteps(num_steps)
    expected = diffusers_loop(theirs, model_fn, initial_noise(),
                              dict(generator=torch.Generator().manual_seed(7)))
    _, ours = sample_ddpm(model_fn, initial_noise(), schedule_for(kind, zero_snr), num_steps,
                          prediction=prediction, spacing=spacing, clip_x0=clip,
                          generator=torch.Generator().manual_seed(7), return_trajectory=True)
    assert_trajectories_match(ours, expected)


def test_ddpm_large_variance_equals_diffusers_fixed_large():
    model_fn = fake_model(1000)
    theirs = DDPMScheduler(**ddpm_config("scaled_linear", "eps", "leading", False, clip_sample=False,
                                         variance_type="fixed_large"))
    theirs.set_timesteps(20)
    expected = diffusers_loop(theirs, model_fn, initial_noise(),
                              dict(generator=torch.Generator().manual_seed(7)))
    _, ours = sample_ddpm(model_fn, initial_noise(), schedule_for("scaled_linear", False), 20,
                          variance="large", generator=torch.Generator().manual_seed(7),
                          return_trajectory=True)
    assert_trajectories_match(ours, expected)


# --- DDIM -------------------------------------------------------------------------------------

DDIM_CASES = [  # kind, prediction, spacing, zero terminal SNR, steps, eta, set_alpha_to_one
    ("linear", "eps", "leading", False, 10, 0.0, True),
    ("scaled_linear", "eps", "leading", False, 50, 0.0, False),
    ("scaled_linear", "eps", "trailing", False, 50, 0.0, True),
    ("cosine", "eps", "leading", False, 50, 0.0, True),
    ("linear", "x0", "leading", False, 10, 0.0, True),
    ("scaled_linear", "v", "trailing", True, 50, 0.0, True),  # CogVideoX's setting
    ("scaled_linear", "v", "trailing", True, 10, 0.5, True),
    ("linear", "eps", "leading", False, 50, 1.0, False),
    ("cosine", "x0", "trailing", True, 10, 1.0, True),
    ("scaled_linear", "v", "leading", False, 20, 0.3, False),
]


@pytest.mark.parametrize("kind, prediction, spacing, zero_snr, num_steps, eta, alpha_one", DDIM_CASES)
def test_ddim_trajectory_equals_diffusers(kind, prediction, spacing, zero_snr, num_steps, eta,
                                          alpha_one):
    model_fn = fake_model(1000)
    theirs = DDIMScheduler(**ddpm_config(kind, prediction, spacing, zero_snr, clip_sample=False,
                                         set_alpha_to_one=alpha_one))
    theirs.set_timesteps(num_steps)
    expected = diffusers_loop(theirs, model_fn, initial_noise(),
                              dict(eta=eta, generator=torch.Generator().manual_seed(7)))
    _, ours = sample_ddim(model_fn, initial_noise(), schedule_for(kind, zero_snr), num_steps,
                          prediction=prediction, eta=eta, spacing=spacing,
                          set_alpha_to_one=alpha_one, generator=torch.Generator().manual_seed(7),
                          return_trajectory=True)
    assert_trajectories_match(ours, expected)


def test_ddim_with_clipping_equals_diffusers():
    model_fn = fake_model(1000)
    theirs = DDIMScheduler(**ddpm_config("linear", "eps", "leading", False, clip_sample=True,
                                         clip_sample_range=1.5))
    theirs.set_timesteps(25)
    expected = diffusers_loop(theirs, model_fn, initial_noise())
    _, ours = sample_ddim(model_fn, initial_noise(), schedule_for("linear", False), 25,
                          clip_x0=1.5, return_trajectory=True)
    assert_trajectories_match(ours, expected)


# --- flow matching ------------------------------------------------------------------------------

@pytest.mark.parametrize("num_steps", [1, 10, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 7.0])
@pytest.mark.parametrize("convention", ["diffusers", "uniform"])
def test_flow_sigmas_and_timesteps_equal_diffusers(convention, shift, num_steps):
    theirs = FlowMatchEulerDiscreteScheduler(shift=shift)
    if convention == "diffusers":
        theirs.set_timesteps(num_steps)
    else:  # what diffusers' HunyuanVideo pipeline passes
        theirs.set_timesteps(sigmas=torch.linspace(1, 0, num_steps + 1, dtype=torch.float64)[:-1].numpy())
    ours = flow_sigmas(num_steps, shift, convention)
    torch.testing.assert_close(ours, theirs.sigmas, rtol=1e-6, atol=0)
    torch.testing.assert_close(ours[:-1] * 1000, theirs.timesteps, rtol=1e-6, atol=0)


@pytest.mark.parametrize("num_steps", [10, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0])
@pytest.mark.parametrize("convention", ["diffusers", "uniform"])
def test_flow_euler_trajectory_equals_diffusers(convention, shift, num_steps):
    model_fn = fake_model(1000)
    theirs = FlowMatchEulerDiscreteScheduler(shift=shift)
    if convention == "diffusers":
        theirs.set_timesteps(num_steps)
    else:
        theirs.set_timesteps(sigmas=torch.linspace(1, 0, num_steps + 1, dtype=torch.float64)[:-1].numpy())
    expected = diffusers_loop(theirs, model_fn, initial_noise())
    _, ours = sample_flow_euler(model_fn, initial_noise(), num_steps, shift=shift,
                                convention=convention, return_trajectory=True)
    assert_trajectories_match(ours, expected)


# --- CogVideoX: v-prediction DDIM on a shifted, zero-terminal-SNR schedule ---------------------------

@pytest.mark.parametrize("snr_shift_scale", [1.0, 3.0])
@pytest.mark.parametrize("num_steps", [1, 10, 50])
def test_cogvideox_ddim_trajectory_equals_diffusers(snr_shift_scale, num_steps):
    """The 2B's scheduler (snr_shift_scale 3) and the 5B's (1): schedule, trailing timesteps, and the
    trajectory for the same fake v-prediction model."""
    from diffusers import CogVideoXDDIMScheduler

    theirs = CogVideoXDDIMScheduler(snr_shift_scale=snr_shift_scale, beta_start=0.00085, beta_end=0.012,
                                    beta_schedule="scaled_linear", clip_sample=False, num_train_timesteps=1000,
                                    prediction_type="v_prediction", rescale_betas_zero_snr=True,
                                    set_alpha_to_one=True, timestep_spacing="trailing")
    ours = noise_schedule("scaled_linear", 1000, 0.00085, 0.012, zero_terminal_snr=True,
                          snr_shift_scale=snr_shift_scale)
    torch.testing.assert_close(ours.alphas_cumprod, theirs.alphas_cumprod.float(), rtol=1e-5, atol=1e-7)
    assert ours.alphas_cumprod[-1] == 0  # zero terminal SNR
    theirs.set_timesteps(num_steps)
    model_fn = fake_model(1000)
    expected = diffusers_loop(theirs, model_fn, initial_noise())
    _, trajectory = sample_ddim(model_fn, initial_noise(), ours, num_steps, prediction="v", spacing="trailing",
                                return_trajectory=True)
    assert_trajectories_match(trajectory, expected, rtol=2e-6)


def test_cogvideox_dynamic_cfg_as_designed_and_as_released():
    """As designed (`DynamicCFG` over the step index) the scale ramps from 1 (step 0) to 1 + scale (last
    step). As released, SAT's `VideoDDIMSampler` and diffusers' pipeline both put `num_steps - timestep`
    where the index goes (timestep 999, 979, ...), and the scale jumps about; `timestep=` reproduces that."""
    import math

    from minivid.diffusion import dynamic_guidance_scale

    steps, scale = 50, 6.0
    designed = [dynamic_guidance_scale(scale, i, steps) for i in range(steps)]
    assert designed[0] == 1.0 and all(a <= b for a, b in zip(designed, designed[1:]))
    assert designed[-1] > 1 + 0.9 * scale
    timesteps = spaced_timesteps_for(steps)  # 999, 979, ..., 19: the trailing spacing both releases use
    diffusers_formula = [1 + scale * ((1 - math.cos(math.pi * ((steps - t) / steps) ** 5.0)) / 2) for t in timesteps]
    released = [dynamic_guidance_scale(scale, i, steps, timestep=t) for i, t in enumerate(timesteps)]
    assert released == diffusers_formula
    assert any(abs(a - b) > 1 for a, b in zip(designed, released))
    assert max(abs(a - b) for a, b in zip(released, released[1:])) > 1  # it jumps from step to step


def spaced_timesteps_for(steps):
    from minivid.diffusion import spaced_timesteps

    return spaced_timesteps(steps, 1000, "trailing").tolist()
