"""A user's own network, as `--model tests.hub.own_model:tiny_net` loads it: a factory that describes its units."""

from torch import Tensor, nn

from hub.describe import DescribedModel, Description, UnitSpec


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def tiny_net(num_classes: int = 10) -> DescribedModel:
    net = nn.Sequential()
    net.add_module("stem", nn.Conv2d(3, 8, 3, padding=1))
    net.add_module("block1", Block(8))
    net.add_module("block2", Block(8))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(8, num_classes))
    units = (UnitSpec("stem", "stem", 0), UnitSpec("block1", "conv", 1, branch="block1.body"),
             UnitSpec("block2", "conv", 1, branch="block2.body"), UnitSpec("fc", "head", 2))
    return DescribedModel(net, Description(units, "tiny_net"), input_size=(3, 32, 32))
