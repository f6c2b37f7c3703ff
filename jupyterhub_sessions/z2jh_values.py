"""`jupyterhub-sessions z2jh-values`: the Zero to JupyterHub values the session types need.

Zero to JupyterHub pre-pulls images onto every user node (the hook and
continuous image pullers), but only the images it knows of: `singleuser.image`,
`singleuser.profileList` and `prePuller.extraImages`. Session types are not a
profileList, so their images are listed in `prePuller.extraImages`; without
that, the first session of a type on each node waits for a multi-gigabyte pull.
The pullers run on user nodes with the user pods' tolerations plus
`prePuller.extraTolerations`, so the session types' tolerations (e.g. for
tainted GPU nodes) are listed there, or GPU nodes never get their images.

Prints a YAML fragment to paste into (or diff against) the values file:

    jupyterhub-sessions z2jh-values [--profiles DIR]
"""

from __future__ import annotations

import argparse
import re
import sys

import yaml

from .profiles import ProfileError, SessionType, load_session_types

MAX_KEY = 50  # the puller's init container is named "image-pull-<key>" (at most 63 characters)


def split_image(image: str) -> tuple[str, str]:
    """(name, tag) as the chart joins them back ("{name}:{tag}"); a digest stays exact."""
    if "@" in image:
        name, digest = image.split("@", 1)
        algo, _, hexdigest = digest.partition(":")
        return f"{name}@{algo}", hexdigest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, "latest"


def image_key(name: str) -> str:
    """A DNS-label key from the image's repository name: 'registry/x/carta' -> 'carta'."""
    base = name.split("@", 1)[0].rsplit("/", 1)[-1].lower()
    key = re.sub(r"[^a-z0-9-]+", "-", base).strip("-")[:MAX_KEY].strip("-")
    return key or "image"


def session_images(types: dict[str, SessionType]) -> list[str]:
    seen: list[str] = []
    for st in types.values():
        for image in [st.image.default, *st.image.allowed]:
            if image not in seen:
                seen.append(image)
    return seen


def pre_puller(types: dict[str, SessionType]) -> dict:
    """The `prePuller` values: every session-type image, and the types' tolerations."""
    images: dict[str, dict] = {}
    for image in session_images(types):
        name, tag = split_image(image)
        key, n = image_key(name), 2
        while key in images:
            key = f"{image_key(name)[: MAX_KEY - 4]}-{n}"
            n += 1
        images[key] = {"name": name, "tag": tag}
    tolerations: list[dict] = []
    for st in types.values():
        for t in st.tolerations:
            if t not in tolerations:
                tolerations.append(dict(t))
    out: dict = {"extraImages": dict(sorted(images.items()))}
    if tolerations:
        out["extraTolerations"] = tolerations
    return {"prePuller": out}


def render(types: dict[str, SessionType], source: str) -> str:
    header = (
        f"# Zero to JupyterHub values for the session types in {source}\n"
        "# (printed by `jupyterhub-sessions z2jh-values`): the pre-puller pulls every\n"
        "# session-type image onto every user node, tolerating what the types tolerate.\n"
    )
    return header + yaml.safe_dump(pre_puller(types), sort_keys=False, default_flow_style=False)


def default_profiles_dir() -> str:
    """Where the hub would read session types from (same default as the spawners)."""
    from .spawner.mixin import SessionSpawnerMixin

    return SessionSpawnerMixin().session_types_dir


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "z2jh-values":
        args = args[1:]
    parser = argparse.ArgumentParser(
        prog="jupyterhub-sessions z2jh-values",
        description="Print the Zero to JupyterHub prePuller values for the session types.",
    )
    parser.add_argument("--profiles", help="session-type directory (default: the hub's)")
    opts = parser.parse_args(args)
    directory = opts.profiles or default_profiles_dir()
    try:
        types = load_session_types(directory)
    except ProfileError as e:
        print(f"jupyterhub-sessions z2jh-values: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(render(types, directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
