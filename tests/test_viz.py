"""minivid.viz: one frame conversion, and viewers that show exactly those frames, headless."""
import base64
import io
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from einops import repeat
from matplotlib.image import imread

from minivid import viz

matplotlib.use("Agg")  # what CI's unit tests use; notebooks get the inline backend instead


def random_video(channels=3, frames=5, height=32, width=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(channels, frames, height, width, generator=g) * 2 - 1  # C T H W in [-1, 1]


def embedded_frames(html: str) -> list[np.ndarray]:
    """The PNG frames matplotlib's jshtml embeds, decoded to `H W 4` floats in [0, 1]."""
    pngs = re.findall(r'frames\[\d+\] = "data:image/png;base64,(.*?)"\n', html, re.S)
    return [imread(io.BytesIO(base64.b64decode(p.replace("\\\n", ""))), format="png") for p in pngs]


# --- to_frames: the one conversion -------------------------------------------------------------

def test_to_frames_maps_value_range_to_0_255_and_clamps_overshoot():
    video = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 1.5]).reshape(3, 1, 1, 2)  # C T H W
    frames = viz.to_frames(video)
    assert frames.dtype == np.uint8 and frames.shape == (1, 1, 2, 3)  # T H W 3
    assert frames[0, 0].T.tolist() == [[0, 0], [128, 191], [255, 255]]  # channel x pixel
    assert viz.to_frames(video, value_range=(0, 1))[0, 0].T.tolist() == [[0, 0], [0, 128], [255, 255]]


