"""SSH public keys users register: what is accepted, and how it is shown.

Only plain one-line OpenSSH public keys of a strong type are accepted
(ed25519, RSA of at least 2048 bits, ECDSA on the NIST curves), so every
stored key is one a modern OpenSSH client can use and nothing else
(certificates, private keys, authorized_keys options) sneaks in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import asyncssh

MAX_KEY_TEXT = 8192
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:+()-]{0,63}$")
KEY_NAME_RULE = (
    "1-64 characters: letters, digits, spaces and . _ @ : + ( ) -, starting with a letter or digit"
)

# algorithm name -> (type shown to users, fixed bit size or None)
ALLOWED_ALGORITHMS = {
    "ssh-ed25519": ("ED25519", 256),
    "ssh-rsa": ("RSA", None),
    "ecdsa-sha2-nistp256": ("ECDSA", 256),
    "ecdsa-sha2-nistp384": ("ECDSA", 384),
    "ecdsa-sha2-nistp521": ("ECDSA", 521),
}
_LINE_RE = re.compile(r"^(?P<alg>[A-Za-z0-9@._-]{1,64}) (?P<data>[A-Za-z0-9+/]+={0,2})(?: (?P<comment>.*))?$")


class KeyValidationError(ValueError):
    """A submitted key or key name is not acceptable; the message says why (safe to show)."""


@dataclass(frozen=True)
class PublicKey:
    """A validated public key in canonical form."""

    algorithm: str  # e.g. ssh-ed25519
    key_type: str  # ED25519 / RSA / ECDSA, as `ssh-keygen -l` prints it
    bits: int
    fingerprint: str  # SHA256:... (as `ssh-keygen -lf` prints it)
    openssh: str  # "algorithm base64", no comment
    comment: str = ""


def _bits(key: asyncssh.SSHKey, fixed: int | None) -> int:
    if fixed is not None:
        return fixed
    return int(key.pyca_key.key_size)


def _key_line(text: object) -> re.Match:
    """The one public key line in `text`, split into algorithm, data and comment."""
    if not isinstance(text, str) or not text.strip():
        raise KeyValidationError(
            "Paste a public key (the contents of a .pub file, e.g. ~/.ssh/id_ed25519.pub)."
        )
    if len(text) > MAX_KEY_TEXT:
        raise KeyValidationError(f"That key is too long (more than {MAX_KEY_TEXT} characters).")
    if "PRIVATE KEY" in text:
        raise KeyValidationError(
            "That is a PRIVATE key. Never share it: paste the public key (the .pub file) instead."
        )
    line = text.strip()
    if "\n" in line or "\r" in line:
        raise KeyValidationError("Paste exactly one key, on one line (the contents of one .pub file).")
    line = re.sub(r"[ \t]+", " ", line)
    m = _LINE_RE.match(line)
    if not m:
        raise KeyValidationError(
            "That does not look like an OpenSSH public key: expected 'ssh-ed25519 AAAA... comment'."
        )
    return m


def _checked_bits(key: asyncssh.SSHKey, key_type: str, fixed_bits: int | None) -> int:
    bits = _bits(key, fixed_bits)
    if key_type == "RSA" and bits < MIN_RSA_BITS:
        raise KeyValidationError(f"RSA keys must have at least {MIN_RSA_BITS} bits; this one has {bits}.")
    if key_type == "RSA" and bits > MAX_RSA_BITS:
        raise KeyValidationError(f"RSA keys may have at most {MAX_RSA_BITS} bits.")
    return bits


def parse_public_key(text: object) -> PublicKey:
    """Validate `text` (one OpenSSH public key line); raise KeyValidationError if unusable."""
    m = _key_line(text)
    alg = m.group("alg")
    if "cert-v01" in alg:
        raise KeyValidationError("Certificates are not accepted: paste the plain public key.")
    if alg not in ALLOWED_ALGORITHMS:
        raise KeyValidationError(
            f"Key type {alg[:40]!r} is not accepted. Use ed25519 (recommended), RSA (at least "
            f"{MIN_RSA_BITS} bits) or ECDSA."
        )
    try:
        key = asyncssh.import_public_key(f"{alg} {m.group('data')}")
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise KeyValidationError("That key is damaged: its data could not be decoded.") from None
    real_alg = key.algorithm.decode("ascii", "replace")
    if real_alg != alg:
        raise KeyValidationError(f"The key data is a {real_alg} key but the line says {alg}.")
    key_type, fixed_bits = ALLOWED_ALGORITHMS[alg]
    bits = _checked_bits(key, key_type, fixed_bits)
    comment = (m.group("comment") or "").strip()
    return PublicKey(
        algorithm=alg,
        key_type=key_type,
        bits=bits,
        fingerprint=key.get_fingerprint("sha256"),
        openssh=key.export_public_key("openssh").decode("ascii").split()[0] + " " + m.group("data"),
        comment=comment if comment.isprintable() else "",
    )


def fingerprint_of(key: asyncssh.SSHKey) -> str:
    """SHA256 fingerprint of a key presented during authentication."""
    return key.get_fingerprint("sha256")


def validate_key_name(name: object, key: PublicKey | None = None) -> str:
    """A key's display name: the given name, else the key's comment, else its type."""
    if key is not None and (name is None or (isinstance(name, str) and not name.strip())):
        comment = key.comment.strip()
        name = comment if KEY_NAME_RE.match(comment) else f"{key.key_type.lower()}-key"
    if not isinstance(name, str):
        raise KeyValidationError(f"Invalid key name: {KEY_NAME_RULE}.")
    name = name.strip()
    if not KEY_NAME_RE.match(name):
        raise KeyValidationError(f"Invalid key name: {KEY_NAME_RULE}.")
    return name


# -- proof of possession ---------------------------------------------------------------
SIGNATURE_NAMESPACE = "jupyterhub-sessions-ssh"
_ARMOR = ("-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----")
MAX_SIGNATURE_TEXT = 16384


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return int.from_bytes(self.raw(4), "big")

    def string(self) -> bytes:
        return self.raw(self.uint32())


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def verify_possession(key: PublicKey, signature_text: object, message: str) -> None:
    """Check an `ssh-keygen -Y sign -n jupyterhub-sessions-ssh` signature of `message` by `key`.

    Proves that whoever registers a pasted public key holds its private key
    (the SSHSIG format of OpenSSH's PROTOCOL.sshsig). Raises KeyValidationError
    saying what is wrong; the message may have been signed with or without a
    trailing newline (`printf %s` or `echo`).
    """
    if not isinstance(signature_text, str) or not signature_text.strip():
        raise KeyValidationError("Paste the signature printed by the ssh-keygen -Y sign command shown.")
    text = signature_text.strip()
    if len(text) > MAX_SIGNATURE_TEXT or not (text.startswith(_ARMOR[0]) and text.endswith(_ARMOR[1])):
        raise KeyValidationError(
            "That is not an SSH signature: paste everything from -----BEGIN SSH SIGNATURE----- "
            "to -----END SSH SIGNATURE-----."
        )
    body = "".join(text[len(_ARMOR[0]) : -len(_ARMOR[1])].split())
    try:
        r = _Reader(base64.b64decode(body, validate=True))
        if r.raw(6) != b"SSHSIG" or r.uint32() != 1:
            raise ValueError("not SSHSIG version 1")
        signer, namespace, reserved, hash_name, signature = (r.string() for _ in range(5))
    except (ValueError, binascii.Error):
        raise KeyValidationError("That signature is damaged: it could not be decoded.") from None
    expected = asyncssh.import_public_key(key.openssh)
    if signer != expected.public_data:
        raise KeyValidationError("That signature was made with a different key than the one you pasted.")
    if namespace != SIGNATURE_NAMESPACE.encode():
        raise KeyValidationError(f"Sign with -n {SIGNATURE_NAMESPACE} (the signature names another purpose).")
    hashes = {b"sha256": hashlib.sha256, b"sha512": hashlib.sha512}
    if hash_name not in hashes:
        raise KeyValidationError("That signature uses an unknown hash.")
    for candidate in (message, message + "\n"):
        signed = b"SSHSIG" + b"".join(
            _ssh_string(part)
            for part in (namespace, reserved, hash_name, hashes[hash_name](candidate.encode()).digest())
        )
        if expected.verify(signed, signature):
            return
    raise KeyValidationError(
        "The signature does not match: sign exactly the text shown (it changes every few minutes)."
    )
