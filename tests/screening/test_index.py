"""The screening index: what it matches, what it keeps apart, and how it follows changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from service.access.principal import principal_for
from service.access.service import get_user_by_email
from service.advisories.schemas import AdvisoryCreate, AdvisoryUpdate
from service.advisories.service import create_advisory, update_advisory
from service.db import transaction, utcnow
from service.demo import demo_advisories
from service.screening.affiliation import MAX_PARTS, query_parts
from service.screening.index import ScreeningIndex, subject_key
from service.screening.text import compact, loose_transliteration, name_tokens
from tests.factories import Members, advisory_payload


@pytest.fixture(scope="module")
def demo_index() -> ScreeningIndex:
    index = ScreeningIndex()
    index.load((pk, advisory["subject"]) for pk, advisory in enumerate(demo_advisories(), 1))
    return index


def names(index: ScreeningIndex, text: str, country: str | None = None) -> list[str]:
    return [hit.subject["name"] for hit in index.search(text, country=country)]


def subject(name: str, *others: tuple[str, str], country: str = "CN", **extra: Any) -> Any:
    return {
        "name": name,
        "names": [{"value": value, "type": kind} for value, kind in others],
        "country": country,
        "kind": extra.pop("kind", "university"),
        "identifiers": extra.pop("identifiers", {}),
        "parent": None,
    }


def test_name_tokens_expand_abbreviations_and_drop_what_does_not_distinguish() -> None:
    assert name_tokens("Natl Univ Def Technol") == name_tokens(
        "National University of Defense Technology"
    )
    assert name_tokens("Huawei Technologies Co., Ltd.") == ("huawei", "technology")
    assert name_tokens("Ｈａｒｂｉｎ Institute of Technology") == (
        "harbin",
        "institute",
        "technology",
    )
    assert name_tokens("Beijing University of Aeronautics & Astronautics") == name_tokens(
        "Beijing Univ Aeronaut and Astronaut"
    )


def test_compact_and_transliteration_keys() -> None:
    assert compact("Hā'ěrbīn Gōngyè Dàxué") == compact("ha1 er3 bin1 gong1 ye4 da4 xue2")
    assert compact("Lüshun") == compact("Lvshun")
    keys = {
        loose_transliteration(text)
        for text in ("Сколковский", "Skolkovskiy", "Skolkovsky", "Skolkovskij")
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Harbin Institute of Technology", "Harbin Institute of Technology"),
        ("harbin institute of technology", "Harbin Institute of Technology"),
        ("Harbin Inst Technol", "Harbin Institute of Technology"),
        ("Natl Univ Def Technol", "National University of Defense Technology"),
        ("National University of Defence Technology", "National University of Defense Technology"),
        ("Harbin Institue of Technology", "Harbin Institute of Technology"),
        ("哈工大", "Harbin Institute of Technology"),
        ("哈爾濱工業大學", "Harbin Institute of Technology"),
        ("Haerbin Gongye Daxue", "Harbin Institute of Technology"),
        ("Hā'ěrbīn Gōngyè Dàxué", "Harbin Institute of Technology"),
        ("北航", "Beihang University"),
        ("NUDT", "National University of Defense Technology"),
        ("N.U.D.T.", "National University of Defense Technology"),
        ("NUST", "Nanjing University of Science and Technology"),
        ("Сколковский институт науки и технологий", "Skolkovo Institute of Science and Technology"),
        ("Skolkovsky Institut Nauki i Tehnologij", "Skolkovo Institute of Science and Technology"),
        ("Hikvision Digital Technology Co Ltd", "Hangzhou Hikvision Digital Technology Co., Ltd."),
        ("华为技术", "Huawei Technologies Co., Ltd."),
        (
            "School of Computer Science, Harbin Institute of Technology, Shenzhen 518055, China",
            "Harbin Institute of Technology",
        ),
        (
            "Coll Comp, Natl Univ Def Technol, Changsha 410073, Hunan, Peoples R China",
            "National University of Defense Technology",
        ),
        ("哈尔滨工业大学计算机科学与技术学院，哈尔滨 150001", "Harbin Institute of Technology"),
        ("Harbin Institute of Technology (Shenzhen)", "Harbin Institute of Technology"),
    ],
)
def test_finds_the_subject(demo_index: ScreeningIndex, query: str, expected: str) -> None:
    assert names(demo_index, query)[:1] == [expected]


@pytest.mark.parametrize(
    "query",
    [
        "Beijing University of Technology",
        "北京工业大学",
        "Harbin University of Science and Technology",
        "Nanjing University",
        "南京大学",
        "Northwest University",
        "西北大学",
        "Northwestern University",
        "Nanjing University of Information Science and Technology",
        "西安电子科技大学",
        "杭州电子科技大学",
        "University of Science and Technology of China",
        "National Defense University",
        "Sichuan Normal University",
        "Department of Physics, Nanjing University, Nanjing 210093, China",
    ],
)
def test_keeps_look_alikes_apart(demo_index: ScreeningIndex, query: str) -> None:
    assert names(demo_index, query) == []


def test_each_of_two_listed_look_alikes_gets_its_own(demo_index: ScreeningIndex) -> None:
    for name in (
        "China Aerospace Science and Technology Corporation",
        "China Aerospace Science and Industry Corporation",
        "Harbin Institute of Technology",
        "Harbin Engineering University",
    ):
        assert names(demo_index, name) == [name]


def test_derived_acronyms_in_lower_case_only_when_they_are_no_word(
    demo_index: ScreeningIndex,
) -> None:
    assert names(demo_index, "nudt") == ["National University of Defense Technology"]
    assert names(demo_index, "NUST") == ["Nanjing University of Science and Technology"]
    assert names(demo_index, "nust") == ["Nanjing University of Science and Technology"]
    index = ScreeningIndex()
    index.load([(1, subject("Sample Institute of Nuclear Energy")), (2, subject("Sine"))])
    assert sorted(names(index, "SINE")) == ["Sample Institute of Nuclear Energy", "Sine"]
    assert names(index, "sine") == ["Sine"]


def test_a_name_with_its_own_acronym_after_it(demo_index: ScreeningIndex) -> None:
    assert names(demo_index, "Beijing Univ Aeronaut & Astronaut BUAA") == ["Beihang University"]
    assert names(demo_index, "Harbin Institute of Technology BUAA") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Graduate School of China Academy of Engineering Physics",
            "China Academy of Engineering Physics",
        ),
        (
            "The 54th Research Institute of China Electronics Technology Group Corporation",
            "China Electronics Technology Group Corporation",
        ),
        (
            "中国电子科技集团公司第十四研究所，南京 210039",
            "China Electronics Technology Group Corporation",
        ),
        (
            "AVIC Chengdu Aircraft Design & Research Institute",
            "Aviation Industry Corporation of China",
        ),
        (
            "Nanjing University of Science and Technology ZiJin College",
            "Nanjing University of Science and Technology",
        ),
        ("Huawei Device Co., Ltd.", "Huawei Technologies Co., Ltd."),
        (
            "Hikvision Research Institute, Hangzhou, China",
            "Hangzhou Hikvision Digital Technology Co., Ltd.",
        ),
    ],
)
def test_units_and_subsidiaries_are_matched_as_such(
    demo_index: ScreeningIndex, query: str, expected: str
) -> None:
    [hit] = demo_index.search(query)
    assert hit.subject["name"] == expected
    assert (
        "a unit of it" in hit.matched_on
        or "a company of that name" in hit.matched_on
        or ("in a longer name" in hit.matched_on)
    )
    assert hit.score < 0.97


@pytest.mark.parametrize(
    "query",
    [
        "Chongqing Vocational College of Electronic Technology",
        "Southwest China Institute of Electronic Technology",
        "中国电子信息产业集团有限公司",
        "Institute of Technology",
        "School of Science and Technology",
    ],
)
def test_a_unit_needs_the_whole_name_of_its_institution(
    demo_index: ScreeningIndex, query: str
) -> None:
    assert names(demo_index, query) == []


def test_words_mixing_scripts_are_read_as_latin(demo_index: ScreeningIndex) -> None:
    spoofed = "Skolk\u043ev\u043e Institute of Science and Technology"
    assert names(demo_index, spoofed) == ["Skolkovo Institute of Science and Technology"]


def test_a_chinese_name_continued_as_another_institution_is_not_that_name() -> None:
    index = ScreeningIndex()
    index.load([(1, subject("Chinese Academy of Sciences", ("中国科学院", "official")))])
    assert names(index, "中国科学院自动化研究所") == ["Chinese Academy of Sciences"]
    assert names(index, "中国科学院大学") == []


@pytest.mark.parametrize(
    "query", ["https://ror.org/01yqg2h08", "ror.org/01yqg2h08/", "01YQG2H08", "01yqg2h08"]
)
def test_a_ror_id_finds_its_subject(demo_index: ScreeningIndex, query: str) -> None:
    [hit] = demo_index.search(query)
    assert hit.subject["name"] == "Harbin Institute of Technology"
    assert hit.matched_on == "identifier (ror): https://ror.org/01yqg2h08"


def test_country_narrows_the_matches(demo_index: ScreeningIndex) -> None:
    assert names(demo_index, "HIT", country="CN") == ["Harbin Institute of Technology"]
    assert names(demo_index, "HIT", country="IL") == []


def test_advisories_about_one_organisation_are_one_subject() -> None:
    index = ScreeningIndex()
    ror = {"ror": "https://ror.org/01yqg2h08"}
    index.load(
        [
            (1, subject("Harbin Institute of Technology", identifiers=ror)),
            (2, subject("Harbin Inst. of Technology", ("HIT", "acronym"), identifiers=ror)),
        ]
    )
    [hit] = index.search("HIT")
    assert hit.advisory_pks == (1, 2)
    assert subject_key(hit.subject) == "ror:01yqg2h08"


def test_a_revision_that_renames_the_subject_moves_the_advisory() -> None:
    index = ScreeningIndex()
    index.load([(1, subject("Old Name Institute")), (2, subject("Other Institute"))])
    index.put(1, subject("New Name Institute"))
    assert names(index, "Old Name Institute") == []
    assert [h.advisory_pks for h in index.search("New Name Institute")] == [(1,)]
    assert names(index, "Other Institute") == ["Other Institute"]
    for round_ in range(3000):  # enough re-indexing to compact the tables
        index.put(1, subject(f"Renamed {round_} Institute"))
    assert names(index, "Renamed 2999 Institute") == ["Renamed 2999 Institute"]
    assert names(index, "Renamed 2998 Institute") == []
    assert index.size == 2


def test_a_misspelling_finds_a_name_indexed_after_it_was_first_searched() -> None:
    """The near spellings of query words are kept between searches, until a new word comes."""
    index = ScreeningIndex()
    index.load([(1, subject("Zhejiang Normal University"))])
    assert names(index, "Skolteck") == []
    index.put(2, subject("Skoltech", country="RU"))
    assert names(index, "Skolteck") == ["Skoltech"]
    assert names(index, "Skolteck") == ["Skoltech"]


def test_query_parts_are_bounded() -> None:
    parts = query_parts(", ".join(f"part {i}" for i in range(200)))
    assert len(parts) == MAX_PARTS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_searched_without_error(text: str) -> None:
    index = _HYPOTHESIS_INDEX
    for hit in index.search(text):
        assert 0.0 < hit.score <= 1.0


_HYPOTHESIS_INDEX = ScreeningIndex()
_HYPOTHESIS_INDEX.load((pk, a["subject"]) for pk, a in enumerate(demo_advisories(), 1))


def test_refresh_follows_writes_in_the_database(
    session_factory: sessionmaker[Session], members: Members
) -> None:
    index = ScreeningIndex()
    now = utcnow()
    with transaction(session_factory) as session:
        index.refresh(session)
        assert index.size == 0
        analyst = principal_for(get_user_by_email(session, "analyst@example.edu"))
        created = create_advisory(
            session,
            principal=analyst,
            node_id="test",
            advisory_in=AdvisoryCreate.model_validate(advisory_payload()),
            now=now,
        )
    with session_factory() as session:
        index.refresh(session)
    assert names(index, "哈工大") == ["Harbin Institute of Technology"]
    renamed = advisory_payload()["subject"] | {"name": "Harbin Engineering University"}
    renamed["names"] = []
    renamed["identifiers"] = {}
    with transaction(session_factory) as session:
        update_advisory(
            session,
            principal=analyst,
            node_id="test",
            advisory_id=created["id"],
            changes_in=AdvisoryUpdate.model_validate({"base_revision": 1, "subject": renamed}),
            now=now,
        )
    with session_factory() as session:
        index.refresh(session)
    assert names(index, "Harbin Institute of Technology") == []
    assert names(index, "Harbin Engineering University") == ["Harbin Engineering University"]
