"""Which certificate authorities outbound HTTPS trusts, chosen once for every client we build."""
from __future__ import annotations

import os


def ca_bundle_override() -> str | None:
    """REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE (a file or a folder of certificates), as requests
    picks them; None when neither is set, and each client keeps its own default."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def verify_locations(bundle: str) -> dict[str, str]:
    """`ssl.SSLContext.load_verify_locations` keywords for a bundle file or a certificate folder."""
    return {"capath": bundle} if os.path.isdir(bundle) else {"cafile": bundle}
