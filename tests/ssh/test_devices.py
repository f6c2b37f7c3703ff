"""Invite codes and signed challenges: single use, expiry and binding to the user (injected clock)."""

from __future__ import annotations

import subprocess

import pytest

from jupyterhub_sessions.ssh.devices import Challenges, InviteBook, UserIdentity, invite_code
from jupyterhub_sessions.ssh.keys import KeyValidationError, parse_public_key, verify_possession

ALICE = UserIdentity("alice", "2026-01-01T00:00:00Z")
ALICE_AGAIN = UserIdentity("alice", "2026-02-01T00:00:00Z")
BOB = UserIdentity("bob", "2026-01-01T00:00:00Z")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_an_invite_works_once_and_only_until_it_expires():
    clock = Clock()
    book = InviteBook(ttl=300, clock=clock)
    code, invite = book.create(ALICE, "laptop")
    assert invite_code("invite-" + code) == code and invite.user == ALICE
    assert book.peek(code) == invite and book.peek(code) == invite  # looking does not use it up
    assert book.take(code) == invite
    assert book.take(code) is None and book.peek(code) is None  # used up

    late, _ = book.create(ALICE)
    clock.now += 299
    assert book.peek(late) is not None
    clock.now += 1
    assert book.peek(late) is None and book.take(late) is None  # expired


def test_unknown_and_malformed_codes_are_nothing():
    book = InviteBook()
    code, _ = book.create(ALICE)
    assert book.take(code[:-1] + ("a" if code[-1] != "a" else "b")) is None
    assert invite_code("invite-short") == "" and book.take("") is None
    assert invite_code("alice") is None and invite_code("alice+invite-x") is None


def test_a_user_has_a_bounded_number_of_open_invites():
    clock = Clock()
    book = InviteBook(per_user=2, clock=clock)
    first, _ = book.create(ALICE)
    clock.now += 1
    book.create(ALICE)
    clock.now += 1
    book.create(ALICE)
    assert book.peek(first) is None  # the oldest lapsed
    other, _ = book.create(BOB)
    assert book.peek(other) is not None


def test_a_challenge_is_bound_to_the_user_identity_and_expires():
    clock = Clock()
    challenges = Challenges(b"secret", ttl=900, clock=clock)
    c = challenges.make(ALICE)
    assert challenges.check(ALICE, c) == c
    for who in (BOB, ALICE_AGAIN):
        with pytest.raises(KeyValidationError, match="not made for you"):
            challenges.check(who, c)
    with pytest.raises(KeyValidationError, match="not made for you"):
        Challenges(b"other secret", clock=clock).check(ALICE, c)
    for bad in (None, "", "x.y", "a.b.c"):
        with pytest.raises(KeyValidationError):
            challenges.check(ALICE, bad)
    clock.now += 901
    with pytest.raises(KeyValidationError, match="expired"):
        challenges.check(ALICE, c)


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_ssh_keygen_signatures_prove_possession(tmp_path, kind):
    key = tmp_path / f"id_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
    public = parse_public_key((tmp_path / f"id_{kind}.pub").read_text())

    def sign(text: bytes, namespace="jupyterhub-sessions-ssh", with_key=key) -> str:
        return subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(with_key)],
            input=text,
            capture_output=True,
            check=True,
        ).stdout.decode()

    verify_possession(public, sign(b"the-challenge"), "the-challenge")
    verify_possession(public, sign(b"the-challenge\n"), "the-challenge")  # echo instead of printf
    with pytest.raises(KeyValidationError, match="does not match"):
        verify_possession(public, sign(b"another-challenge"), "the-challenge")
    with pytest.raises(KeyValidationError, match="-n jupyterhub-sessions-ssh"):
        verify_possession(public, sign(b"the-challenge", namespace="git"), "the-challenge")
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(KeyValidationError, match="different key"):
        verify_possession(public, sign(b"the-challenge", with_key=other), "the-challenge")
    good = sign(b"the-challenge")
    damaged = good.replace(good.splitlines()[1], good.splitlines()[1][:-4] + "AAAA")
    with pytest.raises(KeyValidationError):
        verify_possession(public, damaged, "the-challenge")
