#!/usr/bin/env bash
# Smoke test of the README's first command: runs `scripts/run.sh` (what `make run` does) on free
# ports (one for every service of the registry that has a binary) with a throwaway data
# directory, walks a newcomer's first steps through the gateway with curl (sign up, log in, today's
# question, an answer, pairing with a partner, a planned date in the month calendar and the
# calendar feed, a chat message and its history, one WebSocket round trip when Node.js has a
# WebSocket client), and stops it. Fails if any step does.
set -euo pipefail

LOG_NAME=smoke
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${COUPLE_REPO}"
cargo_on_path

data_dir=$(mktemp -d)
log="${data_dir}/run.log"
cleanup() {
    platform_stop
    rm -rf "${data_dir}"
}
trap cleanup EXIT

fail() {
    echo "smoke: FAILED: $*" >&2
    tail -n 40 "${log}" >&2 || true
    exit 1
}

# run.sh builds first: up to 5 minutes on a fresh clone.
platform_start "${log}" 300 COUPLE_DATA_DIR="${data_dir}" COUPLE_LOG_FORMAT=json || fail "the platform did not start"
api=${platform_api}
for _ in $(seq 1 50); do
    grep -q "the platform is running" "${log}" && break
    sleep 0.1
done
grep -q "the platform is running" "${log}" || fail "scripts/run.sh did not say the platform is running"

json='content-type: application/json'
status=$(curl -s -o "${data_dir}/signup.json" -w '%{http_code}' -X POST "${api}/api/users/signup" -H "${json}" \
    -d '{"email":"smoke@example.com","password":"password-123","name":"Smoke","gender":"F","birth":"1998-04-12"}')
[[ ${status} == 201 ]] || fail "signup answered ${status}: $(cat "${data_dir}/signup.json")"
token=$(curl -fsS -X POST "${api}/api/users/login" -H "${json}" -d '{"email":"smoke@example.com","password":"password-123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])') || fail "login"
curl -fsS "${api}/api/users/me" -H "authorization: Bearer ${token}" | grep -q '"smoke@example.com"' || fail "GET /api/users/me"
curl -fsS "${api}/openapi.json" | grep -q '/api/users/signup' || fail "the merged OpenAPI document lacks user-couple's paths"
[[ $(curl -s -o /dev/null -w '%{http_code}' "${api}/api/users/me") == 401 ]] || fail "an unauthenticated request was not refused"
# question-answer: today's question, and answering it.
today=$(curl -fsS "${api}/api/questions/today" -H "authorization: Bearer ${token}") || fail "GET /api/questions/today"
question=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])' <<<"${today}") ||
    fail "today's question has no id: ${today}"
status=$(curl -s -o "${data_dir}/answer.json" -w '%{http_code}' -X POST "${api}/api/user-answers" -H "${json}" \
    -H "authorization: Bearer ${token}" -d "{\"questionId\":\"${question}\",\"selectedOption\":\"1\"}")
[[ ${status} == 201 ]] || fail "answering today's question answered ${status}: $(cat "${data_dir}/answer.json")"
curl -fsS "${api}/openapi.json" | grep -q '/api/user-answers' || fail "the merged OpenAPI document lacks question-answer's paths"
# schedule-meeting: a partner pairs, the couple plans a date at a catalogue place, and both see it
# in the month calendar.
status=$(curl -s -o "${data_dir}/signup2.json" -w '%{http_code}' -X POST "${api}/api/users/signup" -H "${json}" \
    -d '{"email":"smoke-partner@example.com","password":"password-123","name":"Partner","gender":"M","birth":"1997-12-24"}')
