"""Flags generated from settings dataclasses: one flag per field, help from the field docs, typed values."""

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from hub.cli import add_dataclass_arguments, dataclass_from_args, field_docs


@dataclass(frozen=True)
class Toy:
    count: int = 3
    """how many, at most"""
    rate: float | None = 0.5
    """a rate; none turns it off"""
    mode: Literal["fast", "exact"] = "fast"
    """fast or exact"""
    sizes: tuple[int, ...] = (1, 2)
    """several sizes"""
    clip: bool = False
    """clip the values"""
    where: Path | None = None
    colour: str = field(default="red", metadata={"choices": ["red", "blue"], "help": "paint"})


def parse(*argv: str, **kwargs) -> Toy:
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Toy, **kwargs)
    return dataclass_from_args(Toy, parser.parse_args(list(argv)))


def test_docstrings_become_help_and_defaults_are_shown():
    assert field_docs(Toy)["rate"] == "a rate; none turns it off" and field_docs(Toy)["colour"] == "paint"
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Toy)
    text = " ".join(parser.format_help().split())
    assert "--count COUNT how many, at most (default: 3)" in text and "--clip, --no-clip" in text


def test_values_are_typed():
    assert parse() == Toy()
    toy = parse("--count", "7", "--rate", "none", "--mode", "exact", "--sizes", "4,5", "6", "--clip",
                "--where", "/tmp/x", "--colour", "blue")
    assert toy == Toy(7, None, "exact", (4, 5, 6), True, Path("/tmp/x"), "blue")
    assert parse(defaults={"count": 9}).count == 9
    for bad in (["--mode", "slow"], ["--colour", "green"], ["--count", "many"]):
        with pytest.raises(SystemExit):
            parse(*bad)


def test_overrides_on_a_base_keep_what_was_not_given():
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Toy, keep_unset=True, bool_values=True, exclude=("where",))
    base = Toy(count=5, clip=True)
    got = dataclass_from_args(Toy, parser.parse_args(["--rate", "0.1", "--clip", "false"]), base=base)
    assert got == Toy(count=5, rate=0.1, clip=False)
