"""A restart at any moment loses nothing and sends nothing twice."""

from __future__ import annotations

from datetime import timedelta

from redis.asyncio import Redis

from bot.cases.drafts import Step
from bot.clock import ManualClock
from bot.config import Settings
from bot.handlers import case_texts
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.live import running_bot
from bot.sandbox.script import Transcript
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist
from tests.e2e.test_routing import submit_case


async def test_draft_and_pending_escalation_survive_restarts(
    settings: Settings, emulator: BotApiEmulator, clock: ManualClock, redis: Redis
) -> None:
    async with SandboxClient(emulator.control_url) as client:
        transcript = Transcript()
        async with running_bot(settings, emulator, clock=clock, redis=redis) as runtime:
            world = World(client, runtime, transcript, runtime.services.catalogs)
            ravi = await coordinator(world)
            meera = await specialist(world, "Dr. Meera Iyer")
            sunita = await health_worker(world)
            hi = world.catalogs.get("hi")
            await sunita.send("/new")
            await sunita.expect(hi._(case_texts.DRAFT_QUESTIONS[Step.AGE]))
            await sunita.send("30")
            await sunita.expect(hi._(case_texts.DRAFT_QUESTIONS[Step.SEX]))

        # The bot restarts: the draft resumes at the same question.
        async with running_bot(settings, emulator, clock=clock, redis=redis) as runtime:
            world = World(client, runtime, transcript, runtime.services.catalogs)
            await sunita.send("/new")
            choice = await sunita.expect(
                hi._("You have an unfinished case. Continue it or start again?")
            )
            await sunita.tap(choice, hi._("Continue"))
            await sunita.expect(hi._(case_texts.DRAFT_QUESTIONS[Step.SEX]))
            await sunita.send("/cancel")
            ask = await sunita.expect()
            await sunita.tap(ask, hi._("Yes, discard"))
            await sunita.expect()
            code = await submit_case(world, sunita, with_film=False)
            card = await meera.expect(code)

        # Down while the offer waits; 31 minutes later a new process takes over the timer.
        clock.advance(timedelta(minutes=31))
        async with running_bot(settings, emulator, clock=clock, redis=redis) as runtime:
            await runtime.services.escalator.tick()
            en = runtime.services.catalogs.get("en")
            await meera.expect_edit(
                card, en._("Not answered in time: the case went to another specialist.")
            )
            await ravi.expect(code)
            # A second process ticking at the same moment fires nothing again.
            assert await runtime.services.escalator.tick() == 0
            await ravi.silence()
            await meera.silence()
