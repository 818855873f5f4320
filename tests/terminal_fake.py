"""An in-memory face terminal implementing terminals.vendors.base.TerminalDriver, for unit tests of the
terminals app. Terminals are kept by base URL in ``TERMINALS`` so a test can look at (and break) one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from terminals.vendors.base import DeviceInfo, TerminalError, TerminalEvent, TerminalPerson


@dataclass
class FakeTerminal:
    serial: str = "FAKE-0001"
    people: dict[str, TerminalPerson] = field(default_factory=dict)
    faces: dict[str, bytes] = field(default_factory=dict)
    events: list[TerminalEvent] = field(default_factory=list)
    event_host: str = ""
    offline: bool = False
    refuse: dict[str, TerminalError] = field(default_factory=dict)  # employee_no -> the error of add/set_face
    calls: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.people.clear()
        self.faces.clear()


TERMINALS: dict[str, FakeTerminal] = {}


def fake(base_url: str) -> FakeTerminal:
    return TERMINALS.setdefault(base_url.rstrip("/"), FakeTerminal())


class FakeDriver:
    vendor = "fake"
    face_max_bytes = 200_000
    face_min_size = (640, 480)

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10.0,
                 terminal_timezone: str = "Asia/Shanghai") -> None:
        self.terminal = fake(base_url)

    def close(self) -> None:
        pass

    def _call(self, what: str) -> FakeTerminal:
        if self.terminal.offline:
            raise TerminalError("connection refused")
        self.terminal.calls.append(what)
        return self.terminal

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(model="DS-FAKE", firmware="V1.0", serial=self._call("info").serial)

    def list_people(self) -> Iterator[TerminalPerson]:
        t = self._call("list")
        return iter([replace(p, has_face=p.employee_no in t.faces) for p in t.people.values()])

    def add_person(self, person: TerminalPerson) -> None:
        t = self._call(f"add {person.employee_no}")
        if person.employee_no in t.refuse and t.refuse[person.employee_no].code == "name_invalid":
            raise t.refuse[person.employee_no]
        if person.employee_no in t.people:
            raise TerminalError("employeeNoAlreadyExist", permanent=True, code="bad_field")
        t.people[person.employee_no] = person

    def update_person(self, person: TerminalPerson) -> None:
        t = self._call(f"update {person.employee_no}")
        if person.employee_no not in t.people:
            raise TerminalError("not found", permanent=True, code="not_found")
        t.people[person.employee_no] = person

    def delete_people(self, employee_nos: list[str]) -> None:
        t = self._call(f"delete {','.join(employee_nos)}")
        for no in employee_nos:
            t.people.pop(no, None)
            t.faces.pop(no, None)

    def set_face(self, employee_no: str, jpeg: bytes) -> None:
        t = self._call(f"face {employee_no}")
        if employee_no in t.refuse and t.refuse[employee_no].code != "name_invalid":
            raise t.refuse[employee_no]
        if employee_no not in t.people:
            raise TerminalError("person not found", permanent=True, code="not_found")
        t.faces[employee_no] = jpeg

    def delete_face(self, employee_no: str) -> None:
        self._call(f"delete face {employee_no}").faces.pop(employee_no, None)

    def set_event_host(self, url: str) -> None:
        self._call("host").event_host = url

    def search_events(self, start: datetime, end: datetime) -> Iterator[TerminalEvent]:
        t = self._call("search")
        return iter([e for e in t.events if start <= e.occurred_at <= end])

    def parse_push(self, content_type: str, body: bytes) -> list[TerminalEvent]:
        """The fake's push: JSON {"events": [{serial, employee_no, pass, time}]} with the picture as base64."""
        import base64
        import json

        if not content_type.startswith("application/json"):
            raise ValueError("not a push: expected application/json")
        try:
            data = json.loads(body)
            return [TerminalEvent(serial_no=int(e["serial"]), occurred_at=datetime.fromisoformat(e["time"]),
                                  is_pass=bool(e.get("pass")), employee_no=e.get("employee_no", ""),
                                  picture=base64.b64decode(e["picture"]) if e.get("picture") else None)
                    for e in data["events"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a push: {exc}") from exc
