"""The specialist's link to the whole study, given when they accept a case.

One live link per recipient and case: a new accept tap replaces the previous link. The
link is put straight into the edited case card (a reply to the specialist's own tap), so
the token never rests in the outbox or anywhere else but the recipient's chat; only its
hash is stored. Besides the plain link (any browser, other devices) the card gets a Mini
App button when the web side is reachable over https (Telegram refuses other web app
URLs); the Mini App authenticates with Telegram's ``initData`` instead of the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, WebAppInfo

from bot.cases.views import CaseView
from bot.handlers.context import Ctx
from bot.i18n import N_, Translator
from bot.security.capability_links import LinkError

LINK_LINE = N_("🔗 Full study, for you only (valid until {time} UTC):\n{url}")
VIEW = N_("View study")
OPEN_IN_BROWSER = N_("Open in browser")


@dataclass(frozen=True)
class StudyLink:
    """What the accepted card shows: a line with the link and a row of buttons."""

    line: str
    buttons: list[InlineKeyboardButton]


async def study_link(ctx: Ctx, tr: Translator, case: CaseView) -> StudyLink | None:
    """Issue the assigned specialist's link to ``case`` (None without images or specialist)."""
    services = ctx.services
    if case.specialist_id is None or not await services.attachments.previews(case.id):
        return None
    links = services.links
    await links.revoke_for_case(case.id, recipient=case.specialist_id, reason="replaced")
    try:
        issued = await links.issue(case.id, case.specialist_id, view=True, download=True)
    except LinkError:  # no longer theirs (a race with a reassignment): no link
        return None
    public = services.settings.public_url
    url = f"{public}/s/{issued.token}"
    line = tr._(LINK_LINE, time=issued.expires_at.strftime("%d %b %H:%M"), url=url)
    if public.startswith("https://"):
        buttons = [
            InlineKeyboardButton(tr._(VIEW), web_app=WebAppInfo(f"{public}/app/{case.code}")),
            InlineKeyboardButton(tr._(OPEN_IN_BROWSER), url=url),
        ]
    else:
        buttons = [InlineKeyboardButton(tr._(VIEW), url=url)]
    return StudyLink(line, buttons)
