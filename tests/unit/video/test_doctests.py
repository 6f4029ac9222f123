"""The worked examples in the sampler's and the CPU budget's docstrings run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from service.inference import cpu_budget
from service.video import decode, index


@pytest.mark.parametrize("module", [decode, index, cpu_budget])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, result
