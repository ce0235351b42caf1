"""minivid.diffusion: schedules, prediction targets, flow shift, samplers and guidance.

The end-to-end checks use *oracle* models: for data drawn from a known Gaussian mixture, the exact
E[x0 | x_t] is computable in closed form, so the eps / v / x0 / velocity a perfect network would
output is known. A correct sampler driven by it must land on the data distribution.
"""
import math

import pytest
import torch

from minivid.diffusion import (cfg_combine, cfg_model, ddim_step, ddpm_step,
                               flow_noisy_sample, flow_predicted_x0, flow_sigmas,
                               flow_velocity_target, make_betas, noise_schedule, noisy_sample,
                               predicted_eps, predicted_x0, rescale_zero_terminal_snr, sample_ddim,
                               sample_ddpm, sample_flow_euler, shift_sigmas, spaced_timesteps,
                               training_sigmas, training_target, v_target)
from minivid.diffusion.schedules import NoiseSchedule
from minivid.diffusion.targets import PREDICTIONS

F64 = torch.float64
SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012)  # Stable Diffusion / CogVideoX


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --- schedules ----------------------------------------------------------------------------------

@pytest.mark.parametrize("zero_snr", [False, True])
@pytest.mark.parametrize("kind", ["linear", "scaled_linear", "cosine"])
def test_alphas_cumprod_decrease_strictly_from_near_one(kind, zero_snr):
    schedule = noise_schedule(kind, zero_terminal_snr=zero_snr, dtype=F64)
    ab = schedule.alphas_cumprod
    assert (ab[1:] < ab[:-1]).all() and ab[0] < 1 and ab[0] > 0.99
    snr = schedule.snr()
    assert (snr[1:] < snr[:-1]).all()
    assert (snr[-1] == 0) if zero_snr else (snr[-1] > 0)


@pytest.mark.parametrize("kind", ["linear", "scaled_linear", "cosine"])
def test_zero_terminal_snr_rescale_is_affine_in_sqrt_alpha_bar_with_first_step_kept(kind):
    """Lin et al. 2023, Algorithm 1: √ᾱ is shifted and scaled; its last value becomes exactly 0."""
    betas = make_betas(kind, dtype=F64)
    before = torch.cumprod(1 - betas, 0).sqrt()
    after = torch.cumprod(1 - rescale_zero_terminal_snr(betas), 0).sqrt()
    assert after[-1] == 0
    torch.testing.assert_close(after[0], before[0], rtol=1e-12, atol=0)
    slope = (after[0] - after[-1]) / (before[0] - before[-1])
    torch.testing.assert_close(after, (before - before[-1]) * slope, rtol=1e-9, atol=1e-12)


def test_zero_terminal_snr_is_exact_in_float32_too():
    assert noise_schedule("scaled_linear", **SD, zero_terminal_snr=True).alphas_cumprod[-1] == 0


def test_stable_diffusion_terminal_snr_is_the_one_lin_et_al_report():
    """Lin et al. 2023 §3.1: SD's schedule leaves √ᾱ_T = 0.068265, SNR 0.004682: not pure noise."""
    schedule = noise_schedule("scaled_linear", **SD, dtype=F64)
    assert schedule.alphas_cumprod[-1].sqrt().item() == pytest.approx(0.068265, abs=1e-6)
    assert schedule.snr()[-1].item() == pytest.approx(0.004682, abs=1e-6)


def test_cosine_schedule_follows_the_squared_cosine_until_beta_is_capped():
    ab = noise_schedule("cosine", dtype=F64).alphas_cumprod
    t = torch.arange(1, 1001, dtype=F64) / 1000
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(ab[:990], f[:990], rtol=1e-10, atol=0)
    assert make_betas("cosine", dtype=F64).max() == 0.999  # the cap binds at the very end


