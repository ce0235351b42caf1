"""Your own clip in the course's layout: `read_video` decodes a video file (MP4, GIF, WebM, ...) with
PyAV into `B C T H W` floats in [-1, 1], the layout and range every model and viewer of the course uses
(`minivid.viz.save_video` writes one)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange


def read_video(path, *, max_frames: int | None = None, size: tuple[int, int] | int | None = None) -> torch.Tensor:
    """Decode `path` into a `1 3 T H W` float tensor in [-1, 1].

    max_frames: keep the first frames only. size: resize every frame to (H, W) (an int: square), with
    area averaging when shrinking. A causal video VAE wants 1 + 4n frames and sides divisible by its
    stride: trim with `video[:, :, :1 + 4 * ((T - 1) // 4)]` and pick `size` accordingly.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream (streams: {[s.type for s in container.streams]})")
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))  # H W 3 uint8
                if max_frames is not None and len(frames) == max_frames:
                    break
    except av.FFmpegError as error:
        raise ValueError(f"{path} is not a video file PyAV can read ({error})") from None
    if not frames:
        raise ValueError(f"{path} holds no video frames")
    video = torch.from_numpy(np.stack(frames)).float() / 127.5 - 1  # T H W 3
    video = rearrange(video, "t h w c -> 1 c t h w")
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if height < 1 or width < 1:
            raise ValueError(f"size must be positive, got {(height, width)}")
        shrink = height <= video.shape[3] and width <= video.shape[4]
        frames2d = rearrange(video, "b c t h w -> (b t) c h w")
        frames2d = F.interpolate(frames2d, size=(height, width), mode="area" if shrink else "bilinear",
                                 **({} if shrink else {"align_corners": False}))
        video = rearrange(frames2d, "(b t) c h w -> b c t h w", b=1).clamp(-1, 1)
    return video
