"""Process metrics (Prometheus), counted where the events happen.

A leaf module: it imports nothing from the bot, so handlers, services, security and the
web side may all count into it without crossing a layer. ``/metrics`` (``bot.web.ops``)
exposes these together with gauges computed from the database at scrape time.

Labels are small closed sets (update kinds, outcomes); never a user, chat, case or token.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPDATES = Counter(
    "sampark_updates",
    "Telegram updates handled, by kind (message, callback_query, ...)",
    ["kind"],
)
HANDLER_SECONDS = Histogram(
    "sampark_handler_seconds",
    "Time spent handling one update (all handler groups), by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LINK_ACCESSES = Counter(
    "sampark_link_accesses",
    "Study link and Mini App accesses, by outcome (granted or the reason refused)",
    ["outcome"],
)
WEBHOOK_REQUESTS = Counter(
    "sampark_webhook_requests",
    "Requests to the Telegram webhook receiver, by result",
    ["result"],
)


def count_link_access(outcome: str) -> None:
    """One capability-link or Mini App access: ``granted``, or the refusal's reason."""
    LINK_ACCESSES.labels(outcome=outcome).inc()
