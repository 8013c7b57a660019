"""Every command's --help renders: typer reads help text as rich markup, where a bracketed slash such as
"[/RUNTIME]" is a closing tag and ends the command with a MarkupError instead of its help."""

import pytest
from typer.testing import CliRunner

from edgewise.cli import app

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]
GROUPS = [g.name for g in app.registered_groups]


def test_the_commands_are_found():
    assert {"run", "export", "recommend"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [*COMMANDS, *GROUPS])
def test_help_renders(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Usage" in result.output
