"""Errors of the hub; each message says what went wrong and what to do about it."""


class HubError(Exception):
    """Base class: loading or saving a model failed for a reason the user can act on."""


class UnknownModelError(HubError, KeyError):
    """A name is neither a short name, a local folder nor a Hub repo id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class NotAvailableError(HubError):
    """The model is known but its files cannot be had here (not published, not cached while offline, ...)."""


class IncompatibleWeightsError(HubError):
    """The weights file does not fit the architecture its config names, or fails its checksum."""
