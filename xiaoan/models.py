"""Imports every model module so that `Base.metadata` knows all tables (used by Alembic and tests).

Each area adds its model module here.
"""

import xiaoan.db  # noqa: F401