def test_spacings_reproduce_lin_et_al_table_2():
    """Table 2 lists 1-based steps for T = 1000 and 10 sampling steps; minivid's are 0-based."""
    assert spaced_timesteps(10, 1000, "linspace").tolist() == [999, 888, 777, 666, 555, 444, 333, 222,
                                                               111, 0]
    assert spaced_timesteps(10, 1000, "leading").tolist() == list(range(900, -1, -100))
    assert spaced_timesteps(10, 1000, "trailing").tolist() == list(range(999, 0, -100))
    assert spaced_timesteps(10, 1000, "leading", steps_offset=1).tolist() == list(range(901, 0, -100))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("num_steps", [1, 7, 30, 333, 1000])
def test_spaced_timesteps_are_distinct_descending_training_steps(spacing, num_steps):
    t = spaced_timesteps(num_steps, 1000, spacing)
    assert len(t) == num_steps and t.dtype == torch.int64
    assert (t[1:] < t[:-1]).all() and t.min() >= 0 and t.max() <= 999
    if spacing == "trailing":
        assert t[0] == 999  # starts at pure noise under a zero-terminal-SNR schedule


def test_add_noise_uses_each_samples_own_timestep():
    schedule = noise_schedule("linear", dtype=F64)
    x0, noise = randn(3, 2, 4), randn(3, 2, 4, seed=1)
    t = torch.tensor([0, 500, 999])
    xt = schedule.add_noise(x0, noise, t)
    for i in range(3):
        ab = schedule.alphas_cumprod[t[i]]
        torch.testing.assert_close(xt[i], ab.sqrt() * x0[i] + (1 - ab).sqrt() * noise[i])


# --- prediction targets -------------------------------------------------------------------------

