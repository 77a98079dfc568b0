"""Text normalisation shared by string search and (later) patient matching.

FHIR string search is case- and accent-insensitive. Vietnamese needs one extra rule:
``đ``/``Đ`` is a letter of its own, not ``d`` plus a combining mark, so Unicode
decomposition alone leaves it; we fold it to ``d`` as Vietnamese users expect
("Đặng" is found by "dang").
"""

from __future__ import annotations

import unicodedata

_EXTRA_FOLDS = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "ł": "l", "ß": "ss"})


def normalize(text: str) -> str:
    """Fold ``text`` for matching: NFKD, drop combining marks, fold đ, case-fold, squash spaces."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLDS))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().translate(_EXTRA_FOLDS).split())
