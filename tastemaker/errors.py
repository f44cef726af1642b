"""The one exception tree of Tastemaker.

Every error the core raises is a :class:`TastemakerError`. Each class carries the HTTP status
that ``tastemaker.service`` maps it to, so the mapping lives in one place (here) and the service
layer never decides a status code on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field of one input row.

    ``index`` is the row's position in a batch (``None`` for a single object), ``field`` a dotted
    path inside the row and ``reason`` a sentence a client developer can act on.
    """

    field: str
    reason: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


class TastemakerError(Exception):
    """Base of every error Tastemaker raises on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Extra machine-readable details for the error response."""
        return {}


class ConfigurationError(TastemakerError):
    """The settings or a configuration file are invalid."""

    code = "configuration_error"


class InvalidInput(TastemakerError):
    """Input failed validation; nothing was changed."""

    status_code = 422
    code = "validation_error"

    def __init__(self, message: str, problems: list[FieldProblem]) -> None:
        super().__init__(message)
        self.problems = problems

    def details(self) -> dict[str, Any]:
        return {"errors": [p.as_dict() for p in self.problems]}


class NotFound(TastemakerError):
    """The addressed resource does not exist."""

    status_code = 404
    code = "not_found"


class UnknownRecommendation(NotFound):
    """A next-page request names a recommendation id this process cannot find (yet: another
    process may still be writing its first page)."""

    def __init__(self, recommendation_id: str) -> None:
        super().__init__(f"no recommendation {recommendation_id!r} for this user")
        self.recommendation_id = recommendation_id


class Conflict(TastemakerError):
    """The request conflicts with what is stored; nothing was changed."""

    status_code = 409
    code = "conflict"


class EventConflict(Conflict):
    """Events reuse stored ``event_id`` values with a different payload."""

    code = "event_id_conflict"

    def __init__(self, event_ids: list[str]) -> None:
        shown = ", ".join(event_ids[:10]) + (" …" if len(event_ids) > 10 else "")
        super().__init__(
            f"{len(event_ids)} event_id(s) are already stored with a different payload: {shown}. "
            "An event_id is an idempotency key: retry with the identical payload, or use a new id."
        )
        self.event_ids = event_ids

    def details(self) -> dict[str, Any]:
        return {"event_ids": self.event_ids}


class PayloadTooLarge(TastemakerError):
    """The request body or batch exceeds a configured limit."""

    status_code = 413
    code = "payload_too_large"


class Unauthorized(TastemakerError):
    """No valid API key was presented."""

    status_code = 401
    code = "unauthorized"


class Forbidden(TastemakerError):
    """The API key lacks the scope the operation needs."""

    status_code = 403
    code = "forbidden"


class StorageError(TastemakerError):
    """The durable store failed; the operation was not acknowledged."""

    status_code = 503
    code = "storage_unavailable"


class DecryptionError(TastemakerError):
    """Encrypted data cannot be read with any configured key."""

    code = "decryption_failed"


class NotFittedError(TastemakerError):
    """A model was used before it was fitted or loaded."""

    status_code = 503
    code = "model_unavailable"
