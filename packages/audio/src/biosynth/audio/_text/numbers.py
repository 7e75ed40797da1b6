"""Numbers as English words: cardinals, ordinals, decimals, years and blood-pressure style readings."""

from __future__ import annotations

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}


def _below_thousand(n: int) -> str:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else ""))
    elif n or not words:
        words.append(_ONES[n])
    return " ".join(words)


def cardinal(n: int) -> str:
    """123 -> 'one hundred twenty-three'."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return _below_thousand(n)
    words: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            words += [cardinal(n // value), name]
            n %= value
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """21 -> 'twenty-first'."""
    words = cardinal(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def decimal(text: str) -> str:
    """'2.5' -> 'two point five'; '0.25' -> 'zero point two five'."""
    whole, _, frac = text.partition(".")
    spoken = cardinal(int(whole or "0"))
    return f"{spoken} point {' '.join(_ONES[int(d)] for d in frac)}" if frac else spoken


def paired(n: int) -> str:
    """Read as pairs, as clinicians read blood pressure and years: 120 -> 'one twenty', 105 -> 'one oh five',
    1998 -> 'nineteen ninety-eight', 2005 -> 'two thousand five', 100 -> 'one hundred'."""
    if n < 100 or (n % 100 == 0 and n < 1000) or (n >= 1000 and (n % 1000 < 10 or n % 1000 == 0)):
        return cardinal(n)
    high, low = divmod(n, 100)
    return f"{cardinal(high)} {cardinal(low) if low >= 10 else 'oh ' + cardinal(low) if low else 'hundred'}"
