# jupyterhub-sessions on Kubernetes (Zero to JupyterHub): the whole config is a function of the
# package, so this file is the same two lines the chart runs (values.yaml ships them as
# hub.extraFiles). It works in the chart's own loader (which runs it in its namespace, where
# `get_config` is z2jh's) and with `jupyterhub -f` alike; settings: jupyterhub_sessions/z2jh_config.py.
from jupyterhub_sessions.z2jh_config import configure_z2jh

configure_z2jh(c)  # noqa: F821 - `c` is the hub config in both loaders
