"""Files jupyterhub-sessions ships inside the package, found from the package itself.

They are package data: a `pip install`ed wheel has them, so nothing resolves
through a source checkout (`jupyterhub-sessions local` works from any
directory, and the hub image needs only the wheel).

- `PACKAGE_PROFILES`: the example session types (one YAML file each), the
  default for both backends when `JUPYTERHUB_SESSIONS_PROFILES` is unset;
- `LOCAL_CONFIG`: the embedded platform's hub config (`jupyterhub-sessions local`;
  `load_subconfig(str(LOCAL_CONFIG))` from your own config to extend it).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIGS = PACKAGE_DIR / "configs"
PACKAGE_PROFILES = CONFIGS / "profiles"
LOCAL_CONFIG = CONFIGS / "local_config.py"
