"""The shifted-window mask must stop every token from attending across the image border.

Behavioural check on a real shifted MSA unit: perturb one token and see which outputs move. A token
may only influence tokens that share its window in the *unrolled* image, i.e. that are within
``window - 1`` rows and columns of it without wrapping around. The original code's mask was right only
for 2x2 windows, so 4x4 and 8x8 window grids are what this has to get right.
"""

import pytest
import torch

from hub.layers import WindowAttention


def influenced(attn: WindowAttention, x: torch.Tensor, r: int, c: int) -> torch.Tensor:
    bumped = x.clone()
    bumped[0, r, c] += 10.0
    with torch.no_grad():
        return (attn(bumped) - attn(x)).abs().amax(-1)[0] > 1e-5


@pytest.mark.parametrize("windows_per_side", [2, 4, 8])
def test_no_token_attends_across_the_border_after_the_cyclic_shift(windows_per_side):
    torch.manual_seed(0)
    window, shift = 4, 2
    side = window * windows_per_side
    attn = WindowAttention(16, 2, window, (side, side), shift=shift).eval()
    x = torch.randn(1, side, side, 16)
    border = [0, 1, side - 2, side - 1]
    for r in border:
        for c in border:
            moved = influenced(attn, x, r, c)
            rows, cols = torch.nonzero(moved, as_tuple=True)
            assert moved[r, c], "a token always influences itself"
            far = ((rows - r).abs() >= window) | ((cols - c).abs() >= window)
            leaks = [(int(a), int(b)) for a, b in zip(rows[far], cols[far], strict=True)]
            assert not leaks, f"token ({r},{c}) leaked across the border to {leaks}"
    # The check can fail: without the mask, the corner token reaches the opposite corner.
    attn.mask = None
    assert influenced(attn, x, 0, 0)[side - 1, side - 1]
