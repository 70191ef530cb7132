"""``python -m thorn``: thorn's command line (``listen``).

.. versionadded:: 2.0
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

USAGE = "usage: python -m thorn listen --help"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by the first argument; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "listen":
        from thorn.listen import main as listen

        return listen(args[1:])
    print(f"Unknown command {args[0]!r}. {USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
