"""A command group that knows its commands' names and one-line help without importing them.

Importing every command module costs more than most commands take (`veil --help` paid for
the policy models, the service and the key store); the group imports a command's module only
when that command runs or shows its own help, and lists the others from the table it holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command (or group) of another module: where it lives and what `--help` lists."""

    module: str
    #: A function that adds the module's commands to a Typer app, or the module's Typer app.
    attr: str
    #: The first paragraph of its help, as the group's `--help` shows it.
    help: str
    group: bool = False


class LazyGroup(TyperGroup):
    """A Typer group whose `lazy` commands are imported on first use (set `lazy` and
    `new_app` on a subclass; Typer builds the group from the app's eager commands)."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {}
    #: A fresh Typer app with the main app's settings, for building a module's commands.
    new_app: ClassVar[Callable[[], typer.Typer]] = typer.Typer

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = LazyCommands(dict(self.commands), self.lazy, self._load)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        assert isinstance(commands, LazyCommands)
        if self._listing and not commands.imported(cmd_name) and cmd_name in self.lazy:
            return TyperCommand(cmd_name, help=self.lazy[cmd_name].help)  # listed, not loaded
        return commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, name: str) -> dict[str, Any]:
        """Every command the module behind `name` adds, built as Typer builds the main app."""
        spec = self.lazy[name]
        target = getattr(importlib.import_module(spec.module), spec.attr)
        app = self.new_app()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            target(app)
        return dict(typer.main.get_group(app).commands)


class LazyCommands(MutableMapping[str, Any]):
    """The group's commands: the eager ones, then those imported on first access, in Typer's
    order (plain commands before groups, each in the order they were declared)."""

    def __init__(
        self,
        eager: dict[str, Any],
        lazy: Mapping[str, LazyCommand],
        load: Callable[[str], dict[str, Any]],
    ) -> None:
        self._eager, self._lazy, self._load = eager, lazy, load
        self._loaded: dict[str, Any] = {}

    def imported(self, name: str) -> bool:
        return name in self._eager or name in self._loaded

    def __getitem__(self, name: str) -> Any:
        if name in self._eager:
            return self._eager[name]
        if name not in self._loaded:
            if name not in self._lazy:
                raise KeyError(name)
            built = self._load(name)
            self._loaded.update((k, v) for k, v in built.items() if k in self._lazy)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._eager[name] = command

    def __delitem__(self, name: str) -> None:
        found = self._eager.pop(name, None) is not None
        found = self._loaded.pop(name, None) is not None or found
        if not found:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        lazy = [n for n in self._lazy if n not in self._eager]
        yield from (n for n, c in self._eager.items() if not isinstance(c, TyperGroup))
        yield from (n for n in lazy if not self._lazy[n].group)
        yield from (n for n, c in self._eager.items() if isinstance(c, TyperGroup))
        yield from (n for n in lazy if self._lazy[n].group)

    def __len__(self) -> int:
        return len(self._eager) + sum(1 for n in self._lazy if n not in self._eager)

    def __contains__(self, name: object) -> bool:
        return name in self._eager or name in self._lazy
