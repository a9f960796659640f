"""What every ``sampark`` subcommand does around its work: settings, exit codes, no tracebacks."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings, load_settings
from bot.storage.database import SchemaOutOfDate


def run_cli(
    name: str,
    parser: argparse.ArgumentParser,
    run: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]],
    argv: Sequence[str],
    *,
    usage_errors: tuple[type[Exception], ...] = (),
    fatal_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Parse ``argv``, load settings and ``run``; every failure becomes one line on stderr.

    Exit status: 0 done, 2 a bad request (``usage_errors``, configuration), 1 the system
    could not do it (``fatal_errors``, outdated schema, database or Redis unreachable),
    130 interrupted.
    """
    usage: tuple[type[Exception], ...] = (ConfigError, *usage_errors)
    fatal: tuple[type[Exception], ...] = (SchemaOutOfDate, *fatal_errors)
    try:
        args = parser.parse_args(list(argv))
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(run(settings, args))
    except usage as exc:
        print(f"sampark {name}: {exc}", file=sys.stderr)
        return 2
    except fatal as exc:
        print(f"sampark {name}: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, RedisError, OSError) as exc:
        print(
            f"sampark {name}: the database or Redis is not reachable ({type(exc).__name__})",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
