"""``python -m learner.cli``: the same as the ``netpol-learner`` command."""

from learner.cli.program import command

command()
