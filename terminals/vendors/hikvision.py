"""Hikvision face terminals (DS-K1T series, "MinMoe") over ISAPI: HTTP with Digest authentication, JSON bodies
(``?format=json``), the device information in XML.

What is called, and why, is in docs/terminals.md ("Hikvision ISAPI: what the driver calls"). The driver keeps no
state beyond its HTTP session; it never retries by itself (the reconciler and the gap fetch do, with backoff).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPDigestAuth

from .base import DeviceInfo, TerminalError, TerminalEvent, TerminalPerson

logger = logging.getLogger(__name__)

# The access-control event class (ISAPI "major" 5, MAJOR_EVENT in HCNetSDK) and, in it, the minors that mean "this
# person was authenticated and the door opened for them" (HCNetSDK's MINOR_* constants). Only these become passes;
# failures (76 face not matched, 9 invalid card, ...), alarms and door-state events do not.
MAJOR_EVENT = 5
PASS_MINORS = frozenset({
    1,  # 0x01 MINOR_LEGAL_CARD_PASS: a valid card
    2,  # 0x02 MINOR_CARD_AND_PSW_PASS: card and password
    38,  # 0x26 MINOR_FINGERPRINT_COMPARE_PASS: fingerprint
    40,  # 0x28 MINOR_CARD_FINGERPRINT_VERIFY_PASS: card and fingerprint
    75,  # 0x4b MINOR_FACE_VERIFY_PASS: face authentication passed
})
FACE_LIB = {"faceLibType": "blackFD", "FDID": "1"}  # the terminal's one face library ("blackFD" = the allow list)
PAGE = 30  # maxResults: DS-K1T firmware answers at most 30 per page whatever is asked
DELETE_BATCH = 30  # employeeNos per UserInfo/Delete call (keeps each body small; terminals cap the list)
MAX_EMPLOYEE_NO = 32  # ISAPI employeeNo: at most 32 characters
# ISAPI's time fields are 1970..2037 (32-bit device clocks): a "forever" validity is clamped to the last second.
LAST_LOCAL_TIME = datetime(2037, 12, 31, 23, 59, 59)
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_BODY = 5 * 2**20  # an answer or an event capture is tens of KB; refuse to buffer more than this
# What reading a terminal's JSON can raise when a field has another type than ISAPI's (a number 1e400, a list).
UNREADABLE = (KeyError, ValueError, TypeError, AttributeError, OverflowError, IndexError)
MAX_PAGES = 100_000  # a terminal answering "MORE" forever must not keep us looping

# subStatusCode (lower case) → REFUSAL_CODES; unknown refusals are matched by keyword in _refusal_code.
REFUSALS = {
    "employeenoalreadyexist": "bad_field",
    "badfpid": "not_found",
    "employeenonotexist": "not_found",
    "usernotexist": "not_found",
    "nouser": "not_found",
    "noface": "face_quality",  # firmware use it for "no face found in the picture" too: a face problem first
    "facelibraryfull": "library_full",
    "invalidcontent": "bad_field",
    "badparameters": "bad_field",
    "badjsonformat": "bad_field",
    "badjsoncontent": "bad_field",
}
# ISAPI statusCode 2 (Device Busy), 3 (Device Error), 7 (Reboot Required): the terminal could not do it now, the
# same call may succeed later. 4 (Invalid Operation), 5 (Invalid XML Format), 6 (Invalid Content) are refusals.
TRANSIENT_STATUS = {2, 3, 7}


def _refusal_code(sub_status: str) -> str:
    key = sub_status.lower()
    if key in REFUSALS:
        return REFUSALS[key]
    if "full" in key or ("exceed" in key and "num" in key):
        return "library_full"
    if "size" in key or "large" in key:
        return "face_too_large"
    if "name" in key:
        return "name_invalid"
    if "face" in key or "picture" in key or "pic" in key or "model" in key:
        return "face_quality"
    if "notexist" in key or "notfound" in key:
        return "not_found"
    return "bad_field"


def _status_fields(response: requests.Response) -> dict[str, Any]:
    """statusCode / statusString / subStatusCode / errorMsg of an ISAPI answer, JSON or XML (ResponseStatus)."""
    text = response.content[:65536]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    try:
        root = _parse_xml(text)
    except ValueError:
        return {}
    return {_local(child.tag): (child.text or "").strip() for child in root}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(text: bytes) -> ElementTree.Element:
    """Parse a terminal's XML, refusing DTDs and entities (billion laughs, external entities) before parsing."""
    head = text.lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise ValueError("XML with a DTD or entities is refused")
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc


