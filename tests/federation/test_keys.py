"""Node keys: the encodings peers exchange, the key ring file, and that private keys stay private.

Two nodes only interoperate when they encode keys the same way (SPEC section 7, encodings), and
a node's private key must never end up in a repr, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import stat
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from federation.keys import (
    KeyError_,
    KeyRing,
    NodeKey,
    PinnedKeys,
    PublicNodeKey,
    b64url_decode,
    b64url_encode,
    fingerprint,
)
from federation.rotation import rotate

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

# RFC 8032 section 7.1, test 1: seed, public key and the signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _seeds(ring: KeyRing) -> list[str]:
    """The private seeds as they appear in the key ring file (what must never leak)."""
    return [b64url_encode(key.private_key.private_bytes_raw()) for key in ring.keys]


def _secret_forms(ring: KeyRing) -> list[str]:
    raw = [key.private_key.private_bytes_raw() for key in ring.keys]
    return [*_seeds(ring), *(r.hex() for r in raw), *(repr(r) for r in raw)]


# --- base64url --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 31, 32, 33, 64, 65])
def test_b64url_round_trips_without_padding(length: int) -> None:
    raw = os.urandom(length)

    text = b64url_encode(raw)

    assert "=" not in text
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text)
    assert b64url_decode(text) == raw
    assert b64url_decode(text, length=length) == raw


def test_b64url_uses_the_url_safe_alphabet() -> None:
    assert b64url_encode(b"\xfb\xff\xbf") == "-_-_"
    assert b64url_decode("-_-_") == b"\xfb\xff\xbf"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("AAAAAA==", "padding"),
        ("AA=", "padding"),
        ("+/+/", "the standard alphabet"),
        ("AB", "trailing bits set: a second text for the byte 0x00"),
        ("AAB", "trailing bits set"),
        ("A", "a length no byte string has"),
        ("AA AA", "whitespace"),
        ("AAé", "non-ASCII"),
        ("AA\n", "a newline"),
    ],
)
def test_b64url_decode_refuses_anything_but_the_one_canonical_text(text: str, why: str) -> None:
    with pytest.raises(KeyError_):
        b64url_decode(text)


def test_b64url_decode_refuses_bytes() -> None:
    with pytest.raises(KeyError_):
        b64url_decode(b"AAAA")  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_b64url_decode_refuses_the_wrong_length(length: int) -> None:
    with pytest.raises(KeyError_, match="expected 32 bytes"):
        b64url_decode(b64url_encode(os.urandom(length)), length=32)


# --- fingerprints and public keys -------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_raw_key_in_lowercase_hex() -> None:
    value = fingerprint(RFC8032_PUBLIC)

    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", value)
    assert value == "SHA256:" + hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    assert fingerprint(bytes(32)) == (
        "SHA256:66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    )


def test_a_key_from_the_rfc8032_seed_has_the_rfc_public_key_and_signature() -> None:
    key = NodeKey.from_seed("ca", "ca-2026-01", RFC8032_SEED)

    assert key.public.public_key == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE
    assert key.public.fingerprint == fingerprint(RFC8032_PUBLIC)


def test_descriptor_entry_round_trips() -> None:
    key = PublicNodeKey(
        "ca", "ca-2026-01", RFC8032_PUBLIC, not_before=NOW, not_after=NOW + timedelta(days=1)
    )

    entry = key.to_descriptor()

    assert entry == {
        "kid": "ca-2026-01",
        "alg": "Ed25519",
        "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "not_before": "2026-03-01T12:00:00Z",
        "not_after": "2026-03-02T12:00:00Z",
    }
    assert PublicNodeKey.from_descriptor("ca", entry) == key


@pytest.mark.parametrize(
    "change",
    [
        {"alg": "RS256"},
        {"alg": None},
        {"kid": ""},
        {"kid": 7},
        {"public_key": b64url_encode(bytes(31))},
        {"public_key": b64url_encode(RFC8032_PUBLIC) + "="},
        {"not_before": "yesterday"},
        {"not_after": "2026-03-01T12:00:00"},  # no time zone
    ],
)
def test_descriptor_entries_that_are_malformed_are_refused(change: dict[str, object]) -> None:
    entry = {**PublicNodeKey("ca", "ca-2026-01", RFC8032_PUBLIC).to_descriptor(), **change}

    with pytest.raises(KeyError_):
        PublicNodeKey.from_descriptor("ca", entry)


def test_a_public_key_is_32_bytes() -> None:
    with pytest.raises(KeyError_):
        PublicNodeKey("ca", "ca-2026-01", bytes(33))


def test_a_pinned_kid_cannot_be_given_to_another_key() -> None:
    pinned = PinnedKeys([PublicNodeKey("ca", "ca-2026-01", RFC8032_PUBLIC)])
    pinned.add(PublicNodeKey("ca", "ca-2026-01", RFC8032_PUBLIC))  # the same key again is fine

    other = NodeKey.generate("ca", "x", not_before=NOW).public.public_key
    with pytest.raises(KeyError_):
        pinned.add(PublicNodeKey("ca", "ca-2026-01", other))
    with pytest.raises(KeyError_):
        pinned.add(PublicNodeKey("uk", "ca-2026-01", RFC8032_PUBLIC))
    assert pinned.public_key("ca-2026-01") == PublicNodeKey("ca", "ca-2026-01", RFC8032_PUBLIC)


# --- the key ring file ------------------------------------------------------------------------


def test_key_ring_round_trips_through_its_file(tmp_path: Path) -> None:
    ring = rotate(KeyRing.create("ca", now=NOW), now=NOW + timedelta(days=30))

    ring.save(tmp_path)
    loaded = KeyRing.load(tmp_path)

    assert loaded.node_id == "ca"
    assert [k.kid for k in loaded.keys] == ["ca-2026-01", "ca-2026-02"]
    assert loaded.public_keys() == ring.public_keys()
    assert loaded.statements == ring.statements
    # Ed25519 signatures are deterministic: the same signature proves the same private key.
    for mine, theirs in zip(ring.keys, loaded.keys, strict=True):
        assert theirs.sign(b"proof") == mine.sign(b"proof")
    assert loaded.keys[0].public.not_after == NOW + timedelta(days=30)
    assert loaded.current.public.not_after is None


def test_key_ring_file_is_private_to_the_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"

    KeyRing.create("ca", now=NOW).save(data_dir)

    assert stat.S_IMODE(KeyRing.path(data_dir).stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0
    # Nothing half-written is left behind next to it.
    assert [p.name for p in data_dir.iterdir()] == ["node-keys.json"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o700, 0o610])
def test_key_ring_that_others_can_reach_is_refused(tmp_path: Path, mode: int) -> None:
    KeyRing.create("ca", now=NOW).save(tmp_path)
    path = KeyRing.path(tmp_path)
    os.chmod(path, mode)
    if mode & 0o077 == 0:
        assert KeyRing.load(tmp_path).node_id == "ca"  # owner-only modes are fine
        return

    with pytest.raises(KeyError_, match="chmod 600"):
        KeyRing.load(tmp_path)


def test_missing_key_ring_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="trex-node init"):
        KeyRing.load(tmp_path)


def test_repr_never_shows_a_private_key(tmp_path: Path) -> None:
    ring = rotate(KeyRing.create("ca", now=NOW), now=NOW)
    shown = " ".join(
        [repr(ring), str(ring), repr(ring.keys), str(ring.keys), repr(ring.current)]
        + [f"{key}" for key in ring.keys]
    )

    assert "ca-2026-01" in shown  # the kids are there, so the reprs say something
    for secret in _secret_forms(ring):
        assert secret not in shown


def _corruptions(text: str, seed: str) -> list[str]:
    return [
        text[: text.index(seed) + len(seed)],  # cut off right after the seed
        text.replace('"node_id"', '"node"'),
        text.replace(seed, seed[:-2]),  # a seed of the wrong length
        text.replace(seed, seed + "="),
        text.replace('"not_before": "2026-03-01T12:00:00Z"', f'"not_before": "{seed}"'),
        text.replace(f'"private_seed": "{seed}"', f'"private_seed": ["{seed}"]'),
        text.replace('"keys": [', '"keys": [1, '),
        "[" + text + "]",
    ]


def test_a_corrupted_key_ring_is_refused_without_quoting_it(tmp_path: Path) -> None:
    ring = KeyRing.create("ca", now=NOW)
    ring.save(tmp_path)
    path = KeyRing.path(tmp_path)
    original = path.read_text(encoding="utf-8")
    (seed,) = _seeds(ring)
    assert seed in original

    for corrupted in _corruptions(original, seed):
        path.write_text(corrupted, encoding="utf-8")
        with pytest.raises(KeyError_) as caught:
            KeyRing.load(tmp_path)
        # What an operator (or a log) would see: the message and the printed traceback.
        shown = str(caught.value) + repr(caught.value)
        shown += "".join(traceback.format_exception(caught.value))
        for secret in _secret_forms(ring):
            assert secret not in shown, corrupted


def test_load_or_create_creates_once_then_loads(tmp_path: Path) -> None:
    first = KeyRing.load_or_create(tmp_path, "ca", now=NOW)
    written = KeyRing.path(tmp_path).read_bytes()

    again = KeyRing.load_or_create(tmp_path, "ca", now=NOW + timedelta(days=400))

    assert again.public_keys() == first.public_keys()
    assert again.current.sign(b"x") == first.current.sign(b"x")
    assert KeyRing.path(tmp_path).read_bytes() == written
    assert stat.S_IMODE(KeyRing.path(tmp_path).stat().st_mode) == 0o600


def test_load_or_create_refuses_another_nodes_ring(tmp_path: Path) -> None:
    KeyRing.load_or_create(tmp_path, "ca", now=NOW)

    with pytest.raises(KeyError_, match="belongs to node 'ca'"):
        KeyRing.load_or_create(tmp_path, "uk", now=NOW)


def test_concurrent_load_or_create_in_threads_agree_on_one_key(tmp_path: Path) -> None:
    workers = 16
    start = threading.Barrier(workers)

    def create() -> bytes:
        start.wait()
        return KeyRing.load_or_create(tmp_path, "ca", now=NOW).current.public.public_key

    with ThreadPoolExecutor(workers) as pool:
        keys = list(pool.map(lambda _: create(), range(workers)))

    assert len(set(keys)) == 1
    assert KeyRing.load(tmp_path).current.public.public_key == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["node-keys.json"]


def _create_in_process(data_dir: Path, start: Barrier, results: Queue[str]) -> None:
    start.wait()
    ring = KeyRing.load_or_create(data_dir, "ca", now=NOW)
    results.put(b64url_encode(ring.current.public.public_key))


def test_concurrent_load_or_create_in_processes_agree_on_one_key(tmp_path: Path) -> None:
    # Server workers start at once, each in its own process: they must all sign with one key.
    context = multiprocessing.get_context("fork")
    workers = 8
    start = context.Barrier(workers)
    results: Queue[str] = context.Queue()
    processes = [
        context.Process(target=_create_in_process, args=(tmp_path, start, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    keys = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert len(set(keys)) == 1
    assert b64url_encode(KeyRing.load(tmp_path).current.public.public_key) == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["node-keys.json"]
