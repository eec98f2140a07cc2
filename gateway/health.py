"""The container healthcheck: ``python -I /app/gateway/health.py`` as the image runs it,
which imports nothing of the package (starting the gateway's imports would take seconds),
so this module uses the standard library only.

Asks this gateway's ``/healthz`` on loopback, over TLS when the gateway serves TLS
(``WSLAB_TLS_CERT`` is set), on ``WSLAB_PORT``. Exits 0 on 200, 1 otherwise, printing why.
The certificate is not verified: it names the gateway as clients reach it, not 127.0.0.1,
and the check only asks whether the process answers.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
from collections.abc import Mapping

__all__ = ["health_url", "main"]


def health_url(environ: Mapping[str, str]) -> str:
    """Where this gateway answers ``/healthz``, as its settings in ``environ`` say."""
    scheme = "https" if environ.get("WSLAB_TLS_CERT") else "http"
    return f"{scheme}://127.0.0.1:{environ.get('WSLAB_PORT', '4502')}/healthz"


def main() -> int:
    url = health_url(os.environ)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=25, context=context) as response:
            print(f"{url}: {response.status}")
            return 0
    except OSError as exc:  # urllib's errors derive from it.
        print(f"{url}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
