"""The HTTP adapter of tcp:// engines: the engine's own TLS trust, whatever the environment says.

requests replaces a session's CA file with REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE when those are set (requests#3829): with a corporate CA bundle
in the environment, an engine signed by its own CA (DOCKER_CERT_PATH/ca.pem)
would fail verification, and a bundle that happened to trust the engine would
pass it without the CA the user named. The docker CLI reads neither variable.
`PinnedTLSAdapter` sends every request with the CA file (or verify flag) and
client certificate given here, and keeps `POOL_SIZE` connections as the unix
socket adapter does.

Imported only by `tfstudio.training.client.connect` (it imports requests).
"""

from __future__ import annotations

from typing import Any

import requests.adapters


class PinnedTLSAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose `verify` and `cert` are fixed at construction."""

    def __init__(self, verify: bool | str, cert: tuple[str, str] | None, pool_size: int) -> None:
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size)
        self._verify = verify
        self._cert = cert

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        """Sends `request` with the pinned verify/cert, ignoring what the session merged in."""
        return super().send(
            request,
            stream=stream,
            timeout=timeout,
            verify=self._verify,
            cert=self._cert,
            proxies=proxies,
        )


def pin(api: Any, pool_size: int) -> None:
    """Mounts a PinnedTLSAdapter on `api` (a docker.APIClient for a tcp:// engine) for
    http:// and https://, with the verify/cert its TLSConfig set on it."""
    if api.verify is False:
        # The user turned verification off (DOCKER_TLS, skip-tls-verify): `engines
        # list` says so once; urllib3's warning on every request would bury the output.
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    adapter = PinnedTLSAdapter(api.verify, api.cert, pool_size)
    api.mount("https://", adapter)
    api.mount("http://", adapter)
