"""Advisories as STIX 2.1 objects: a subject ``identity`` and an assessment ``report``.

Each advisory revision maps to one version of two objects: the subject as an ``identity``
(``identity_class`` organization) and the assessment as a ``report`` whose ``object_refs`` name
that identity. Ids are UUIDv5 from the serving node and the advisory id, so every pull gives the
same ids and each revision is a new version of the same two objects (``modified`` is the
revision's time). A withdrawn advisory's report is ``revoked``.

TLP 2.0 is carried by the OASIS TLP 2.0 marking definitions (``TLP_MARKINGS``), referenced in
``object_marking_refs``. Whatever STIX has no property for (risk, tier, recommended action, the
subject's other names …) goes in one property extension of ours, defined by the node's
``extension-definition`` object (``extension_definition``) and the JSON Schema
``EXTENSION_SCHEMA``: no loose ``x_`` properties.

Only TLP:CLEAR and TLP:GREEN advisories are ever mapped (``SERVED_TLP``): TAXII consumers
re-share what they pull, and amber reads stay on the audited API.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pycountry

__all__ = [
    "EXTENSION_SCHEMA",
    "EXTENSION_SCHEMA_PATH",
    "EXTENSION_VERSION",
    "FIXED_OBJECTS_CREATED",
    "SERVED_TLP",
    "STIX_MEDIA_TYPE",
    "TLP_2_EXTENSION",
    "TLP_MARKINGS",
    "StixNode",
    "advisory_objects",
    "fixed_objects",
    "parse_timestamp",
    "stix_timestamp",
    "tlp_marking",
]

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
SERVED_TLP = ("clear", "green")
"""The TLP levels that may leave the node through STIX; amber and above never do."""

# The root of every id this module makes: fixed forever, so ids stay the same across releases.
_NAMESPACE = uuid.UUID("cdc982aa-0896-402a-b5f9-b9d6850ce484")

TLP_2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS extension that defines the TLP 2.0 marking definitions."""
# The OASIS TLP 2.0 marking definitions (cti-stix-common-objects, tlp-2.0): fixed ids.
TLP_MARKINGS: Mapping[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP_MARKINGS_CREATED = "2022-10-01T00:00:00.000Z"

FIXED_OBJECTS_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
"""``created`` of the node's own fixed objects (its identity, the extension definition)."""
EXTENSION_VERSION = "1.0.0"
EXTENSION_SCHEMA_PATH = "/taxii2/schemas/advisory-extension-1.json"
"""Where a node serves ``EXTENSION_SCHEMA`` (the extension definition's ``schema`` URL)."""

# STIX 2.1 industry-sector-ov terms for the subject kinds that have one; the others have none.
_SECTORS: Mapping[str, tuple[str, ...]] = {
    "university": ("education",),
    "state_body": ("government-national",),
    "military_body": ("defense",),
}
_KIND_LABELS: Mapping[str, str] = {
    "university": "University",
    "research_institute": "Research institute",
    "lab": "Laboratory",
    "company": "Company",
    "state_body": "State body",
    "military_body": "Military body",
    "other": "Organisation",
}
# The "High, Medium, Low" scale of STIX 2.1 (appendix A): the midpoints of its ranges.
_CONFIDENCE: Mapping[str, int] = {"high": 85, "moderate": 50, "low": 15}
_IDENTIFIER_URLS: Mapping[str, str] = {"wikidata": "https://www.wikidata.org/wiki/{}"}


def stix_timestamp(moment: datetime) -> str:
    """A STIX timestamp: UTC, ``Z``, microseconds always (at least the milliseconds STIX needs)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with ``Z`` or an offset; ``ValueError`` for anything else."""
    if "T" not in text.upper():
        raise ValueError("not an RFC 3339 timestamp")
    moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("has no time zone")
    return moment.astimezone(UTC)


def tlp_marking(level: str) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking definition for ``level`` (``clear`` … ``red``), as published."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[level],
        "created": _TLP_MARKINGS_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {
            TLP_2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level},
        },
    }


@dataclass(frozen=True)
class StixNode:
    """The node that serves the objects: it is their creator, and their ids are its own."""

    node_id: str
    name: str
    country: str
    public_url: str

    def _id(self, stix_type: str, name: str) -> str:
        return f"{stix_type}--{uuid.uuid5(_NAMESPACE, f'node:{self.node_id}/{name}')}"

    @property
    def identity_id(self) -> str:
        return self._id("identity", "identity")

    @property
    def extension_id(self) -> str:
        return self._id("extension-definition", "advisory-extension")

    def subject_id(self, advisory_id: str) -> str:
        """The id of an advisory's subject ``identity`` (the same for all its revisions)."""
        return self._id("identity", f"advisory/{advisory_id}/subject")

    def report_id(self, advisory_id: str) -> str:
        """The id of an advisory's ``report`` (the same for all its revisions)."""
        return self._id("report", f"advisory/{advisory_id}/report")

    @property
    def schema_url(self) -> str:
        return self.public_url + EXTENSION_SCHEMA_PATH


