"""``python -m backtestkit``: the command line (:mod:`backtestkit.cli`)."""

from backtestkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
