"""Resource clients: templates, invitations and results, on top of the transport."""

from ._created import reused_flag
from ._params import check, query_params
from .invitations import Invitations
from .results import Results
from .templates import Templates

__all__ = ["Invitations", "Results", "Templates", "check", "query_params", "reused_flag"]
