"""Registering a device proves that it holds the private key.

Two ways, both tied to the hub user's identity (name + `created`, see `store`):

- **invite**: the user asks for a single-use code valid for a few minutes and
  runs `ssh -p PORT invite-CODE@host` on the device. The gateway registers the
  key the client authenticates with: the SSH signature is the proof, and the
  private key never leaves the device. Expired, used and unknown codes are
  refused alike and register nothing.
- **pasted key + signature**: the page shows a challenge that names the user
  and expires; the user signs it with `ssh-keygen -Y sign` and pastes the
  public key and the signature (`keys.verify_possession`).

Both are pure bookkeeping with an injectable clock; the service process keeps
one of each in memory (a restart simply voids outstanding codes).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .keys import KeyValidationError

INVITE_PREFIX = "invite-"
CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud or retyped safely
CODE_LENGTH = 22  # about 110 bits
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


@dataclass(frozen=True)
class UserIdentity:
    """A hub user as it is now: a user deleted and re-created under the same name differs."""

    name: str
    created: str


@dataclass(frozen=True)
class Invite:
    user: UserIdentity
    key_name: str | None
    expires_at: float
    ssh_command: str = ""  # how to connect afterwards, shown to the device


def invite_code(login: str) -> str | None:
    """The code of an `invite-CODE` login name, or None if the name is not one."""
    if not login.startswith(INVITE_PREFIX):
        return None
    code = login[len(INVITE_PREFIX) :]
    return code if _CODE_RE.match(code) else ""


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class InviteBook:
    """Outstanding invite codes (only their hashes are kept)."""

    def __init__(self, ttl: float = 300, per_user: int = 5, clock: Callable[[], float] = time.time):
        self.ttl = ttl
        self.per_user = per_user
        self.clock = clock
        self._invites: dict[str, Invite] = {}

    def _expire(self) -> None:
        now = self.clock()
        for digest in [d for d, inv in self._invites.items() if inv.expires_at <= now]:
            del self._invites[digest]

    def create(
        self, user: UserIdentity, key_name: str | None = None, ssh_command: str = ""
    ) -> tuple[str, Invite]:
        """A new code for `user`; a user's oldest codes lapse beyond `per_user`."""
        self._expire()
        mine = sorted((inv.expires_at, d) for d, inv in self._invites.items() if inv.user.name == user.name)
        for _, digest in mine[: max(0, len(mine) - self.per_user + 1)]:
            del self._invites[digest]
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        invite = Invite(user, key_name, self.clock() + self.ttl, ssh_command)
        self._invites[_digest(code)] = invite
        return code, invite

    def peek(self, code: str) -> Invite | None:
        """The invite if the code is valid now (not used up)."""
        self._expire()
        return self._invites.get(_digest(code)) if code else None

    def take(self, code: str) -> Invite | None:
        """Use the code up; None if it is unknown, expired or already used."""
        self._expire()
        return self._invites.pop(_digest(code), None) if code else None


class Challenges:
    """Stateless challenges for pasted keys: `<expiry>.<nonce>.<mac>` bound to the user's identity."""

    def __init__(self, secret: bytes, ttl: float = 900, clock: Callable[[], float] = time.time):
        self._secret = secret
        self.ttl = ttl
        self.clock = clock

    def _mac(self, user: UserIdentity, expires: int, nonce: str) -> str:
        msg = f"{user.name}\0{user.created}\0{expires}\0{nonce}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:32]

    def make(self, user: UserIdentity) -> str:
        expires = int(self.clock() + self.ttl)
        nonce = secrets.token_hex(8)
        return f"{expires}.{nonce}.{self._mac(user, expires, nonce)}"

    def check(self, user: UserIdentity, challenge: object) -> str:
        """The challenge if it was made for `user` and has not expired; else KeyValidationError."""
        parts = challenge.split(".") if isinstance(challenge, str) else []
        if len(parts) != 3 or not parts[0].isdigit():
            raise KeyValidationError("The challenge is missing or damaged; reload the page for a new one.")
        expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(user, expires, nonce)):
            raise KeyValidationError("That challenge was not made for you; reload the page for a new one.")
        if expires < self.clock():
            raise KeyValidationError("The challenge has expired; reload the page and sign the new one.")
        return challenge