def _error(response: requests.Response) -> TerminalError:
    """The TerminalError of an answer that is not a success."""
    if response.status_code == 401:
        return TerminalError("HTTP 401: the terminal refused the login (Digest)", permanent=True, code="auth")
    fields = _status_fields(response)
    sub = str(fields.get("subStatusCode") or "")
    message = str(fields.get("errorMsg") or fields.get("statusString") or "")
    reason = f"HTTP {response.status_code} {sub} {message}".strip()
    if response.status_code >= 500 or response.status_code in (408, 429):
        return TerminalError(reason)
    try:
        status_code = int(fields.get("statusCode") or 0)
    except (TypeError, ValueError):
        status_code = 0
    if status_code in TRANSIENT_STATUS:
        return TerminalError(reason)
    if response.status_code == 403 and not sub:
        return TerminalError(reason, permanent=True, code="auth")
    return TerminalError(reason, permanent=True, code=_refusal_code(sub) if sub else "bad_field")


def _failed(response: requests.Response) -> bool:
    """An HTTP error, or an HTTP 200 whose ISAPI body says it failed (some firmware answers errors with 200)."""
    if response.status_code >= 400:
        return True
    if "json" not in response.headers.get("Content-Type", ""):
        return False
    fields = _status_fields(response)
    return "statusCode" in fields and str(fields["statusCode"]) not in ("1", "")