def test_to_frames_layouts():
    video = random_video()
    frames = viz.to_frames(video)
    assert frames.shape == (5, 32, 32, 3)
    batch = torch.stack([video, -video])  # B C T H W: sample 0 is shown
    np.testing.assert_array_equal(viz.to_frames(batch), frames)
    np.testing.assert_array_equal(viz.to_frames(video.numpy()), frames)
    gray = viz.to_frames(video[:1])  # 1 T H W
    assert gray.shape == (5, 32, 32, 3)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 0] == gray[..., 2]).all()
    np.testing.assert_array_equal(viz.to_frames(video[0]), gray)  # T H W is gray too
    np.testing.assert_array_equal(viz.to_frames(video.bfloat16()),
                                  viz.to_frames(video.bfloat16().float()))


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, 2, 8, 8), "C = 1 or 3"),            # 4 channels
    (torch.zeros(2, 8, 8, 3), "t h w c -> c t h w"),    # T H W C
    (torch.zeros(8, 8), "C T H W"),                     # an image, not a video
    (torch.zeros(1, 1, 3, 2, 8, 8), "C T H W"),         # 6-D
    (torch.zeros(3, 0, 8, 8), "T >= 1"),                # no frames
    (torch.zeros(3, 2, 8, 8, dtype=torch.uint8), "float"),
    (torch.full((3, 2, 8, 8), float("nan")), "NaN"),
])
def test_to_frames_rejects_other_layouts(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        viz.to_frames(bad)


def test_to_frames_rejects_empty_value_range():
    with pytest.raises(ValueError, match="low < high"):
        viz.to_frames(random_video(), value_range=(1, -1))


# --- show_video ---------------------------------------------------------------------------------

@pytest.mark.parametrize("clips", [1, 2])
def test_show_video_embeds_one_png_per_frame(clips):
    html = viz.show_video(*[random_video(frames=6, seed=s) for s in range(clips)]).data
    assert "new Array(6)" in html
    assert len(embedded_frames(html)) == 6


def test_show_video_frame_t_shows_clip_frame_t_side_by_side():
    colours = torch.tensor([[-1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])  # T x RGB
    video = repeat(colours, "t c -> c t h w", h=8, w=8)  # a flat colour per frame
    frames = embedded_frames(viz.show_video(video, video, height=80).data)
    one_clip_width = embedded_frames(viz.show_video(video, height=80).data)[0].shape[1]
    assert frames[0].shape[1] > one_clip_width + 80
    for t, frame in enumerate(frames):
        expected = (colours[t].numpy() + 1) / 2
        # no titles: the first clip sits 8 px from the left and 6 px below the top, 80 px tall
        np.testing.assert_allclose(frame[6 + 40, 8 + 40, :3], expected, atol=0.01)


def test_show_video_rejects_clips_of_different_lengths_and_wrong_titles():
    with pytest.raises(ValueError, match=r"same number of frames, got \[5, 4\]"):
        viz.show_video(random_video(frames=5), random_video(frames=4))
    with pytest.raises(ValueError, match="2 titles for 1 clips"):
        viz.show_video(random_video(), titles=["a", "b"])


def test_a_list_counts_as_several_clips():
    html = viz.show_video([random_video(frames=3), random_video(frames=3)]).data
    assert len(embedded_frames(html)) == 3


# --- scrubber -----------------------------------------------------------------------------------

def decoded(image_widget) -> np.ndarray:
    return (imread(io.BytesIO(image_widget.value), format="png")[..., :3] * 255).round()


def test_scrubber_slider_moves_the_shown_frames():
    video = random_video(frames=5)
    widget = viz.scrubber(video, -video, titles=["input", "reconstruction"])
    assert widget.slider.max == 4 and widget.play.max == 4 and len(widget.images) == 2
    before = [image.value for image in widget.images]
    widget.slider.value = 3
    assert all(image.value != old for image, old in zip(widget.images, before))
    frame_3 = repeat(viz.to_frames(video)[3], "h w c -> (h 5) (w 5) c")  # 32 px -> 160 px
    np.testing.assert_array_equal(decoded(widget.images[0]), frame_3)
    widget.slider.value = 0
    assert widget.images[0].value == before[0]


def test_scrubber_scales_clips_of_different_sizes_to_one_height():
    widget = viz.scrubber(random_video(height=32, width=48), random_video(channels=1, height=16, width=16),
                          height=64)
    assert [decoded(image).shape for image in widget.images] == [(64, 96, 3), (64, 64, 3)]
    assert [image.height for image in widget.images] == ["64", "64"]
    assert repr(widget) == "Scrubber(clips=2, frames=5)"


def test_scrubber_rejects_clips_of_different_lengths():
    with pytest.raises(ValueError, match="same number of frames"):
        viz.scrubber(random_video(frames=5), random_video(frames=6))


# --- frame_grid ---------------------------------------------------------------------------------

def test_frame_grid_has_one_row_per_clip_and_one_column_per_picked_frame():
    fig = viz.frame_grid(random_video(frames=7), random_video(frames=7), every=2, max_frames=3)
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["t=0", "t=2", "t=4"]
    np.testing.assert_array_equal(fig.axes[4].images[0].get_array(),
                                  viz.to_frames(random_video(frames=7))[2])
    assert len(viz.frame_grid(random_video(frames=7)).axes) == 7


def test_frame_grid_rejects_bad_steps():
    with pytest.raises(ValueError, match="every and max_frames"):
        viz.frame_grid(random_video(), every=0)


# --- show_mask ----------------------------------------------------------------------------------

def block_diagonal(*sizes) -> torch.Tensor:
    return torch.block_diag(*[torch.ones(s, s) for s in sizes]).bool()  # L L, True = attends


def test_show_mask_pixels_are_the_mask():
    mask = block_diagonal(3, 5)
    ax = viz.show_mask(mask, title="packed", groups=[3, 5]).axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), mask.numpy())
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("key token", "query token", "packed")
    assert len(ax.lines) == 2  # one horizontal and one vertical line at token 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["attends (True)", "blocked (False)"]


def test_show_mask_reads_additive_and_batched_masks():
    mask = block_diagonal(2, 2, 4)
    additive = torch.zeros(8, 8).masked_fill(~mask, float("-inf"))  # what SDPA adds to scores
    finfo_min = torch.zeros(8, 8).masked_fill(~mask, torch.finfo(torch.float32).min)
    with_bias = additive - 0.5 * torch.rand(8, 8)  # a position bias does not block anything
    batched = torch.stack([mask, ~mask])[:, None]  # B heads L L: the first is drawn
    for m in (additive, finfo_min, with_bias, batched):
        np.testing.assert_array_equal(viz.show_mask(m).axes[0].images[0].get_array(), mask.numpy())
    assert len(viz.show_mask(mask, groups=2).axes[0].lines) == 2 * 3  # boundaries at 2, 4, 6


