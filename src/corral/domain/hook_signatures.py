"""Checking that an inbound webhook delivery was signed by its sender.

Two schemes: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, with
its library, which also refuses stale timestamps) and GitHub's (`X-Hub-Signature-256`, an
HMAC-SHA256 of the body in hex).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Mapping

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from corral.types.routines import VerifyScheme

__all__ = ["BadSignature", "verify"]


class BadSignature(Exception):
    """The delivery is not signed with the trigger's secret (the message says how)."""


def verify(scheme: VerifyScheme, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Return when `body` carries a valid signature; raise `BadSignature` otherwise.

    `headers` must be looked up case-insensitively (as Starlette's are).
    """
    if scheme is VerifyScheme.GITHUB:
        _verify_github(secret, body, headers)
        return
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError as error:
        raise BadSignature(str(error)) from None
    except (binascii.Error, ValueError):
        raise BadSignature("the trigger's secret is not a Standard Webhooks secret") from None


def _verify_github(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    given = headers.get("x-hub-signature-256")
    if not given or not given.startswith("sha256="):
        raise BadSignature("missing X-Hub-Signature-256 header")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.removeprefix("sha256=")):
        raise BadSignature("the X-Hub-Signature-256 signature does not match")
