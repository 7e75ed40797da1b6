"""Rows as text (`"age is 67, sex is F, bmi is 27.4"`), the GReaT serialisation, done with exact numbers.

Every modelled column gets a text form that a grammar can check character by character:

- numerical: a fixed number of decimals per column (found from the data, at most `max_decimals`; values
  with more are rounded), no exponent, `-` for negatives; the range is kept in integer *units* of
  10^-decimals so that bounds are exact. With `fixed_width` the integer part is zero-padded to the
  widest value of the column's range (`mean area is 0143.5`, as REaLTabFormer does): every value of a
  column then has the same digit positions, so a token means the same magnitude in every row and a
  small model learns a column's distribution digit group by digit group; without it, no leading zeros;
- datetime: whole days (or seconds, when any value has a time of day) since the earliest date of all
  datetime columns, written as an integer — so inequalities between datetime columns compare units;
- categorical and boolean: the category as text (`true` / `false` for booleans);
- a missing value: `missing`, only for columns that had missing values.

Id columns are not modelled (sampled rows get fresh ids); free-text columns are refused.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular._metadata import ColumnType, TableMetadata

if TYPE_CHECKING:
    import pandas as pd

IS = " is "
SEP = ", "
MISSING = "missing"
Category = str | int | bool


class ColumnCodec(BaseModel):
    """How one column is written as text and read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["number", "category", "datetime", "id"]
    decimals: int = Field(0, ge=0)
    width: int = Field(0, ge=0, description="number/datetime: integer digits, zero-padded (0: no padding)")
    low: int | None = Field(None, description="number/datetime: smallest value in units of 10^-decimals")
    high: int | None = None
    integer: bool = False
    texts: tuple[str, ...] = Field((), description="category: the text of each category")
    values: tuple[Category, ...] = Field((), description="category: the typed value of each text")
    missing: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "datetime")

    def units(self, value: Fraction | Decimal | float | int) -> Fraction:
        """A number in this column's units (exact)."""
        return Fraction(value) * 10**self.decimals if not isinstance(value, float) else \
            Fraction(Decimal(repr(value))) * 10**self.decimals