@pytest.mark.parametrize("bad, groups, message", [
    (block_diagonal(3, 5), [3, 4], "add up to 8"),
    (block_diagonal(3, 5), 0, "positive"),
    (torch.ones(4, 6).bool(), 2, "square"),
    (torch.ones(4, 4, dtype=torch.long), None, "mask.bool()"),
    (torch.ones(4).bool(), None, "L L"),
])
def test_show_mask_rejects_bad_input(bad, groups, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        viz.show_mask(bad, groups=groups)


def test_show_mask_draws_into_a_given_axes_and_leaves_its_figure_open():
    fig, ax = plt.subplots()
    assert viz.show_mask(block_diagonal(2), ax=ax) is fig
    assert plt.fignum_exists(fig.number)
    plt.close(fig)


# --- figures are returned closed (the inline backend shows them once, via their repr) -----------

def test_returned_figures_are_closed():
    plt.close("all")
    viz.show_video(random_video())
    figures = [viz.frame_grid(random_video()), viz.show_mask(block_diagonal(2)),
               viz.plot_curve([3.0, 2.0, 1.0])]
    assert plt.get_fignums() == []
    for figure in figures:  # what the inline backend does with a returned figure
        png = io.BytesIO()
        figure.savefig(png, format="png")
        assert png.getvalue().startswith(b"\x89PNG")


def test_plot_curve_plots_the_values():
    line = viz.plot_curve(torch.tensor([3.0, 2.0, 1.5]), log_y=True).axes[0].lines[0]
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 2.0, 1.5])
    with pytest.raises(ValueError, match="1-D"):
        viz.plot_curve(torch.zeros(2, 2))
    logged_every_10 = viz.plot_curve([3.0, 2.0], steps=[10, 20]).axes[0].lines[0]
    np.testing.assert_array_equal(logged_every_10.get_xdata(), [10, 20])
    with pytest.raises(ValueError, match="2 steps for 3 values"):
        viz.plot_curve([3.0, 2.0, 1.0], steps=[10, 20])


# --- show_receptive_field -----------------------------------------------------------------------

def test_show_receptive_field_draws_exact_zeros_gray_and_faint_influence_in_colour():
    influence = torch.tensor([[1.0, 0.0, 0.0], [1e-6, 0.5, 0.0]])  # outputs x inputs
    ax = viz.show_receptive_field(influence, title="causal").axes[0]
    image = ax.images[0]
    np.testing.assert_array_equal(np.ma.getmaskarray(image.get_array()), (influence == 0).numpy())
    colours = image.to_rgba(image.get_array())  # what is drawn, H W 4
    blocked = matplotlib.colors.to_rgba(viz.BLOCKED)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        np.testing.assert_allclose(colours[i, j], blocked)
    for i, j in [(0, 0), (1, 0), (1, 1)]:  # even 1e-6 of the largest is visibly not "no dependence"
        assert not np.allclose(colours[i, j], blocked)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("input frame", "output frame", "causal")
    assert len(ax.figure.axes) == 2  # the image and its colour scale
    assert len(viz.show_receptive_field(influence, colorbar=False).axes) == 1


def test_show_receptive_field_reads_bool_tables_and_draws_into_a_given_axes():
    depends = torch.ones(4, 4).tril().bool()
    fig, ax = plt.subplots()
    assert viz.show_receptive_field(depends, ax=ax, log=False) is fig
    assert plt.fignum_exists(fig.number)
    np.testing.assert_array_equal(np.ma.getmaskarray(ax.images[0].get_array()), (~depends).numpy())
    plt.close(fig)
    plt.close("all")
    viz.show_receptive_field(depends.float())
    assert plt.get_fignums() == []  # returned closed, like every figure here


