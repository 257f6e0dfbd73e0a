import pytest
from django.test import override_settings

from odcm.crypto import CryptoError, Keyring, generate_key, parse_keys, rotate_all, seal, unseal
from spaces.models import Instance


def make_instance(name: str) -> Instance:
    return Instance.objects.create(name=name, slug=name, base_url=f"https://{name}.example.com")


def test_round_trip():
    ring = Keyring(parse_keys([generate_key()]))
    token = ring.encrypt("API-SECRET", context="a:1")
    assert "API-SECRET" not in token
    assert ring.decrypt(token, context="a:1") == "API-SECRET"


def test_same_plaintext_encrypts_differently_each_time():
    ring = Keyring(parse_keys([generate_key()]))
    assert ring.encrypt("x", context="c") != ring.encrypt("x", context="c")


@pytest.mark.django_db
def test_ciphertext_swapped_between_rows_is_rejected():
    one, two = make_instance("one"), make_instance("two")
    seal(one, "api_key", "API-ONE")
    seal(two, "api_key", "API-TWO")
    one.save()
    two.save()
    assert unseal(one, "api_key") == "API-ONE"
    two.api_key = one.api_key  # an attacker with database access copies a ciphertext
    with pytest.raises(CryptoError, match="integrity"):
        unseal(two, "api_key")


def test_tampered_or_foreign_tokens_are_rejected():
    ring = Keyring(parse_keys([generate_key()]))
    token = ring.encrypt("x", context="c")
    with pytest.raises(CryptoError):
        ring.decrypt(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], context="c")
    with pytest.raises(CryptoError, match="not in ODCM_ENCRYPTION_KEYS"):
        Keyring(parse_keys([generate_key()])).decrypt(token, context="c")
    with pytest.raises(CryptoError, match="format"):
        ring.decrypt("plaintext", context="c")


@pytest.mark.django_db
def test_rotation_reencrypts_with_the_newest_key_and_old_key_can_then_go():
    old, new = generate_key(), generate_key()
    with override_settings(ODCM_ENCRYPTION_KEYS=[old]):
        inst = make_instance("rot")
        seal(inst, "api_key", "API-ROTATE")
        inst.save()
    with override_settings(ODCM_ENCRYPTION_KEYS=[new, old]):
        assert unseal(inst, "api_key") == "API-ROTATE"  # decrypt with any key
        assert rotate_all()["spaces.Instance.api_key"] == 1
        assert rotate_all()["spaces.Instance.api_key"] == 0  # idempotent
    inst.refresh_from_db()
    with override_settings(ODCM_ENCRYPTION_KEYS=[new]):
        assert unseal(inst, "api_key") == "API-ROTATE"


def test_bad_keys_are_named_by_position():
    with pytest.raises(CryptoError, match="key 2 must be 32 bytes"):
        parse_keys([generate_key(), "c2hvcnQ="])
