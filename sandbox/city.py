"""A stand-in for the city platform (interfaces 2-5 of the contract), for `make run`, the drills and the tests:
``python -m sandbox.city --port 8090 [--token-lifetime 3600] [--credentials cid:secret:user:password ...]``.

A small threaded HTTP server that keeps its state in memory, with no Django. It checks credentials, tokens
(with a configurable lifetime), field names, formats, batch sizes and image limits exactly as the contract says,
stores what it accepts and shows it on a page at ``/``. Faults are injected on demand. It plays the other party:
its checks are written from the manual on their own (its tables are not uploads.contract's), so that it catches
our mistakes rather than sharing them.

Control API (JSON), used by the tests over HTTP:

- ``GET /_sandbox/records?endpoint=person-inout-info`` what was stored (images as their size/dimensions)
- ``GET /_sandbox/batches``, ``GET /_sandbox/stats``, ``GET /_sandbox/callbacks``, ``GET /_sandbox/webhooks``
- ``POST /_sandbox/faults`` ``{"faults": {"_500": 0.2}}``: modes are ``expired_200`` / ``expired_401`` (the
  token is revoked and `_401` answered in an HTTP 200 / 401), ``_500``, ``502``, ``503``, ``slow`` (store, then
  wait ``slow_seconds`` before answering), ``drop`` (close the connection without storing) and ``drop_after``
  (store, then close the connection: the portal never hears the answer), ``hang`` (wait ``slow_seconds``, store
  nothing, close); ``"communities": ["CITY-X"]`` limits the faults to batches of those communities
- ``POST /_sandbox/config`` ``{"token_lifetime": 3, "slow_seconds": 2, "credentials": ["cid:secret:user:pw"]}``
- ``POST /_sandbox/reset`` forget records, batches, tokens and faults
- ``POST /_sandbox/push-apply-access`` ``{"url": "http://portal/apply-access", "payload": {...}}`` pushes an
  apply-access call to a portal, as the city does after a QR registration
- ``POST /_sandbox/callback`` and ``POST /_sandbox/webhook`` record what the portal posts (registration
  callbacks, link alerts)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import io
import json
import os
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from sandbox.http import ControlClient, drop_connection, make_threaded_server, serve

# The 场所侧 credentials accepted when --credentials is not given: the demo community's (seed_demo).
DEFAULT_CREDENTIALS = "demo-client:demo-secret:demo-site:demo-password"
# Where the page's "push a person" goes (the portal's interface 1) and for which community, by default.
DEFAULT_PORTAL_URL = "http://127.0.0.1:8000/apply-access"
DEFAULT_COMMUNITY = "DEMO-0001"
DEFAULT_ADDRESS = "四川省成都市锦江区观音桥55号1栋1单元3楼01号"
PERSON_TYPES = {"01": "业主", "02": "租户", "05": "访客"}
DEMO_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强")
PHOTO_RE = re.compile(r"^/_sandbox/photos/(\d{1,6})\.jpg$")
FAULT_LABELS = {"expired_200": "令牌失效（HTTP 200 中答 _401）", "expired_401": "令牌失效（HTTP 401）",
                "_500": "业务错误 _500", "502": "HTTP 502", "503": "HTTP 503", "slow": "先存后慢答",
                "drop": "断开连接（不存）", "drop_after": "先存后断开（门户收不到应答）", "hang": "挂起后断开（不存）"}

ENDPOINTS = ("person-inout-info", "image/people", "image/car")
FAULT_MODES = ("expired_200", "expired_401", "_500", "502", "503", "slow", "drop", "drop_after", "hang")
PASS_TYPES = {"USER", "PROPERTY_STAFF", "THE_WAITER", "VISITOR"}
PLATE_TYPES = {f"{n:02d}" for n in range(1, 28)} | {"51", "52"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MAX_BATCH = 50
MAX_BODY = 64 * 2**20
# (min width, min height, max bytes) per endpoint's images.
IMAGE_LIMITS = {"person-inout-info": (800, 600, 100 * 1024), "image/people": (1200, 800, 200 * 1024),
                "image/car": (1200, 800, 200 * 1024)}


class State:
    def __init__(self, credentials: list[str], token_lifetime: float, portal_url: str = DEFAULT_PORTAL_URL,
                 community: str = DEFAULT_COMMUNITY) -> None:
        self.lock = threading.Lock()
        self.credentials = set(credentials)
        self.token_lifetime = token_lifetime
        self.slow_seconds = 2.0
        self.portal_url = portal_url
        self.community = community
        self.public_url = ""  # set by make_server once the port is known: the photos' URLs name it
        self.photos: dict[int, bytes] = {}
        self.next_number = random.randint(0, 899)
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, float] = {}
        self.records: list[dict] = []
        self.batches: list[dict] = []
        self.callbacks: list[dict] = []
        self.webhooks: list[dict] = []
        self.pushes: list[dict] = []
        self.faults: dict[str, float] = {}
        self.fault_communities: set[str] = set()
        self.logins = 0
        self.login_failures = 0
        self.rejected = 0
        self.unauthorized_answers = 0


# --- checks ---------------------------------------------------------------------------------------

def check_date(value: object) -> str | None:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return "格式须为 yyyy-MM-dd HH:mm:ss"
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "不是有效的日期时间"
    return None


def check_image(value: object, endpoint: str) -> tuple[str | None, dict]:
    if not isinstance(value, str) or not value:
        return "必填，Base64 编码的 JPEG", {}
    if value.startswith("data:"):
        return "须为纯 Base64，不带 data: 前缀", {}
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "不是有效的 Base64", {}
    min_w, min_h, max_bytes = IMAGE_LIMITS[endpoint]
    if len(data) > max_bytes:
        return f"{len(data)} 字节，超过 {max_bytes // 1024} KB 上限", {}
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            width, height = image.size
    except Exception:
        return "不是 JPEG 图片", {}
    if width < min_w or height < min_h:
        return f"{width}x{height}，小于 {min_w}x{min_h}", {}
    return None, {"bytes": len(data), "size": [width, height]}


def _required(record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return "必填"
    return None


def check_record(endpoint: str, record: object) -> tuple[list[str], dict]:
    """Errors as "field：reason", and the record as stored (images replaced by their size)."""
    if not isinstance(record, dict):
        return ["记录：须为 JSON 对象"], {}
    errors: list[str] = []
    stored = {k: v for k, v in record.items()}
    image_fields = ("imageBase64", "bigImageBase64") if endpoint == "person-inout-info" else (
        "photoBase1", "photoBase2", "photoBase3")
    required_images = image_fields if endpoint == "person-inout-info" else ("photoBase1",)
    for name in image_fields:
        if name not in record and name not in required_images:
            continue
        error, info = check_image(record.get(name), endpoint)
        if error:
            errors.append(f"{name}：{error}")
        stored[name] = info
    for name in ("communityId", "policePointId"):
        if _required(record, name):
            errors.append(f"{name}：必填")
    if endpoint == "person-inout-info":
        for name in ("userId",):
            if _required(record, name):
                errors.append(f"{name}：必填")
        if record.get("way") != "FACE":
            errors.append("way：须为 FACE")
        if record.get("source") != "THIRDPARTY_CLIENT":
            errors.append("source：须为 THIRDPARTY_CLIENT")
        if record.get("type") not in PASS_TYPES:
            errors.append(f"type：须为以下之一 {sorted(PASS_TYPES)}")
        if record.get("inout") not in ("in", "out"):
            errors.append("inout：须为 in 或 out")
        if (error := check_date(record.get("openDate"))):
            errors.append(f"openDate：{error}")
    else:
        if (error := check_date(record.get("passDate"))):
            errors.append(f"passDate：{error}")
        if str(record.get("passType")) not in ("0", "1"):
            errors.append("passType：须为 0（进）或 1（出）")
    if endpoint == "image/car":
        if _required(record, "licensePlate"):
            errors.append("licensePlate：必填")
        plate_type = record.get("licensePlateType")
        code = f"{plate_type:02d}" if isinstance(plate_type, int) else str(plate_type)
        if code not in PLATE_TYPES:
            errors.append("licensePlateType：不在代码表中（附录1）")
    return errors, stored


# --- the people the sandbox registers (interface 1, the city's side) ------------------------------

def portrait(number: int) -> bytes:
    """A generated face photo (a drawn head and shoulders, colours by ``number``): what a person's photo
    URL serves, so that `make run` shows guards faces without any host outside this machine."""
    from PIL import ImageDraw

    rng = random.Random(number)
    width, height = 480, 600
    background = tuple(rng.randint(170, 235) for _ in range(3))
    skin = rng.choice([(241, 204, 177), (224, 182, 150), (198, 150, 118), (232, 196, 168)])
    hair = rng.choice([(30, 24, 20), (60, 40, 30), (90, 70, 50), (20, 20, 25)])
    shirt = tuple(rng.randint(30, 160) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 420, 420, 760), fill=shirt)  # shoulders
    draw.rectangle((205, 340, 275, 440), fill=skin)  # neck
    draw.ellipse((130, 90, 350, 370), fill=hair)  # hair behind the face
    draw.ellipse((145, 130, 335, 390), fill=skin)  # face
    for eye_x in (200, 280):
        draw.ellipse((eye_x - 12, 225, eye_x + 12, 243), fill=(40, 30, 30))
    draw.arc((200, 280, 280, 340), start=20, end=160, fill=(150, 60, 60), width=5)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def id_card(serial: int) -> str:
    """A well-formed 18-digit ID number (GB 11643 check digit), born 1990-01-01 in Chengdu's 锦江区."""
    first17 = f"51010419900101{serial % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def person_payload(state: State, number: int, *, name: str = "", community: str = "", person_type: str = "01",
                   address: str = "") -> dict:
    """An apply-access body as the city sends it after a QR registration, its photo served by this sandbox."""
    return {"address": address or DEFAULT_ADDRESS, "name": name or DEMO_NAMES[number % len(DEMO_NAMES)],
            "idCard": id_card(number), "photo": f"{state.public_url}/_sandbox/photos/{number}.jpg",
            "source": "01", "type": person_type if person_type in PERSON_TYPES else "01",
            "phone": f"138{number % 10**8:08d}", "communityId": community or state.community,
            "ownerId": f"SANDBOX-OWNER-{number}", "ywlsh": f"SANDBOX-{int(time.time())}-{number}",
            "xbdm": 1 if number % 2 else 2, "visitTime": None, "effectiveVisitTime": None}


