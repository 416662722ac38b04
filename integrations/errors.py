"""The errors integrations' modules raise to their callers (kept apart so every module can raise them)."""


class IntegrationInputError(Exception):
    """Input the person must fix; the message says what."""


class MessageSendRetryable(Exception):
    """A temporary failure (network, provider 5xx): the task retries with backoff."""
