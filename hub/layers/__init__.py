"""Shared building blocks; a family module imports these instead of redefining them."""

from hub.layers.attention import Attention, WindowAttention, fused_attention
from hub.layers.blur import Blur
from hub.layers.drop import DropPath, stochastic_depth_rates
from hub.layers.mlp import Mlp
from hub.layers.roles import ParamRole, parameter_roles
from hub.layers.se import SqueezeExcite
from hub.layers.windows import check_window, window_partition, window_reverse

__all__ = [
    "Attention",
    "Blur",
    "DropPath",
    "Mlp",
    "ParamRole",
    "SqueezeExcite",
    "WindowAttention",
    "check_window",
    "fused_attention",
    "parameter_roles",
    "stochastic_depth_rates",
    "window_partition",
    "window_reverse",
]
