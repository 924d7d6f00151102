"""`aiflow workflows`: the workflows this deployment runs, their model steps (with the
catalogue alias each step uses here) and what `aiflow run NAME FILE` takes."""

from __future__ import annotations

import sys

from starter.tables import table
from starter.terminal import CliError, CliParser, error, load_settings, stdout_closed


def render() -> str:
    from deployment import step_models, workflow_specs  # the worker's own view of them

    settings = load_settings()
    try:
        specs = workflow_specs(settings)
    except ValueError as err:
        raise CliError(str(err)) from None
    models = step_models(settings)
    rows = [
        [
            s.name,
            s.type_name,
            s.id_prefix + "KEY",
            " ".join(f"{step}={models.get(step, alias)}" for step, alias in s.step_models.items()),
            s.input_help,
        ]
        for s in specs
    ]
    lines = [table(["name", "Temporal type", "workflow id", "model steps", "FILE"], rows), ""]
    lines += [f"{s.name}: {s.summary}" for s in specs]
    lines.append("\nStart items with: aiflow run NAME FILE...")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    CliParser(prog="aiflow workflows", description=__doc__).parse_args(argv)
    try:
        print(render(), flush=True)
    except CliError as err:
        error("aiflow workflows", str(err))
        return err.code
    except BrokenPipeError:
        return stdout_closed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
