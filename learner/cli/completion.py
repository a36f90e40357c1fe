"""``netpol-learner completion bash|zsh``: print a shell completion script.

The script is generated from the parsers themselves, so subcommands, flags and flag choices
never drift from what the command accepts. zsh reads the bash script through bashcompinit.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from typing import Any

from learner.app.console import Env
from learner.model.errors import ExitStatus

HELP = "print a bash or zsh completion script"
EXAMPLES = """\
examples:
  # bash: for this shell, then for every new one
  source <(netpol-learner completion bash)
  netpol-learner completion bash > ~/.local/share/bash-completion/completions/netpol-learner

  # zsh
  source <(netpol-learner completion zsh)
"""
ROOT_OPTIONS = ("--help", "--version", "--debug")
FUNCTION = "_netpol_learner_complete"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "completion",
        help=HELP,
        description=HELP,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")
    parser.set_defaults(handler=functools.partial(run, sub))


def run(sub: argparse._SubParsersAction[Any], args: argparse.Namespace, env: Env) -> ExitStatus:
    script = bash_script(sub.choices)
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    env.stdout.write(script)
    return ExitStatus.SUCCESS


def bash_script(commands: dict[str, argparse.ArgumentParser]) -> str:
    choice_cases = [
        f"    {name}:{flag}) words={shlex.quote(' '.join(choices))} ;;"
        for name, parser in sorted(commands.items())
        for flag, choices in _flag_choices(parser)
    ]
    option_cases = [
        f"    {name}) words={shlex.quote(' '.join(_long_options(parser)))} ;;"
        for name, parser in sorted(commands.items())
    ]
    top = " ".join([*sorted(commands), *ROOT_OPTIONS])
    return "\n".join(
        [
            f"{FUNCTION}() {{",
            '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
            '  local command="" words="" i',
            "  for ((i = 1; i < COMP_CWORD; i++)); do",
            '    case "${COMP_WORDS[i]}" in -*) ;; *) command="${COMP_WORDS[i]}"; break ;; esac',
            "  done",
            '  if [[ -z "$command" ]]; then',
            f'    COMPREPLY=($(compgen -W {shlex.quote(top)} -- "$cur")); return',
            "  fi",
            '  case "$command:$prev" in',
            *choice_cases,
            "  esac",
            '  if [[ -z "$words" && "$cur" == -* ]]; then',
            '    case "$command" in',
            *option_cases,
            "    esac",
            "  fi",
            '  if [[ -n "$words" ]]; then',
            '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
            "  else",
            '    COMPREPLY=($(compgen -f -- "$cur"))',
            "  fi",
            "}",
            f"complete -o filenames -F {FUNCTION} netpol-learner",
            "",
        ]
    )


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--")
    )


def _flag_choices(parser: argparse.ArgumentParser) -> list[tuple[str, list[str]]]:
    return [
        (option, [str(choice) for choice in action.choices])
        for action in parser._actions
        if action.choices and action.option_strings and action.help != argparse.SUPPRESS
        for option in action.option_strings
    ]
