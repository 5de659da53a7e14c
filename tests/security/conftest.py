"""Security probes (issue 12): fast checks, and probes against the whole running assistant.

The probes share the `stack` fixture of tests/e2e (Rasa server, action server and web app on free
loopback ports, with the model `make train` built; skipped with a reason without a model, never
in CI).
"""

from tests.e2e.conftest import Stack  # noqa: F401  (the `stack` fixture is in tests/conftest.py)