@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_conversions_are_exact_inverses(prediction):
    x0, eps = randn(64, 3, 5), randn(64, 3, 5, seed=1)
    ab = torch.rand(64, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.998 + 0.001
    x_t = noisy_sample(x0, eps, ab)
    output = training_target(x0, eps, ab, prediction)
    torch.testing.assert_close(predicted_x0(output, x_t, ab, prediction), x0, rtol=0, atol=1e-11)
    torch.testing.assert_close(predicted_eps(output, x_t, ab, prediction), eps, rtol=0, atol=1e-11)
    x0_hat = predicted_x0(output, x_t, ab, prediction)
    eps_hat = predicted_eps(output, x_t, ab, prediction)
    for other in PREDICTIONS:  # through x0 and eps, any prediction converts to any other
        torch.testing.assert_close(training_target(x0_hat, eps_hat, ab, other),
                                   training_target(x0, eps, ab, other), rtol=0, atol=1e-11)


def test_v_and_x_t_are_a_rotation_of_x0_and_eps():
    x0, eps = randn(1000), randn(1000, seed=1)
    for ab in (0.0, 0.3, 0.999):
        x_t, v = noisy_sample(x0, eps, ab), v_target(x0, eps, ab)
        torch.testing.assert_close(x_t.square() + v.square(), x0.square() + eps.square())


def test_at_zero_snr_v_and_x0_predictions_work_and_eps_prediction_raises():
    x0, eps = randn(8, 4), randn(8, 4, seed=1)
    x_t = noisy_sample(x0, eps, 0.0)
    assert torch.equal(x_t, eps)  # pure noise: nothing of x0 is left in x_t
    v = v_target(x0, eps, 0.0)
    torch.testing.assert_close(v, -x0)
    torch.testing.assert_close(predicted_x0(v, x_t, 0.0, "v"), x0)
    torch.testing.assert_close(predicted_eps(x0, x_t, 0.0, "x0"), eps)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        predicted_x0(eps, x_t, 0.0, "eps")
    with pytest.raises(ValueError, match="zero terminal SNR"):  # one zero-SNR sample in a batch
        predicted_x0(eps, x_t, torch.tensor([0.5] * 7 + [0.0], dtype=F64), "eps")
    with pytest.raises(ValueError, match="no noise"):
        predicted_eps(x0, x0, 1.0, "x0")


# --- flow matching ------------------------------------------------------------------------------

@pytest.mark.parametrize("shift", [0.5, 1.0, 3.0, 5.0, 7.0, 16.0])
def test_shift_maps_unit_interval_onto_itself_monotonically_with_fixed_endpoints(shift):
    sigma = torch.linspace(0, 1, 1001, dtype=F64)
    shifted = shift_sigmas(sigma, shift)
    assert shifted[0] == 0 and shifted[-1] == 1
    assert (shifted[1:] > shifted[:-1]).all()
    if shift > 1:
        assert (shifted[1:-1] > sigma[1:-1]).all()  # every step moves towards noise


def test_shift_multiplies_the_noise_odds_and_composes():
    sigma = torch.linspace(0.01, 0.99, 99, dtype=F64)
    odds = sigma / (1 - sigma)
    shifted = shift_sigmas(sigma, 5.0)
    torch.testing.assert_close(shifted / (1 - shifted), 5.0 * odds)
    torch.testing.assert_close(shift_sigmas(shift_sigmas(sigma, 3.0), 5.0), shift_sigmas(sigma, 15.0))


def test_shift_above_one_spends_more_steps_at_high_noise():
    uniform = flow_sigmas(50, 1.0)[:-1]
    for shift in (3.0, 5.0, 7.0):
        shifted = flow_sigmas(50, shift)[:-1]
        assert (shifted >= uniform).all()
        assert (shifted > 0.5).sum() > (uniform > 0.5).sum()


@pytest.mark.parametrize("kind", ["logit_normal", "uniform"])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_training_sigmas_follow_their_distribution_and_shift(kind, shift):
    torch.manual_seed(0)
    sigma = training_sigmas(200_000, kind, shift)
    assert sigma.shape == (200_000,) and 0 < sigma.min() and sigma.max() < 1
    assert abs(sigma.median().item() - shift_sigmas(torch.tensor(0.5), shift).item()) < 0.005
    # the fraction below σ = 0.3 is the base distribution's mass below the un-shifted point
    base = 0.3 / (shift - (shift - 1) * 0.3)  # shift_sigmas(base, shift) == 0.3
    expected = torch.special.ndtr(torch.logit(torch.tensor(base))) if kind == "logit_normal" else base
    assert abs((sigma < 0.3).float().mean().item() - float(expected)) < 0.005
    with pytest.raises(ValueError, match="unknown sigma sampling 'beta'"):
        training_sigmas(4, "beta")


@pytest.mark.parametrize("convention", ["uniform", "diffusers"])
def test_flow_sigmas_run_from_pure_noise_to_zero(convention):
    sigmas = flow_sigmas(20, 5.0, convention)
    assert len(sigmas) == 21 and sigmas[0] == 1 and sigmas[-1] == 0
    assert (sigmas[1:] < sigmas[:-1]).all()
    torch.testing.assert_close(flow_sigmas(10, 1.0, "uniform"), torch.linspace(1, 0, 11))


def test_flow_velocity_is_the_derivative_of_the_noisy_path_and_recovers_x0():
    x0, noise = randn(4, 6), randn(4, 6, seed=1)
    s = torch.tensor([0.1, 0.4, 0.7, 1.0], dtype=F64)
    x = flow_noisy_sample(x0, noise, s)
    derivative = (flow_noisy_sample(x0, noise, s + 1e-3) - flow_noisy_sample(x0, noise, s - 1e-3)) / 2e-3
    torch.testing.assert_close(derivative, flow_velocity_target(x0, noise))
    torch.testing.assert_close(flow_predicted_x0(flow_velocity_target(x0, noise), x, s), x0)


def test_euler_on_a_linear_ode_is_the_exact_product_and_first_order():
    """dx/dσ = σ·x, read from the model's t = 1000σ: x(0) = x(1)·e^{-1/2}."""
    x1 = randn(3, 2)

    def model_fn(x, t):
        return (t / 1000).to(x.dtype)[:, None] * x

    errors = []
    for n in (20, 40, 80):
        sigmas = flow_sigmas(n).double()
        factor = torch.prod(1 + (sigmas[1:] - sigmas[:-1]) * sigmas[:-1])
        x0 = sample_flow_euler(model_fn, x1, n)
        torch.testing.assert_close(x0, factor * x1, rtol=1e-6, atol=0)
        errors.append((x0 - math.exp(-0.5) * x1).abs().max().item())
    assert 1.8 < errors[0] / errors[1] < 2.2 and 1.8 < errors[1] / errors[2] < 2.2


# --- DDPM / DDIM steps --------------------------------------------------------------------------

def test_ddim_eta_one_is_the_ddpm_step():
    x_t, output, noise = randn(5, 3), randn(5, 3, seed=1), randn(5, 3, seed=2)
    ab, ab_prev = torch.tensor([0.2, 0.5, 0.7, 0.05, 0.9], dtype=F64), torch.tensor(
        [0.4, 0.6, 0.99, 0.5, 1.0], dtype=F64)
    for prediction in PREDICTIONS:
        torch.testing.assert_close(ddim_step(output, x_t, ab, ab_prev, prediction, 1.0, noise),
                                   ddpm_step(output, x_t, ab, ab_prev, prediction, noise),
                                   rtol=0, atol=1e-12)


def test_ddim_eta_zero_step_is_undone_by_the_step_back_with_the_same_eps():
    x_t, eps = randn(6, 4), randn(6, 4, seed=1)
    x_prev = ddim_step(eps, x_t, 0.3, 0.8, "eps")
    torch.testing.assert_close(ddim_step(eps, x_prev, 0.8, 0.3, "eps"), x_t, rtol=0, atol=1e-12)


def test_ddim_eta_zero_is_deterministic_and_eta_positive_is_not():
    schedule = noise_schedule("linear")
    model_fn = lambda x, t: 0.1 * x  # noqa: E731
    x_T = randn(2, 3).float()
    runs = [sample_ddim(model_fn, x_T, schedule, 10, eta=eta, generator=torch.Generator().manual_seed(s))
            for eta in (0.0, 0.5) for s in (0, 1)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[2], runs[3])


def test_trajectory_starts_at_the_noise_and_ends_at_the_sample(capsys):
    schedule = noise_schedule("linear")
    x_T = randn(2, 3).float()
    final, trajectory = sample_ddim(lambda x, t: 0.1 * x, x_T, schedule, 10, progress=True,
                                    return_trajectory=True)
    assert trajectory.shape == (11, 2, 3)
    assert torch.equal(trajectory[0], x_T) and torch.equal(trajectory[-1], final)
    assert "10/10" in capsys.readouterr().err  # the tqdm bar reached the last step


# --- oracle end-to-end: the samplers land on the data distribution -----------------------------

MEANS = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]], dtype=F64)
WEIGHTS = torch.tensor([0.5, 0.3, 0.2], dtype=F64)
STD = 0.3


