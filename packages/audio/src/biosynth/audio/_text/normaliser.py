"""`ClinicalNormaliser`: clinical text as a TTS engine should read it.

"5 mg IV q6h" -> "five milligrams intravenously every six hours"; "BP 120/80" -> "blood pressure one twenty
over eighty"; "3:30 p.m." -> "three thirty p m"; "Dr." -> "Doctor"; drug names respelt through a pronunciation
lexicon (a small one ships in biosynth-audio; a user's JSON file extends or overrides it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path

from biosynth.audio._text.numbers import cardinal, decimal, ordinal, paired
from biosynth.core import ConfigError, canonical_json, sha256_text

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]

# unit -> (singular, plural); matched only right after a number
_UNITS: dict[str, tuple[str, str]] = {
    "mg": ("milligram", "milligrams"), "mcg": ("microgram", "micrograms"), "µg": ("microgram", "micrograms"),
    "ug": ("microgram", "micrograms"), "g": ("gram", "grams"), "kg": ("kilogram", "kilograms"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "L": ("liter", "liters"),
    "l": ("liter", "liters"), "mmol": ("millimole", "millimoles"), "mEq": ("milliequivalent", "milliequivalents"),
    "meq": ("milliequivalent", "milliequivalents"), "units": ("unit", "units"), "unit": ("unit", "units"),
    "U": ("unit", "units"), "IU": ("international unit", "international units"), "mmHg": ("millimeter of mercury",
    "millimeters of mercury"), "bpm": ("beat per minute", "beats per minute"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "%": ("percent", "percent"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "C": ("degree Celsius", "degrees Celsius"),
    "F": ("degree Fahrenheit", "degrees Fahrenheit"), "h": ("hour", "hours"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "wk": ("week", "weeks"),
    "wks": ("week", "weeks"), "yrs": ("year", "years"), "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"),
}
_PER = {"kg": "kilogram", "dL": "deciliter", "dl": "deciliter", "L": "liter", "l": "liter", "min": "minute",
        "h": "hour", "hr": "hour", "day": "day", "d": "day", "mL": "milliliter", "ml": "milliliter"}

# whole-token abbreviations (case-sensitive keys first, then case-insensitive ones)
_EXACT: dict[str, str] = {
    "Dr.": "Doctor", "Dr": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "St.": "Saint",
    "IV": "intravenously", "IM": "intramuscularly", "SC": "subcutaneously", "SQ": "subcutaneously",
    "SL": "under the tongue", "PO": "by mouth", "po": "by mouth", "PR": "rectally",
    "SOB": "shortness of breath", "BP": "blood pressure", "HR": "heart rate", "RR": "respiratory rate",
    "SpO2": "oxygen saturation", "O2": "oxygen", "ECG": "E C G", "EKG": "E K G", "CT": "C T", "MRI": "M R I",
    "ER": "E R", "ED": "E D", "ICU": "I C U", "COPD": "C O P D", "CHF": "C H F", "MI": "M I", "GP": "G P",
    "ENT": "E N T", "CPR": "C P R", "N/V": "nausea and vomiting", "c/o": "complains of", "w/": "with",
    "w/o": "without", "y/o": "year old", "yo": "year old", "r/o": "rule out", "s/p": "status post",
}
_ANY_CASE: dict[str, str] = {
    "pt": "patient", "pts": "patients", "hx": "history", "dx": "diagnosis", "tx": "treatment", "rx": "prescription",
    "sx": "symptoms", "prn": "as needed", "p.r.n.": "as needed", "bid": "twice a day", "b.i.d.": "twice a day",
    "tid": "three times a day", "t.i.d.": "three times a day", "qid": "four times a day",
    "q.i.d.": "four times a day", "qd": "once a day", "q.d.": "once a day", "od": "once a day",
    "qhs": "at bedtime", "q.h.s.": "at bedtime", "hs": "at bedtime", "stat": "immediately", "vs.": "versus",
    "approx.": "approximately", "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "abd": "abdominal",
    "meds": "medications", "yrs": "years",
}
_Q_HOURS = re.compile(r"^q\.?(\d{1,2})\.?(h|hr|hrs|hours?)\.?$", re.IGNORECASE)


@cache
def shipped_lexicon() -> dict[str, str]:
    """The drug-name pronunciation lexicon that ships in biosynth-audio (lower-case name -> respelling)."""
    text = files("biosynth.audio").joinpath("data/drug_lexicon.json").read_text(encoding="utf-8")
    return {k.lower(): v for k, v in json.loads(text)["entries"].items()}


def read_lexicon(path: str | Path) -> dict[str, str]:
    """A user's lexicon: a JSON object `{"name": "respelling", ...}` (or `{"entries": {...}}`)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"pronunciation lexicon {path}: {err}") from None
    entries = data.get("entries", data) if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                 for k, v in entries.items()):
        raise ConfigError(f"pronunciation lexicon {path}: expected a JSON object of name -> respelling strings")
    return {k.lower(): v for k, v in entries.items()}


def _unit(number: str, unit: str) -> str:
    singular, plural = _UNITS[unit]
    return plural if number not in ("1", "1.0") else singular


def _number(text: str) -> str:
    return decimal(text) if "." in text else cardinal(int(text))


def _time(hour: int, minute: int, meridiem: str | None) -> str:
    spoken = cardinal(hour) + ("" if minute == 0 and meridiem else " o'clock" if minute == 0
                               else f" oh {cardinal(minute)}" if minute < 10 else f" {cardinal(minute)}")
    if meridiem:
        spoken += " a m" if meridiem.lower().startswith("a") else " p m"
    return spoken


