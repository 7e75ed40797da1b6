"""Tokenizers for row text: one built for the table (characters + whole column names and categories) or
the fast tokenizer of a local Hugging Face model folder. Both end up as a `tokenizers.Tokenizer`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular._llm.row_text import IS, MISSING, SEP, RowCodec

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
NUMBER_CHARS = "0123456789.-"


@dataclass(frozen=True)
class RowTokenizer:
    """A tokenizer with the ids sampling needs and each token's text (None: never generated)."""

    tokenizer: Tokenizer
    bos_id: int
    eos_id: int
    pad_id: int

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def strings(self) -> list[str | None]:
        out: list[str | None] = []
        specials = {self.bos_id, self.eos_id, self.pad_id}
        specials |= {i for i, t in self.tokenizer.get_added_tokens_decoder().items() if t.special}
        for i in range(self.tokenizer.get_vocab_size(with_added_tokens=True)):
            text = None if i in specials else self.tokenizer.decode([i], skip_special_tokens=False)
            out.append(text if text and "\ufffd" not in text else None)
        return out

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def specials(self) -> dict[str, int]:
        return {"bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id}


def table_tokenizer(codec: RowCodec, *, name_tokens: bool = False) -> RowTokenizer:
    """Characters as the base vocabulary (so any prefix can be completed) plus one token for each column
    name, category (unless it reads as a number), digit pair, the separators and `missing`.

    `name_tokens`: also one token for each column's `name is ` and `, name is `, so that the text between two
    values is a single token (three otherwise: separator, name, `" is "`)."""
    # Digit pairs halve the tokens of a number ("0.07871" -> 0 . 07 87 1); single digits stay in the vocabulary.
    words: set[str] = {IS, SEP, MISSING} | {f"{a}{b}" for a in "0123456789" for b in "0123456789"}
    chars: set[str] = set(NUMBER_CHARS) | set(IS) | set(SEP) | set(MISSING)
    for col in codec.modelled:
        words.add(col.name)
        if name_tokens:
            words |= {f"{col.name}{IS}", f"{SEP}{col.name}{IS}"}
        chars |= set(col.name)
        for text in col.texts:
            chars |= set(text)
            if not set(text) <= set(NUMBER_CHARS):  # digits stay digits: a category "1" must not eat numbers
                words.add(text)
    base = [PAD, BOS, EOS, UNK, *sorted(chars)]
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(base)}, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in (PAD, BOS, EOS, UNK)])
    tokenizer.add_tokens([AddedToken(w, normalized=False) for w in sorted(words, key=lambda w: (-len(w), w))])
    return RowTokenizer(tokenizer, bos_id=1, eos_id=2, pad_id=0)


def check_hf_tokenizer_file(folder: Path) -> None:
    """A base-model folder must hold `tokenizer.json` (checked before torch and transformers load)."""
    if not (folder / "tokenizer.json").is_file():
        raise InputDataError(f"model folder {str(folder)!r} has no tokenizer.json; llm_finetuned needs a fast "
                             "(Rust) tokenizer saved with the model")


def hf_tokenizer(folder: Path) -> RowTokenizer:
    """The fast tokenizer of a local model folder (never remote code; `tokenizer.json` required)."""
    from transformers import AutoTokenizer

    check_hf_tokenizer_file(folder)
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    if tok.eos_token_id is None:
        raise InputDataError(f"the tokenizer in {str(folder)!r} has no end-of-sequence token")
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return RowTokenizer(tok.backend_tokenizer, bos_id=int(bos), eos_id=int(tok.eos_token_id), pad_id=int(pad))


def check_roundtrip(tokenizer: RowTokenizer, text: str) -> None:
    """Encoding then decoding must give the text back, else the grammar and the model disagree."""
    strings = tokenizer.strings()
    ids = tokenizer.encode(text)
    back = "".join(strings[i] or "\x00" for i in ids)
    if back != text:
        raise ConfigError(f"the tokenizer does not reproduce the row text {text[:80]!r} (got {back[:80]!r}); "
                          "llm_finetuned needs a tokenizer whose tokens decode to their own text")


def load_tokenizer(path: Path, specials: dict[str, int]) -> RowTokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
        raise InputDataError(f"tokenizer file {str(path)!r} cannot be read: {err}") from None
    return RowTokenizer(tokenizer, **specials)
