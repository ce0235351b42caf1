"""Look at videos, frames, attention masks and receptive fields in a notebook, with or without a browser.

Every function returns the thing to display (an `IPython.display.HTML`, an ipywidgets widget or a
matplotlib `Figure`), so a notebook cell simply ends with the call. Figures are closed before they
are returned: the inline backend then shows them once, through their repr, instead of once more
at the end of the cell. Nothing here needs a display, so the same cells run under nbval and Agg.

Videos follow the minivid convention: float `C T H W` (or `B C T H W`, of which sample 0 is shown)
with values in [-1, 1], the range VAEs and diffusion models work in.
"""
from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange, repeat
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.image import imsave
from matplotlib.patches import Patch

ATTENDS, BLOCKED = "#1f4e99", "#e8e8e8"  # mask colours: dark = may attend, light = blocked


def to_frames(video, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Turn one video into uint8 RGB frames `T H W 3`, the one conversion every viewer uses.

    `video` is a float tensor or array: `C T H W` with C = 3 (RGB) or 1 (gray), `B C T H W`
    (sample 0 is taken), or `T H W` (gray). Values are mapped from `value_range` to 0..255 and
    clamped, because generated videos overshoot [-1, 1].
    """
    x = torch.as_tensor(video).detach().cpu()
    shape = tuple(x.shape)
    if not x.is_floating_point():
        raise ValueError(f"expected a float video with values in {tuple(value_range)}, got dtype "
                         f"{x.dtype}; convert uint8 frames with `x.float() / 127.5 - 1`")
    if x.ndim == 5:
        x = x[0]  # C T H W
    elif x.ndim == 3:
        x = rearrange(x, "t h w -> 1 t h w")
    if x.ndim != 4 or x.shape[0] not in (1, 3) or x.shape[1] == 0:
        raise ValueError(f"expected a video shaped C T H W (C = 1 or 3, T >= 1), B C T H W or "
                         f"T H W, got shape {shape}; for T H W C frames use "
                         "rearrange(x, 't h w c -> c t h w')")
    low, high = value_range
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    if torch.isnan(x).any():
        raise ValueError("the video contains NaN values (did training diverge?)")
    x = ((x.float() - low) / (high - low)).clamp(0, 1)
    x = repeat(x, "c t h w -> t h w (c k)", k=3 // x.shape[0])  # gray is copied to R, G and B
    return (x * 255).round().to(torch.uint8).numpy()


def _clips(videos, value_range) -> list[np.ndarray]:
    """Frames `T H W 3` of every clip (a list or tuple counts as several clips), same T for all."""
    flat = [v for item in videos for v in (item if isinstance(item, (list, tuple)) else [item])]
    if not flat:
        raise ValueError("give at least one video")
    clips = [to_frames(v, value_range) for v in flat]
    counts = [len(clip) for clip in clips]
    if len(set(counts)) > 1:
        raise ValueError(f"clips shown together must have the same number of frames, got {counts}; "
                         "trim them first, e.g. video[:, :T]")
    return clips


TITLE_SIZE, TITLE_LINE, CHAR_WIDTH = 10, 16, 6.5  # points; pixels per title line and per character at 100 dpi


def _text_width(text: str) -> float:
    """Pixels the longest line of `text` needs at TITLE_SIZE (a safe over-estimate for DejaVu Sans)."""
    return max((len(line) for line in text.splitlines()), default=0) * CHAR_WIDTH + 8


def _chars_per_line(width_px: float, minimum: int = 18) -> int:
    return max(minimum, int(width_px / CHAR_WIDTH))


def _wrap(text: str, width: int) -> str:
    """Break a long title at spaces into lines of at most `width` characters (words are never cut)."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=False)) if text else text


def _titles(titles, count: int) -> list[str]:
    if titles is None:
        return [""] * count
    titles = [titles] if isinstance(titles, str) else list(titles)
    if len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} clips")
    return [str(t) for t in titles]