def _node_identity(node: StixNode) -> dict[str, Any]:
    stamp = stix_timestamp(FIXED_OBJECTS_CREATED)
    where = f" ({node.country})" if node.country else ""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": node.identity_id,
        "created": stamp,
        "modified": stamp,
        "name": node.name or f"trex node {node.node_id}",
        "description": (
            f"The trex (Trusted Research Exchange) node '{node.node_id}'{where} at "
            f"{node.public_url}: it serves these objects, rendered from partner-risk advisories."
        ),
        "identity_class": "system",
        "contact_information": node.public_url,
        "object_marking_refs": [TLP_MARKINGS["clear"]],
    }


def _extension_definition(node: StixNode) -> dict[str, Any]:
    stamp = stix_timestamp(FIXED_OBJECTS_CREATED)
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": node.extension_id,
        "created_by_ref": node.identity_id,
        "created": stamp,
        "modified": stamp,
        "name": "trex advisory",
        "description": (
            "The parts of a trex partner-risk advisory that STIX has no property for: risk, "
            "confidence, tier, categories, technologies, recommended action, validity, origin "
            "and revision, and the subject's other names, country, kind and identifiers."
        ),
        "schema": node.schema_url,
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
        "object_marking_refs": [TLP_MARKINGS["clear"]],
    }


def fixed_objects(node: StixNode) -> list[dict[str, Any]]:
    """The objects every collection starts with: what the advisory objects refer to."""
    return [
        _node_identity(node),
        _extension_definition(node),
        *(tlp_marking(level) for level in SERVED_TLP),
    ]


def _country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return str(country.name) if country is not None else code


def _subject_description(subject: Mapping[str, Any]) -> str:
    kind = _KIND_LABELS.get(subject["kind"], "Organisation")
    parts = [f"{kind} in {_country_name(subject['country'])} ({subject['country']})."]
    names = []
    for name in subject.get("names", []):
        qualifiers = ", ".join(q for q in (name.get("type"), name.get("lang")) if q)
        names.append(f"{name['value']} ({qualifiers})" if qualifiers else name["value"])
    if names:
        parts.append("Other names: " + "; ".join(names) + ".")
    if subject.get("parent"):
        parts.append(f"Parent organisation: {subject['parent']}.")
    return " ".join(parts)


def _identifier_reference(key: str, value: str) -> dict[str, str]:
    reference = {"source_name": key, "external_id": value}
    if value.startswith(("https://", "http://")):
        reference["url"] = value
    elif key in _IDENTIFIER_URLS:
        reference["url"] = _IDENTIFIER_URLS[key].format(value)
    return reference


def _listing_reference(listing: Mapping[str, Any]) -> dict[str, str]:
    parts = [listing.get("citation") or f"Listed on {listing['list']}"]
    if listing.get("listed_on"):
        parts.append(f"listed on {listing['listed_on']}")
    reference = {"source_name": listing["list"], "description": "; ".join(parts)}
    if listing.get("url"):
        reference["url"] = listing["url"]
    return reference


def _source_reference(source: Mapping[str, Any]) -> dict[str, str]:
    description = source["title"]
    if source.get("published"):
        description += f" (published {source['published']})"
    reference = {
        "source_name": source.get("publisher") or source["title"],
        "description": description,
    }
    if source.get("url"):
        reference["url"] = source["url"]
    return reference


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    # STIX has no nulls, and a list property is either absent or not empty.
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}


def _extension(document: Mapping[str, Any]) -> dict[str, Any]:
    subject = document["subject"]
    return _present(
        {
            "extension_type": "property-extension",
            "advisory_id": document["id"],
            "origin": document["origin"],
            "revision": document["revision"],
            "status": document["status"],
            "tier": document["tier"],
            "tlp": document["tlp"],
            "risk": document["risk"],
            "confidence": document["confidence"],
            "categories": list(document.get("categories", [])),
            "technologies": list(document.get("technologies", [])),
            "recommended_action": document["recommended_action"],
            "valid_from": document.get("valid_from"),
            "review_by": document.get("review_by"),
            "contributor_org": document.get("contributor_org"),
            "withdrawal_reason": document.get("withdrawal_reason"),
            "subject": _present(
                {
                    "name": subject["name"],
                    "names": [_present(dict(name)) for name in subject.get("names", [])],
                    "country": subject["country"],
                    "kind": subject["kind"],
                    "identifiers": dict(subject.get("identifiers", {})),
                    "parent": subject.get("parent"),
                }
            ),
        }
    )


def _versions(document: Mapping[str, Any]) -> tuple[str, str]:
    """(created, modified): when the advisory was first published, and this revision's time."""
    modified = parse_timestamp(document["updated_at"])
    # Drafts never reach STIX, so the object's first version is the first published revision;
    # every version keeps that ``created``, as STIX versioning requires.
    published = document.get("published_at")
    created = min(parse_timestamp(published), modified) if published else modified
    return stix_timestamp(created), stix_timestamp(modified)