def posterior_x0(x, signal, noise_var):
    """Exact E[x0 | x] for x = signal·x0 + N(0, noise_var) and x0 ~ the isotropic 2-D mixture."""
    var = signal**2 * STD**2 + noise_var
    log_r = WEIGHTS.log() - ((x[:, None] - signal * MEANS) ** 2).sum(-1) / (2 * var)  # N K
    per_component = MEANS + signal * STD**2 / var * (x[:, None] - signal * MEANS)  # N K 2
    return (log_r.softmax(-1)[..., None] * per_component).sum(1)


def ddpm_oracle(schedule, prediction):
    def model_fn(x, t):
        ab = schedule.alphas_cumprod[t[0]].double()
        x0 = posterior_x0(x, ab.sqrt(), 1 - ab)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        return {"x0": x0, "eps": eps, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[prediction]
    return model_fn


def flow_oracle(x, t):
    sigma = t[0].double() / 1000
    return (x - posterior_x0(x, 1 - sigma, sigma**2)) / sigma  # E[noise − x0 | x]


def assert_lands_on_the_mixture(samples):
    component = torch.cdist(samples, MEANS).argmin(1)
    for k in range(3):
        members = samples[component == k]
        assert abs(len(members) / len(samples) - WEIGHTS[k]) < 0.04  # binomial sd ≈ 0.01
        assert (members.mean(0) - MEANS[k]).norm() < 0.06
        assert abs(members.std(0).mean() / STD - 1) < 0.1


ORACLE_RUNS = {  # sampler, schedule kwargs, prediction, extra sampler kwargs, steps
    "ddpm-linear-eps": (sample_ddpm, dict(kind="linear"), "eps", {}, 200),
    "ddpm-zero-snr-v": (sample_ddpm, dict(kind="scaled_linear", **SD, zero_terminal_snr=True), "v",
                        dict(spacing="trailing"), 200),
    "ddim-eps": (sample_ddim, dict(kind="scaled_linear", **SD), "eps", {}, 100),
    "ddim-zero-snr-v": (sample_ddim, dict(kind="scaled_linear", **SD, zero_terminal_snr=True), "v",
                        dict(spacing="trailing"), 100),
    "ddim-eta1-cosine-x0": (sample_ddim, dict(kind="cosine", zero_terminal_snr=True), "x0",
                            dict(spacing="trailing", eta=1.0), 200),
}


@pytest.mark.parametrize("name", ORACLE_RUNS)
def test_ddpm_ddim_with_an_oracle_model_land_on_the_data_distribution(name):
    sampler, schedule_kwargs, prediction, kwargs, steps = ORACLE_RUNS[name]
    schedule = noise_schedule(**schedule_kwargs, dtype=F64)
    samples = sampler(ddpm_oracle(schedule, prediction), randn(2000, 2), schedule, steps,
                      prediction=prediction, generator=torch.Generator().manual_seed(1), **kwargs)
    assert_lands_on_the_mixture(samples)


@pytest.mark.parametrize("shift, convention", [(1.0, "uniform"), (3.0, "uniform"), (5.0, "diffusers")])
def test_flow_euler_with_an_oracle_velocity_lands_on_the_data_distribution(shift, convention):
    """100 steps: a shift > 1 leaves few steps at low noise, where this narrow 2-D mixture needs
    them (at 50 steps, shift 5 under-disperses by ~11%); the error halves as the steps double."""
    assert_lands_on_the_mixture(sample_flow_euler(flow_oracle, randn(2000, 2), 100, shift=shift,
                                                  convention=convention))


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_single_point_data_is_hit_exactly_by_ddim_and_flow_euler(prediction):
    """If the data is one point, x̂0 is exact at every step and both ODE samplers land on it."""
    point = torch.tensor([0.7, -1.3], dtype=F64)
    schedule = noise_schedule("linear", dtype=F64)

    def oracle(x, t):
        ab = schedule.alphas_cumprod[t[0]].double()
        eps = (x - ab.sqrt() * point) / (1 - ab).sqrt()
        v = ab.sqrt() * eps - (1 - ab).sqrt() * point
        return {"x0": point.expand_as(x), "eps": eps, "v": v}[prediction]

    for steps in (1, 7):
        x0 = sample_ddim(oracle, randn(16, 2), schedule, steps, prediction=prediction)
        torch.testing.assert_close(x0, point.expand_as(x0), rtol=0, atol=1e-10)
    sigmas = flow_sigmas(3, shift=3.0).double()  # float64, so t / 1000 gives σ back exactly
    x0 = sample_flow_euler(lambda x, t: (x - point) / (t[0] / 1000), randn(16, 2), sigmas=sigmas)
    torch.testing.assert_close(x0, point.expand_as(x0), rtol=0, atol=1e-10)


# --- classifier-free guidance -------------------------------------------------------------------

def test_standard_guidance_interpolates_and_extrapolates():
    cond, uncond = randn(2, 4, 3), randn(2, 4, 3, seed=1)
    torch.testing.assert_close(cfg_combine(cond, uncond, 1.0), cond)
    assert torch.equal(cfg_combine(cond, uncond, 0.0), uncond)
    torch.testing.assert_close(cfg_combine(cond, uncond, 5.0), uncond + 5 * (cond - uncond))


def test_lvdm_cfg_original_is_standard_guidance_with_scale_plus_one():
    cond, uncond = randn(2, 4, 3), randn(2, 4, 3, seed=1)
    assert torch.equal(cfg_combine(cond, uncond, 0.0, "cfg_original"), cond)
    torch.testing.assert_close(cfg_combine(cond, uncond, 0.1, "cfg_original"),
                               cfg_combine(cond, uncond, 1.1, "standard"))


def test_dit_quirk_guides_only_the_first_channels():
    cond, uncond = randn(2, 8, 4, 4), randn(2, 8, 4, 4, seed=1)  # DiT: 4 latent + 4 sigma channels
    out = cfg_combine(cond, uncond, 4.0, guided_channels=3)
    torch.testing.assert_close(out[:, :3], cfg_combine(cond, uncond, 4.0)[:, :3])
    assert torch.equal(out[:, 3:], cond[:, 3:])


def test_cfg_model_runs_one_doubled_batch_and_equals_two_separate_calls():
    weight = randn(3, 3)
    calls = []

    def model_fn(x, t, context):  # x B C F, context B C
        calls.append(x.shape[0])
        return torch.einsum("oc,bcf->bof", weight, x) + context[:, :, None] * t[:, None, None]

    x, t = randn(2, 3, 5), torch.tensor([10.0, 10.0], dtype=F64)
    cond, uncond = randn(2, 3, seed=1), torch.zeros(2, 3, dtype=F64)
    guided = cfg_model(model_fn, cond, uncond, 7.5)(x, t)
    assert calls == [4]
    expected = cfg_combine(model_fn(x, t, cond), model_fn(x, t, uncond), 7.5)
    torch.testing.assert_close(guided, expected)


# --- bad input ----------------------------------------------------------------------------------

BAD_INPUTS = [
    (lambda: noise_schedule("quadratic"), "unknown beta schedule"),
    (lambda: noise_schedule("squaredcos_cap_v2"), "'cosine'"),
    (lambda: noise_schedule("linear", beta_start=0.02, beta_end=0.01), "beta_start <= beta_end"),
    (lambda: NoiseSchedule(torch.tensor([0.1, 1.5])), r"\(0, 1\]"),
    (lambda: spaced_timesteps(1001, 1000), "num_steps must be in"),
    (lambda: spaced_timesteps(0, 1000), "num_steps must be in"),
    (lambda: spaced_timesteps(10, 1000, "cosine"), "unknown timestep spacing"),
    (lambda: spaced_timesteps(10, 1000, "leading", steps_offset=100), "steps_offset"),
    (lambda: predicted_x0(randn(2), randn(2), 0.5, "epsilon"), "unknown prediction type"),
    (lambda: noisy_sample(randn(2, 3), randn(2, 3), torch.rand(3)), "batch of 2"),
    (lambda: noise_schedule().add_noise(randn(2, 3), randn(2, 3), torch.tensor([0.5, 0.2])), "integer"),
    (lambda: shift_sigmas(torch.rand(3), 0.0), "shift must be positive"),
    (lambda: flow_sigmas(10, convention="wan"), "unknown sigma convention"),
    (lambda: flow_sigmas(0), "num_steps"),
    (lambda: sample_flow_euler(lambda x, t: x, randn(2, 2)), "num_steps"),
    (lambda: sample_flow_euler(lambda x, t: x, randn(2, 2), sigmas=torch.tensor([0.0, 1.0])),
     "decreasing"),
    (lambda: sample_ddim(lambda x, t: x, randn(2, 2), noise_schedule(), 10, eta=-1.0), "eta"),
    (lambda: ddim_step(randn(2), randn(2), 0.5, 0.6, "eps", eta=0.5), "needs `noise`"),
    (lambda: ddpm_step(randn(2), randn(2), 0.5, 0.6, "eps", variance="learned"), "unknown DDPM variance"),
    (lambda: sample_ddim(lambda x, t: x, randn(2, 2), noise_schedule(zero_terminal_snr=True), 10,
                         spacing="trailing"), "zero terminal SNR"),
    (lambda: cfg_combine(randn(2, 3), randn(2, 3), 2.0, "lvdm"), "unknown guidance form"),
    (lambda: cfg_combine(randn(2, 3), randn(2, 4), 2.0), "differ in shape"),
    (lambda: cfg_combine(randn(2, 3), randn(2, 3), 2.0, guided_channels=4), "guided_channels"),
    (lambda: cfg_model(lambda x, t, c: x, randn(2, 3), randn(1, 3), 2.0), "differ in shape"),
]


@pytest.mark.parametrize("make, message", BAD_INPUTS)
def test_bad_input_raises_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
