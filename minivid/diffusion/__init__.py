"""The diffusion core: noise schedules, prediction targets, samplers and classifier-free guidance.

- `targets`: x_t from (x0, eps); exact conversions between eps, v and x0 predictions.
- `schedules`: DDPM β-schedules (linear, scaled-linear, cosine), zero-terminal-SNR rescaling,
  timestep spacings.
- `flow`: flow matching (rectified flow) with the timestep shift of Wan and HunyuanVideo, and the
  training noise levels (logit-normal or uniform, shifted).
- `samplers`: DDPM, DDIM (η) and flow-Euler steps and loops over any `model_fn(x, t)`.
- `guidance`: classifier-free guidance, standard and LVDM forms.
"""
from minivid.diffusion.flow import (SAMPLE_SHIFT, flow_noisy_sample, flow_predicted_x0, flow_sigmas,
                                    flow_velocity_target, shift_sigmas, training_sigmas)
from minivid.diffusion.guidance import cfg_combine, cfg_model, dynamic_guidance_scale
from minivid.diffusion.samplers import (ddim_step, ddpm_step, flow_euler_step, sample_ddim,
                                        sample_ddpm, sample_flow_euler)
from minivid.diffusion.schedules import (NoiseSchedule, make_betas, noise_schedule,
                                         rescale_zero_terminal_snr, shift_snr, spaced_timesteps)
from minivid.diffusion.targets import (noisy_sample, predicted_eps, predicted_x0, training_target,
                                       v_target)

__all__ = [
    "SAMPLE_SHIFT", "flow_noisy_sample", "flow_predicted_x0", "flow_sigmas", "flow_velocity_target",
    "shift_sigmas", "training_sigmas", "cfg_combine", "cfg_model", "dynamic_guidance_scale", "ddim_step", "ddpm_step", "flow_euler_step",
    "sample_ddim", "sample_ddpm", "sample_flow_euler", "NoiseSchedule", "make_betas",
    "noise_schedule", "rescale_zero_terminal_snr", "shift_snr", "spaced_timesteps", "noisy_sample",
    "predicted_eps", "predicted_x0", "training_target", "v_target",
]
