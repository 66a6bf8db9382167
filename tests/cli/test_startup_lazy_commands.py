"""The `veil` group lists other modules' commands from a table and imports a module only when
its command runs: the table must say what the modules say, and `veil --help` must read exactly
as it does with every module imported."""

from __future__ import annotations

import inspect

import pytest
import typer
import typer.main
from typer.core import TyperGroup

from veil.cli.lazy import LazyCommands
from veil.cli.main import LAZY_COMMANDS, VeilGroup, app


def _first_paragraph(command) -> str:  # noqa: ANN001 - a click command
    text = inspect.cleandoc(command.short_help or command.help or "")
    return text.split("\n\n")[0].replace("\n", " ").strip()


def _group() -> VeilGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, VeilGroup)
    return group


def test_the_table_says_what_each_module_registers() -> None:
    modules = {(c.module, c.attr) for c in LAZY_COMMANDS.values()}
    found: dict[str, object] = {}
    for module, attr in sorted(modules):
        name = next(n for n, c in LAZY_COMMANDS.items() if (c.module, c.attr) == (module, attr))
        found.update(_group()._load(name))
    assert sorted(found) == sorted(LAZY_COMMANDS), "LAZY_COMMANDS in veil/cli/main.py: names"
    for name, command in found.items():
        spec = LAZY_COMMANDS[name]
        assert _first_paragraph(command) == spec.help, f"LAZY_COMMANDS[{name!r}].help"
        assert isinstance(command, TyperGroup) == spec.group, f"LAZY_COMMANDS[{name!r}].group"
        assert not command.hidden and not command.deprecated


def _help(group, capsys, monkeypatch) -> str:  # noqa: ANN001
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERMINAL_WIDTH", "100")
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        group.main(["--help"], prog_name="veil")
    assert done.value.code == 0
    return capsys.readouterr().out


def test_root_help_is_the_same_as_with_every_module_imported(capsys, monkeypatch) -> None:
    lazy = _group()
    listed = _help(lazy, capsys, monkeypatch)
    everything = dict(lazy.commands.items())  # imports every module
    eager = TyperGroup(name=lazy.name, commands=everything, help=lazy.help,
                       no_args_is_help=True, rich_markup_mode="markdown",
                       context_settings=lazy.context_settings, params=lazy.params,
                       callback=lazy.callback)
    assert listed == _help(eager, capsys, monkeypatch)
    for name in LAZY_COMMANDS:
        assert name in listed


def test_commands_keep_typers_order_and_load_once() -> None:
    loads: list[str] = []
    eager = {"a": typer.core.TyperCommand("a"), "g": TyperGroup(name="g")}
    lazy = {"b": LAZY_COMMANDS["scan"], "h": LAZY_COMMANDS["keys"]}

    def load(name: str) -> dict[str, object]:
        loads.append(name)
        return {name: typer.core.TyperCommand(name), "other": typer.core.TyperCommand("x")}

    commands = LazyCommands(eager, lazy, load)
    assert list(commands) == ["a", "b", "g", "h"]  # plain commands first, then groups
    assert len(commands) == 4 and "b" in commands and "other" not in commands
    assert commands["b"] is commands["b"] and loads == ["b"]
    with pytest.raises(KeyError):
        commands["nope"]
