"""Key loading and checking, without an app."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from serving import auth
from serving.auth import KeyConfigError, KeyRing, check_key, load_keys


def test_keys_come_from_the_variable_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYS_UNDER_TEST", " first , ,second")
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# the CRM\nthird\n\n")

    ring = load_keys("KEYS_UNDER_TEST", key_file, "API")

    assert ring.keys == (b"first", b"second", b"third")


def test_no_key_at_all_refuses_naming_the_sources_not_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYS_UNDER_TEST", " , ")
    (tmp_path / "keys.txt").write_text("# only a comment\n")

    with pytest.raises(KeyConfigError, match="set environment variable KEYS_UNDER_TEST or file"):
        load_keys("KEYS_UNDER_TEST", tmp_path / "keys.txt", "API")
    with pytest.raises(KeyConfigError, match=r"missing\.txt: No such file"):
        load_keys("KEYS_UNDER_TEST", tmp_path / "missing.txt", "API")


def test_every_key_is_compared_in_constant_time_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[bytes] = []
    compare = hmac.compare_digest

    def spy(presented: bytes, key: bytes) -> bool:
        compared.append(key)
        return compare(presented, key)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    ring = KeyRing((b"alpha", b"beta", b"gamma"))

    assert ring.accepts("alpha")
    assert not ring.accepts("alphb")
    assert compared == [b"alpha", b"beta", b"gamma"] * 2


def test_missing_is_401_and_wrong_is_403() -> None:
    ring = KeyRing((b"alpha",))

    assert check_key(ring, None).status == 401  # type: ignore[union-attr]
    assert check_key(ring, "").status == 401  # type: ignore[union-attr]
    assert check_key(ring, "beta").status == 403  # type: ignore[union-attr]
    assert check_key(None, "alpha").status == 403  # type: ignore[union-attr]  # no admin key set
    assert check_key(ring, "alpha") is None


def test_a_sent_key_is_read_as_utf8_without_surrounding_whitespace() -> None:
    """Configured keys are UTF-8 text; a key sent as UTF-8 bytes must match (it was read as
    latin-1, so a non-ASCII key could never match), and bytes that are not UTF-8 match none."""
    from serving.guard import _key_text

    ring = KeyRing((b"cl\xc3\xa9",))  # "clé", as load_keys stores it

    assert check_key(ring, _key_text("clé \t".encode())) is None
    assert check_key(ring, _key_text(b"cl\xe9")).status == 403  # type: ignore[union-attr]