def post_json(url: str, payload: dict) -> tuple[int, str]:
    """POST ``payload`` to ``url``: (status, body). Raises OSError when the portal cannot be reached."""
    request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode(), method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


# --- the server -----------------------------------------------------------------------------------

def _rate(text: str | None) -> float:
    try:
        return min(1.0, max(0.0, float(text or 0)))
    except ValueError:
        return 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "afxq-sandbox-city/1"
    state: State  # set on the subclass made by make_server

    def log_message(self, format: str, *args) -> None:
        pass

    # plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("请求体过大")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: object, content_type: str = "application/json; charset=utf-8") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, code: str, error: str | None = None, status: int = 200) -> None:
        self._send(status, {"timestamp": int(time.time() * 1000), "data": None, "responseCode": code,
                            "errorMsg": error})

    def _drop(self) -> None:
        """Close the connection with no answer at all."""
        drop_connection(self)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        state = self.state
        if (match := PHOTO_RE.match(url.path)):
            return self._photo(int(match.group(1)))
        with state.lock:
            if url.path == "/_sandbox/records":
                records = [r for r in state.records
                           if r["endpoint"] == query.get("endpoint", r["endpoint"])
                           and r["fields"].get("communityId") == query.get("communityId", r["fields"].get("communityId"))]
                return self._send(200, {"records": records})
            if url.path == "/_sandbox/batches":
                return self._send(200, {"batches": state.batches})
            if url.path == "/_sandbox/callbacks":
                return self._send(200, {"callbacks": state.callbacks})
            if url.path == "/_sandbox/webhooks":
                return self._send(200, {"webhooks": state.webhooks})
            if url.path == "/_sandbox/stats":
                return self._send(200, self._stats())
            if url.path == "/_sandbox/pushes":
                return self._send(200, {"pushes": state.pushes})
            if url.path == "/":
                return self._send(200, self._page().encode(), "text/html; charset=utf-8")
        self._send(404, {"error": "未找到"})

    def _stats(self) -> dict:
        state = self.state
        counts: dict[str, int] = {}
        for record in state.records:
            counts[record["endpoint"]] = counts.get(record["endpoint"], 0) + 1
        return {"records": counts, "batches": len(state.batches), "logins": state.logins,
                "login_failures": state.login_failures, "rejected": state.rejected,
                "unauthorized_answers": state.unauthorized_answers, "faults": state.faults,
                "token_lifetime": state.token_lifetime, "callbacks": len(state.callbacks),
                "webhooks": len(state.webhooks)}

    def _photo(self, number: int) -> None:
        with self.state.lock:
            data = self.state.photos.get(number)
        if data is None:
            data = portrait(number)
            with self.state.lock:
                self.state.photos[number] = data
        self._send(200, data, "image/jpeg")

    def _page(self) -> str:
        """The sandbox's own page (for people, in Chinese): push a person, faults on and off, what arrived."""
        state, stats, e = self.state, self._stats(), html.escape
        counts = "、".join(f"{e(k)} {v} 条" for k, v in stats["records"].items()) or "暂无"
        fault_rows = "".join(
            f"<tr><td><code>{e(mode)}</code></td><td>{e(label)}</td><td><input type=number name='{e(mode)}' "
            f"min=0 max=1 step=0.05 value='{state.faults.get(mode, 0):g}' aria-label='{e(label)} 概率'></td></tr>"
            for mode, label in FAULT_LABELS.items())
        active = "、".join(f"{e(FAULT_LABELS.get(m, m))} {r:g}" for m, r in state.faults.items()) or "无"
        types = "".join(f"<option value='{k}'>{k} {v}</option>" for k, v in PERSON_TYPES.items())
        pushes = "".join(
            f"<tr><td>{e(p['at'])}</td><td>{e(p['name'])}</td><td>{e(p['communityId'])}</td>"
            f"<td><a href='{e(p['photo'])}'>照片</a></td><td>{e(str(p['status']))}</td><td>{e(p['answer'])}</td></tr>"
            for p in reversed(state.pushes[-20:]))
        records = "".join(
            f"<tr><td>{e(r['endpoint'])}</td><td>{e(r['received_at'])}</td>"
            f"<td>{e(json.dumps(r['fields'], ensure_ascii=False))}</td></tr>"
            for r in reversed(state.records[-30:]))
        callbacks = "".join(f"<li>{e(json.dumps(c, ensure_ascii=False))}</li>" for c in reversed(state.callbacks[-20:]))
        webhooks = "".join(f"<li>{e(json.dumps(w, ensure_ascii=False))}</li>" for w in reversed(state.webhooks[-20:]))
        return (
            "<!doctype html><html lang=zh-CN><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'><title>沙箱市级平台</title>"
            "<style>body{font-family:'WenQuanYi Micro Hei','PingFang SC',sans-serif;margin:1.5em;max-width:70em}"
            "td,th{border-top:1px solid #ccc;padding:4px;font-size:13px;vertical-align:top;text-align:left}"
            "form{background:#f4f6f8;padding:10px;border-radius:6px}label{display:inline-block;margin:4px 12px 4px 0}"
            "td:nth-child(2){white-space:nowrap}</style>"
            "<h1>沙箱市级平台（开发用，模拟成都市级平台）</h1>"
            f"<p>已收记录：{counts}；批次 {stats['batches']}；登录 {stats['logins']} 次（拒绝 {stats['login_failures']}）；"
            f"拒收批次 {stats['rejected']}；令牌有效期 {stats['token_lifetime']:g} 秒；当前故障：{active}</p>"
            "<h2>推送一位人员（接口 1 apply-access）</h2>"
            "<p>模拟市级平台在居民扫码登记后调用门户的 apply-access；照片由本沙箱生成并提供。</p>"
            "<form method=post action='/_sandbox/page/push'>"
            f"<label>门户地址 <input name=url size=40 value='{e(state.portal_url)}'></label>"
            f"<label>小区编号 communityId <input name=community value='{e(state.community)}'></label>"
            "<label>姓名 <input name=name placeholder='留空则自动取名'></label>"
            f"<label>人员类型 <select name=type>{types}</select></label>"
            f"<label>地址 <input name=address size=36 value='{e(DEFAULT_ADDRESS)}'></label>"
            "<button type=submit>推送</button></form>"
            "<h2>故障注入</h2><form method=post action='/_sandbox/page/faults'>"
            f"<table><tr><th>代码</th><th>故障</th><th>概率（0–1）</th></tr>{fault_rows}</table>"
            "<button type=submit>应用</button> <button type=submit name=clear value=1>全部关闭</button></form>"
            f"<h2>推送记录</h2><table id=pushes><tr><th>时间</th><th>姓名</th><th>小区</th><th>照片</th>"
            f"<th>门户 HTTP 状态</th><th>门户应答</th></tr>{pushes}</table>"
            f"<h2>收到的记录（接口 3–5）</h2><table id=records><tr><th>接口</th><th>收到时间</th><th>字段</th></tr>"
            f"{records}</table>"
            f"<h2>登记回调</h2><ul id=callbacks>{callbacks or '<li>暂无</li>'}</ul>"
            f"<h2>告警 webhook</h2><ul id=webhooks>{webhooks or '<li>暂无</li>'}</ul>")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._body()
        except ValueError:
            return self._send(413, {"error": "请求体过大"})
        if url.path == "/oauth/token":
            return self._token(body)
        if url.path.startswith("/api/platform/"):
            return self._upload(url.path.removeprefix("/api/platform/"), body)
        if url.path.startswith("/_sandbox/page/"):
            return self._page_form(url.path.removeprefix("/_sandbox/page/"), body)
        if url.path.startswith("/_sandbox/"):
            return self._control(url.path.removeprefix("/_sandbox/"), body)
        self._send(404, {"error": "未找到"})

    # interface 2
    def _token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        key = ":".join(form.get(k, "") for k in ("client_id", "client_secret", "username", "password"))
        state = self.state
        with state.lock:
            if form.get("grant_type") != "password" or key not in state.credentials:
                state.login_failures += 1
                return self._send(400, {"error": "invalid_grant", "error_description": "Bad credentials"})
            state.logins += 1
            token = secrets.token_hex(16)
            state.tokens[token] = time.monotonic() + state.token_lifetime
            lifetime = state.token_lifetime
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": int(max(1, lifetime)),
                         "scope": "read write"})

    def _unauthorized(self, http_401: bool) -> None:
        with self.state.lock:
            self.state.unauthorized_answers += 1
        self._envelope("_401", "invalid_token", status=401 if http_401 else 200)

    def _faulty_community(self, body: bytes) -> bool:
        """Faults hit every community, or only those listed in fault_communities (by the batch's communityId)."""
        if not self.state.fault_communities:
            return True
        match = re.search(rb'"communityId"\s*:\s*"([^"]*)"', body)
        return bool(match) and match.group(1).decode("utf-8", "replace") in self.state.fault_communities

    def _fault(self) -> str | None:
        for mode, rate in self.state.faults.items():
            if random.random() < rate:
                return mode
        return None

    # interfaces 3-5
    def _upload(self, endpoint: str, body: bytes) -> None:
        state = self.state
        if endpoint not in ENDPOINTS:
            return self._send(404, {"error": "未找到"})
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        with state.lock:
            expires = state.tokens.get(token)
            valid = expires is not None and expires > time.monotonic()
            fault = self._fault() if self._faulty_community(body) else None
            if fault in ("expired_200", "expired_401"):
                state.tokens.pop(token, None)
        if fault == "hang":
            time.sleep(state.slow_seconds)
            return self._drop()
        if not valid:
            # Both styles happen at the city: alternate so that the portal meets both.
            return self._unauthorized(http_401=state.unauthorized_answers % 2 == 1)
        if fault in ("expired_200", "expired_401"):
            return self._unauthorized(http_401=fault == "expired_401")
        if fault == "drop":
            return self._drop()
        if fault in ("502", "503"):
            return self._send(int(fault), "<html>网关错误</html>".encode(), "text/html; charset=utf-8")
        if fault == "_500":
            return self._envelope("_500", "沙箱：注入的故障")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._envelope("_500", "Content-Type 须为 application/json")
        try:
            records = json.loads(body)
        except ValueError:
            return self._envelope("_500", "请求体不是 JSON")
        if not isinstance(records, list) or not records:
            return self._envelope("_500", "请求体须为非空 JSON 数组")
        if len(records) > MAX_BATCH:
            return self._envelope("_500", f"每次最多 {MAX_BATCH} 条记录，收到 {len(records)} 条")
        errors, stored = [], []
        for index, record in enumerate(records):
            record_errors, kept = check_record(endpoint, record)
            errors += [f"第 {index} 条记录：{e}" for e in record_errors]
            stored.append(kept)
        if errors:
            with state.lock:
                state.rejected += 1
            return self._envelope("_500", "；".join(errors[:10]))
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with state.lock:
            batch_id = len(state.batches) + 1
            state.batches.append({"id": batch_id, "endpoint": endpoint, "count": len(stored), "bytes": len(body),
                                  "answer_lost": fault in ("slow", "drop_after"), "fault": fault})
            state.records += [{"endpoint": endpoint, "batch": batch_id, "received_at": now, "fields": f}
                              for f in stored]
        if fault == "drop_after":
            return self._drop()
        if fault == "slow":
            time.sleep(state.slow_seconds)
        self._envelope("_200")

    # control API
    def _control(self, action: str, body: bytes) -> None:
        state = self.state
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return self._send(400, {"error": "请求体不是 JSON"})
        with state.lock:
            if action == "faults":
                faults = {str(k): float(v) for k, v in (data.get("faults") or {}).items()}
                unknown = set(faults) - set(FAULT_MODES)
                if unknown:
                    return self._send(400, {"error": f"未知的故障类型 {sorted(unknown)}", "modes": FAULT_MODES})
                state.faults = faults
                state.fault_communities = set(data.get("communities") or [])
                return self._send(200, {"faults": state.faults, "communities": sorted(state.fault_communities)})
            if action == "config":
                if "token_lifetime" in data:
                    state.token_lifetime = float(data["token_lifetime"])
                if "slow_seconds" in data:
                    state.slow_seconds = float(data["slow_seconds"])
                if "credentials" in data:
                    state.credentials = set(data["credentials"])
                if data.get("revoke_tokens"):
                    state.tokens.clear()
                return self._send(200, {"token_lifetime": state.token_lifetime, "credentials": len(state.credentials)})
            if action == "reset":
                state.reset()
                return self._send(200, {"reset": True})
            if action == "callback":
                state.callbacks.append(data)
                return self._send(200, {"code": 1})
            if action == "webhook":
                state.webhooks.append(data)
                return self._send(200, {"ok": True})
        if action == "push-apply-access":
            return self._push(data)
        if action == "push-person":
            return self._send(200, self._push_person(data))
        self._send(404, {"error": "未找到"})

    def _push_person(self, data: dict) -> dict:
        """Push one generated person (photo served here) to the portal; remembered for the page."""
        state = self.state
        with state.lock:
            # A fresh number each time (and a random start per process): a new ID number, a new person.
            state.next_number += 1
            number = state.next_number
            url = str(data.get("url") or state.portal_url)
        payload = person_payload(state, number, name=str(data.get("name") or "").strip(),
                                 community=str(data.get("community") or "").strip(),
                                 person_type=str(data.get("type") or "01"), address=str(data.get("address") or ""))
        try:
            status, answer = post_json(url, payload)
        except OSError as exc:
            status, answer = "—", f"无法连接门户：{exc}"
        push = {"at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "name": payload["name"],
                "communityId": payload["communityId"], "ywlsh": payload["ywlsh"], "photo": payload["photo"],
                "status": status, "answer": answer[:300]}
        with state.lock:
            state.pushes.append(push)
        return push

    def _page_form(self, action: str, body: bytes) -> None:
        """The page's forms (form-encoded); each answers with a redirect back to the page."""
        form = _form(body)
        if action == "push":
            self._push_person(form)
        elif action == "faults":
            with self.state.lock:
                faults = {} if form.get("clear") else {
                    mode: rate for mode in FAULT_MODES if (rate := _rate(form.get(mode))) > 0}
                self.state.faults = faults
                self.state.fault_communities = set()
        else:
            return self._send(404, {"error": "未找到"})
        self.send_response(303)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _push(self, data: dict) -> None:
        """Play the city: POST an apply-access body to a portal and report its answer."""
        url, payload = data.get("url"), data.get("payload")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(payload, dict):
            return self._send(400, {"error": "需要 url（http/https）和 payload（对象）"})
        try:
            status, text = post_json(url, payload)
        except OSError as exc:
            return self._send(502, {"error": f"无法连接门户：{exc}"})
        self._send(200, {"status": status, "body": text})


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def make_server(host: str, port: int, credentials: list[str], token_lifetime: float,
                portal_url: str = DEFAULT_PORTAL_URL, community: str = DEFAULT_COMMUNITY) -> ThreadingHTTPServer:
    state = State(credentials, token_lifetime, portal_url, community)
    # The photos' URLs name the server's public URL.
    server, state.public_url = make_threaded_server(host, port, type("SandboxHandler", (Handler,), {"state": state}))
    return server


