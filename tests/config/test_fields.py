"""Option metadata: an ``int | str`` option that also takes a share written ``N%``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from streampose.config.fields import Section, option, options, percent_of
from streampose.errors import ConfigError


@dataclass(frozen=True)
class _Sized(Section):
    table: ClassVar[str] = "sized"

    size: int | str | None = option(None, low=1, high=100, percent=(1.0, 50.0),
                                    help="a size or a share")


@pytest.mark.parametrize(("text", "share"), [("11%", 11.0), ("7.5%", 7.5), ("0%", 0.0),
                                             ("150%", 150.0)])
def test_a_share_is_read_from_its_text(text: str, share: float) -> None:
    assert percent_of(text) == share


@pytest.mark.parametrize("value", [11, "11", "abc", "5px", "-5%", "11 %", ".5%", "%", None])
def test_anything_else_is_no_share(value: object) -> None:
    assert percent_of(value) is None


def test_an_int_or_a_share_option_keeps_its_kind_and_both_ranges() -> None:
    (opt,) = options(_Sized)
    assert (opt.kind, opt.optional) == ("int", True)
    assert opt.expected == "an integer in [1, 100] or a percentage N% in [1%, 50%]"
    assert _Sized(size=100).size == 100 and _Sized(size="50%").size == "50%"
    assert _Sized(size="2.5%").size == "2.5%" and _Sized().size is None


@pytest.mark.parametrize(("value", "message"), [
    (0, "[sized].size: 0 is outside the allowed range [1, 100] (or a percentage N% in "
        "[1%, 50%])"),
    ("51%", "[sized].size: '51%' is outside the allowed range [1%, 50%] (or an integer in "
            "[1, 100])"),
    ("0.5%", "[sized].size: '0.5%' is outside the allowed range [1%, 50%]"),
    ("big", "[sized].size: 'big' is not an integer in [1, 100] or a percentage N% in "
            "[1%, 50%]"),
    (2.5, "[sized].size: 2.5 is not an integer"),
])
def test_a_bad_value_names_both_forms(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _Sized(size=value)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"--size / {message}")