def show_video(*videos, titles=None, fps: int = 8, height: int = 160,
               value_range=(-1.0, 1.0)) -> HTML:
    """Play one or more clips side by side as an inline HTML5 animation (with its own controls).

    `videos`: tensors as in `to_frames`, all with the same T. Each clip is drawn `height` pixels
    tall with nearest-neighbour resampling, so a 32x32 clip is large and its pixels stay sharp.
    Frames are embedded as PNGs, up to matplotlib's `animation.embed_limit` (20 MB by default).
    """
    clips = _clips(videos, value_range)
    names = [_wrap(name, _chars_per_line(height * clip.shape[2] / clip.shape[1]))
             for name, clip in zip(_titles(titles, len(clips)), clips)]
    frame_count = len(clips[0])
    # every panel as wide as its clip or its title's longest line, whichever is wider
    widths = [max(height * clip.shape[2] / clip.shape[1], _text_width(name)) for clip, name in zip(clips, names)]
    lines = max(name.count("\n") + 1 for name in names) if any(names) else 0
    gap, top, bottom, dpi = 12, 8 + TITLE_LINE * lines, 20, 100  # all in pixels
    fig_w, fig_h = sum(widths) + gap * (len(clips) + 1), height + top + bottom
    fig = plt.figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    images, left = [], gap
    for clip, width, name in zip(clips, widths, names):
        clip_width = height * clip.shape[2] / clip.shape[1]  # centred in its panel
        ax = fig.add_axes(((left + (width - clip_width) / 2) / fig_w, bottom / fig_h, clip_width / fig_w,
                           height / fig_h))
        ax.set_axis_off()
        ax.set_title(name, fontsize=TITLE_SIZE)
        images.append(ax.imshow(clip[0], interpolation="nearest"))
        left += width + gap
    counter = fig.text(0.5, 3 / fig_h, "", ha="center", va="bottom", fontsize=9)

    def draw(t):
        for image, clip in zip(images, clips):
            image.set_data(clip[t])
        counter.set_text(f"frame {t}/{frame_count - 1}")
        return [*images, counter]

    animation = FuncAnimation(fig, draw, frames=frame_count, interval=1000 / fps)
    html = animation.to_jshtml(fps=fps, default_mode="loop")
    plt.close(fig)
    return HTML(html)


def _png(frame: np.ndarray, height: int) -> bytes:
    """PNG bytes of one `H W 3` frame, enlarged by a whole factor so it is at least `height` tall."""
    factor = max(1, math.ceil(height / frame.shape[0]))
    frame = repeat(frame, "h w c -> (h a) (w b) c", a=factor, b=factor)  # nearest neighbour
    buffer = io.BytesIO()
    imsave(buffer, frame, format="png")
    return buffer.getvalue()