_NUM = r"\d+(?:\.\d+)?"
_MID_DOT = r"(?:\.(?!\s*(?:$|(?-i:[A-Z]))))?"  # the final dot of "p.m." unless it also ends the sentence
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_PER_ALT = "|".join(sorted((re.escape(u) for u in _PER), key=len, reverse=True))
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    # 1,250 -> 1250 (read as one number)
    (re.compile(r"\b\d{1,3}(?:,\d{3})+\b"), lambda m: m[0].replace(",", "")),
    # ISO dates 2024-03-12, then US dates 3/12/2024 (before blood pressure, which also has a slash)
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
     lambda m: f"{_MONTHS[int(m[2]) - 1]} {ordinal(int(m[3]))}, {paired(int(m[1]))}"
     if 1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31 else m[0]),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b"),
     lambda m: f"{_MONTHS[int(m[1]) - 1]} {ordinal(int(m[2]))}, "
               f"{paired(int(m[3]) + (2000 if len(m[3]) == 2 else 0))}"
     if 1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 31 else m[0]),
    # times: 3:30 p.m., 14:05, 7 am
    (re.compile(rf"\b(\d{{1,2}}):(\d{{2}})(?:\s*([ap])\.?\s?m\b{_MID_DOT})?", re.IGNORECASE),
     lambda m: _time(int(m[1]), int(m[2]), m[3])),
    (re.compile(rf"\b(\d{{1,2}})\s*([ap])\.?\s?m\b{_MID_DOT}", re.IGNORECASE), lambda m: _time(int(m[1]), 0, m[2])),
    # blood pressure 120/80 (mmHg)
    (re.compile(r"\b(\d{2,3})\s*/\s*(\d{2,3})\b(?:\s*mm\s?Hg\b)?"),
     lambda m: f"{paired(int(m[1]))} over {paired(int(m[2]))}"),
    (re.compile(r"\b(\d{2,3}) over (\d{2,3})\b"), lambda m: f"{paired(int(m[1]))} over {paired(int(m[2]))}"),
    # doses with a rate unit: 5 mg/kg, 10 mg/dL
    (re.compile(rf"\b({_NUM})\s*({_UNIT_ALT})/({_PER_ALT})\b"),
     lambda m: f"{_number(m[1])} {_unit(m[1], m[2])} per {_PER[m[3]]}"),
    # ranges 2-3 mg, 2 to 3
    (re.compile(rf"\b({_NUM})\s*-\s*({_NUM})(?=\s*(?:{_UNIT_ALT})\b|\s*(?:times|days|weeks|hours)\b)"),
     lambda m: f"{_number(m[1])} to {_number(m[2])}"),
    # a number and its unit: 5 mg, 38.5 °C, 95%
    (re.compile(rf"\b({_NUM})\s*({_UNIT_ALT})(?=[^\w°%]|$)"), lambda m: f"{_number(m[1])} {_unit(m[1], m[2])}"),
    # ordinals 1st, 22nd
    (re.compile(r"\b(\d+)(st|nd|rd|th)\b"), lambda m: ordinal(int(m[1]))),
    # years and other numbers
    (re.compile(r"\b(19\d{2}|20\d{2})\b"), lambda m: paired(int(m[1]))),
    (re.compile(rf"\b{_NUM}\b"), lambda m: _number(m[0])),
]
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9./]*[A-Za-z0-9.]|[A-Za-z]")


class ClinicalNormaliser:
    """Normalise clinical text for speech; `lexicon` entries (name -> respelling) extend the shipped drug lexicon."""

    def __init__(self, lexicon: Mapping[str, str] | None = None, *, use_shipped_lexicon: bool = True) -> None:
        self.lexicon = {**(shipped_lexicon() if use_shipped_lexicon else {}),
                        **{k.lower(): v for k, v in (lexicon or {}).items()}}

    @property
    def lexicon_sha256(self) -> str:
        return sha256_text(canonical_json(self.lexicon))

    def normalise(self, text: str, *, respell: bool = True) -> str:
        """The spoken form of `text`; `respell=False` leaves drug names as written (the form to score ASR against)."""
        out = self._words(text, respell=respell)
        for pattern, spoken in _RULES:
            out = pattern.sub(spoken, out)
        out = out.replace("&", " and ").replace("+", " plus ").replace("#", " number ")
        return re.sub(r"\s+", " ", out).strip()

    __call__ = normalise

    def _words(self, text: str, *, respell: bool) -> str:
        def token(m: re.Match[str]) -> str:
            word = m[0]
            q = _Q_HOURS.match(word)
            if q:
                hours = int(q[1])
                return "every hour" if hours == 1 else f"every {cardinal(hours)} hours"
            stripped = word.rstrip(".") if word not in _EXACT and word.lower() not in _ANY_CASE else word
            tail = word[len(stripped):]
            for candidate in (word, stripped):
                if candidate in _EXACT:
                    return _EXACT[candidate] + (tail if candidate is stripped else "")
                if candidate.lower() in _ANY_CASE:
                    return _ANY_CASE[candidate.lower()] + (tail if candidate is stripped else "")
                if respell and candidate.lower() in self.lexicon:
                    return self.lexicon[candidate.lower()] + (tail if candidate is stripped else "")
            return word

        return _TOKEN.sub(token, text)
