"""Settings for afxq-portal, one module per concern.

Every setting comes from the environment (django-environ) and has a working default for a laptop:
SQLite, an embedded filesystem Celery broker and the sandbox city platform. Production sets
``DJANGO_PRODUCTION=1``, which removes the defaults of every secret (see docs/deploy.md).
"""

from .base import *  # noqa: F403
from .dashboard import *  # noqa: F403
from .database import *  # noqa: F403
from .devices import *  # noqa: F403
from .files import *  # noqa: F403
from .logs import *  # noqa: F403
from .residents import *  # noqa: F403
from .schedule import *  # noqa: F403
from .security import *  # noqa: F403
from .tasks import *  # noqa: F403
from .terminals import *  # noqa: F403
from .uploads import *  # noqa: F403
