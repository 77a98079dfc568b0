"""The ``ehr`` subcommands, one module each, every module exposing ``register(subparsers)``.

``register`` adds the subcommand's parser and sets ``handler`` (a function taking the
parsed arguments and returning the exit code) as its default.
"""

COMMANDS = ("serve", "token", "seed")
"""Modules of ``ehr.commands`` that the CLI loads, in help order."""
