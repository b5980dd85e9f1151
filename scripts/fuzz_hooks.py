"""Schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Authentication: every generated request that the document says needs a token carries the bearer
token of a real user. Some operations end that user's session on success (logout revokes the
user's access tokens, a password change revokes the other sessions, deleting the account removes
the user, breaking up revokes both partners' tokens). Rather than leaving them out, the hooks
notice a successful call to one of them and give the next request a fresh user (signed up and
logged in through the gateway), so every operation is exercised with a valid token throughout
the run. Schemathesis's `ignored_auth` check sends requests without a token and with a broken one
on top.

Admin-only operations (creating questions and tags) run as an administrator: the account
FUZZ_ADMIN_EMAIL, which fuzz.sh makes admin through USER_COUPLE_ADMIN_EMAILS, so they are
exercised past the 403 a user gets. Every other request of an answer (`POST /api/user-answers`)
names a real question (a few ids fetched once) with a valid option, so answering is exercised and
not only its 404 and 422. Schedule-meeting's operations (schedules, meetings, places, the
calendar and its feeds) run as a member of a couple, since everything there belongs to one, and
every other planned date or recommendation request names real catalogue places, a real date and
times in order, and every other weather-card request a point in Seoul (on the KMA grid; fuzz.sh
gives schedule-meeting a stand-in for KMA), so they are exercised past 422. Chat's operations run
as a member of a couple too, and every other one names the couple's real default room (in the
path, or as `roomId`) and real messages of it (`before`/`after`, `parentId`, `lastReadId`; a few
posted once for each couple), so they are exercised past 404; the rest stay as generated.

Every response is counted; the total, with the fresh users made and the answers and admin
creations that succeeded, is written to FUZZ_COUNT_FILE so fuzz.sh can insist on a minimum number
of requests and on both kinds of success.

Environment: FUZZ_API (the gateway's base URL), FUZZ_COUNT_FILE, FUZZ_ADMIN_EMAIL.
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
ADMIN_EMAIL = os.environ["FUZZ_ADMIN_EMAIL"]
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
# Path prefixes of schedule-meeting, whose every operation belongs to a couple (403 without one).
COUPLE_PREFIXES = ("/api/schedules", "/api/meetings", "/api/places", "/api/calendar", "/api/chat")
# Operations only an admin may call: they run as the fuzz admin.
ADMIN_OPERATIONS = {("POST", "/api/questions"), ("POST", "/api/tags")}
ANSWER = ("POST", "/api/user-answers")
MEETING = ("POST", "/api/meetings")
RECOMMEND = ("POST", "/api/meetings/recommend")
WEATHER = ("GET", "/api/meetings/weather-cards")
# Chat operations on one room, by (method, path): the room is the `id` path parameter.
CHAT_ROOM_OPERATIONS = {
    ("GET", "/api/chat/rooms/{id}/"),
    ("GET", "/api/chat/rooms/{id}/messages/"),
    ("PUT", "/api/chat/rooms/{id}/read/"),
}
CHAT_HISTORY = ("GET", "/api/chat/rooms/{id}/messages/")
CHAT_READ = ("PUT", "/api/chat/rooms/{id}/read/")
CHAT_POST = ("POST", "/api/chat/messages/")

_lock = threading.Lock()
_users = itertools.count(1)
_tokens: dict[str, str] = {}  # "single" / "coupled" / "admin" -> access token
_requests = 0
_renewals = 0
_answered = 0  # 201s of POST /api/user-answers
_admin_created = 0  # 201s of the admin operations
_planned = 0  # 201s of POST /api/meetings
_question_ids: list[str] = []
_answers = itertools.count()
_place_ids: list[str] = []
_plans = itertools.count()
_weathers = itertools.count()
_forecasts = 0  # 200s of the weather cards
_chats = itertools.count()
_chat_rooms: dict[str, tuple[str, list[str]]] = {}  # coupled token -> (default room id, message ids)
_chatted = 0  # 201s of POST /api/chat/messages/


def _call(method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"fuzz hooks: {method} {path} answered {err.code}: {err.read()[:500]!r}") from err


def _post(path: str, body: dict, token: str | None = None) -> dict:
    return _call("POST", path, body, token)


def _login(email: str) -> str:
    """Signs `email` up and logs in: a fresh access token."""
    _post("/api/users/signup", {"email": email, "password": PASSWORD, "name": "Fuzz", "gender": "F", "birth": "1998-04-12"})
    return _post("/api/users/login", {"email": email, "password": PASSWORD})["data"]["accessToken"]


def _new_user_token() -> str:
    """Signs up a new user and logs in: a fresh access token."""
    return _login(f"fuzz-{next(_users)}@example.com")


def _new_couple_token() -> str:
    """Two new users matched into a couple: the accepting partner's token, which carries the couple."""
    code = _post("/api/couples/match", {"name": "Fuzz couple"}, _new_user_token())["data"]["matchCode"]
    return _post("/api/couples/match/accept", {"matchingCode": code}, _new_user_token())["data"]["accessToken"]


def _kind(case) -> str:
    if (case.method.upper(), case.path) in ADMIN_OPERATIONS:
        return "admin"
    coupled = case.path in COUPLE_PATHS or case.path.startswith(COUPLE_PREFIXES)
    return "coupled" if coupled else "single"


