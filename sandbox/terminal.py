"""A stand-in for a Hikvision face terminal (DS-K1T series) speaking ISAPI, for `make run`, the tests and
integrators: ``python -m sandbox.terminal --port 8091 [--username admin --password ...] [--capacity 500]
[--face-capacity N] [--event-capacity 100000] [--heartbeat SECONDS]``.

A small threaded HTTP server with its state in memory and no Django. It asks for HTTP Digest authentication
(RFC 7616, MD5, qop=auth) as the terminals do, answers the ISAPI calls the portal makes with the checks a terminal
makes (employeeNo, name, validity times, the face JPEG, capacities) and ISAPI's error JSON, shows what it holds on
a page at ``/``, and plays people passing: each pass is kept for the event search (``AcsEvent``) and posted, as
multipart with the capture, to the configured event host. It plays the other party: its checks are written from
the ISAPI shapes on their own (it imports none of the portal's code), so that it catches the driver's mistakes.

Control API (JSON, no authentication):

- ``GET /_sandbox/people``, ``GET /_sandbox/events``, ``GET /_sandbox/state`` (event host, faults, counts)
- ``POST /_sandbox/faults`` ``{"offline": true | "503" | false, "slow": 2.5, "refuse": {"E1": "faceQualityLow"} or
  ["E1", ...], "reboot_empty": true, "picture_origin": "http://localhost:8091"}``: ``offline`` drops every ISAPI
  connection unanswered (true) or answers 503; ``slow`` waits that many seconds before each ISAPI answer;
  ``refuse`` refuses those people's faces with a face-quality subStatusCode; ``reboot_empty`` forgets everyone
  and every face at once (a terminal reset), ``picture_origin`` makes event pictureURLs name another origin
- ``POST /_sandbox/pass`` ``{"employeeNo": "E1", "picture": true}``: a person passes (an unknown or expired one
  makes a "face not matched" event); answers the event and what the push got
- ``POST /_sandbox/heartbeat`` posts a heartBeat to the event host; ``POST /_sandbox/reset`` forgets everything
- ``GET /_sandbox/faces/<employeeNo>.jpg`` a held face (the page's thumbnails)
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import os
import re
import secrets
import threading
import time
import traceback
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from PIL import Image, ImageDraw

from sandbox.http import ControlClient, drop_connection, make_threaded_server, serve

REALM = "DS-K1T671M"  # terminals name their model as the Digest realm
MODEL, FIRMWARE = "DS-K1T671M", "V3.2.30 build 220426"
NONCE_LIFETIME = 300.0  # seconds; then the client is answered 401 with stale=true and signs again
MAX_BODY = 8 * 2**20
MAX_PUSHES = 1000  # the pushes remembered for the page and /_sandbox/state
FACE_MAX_BYTES = 200 * 1000  # "≤ 200KB" in the terminal's face import rules
FACE_MIN_SIDE = 80  # below this no face can be modelled
MAX_RESULTS = 30  # a search page holds at most 30, whatever maxResults asks
NAME_MAX_BYTES = 32  # UserInfo name: a 32-byte field on the device (about 10 Chinese characters in UTF-8)
EMPLOYEE_NO_MAX = 32
LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
LOCAL_TZ = timezone(timedelta(hours=8))  # the terminal's clock: China Standard Time
FACE_PASS, FACE_FAIL = 75, 76  # AcsEvent minors (major 5): face authentication passed / not matched
PICTURE_RE = re.compile(r"^/LOCALS/pic/acsLinkCap/(\d+)\.jpg$")
FACE_RE = re.compile(r"^/_sandbox/faces/([^/]+)\.jpg$")
BOUNDARY = "MIME_boundary"  # what the terminals use in their event pushes


class State:
    def __init__(self, username: str, password: str, capacity: int, face_capacity: int,
                 event_capacity: int = 100_000) -> None:
        self.lock = threading.Lock()
        self.username, self.password = username, password
        self.capacity, self.face_capacity, self.event_capacity = capacity, face_capacity, event_capacity
        self.public_url = ""  # set by make_server: pictureURLs name it
        self.serial_number = f"DS-K1T671M20260101V0{secrets.randbelow(10**6):06d}"
        self.reset()

    def reset(self) -> None:
        self.people: dict[str, dict] = {}
        self.faces: dict[str, bytes] = {}
        self.events: list[dict] = []
        self.pictures: dict[int, bytes] = {}
        self.next_serial = 1
        self.http_host: dict | None = None
        self.pushes: list[dict] = []
        self.nonces: dict[str, float] = {}
        self.seen: set[tuple[str, str, str]] = set()
        self.offline: bool | str = False
        self.slow = 0.0
        self.refuse: dict[str, str] = {}
        self.picture_origin = ""
        self.auth_failures = 0


class Refusal(Exception):
    """An ISAPI refusal: the HTTP status and the error JSON's fields."""

    def __init__(self, sub_status: str, message: str, *, status_code: int = 6, http: int = 400) -> None:
        super().__init__(message)
        self.sub_status, self.message, self.status_code, self.http = sub_status, message, status_code, http

    def body(self) -> dict:
        strings = {3: "Device Error", 4: "Invalid Operation", 6: "Invalid Content"}
        return {"statusCode": self.status_code, "statusString": strings.get(self.status_code, "Invalid Content"),
                "subStatusCode": self.sub_status, "errorCode": 0x60000000 + self.status_code,
                "errorMsg": self.message}