class SandboxClient(ControlClient):
    """The control API from Python (tests, scripts)."""

    def records(self, endpoint: str | None = None) -> list[dict]:
        return self._call("GET", "/_sandbox/records" + (f"?endpoint={endpoint}" if endpoint else ""))["records"]

    def batches(self) -> list[dict]:
        return self._call("GET", "/_sandbox/batches")["batches"]

    def stats(self) -> dict:
        return self._call("GET", "/_sandbox/stats")

    def callbacks(self) -> list[dict]:
        return self._call("GET", "/_sandbox/callbacks")["callbacks"]

    def webhooks(self) -> list[dict]:
        return self._call("GET", "/_sandbox/webhooks")["webhooks"]

    def set_faults(self, faults: dict[str, float] | None = None, communities: list[str] | None = None) -> dict:
        """{"503": 0.2, "_500": 0.2, ...}; None or {} clears them. ``communities``: only their batches."""
        return self._call("POST", "/_sandbox/faults", {"faults": faults or {}, "communities": communities or []})

    def configure(self, **config: object) -> dict:
        return self._call("POST", "/_sandbox/config", config)

    def reset(self) -> dict:
        return self._call("POST", "/_sandbox/reset", {})

    def push_apply_access(self, url: str, payload: dict) -> dict:
        return self._call("POST", "/_sandbox/push-apply-access", {"url": url, "payload": payload})

    def push_person(self, **fields: object) -> dict:
        """A generated person (name, community, type, address, url optional) pushed to the portal."""
        return self._call("POST", "/_sandbox/push-person", fields)

    def pushes(self) -> list[dict]:
        return self._call("GET", "/_sandbox/pushes")["pushes"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.city", description=(
        "Run a stand-in for the city platform (interfaces 2-5) with fault injection, for development and tests."))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed on start)")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds a token is valid")
    parser.add_argument("--credentials", action="append", default=None,
                        help="client_id:client_secret:username:password accepted by /oauth/token (repeatable; "
                             "default: SANDBOX_CITY_CREDENTIALS, a comma list, else the demo community's)")
    parser.add_argument("--portal-url", default=os.environ.get("SANDBOX_PORTAL_URL", DEFAULT_PORTAL_URL),
                        help="the portal's apply-access URL, where the page pushes people")
    parser.add_argument("--community", default=DEFAULT_COMMUNITY, help="the communityId the page pushes to")
    options = parser.parse_args(argv)
    credentials = options.credentials or [
        c.strip() for c in os.environ.get("SANDBOX_CITY_CREDENTIALS", DEFAULT_CREDENTIALS).split(",") if c.strip()]
    server = make_server(options.host, options.port, credentials, options.token_lifetime, options.portal_url,
                         options.community)
    serve(server, "sandbox city")


if __name__ == "__main__":
    main()
