"""Resource clients: templates, invitations and results, on top of the transport."""

from .invitations import Invitations
from .results import Results
from .templates import Templates

__all__ = ["Invitations", "Results", "Templates"]
