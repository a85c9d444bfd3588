"""Chinese names: simplified and traditional script, pinyin, legal endings and short forms."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

import zhconv
from pypinyin import Style, lazy_pinyin

from service.screening.text import compact
from service.screening.vocabulary import (
    CHINESE_COMPANY_TAILS,
    CHINESE_LEGAL_ENDINGS,
    CHINESE_PLACE_ENDINGS,
    CHINESE_PLACE_NAMES,
    CHINESE_PREFIXES,
)

# Everything that is not a Han character or a Latin letter or digit (spaces, punctuation,
# full-width brackets) is dropped from a Chinese key.
_NOT_NAME = re.compile(r"[^\w]|_")


@lru_cache(maxsize=65536)
def chinese_key(text: str) -> str:
    """Simplified script without spaces or punctuation: 哈爾濱 工業大學 → 哈尔滨工业大学."""
    simplified: str = zhconv.convert(text, "zh-cn")
    return _NOT_NAME.sub("", simplified)


def _strip_ending(key: str, endings: tuple[str, ...]) -> str | None:
    for ending in endings:
        if key.endswith(ending) and len(key) - len(ending) >= 2:
            return key[: -len(ending)]
    return None


def reduced_forms(key: str, *, company: bool) -> list[str]:
    """Shorter forms of a Chinese name that still name the same organisation.

    中国人民解放军国防科技大学 → 国防科技大学 (the PLA prefix); for companies, the legal form
    and generic endings one at a time (中国航空工业集团有限公司 → 中国航空工业集团 → 中国航空工业;
    浙江大华技术股份有限公司 → 浙江大华技术 → 浙江大华) and the home province or city
    (海康威视数字技术 from 杭州海康威视数字技术). A university's place is part of its name:
    南京大学 never becomes 大学.
    """
    forms: list[str] = []
    for prefix in CHINESE_PREFIXES:
        if key.startswith(prefix) and len(key) - len(prefix) >= 4:
            forms.append(key[len(prefix) :])
    if not company:
        return forms
    current: str | None = key
    # A national group's generic words are its name: 中国电子科技 (CETC) less 科技 is 中国电子,
    # which is another group (CEC).
    steps: list[tuple[str, ...]] = [CHINESE_LEGAL_ENDINGS, ("集团",)]
    if not key.startswith("中国"):
        steps.append(CHINESE_COMPANY_TAILS)
    for endings in steps:
        stripped = _strip_ending(current, endings) if current else None
        if stripped:
            forms.append(stripped)
            current = stripped
    for form in [key, *forms]:
        for place in CHINESE_PLACE_NAMES:
            if form.startswith(place) and len(form) - len(place) >= 3:
                forms.append(form[len(place) :])
    return list(dict.fromkeys(f for f in forms if f != key))


def pinyin_forms(key: str) -> list[str]:
    """Toneless pinyin of a Chinese name, letters only: 哈尔滨工业大学 → haerbingongyedaxue.

    Also with a leading place in its usual English spelling: harbingongyedaxue.
    """
    forms = [_pinyin(key)]
    for place, spelling in CHINESE_PLACE_NAMES.items():
        if spelling and key.startswith(place):
            forms.append(compact(spelling) + _pinyin(key[len(place) :]))
    return forms


def _pinyin(key: str) -> str:
    return compact("".join(lazy_pinyin(key, style=Style.NORMAL, v_to_u=True)))


def place_prefix_ends(key: str) -> list[int]:
    """Where a name may start inside ``key``: after a 省/市/区/县 or a PLA prefix.

    Not after a bare place name: 西安 + 电子科技大学 is Xidian University, not UESTC.
    """
    ends = [i + 1 for i, c in enumerate(key) if c in CHINESE_PLACE_ENDINGS]
    ends += [len(prefix) for prefix in CHINESE_PREFIXES if key.startswith(prefix)]
    return sorted(set(ends))


@lru_cache(maxsize=1)
def short_forms() -> dict[str, tuple[str, ...]]:
    """Common short forms (简称) by official simplified name, from the curated table."""
    text = resources.files("service.screening").joinpath("data/zh_short_forms.json").read_text()
    table: dict[str, list[str]] = json.loads(text)["short_forms"]
    return {
        chinese_key(name): tuple(chinese_key(s) for s in forms) for name, forms in table.items()
    }