[[ ${status} == 201 ]] || fail "the partner's signup answered ${status}: $(cat "${data_dir}/signup2.json")"
partner=$(curl -fsS -X POST "${api}/api/users/login" -H "${json}" -d '{"email":"smoke-partner@example.com","password":"password-123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])') || fail "the partner's login"
code=$(curl -fsS -X POST "${api}/api/couples/match" -H "${json}" -H "authorization: Bearer ${token}" -d '{"name":"Smoke couple"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["matchCode"])') || fail "POST /api/couples/match"
partner=$(curl -fsS -X POST "${api}/api/couples/match/accept" -H "${json}" -H "authorization: Bearer ${partner}" \
    -d "{\"matchingCode\":\"${code}\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])') ||
    fail "POST /api/couples/match/accept"
place=$(curl -fsS "${api}/api/places?q=tower" -H "authorization: Bearer ${partner}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])') || fail "GET /api/places?q=tower"
day=$(date -u +%Y-%m-%d)
status=$(curl -s -o "${data_dir}/meeting.json" -w '%{http_code}' -X POST "${api}/api/meetings" -H "${json}" \
    -H "authorization: Bearer ${partner}" \
    -d "{\"name\":\"Smoke date\",\"date\":\"${day}\",\"startTime\":\"18:00\",\"endTime\":\"21:00\",\"places\":[\"${place}\"],\"keywords\":[\"야경\"]}")
[[ ${status} == 201 ]] || fail "POST /api/meetings answered ${status}: $(cat "${data_dir}/meeting.json")"
curl -fsS "${api}/api/schedules/calendar?year=${day:0:4}&month=$((10#${day:5:2}))" -H "authorization: Bearer ${partner}" |
    grep -q '"Smoke date"' || fail "the planned date is not in the partner's month calendar"
feed=$(curl -fsS -X POST "${api}/api/calendar/feeds" -H "authorization: Bearer ${partner}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["url"])') || fail "POST /api/calendar/feeds"
[[ ${feed} == "${api}/api/calendar/feeds/"*.ics ]] || fail "the feed URL ${feed} does not point at this gateway"
curl -fsS "${feed}" | grep -q 'SUMMARY:Smoke date' || fail "the calendar feed, fetched without a token, lacks the planned date"
curl -fsS "${api}/openapi.json" | grep -q '/api/meetings/recommend' || fail "the merged OpenAPI document lacks schedule-meeting's paths"
# chat: the couple's default room, a message posted with a clientId (a resend is the same
# message), the history, and one WebSocket round trip through the gateway.
# field EXPR: EXPR of the JSON document on stdin, `d`.
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(${1})"; }
room=$(curl -fsS "${api}/api/chat/rooms/" -H "authorization: Bearer ${partner}" | field 'd["data"][0]["id"]') ||
    fail "GET /api/chat/rooms/ (the default room)"
post_message() {
    curl -s -o "${data_dir}/message.json" -w '%{http_code}' -X POST "${api}/api/chat/messages/" -H "${json}" \
        -H "authorization: Bearer ${partner}" -d "{\"roomId\":\"${room}\",\"message\":\"안녕, smoke\",\"clientId\":\"smoke-1\"}"
}
status=$(post_message)
[[ ${status} == 201 ]] || fail "POST /api/chat/messages/ answered ${status}: $(cat "${data_dir}/message.json")"
message=$(field 'd["data"]["id"]' <"${data_dir}/message.json")
status=$(post_message)
[[ ${status} == 200 ]] || fail "resending clientId smoke-1 answered ${status}: $(cat "${data_dir}/message.json")"
[[ $(field 'd["data"]["id"]' <"${data_dir}/message.json") == "${message}" ]] || fail "a resent clientId made another message"
history=$(curl -fsS "${api}/api/chat/rooms/${room}/messages/" -H "authorization: Bearer ${partner}") || fail "GET the room's history"
[[ $(field 'd["data"][-1]["id"]' <<<"${history}") == "${message}" ]] || fail "the message is not the last of the history: ${history}"
[[ $(field 'len(d["data"])' <<<"${history}") == 1 ]] || fail "the resend was stored twice: ${history}"
# Node's WebSocket client (a global from Node 22, behind --experimental-websocket from 20.10).
socket_test='
const socket = new WebSocket(process.env.SMOKE_WS_URL);
const give_up = setTimeout(() => { console.error("no echo within 10 s"); process.exit(1); }, 10000);
let done = false;
socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "chat.ready") {
        socket.send(JSON.stringify({ type: "chat.message", message: "over the socket", clientId: "smoke-ws-1" }));
    } else if (frame.type === "chat.message" && frame.clientId === "smoke-ws-1") {
        done = true;
        clearTimeout(give_up);
        console.log(frame.id);
        socket.close(1000);
    } else if (frame.type === "chat.error") {
        console.error(event.data);
        process.exit(1);
    }
};
socket.onclose = (event) => { if (!done) { console.error(`closed with ${event.code} ${event.reason}`); process.exit(1); } };
socket.onerror = () => { if (!done) { console.error("the socket failed (refused upgrade?)"); process.exit(1); } };
'
websocket="skipped (no Node.js with a WebSocket client: Node >= 20.10 needed)"
if node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' >/dev/null 2>&1; then
    ws_url="${api/#http/ws}/ws/chat/${room}/?token=${partner}"
    echoed=$(SMOKE_WS_URL=${ws_url} timeout 20 node --experimental-websocket -e "${socket_test}" 2>"${data_dir}/socket.err") ||
        fail "the WebSocket round trip: $(cat "${data_dir}/socket.err")"
    curl -fsS "${api}/api/chat/rooms/${room}/messages/?after=${message}" -H "authorization: Bearer ${partner}" | grep -q "\"${echoed}\"" ||
        fail "the message sent over the socket is not in the history"
    websocket="a message over the WebSocket, echoed and stored"
fi
curl -fsS "${api}/openapi.json" | grep -q '/api/chat/messages/' || fail "the merged OpenAPI document lacks chat's paths"
echo "smoke: chat: ${websocket}"
echo "smoke: make run works (signup, login, me, today's question and an answer, pairing, a planned date in the calendar and its feed, a chat message with its resend and history, openapi through the gateway)"