def _read_capped(response: requests.Response) -> bytes:
    """The body, or TerminalError when it is over MAX_BODY (a terminal's answers and captures are far smaller)."""
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise TerminalError(f"{response.request.method} {response.url}: the answer is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _aware_only(moment: datetime) -> datetime:
    """The interface speaks aware datetimes: a naive one would silently be taken in this server's zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, not {moment!r}")
    return moment


def _check_employee_no(employee_no: str) -> None:
    if not employee_no or len(employee_no) > MAX_EMPLOYEE_NO:
        raise TerminalError(f"employeeNo must be 1 to {MAX_EMPLOYEE_NO} characters: {employee_no!r}",
                            permanent=True, code="bad_field")


def _same_origin(url: str, base: str) -> bool:
    one, two = urlsplit(url), urlsplit(base)
    default = {"http": 80, "https": 443}

    def port(parts: Any) -> int | None:
        try:
            return parts.port or default.get(parts.scheme)
        except ValueError:
            return None

    return (one.scheme, (one.hostname or "").lower(), port(one)) == (two.scheme, (two.hostname or "").lower(),
                                                                     port(two))


class HikvisionDriver:
    """One Hikvision ISAPI terminal. Call ``close()`` (or use it as a context manager) to release its sockets."""

    vendor = "hikvision"
    # DS-K1T face libraries take JPEGs up to 200 KB (the terminals' web page and ISAPI manual say "≤ 200KB").
    face_max_bytes = 200_000
    # The smallest picture worth sending: below this the terminal's detector rarely finds a face to model (its
    # manual asks for a front portrait; the recommended resolution is larger). Width, height in pixels.
    face_min_size = (150, 150)

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10.0,
                 terminal_timezone: str = "Asia/Shanghai") -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.tz = ZoneInfo(terminal_timezone)
        self.session = requests.Session()
        self.session.auth = HTTPDigestAuth(username, password)
        self.session.trust_env = False  # terminals are on the community's network: no proxy from the environment
        adapter = HTTPAdapter(max_retries=0)  # the caller retries, with backoff; never twice for one call here
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HikvisionDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ---------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json_body: dict | None = None,
              files: dict | None = None, url: str | None = None) -> requests.Response:
        target = url or f"{self.base_url}{path}"
        # JSON as UTF-8 text, not \u escapes: what the terminals' own clients send (names are Chinese).
        data = json.dumps(json_body, ensure_ascii=False).encode() if json_body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            # Streamed, so that nothing larger than MAX_BODY is ever read into memory (a picture, a broken terminal).
            with self.session.request(method, target, data=data, headers=headers, files=files, timeout=self.timeout,
                                      allow_redirects=False, stream=True) as response:
                response._content = _read_capped(response)
        except requests.RequestException as exc:
            raise TerminalError(f"{method} {path or target}: {type(exc).__name__}: {exc}") from exc
        if _failed(response):
            raise _error(response)
        return response

    def _json(self, method: str, path: str, body: dict | None = None, files: dict | None = None) -> dict:
        response = self._call(method, path, json_body=body, files=files)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise TerminalError(f"{path}: the answer is not JSON") from exc
        if not isinstance(data, dict):
            raise TerminalError(f"{path}: the answer is not a JSON object")
        return data

    # --- device ---------------------------------------------------------------------------------------

    def device_info(self) -> DeviceInfo:
        response = self._call("GET", "/ISAPI/System/deviceInfo")
        try:
            root = _parse_xml(response.content)
        except ValueError as exc:
            raise TerminalError(f"deviceInfo: {exc}") from exc
        fields = {_local(child.tag): (child.text or "").strip() for child in root}
        return DeviceInfo(model=fields.get("model", ""), firmware=fields.get("firmwareVersion", ""),
                          serial=fields.get("serialNumber", ""), name=fields.get("deviceName", ""))

    # --- times ----------------------------------------------------------------------------------------

    def _local_time(self, moment: datetime) -> str:
        """An aware datetime as the terminal's local wall time without offset (UserInfo Valid, timeType local)."""
        local = _aware_only(moment).astimezone(self.tz).replace(tzinfo=None)
        return min(max(local, datetime(1970, 1, 1)), LAST_LOCAL_TIME).strftime(LOCAL_FORMAT)

    def _aware(self, text: str) -> datetime:
        """A terminal time: with its offset when it has one, else the terminal's local time."""
        moment = datetime.fromisoformat(text.strip())
        return moment if moment.tzinfo else moment.replace(tzinfo=self.tz)

    def _offset_time(self, moment: datetime) -> str:
        return _aware_only(moment).astimezone(self.tz).isoformat(timespec="seconds")

    # --- people ---------------------------------------------------------------------------------------

    def _user_info(self, person: TerminalPerson) -> dict:
        _check_employee_no(person.employee_no)
        return {"employeeNo": person.employee_no, "name": person.name, "userType": "normal",
                "Valid": {"enable": True, "beginTime": self._local_time(person.valid_from),
                          "endTime": self._local_time(person.valid_to), "timeType": "local"},
                "doorRight": str(person.door),
                "RightPlan": [{"doorNo": person.door, "planTemplateNo": "1"}]}

    def _person(self, info: dict) -> TerminalPerson:
        valid = info.get("Valid") or {}
        plans = info.get("RightPlan") or [{}]
        door = plans[0].get("doorNo") or str(info.get("doorRight") or "1").split(",")[0]
        return TerminalPerson(employee_no=str(info.get("employeeNo", "")), name=str(info.get("name", "")),
                              valid_from=self._aware(valid.get("beginTime") or "1970-01-01T00:00:00"),
                              valid_to=self._aware(valid.get("endTime") or LAST_LOCAL_TIME.strftime(LOCAL_FORMAT)),
                              door=int(door), has_face=int(info.get("numOfFace") or 0) > 0)

    def _search(self, path: str, names: tuple[str, str, str], condition: dict) -> Iterator[dict]:
        """Page through one ISAPI search (UserInfo/Search, AcsEvent): the items of every page, in order.
        ``names``: the condition's object, the answer's object and its list."""
        cond_name, wrapper, items = names
        search_id, position = uuid.uuid4().hex, 0
        for _ in range(MAX_PAGES):
            body = {cond_name: {"searchID": search_id, "searchResultPosition": position, "maxResults": PAGE,
                                **condition}}
            answer = self._json("POST", path, body).get(wrapper)
            if not isinstance(answer, dict):
                raise TerminalError(f"{path}: no {wrapper} in the answer")
            status = answer.get("responseStatusStrg")
            page = answer.get(items) or []
            if status == "NO MATCH":
                return
            yield from page
            position += len(page)
            if status != "MORE" or not page:
                return
        raise TerminalError(f"{path}: more than {MAX_PAGES} pages")

    def list_people(self) -> Iterator[TerminalPerson]:
        names = ("UserInfoSearchCond", "UserInfoSearch", "UserInfo")
        for info in self._search("/ISAPI/AccessControl/UserInfo/Search?format=json", names, {}):
            try:
                yield self._person(info)
            except UNREADABLE as exc:
                raise TerminalError(f"UserInfo/Search: a person the driver cannot read: {exc}") from exc

    def add_person(self, person: TerminalPerson) -> None:
        self._json("POST", "/ISAPI/AccessControl/UserInfo/Record?format=json", {"UserInfo": self._user_info(person)})

    def update_person(self, person: TerminalPerson) -> None:
        self._json("PUT", "/ISAPI/AccessControl/UserInfo/Modify?format=json", {"UserInfo": self._user_info(person)})

    def delete_people(self, employee_nos: list[str]) -> None:
        for start in range(0, len(employee_nos), DELETE_BATCH):
            chunk = employee_nos[start:start + DELETE_BATCH]
            body = {"UserInfoDelCond": {"EmployeeNoList": [{"employeeNo": no} for no in chunk]}}
            try:
                self._json("PUT", "/ISAPI/AccessControl/UserInfo/Delete?format=json", body)
            except TerminalError as exc:
                if exc.code != "not_found":  # absent people are already where they should be
                    raise

    # --- faces ----------------------------------------------------------------------------------------

    def _face_parts(self, employee_no: str, jpeg: bytes) -> dict:
        record = json.dumps({**FACE_LIB, "FPID": employee_no})
        return {"FaceDataRecord": (None, record, "application/json"), "img": ("face.jpg", jpeg, "image/jpeg")}

    def set_face(self, employee_no: str, jpeg: bytes) -> None:
        _check_employee_no(employee_no)
        if len(jpeg) > self.face_max_bytes:
            raise TerminalError(f"the face JPEG is {len(jpeg)} bytes, over the terminal's {self.face_max_bytes}",
                                permanent=True, code="face_too_large")
        try:
            self._json("POST", "/ISAPI/Intelligent/FDLib/FaceDataRecord?format=json",
                       files=self._face_parts(employee_no, jpeg))
        except TerminalError as exc:
            if "deviceuseralreadyexistface" not in exc.reason.lower():
                raise
            # The person has a face already: replace it in place (no moment without a face on the terminal).
            self._json("PUT", "/ISAPI/Intelligent/FDLib/FDModify?format=json",
                       files=self._face_parts(employee_no, jpeg))

    def delete_face(self, employee_no: str) -> None:
        _check_employee_no(employee_no)
        try:
            self._json("PUT", "/ISAPI/Intelligent/FDLib/FDSearch/Delete?format=json&FDID=1&faceLibType=blackFD",
                       {"FPID": [{"value": employee_no}]})
        except TerminalError as exc:
            if exc.code != "not_found" and "noface" not in exc.reason.lower():  # no face, no person: nothing to do
                raise

    # --- events ---------------------------------------------------------------------------------------

    def set_event_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TerminalError(f"the event host must be an http(s) URL: {url!r}", permanent=True, code="bad_field")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise TerminalError(f"the event host's port: {exc}", permanent=True, code="bad_field") from exc
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = {"id": "1", "url": path, "protocolType": parts.scheme.upper(), "parameterFormatType": "JSON",
                "portNo": port, "httpAuthenticationMethod": "none"}
        if parts.hostname.replace(".", "").isdigit() or ":" in parts.hostname:
            host.update(addressingFormatType="ipaddress", ipAddress=parts.hostname)
        else:
            host.update(addressingFormatType="hostname", hostName=parts.hostname)
        self._json("PUT", "/ISAPI/Event/notification/httpHosts?format=json",
                   {"HttpHostNotificationList": [{"HttpHostNotification": host}]})

    def _picture(self, url: str) -> bytes | None:
        """The capture at ``url``, fetched with the terminal's login; only from the terminal itself (no SSRF)."""
        if not url:
            return None
        url = urljoin(self.base_url + "/", url)
        if not _same_origin(url, self.base_url):
            logger.warning("terminal %s: picture URL on another host refused: %s", self.base_url, url)
            return None
        try:
            response = self._call("GET", "", url=url)
        except TerminalError as exc:
            if exc.permanent and exc.code != "auth":
                return None  # gone from the terminal (overwritten by newer captures): the event without it
            raise
        return response.content or None

    def _event(self, info: dict, picture: bytes | None) -> TerminalEvent:
        major, minor = int(info.get("major") or info.get("majorEventType") or 0), int(
            info.get("minor") or info.get("subEventType") or 0)
        employee_no = str(info.get("employeeNoString") or info.get("employeeNo") or "")
        return TerminalEvent(serial_no=int(info.get("serialNo") or 0), occurred_at=self._aware(str(info["time"])),
                             is_pass=major == MAJOR_EVENT and minor in PASS_MINORS and bool(employee_no),
                             employee_no=employee_no, verify_mode=str(info.get("currentVerifyMode") or ""),
                             major=major, minor=minor, picture=picture)

    def search_events(self, start: datetime, end: datetime) -> Iterator[TerminalEvent]:
        condition = {"major": MAJOR_EVENT, "minor": 0, "startTime": self._offset_time(start),
                     "endTime": self._offset_time(end)}
        for info in self._search("/ISAPI/AccessControl/AcsEvent?format=json", ("AcsEventCond", "AcsEvent", "InfoList"),
                                condition):
            try:
                event = self._event(info, None)
            except UNREADABLE as exc:
                raise TerminalError(f"AcsEvent: an event the driver cannot read: {exc}") from exc
            picture = self._picture(str(info.get("pictureURL") or ""))
            yield replace(event, picture=picture)

    # --- pushes ---------------------------------------------------------------------------------------

    def parse_push(self, content_type: str, body: bytes) -> list[TerminalEvent]:
        media = content_type.split(";")[0].strip().lower()
        if media == "multipart/form-data":
            data, picture = _multipart(content_type, body)
        elif media in ("application/json", "text/json", "text/plain"):
            data, picture = _json_object(body), None
        else:
            raise ValueError(f"not a Hikvision event push: Content-Type {content_type!r}")
        return [self._push_event(data, picture)]

    def _push_event(self, data: dict, picture: bytes | None) -> TerminalEvent:
        event_type = data.get("eventType")
        try:
            occurred_at = self._aware(str(data["dateTime"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"the push has no valid dateTime: {exc}") from exc
        if event_type != "AccessControllerEvent":
            if not isinstance(event_type, str) or not event_type:
                raise ValueError("the push has no eventType")
            return TerminalEvent(serial_no=0, occurred_at=occurred_at, is_pass=False)  # heartBeat, other types
        inner = data.get("AccessControllerEvent")
        if not isinstance(inner, dict):
            raise ValueError("an AccessControllerEvent push without its AccessControllerEvent object")
        try:
            return self._event({**inner, "time": data["dateTime"]}, picture)
        except UNREADABLE as exc:
            raise ValueError(f"the AccessControllerEvent is not readable: {exc}") from exc


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the push is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the push is not a JSON object")
    return data


def _multipart(content_type: str, body: bytes) -> tuple[dict, bytes | None]:
    """The event JSON part (``event_log`` or ``AccessControllerEvent``) and the first picture of a push."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ValueError("a multipart push without parts")
    data: dict | None = None
    picture: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        if name in ("event_log", "AccessControllerEvent") and data is None:
            data = _json_object(payload)
        elif part.get_content_type() in ("image/jpeg", "image/jpg") and picture is None and payload:
            picture = payload
        elif part.get_content_type() == "application/json" and data is None and not name:
            data = _json_object(payload)  # firmware that names no part: its one JSON part is the event
    if data is None:
        raise ValueError("a multipart push without an event_log part")
    return data, picture