class RowCodec(BaseModel):
    """The text form of a table's rows: one ColumnCodec per column (metadata order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[ColumnCodec, ...]
    datetime_unit: Literal["day", "second"] = "day"
    datetime_epoch: dt.datetime | None = None

    # building --------------------------------------------------------------------------------------
    @classmethod
    def build(cls, data: pd.DataFrame, metadata: TableMetadata, *, max_decimals: int = 4,
              fixed_width: bool = False) -> RowCodec:
        """Derive the codec from the table and its metadata; refuses what cannot be written unambiguously.
        `fixed_width`: zero-pad every number's integer part to the width of its column's range."""
        import pandas as pd

        dt_columns = [c.name for c in metadata.columns if c.type is ColumnType.DATETIME]
        epoch: dt.datetime | None = None
        unit: Literal["day", "second"] = "day"
        if dt_columns:
            stamps = pd.concat([pd.to_datetime(data[c]).dropna() for c in dt_columns])
            stamps = stamps.dt.tz_convert(None) if stamps.dt.tz is not None else stamps
            epoch = stamps.min().normalize().to_pydatetime()
            if ((stamps - stamps.dt.normalize()) != pd.Timedelta(0)).any():
                unit = "second"
        codecs: list[ColumnCodec] = []
        for spec in metadata.columns:
            _check_text(spec.name, f"column name {spec.name!r}")
            present = data[spec.name].dropna()
            missing = bool(spec.missing_fraction > 0 or len(present) < len(data))
            if spec.type is ColumnType.ID:
                codecs.append(ColumnCodec(name=spec.name, kind="id"))
            elif spec.type is ColumnType.TEXT:
                raise ConfigError(f"column {spec.name!r} is free text; llm_finetuned models numbers, categories, "
                                  "booleans and dates only — drop the column or mark it categorical in the metadata")
            elif spec.type is ColumnType.NUMERICAL:
                decimals = 0 if spec.integer else _decimals(present.astype(float).tolist(), max_decimals)
                low = _ceil_units(spec.minimum, decimals) if spec.minimum is not None else None
                high = _floor_units(spec.maximum, decimals) if spec.maximum is not None else None
                if low is None or high is None:
                    raise ConfigError(f"numerical column {spec.name!r} needs a minimum and a maximum in the metadata "
                                      "(constrained decoding keeps every value inside them)")
                if low > high:
                    raise ConfigError(f"numerical column {spec.name!r}: no value with {decimals} decimals lies in "
                                      f"[{spec.minimum}, {spec.maximum}]; raise max_decimals")
                codecs.append(ColumnCodec(name=spec.name, kind="number", decimals=decimals, low=low, high=high,
                                          width=_width(low, high, decimals) if fixed_width else 0,
                                          integer=spec.integer, missing=missing))
            elif spec.type is ColumnType.DATETIME:
                assert epoch is not None
                first = spec.earliest if spec.earliest is not None else pd.to_datetime(present).min().to_pydatetime()
                last = spec.latest if spec.latest is not None else pd.to_datetime(present).max().to_pydatetime()
                low = math.ceil(_offset(first, epoch, unit))
                high = math.floor(_offset(last, epoch, unit))
                codecs.append(ColumnCodec(name=spec.name, kind="datetime", low=low, high=high,
                                          width=_width(low, high, 0) if fixed_width else 0, missing=missing))
            else:
                values: tuple[Category, ...] = (True, False) if spec.type is ColumnType.BOOLEAN else \
                    tuple(spec.categories or ())
                texts = tuple(_category_text(v) for v in values)
                for text in texts:
                    _check_text(text, f"category {text!r} of column {spec.name!r}")
                clash = sorted({t for t in texts if texts.count(t) > 1})
                if clash:
                    raise ConfigError(f"column {spec.name!r}: categories {clash} read the same as text; rename them")
                if missing and MISSING in texts:
                    raise ConfigError(f"column {spec.name!r} has a category {MISSING!r} and missing values; "
                                      "rename the category")
                codecs.append(ColumnCodec(name=spec.name, kind="category", texts=texts, values=values,
                                          missing=missing))
        return cls(columns=tuple(codecs), datetime_unit=unit, datetime_epoch=epoch)

    # access -------------------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def modelled(self) -> tuple[ColumnCodec, ...]:
        return tuple(c for c in self.columns if c.kind != "id")

    def column(self, name: str) -> ColumnCodec:
        for codec in self.columns:
            if codec.name == name:
                return codec
        raise ConfigError(f"no column {name!r}; columns: {list(self.names)}")

    # values <-> text ----------------------------------------------------------------------------------
    def value_text(self, name: str, value: Any) -> str:
        """The text of one (Python / pandas) value of column `name`; numbers are rounded to its decimals."""
        codec = self.column(name)
        if _is_missing(value):
            if not codec.missing:
                raise InputDataError(f"column {name!r} has a missing value but its metadata allows none")
            return MISSING
        if codec.kind == "category":
            text = _category_text(_plain(value))
            if text not in codec.texts:
                raise InputDataError(f"column {name!r}: {value!r} is not one of its categories {list(codec.values)}")
            return text
        if codec.kind == "datetime":
            assert self.datetime_epoch is not None
            units = round(_offset(_as_datetime(value), self.datetime_epoch, self.datetime_unit))
        elif codec.kind == "number":
            units = int((Decimal(repr(float(value))).scaleb(codec.decimals)).to_integral_value(ROUND_HALF_EVEN))
        else:
            raise ConfigError(f"column {name!r} ({codec.kind}) is not written as text")
        assert codec.low is not None and codec.high is not None
        return format_units(min(max(units, codec.low), codec.high), codec.decimals, codec.width)

    def text_value(self, name: str, text: str) -> Any:
        """The typed value of a column's text (None for `missing`)."""
        codec = self.column(name)
        if text == MISSING and codec.missing:
            return None
        if codec.kind == "category":
            return codec.values[codec.texts.index(text)]
        units = parse_units(text, codec.decimals, codec.width)
        if units is None:
            raise ValueError(f"column {name!r}: {text!r} is not a number with {codec.decimals} decimals"
                             + (f" and {codec.width} integer digits" if codec.width else ""))
        if codec.kind == "datetime":
            assert self.datetime_epoch is not None
            step = dt.timedelta(days=1) if self.datetime_unit == "day" else dt.timedelta(seconds=1)
            return self.datetime_epoch + units * step
        if codec.integer:
            return int(units)
        return float(Decimal(units).scaleb(-codec.decimals))

    def row_text(self, values: Mapping[str, str], order: Sequence[str]) -> str:
        """`"a is 1, b is x"` for the columns in `order` (texts from `value_text`)."""
        return SEP.join(f"{name}{IS}{values[name]}" for name in order)

    def parse(self, text: str) -> dict[str, str]:
        """Column -> value text of a row text; ValueError when it is not a full row of this table."""
        out: dict[str, str] = {}
        for part in text.split(SEP) if text else []:
            name, is_, value = part.partition(IS)
            if not is_ or name not in self.names or name in out:
                raise ValueError(f"cannot read {part!r} as `column is value`")
            out[name] = value
        wanted = {c.name for c in self.modelled}
        if set(out) != wanted:
            raise ValueError(f"row text lacks column(s) {sorted(wanted - set(out))}")
        return out


