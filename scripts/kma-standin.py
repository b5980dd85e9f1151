#!/usr/bin/env python3
"""A stand-in for the KMA open API (the weather behind schedule-meeting's weather cards), for the
fuzz run, which reaches no outside network: without a key the cards answer 503 by design, which
the fuzzer rightly counts as a server error, so the run gives schedule-meeting a key and points it
here.

Serves, under /1360000, the two operations the weather client calls, in the documented JSON shapes
(see ../shared/notes/kma-weather.md), paged as KMA pages them:

- VilageFcstInfoService_2.0/getVilageFcst: hourly SKY and PTY items from the base date to three
  days after it, for any grid cell; the weather varies by day (clear, cloud, overcast, rain,
  snow), the same for the same day every time;
- MidFcstInfoService/getMidLandFcst: one region's wf4Am..wf7Pm and wf8..wf10 phrases.

Any other key gets the portal's XML error for an unregistered key.

Usage: kma-standin.py --key KEY --port-file FILE   (listens on a free loopback port, written to FILE)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BAD_KEY = (
    "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg><returnAuthMsg>"
    "SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg><returnReasonCode>30</returnReasonCode>"
    "</cmmMsgHeader></OpenAPI_ServiceResponse>"
)
# (PTY, SKY) of a day, by the day's ordinal: clear, some cloud, overcast, rain, snow.
DAYS = [(0, 1), (0, 3), (0, 4), (1, 4), (3, 4)]
PHRASES = ["맑음", "구름많음", "흐림", "흐리고 비", "구름많고 눈"]


def village(query: dict[str, str]) -> list[dict]:
    base = dt.datetime.strptime(query["base_date"], "%Y%m%d").date()
    items = []
    for offset in range(4):
        day = base + dt.timedelta(days=offset)
        pty, sky = DAYS[day.toordinal() % len(DAYS)]
        for hour in range(24):
            for category, value in (("PTY", pty), ("SKY", sky)):
                items.append({
                    "baseDate": query["base_date"], "baseTime": query.get("base_time", "0500"), "category": category,
                    "fcstDate": day.strftime("%Y%m%d"), "fcstTime": f"{hour:02d}00", "fcstValue": str(value),
                    "nx": int(query.get("nx", 60)), "ny": int(query.get("ny", 127)),
                })
    return items


def mid(query: dict[str, str]) -> list[dict]:
    issued = dt.datetime.strptime(query["tmFc"][:8], "%Y%m%d").date()
    item: dict = {"regId": query.get("regId", "11B00000")}
    for n in range(4, 11):
        phrase = PHRASES[(issued + dt.timedelta(days=n)).toordinal() % len(PHRASES)]
        if n <= 7:
            item[f"wf{n}Am"] = item[f"wf{n}Pm"] = phrase
        else:
            item[f"wf{n}"] = phrase
    return [item]


class Handler(BaseHTTPRequestHandler):
    key = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if query.get("serviceKey") != self.key:
            return self.send(200, "text/xml;charset=UTF-8", BAD_KEY)
        if url.path.endswith("/VilageFcstInfoService_2.0/getVilageFcst"):
            items = village(query)
        elif url.path.endswith("/MidFcstInfoService/getMidLandFcst"):
            items = mid(query)
        else:
            return self.send(404, "text/plain", "not found")
        page, rows = int(query.get("pageNo", 1)), int(query.get("numOfRows", 10))
        body = {"response": {"header": {"resultCode": "00", "resultMsg": "NORMAL_SERVICE"}, "body": {
            "dataType": "JSON", "items": {"item": items[(page - 1) * rows:page * rows]},
            "pageNo": page, "numOfRows": rows, "totalCount": len(items)}}}
        self.send(200, "application/json;charset=UTF-8", json.dumps(body, ensure_ascii=False))

    def send(self, status: int, content_type: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # the query holds the key: log nothing
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    Handler.key = args.key
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file, "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
