"""Where the LLM is and how to talk to it, read from flags and the environment.

Apart from :mod:`agent.llm` so that deciding whether an LLM is configured does not import the
``openai`` client (0.34 s): without one, `do` and `run` use the offline planner and never need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tools.core.errors import SetupError

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "not-needed"  # local servers ignore the key, but the client insists on one


@dataclass(frozen=True)
class LLMConfig:
    """Where the model is and how to talk to it. ``strict=None`` means: only for OpenAI itself."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    max_turns: int = 12
    max_retries: int = 1
    strict: bool | None = None

    @classmethod
    def from_env(cls, model: str | None = None, base_url: str | None = None, **kwargs: Any) -> LLMConfig:
        """Flags first, then ``ECHO_AGENT_MODEL``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``."""
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or (NO_KEY if base_url else None)
        model = model or os.environ.get("ECHO_AGENT_MODEL") or DEFAULT_MODEL
        return cls(model=model, base_url=base_url, api_key=api_key, **kwargs)

    @property
    def configured(self) -> bool:
        """True when there is an endpoint to talk to: an API key (OpenAI) or a base URL."""
        return bool(self.api_key or self.base_url)

    @property
    def endpoint(self) -> str:
        return (self.base_url or OPENAI_URL).rstrip("/")

    @property
    def use_strict(self) -> bool:
        if self.strict is not None:
            return self.strict
        return self.base_url is None or "api.openai.com" in self.base_url

    def client(self) -> Any:
        """An ``openai.OpenAI`` client for this endpoint."""
        import openai

        if not self.configured:
            raise SetupError("no LLM configured: set OPENAI_API_KEY for OpenAI, or --base-url / "
                             "OPENAI_BASE_URL for a local server (e.g. http://localhost:11434/v1)")
        return openai.OpenAI(api_key=self.api_key or NO_KEY, base_url=self.endpoint,
                             timeout=self.timeout_s, max_retries=self.max_retries)
