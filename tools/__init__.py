"""echo-agent tools: the Audio type, the session workspace and one module per editing tool.

Nothing in this package prints, exits or configures logging: tools return results or raise
:class:`tools.core.errors.EchoError` subclasses, and the CLI in :mod:`agent` reports them.
"""
