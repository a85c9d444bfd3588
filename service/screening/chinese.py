"""Chinese names: simplified and traditional script, pinyin, legal endings and short forms."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

import zhconv
from pypinyin import Style, lazy_pinyin

from service.screening.text import compact
from service.screening.vocabulary import CHINESE_LEGAL_ENDINGS

# Everything that is not a Han character or a Latin letter or digit (spaces, punctuation,
# full-width brackets) is dropped from a Chinese key.
_NOT_NAME = re.compile(r"[^\w]|_")


@lru_cache(maxsize=65536)
def chinese_key(text: str) -> str:
    """Simplified script without spaces or punctuation: 哈爾濱 工業大學 → 哈尔滨工业大学."""
    simplified: str = zhconv.convert(text, "zh-cn")
    return _NOT_NAME.sub("", simplified)


def without_legal_ending(key: str) -> str | None:
    """The name without its corporate ending (有限公司 …), or None when it has none."""
    for ending in CHINESE_LEGAL_ENDINGS:
        if key.endswith(ending) and len(key) - len(ending) >= 2:
            return key[: -len(ending)]
    return None


def pinyin_compact(key: str) -> str:
    """Toneless pinyin of a Chinese name, letters only: 哈尔滨工业大学 → haerbingongyedaxue."""
    return compact("".join(lazy_pinyin(key, style=Style.NORMAL, v_to_u=True)))


@lru_cache(maxsize=1)
def short_forms() -> dict[str, tuple[str, ...]]:
    """Common short forms (简称) by official simplified name, from the curated table."""
    text = resources.files("service.screening").joinpath("data/zh_short_forms.json").read_text()
    table: dict[str, list[str]] = json.loads(text)["short_forms"]
    return {
        chinese_key(name): tuple(chinese_key(s) for s in forms) for name, forms in table.items()
    }
