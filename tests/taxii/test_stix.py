"""The mapping of an advisory revision to STIX 2.1 (``service.taxii.stix``), without a node.

Every advisory field lands somewhere, ids are the same on every pull and across revisions, TLP
is the OASIS TLP 2.0 marking (and amber and above are refused), and what comes out is STIX that
the OASIS ``stix2`` library and validator accept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import stix2
from stix2validator import validate_instance

from service.taxii.stix import (
    EXTENSION_SCHEMA,
    TLP_2_EXTENSION,
    TLP_MARKINGS,
    StixNode,
    advisory_objects,
    fixed_objects,
    tlp_marking,
)
from tests.factories import advisory_payload

NODE = StixNode("ca", "Canadian node", "CA", "https://trex.example.ca")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "taxii.md"
# The validator's only warnings for what the node serves, both SHOULDs it departs from on
# purpose: ids are UUIDv5 so that every pull gives the same ids (103), and references to web
# pages carry no hash, as nothing fixes their content (302).
ALLOWED_WARNINGS = {"103", "302"}


def document(**overrides: Any) -> dict[str, Any]:
    """A stored advisory revision: a full payload plus what the node adds."""
    doc = advisory_payload(
        tlp="green",
        detail="Hosts two defence laboratories.",
        subject={
            "name": "Harbin Institute of Technology",
            "names": [
                {"value": "哈尔滨工业大学", "lang": "zh", "type": "official"},
                {"value": "HIT", "type": "acronym"},
            ],
            "country": "CN",
            "kind": "university",
            "identifiers": {"ror": "https://ror.org/01yqg2h08", "wikidata": "Q1187004"},
            "parent": "Ministry of Industry and Information Technology",
        },
        listings=[
            {
                "list": "us_entity_list",
                "citation": "85 FR 34495",
                "listed_on": "2020-06-05",
                "url": "https://www.federalregister.gov/d/2020-12303",
            }
        ],
        sources=[
            {
                "title": "China Defence Universities Tracker",
                "url": "https://unitracker.aspi.org.au/",
                "publisher": "ASPI",
                "published": "2019-11-25",
            }
        ],
        audience=[],
    )
    doc.update(
        id="8c0e2a4e-3f0b-4c1e-9a55-2b1d8f0c7e11",
        origin="ca",
        revision=1,
        contributor_org="University of Example",
        published_at="2026-02-01T10:00:00Z",
        updated_at="2026-02-01T10:00:00Z",
    )
    doc.update(overrides)
    return doc


def extension_of(report: dict[str, Any]) -> dict[str, Any]:
    extension: dict[str, Any] = report["extensions"][NODE.extension_id]
    return extension


def validation_problems(obj: dict[str, Any]) -> tuple[list[str], set[str]]:
    """(errors, warning codes) of the OASIS validator for one object."""
    result = validate_instance(obj)
    codes = {re.sub(r"^.*?\{(\d+)\}.*$", r"\1", str(w)) for w in result.warnings}
    return [str(e) for e in result.errors], codes


def test_every_advisory_field_lands_somewhere() -> None:
    doc = document(status="withdrawn", withdrawal_reason="Merged into another advisory.")
    identity, report = advisory_objects(NODE, doc)
    ext = extension_of(report)
    subject = doc["subject"]
    references = {r["source_name"]: r for r in report["external_references"]}
    identity_references = {r["source_name"]: r for r in identity["external_references"]}
    where: dict[str, bool] = {
        "id": ext["advisory_id"] == doc["id"] and references["trex"]["external_id"] == doc["id"],
        "origin": ext["origin"] == "ca",
        "revision": ext["revision"] == 1,
        "status": ext["status"] == "withdrawn" and report["revoked"] is True,
        "tier": ext["tier"] == "academia",
        "tlp": report["object_marking_refs"] == [TLP_MARKINGS["green"]] and ext["tlp"] == "green",
        "subject": (
            identity["name"] == subject["name"] == ext["subject"]["name"]
            and ext["subject"]["names"] == subject["names"]
            and ext["subject"]["country"] == "CN"
            and ext["subject"]["kind"] == "university"
            and ext["subject"]["identifiers"] == subject["identifiers"]
            and ext["subject"]["parent"] == subject["parent"]
            and identity_references["ror"]["url"] == "https://ror.org/01yqg2h08"
            and identity_references["wikidata"]["external_id"] == "Q1187004"
            and "哈尔滨工业大学" in identity["description"]
            and "Ministry of Industry" in identity["description"]
            and report["object_refs"] == [identity["id"]]
        ),
        "risk": ext["risk"] == "very_high" and "risk:very_high" in report["labels"],
        "confidence": ext["confidence"] == "high" and report["confidence"] == 85,
        "categories": ext["categories"] == doc["categories"]
        and {"category:seven_sons", "category:defence_industry"} <= set(report["labels"]),
        "technologies": ext["technologies"] == ["aerospace"]
        and "technology:aerospace" in report["labels"],
        "listings": references["us_entity_list"]
        == {
            "source_name": "us_entity_list",
            "description": "85 FR 34495; listed on 2020-06-05",
            "url": "https://www.federalregister.gov/d/2020-12303",
        },
        "recommended_action": ext["recommended_action"] == "enhanced_due_diligence",
        "summary": report["description"].startswith(doc["summary"]),
        "detail": report["description"].endswith("\n\nHosts two defence laboratories."),
        "sources": references["ASPI"]
        == {
            "source_name": "ASPI",
            "description": "China Defence Universities Tracker (published 2019-11-25)",
            "url": "https://unitracker.aspi.org.au/",
        },
        "valid_from": ext["valid_from"] == "2026-01-01",
        "review_by": ext["review_by"] == "2027-06-30",
        "contributor_org": ext["contributor_org"] == "University of Example",
        "published_at": report["published"] == report["created"] == "2026-02-01T10:00:00.000000Z",
        "updated_at": report["modified"] == identity["modified"] == "2026-02-01T10:00:00.000000Z",
        "withdrawal_reason": ext["withdrawal_reason"] == "Merged into another advisory.",
    }
    # Who else may read it and where it may travel are trex's own sharing rules, not part of
    # the assessment: a STIX consumer could not apply them (docs/taxii.md).
    left_out = {"audience", "scope"}
    assert set(where) | left_out == set(doc)
    assert [name for name, ok in where.items() if not ok] == []


def test_nothing_is_a_loose_custom_property() -> None:
    identity, report = advisory_objects(NODE, document())
    for obj in (identity, report, *fixed_objects(NODE)):
        assert not [key for key in obj if key.startswith("x_")], obj
    assert set(report["extensions"]) == {NODE.extension_id}


def test_the_extension_follows_its_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(EXTENSION_SCHEMA)
    for doc in (document(), document(status="withdrawn", withdrawal_reason="Merged.")):
        _, report = advisory_objects(NODE, doc)
        jsonschema.validate(extension_of(report), EXTENSION_SCHEMA)
    bare = document(categories=[], technologies=[], listings=[], sources=[], detail="")
    bare["subject"] = {"name": "Acme Lab", "country": "CN", "kind": "lab"}
    bare.pop("valid_from")
    _, report = advisory_objects(NODE, bare)
    jsonschema.validate(extension_of(report), EXTENSION_SCHEMA)
    assert "categories" not in extension_of(report)


def test_the_documented_schema_is_the_served_one() -> None:
    text = DOCS.read_text("utf-8")
    heading = text.index("## The extension's schema")
    block = re.search(r"```json\n(.*?)```", text[heading:], re.DOTALL)
    assert block is not None, "docs/taxii.md shows the schema as a json block"
    assert json.loads(block.group(1)) == EXTENSION_SCHEMA


def test_ids_are_the_same_on_every_pull_and_across_revisions() -> None:
    first = advisory_objects(NODE, document())
    again = advisory_objects(NODE, document())
    assert first == again
    revised = advisory_objects(
        NODE, document(revision=2, risk="high", updated_at="2026-03-01T09:30:00.123456Z")
    )
    for before, after in zip(first, revised, strict=True):
        assert after["id"] == before["id"]
        assert after["created"] == before["created"]
        assert after["modified"] == "2026-03-01T09:30:00.123456Z" > before["modified"]
    other_advisory = advisory_objects(NODE, document(id="5f1d5a7e-0000-4000-8000-000000000001"))
    other_node = advisory_objects(StixNode("uk", "UK node", "GB", "https://uk"), document())
    for ours, theirs in [(first, other_advisory), (first, other_node)]:
        assert {o["id"] for o in ours}.isdisjoint(o["id"] for o in theirs)
    assert first[0]["id"] == NODE.subject_id(document()["id"])
    assert first[1]["id"] == NODE.report_id(document()["id"])


@pytest.mark.parametrize("level", ["clear", "green"])
def test_open_tlp_levels_are_the_oasis_tlp_2_markings(level: str) -> None:
    identity, report = advisory_objects(NODE, document(tlp=level))
    assert identity["object_marking_refs"] == report["object_marking_refs"] == [TLP_MARKINGS[level]]
    marking = tlp_marking(level)
    # The published object, as OASIS defines it (cti-stix-common-objects, tlp-2.0).
    assert marking == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.upper()}",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": level,
            }
        },
    }
    assert marking in fixed_objects(NODE)


def test_the_tlp_2_marking_ids_are_the_published_ones() -> None:
    assert TLP_2_EXTENSION == "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
    assert dict(TLP_MARKINGS) == {
        "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }


@pytest.mark.parametrize("level", ["amber", "amber+strict", "red"])
def test_amber_and_above_never_become_stix(level: str) -> None:
    with pytest.raises(ValueError, match="never served"):
        advisory_objects(NODE, document(tlp=level))


def test_drafts_never_become_stix() -> None:
    with pytest.raises(ValueError, match="never served"):
        advisory_objects(NODE, document(status="draft", published_at=None))


def test_only_the_withdrawn_report_is_revoked() -> None:
    identity, report = advisory_objects(NODE, document())
    assert "revoked" not in identity
    assert "revoked" not in report
    identity, report = advisory_objects(NODE, document(status="withdrawn", revision=2))
    # The organisation still exists; the assessment of it is what was withdrawn.
    assert "revoked" not in identity
    assert report["revoked"] is True


@pytest.mark.parametrize(
    ("kind", "sectors"),
    [("university", ["education"]), ("military_body", ["defense"]), ("company", None)],
)
def test_the_subject_is_an_organisation_with_a_sector_where_one_fits(
    kind: str, sectors: list[str] | None
) -> None:
    doc = document()
    doc["subject"] = {**doc["subject"], "kind": kind}
    identity, _ = advisory_objects(NODE, doc)
    assert identity["identity_class"] == "organization"
    assert identity.get("sectors") == sectors


def test_the_oasis_library_and_validator_accept_every_object() -> None:
    docs = [
        document(),
        document(tlp="clear", status="withdrawn", revision=3, withdrawal_reason="Merged."),
        document(confidence="low", updated_at="2026-05-05T05:05:05Z"),
    ]
    objects = [*fixed_objects(NODE)]
    for doc in docs:
        objects.extend(advisory_objects(NODE, doc))
    for obj in objects:
        parsed = stix2.parse(json.dumps(obj), allow_custom=False)
        assert parsed.id == obj["id"]
        errors, warnings = validation_problems(obj)
        assert errors == [], obj
        assert warnings <= ALLOWED_WARNINGS, (warnings, obj)
