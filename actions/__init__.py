"""Custom actions of 小安: thin adapters from rasa-sdk to the `xiaoan` package.

Importing the package registers the action server's guard (issue 12, `xiaoan.action_server`):
rasa-sdk imports the actions before it starts its plugins, so the actions are never served
without the shared-secret check and the loopback default bind address.
"""

from xiaoan.action_server import install as _install_action_server_guard

_install_action_server_guard()
