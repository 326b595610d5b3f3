"""The trainer's speed defaults: what ``--compile auto`` decides, and that it never fails a run for want of a
compiler."""

import pytest

from training.settings import COMPILE_MIN_STEPS, RunSettings, should_compile


def test_explicit_choices_stand_and_auto_compiles_only_long_runs(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert should_compile(True, 10, "cpu") == (True, None)
    assert should_compile(False, 10**6, "cpu") == (False, None)
    assert should_compile(None, COMPILE_MIN_STEPS - 1, "cpu") == (False, None)
    assert should_compile(None, COMPILE_MIN_STEPS, "cpu") == (True, None)


@pytest.mark.parametrize("cxx", [None, "clang++-99"])
def test_auto_without_a_compiler_stays_eager_and_says_why(monkeypatch, cxx):
    monkeypatch.setattr("shutil.which", lambda name: None)
    if cxx:
        monkeypatch.setenv("CXX", cxx)
    else:
        monkeypatch.delenv("CXX", raising=False)
    compiled, why = should_compile(None, 10**6, "cpu")
    assert not compiled and why == f"no C++ compiler ({cxx or 'g++'}) on PATH"
    assert should_compile(True, 10**6, "cpu") == (True, None)  # asked for explicitly: torch says what is missing


def test_the_defaults_are_channels_last_fused_and_compile_auto():
    defaults = RunSettings.__dataclass_fields__
    assert defaults["channels_last"].default and defaults["fused_optimizer"].default
    assert defaults["compile"].default is None
