"""How a step stops. Not RuntimeError subclasses: a caller that means an API or Spaces failure catches
those by name and never swallows these by accident."""

from __future__ import annotations


class AgentError(Exception):
    """A step could not do its work; the runner records it."""


class StepFailed(AgentError):
    """The current attempt cannot go on (recorded in the attempt; the sequence moves to decide)."""


class Fatal(AgentError):
    """Nothing can be tried (preflight refused): publish the failure."""
