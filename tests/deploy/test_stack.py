import re
from pathlib import Path

import pytest

from deploy.stack import KafkaService, StackSettings
from deploy.stack.kafka import _cluster_id
from deploy.stack.kafka_secure import SecureKafka
from eventbus.config import KafkaSecurity, admin_config, consumer_config, producer_config
from eventbus.identities import IDENTITIES, identity


def test_cluster_ids_are_kafka_uuids_the_storage_tool_accepts() -> None:
    ids = {_cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    for cid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid)
        assert not cid.startswith("-")  # argparse would read it as an option


def test_plain_stack_properties_keep_the_open_plaintext_listener(tmp_path: Path) -> None:
    props = KafkaService(
        StackSettings(home=tmp_path, kafka_port=19092, kafka_controller_port=19093, kafka_secure=False)
    ).properties()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in props
    assert "authorizer" not in props and "sasl" not in props
    assert not (tmp_path / "secrets").exists()


def test_secure_properties_have_no_anonymous_listener(tmp_path: Path) -> None:
    s = StackSettings(home=tmp_path, kafka_port=19192, kafka_controller_port=19193, kafka_secure=True)
    props = KafkaService(s).properties()
    lines = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
    assert "PLAINTEXT://" not in lines["listeners"]
    assert lines["listener.security.protocol.map"] == "CONTROLLER:SASL_SSL,CLIENT:SASL_SSL"
    assert lines["ssl.keystore.type"] == "PEM" and Path(lines["ssl.keystore.location"]).exists()
    assert lines["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert lines["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert lines["authorizer.class.name"].endswith("StandardAuthorizer")
    assert lines["allow.everyone.if.no.acl.found"] == "false"
    assert lines["super.users"] == "User:its-broker;User:controller;User:its-admin"
    # random passwords, kept private under the stack home, the same on the next render
    sec = SecureKafka(s)
    assert sec.password("its-broker") in props and sec.password("controller") in props
    assert KafkaService(s).properties() == props
    assert (tmp_path / "secrets" / "kafka").stat().st_mode & 0o077 == 0
    args = sec.format_args()
    assert args[0] == "--add-scram" and args[1].startswith("SCRAM-SHA-512=[name=its-broker,password=")
    assert any("name=its-admin" in a for a in args)
    for path in sec.write_env_files():
        assert path.stat().st_mode & 0o077 == 0
        assert "ITS_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in path.read_text()
        assert f"ITS_KAFKA_SSL_CA_LOCATION={sec.ca_file}" in path.read_text()
    # the broker's certificate is for 127.0.0.1, signed by the CA the clients trust
    from cryptography import x509

    chain = x509.load_pem_x509_certificates(sec.keystore_file.read_bytes())
    ca = x509.load_pem_x509_certificate(sec.ca_file.read_bytes())
    chain[0].verify_directly_issued_by(ca)
    sans = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    # without TLS: SASL_PLAINTEXT on loopback, still no anonymous listener
    plain = StackSettings(home=tmp_path / "p", kafka_port=19192, kafka_controller_port=19193, kafka_secure=True)
    plain = plain.model_copy(update={"kafka_tls": False})
    props = KafkaService(plain).properties()
    assert "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT" in props
    assert "ssl." not in props and "PLAINTEXT://" not in props


def test_identities_name_each_deployable_once_and_no_one_but_admin_holds_wildcards() -> None:
    names = [i.name for i in IDENTITIES]
    assert sorted(names) == ["admin", "analytics", "api", "inference", "ingest", "projector"]
    for i in IDENTITIES:
        if i.name != "admin":
            assert not i.superuser
            assert all(a.name not in ("*", "") and "ALL" not in a.operations for a in i.acls), i.name
    assert identity("ingest").topics("WRITE") == {
        "its.frames.v1",
        "its.snapshots.v1",
        "its.camera-status.v1",
        "its.dlq.v1",
    }
    assert identity("inference").topics("WRITE") == {"its.detections.v1", "its.dlq.v1"}
    assert identity("api").topics("READ") == set()
    acl = identity("inference").acls[-2].strimzi()
    assert acl == {
        "resource": {"type": "transactionalId", "name": "its-inference-", "patternType": "prefix"},
        "operations": ["Write", "Describe"],
        "host": "*",
    }


def test_client_settings_carry_the_identity_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "security.protocol" not in producer_config("b:1")  # PLAINTEXT: librdkafka's default, as before
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    for k, v in {
        "ITS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ITS_KAFKA_SASL_USERNAME": "its-ingest",
        "ITS_KAFKA_SASL_PASSWORD": "ignored: the file wins",
        "ITS_KAFKA_SASL_PASSWORD_FILE": str(pw),
        "ITS_KAFKA_SSL_CA_LOCATION": "/ca.pem",
    }.items():
        monkeypatch.setenv(k, v)
    for cfg in (producer_config("b:1"), consumer_config("b:1", "g"), admin_config("b:1")):
        assert cfg["security.protocol"] == "sasl_ssl"
        assert cfg["sasl.mechanism"] == "SCRAM-SHA-512"
        assert (cfg["sasl.username"], cfg["sasl.password"]) == ("its-ingest", "s3cret")
        assert cfg["ssl.ca.location"] == "/ca.pem"
    with pytest.raises(ValueError, match="ITS_KAFKA_SASL_USERNAME"):
        KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_username="")
    creds = KafkaSecurity(
        security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p", sasl_password_file=None
    ).faust_credentials()
    assert (creds.username, creds.password, creds.mechanism.value) == ("u", "p", "SCRAM-SHA-512")


def test_the_seal_key_pair_is_made_once_private_and_kept(tmp_path: Path) -> None:
    """`itscam stack up` makes the camera-credential key pair once (0600, folder 0700) and never replaces it: the
    compacted camera topic keeps records sealed for it."""
    from deploy.stack.seal import ensure_seal_keys
    from schemas.credentials import load_private_key, load_public_key, seal, unseal

    s = StackSettings(home=tmp_path / "stack")
    private, public = ensure_seal_keys(s)
    assert (private.stat().st_mode & 0o777, public.stat().st_mode & 0o777) == (0o600, 0o600)
    assert private.parent.stat().st_mode & 0o777 == 0o700
    first = (private.read_text(), public.read_text())
    assert ensure_seal_keys(s) == (private, public)
    assert (private.read_text(), public.read_text()) == first
    sealed = seal("rtsp://u:p@cam/x", load_public_key(str(public)), "cam-1")
    assert unseal(sealed, load_private_key(str(private)), "cam-1") == "rtsp://u:p@cam/x"
