"""echo-agent: the agent loop, planners, REPL, instructions runner and command line."""

__version__ = "0.1.0"
