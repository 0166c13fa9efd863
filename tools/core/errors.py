"""The one small error taxonomy of echo-agent.

- :class:`ToolArgumentError`: a bad argument (names it, its value and what is allowed). It goes back
  to the LLM as text so that it can correct itself; on the CLI it fails the request (exit 1).
- :class:`ToolError`: a tool could not do what was asked (e.g. a gap too long to fill); exit 1.
  :class:`NothingFound`, one kind of it, is a repair that found nothing to repair ("found no
  clicks: ..."): one request fails with it (nothing was changed, no file is written), while a
  batch notes it and goes on, since a clean file is no failure of the batch.
- :class:`AudioInputError`: an input file that cannot be used (missing, not audio, corrupt); exit 2.
- :class:`SetupError`: something must be installed or configured first (a model, an LLM endpoint);
  the message says what to do; exit 2.
"""

from __future__ import annotations


class EchoError(Exception):
    """Base class: every error echo-agent reports to a person as one line."""

    exit_code = 1


class ToolArgumentError(EchoError, ValueError):
    """A tool argument is out of range or inconsistent with the audio."""

    exit_code = 1


class ToolError(EchoError):
    """A tool ran but could not do what was asked."""

    exit_code = 1


class NothingFound(ToolError):
    """A repair found nothing to repair (no clicks, no dropouts, no clipping, no hum, ...)."""

    @staticmethod
    def passed_over(message: str) -> str:
        """What a batch says of it: "found no clicks, nothing to repair"."""
        return f"{message.split(':')[0]}, nothing to repair"


class AudioInputError(EchoError):
    """An input file cannot be read as audio."""

    exit_code = 2


class SetupError(EchoError):
    """Missing model, missing program or unreachable endpoint: the message says how to fix it."""

    exit_code = 2


class SessionError(EchoError):
    """A session directory is unusable (locked by another process, not a session, ...)."""

    exit_code = 2
