"""Writes tests/coverage/awscli_flags.json: the AWS CLI's global options and the flags of every
command of the `ec2`, `kms`, `iam` and `sts` groups, read from awscli's own command tables (the
`arg_table` its clidriver builds for `--help`), with the awscli version that made them.

Run it once with the AWS CLI's Python whenever that version changes, from the repository root:

    /path/to/venv/bin/python tests/coverage/awscli_flags.py

The Rust tests read the JSON only (cli/src/coverage.rs); they never need awscli.
"""

import json
import os
import sys

import awscli
from awscli.clidriver import create_clidriver

SERVICES = ["ec2", "kms", "iam", "sts"]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "awscli_flags.json")


def flags(arg_table):
    """The command's flags as its `--help` lists them (hidden ones, such as the `--next-token`
    that awscli's pagination replaces with `--starting-token`, left out)."""
    return sorted(
        "--" + name
        for name, arg in arg_table.items()
        if not getattr(arg, "_UNDOCUMENTED", False)
    )


def main():
    driver = create_clidriver()
    commands = driver._get_command_table()
    out = {
        "awscli": awscli.__version__,
        "generated_by": "tests/coverage/awscli_flags.py",
        "global": sorted("--" + n for n in driver._get_argument_table()),
        "commands": {},
    }
    for service in SERVICES:
        table = commands[service]._get_command_table()
        for name, cmd in sorted(table.items()):
            if name in ("wait", "help"):
                continue
            out["commands"][f"{service} {name}"] = flags(cmd.arg_table)
        waiters = table.get("wait")
        if waiters is not None:
            for name, cmd in sorted(waiters.subcommand_table.items()):
                out["commands"][f"{service} wait {name}"] = flags(cmd.arg_table)
    with open(OUT, "w") as f:
        f.write("{\n")
        f.write(f'  "awscli": {json.dumps(out["awscli"])},\n')
        f.write(f'  "generated_by": {json.dumps(out["generated_by"])},\n')
        f.write(f'  "global": {json.dumps(out["global"])},\n')
        f.write('  "commands": {\n')
        items = list(out["commands"].items())
        for i, (k, v) in enumerate(items):
            sep = "," if i + 1 < len(items) else ""
            f.write(f"    {json.dumps(k)}: {json.dumps(v)}{sep}\n")
        f.write("  }\n}\n")
    print(f"{OUT}: {len(items)} commands, awscli {out['awscli']}", file=sys.stderr)


if __name__ == "__main__":
    main()