@pytest.mark.parametrize("bad, message", [
    (torch.ones(3), "2-D"),
    (torch.ones(2, 2, 2), "2-D"),
    (-torch.ones(2, 2), "non-negative"),
    (torch.full((2, 2), float("nan")), "finite"),
])
def test_show_receptive_field_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        viz.show_receptive_field(bad)


# ---- video files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_video_writes_a_file_read_video_reads_back(tmp_path, suffix):
    from minivid import data

    clip = data.make_clip("triangle", "cyan", "bounce", seed=2)
    path = viz.save_video(clip.video, tmp_path / f"clip{suffix}", fps=8)
    back = data.read_video(path, size=32)  # written 8x larger, read back at the clip's size
    assert back.shape == (1, 3, 17, 32, 32) and back.dtype == torch.float32
    assert (back[0] - clip.video).abs().mean() < 0.02  # H.264 at crf 12 / a GIF palette: close, not exact
    assert data.describe(back[0]).frame_shapes == ("triangle",) * 17
    assert data.read_video(path, max_frames=5).shape[2] == 5


def test_video_files_refuse_what_they_cannot_handle(tmp_path):
    from minivid import data

    with pytest.raises(ValueError, match="writes .mp4 or .gif files, got 'clip.avi'"):
        viz.save_video(torch.zeros(3, 5, 8, 8), tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="missing.mp4 does not exist"):
        data.read_video(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="notes.mp4 is not a video file PyAV can read"):
        data.read_video(tmp_path / "notes.mp4")
    with pytest.raises(ValueError, match="max_frames must be >= 1"):
        data.read_video(tmp_path / "notes.mp4", max_frames=0)


def test_table_renders_markdown_with_separators():
    rendered = viz.table([{"model": "wan2.1-t2v-14b", "params": 14_288_491_584, "TFLOPs": 785.38}]).data
    assert rendered.splitlines() == ["| model | params | TFLOPs |", "|---|---|---|",
                                     "| wan2.1-t2v-14b | 14,288,491,584 | 785 |"]
    with pytest.raises(ValueError, match="one cell per header"):
        viz.table([[1, 2]], headers=["a"])


def test_show_video_titles_fit_their_panel():
    """A long title on a small clip widens its panel (and wraps) instead of being clipped."""
    title = "magenta square bouncing, decoded by the tiny VAE"
    assert viz._text_width(viz._wrap(title, viz._chars_per_line(160))) <= max(160, viz._text_width(title))
    wrapped = viz._wrap(title, viz._chars_per_line(160))
    assert "\n" in wrapped and wrapped.replace("\n", " ") == title
    html = viz.show_video(torch.zeros(3, 3, 32, 32), titles=[title]).data
    assert "<img" in html or "data:image" in html


def test_frame_grid_labels_every_frame_and_marks_the_odd_ones():
    video = torch.zeros(3, 5, 8, 8)
    fig = viz.frame_grid(video, every=1, frame_labels=[["a", "a", "b", "a", "a"]])
    labels = [(ax.get_xlabel(), ax.xaxis.label.get_color()) for ax in fig.axes]
    assert labels[2] == ("b", "red") and labels[0][0] == "a" and labels[0][1] != "red"
    with pytest.raises(ValueError, match="one list of 5 labels per clip"):
        viz.frame_grid(video, frame_labels=[["a"]])


def test_count_table_puts_columns_side_by_side_with_a_total_row():
    shown = viz.count_table({"a": {"x": 1, "y": 2000}, "b": {"x": 3, "y": 4}}).data
    assert shown.splitlines() == ["| module | a | b |", "|---|---|---|", "| x | 1 | 3 |", "| y | 2,000 | 4 |",
                                  "| **total** | 2,001 | 7 |"]
    with pytest.raises(ValueError, match="every column needs the same rows"):
        viz.count_table({"a": {"x": 1}, "b": {"y": 1}})
    with pytest.raises(ValueError, match="at least one column"):
        viz.count_table({})
