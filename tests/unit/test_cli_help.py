"""`python -m gateway COMMAND --help`: every option says what it does and what happens without it
(its default, or that it is required)."""

from __future__ import annotations

import argparse

import pytest

from gateway.cli import _parser

COMMANDS = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def _parsers(name: str, parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    """The parser and, depth first, those of its sub-commands (`accounts add`, ...)."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _parsers(f"{name} {sub}", subparser)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_says_what_it_does_and_its_default(command: str) -> None:
    for name, parser in _parsers(command, COMMANDS[command]):
        _check(name, parser)


def _check(command: str, parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest}: no help"
        if action.option_strings:
            assert "default" in action.help or "required" in action.help, (
                f"{command} {'/'.join(action.option_strings)}: {action.help!r}"
            )
