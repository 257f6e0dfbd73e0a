"""Octopus error bodies ("OctopusErrorsContract") and the exception that carries them."""

from __future__ import annotations

from typing import Any

MSG_401 = (
    "You must be logged in to request this resource or provide a valid API key. "
    "Your account may have been disabled, please contact your Octopus administrator."
)
MSG_403 = (
    "You do not have permission to perform this action. Please contact your Octopus "
    "administrator. Missing permission: {permission}"
)
MSG_404 = "The resource you requested was not found."
MSG_400 = "There was a problem with your request."
MSG_CONCURRENCY = (
    "Changes to these variables could not be saved, because another user has made changes to "
    "the variables between when you started editing and when you saved your changes. Please "
    "reload or open a new tab to make your changes."
)
HELP_403 = "This action requires the {permission} permission. Ask an administrator to grant it."


class ApiError(Exception):
    """Raised by handlers; rendered as an Octopus error body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[str] | None = None,
        *,
        help_text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.help_text = help_text
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ErrorMessage": self.message}
        out["Errors"] = list(self.errors or [])
        if self.help_text:
            out["HelpText"] = self.help_text
        return out


def not_found(what: str | None = None) -> ApiError:
    if what:
        return ApiError(404, f"The resource '{what}' was not found.")
    return ApiError(404, MSG_404)


def invalid(*errors: str) -> ApiError:
    return ApiError(400, MSG_400, list(errors))


def forbidden(permission: str) -> ApiError:
    return ApiError(
        403,
        MSG_403.format(permission=permission),
        help_text=HELP_403.format(permission=permission),
    )


def unauthorized() -> ApiError:
    return ApiError(401, MSG_401, [])
