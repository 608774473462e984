"""One JSON error shape for every API error: {"error": {"code": ..., "message": ...}}."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


def error_response(status: int, code: str, message: str):
    """A JSON error response with the product's single error shape."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn every HTTP error and unexpected exception into the JSON error shape (never a stack trace)."""
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