def _new_token(kind: str) -> str:
    if kind == "admin":
        # USER_COUPLE_ADMIN_EMAILS makes the account admin at sign-up; its token says so.
        return _login(ADMIN_EMAIL)
    return _new_couple_token() if kind == "coupled" else _new_user_token()


def _question_id(n: int) -> str:
    """The `n`-th of the first questions of the catalogue (fetched once), round and round."""
    with _lock:
        if not _question_ids:
            questions = _call("GET", "/api/questions?limit=20", token=_new_user_token())["data"]
            _question_ids.extend(q["id"] for q in questions)
            if not _question_ids:
                raise RuntimeError("fuzz hooks: GET /api/questions listed no question")
        return _question_ids[n % len(_question_ids)]


def _place_ids_for(n: int) -> list[str]:
    """One to three real catalogue places (a few fetched once), different for each `n`."""
    with _lock:
        if not _place_ids:
            places = _call("GET", "/api/places?limit=20", token=_new_couple_token())["data"]
            _place_ids.extend(p["id"] for p in places)
            if not _place_ids:
                raise RuntimeError("fuzz hooks: GET /api/places listed no place")
        return [_place_ids[(n + i) % len(_place_ids)] for i in range(1 + n % 3)]


def _token(kind: str) -> str:
    """The current token of `kind`, made when there is none (at the start, or after a
    session-ending call)."""
    global _renewals
    with _lock:
        if kind not in _tokens:
            _tokens[kind] = _new_token(kind)
            _renewals += 1
        return _tokens[kind]


def _chat_room(token: str) -> tuple[str, list[str]]:
    """The default room of `token`'s couple and a few messages in it (posted once per couple)."""
    with _lock:
        if token not in _chat_rooms:
            room = _call("GET", "/api/chat/rooms/", token=token)["data"][0]["id"]
            messages = [
                _post("/api/chat/messages/", {"roomId": room, "message": f"fuzz {n}", "clientId": f"fuzz-seed-{n}"}, token)["data"]["id"]
                for n in range(3)
            ]
            _chat_rooms[token] = (room, messages)
        return _chat_rooms[token]


@schemathesis.auth(refresh_interval=None)
class FreshUserAuth:
    """A valid token for the current fuzz user, renewed after a session-ending call."""

    def get(self, case, context):
        return _token(_kind(case))

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    """Every other generated answer names a real question with a valid option; every other planned
    date or recommendation request names real places, a real date and times in order; every other
    chat request names the couple's room and its messages."""
    operation = (case.method.upper(), case.path)
    if operation == ANSWER and isinstance(case.body, dict):
        n = next(_answers)
        if n % 2 == 0:
            case.body = {**case.body, "questionId": _question_id(n // 2), "selectedOption": "1" if n % 4 == 0 else "2"}
    elif operation in (MEETING, RECOMMEND) and isinstance(case.body, dict):
        n = next(_plans)
        if n % 2 == 0:
            valid = {"date": "2026-12-24", "startTime": "13:00", "endTime": "19:30", "keywords": ["야경"]}
            if operation == MEETING:
                valid |= {"name": "Fuzz date", "places": _place_ids_for(n // 2)}
            else:
                valid |= {"near": "37.5665,126.978", "radiusKm": 5}
            case.body = {**case.body, **valid}
    elif operation == WEATHER and next(_weathers) % 2 == 0:
        # Generated points are almost never on the KMA grid (Korea): every other one is Seoul.
        case.query = {**(case.query or {}), "lat": 37.5665, "lon": 126.978}
    elif (operation in CHAT_ROOM_OPERATIONS or operation == CHAT_POST) and (n := next(_chats)) % 2 == 0:
        # A generated id is never one of the couple's rooms or messages: every other one is real.
        room, messages = _chat_room(_token("coupled"))
        message = messages[(n // 2) % len(messages)]
        if operation in CHAT_ROOM_OPERATIONS:
            case.path_parameters = {**(case.path_parameters or {}), "id": room}
        if operation == CHAT_HISTORY and n % 4 == 0:
            query = {k: v for k, v in (case.query or {}).items() if k not in ("before", "after")}
            case.query = {**query, "before" if n % 8 == 0 else "after": message}
        elif operation == CHAT_READ and isinstance(case.body, dict):
            case.body = {**case.body, "lastReadId": message}
        elif operation == CHAT_POST and isinstance(case.body, dict):
            case.body = {**case.body, "roomId": room, **({"parentId": message} if n % 4 == 0 else {})}


@schemathesis.hook
def after_call(context, case, response):
    global _requests, _answered, _admin_created, _planned, _forecasts, _chatted
    operation = (case.method.upper(), case.path)
    with _lock:
        _requests += 1
        if response.status_code == 201:
            _answered += operation == ANSWER
            _admin_created += operation in ADMIN_OPERATIONS
            _planned += operation == MEETING
            _chatted += operation == CHAT_POST
        if response.status_code == 200:
            _forecasts += operation == WEATHER
        if operation in SESSION_ENDING and 200 <= response.status_code < 300:
            _tokens.pop(_kind(case), None)
        with open(COUNT_FILE, "w", encoding="utf-8") as f:
            f.write(f"{_requests} {_renewals} {_answered} {_admin_created} {_planned} {_forecasts} {_chatted}\n")
