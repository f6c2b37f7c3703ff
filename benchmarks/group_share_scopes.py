"""Cost of counting group shares in token scopes (hub_fixes), per hub request.

    .venv/bin/python benchmarks/group_share_scopes.py [--calls 2000] [--groups 5]

JupyterHub resolves a token's scopes (`scopes.get_scopes_for`) on every
authenticated request. This times that call on JupyterHub's real ORM (sqlite
in memory) side by side: stock JupyterHub vs with the hub_fixes wrapper, for
a token of a user in no group, and of a user in `--groups` groups that each
have a server shared with them. Printed: microseconds per call (median of 5
runs) and the ratio wrapped/stock.

A run on the 2-core dev machine (2026-11-26, load about 2.5, a test suite running):

    get_scopes_for(token), 2000 calls x 5 runs, 5 shared groups for 'member'
    token of                          stock (us)  wrapped (us)   ratio  group-share scopes added
    member                                  13.6          48.5    3.55  5
    member (narrow token)                   14.8          39.0    2.63  0
    loner                                    5.6           7.9    1.40  0
    loner (narrow token)                    14.2          28.8    2.03  0

The wrapper adds 2-35 us per authenticated request (a user's groups and their
shares are read at each call, as the hub does for a user's own shares); a
request through the hub costs milliseconds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time


def build(groups: int):
    from jupyterhub import orm, roles

    db = orm.new_session_factory("sqlite://")()
    for role in roles.get_default_roles():
        roles.create_role(db, role)
    db.add(orm.OAuthClient(identifier="jupyterhub"))
    owner, member, loner = orm.User(name="owner"), orm.User(name="member"), orm.User(name="loner")
    db.add_all([owner, member, loner])
    db.commit()
    for u in (owner, member, loner):
        roles.assign_default_roles(db, u)
    for i in range(groups):
        spawner = orm.Spawner(user=owner, name=f"s{i}")
        group = orm.Group(name=f"g{i}")
        group.users.append(member)
        db.add_all([spawner, group])
        db.commit()
        orm.Share.grant(db, spawner, group)
    db.commit()
    tokens = {}
    for u in (member, loner):
        tokens[u.name] = orm.APIToken.find(db, u.new_api_token(scopes=["inherit"]))
        tokens[u.name + " (narrow token)"] = orm.APIToken.find(
            db, u.new_api_token(scopes=[f"read:users:name!user={u.name}"])
        )
    return db, tokens


def per_call_us(fn, token, calls: int) -> float:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(token)
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--groups", type=int, default=5)
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    from jupyterhub import scopes

    from jupyterhub_sessions.hub.fixes import include_group_shares_in_token_scopes

    db, tokens = build(args.groups)
    stock = scopes.get_scopes_for
    include_group_shares_in_token_scopes()
    wrapped = scopes.get_scopes_for
    print(f"get_scopes_for(token), {args.calls} calls x 5 runs, {args.groups} shared groups for 'member'")
    print(f"{'token of':32} {'stock (us)':>11} {'wrapped (us)':>13} {'ratio':>7}  group-share scopes added")
    for name, token in tokens.items():
        a = per_call_us(stock, token, args.calls)
        b = per_call_us(wrapped, token, args.calls)
        added = len(set(wrapped(token)) - set(stock(token)))
        print(f"{name:32} {a:11.1f} {b:13.1f} {b / a:7.2f}  {added}")
    db.close()


if __name__ == "__main__":
    main()
