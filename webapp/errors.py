"""Every error is JSON: {"success": false, "code", "status", "message", "errors"?}.

Database faults map to 503 (unreachable, pool exhausted) or 504 (statement
timeout); anything unexpected is logged and answered with a bare 500.
"""
import psycopg
from flask_smorest import Api as _Api
from flask_smorest.error_handler import ErrorSchema as _ErrorSchema
from marshmallow import fields
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import GatewayTimeout, HTTPException, InternalServerError, ServiceUnavailable

RETRY_AFTER_S = 5


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

    def _register_error_handlers(self):
        super()._register_error_handlers()
        self._app.register_error_handler(PoolTimeout, self._unavailable)
        self._app.register_error_handler(psycopg.OperationalError, self._unavailable)
        self._app.register_error_handler(psycopg.errors.QueryCanceled, self._timeout)
        self._app.register_error_handler(Exception, self._unexpected)

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        # Keep the exception's own headers (405's Allow), but not its HTML content type.
        headers = {**{name: value for name, value in error.get_headers()
                      if name.lower() != "content-type"}, **(headers or {})}
        payload = {"success": False, **payload}
        payload.setdefault("message", error.description)
        return payload, code, headers

    def _unavailable(self, error):
        self._app.logger.warning("database unavailable: %s", error)
        return self.handle_http_exception(_with_retry(ServiceUnavailable(
            "The database is unavailable or busy; retry shortly.")))

    def _timeout(self, error):
        self._app.logger.warning("statement timeout: %s", error)
        return self.handle_http_exception(_with_retry(GatewayTimeout(
            "The query took longer than the statement timeout.")))

    def _unexpected(self, error):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        self._app.logger.exception("unexpected error")
        return self.handle_http_exception(InternalServerError("Internal server error."))


def _with_retry(error):
    error.data = {"headers": {"Retry-After": str(RETRY_AFTER_S)}}
    return error
