"""Security headers on every answer, and a Content-Security-Policy on the HTML pages.

Every response gets `X-Content-Type-Options: nosniff` (a model or a plot is never sniffed into
HTML), `X-Frame-Options: DENY` plus CSP `frame-ancestors 'none'` (no page can be framed for
click-jacking) and `Referrer-Policy: no-referrer`. The pages keep their small inline `<style>`
and `<script>`; each request gets a fresh nonce (`request.state.csp_nonce`, put on those tags by
the templates) and the policy allows only nonce-bearing inline code, same-origin images and
`fetch`, and nothing else: an injected `<script>` without the nonce does not run.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders

ALWAYS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
          "Referrer-Policy": "no-referrer"}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def page_policy(nonce: str) -> str:
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """Pure ASGI middleware (request bodies stream through untouched)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce  # request.state.csp_nonce

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                html = headers.get("content-type", "").startswith("text/html")
                headers["Content-Security-Policy"] = page_policy(nonce) if html else API_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)