class Scrubber(widgets.VBox):
    """A frame slider linked to a Play button, above the current frame of each clip.

    `slider` (an `IntSlider` over 0..T-1), `play` and `images` (one `ipywidgets.Image` per clip)
    are attributes, so a notebook or test can move `slider.value` and read `images[i].value`.
    The Play button drives the slider in the browser (`jslink`); the kernel encodes each frame to
    PNG once, the first time it is shown.
    """

    def __init__(self, clips: list[np.ndarray], names: list[str], fps: int, height: int):
        frame_count = len(clips[0])
        slider = widgets.IntSlider(value=0, min=0, max=frame_count - 1, description="frame")
        play = widgets.Play(value=0, min=0, max=frame_count - 1, interval=max(1, round(1000 / fps)))
        widgets.jslink((play, "value"), (slider, "value"))
        # every panel the same width (the widest clip at this height), titles wrapped inside it
        width = max(round(height * clip.shape[2] / clip.shape[1]) for clip in clips)
        images = [widgets.Image(format="png", height=str(height),
                                layout=widgets.Layout(height=f"{height}px", width=f"{round(height * c.shape[2] / c.shape[1])}px"))
                  for c in clips]
        panels = [widgets.VBox([widgets.HTML(f"<div style='font-size:13px;line-height:1.25;min-height:2.6em'>"
                                             f"{html.escape(name)}</div>"), image],
                               layout=widgets.Layout(width=f"{width}px", margin="0 16px 0 0", align_items="center"))
                  for name, image in zip(names, images)]
        controls = widgets.HBox([play, slider, widgets.Label(f"/ {frame_count - 1}")])
        super().__init__([controls, widgets.HBox(panels)])
        self.slider, self.play, self.images = slider, play, images
        self._clips, self._names, self._height = clips, names, height
        self._pngs: dict[tuple[int, int], bytes] = {}
        slider.observe(lambda change: self._show(change["new"]), names="value")
        self._show(0)

    def _show(self, t: int):
        for i, (clip, image) in enumerate(zip(self._clips, self.images)):
            if (i, t) not in self._pngs:
                self._pngs[i, t] = _png(clip[t], self._height)
            image.value = self._pngs[i, t]

    def __repr__(self):  # the text/plain nbval records: short and free of image bytes
        return f"Scrubber(clips={len(self._clips)}, frames={len(self._clips[0])})"

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a static `text/html` film strip for pages where no widget can run
        (the rendered book, nbconvert, GitHub): JupyterLab shows the widget, the others the strip."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        return {**bundle, "text/html": self.static_html()}

    def static_html(self, frames: int = 9) -> str:
        """Every clip as a row of up to `frames` evenly spaced frames, as inline PNGs."""
        count = len(self._clips[0])
        picks = sorted({round(i * (count - 1) / max(frames - 1, 1)) for i in range(min(frames, count))})
        size = max(48, self._height // 2)
        rows = []
        for clip, label in zip(self._clips, self._names):
            cells = "".join(f"<td style='padding:2px;text-align:center'><img src='data:image/png;base64,"
                            f"{base64.b64encode(_png(clip[t], size)).decode()}' height='{size}'><br>"
                            f"<small>t={t}</small></td>" for t in picks)
            rows.append(f"<tr><th style='text-align:right;padding-right:8px'>{html.escape(label)}</th>{cells}</tr>")
        return ("<div class='minivid-scrubber-static'><table style='border-collapse:collapse'>" + "".join(rows)
                + f"</table><small>frames {', '.join(map(str, picks))} of 0–{count - 1} (run the notebook for the "
                "frame slider)</small></div>")


def scrubber(*videos, titles=None, fps: int = 8, height: int = 160,
             value_range=(-1.0, 1.0)) -> Scrubber:
    """Step through clips frame by frame (e.g. input vs reconstruction) with a slider widget.

    `videos`: tensors as in `to_frames`, all with the same T; their sizes may differ, each is
    shown `height` pixels tall. Returns a `Scrubber` widget (see its docstring).
    """
    clips = _clips(videos, value_range)
    return Scrubber(clips, _titles(titles, len(clips)), fps, height)


def frame_grid(*videos, titles=None, every: int = 1, max_frames: int | None = None,
               size: float = 1.2, value_range=(-1.0, 1.0), frame_labels=None) -> plt.Figure:
    """A static picture of clips: one row per clip, one column per frame t = 0, every, 2*every...

    `videos`: tensors as in `to_frames`, all with the same T. `max_frames` caps the columns;
    `size` is the height of one frame in inches. `frame_labels`: per clip, one short string per frame
    (e.g. what the analyser read in it), written under the frames; a label that differs from the clip's
    most common one is drawn in red.
    """
    clips = _clips(videos, value_range)
    names = _titles(titles, len(clips))
    if frame_labels is not None and (len(frame_labels) != len(clips)
                                     or any(len(labels) != len(clips[0]) for labels in frame_labels)):
        raise ValueError(f"frame_labels needs one list of {len(clips[0])} labels per clip ({len(clips)} clips)")
    if every < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"every and max_frames must be >= 1, got every={every}, "
                         f"max_frames={max_frames}")
    picks = list(range(0, len(clips[0]), every))[:max_frames]
    aspect = max(clip.shape[2] / clip.shape[1] for clip in clips)
    fig, axes = plt.subplots(len(clips), len(picks), squeeze=False, layout="constrained",
                             figsize=(len(picks) * size * aspect + 0.3, len(clips) * size + 0.3))
    for row, (clip, name) in enumerate(zip(clips, names)):
        for col, t in enumerate(picks):
            ax = axes[row, col]
            ax.imshow(clip[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={t}", fontsize=11)
            if frame_labels is not None:
                labels = list(frame_labels[row])
                label = labels[t]
                ax.set_xlabel(label.replace(" ", "\n"), fontsize=9, linespacing=0.9,
                              color="black" if label == max(set(labels), key=labels.count) else "red")
        axes[row, 0].set_ylabel(_wrap(name, 34), rotation=0, ha="right", va="center", fontsize=12)
    plt.close(fig)
    return fig


def _boundaries(groups, length: int) -> list[int]:
    """Token indices where a new group starts: every `groups` tokens, or after each listed size."""
    if groups is None:
        return []
    if isinstance(groups, int):
        if groups < 1:
            raise ValueError(f"groups must be a positive group size, got {groups}")
        return list(range(groups, length, groups))
    sizes = [int(s) for s in groups]
    if any(s < 1 for s in sizes) or sum(sizes) != length:
        raise ValueError(f"group sizes {sizes} must be positive and add up to {length} tokens")
    return np.cumsum(sizes)[:-1].tolist()


def show_mask(mask, title: str | None = None, groups=None, ax=None) -> plt.Figure:
    """Picture an attention mask: row = query token, column = key token, dark = may attend.

    `mask` is `L_q L_k`, or has leading batch/head dims (`B L L`, `B heads L L`; the first is
    drawn). Bool masks follow `scaled_dot_product_attention`: True = attends. A float additive
    mask counts as blocked where it is -inf or <= -1e4 (the finfo.min / -1e9 / -10000 habits).
    `groups` draws thin lines between groups of tokens on a square mask: an int (a frame is H*W
    tokens) or a list of sizes (packed clips). With `ax`, draws there and leaves its figure open.
    """
    m = torch.as_tensor(mask).detach().cpu()
    if m.ndim not in (2, 3, 4):
        raise ValueError(f"expected a mask shaped L L, B L L or B heads L L, got {tuple(m.shape)}")
    m = rearrange(m, "... q k -> (...) q k")[0]  # L_q L_k
    if m.is_floating_point():
        m = m > -1e4
    elif m.dtype != torch.bool:
        raise ValueError(f"expected a bool mask (True = attends) or a float additive mask, got "
                         f"{m.dtype}; convert with mask.bool()")
    allowed = m.numpy().astype(np.uint8)
    if groups is not None and allowed.shape[0] != allowed.shape[1]:
        raise ValueError(f"groups need a square mask, got {allowed.shape}")
    owns_figure = ax is None
    if owns_figure:
        fig, ax = plt.subplots(figsize=(5.2, 4), layout="constrained")
    ax.imshow(allowed, cmap=ListedColormap([BLOCKED, ATTENDS]), vmin=0, vmax=1,
              interpolation="nearest")
    for b in _boundaries(groups, allowed.shape[0]):
        ax.axhline(b - 0.5, color="tab:orange", linewidth=0.8)
        ax.axvline(b - 0.5, color="tab:orange", linewidth=0.8)
    ax.set_xlabel("key token")
    ax.set_ylabel("query token")
    if title:
        ax.set_title(title)
    legend = [Patch(facecolor=ATTENDS, label="attends (True)"),
              Patch(facecolor=BLOCKED, edgecolor="0.6", label="blocked (False)")]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    if owns_figure:
        plt.close(fig)
    return ax.figure


def show_receptive_field(influence, title: str | None = None, xlabel: str = "input frame",
                         ylabel: str = "output frame", log: bool = True, colorbar: bool = True,
                         ax=None) -> plt.Figure:
    """Picture which inputs move which outputs: `influence` is 2-D, row = output, column = input.

    Typically `|d output / d input|` summed over the other axes (a frames x frames table), or a bool
    "depends on" table; any non-negative 2-D map works (e.g. time x height). Exact zeros, where there is
    no dependence at all, are drawn in the mask's light gray, so the *shape* of a receptive field is exact;
    the rest is shaded by size relative to the largest entry, on a log scale by default so that weak but
    real dependences stay visible. `colorbar=False` leaves out the scale (e.g. on all but one panel of a
    row). With `ax`, draws there and leaves its figure open.
    """
    m = torch.as_tensor(influence).detach().cpu()
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D influence map (outputs x inputs), got shape {tuple(m.shape)}")
    is_bool = m.dtype == torch.bool
    m = m.double().numpy()
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("influence must be finite and non-negative; pass a magnitude such as grad.abs()")
    top = m.max()
    shown = np.ma.masked_equal(m / top if top > 0 else m, 0.0)
    blues = ListedColormap(plt.get_cmap("Blues")(np.linspace(0.3, 1.0, 256)))  # faint is blue, not white
    cmap = blues.with_extremes(bad=BLOCKED)
    norm = LogNorm(vmin=1e-4, vmax=1.0, clip=True) if log else Normalize(vmin=0.0, vmax=1.0)
    owns_figure = ax is None
    if owns_figure:
        fig, ax = plt.subplots(figsize=(5.2, 4), layout="constrained")
    image = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
    if max(m.shape) <= 32:  # small tables: one tick and one cell border per entry
        ax.set_xticks(range(m.shape[1]))
        ax.set_yticks(range(m.shape[0]))
        ax.tick_params(labelsize=7)
        ax.set_xticks(np.arange(m.shape[1] + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(m.shape[0] + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar and not is_bool:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label="influence / largest (gray: exactly 0)")
    elif colorbar:
        ax.legend(handles=[Patch(facecolor=cmap(1.0), label="depends"),
                           Patch(facecolor=BLOCKED, edgecolor="0.6", label="exactly 0")],
                  loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    if owns_figure:
        plt.close(fig)
    return ax.figure


def plot_curve(values, title: str = "loss", log_y: bool = False, steps=None) -> plt.Figure:
    """A training curve: `values` is 1-D; `steps` gives the step of each value (a log written every
    n steps), by default 0, 1, 2, ..."""
    values = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=float)
    if values.ndim != 1:
        raise ValueError(f"expected one value per step (1-D), got shape {values.shape}")
    steps = np.arange(len(values)) if steps is None else np.asarray(steps, dtype=float)
    if steps.shape != values.shape:
        raise ValueError(f"got {len(steps)} steps for {len(values)} values")
    fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    ax.plot(steps, values)
    ax.set_xlabel("step")
    ax.set_ylabel(title)
    if log_y:
        ax.set_yscale("log")
    plt.close(fig)
    return fig


def table(rows, headers=None, floatfmt: str = ",.3g"):
    """A table that renders as a table in JupyterLab (Markdown), not as monospaced text.

    `rows`: a list of dicts (their keys are the headers) or of sequences (give `headers`). Integers get
    thousands separators, floats `floatfmt`; strings are shown as they are (Markdown allowed).
    """
    from IPython.display import Markdown

    rows = list(rows)
    if rows and isinstance(rows[0], dict):
        headers = headers or list(rows[0])
        rows = [[row.get(h, "") for h in headers] for row in rows]
    if not headers or any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row needs one cell per header ({len(headers or [])} headers)")

    def cell(value) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value).replace("|", "\\|")
        return f"{value:,}" if isinstance(value, int) else format(value, floatfmt)

    lines = ["| " + " | ".join(str(h).replace("|", "\\|") for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def count_table(columns: dict[str, dict[str, int]], row_label: str = "module"):
    """Counts side by side with a total row: `{column: {row: n}}` (every column with the same rows), e.g.
    the parameters per module group of several models (`presets.parameter_breakdown`)."""
    if not columns:
        raise ValueError("count_table needs at least one column: {column: {row: count}}")
    row_names = list(next(iter(columns.values())))
    if any(list(counts) != row_names for counts in columns.values()):
        raise ValueError(f"every column needs the same rows in the same order: {row_names}")
    rows = [{row_label: name, **{column: counts[name] for column, counts in columns.items()}} for name in row_names]
    rows.append({row_label: "**total**", **{column: sum(counts.values()) for column, counts in columns.items()}})
    return table(rows)


def save_video(video, path, fps: int = 8, height: int = 256, value_range=(-1.0, 1.0)) -> Path:
    """Write a clip (as in `to_frames`) to an MP4 (H.264) or an animated GIF, chosen by the suffix of
    `path`, through PyAV (FFmpeg). Small clips are enlarged by a whole factor with nearest-neighbour
    resampling to about `height` pixels, so a 32x32 clip stays sharp in any player."""
    import av

    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"save_video writes .mp4 or .gif files, got {path.name!r}")
    frames = to_frames(video, value_range)  # T H W 3 uint8
    factor = max(1, round(height / frames.shape[1]))
    frames = repeat(frames, "t h w c -> t (h a) (w b) c", a=factor, b=factor)
    if path.suffix.lower() == ".mp4":  # yuv420p needs even sides
        frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)), mode="edge")
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, pixels = ("libx264", "yuv420p") if path.suffix.lower() == ".mp4" else ("gif", "rgb8")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixels
        if codec == "libx264":
            stream.options = {"crf": "12"}  # nearly lossless: flat colours and hard edges
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
