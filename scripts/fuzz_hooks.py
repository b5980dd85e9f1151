"""Schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Authentication: every generated request that the document says needs a token carries the bearer
token of a real user. Some operations end that user's session on success (logout revokes the
user's access tokens, a password change revokes the other sessions, deleting the account removes
the user, breaking up revokes both partners' tokens). Rather than leaving them out, the hooks
notice a successful call to one of them and give the next request a fresh user (signed up and
logged in through the gateway), so every operation is exercised with a valid token throughout
the run. Schemathesis's `ignored_auth` check sends requests without a token and with a broken one
on top.

Every response is counted; the total is written to FUZZ_COUNT_FILE so fuzz.sh can insist on a
minimum number of requests.

Environment: FUZZ_API (the gateway's base URL), FUZZ_COUNT_FILE.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import urllib.error
import urllib.request

import schemathesis

API = os.environ["FUZZ_API"].rstrip("/")
COUNT_FILE = os.environ["FUZZ_COUNT_FILE"]
PASSWORD = "fuzz-password-123"

# (method, path) of operations after whose success the token they ran with is no longer usable.
SESSION_ENDING = {
    ("POST", "/api/users/logout"),
    ("DELETE", "/api/users/me"),
    ("PUT", "/api/users/me/password"),
    ("DELETE", "/api/couples/me"),
}
# Operations on an existing couple run as a member of one (otherwise all they could say is 404);
# everything else, matching included, runs as a user without a couple.
COUPLE_PATHS = {"/api/couples/me", "/api/couples/members", "/api/couples/home"}

_lock = threading.Lock()
_users = itertools.count(1)
_tokens: dict[str, str] = {}  # "single" / "coupled" -> access token
_requests = 0
_renewals = 0


def _post(path: str, body: dict, token: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(API + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"fuzz auth: POST {path} answered {err.code}: {err.read()[:500]!r}") from err


def _new_user_token() -> str:
    """Signs up a new user and logs in: a fresh access token."""
    email = f"fuzz-{next(_users)}@example.com"
    _post("/api/users/signup", {"email": email, "password": PASSWORD, "name": "Fuzz", "gender": "F", "birth": "1998-04-12"})
    return _post("/api/users/login", {"email": email, "password": PASSWORD})["data"]["accessToken"]


def _new_couple_token() -> str:
    """Two new users matched into a couple: the accepting partner's token, which carries the couple."""
    code = _post("/api/couples/match", {"name": "Fuzz couple"}, _new_user_token())["data"]["matchCode"]
    return _post("/api/couples/match/accept", {"matchingCode": code}, _new_user_token())["data"]["accessToken"]


def _kind(case) -> str:
    return "coupled" if case.path in COUPLE_PATHS else "single"


@schemathesis.auth(refresh_interval=None)
class FreshUserAuth:
    """A valid token for the current fuzz user, renewed after a session-ending call."""

    def get(self, case, context):
        global _renewals
        kind = _kind(case)
        with _lock:
            if kind not in _tokens:
                _tokens[kind] = _new_couple_token() if kind == "coupled" else _new_user_token()
                _renewals += 1
            return _tokens[kind]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def after_call(context, case, response):
    global _requests
    with _lock:
        _requests += 1
        if (case.method.upper(), case.path) in SESSION_ENDING and 200 <= response.status_code < 300:
            _tokens.pop(_kind(case), None)
        with open(COUNT_FILE, "w", encoding="utf-8") as f:
            f.write(f"{_requests} {_renewals}\n")
