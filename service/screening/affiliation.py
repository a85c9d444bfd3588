"""Splitting what a user pastes into the parts that may name an institution.

A co-author affiliation such as "School of Computer Science, Harbin Institute of Technology,
Shenzhen 518055, China" names a department, the institution, a city with its postcode and a
country. Each part is matched on its own (departments, cities and countries name no listed
institution, so they fall away), and so is the whole text, for names that hold a comma
themselves ("Huawei Technologies Co., Ltd.").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# After NFKC, which turns full-width commas and brackets into ASCII ones.
_SEPARATORS = re.compile(
    r"[,;|\n\t\u3001\u3002()\[\]{}<>\u3010\u3011\u300a\u300b\u00ab\u00bb\u201c\u201d\"]+"
)
# "…, Shenzhen 518055, China and Harbin Institute of Technology, …": two affiliations joined
# after a country. Not every "and": "Nanjing University of Science and Technology" is one name.
_JOINED_AFTER_COUNTRY = re.compile(
    r"\b(china|usa|uk|russia|japan|korea|germany|france|canada|australia)\s+and\s+", re.I
)
MAX_PARTS = 32


@dataclass(frozen=True)
class QueryPart:
    """Text to match; ``within_line`` when it is one part of a longer line."""

    text: str
    within_line: bool


def query_parts(text: str) -> list[QueryPart]:
    """The whole text, then each of its parts (at most ``MAX_PARTS``), without repeats."""
    text = unicodedata.normalize("NFKC", text)
    whole = " ".join(text.split())
    parts = [QueryPart(whole, within_line=False)] if whole else []
    seen = {whole}
    for piece in _SEPARATORS.split(_JOINED_AFTER_COUNTRY.sub(r"\1, ", text)):
        piece = " ".join(piece.split())
        if piece and piece not in seen and len(parts) < MAX_PARTS:
            seen.add(piece)
            parts.append(QueryPart(piece, within_line=True))
    return parts
