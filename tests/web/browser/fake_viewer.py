"""A stand-in for the viewer's back end, implementing the HTTP contract on made-up images.

It lets the front end be tested in a real browser without a database: one grayscale CT-like
series (frames show a ramp of "HU" values through the requested window) and one colour
photo. Every API request is recorded so tests can see what the page asked for.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image, ImageDraw

from bot.web import assets
from bot.web.server import security_headers

LABELS_EN = {
    "title": "Study",
    "series": "Series",
    "frame": "Frame",
    "window": "Window",
    "presets": "Presets",
    "adjust": "Adjust",
    "pan": "Pan",
    "invert": "Invert",
    "reset": "Reset",
    "download": "Download",
    "loading": "Loading…",
    "error": "Something went wrong.",
    "burned_in": "Text burned into these images may identify the patient.",
    "case": "Case",
    "offline": "You are offline.",
    "of": "{n} of {total}",
}
LABELS_UR = {**LABELS_EN, "title": "مطالعہ", "of": "{total} میں سے {n}", "case": "کیس"}

CT = {
    "id": "s1",
    "label": "CT head axial",
    "modality": "CT",
    "frames": 12,
    "grayscale": True,
    "width": 512,
    "height": 512,
    "window": {"center": 40, "width": 80},
    "presets": [
        {"name": "Brain", "center": 40, "width": 80},
        {"name": "Bone", "center": 500, "width": 2000},
        {"name": "Lung", "center": -600, "width": 1500},
    ],
}
PHOTO = {
    "id": "p1",
    "label": "Photo",
    "modality": None,
    "frames": 1,
    "grayscale": False,
    "width": 400,
    "height": 300,
    "window": None,
    "presets": [],
}


@dataclass
class FakeStudy:
    """What the fake serves and what it saw."""

    lang: str = "en"
    burned_in: bool = True
    can_download: bool = True
    gone: set[str] = field(default_factory=lambda: {"revoked-token"})
    delay: float = 0.0  # seconds before each frame is answered (a slow connection)
    requests: list[web.Request] = field(default_factory=list)

    @property
    def frame_requests(self) -> list[dict[str, str]]:
        """Query of every frame request, with the frame's path under ``path``."""
        return [{**dict(r.query), "path": r.path} for r in self.requests if r.path.endswith(".jpg")]

    def study(self) -> dict[str, Any]:
        rtl = self.lang == "ur"
        return {
            "lang": self.lang,
            "dir": "rtl" if rtl else "ltr",
            "labels": LABELS_UR if rtl else LABELS_EN,
            "case": {"code": "C-0042", "lines": ["Male, 45 y", "Headache for 3 days"]},
            "burned_in": self.burned_in,
            "can_download": self.can_download,
            "series": [CT, PHOTO],
        }


def render(series: dict[str, Any], index: int, query: dict[str, str]) -> bytes:
    """A JPEG whose grey levels follow the window: a ramp from -1000 to 1000 "HU"."""
    side = 512 if query.get("size") == "full" else 256
    window = series["window"] or {"center": 0, "width": 2000}
    center = float(query.get("center", window["center"]))
    width = max(1.0, float(query.get("width", window["width"])))
    image = Image.new("L", (side, side))
    ramp = bytes(
        max(0, min(255, round(((x * 2000 / side - 1000) - center + width / 2) / width * 255)))
        for x in range(side)
    )
    image.putdata(list(ramp) * side)
    draw = ImageDraw.Draw(image)
    draw.ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), outline=255, width=3)
    draw.text((10, 10), f"{series['id']} #{index + 1}", fill=255)
    if query.get("invert") == "1":
        image = image.point(lambda v: 255 - v)
    if not series["grayscale"]:
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, progressive=True)
    return out.getvalue()


def fake_app(fake: FakeStudy) -> web.Application:
    """The contract's routes in link mode (``/s/{token}``) and Mini App mode (``/app``)."""

    def api_error(status: int, code: str) -> web.Response:
        return web.json_response({"error": code, "message": f"Fake {code}."}, status=status)

    def check(request: web.Request) -> web.Response | None:
        fake.requests.append(request)
        token = request.match_info.get("token")
        if token in fake.gone:
            return api_error(410, "gone")
        if request.path.startswith("/m/") and "X-Telegram-Init-Data" not in request.headers:
            return api_error(401, "init_data")
        return None

    async def page(request: web.Request) -> web.StreamResponse:
        if request.match_info.get("token") in fake.gone:
            return web.Response(status=410, text="This link is no longer valid.")
        return assets.page(request)

    async def study(request: web.Request) -> web.StreamResponse:
        return check(request) or web.json_response(fake.study())

    async def frame(request: web.Request) -> web.StreamResponse:
        refused = check(request)
        if refused:
            return refused
        series = {s["id"]: s for s in (CT, PHOTO)}.get(request.match_info["series"])
        index = int(request.match_info["index"])
        if series is None or not 0 <= index < series["frames"]:
            return api_error(404, "not_found")
        await asyncio.sleep(fake.delay)
        body = render(series, index, dict(request.query))
        return web.Response(body=body, content_type="image/jpeg")

    async def download(request: web.Request) -> web.StreamResponse:
        return check(request) or web.Response(
            body=b"PK\x05\x06" + bytes(18),
            content_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="study.zip"'},
        )

    async def download_ticket(request: web.Request) -> web.StreamResponse:
        return check(request) or web.json_response({"url": "/d/ticket-1", "expires_in": 60})

    async def ticket_download(request: web.Request) -> web.StreamResponse:
        fake.requests.append(request)
        return web.Response(
            body=b"PK\x05\x06" + bytes(18),
            content_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="study.zip"'},
        )

    app = web.Application(middlewares=[security_headers])
    assets.setup(app)
    app.router.add_get("/s/{token}", page)
    app.router.add_get("/app/{code}", page)
    for prefix in ("/s/{token}", "/m/{code}"):
        app.router.add_get(prefix + "/study", study)
        app.router.add_get(prefix + "/series/{series}/frames/{index:\\d+}.jpg", frame)
        app.router.add_get(prefix + "/download.zip", download)
    app.router.add_post("/m/{code}/download-ticket", download_ticket)
    app.router.add_get("/d/{ticket}", ticket_download)
    return app
