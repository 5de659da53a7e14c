"""`xiaoan.config.positive_number`: the one reader of "a number of at least 1" from the environment."""

import pytest

from xiaoan.config import positive_number
from xiaoan.retention import RetentionError, RetentionPeriods


def test_blank_gives_the_default_and_text_is_parsed():
    assert positive_number("X", None, 7) == 7
    assert positive_number("X", "  ", 7) == 7
    assert positive_number("X", " 12 ", 7) == 12
    assert positive_number("X", "2.5", 60.0, parse=float) == 2.5


def test_bad_values_name_the_variable_and_the_unit():
    with pytest.raises(ValueError, match=r"^X must be a whole number, got 'lots'$"):
        positive_number("X", "lots", 7)
    with pytest.raises(ValueError, match=r"^X must be at least 1, got 0$"):
        positive_number("X", "0", 7)
    with pytest.raises(ValueError, match=r"^L must be at least 1 second, got 0.5$"):
        positive_number("L", "0.5", 60.0, parse=float, what="a number of seconds", unit=" second")


def test_retention_periods_raise_their_own_error():
    with pytest.raises(RetentionError, match="at least 1 day, got 0"):
        RetentionPeriods.from_env(_all_variables("0"))
    with pytest.raises(RetentionError, match="whole number of days, got 'x'"):
        RetentionPeriods.from_env(_all_variables("x"))


def _all_variables(value: str) -> dict:
    from xiaoan.retention import PERIODS

    return {variable: value for variable, _default in PERIODS.values()}
