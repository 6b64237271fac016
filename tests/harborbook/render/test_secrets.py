"""Generated secrets: shapes, the round trip through the stored Secret, completion, masking."""

from __future__ import annotations

import base64
import string

import pytest

from harborbook import secrets as secret_refs
from harborbook import tokenkeys
from harborbook.render import secrets as gen

from .conftest import NOW


def test_shapes(generated):
    alnum = set(string.ascii_letters + string.digits)
    for value, length in ((generated.ui_secret, 16), (generated.jobservice_secret, 16),
                          (generated.secret_key, 16), (generated.registry_http_secret, 32)):
        assert len(value) == length and set(value) <= alnum
    key = tokenkeys.key_from_pem(generated.token_key_pem.encode())
    cert = tokenkeys.cert_from_pem(generated.token_cert_pem.encode())
    assert key.key_size == 4096
    assert tokenkeys.cert_matches_key(cert, key)
    lifetime = cert.not_valid_after_utc - NOW
    assert 3649 <= lifetime.days <= 3650
    generated.check()  # passes on what generate() made


def test_two_generations_differ():
    a, b = gen.generate(NOW, key_bits=1024), gen.generate(NOW, key_bits=1024)
    assert a.ui_secret != b.ui_secret and a.token_key_pem != b.token_key_pem


def test_secret_data_round_trip(generated):
    data = generated.to_secret_data()
    assert set(data) == set(gen.to_keys())
    assert base64.b64decode(data["ui_secret"]).decode() == generated.ui_secret
    assert gen.GeneratedSecrets.from_secret_data(data) == generated


def test_stored_secret_manifest(generated):
    manifest = gen.stored_secret_manifest(generated, "harbor")
    assert manifest["metadata"] == {"name": "harbor-generated-secrets", "namespace": "harbor",
                                    "labels": {"app": "harbor"}}
    assert gen.GeneratedSecrets.from_secret_data(manifest["data"]) == generated


def test_from_secret_data_names_missing_key(generated):
    data = generated.to_secret_data()
    del data["secret_key"]
    with pytest.raises(gen.GeneratedSecretsError, match="lacks secret_key"):
        gen.GeneratedSecrets.from_secret_data(data)


def test_from_secret_data_refuses_garbage_without_echo(generated):
    data = dict(generated.to_secret_data(), ui_secret="not base64 !!")
    with pytest.raises(gen.GeneratedSecretsError) as info:
        gen.GeneratedSecrets.from_secret_data(data)
    assert "ui_secret" in info.value.message and "not base64 !!" not in info.value.message


def test_ensure_keeps_stored_values(generated):
    kept, drawn = gen.ensure_generated(generated.to_secret_data(), NOW)
    assert kept == generated and drawn == []


def test_ensure_generates_everything_when_absent():
    made, drawn = gen.ensure_generated(None, NOW, key_bits=1024)
    assert sorted(drawn) == sorted(gen.to_keys())
    made.check()


def test_ensure_completes_only_missing(generated):
    data = generated.to_secret_data()
    del data["registry_http_secret"]
    made, drawn = gen.ensure_generated(data, NOW, key_bits=1024)
    assert drawn == ["registry_http_secret"]
    assert made.ui_secret == generated.ui_secret and made.token_key_pem == generated.token_key_pem
    assert len(made.registry_http_secret) == 32


def test_ensure_redraws_key_pair_together(generated):
    data = generated.to_secret_data()
    del data["root.crt"]
    made, drawn = gen.ensure_generated(data, NOW, key_bits=1024)
    assert drawn == ["private_key.pem", "root.crt"]
    assert made.token_key_pem != generated.token_key_pem
    made.check()


@pytest.mark.parametrize("change, message", [
    ({"secret_key": "short"}, "secret_key must be 16"),
    ({"ui_secret": "x" * 17}, "ui_secret must be 16"),
], ids=["short-secret-key", "long-ui-secret"])
def test_check_refuses_wrong_lengths(generated, change, message):
    with pytest.raises(gen.GeneratedSecretsError, match=message):
        gen.with_values(generated, **change).check()


def test_check_refuses_certificate_of_another_key(generated):
    other = gen.generate(NOW, key_bits=1024)
    with pytest.raises(gen.GeneratedSecretsError, match="not the certificate of private_key.pem"):
        gen.with_values(generated, token_cert_pem=other.token_cert_pem).check()


def test_values_are_masked_everywhere(generated):
    assert generated.ui_secret not in repr(generated) and generated.ui_secret not in str(generated)
    text = f"ui={generated.ui_secret} b64={generated.to_secret_data()['jobservice_secret']}"
    masked = secret_refs.mask(text)
    assert generated.ui_secret not in masked
    assert generated.to_secret_data()["jobservice_secret"] not in masked