def ok_body() -> dict:
    return {"statusCode": 1, "statusString": "OK", "subStatusCode": "ok"}


# --- digest (the server side of RFC 7616) ---------------------------------------------------------

def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # Digest MD5: what the terminals speak


def parse_digest(header: str) -> dict[str, str]:
    """The parameters of an ``Authorization: Digest ...`` header (quoted values may hold commas)."""
    if not header.lower().startswith("digest "):
        return {}
    params = {}
    for match in re.finditer(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', header[7:]):
        params[match.group(1).lower()] = match.group(2) if match.group(2) is not None else match.group(3)
    return params


def check_digest(state: State, method: str, path: str, header: str) -> str:
    """"" when the request is signed right; otherwise why not ("stale" when only the nonce is too old)."""
    params = parse_digest(header)
    needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
    if any(name not in params for name in needed):
        return "missing"
    if params["username"] != state.username or params["realm"] != REALM or params["qop"] != "auth":
        return "bad"
    if params["uri"] != path or params.get("algorithm", "MD5").upper() != "MD5":
        return "bad"
    issued = state.nonces.get(params["nonce"])
    if issued is None:
        return "bad"
    ha1 = _md5(f"{state.username}:{REALM}:{state.password}")
    ha2 = _md5(f"{method}:{params['uri']}")
    expected = _md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    if not secrets.compare_digest(expected, params["response"].lower()):
        return "bad"
    if time.monotonic() - issued > NONCE_LIFETIME:
        return "stale"
    key = (params["nonce"], params["cnonce"], params["nc"])
    if key in state.seen:  # a replayed request
        return "bad"
    state.seen.add(key)
    return ""


# --- checks -----------------------------------------------------------------------------------------

def _local_time(value: object, field: str) -> datetime:
    """A UserInfo Valid time: local wall time without offset (timeType local), in ISAPI's 1970..2037."""
    if not isinstance(value, str) or not LOCAL_RE.match(value):
        raise Refusal("badParameters", f"{field}: 须为 YYYY-MM-DDThh:mm:ss（本地时间，不带时区）")
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise Refusal("badParameters", f"{field}: 不是有效的时间") from exc
    if not 1970 <= moment.year <= 2037:
        raise Refusal("badParameters", f"{field}: 年份须在 1970 到 2037 之间")
    return moment


def _offset_time(value: object, field: str) -> datetime:
    if not isinstance(value, str) or not OFFSET_RE.match(value):
        raise Refusal("badParameters", f"{field}: 须为 YYYY-MM-DDThh:mm:ss+08:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise Refusal("badParameters", f"{field}: 不是有效的时间") from exc


def check_user(info: object) -> dict:
    """A UserInfo as the terminal takes it; Refusal with the terminal's reason otherwise."""
    if not isinstance(info, dict):
        raise Refusal("badJsonContent", "UserInfo 须为对象")
    number = info.get("employeeNo")
    if not isinstance(number, str) or not number.strip():
        raise Refusal("employeeNoError", "employeeNo 必填")
    if len(number) > EMPLOYEE_NO_MAX:
        raise Refusal("employeeNoError", f"employeeNo 超过 {EMPLOYEE_NO_MAX} 个字符")
    name = info.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Refusal("nameError", "name 必填")
    if len(name.encode()) > NAME_MAX_BYTES:
        raise Refusal("nameError", f"name 超过 {NAME_MAX_BYTES} 字节")
    if info.get("userType") not in ("normal", "visitor", "blackList"):
        raise Refusal("badParameters", "userType 须为 normal、visitor 或 blackList")
    valid = info.get("Valid")
    if not isinstance(valid, dict) or not isinstance(valid.get("enable"), bool):
        raise Refusal("badParameters", "Valid.enable 必填（true/false）")
    if valid.get("timeType", "local") != "local":
        raise Refusal("badParameters", "Valid.timeType 只支持 local")
    begin = _local_time(valid.get("beginTime"), "Valid.beginTime")
    end = _local_time(valid.get("endTime"), "Valid.endTime")
    if end < begin:
        raise Refusal("badParameters", "Valid.endTime 早于 beginTime")
    door_right = info.get("doorRight", "1")
    if not isinstance(door_right, str) or not re.fullmatch(r"\d+(,\d+)*", door_right):
        raise Refusal("badParameters", "doorRight 须为门号字符串，如 \"1\"")
    plans = info.get("RightPlan", [])
    if not isinstance(plans, list) or not all(
            isinstance(p, dict) and isinstance(p.get("doorNo"), int) for p in plans):
        raise Refusal("badParameters", "RightPlan 须为 [{\"doorNo\": 1, \"planTemplateNo\": \"1\"}]")
    return {"employeeNo": number, "name": name, "userType": info["userType"],
            "Valid": {"enable": valid["enable"], "beginTime": valid["beginTime"], "endTime": valid["endTime"],
                      "timeType": "local"},
            "doorRight": door_right, "RightPlan": plans or [{"doorNo": 1, "planTemplateNo": "1"}]}


def check_face(jpeg: bytes) -> None:
    if not jpeg:
        raise Refusal("noPicture", "缺少人脸图片（img 部分）")
    if len(jpeg) > FACE_MAX_BYTES:
        raise Refusal("pictureSizeExceed", f"图片 {len(jpeg)} 字节，超过 200KB")
    try:
        with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as image:
            image.load()
            width, height = image.size
    except Exception as exc:
        raise Refusal("pictureDecodeFailed", "图片不是可解码的 JPEG") from exc
    if min(width, height) < FACE_MIN_SIDE:
        raise Refusal("faceQualityLow", f"{width}x{height}：图片太小，无法建模")


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """Parts of a multipart/form-data body by name: (content type, bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise Refusal("badParameters", "须为 multipart/form-data")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise Refusal("badParameters", "multipart 正文无法解析")
    return {part.get_param("name", header="content-disposition") or "":
            (part.get_content_type(), part.get_payload(decode=True) or b"") for part in message.iter_parts()}


def face_record(parts: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    """(FPID, JPEG) of a FaceDataRecord / FDModify upload."""
    if "FaceDataRecord" not in parts:
        raise Refusal("badParameters", "缺少 FaceDataRecord 部分")
    try:
        record = json.loads(parts["FaceDataRecord"][1])
    except ValueError as exc:
        raise Refusal("badJsonFormat", "FaceDataRecord 不是 JSON") from exc
    if not isinstance(record, dict) or record.get("faceLibType") != "blackFD" or str(record.get("FDID")) != "1":
        raise Refusal("badParameters", "faceLibType 须为 blackFD，FDID 须为 1")
    fpid = record.get("FPID")
    if not isinstance(fpid, str) or not fpid:
        raise Refusal("badFPID", "FPID 必填（即 employeeNo）")
    images = [data for name, (kind, data) in parts.items() if name != "FaceDataRecord" and kind.startswith("image/")]
    if not images:
        raise Refusal("noPicture", "缺少人脸图片（image/jpeg 部分）")
    return fpid, images[0]


# --- what the terminal captures ---------------------------------------------------------------------

# The size of the captures it takes (--capture-size). A DS-K1T's event picture follows its capture settings; the
# city wants at least 800x600 of a face panel, so a terminal feeding the portal is set to 720p or more.
CAPTURE_SIZE = (1280, 720)


def capture(serial: int) -> bytes:
    """A generated capture of someone at the door (a drawn head, colours by ``serial``), CAPTURE_SIZE."""
    width, height = CAPTURE_SIZE
    image = Image.new("RGB", (width, height), (40 + serial * 37 % 180, 90, 140))
    draw = ImageDraw.Draw(image)
    cx, cy, unit = width // 2, height // 2, min(width, height) // 6
    draw.ellipse((cx - unit, cy - 2 * unit, cx + unit, cy + unit // 2), fill=(230, 190, 160))
    draw.rectangle((cx - 3 * unit // 2, cy + unit, cx + 3 * unit // 2, height), fill=(50 + serial * 53 % 150, 60, 80))
    draw.text((10, 10), f"#{serial}", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def now_local() -> datetime:
    return datetime.now(LOCAL_TZ).replace(microsecond=0)


def multipart_push(log: dict, picture: bytes | None) -> bytes:
    """An event push as the terminals post it: the event_log JSON part and the capture."""
    parts = [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"event_log\"\r\n"
             f"Content-Type: application/json\r\n\r\n".encode() + json.dumps(log, ensure_ascii=False).encode()]
    if picture:
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"Picture\"; filename=\"Picture.jpg\"\r\n"
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + picture)
    return b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode()


# --- the server -------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "App-webs/"  # what the terminals' web server calls itself
    state: State  # set on the subclass made by make_server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise Refusal("badParameters", "请求体过大", http=413)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: object, content_type: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close the connection with no answer at all (a terminal that is off the network)."""
        drop_connection(self)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        try:
            body = self._body()  # read first: a 401 must not leave a body in the kept-alive connection
        except Refusal as refusal:
            self.close_connection = True
            return self._send(refusal.http, refusal.body())
        url = urlsplit(self.path)
        if url.path.startswith("/_sandbox/") or url.path == "/":
            return self._control(method, url.path, body)
        state = self.state
        with state.lock:
            offline, slow = state.offline, state.slow
        if offline is True:
            return self._drop()
        if offline:
            return self._send(503, b"<html>Service Unavailable</html>", "text/html")
        if slow:
            time.sleep(slow)
        if not self._authorized(method):
            return None
        try:
            self._isapi(method, url.path, parse_qs(url.query), body)
        except Refusal as refusal:
            self._send(refusal.http, refusal.body())
        except Exception:  # a bug of the simulator: say so in its log, and answer as a failing terminal does
            traceback.print_exc()
            self._send(500, Refusal("deviceError", "沙箱内部错误", status_code=3, http=500).body())

    def _authorized(self, method: str) -> bool:
        state = self.state
        with state.lock:
            verdict = check_digest(state, method, self.path, self.headers.get("Authorization") or "")
            if not verdict:
                return True
            if verdict == "bad":
                state.auth_failures += 1
            nonce = secrets.token_hex(16)
            state.nonces[nonce] = now = time.monotonic()
            # Forget nonces long past stale (and what was seen under them): a long run keeps a bounded state.
            expired = {n for n, issued in state.nonces.items() if now - issued > 2 * NONCE_LIFETIME}
            if expired:
                state.nonces = {n: t for n, t in state.nonces.items() if n not in expired}
                state.seen = {key for key in state.seen if key[0] not in expired}
        challenge = (f'Digest qop="auth", realm="{REALM}", nonce="{nonce}", opaque="{secrets.token_hex(8)}", '
                     f'algorithm=MD5' + (", stale=true" if verdict == "stale" else ""))
        self._send(401, {"statusCode": 4, "statusString": "Invalid Operation", "subStatusCode": "unauthorized",
                         "errorMsg": "需要 Digest 认证"}, headers={"WWW-Authenticate": challenge})
        return False

    def _json(self, body: bytes) -> dict:
        if "format=json" not in (urlsplit(self.path).query or ""):
            raise Refusal("badParameters", "须带 ?format=json")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise Refusal("badJsonFormat", "请求体不是 JSON") from exc
        if not isinstance(data, dict):
            raise Refusal("badJsonFormat", "请求体须为 JSON 对象")
        return data

    def _isapi(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        routes = {
            ("GET", "/ISAPI/System/deviceInfo"): lambda: self._device_info(),
            ("POST", "/ISAPI/AccessControl/UserInfo/Search"): lambda: self._search_users(self._json(body)),
            ("POST", "/ISAPI/AccessControl/UserInfo/Record"): lambda: self._record_user(self._json(body)),
            ("PUT", "/ISAPI/AccessControl/UserInfo/Modify"): lambda: self._modify_user(self._json(body)),
            ("PUT", "/ISAPI/AccessControl/UserInfo/Delete"): lambda: self._delete_users(self._json(body)),
            ("POST", "/ISAPI/Intelligent/FDLib/FaceDataRecord"): lambda: self._face(body, replace=False),
            ("PUT", "/ISAPI/Intelligent/FDLib/FDModify"): lambda: self._face(body, replace=True),
            ("PUT", "/ISAPI/Intelligent/FDLib/FDSearch/Delete"): lambda: self._delete_faces(query, self._json(body)),
            ("PUT", "/ISAPI/Event/notification/httpHosts"): lambda: self._set_http_host(self._json(body)),
            ("GET", "/ISAPI/Event/notification/httpHosts"): lambda: self._get_http_host(),
            ("POST", "/ISAPI/AccessControl/AcsEvent"): lambda: self._search_events(self._json(body)),
        }
        if (match := PICTURE_RE.match(path)) and method == "GET":
            return self._picture(int(match.group(1)))
        route = routes.get((method, path))
        if route is None:
            raise Refusal("notSupport", f"不支持 {method} {path}", status_code=4, http=404)
        answer = route()
        self._send(200, answer if answer is not None else ok_body())

    def _device_info(self) -> None:
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
               f'<DeviceInfo version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">'
               f"<deviceName>沙箱人脸门禁</deviceName><deviceID>{self.state.serial_number[-8:]}</deviceID>"
               f"<model>{MODEL}</model><serialNumber>{self.state.serial_number}</serialNumber>"
               f"<macAddress>44:19:b6:00:00:01</macAddress><firmwareVersion>{FIRMWARE.split()[0]}</firmwareVersion>"
               f"<firmwareReleasedDate>{FIRMWARE.split()[-1]}</firmwareReleasedDate>"
               f"<deviceType>ACS</deviceType></DeviceInfo>")
        self._send(200, xml.encode(), "application/xml; charset=UTF-8")

    # people
    @staticmethod
    def _page(cond: object, items: list) -> tuple[list, int, str]:
        """One page of a search: (items, position, responseStatusStrg)."""
        if not isinstance(cond, dict) or not isinstance(cond.get("searchID"), str) or not cond["searchID"]:
            raise Refusal("badParameters", "searchID 必填")
        position, wanted = cond.get("searchResultPosition"), cond.get("maxResults")
        if not isinstance(position, int) or position < 0 or not isinstance(wanted, int) or wanted < 1:
            raise Refusal("badParameters", "searchResultPosition ≥ 0、maxResults ≥ 1 必填（整数）")
        page = items[position:position + min(wanted, MAX_RESULTS)]
        if not items or not page:
            return [], position, "NO MATCH"
        return page, position, "MORE" if position + len(page) < len(items) else "OK"

    @staticmethod
    def _answer(cond: dict, status: str, items: tuple[str, list], total: int) -> dict:
        """A search answer: the list (named ``items[0]``) only when the page has something, as terminals answer."""
        answer: dict = {"searchID": cond["searchID"], "responseStatusStrg": status, "numOfMatches": len(items[1]),
                        "totalMatches": total}
        if items[1]:
            answer[items[0]] = items[1]
        return answer

    def _search_users(self, data: dict) -> dict:
        state = self.state
        cond = data.get("UserInfoSearchCond")
        with state.lock:
            people = sorted(state.people.values(), key=lambda p: p["employeeNo"])
            page, _, status = self._page(cond, people)
            users = [{**p, "numOfFace": 1 if p["employeeNo"] in state.faces else 0, "numOfCard": 0} for p in page]
        return {"UserInfoSearch": self._answer(cond, status, ("UserInfo", users), len(people))}

    def _record_user(self, data: dict) -> None:
        user = check_user(data.get("UserInfo"))
        state = self.state
        with state.lock:
            if user["employeeNo"] in state.people:
                raise Refusal("employeeNoAlreadyExist", f"employeeNo {user['employeeNo']} 已存在")
            if len(state.people) >= state.capacity:
                raise Refusal("userFull", f"人员已满（{state.capacity}）", status_code=4)
            state.people[user["employeeNo"]] = user

    def _modify_user(self, data: dict) -> None:
        user = check_user(data.get("UserInfo"))
        state = self.state
        with state.lock:
            if user["employeeNo"] not in state.people:
                raise Refusal("employeeNoNotExist", f"employeeNo {user['employeeNo']} 不存在")
            state.people[user["employeeNo"]] = user

    def _delete_users(self, data: dict) -> None:
        cond = data.get("UserInfoDelCond")
        numbers = cond.get("EmployeeNoList") if isinstance(cond, dict) else None
        if not isinstance(numbers, list) or not numbers or not all(
                isinstance(n, dict) and isinstance(n.get("employeeNo"), str) for n in numbers):
            raise Refusal("badParameters", "UserInfoDelCond.EmployeeNoList 须为 [{\"employeeNo\": ...}]")
        with self.state.lock:
            for item in numbers:  # absent ones are skipped, as the terminals do
                self.state.people.pop(item["employeeNo"], None)
                self.state.faces.pop(item["employeeNo"], None)

    # faces
    def _face(self, body: bytes, *, replace: bool) -> None:
        if "format=json" not in (urlsplit(self.path).query or ""):
            raise Refusal("badParameters", "须带 ?format=json")
        fpid, jpeg = face_record(parse_multipart(self.headers.get("Content-Type") or "", body))
        state = self.state
        with state.lock:
            if fpid not in state.people:
                raise Refusal("badFPID", f"FPID {fpid} 没有对应的人员")
            refused = state.refuse.get(fpid)
            has_face = fpid in state.faces
        check_face(jpeg)
        if refused:
            raise Refusal(refused, "人脸质量不合格（沙箱注入）")
        with state.lock:
            if not replace and has_face:
                raise Refusal("deviceUserAlreadyExistFace", f"{fpid} 已有人脸", status_code=4)
            if replace and not has_face:
                raise Refusal("noFace", f"{fpid} 还没有人脸", status_code=4)
            if not has_face and len(state.faces) >= state.face_capacity:
                raise Refusal("faceLibraryFull", f"人脸库已满（{state.face_capacity}）", status_code=4)
            state.faces[fpid] = jpeg

    def _delete_faces(self, query: dict[str, list[str]], data: dict) -> None:
        if query.get("FDID") != ["1"] or query.get("faceLibType") != ["blackFD"]:
            raise Refusal("badParameters", "须带 FDID=1&faceLibType=blackFD")
        fpids = data.get("FPID")
        if not isinstance(fpids, list) or not fpids or not all(
                isinstance(f, dict) and isinstance(f.get("value"), str) for f in fpids):
            raise Refusal("badParameters", "FPID 须为 [{\"value\": ...}]")
        with self.state.lock:
            for item in fpids:
                self.state.faces.pop(item["value"], None)

    # events
    def _set_http_host(self, data: dict) -> None:
        hosts = data.get("HttpHostNotificationList")
        if not isinstance(hosts, list) or len(hosts) != 1 or not isinstance(hosts[0], dict):
            raise Refusal("badParameters", "HttpHostNotificationList 须为一项的列表")
        host = hosts[0].get("HttpHostNotification")
        if not isinstance(host, dict):
            raise Refusal("badParameters", "缺少 HttpHostNotification")
        url, port = host.get("url"), host.get("portNo")
        if not isinstance(url, str) or not url.startswith("/"):
            raise Refusal("badParameters", "url 须为以 / 开头的路径")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise Refusal("badParameters", "portNo 须为 1-65535 的整数")
        if host.get("protocolType") not in ("HTTP", "HTTPS") or host.get("parameterFormatType") not in ("JSON", "XML"):
            raise Refusal("badParameters", "protocolType 须为 HTTP/HTTPS，parameterFormatType 须为 JSON/XML")
        address_kind = host.get("addressingFormatType")
        address = host.get("ipAddress") if address_kind == "ipaddress" else host.get("hostName")
        if address_kind not in ("ipaddress", "hostname") or not isinstance(address, str) or not address:
            raise Refusal("badParameters", "addressingFormatType 须为 ipaddress（带 ipAddress）或 hostname（带 hostName）")
        with self.state.lock:
            self.state.http_host = dict(host)

    def _get_http_host(self) -> dict:
        with self.state.lock:
            host = self.state.http_host
        return {"HttpHostNotificationList": [{"HttpHostNotification": host}] if host else []}

    def _search_events(self, data: dict) -> dict:
        cond = data.get("AcsEventCond")
        if not isinstance(cond, dict):
            raise Refusal("badParameters", "缺少 AcsEventCond")
        start = _offset_time(cond.get("startTime"), "startTime")
        end = _offset_time(cond.get("endTime"), "endTime")
        major, minor = cond.get("major", 0), cond.get("minor", 0)
        if not isinstance(major, int) or not isinstance(minor, int):
            raise Refusal("badParameters", "major、minor 须为整数")
        state = self.state
        with state.lock:
            matches = [e for e in state.events if start <= datetime.fromisoformat(e["time"]) <= end
                       and major in (0, e["major"]) and minor in (0, e["minor"])]
            origin = state.picture_origin or state.public_url
        page, _, status = self._page(cond, matches)
        infos = [{**{k: v for k, v in e.items() if k != "pictured"},
                  **({"pictureURL": f"{origin}/LOCALS/pic/acsLinkCap/{e['serialNo']}.jpg"} if e["pictured"] else {})}
                 for e in page]
        return {"AcsEvent": self._answer(cond, status, ("InfoList", infos), len(matches))}

    def _picture(self, serial: int) -> None:
        with self.state.lock:
            picture = self.state.pictures.get(serial)
        if picture is None:
            raise Refusal("noPicture", "图片不存在", status_code=4, http=404)
        self._send(200, picture, "image/jpeg")

    # control API and page
    def _control(self, method: str, path: str, body: bytes) -> None:
        state = self.state
        if method == "GET":
            if path == "/":
                return self._send(200, self._page_html().encode(), "text/html; charset=utf-8")
            if (match := FACE_RE.match(path)):
                with state.lock:
                    face = state.faces.get(unquote(match.group(1)))
                return self._send(200, face, "image/jpeg") if face else self._send(404, {"error": "未找到"})
            with state.lock:
                views = {"/_sandbox/people": lambda: {"people": self._people_view()},
                         "/_sandbox/events": lambda: {"events": list(state.events)},
                         "/_sandbox/state": lambda: self._state_view()}
                if path in views:
                    return self._send(200, views[path]())
            return self._send(404, {"error": "未找到"})
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return self._send(400, {"error": "请求体不是 JSON"})
        if not isinstance(data, dict):
            return self._send(400, {"error": "请求体须为 JSON 对象"})
        actions = {"/_sandbox/faults": self._faults, "/_sandbox/pass": self._pass,
                   "/_sandbox/heartbeat": lambda _: heartbeat(state), "/_sandbox/reset": self._reset}
        if path not in actions:
            return self._send(404, {"error": "未找到"})
        try:
            self._send(200, actions[path](data))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})

    def _people_view(self) -> list[dict]:
        state = self.state
        return [{**p, "hasFace": p["employeeNo"] in state.faces,
                 "faceBytes": len(state.faces.get(p["employeeNo"], b""))}
                for p in sorted(state.people.values(), key=lambda p: p["employeeNo"])]

    def _state_view(self) -> dict:
        state = self.state
        return {"httpHost": state.http_host, "people": len(state.people), "faces": len(state.faces),
                "events": len(state.events), "capacity": state.capacity, "faceCapacity": state.face_capacity,
                "faults": {"offline": state.offline, "slow": state.slow, "refuse": state.refuse,
                           "picture_origin": state.picture_origin},
                "pushes": state.pushes[-50:], "authFailures": state.auth_failures}

    def _reset(self, _: dict) -> dict:
        with self.state.lock:
            self.state.reset()
        return {"reset": True}

    def _faults(self, data: dict) -> dict:
        state = self.state
        refuse = data.get("refuse", None)
        if isinstance(refuse, list):
            refuse = {str(number): "faceQualityLow" for number in refuse}
        if refuse is not None and not isinstance(refuse, dict):
            raise ValueError("refuse 须为 employeeNo 列表或 {employeeNo: subStatusCode}")
        with state.lock:
            if "offline" in data:
                offline = data["offline"]
                state.offline = "503" if str(offline) == "503" else bool(offline)
            if "slow" in data:
                state.slow = max(0.0, float(data["slow"] or 0))
            if refuse is not None:
                state.refuse = {str(k): str(v) for k, v in refuse.items()}
            if "picture_origin" in data:
                state.picture_origin = str(data["picture_origin"] or "").rstrip("/")
            if data.get("reboot_empty"):
                state.people.clear()
                state.faces.clear()
            return self._state_view()["faults"]

    def _pass(self, data: dict) -> dict:
        """A person at the door: an event kept for the search and pushed to the event host."""
        number = str(data.get("employeeNo") or "")
        state = self.state
        moment = now_local()
        with state.lock:
            person = state.people.get(number)
            known = person is not None and number in state.faces and person["Valid"]["enable"] and (
                person["Valid"]["beginTime"] <= moment.strftime("%Y-%m-%dT%H:%M:%S") <= person["Valid"]["endTime"])
            serial = state.next_serial
            state.next_serial += 1
            picture = capture(serial) if data.get("picture", True) else None
            event = {"major": 5, "minor": FACE_PASS if known else FACE_FAIL, "time": moment.isoformat(),
                     "cardReaderNo": 1, "doorNo": 1, "serialNo": serial, "userType": "normal",
                     "currentVerifyMode": "face", "mask": "no", "pictured": picture is not None,
                     **({"employeeNoString": number, "name": person["name"]} if known else {})}
            state.events.append(event)
            if picture:
                state.pictures[serial] = picture
            # A terminal keeps a ring of events: past its capacity the oldest (and its capture) are overwritten.
            while len(state.events) > state.event_capacity:
                state.pictures.pop(state.events.pop(0)["serialNo"], None)
        return {"event": event, "push": push(state, event_log(state, event), picture)}

    def _page_html(self) -> str:
        state = self.state
        with state.lock:
            people = self._people_view()
            events = list(state.events[-100:])
            host = state.http_host
            pushes = list(state.pushes[-20:])
            counts = (len(state.people), state.capacity, len(state.faces), state.face_capacity)
        rows = "".join(
            f"<tr><td>{html.escape(p['employeeNo'])}</td><td>{html.escape(p['name'])}</td>"
            f"<td>{html.escape(p['Valid']['beginTime'])} 至 {html.escape(p['Valid']['endTime'])}</td>"
            f"<td>{_thumbnail(p)}</td><td><button type=button data-pass=\"{html.escape(p['employeeNo'])}\">刷脸通行"
            f"</button></td></tr>" for p in people)
        event_rows = "".join(
            f"<tr><td>{e['serialNo']}</td><td>{html.escape(e['time'])}</td>"
            f"<td>{'认证通过' if e['minor'] == FACE_PASS else '比对失败'}</td>"
            f"<td>{html.escape(e.get('employeeNoString', '—'))}</td><td>{html.escape(e.get('name', ''))}</td></tr>"
            for e in reversed(events))
        push_rows = "".join(f"<li>{html.escape(str(p.get('at')))} {html.escape(str(p.get('status')))} "
                            f"{html.escape(str(p.get('error') or ''))}</li>" for p in reversed(pushes))
        target = html.escape(f"{host.get('ipAddress') or host.get('hostName')}:{host['portNo']}{host['url']}"
                             if host else "未配置")
        return (
            "<!doctype html><html lang=zh-CN><meta charset=utf-8><title>沙箱人脸门禁终端</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px}"
            "table{border-collapse:collapse}</style>"
            f"<h1>沙箱人脸门禁终端（{MODEL}）</h1>"
            f"<p>人员 {counts[0]}/{counts[1]}，人脸 {counts[2]}/{counts[3]}；事件上传地址：{target}</p>"
            f"<h2>终端上的人员</h2><table id=people><tr><th>工号</th><th>姓名</th><th>有效期</th><th>人脸</th>"
            f"<th>模拟</th></tr>{rows or '<tr><td colspan=5>暂无</td></tr>'}</table>"
            f"<h2>通行事件（最近 100 条）</h2><table id=events><tr><th>流水号</th><th>时间</th><th>结果</th>"
            f"<th>工号</th><th>姓名</th></tr>{event_rows or '<tr><td colspan=5>暂无</td></tr>'}</table>"
            f"<h2>事件上传</h2><ul id=pushes>{push_rows or '<li>暂无</li>'}</ul>"
            # 刷脸通行: someone at the door, as POST /_sandbox/pass does; the page then shows the event and its push.
            "<script>document.addEventListener('click',function(e){var b=e.target.closest('button[data-pass]');"
            "if(!b){return;}b.disabled=true;fetch('/_sandbox/pass',{method:'POST',headers:{'Content-Type':"
            "'application/json'},body:JSON.stringify({employeeNo:b.getAttribute('data-pass')})})"
            ".then(function(){location.reload();});});</script>")


