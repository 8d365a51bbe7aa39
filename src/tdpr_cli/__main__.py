"""``python -m tdpr_cli`` runs the command-line interface."""

from tdpr_cli.cli import main

main()
