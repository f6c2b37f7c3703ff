"""Personal session types: users' own types within the admin's policy (`_policy.yaml` `user_types`).

- `model.py`: what a user may write (`UserTypeSpec`) and how it becomes a
  `profiles.SessionType` under the policy (`to_session_type`);
- `store.py`: where they are kept (`DirectoryStore`; `kube_store.ConfigMapStore`
  on Kubernetes) and `UserTypes`, the per-process view the spawner, the
  dashboard and the sessions service share.

The sessions service owns the REST API and the editor pages
(`service/usertypes_api.py`); the hub process only reads.
"""

from .model import UserTypeError, UserTypeRecord, UserTypeSpec, parse_spec, to_session_type
from .store import Conflict, DirectoryStore, Entry, StoreError, UserTypes, UserTypeStore, user_types_for

__all__ = [
    "Conflict",
    "DirectoryStore",
    "Entry",
    "StoreError",
    "UserTypeError",
    "UserTypeRecord",
    "UserTypeSpec",
    "UserTypeStore",
    "UserTypes",
    "parse_spec",
    "to_session_type",
    "user_types_for",
]
