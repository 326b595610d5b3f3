"""Non-overlapping windows on channels-last maps, with shapes checked when the model is built."""

from torch import Tensor


def check_window(resolution: tuple[int, int], window: int, where: str) -> None:
    """Reject a window that does not tile a stage's map (the original crashed inside a reshape at run time)."""
    h, w = resolution
    if window < 1 or h % window or w % window:
        raise ValueError(
            f"window size {window} does not divide the {h}x{w} feature map of {where}; "
            f"pick a window that divides every stage's resolution (4 for 32x32 CIFAR inputs, 7 for 224x224)"
        )


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, H, W, C) -> (B * windows, window * window, C)``."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`; the batch size is inferred (-1) so it stays dynamic on export."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)