# numbers ---------------------------------------------------------------------------------------------
def format_units(units: int, decimals: int, width: int = 0) -> str:
    """`1234, 2` -> `"12.34"`; `-5, 2` -> `"-0.05"`; `1234, 2, width=3` -> `"012.34"`."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    head = f"{whole:0{width}d}" if width else f"{whole}"
    return f"{sign}{head}.{frac:0{decimals}d}" if decimals else f"{sign}{head}"


def parse_units(text: str, decimals: int, width: int = 0) -> int | None:
    """The units of a canonical number text (as `format_units` writes it with `width`), else None."""
    negative = text.startswith("-")
    body = text[1:] if negative else text
    whole, dot, frac = body.partition(".")
    if not whole.isdigit() or not whole.isascii():
        return None
    if (len(whole) != width) if width else (len(whole) > 1 and whole[0] == "0"):
        return None
    if decimals:
        if not dot or len(frac) != decimals or not frac.isdigit():
            return None
    elif dot:
        return None
    units = int(whole) * 10**decimals + (int(frac) if decimals else 0)
    if negative and units == 0:
        return None
    return -units if negative else units


def _width(low: int, high: int, decimals: int) -> int:
    """Integer digits of the widest value in [low, high] units."""
    return len(str(max(abs(low), abs(high)) // 10**decimals))


def _decimals(values: list[float], cap: int) -> int:
    for d in range(cap + 1):
        if all(abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)) for v in values):
            return d
    return cap


def _ceil_units(value: float, decimals: int) -> int:
    return math.ceil(Fraction(Decimal(repr(float(value)))) * 10**decimals)


def _floor_units(value: float, decimals: int) -> int:
    return math.floor(Fraction(Decimal(repr(float(value)))) * 10**decimals)


def _offset(value: dt.datetime, epoch: dt.datetime, unit: str) -> Fraction:
    delta = _naive(value) - epoch
    seconds = Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 10**6)
    return seconds / 86400 if unit == "day" else seconds


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _as_datetime(value: Any) -> dt.datetime:
    import pandas as pd

    return _naive(pd.Timestamp(value).to_pydatetime())


def _category_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_text(text: str, what: str) -> None:
    for bad in (SEP, IS, "\n"):
        if bad in text:
            raise ConfigError(f"{what} contains {bad!r}, which the row text uses as a separator; rename it")
    if not text:
        raise ConfigError(f"{what} is empty")


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str) else value


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