def event_log(state: State, event: dict) -> dict:
    """The JSON of an access event's push, as the terminals post it."""
    host = urlsplit(state.public_url)
    inner = {"deviceName": "沙箱人脸门禁", "majorEventType": event["major"], "subEventType": event["minor"],
             "cardReaderNo": 1, "doorNo": 1, "serialNo": event["serialNo"], "userType": "normal",
             "currentVerifyMode": "face", "attendanceStatus": "undefined", "mask": "no",
             "picturesNumber": 1 if event["pictured"] else 0}
    if "employeeNoString" in event:
        inner.update(employeeNoString=event["employeeNoString"], name=event["name"])
    return {"ipAddress": host.hostname, "portNo": host.port, "protocol": "HTTP", "channelID": 1,
            "macAddress": "44:19:b6:00:00:01", "dateTime": event["time"], "activePostCount": 1,
            "eventType": "AccessControllerEvent", "eventState": "active",
            "eventDescription": "Access Controller Event", "AccessControllerEvent": inner}


def heartbeat(state: State) -> dict:
    """Post a heartBeat to the event host (the terminals send one periodically)."""
    host = urlsplit(state.public_url)
    log = {"ipAddress": host.hostname, "portNo": host.port, "protocol": "HTTP", "dateTime": now_local().isoformat(),
           "activePostCount": 0, "eventType": "heartBeat", "eventState": "active", "eventDescription": "heartBeat"}
    return {"push": push(state, log, None)}


