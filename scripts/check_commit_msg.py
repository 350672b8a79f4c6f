"""commit-msg hook: the first line follows Conventional Commits, as CONVENTIONS.md asks.

`type(scope)!: summary`, with a type from TYPES; merges and reverts Git writes itself
pass. Run by pre-commit (`pre-commit install --hook-type commit-msg`), or by hand:
`python scripts/check_commit_msg.py .git/COMMIT_EDITMSG`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TYPES = ("feat", "fix", "refactor", "perf", "test", "docs", "build", "ci", "chore", "style")
PATTERN = re.compile(rf"^({'|'.join(TYPES)})(\([a-z0-9][a-z0-9._/-]*\))?!?: \S.*$")
GIT_WRITES = re.compile(r"^(Merge |Revert \"|fixup! |squash! )")


def problem(message: str) -> str | None:
    """Why the message's first line is not a Conventional Commit, or None if it is."""
    lines = [line for line in message.splitlines() if not line.startswith("#")]
    first = lines[0].strip() if lines else ""
    if GIT_WRITES.match(first):
        return None
    if not PATTERN.match(first):
        return (
            f"the first line must read `type(scope): summary` with a type from "
            f"{', '.join(TYPES)}; got {first!r}"
        )
    if len(first) > 120:
        return f"keep the first line under 120 characters (it has {len(first)})"
    return None


def main(argv: list[str]) -> int:
    message = Path(argv[1]).read_text("utf-8") if len(argv) > 1 else sys.stdin.read()
    reason = problem(message)
    if reason:
        print(f"commit message: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
