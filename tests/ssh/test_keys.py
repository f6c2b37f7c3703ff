"""Which public keys users can register, and the fingerprints they see."""

import subprocess

import asyncssh
import pytest

from jupyterhub_sessions.ssh.keys import KeyValidationError, parse_public_key, validate_key_name


def keygen(tmp_path, kind, bits=None, comment="me@laptop"):
    path = tmp_path / f"id_{kind}_{bits or 0}"
    cmd = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        cmd += ["-b", str(bits)]
    subprocess.run(cmd, check=True)
    return path, path.parent / (path.name + ".pub")


def keygen_fingerprint(pub):
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True, text=True).stdout
    bits, fp, *_rest = out.split()
    kind = out.rsplit("(", 1)[1].rstrip(")\n")
    return int(bits), fp, kind


@pytest.mark.parametrize(
    "kind,bits", [("ed25519", None), ("rsa", 2048), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)]
)
def test_accepted_key_types_match_ssh_keygen(tmp_path, kind, bits):
    _, pub = keygen(tmp_path, kind, bits)
    key = parse_public_key(pub.read_text())
    want_bits, want_fp, want_type = keygen_fingerprint(pub)
    assert key.fingerprint == want_fp
    assert key.bits == want_bits
    assert key.key_type == want_type
    assert key.comment == "me@laptop"
    assert key.openssh == " ".join(pub.read_text().split()[:2])


def test_small_rsa_rejected(tmp_path):
    _, pub = keygen(tmp_path, "rsa", 1024)
    with pytest.raises(KeyValidationError, match="at least 2048 bits; this one has 1024"):
        parse_public_key(pub.read_text())


def test_dsa_rejected():
    key = asyncssh.generate_private_key("ssh-dss").export_public_key().decode()
    with pytest.raises(KeyValidationError, match="'ssh-dss' is not accepted"):
        parse_public_key(key)


def test_private_key_rejected_without_echoing_it(tmp_path):
    priv, _ = keygen(tmp_path, "ed25519")
    with pytest.raises(KeyValidationError, match="PRIVATE key") as e:
        parse_public_key(priv.read_text())
    assert "BEGIN" not in str(e.value)


@pytest.mark.parametrize(
    "text,why",
    [
        ("", "Paste a public key"),
        ("   ", "Paste a public key"),
        (None, "Paste a public key"),
        ("justoneword", "does not look like an OpenSSH public key"),
        ("hello world", "'hello' is not accepted"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBadData", "damaged"),
        ("ssh-ed25519 !!!notbase64", "does not look like"),
        ('command="rm -rf /" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI', "does not look like"),
        ("ssh-ed25519 " + "A" * 9000, "too long"),
    ],
)
def test_garbage_rejected(text, why):
    with pytest.raises(KeyValidationError, match=why):
        parse_public_key(text)


def test_type_mismatch_and_multiple_keys_rejected(tmp_path):
    _, ed = keygen(tmp_path, "ed25519")
    _, rsa = keygen(tmp_path, "rsa", 2048)
    data = ed.read_text().split()[1]
    with pytest.raises(KeyValidationError, match="damaged"):
        parse_public_key(f"ssh-rsa {data}")
    with pytest.raises(KeyValidationError, match="exactly one key"):
        parse_public_key(ed.read_text() + rsa.read_text())


def test_certificate_rejected(tmp_path):
    ca = asyncssh.generate_private_key("ssh-ed25519")
    user = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(user, "me", principals=["me"])
    with pytest.raises(KeyValidationError, match="Certificates are not accepted"):
        parse_public_key(cert.export_certificate().decode())


def test_key_names(tmp_path):
    _, pub = keygen(tmp_path, "ed25519", comment="alice@work-laptop")
    key = parse_public_key(pub.read_text())
    assert validate_key_name("  my laptop ", key) == "my laptop"
    assert validate_key_name("", key) == "alice@work-laptop"
    _, odd = keygen(tmp_path, "ecdsa", 256, "<b>")
    assert validate_key_name(None, parse_public_key(odd.read_text())) == "ecdsa-key"
    for bad in ["<script>", "x" * 65, "-leading", "new\nline", 42]:
        with pytest.raises(KeyValidationError, match="Invalid key name"):
            validate_key_name(bad, key)
