"""The shared field cleaners refuse what they cannot take exactly."""

from __future__ import annotations

import pytest

from app.errors import ValidationFailed
from app.validation import clean_int


@pytest.mark.parametrize("raw, expected", [(4, 4), ("4", 4), (4.0, 4), (" 5 ", 5), ("-0", 0)])
def test_whole_numbers(raw, expected):
    assert clean_int(raw, "n", 0, 10) == expected


@pytest.mark.parametrize("raw", [4.7, "4.7", "four", True, [], {}, "1e3", float("nan"), 11, -1])
def test_anything_else_is_refused_not_truncated(raw):
    with pytest.raises(ValidationFailed):
        clean_int(raw, "n", 0, 10)
