"""Small text helpers shared by the answer parsers."""

from __future__ import annotations

import re
import unicodedata

#: Full-width brackets stay as typed: a branch "（某某路店）" is stored as the citizen wrote it.
KEPT_BRACKETS = "（）【】"


def nfkc_keep_brackets(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), except the full-width brackets."""
    return "".join(ch if ch in KEPT_BRACKETS else unicodedata.normalize("NFKC", ch) for ch in text)


def strip_affixes(text: str, *, trim: str, fillers: re.Pattern, prefixes: re.Pattern,
                  trailers: re.Pattern) -> str:
    """An answer without its fillers, answer prefixes ("店名是", "在") and trailing words, repeatedly.

    Args:
        text: The answer (already normalised).
        trim: Characters stripped from both ends after each step.
        fillers: Filler words removed anywhere ("嗯", "那个").
        prefixes: One prefix removed per round.
        trailers: Trailing words removed per round.
    """
    plain = fillers.sub("", text.strip().strip(trim)).strip(trim)
    previous = None
    while previous != plain:
        previous = plain
        plain = prefixes.sub("", plain, count=1).strip(trim)
        plain = trailers.sub("", plain).strip(trim)
    return plain
