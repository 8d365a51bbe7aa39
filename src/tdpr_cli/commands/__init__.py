"""Typer sub-commands, one module per command group.

Each module defines its commands as plain functions or a ``typer.Typer`` app
and raises only ``tdpr_cli.errors.TdprError`` subclasses; ``tdpr_cli.cli``
registers them and alone maps errors to exit codes. Heavy imports (torch,
numpy, scipy, soundfile) happen inside the command bodies.
"""