def advisory_objects(
    node: StixNode, document: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The subject ``identity`` and the ``report`` for one advisory revision (a stored document).

    Raises ``ValueError`` for a revision that must not leave as STIX: a draft, or TLP amber and
    above. Callers filter those out first; this is the last guard.
    """
    if document["tlp"] not in SERVED_TLP:
        raise ValueError(f"TLP {document['tlp']} is never served as STIX")
    if document["status"] not in ("published", "withdrawn"):
        raise ValueError(f"a {document['status']} advisory is never served as STIX")
    subject = document["subject"]
    created, modified = _versions(document)
    markings = [TLP_MARKINGS[document["tlp"]]]
    subject_id = node.subject_id(document["id"])
    identity = _present(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": subject_id,
            "created_by_ref": node.identity_id,
            "created": created,
            "modified": modified,
            "name": subject["name"],
            "description": _subject_description(subject),
            "identity_class": "organization",
            "sectors": list(_SECTORS.get(subject["kind"], ())),
            "external_references": [
                _identifier_reference(key, value)
                for key, value in sorted(subject.get("identifiers", {}).items())
            ],
            "object_marking_refs": markings,
        }
    )
    risk = document["risk"].replace("_", " ")
    description = document["summary"]
    if document.get("detail"):
        description += "\n\n" + document["detail"]
    trex_reference = {
        "source_name": "trex",
        "external_id": document["id"],
        "url": f"{node.public_url}/v1/advisories/{document['id']}",
        "description": f"trex advisory, revision {document['revision']}",
    }
    report = _present(
        {
            "type": "report",
            "spec_version": "2.1",
            "id": node.report_id(document["id"]),
            "created_by_ref": node.identity_id,
            "created": created,
            "modified": modified,
            "name": f"{subject['name']}: {risk} risk",
            "description": description,
            "report_types": ["identity"],
            "published": created,
            "object_refs": [subject_id],
            "revoked": True if document["status"] == "withdrawn" else None,
            "labels": [
                f"risk:{document['risk']}",
                f"recommended-action:{document['recommended_action']}",
                *(f"category:{c}" for c in document.get("categories", [])),
                *(f"technology:{t}" for t in document.get("technologies", [])),
            ],
            "confidence": _CONFIDENCE[document["confidence"]],
            "external_references": [
                trex_reference,
                *(_listing_reference(listing) for listing in document.get("listings", [])),
                *(_source_reference(source) for source in document.get("sources", [])),
            ],
            "object_marking_refs": markings,
            "extensions": {node.extension_id: _extension(document)},
        }
    )
    return identity, report


_SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,63}$"}
_DATE = {"type": "string", "format": "date"}
EXTENSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "trex advisory: STIX 2.1 property extension",
    "description": (
        "The value of a report's extensions[<the node's trex advisory extension-definition "
        "id>]: the parts of a trex partner-risk advisory that STIX has no property for."
    ),
    "type": "object",
    "required": [
        "extension_type",
        "advisory_id",
        "origin",
        "revision",
        "status",
        "tier",
        "tlp",
        "risk",
        "confidence",
        "recommended_action",
        "subject",
    ],
    "additionalProperties": False,
    "properties": {
        "extension_type": {"const": "property-extension"},
        "advisory_id": {"type": "string", "description": "The advisory's id on every node."},
        "origin": {"type": "string", "description": "The node that owns and revises it."},
        "revision": {"type": "integer", "minimum": 1},
        "status": {"enum": ["published", "withdrawn"]},
        "tier": {"enum": ["academia", "government"]},
        "tlp": {"enum": list(SERVED_TLP)},
        "risk": {"enum": ["very_high", "high", "medium", "low"]},
        "confidence": {"enum": ["high", "moderate", "low"]},
        "categories": {"type": "array", "items": _SLUG, "minItems": 1},
        "technologies": {"type": "array", "items": _SLUG, "minItems": 1},
        "recommended_action": {
            "enum": [
                "awareness",
                "due_diligence",
                "enhanced_due_diligence",
                "avoid_in_sensitive_areas",
                "legally_restricted",
            ]
        },
        "valid_from": _DATE,
        "review_by": _DATE,
        "contributor_org": {"type": "string", "description": "The contributing organisation."},
        "withdrawal_reason": {"type": "string"},
        "subject": {
            "type": "object",
            "required": ["name", "country", "kind"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "names": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["value", "type"],
                        "additionalProperties": False,
                        "properties": {
                            "value": {"type": "string"},
                            "lang": {"type": "string"},
                            "type": {
                                "enum": ["official", "alias", "acronym", "former", "translation"]
                            },
                        },
                    },
                },
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "kind": {
                    "enum": [
                        "university",
                        "research_institute",
                        "lab",
                        "company",
                        "state_body",
                        "military_body",
                        "other",
                    ]
                },
                "identifiers": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "string"},
                },
                "parent": {"type": "string"},
            },
        },
    },
}
"""The JSON Schema of the extension (served at ``EXTENSION_SCHEMA_PATH``; docs/taxii.md)."""
