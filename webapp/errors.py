"""Every error is JSON: {"success": false, "code", "status", "message", "errors"?}.

The one place where errors that are not HTTP errors become HTTP errors, all
answered by flask-smorest's handler (Api.handle_http_exception): the database
unreachable or the pool exhausted is a 503, a statement timeout a 504, a
function or table missing (the schema is behind the code: outside the
documented fallbacks, which catch their own) a 503 saying migrations are
pending; each with Retry-After: RETRY_AFTER_S. Anything unexpected is logged
and answered with a bare 500.
"""
import functools

import psycopg
from flask import current_app
from flask_smorest import Api as _Api
from flask_smorest.error_handler import ErrorSchema as _ErrorSchema
from marshmallow import fields
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import GatewayTimeout, InternalServerError, ServiceUnavailable

_UNAVAILABLE = "The database is unavailable or busy; retry shortly."
_MIGRATIONS_PENDING = ("Migrations are pending: the database schema is older than this version "
                       "(run `chatstats migrate`).")
# Exception -> (HTTP error, message); Flask picks the most specific class of an exception.
_DATABASE_ERRORS = {
    PoolTimeout: (ServiceUnavailable, _UNAVAILABLE),
    psycopg.OperationalError: (ServiceUnavailable, _UNAVAILABLE),
    psycopg.errors.QueryCanceled: (GatewayTimeout, "The query took longer than the statement timeout."),
    psycopg.errors.UndefinedFunction: (ServiceUnavailable, _MIGRATIONS_PENDING),
    psycopg.errors.UndefinedTable: (ServiceUnavailable, _MIGRATIONS_PENDING),
}


class ErrorSchema(_ErrorSchema):
    success = fields.Boolean(metadata={"example": False})
    code = fields.Integer(metadata={"description": "HTTP status code", "example": 422})
    status = fields.String(metadata={"description": "HTTP status name", "example": "Unprocessable Entity"})
    message = fields.String(metadata={"description": "What went wrong",
                                      "example": "The request was well-formed but was unable to be "
                                                 "followed due to semantic errors."})
    errors = fields.Dict(metadata={"description": "Per location and field, what is wrong",
                                   "example": {"query": {"limit": ["Must be greater than or equal "
                                                                   "to 1 and less than or equal to 100000."]}}})


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        # Keep the exception's own headers (405's Allow), but not its HTML content type.
        headers = {**{name: value for name, value in error.get_headers()
                      if name.lower() != "content-type"}, **(headers or {})}
        payload = {"success": False, **payload}
        payload.setdefault("message", error.description)
        return payload, code, headers


def init_app(app, api):
    """Answer database errors and unexpected ones through the api's handler."""
    for exception, (http_error, message) in _DATABASE_ERRORS.items():
        app.register_error_handler(exception, functools.partial(_database_error, api, http_error, message))
    app.register_error_handler(Exception, functools.partial(_unexpected, api))


def retry_later(error):
    """The HTTP error (a 503 or 504), telling the client when to retry."""
    error.data = {**getattr(error, "data", {}),
                  "headers": {"Retry-After": str(current_app.config["RETRY_AFTER_S"])}}
    return error


def migrations_pending(pending):
    """The 503 of a database whose migrations `pending` (ids) are not applied."""
    return retry_later(ServiceUnavailable(f"{_MIGRATIONS_PENDING} Pending: {', '.join(pending)}."))


def _database_error(api, http_error, message, error):
    current_app.logger.warning("%s (%s: %s)", message, type(error).__name__, error)
    return api.handle_http_exception(retry_later(http_error(message)))


def _unexpected(api, error):
    current_app.logger.exception("unexpected error")
    return api.handle_http_exception(InternalServerError("Internal server error."))
