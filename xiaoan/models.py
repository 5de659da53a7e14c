"""Imports every model module so that `Base.metadata` knows all tables (used by Alembic and tests).

Each area adds its model module here.
"""

import xiaoan.db  # noqa: F401
import xiaoan.ratings  # noqa: F401
import xiaoan.kb.models  # noqa: F401
import xiaoan.tickets.models  # noqa: F401
import xiaoan.web.auth_models  # noqa: F401
import xiaoan.handoff.models  # noqa: F401
import xiaoan.handoff.canned  # noqa: F401
import xiaoan.channels.wechat_store  # noqa: F401
import xiaoan.ratelimit  # noqa: F401
import xiaoan.privacy_audit  # noqa: F401
import xiaoan.notify.models  # noqa: F401