def push(state: State, log: dict, picture: bytes | None) -> dict:
    """POST the event to the configured host; a failure leaves it searchable only, as on a terminal."""
    with state.lock:
        host = state.http_host
    if not host:
        result: dict = {"status": None, "error": "未配置事件上传地址"}
    else:
        address = host.get("ipAddress") or host.get("hostName")
        url = f"{host['protocolType'].lower()}://{address}:{host['portNo']}{host['url']}"
        if host.get("parameterFormatType") == "JSON" and picture is None:
            body, kind = json.dumps(log, ensure_ascii=False).encode(), "application/json; charset=utf-8"
        else:
            body, kind = multipart_push(log, picture), f"multipart/form-data; boundary={BOUNDARY}"
        result = {"url": url, **post(url, body, kind)}
    result["at"] = now_local().isoformat()
    with state.lock:
        state.pushes = [*state.pushes[-(MAX_PUSHES - 1):], result]
    return result


def heartbeats(state: State, every: float) -> None:
    """Forever: a heartBeat every ``every`` seconds while an event host is configured (a daemon thread)."""
    while True:
        time.sleep(every)
        with state.lock:
            configured = state.http_host is not None and not state.offline
        if configured:
            heartbeat(state)


def _thumbnail(person: dict) -> str:
    if not person["hasFace"]:
        return "无"
    return f'<img src="/_sandbox/faces/{quote(person["employeeNo"])}.jpg" height=64 alt="人脸">'


