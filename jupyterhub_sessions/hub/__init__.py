"""What jupyterhub-sessions runs inside the hub process, besides the spawners and the dashboard.

The code is split by the process that runs it: `hub/`, `spawner/` and `dashboard/` run in the
hub; `service/` and `ssh/` are the two hub services (processes of their own); `serverext/` runs
inside every session. Shared by all: `profiles`, `options`, `drives`, `session_info`, `hubapi`.

- `platform.configure_platform(c, data_dir)`: what every shipped hub config applies;
- `services`: the `sessions` and `ssh` hub services' entries, roles and registration;
- `roles`: every role and scope we grant (users, session tokens, session logins), in one place;
- `args`: the command line a session's server is started with;
- `fixes`: fixes to the JupyterHub we run on; `compat`: what differs between JupyterHub versions.

Kept light: the spawners import `hub.args`.
"""
