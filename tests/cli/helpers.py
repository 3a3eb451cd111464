"""Running the batch/validate/preview sub-commands in-process, letting their exceptions through."""

import argparse

from ophysio.cli.batch import register


def run_cli(*argv):
    """Parse ``argv`` with only the commands of ``ophysio.cli.batch`` and run the chosen one."""
    parser = argparse.ArgumentParser(prog="ophysio")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)