def post(url: str, body: bytes, content_type: str) -> dict:
    """POST to the event host: {"status": ...} or {"status": None, "error": ...}."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return {"status": response.status}
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return {"status": exc.code}
    except OSError as exc:
        return {"status": None, "error": f"无法连接事件上传地址：{exc}"}


def make_server(host: str, port: int, username: str, password: str, capacity: int,
                face_capacity: int, event_capacity: int = 100_000) -> ThreadingHTTPServer:
    state = State(username, password, capacity, face_capacity, event_capacity)
    # pictureURLs and the pushes' ipAddress name the server's public URL.
    server, state.public_url = make_threaded_server(
        host, port, type("SandboxTerminalHandler", (Handler,), {"state": state}))
    return server


class SandboxTerminalClient(ControlClient):
    """The control API from Python (tests, scripts)."""

    def people(self) -> list[dict]:
        return self._call("GET", "/_sandbox/people")["people"]

    def events(self) -> list[dict]:
        return self._call("GET", "/_sandbox/events")["events"]

    def state(self) -> dict:
        return self._call("GET", "/_sandbox/state")

    def faults(self, **faults: object) -> dict:
        """offline=True|"503"|False, slow=seconds, refuse=[...] or {...}, reboot_empty=True, picture_origin=URL."""
        return self._call("POST", "/_sandbox/faults", faults)

    def pass_(self, employee_no: str, picture: bool = True) -> dict:
        return self._call("POST", "/_sandbox/pass", {"employeeNo": employee_no, "picture": picture})

    def heartbeat(self) -> dict:
        return self._call("POST", "/_sandbox/heartbeat", {})

    def reset(self) -> dict:
        return self._call("POST", "/_sandbox/reset", {})


def main(argv: list[str] | None = None) -> None:
    global CAPTURE_SIZE
    parser = argparse.ArgumentParser(prog="python -m sandbox.terminal", description=(
        "Run a stand-in for a Hikvision ISAPI face terminal (DS-K1T) with fault injection, for development and "
        "tests."))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091, help="0 picks a free port (printed on start)")
    parser.add_argument("--username", default=os.environ.get("SANDBOX_TERMINAL_USERNAME", "admin"))
    parser.add_argument("--password", default=os.environ.get("SANDBOX_TERMINAL_PASSWORD", "sandbox-terminal-1"))
    parser.add_argument("--capacity", type=int, default=500, help="how many people it holds")
    parser.add_argument("--face-capacity", type=int, default=None, help="how many faces (default: --capacity)")
    parser.add_argument("--event-capacity", type=int, default=100_000,
                        help="how many events it keeps for the search (the oldest are overwritten)")
    parser.add_argument("--heartbeat", type=float, default=0.0,
                        help="seconds between heartBeat pushes to the event host (0: none)")
    parser.add_argument("--capture-size", default="1280x720", metavar="WxH",
                        help="the size of the captures sent with its events")
    options = parser.parse_args(argv)
    try:
        width, height = (int(n) for n in options.capture_size.lower().split("x"))
    except ValueError:
        parser.error("--capture-size: WIDTHxHEIGHT, e.g. 1280x720")
    CAPTURE_SIZE = (width, height)
    server = make_server(options.host, options.port, options.username, options.password, options.capacity,
                         options.face_capacity if options.face_capacity is not None else options.capacity,
                         options.event_capacity)
    if options.heartbeat > 0:
        threading.Thread(target=heartbeats, args=(server.RequestHandlerClass.state, options.heartbeat),
                         daemon=True).start()
    serve(server, "sandbox terminal")


if __name__ == "__main__":
    main()
