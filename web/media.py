"""GET /media/<key>: serves the local media store through signed, expiring links."""
from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, current_app, request

from storage.media import MediaNotFound
from storage.media.local import LocalMediaStore, verify_signature

from .errors import error_response

bp = Blueprint("media", __name__)


@bp.get("/media/<path:key>")
def signed_media(key: str):
    """The bytes of a stored image or voice note, when the link's signature and expiry check out."""
    services = current_app.extensions["assistant"].services
    store = services.media
    if not isinstance(store, LocalMediaStore):
        return error_response(404, "not_found", "Media are served by the S3 store's own links.")
    if not verify_signature(services.config.secret_key, key, request.args.get("exp", ""),
                            request.args.get("sig", "")):
        return error_response(403, "bad_signature", "This media link is invalid or has expired.")
    try:
        data = store.get(key)
    except (MediaNotFound, ValueError):
        return error_response(404, "not_found", "No such media.")
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return Response(data, mimetype=content_type, headers={"Cache-Control": "private, max-age=300",
                                                          "X-Content-Type-Options": "nosniff"})
