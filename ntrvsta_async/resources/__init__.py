"""Resource clients: templates, invitations and results, on top of the transport."""

from ntrvsta_async.resources._created import reused_flag
from ntrvsta_async.resources._params import check, query_params
from ntrvsta_async.resources.invitations import Invitations
from ntrvsta_async.resources.results import Results
from ntrvsta_async.resources.templates import Templates

__all__ = ["Invitations", "Results", "Templates", "check", "query_params", "reused_flag"]
