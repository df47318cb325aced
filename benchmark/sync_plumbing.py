"""Copy the plumbing block of one script into the others, so that the copies stay byte-identical.

    python benchmark/sync_plumbing.py asaf_w.py          # asaf_w.py's block replaces the block of every other learner

The block runs from the line `# Plumbing: ...` (with the ruler line above it) to `# End of the plumbing block.` (with
the ruler line below it); tests/test_plumbing.py fails when two copies differ. Edit the block in one script, run
this, then `ruff format`.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEARNERS = ["bc.py", "gail_ppo.py", "asaf.py", "asaf_w.py", "dagger.py", "aggrevated.py"]
RULER = "# " + "=" * 118
START = "# Plumbing: "
END = "# End of the plumbing block."


def find_block(text, name):
    """(first, last) line indices of the block, rulers included; exits with one sentence if it is not there."""
    lines = text.split("\n")
    starts = [i - 1 for i, line in enumerate(lines) if line.startswith(START) and i > 0 and lines[i - 1] == RULER]
    ends = [i + 1 for i, line in enumerate(lines) if line == END and i + 1 < len(lines) and lines[i + 1] == RULER]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        sys.exit(
            f"sync_plumbing.py: expected one plumbing block in {name}, found {len(starts)} starts, {len(ends)} ends."
        )
    return starts[0], ends[0]


def block_of(path):
    text = open(path).read()
    first, last = find_block(text, path)
    return "\n".join(text.split("\n")[first : last + 1])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="the script whose block is copied, e.g. asaf_w.py")
    p.add_argument("--targets", nargs="+", default=LEARNERS, help="scripts that receive it")
    a = p.parse_args()
    block = block_of(os.path.join(ROOT, a.source))
    for name in a.targets:
        path = os.path.join(ROOT, name)
        text = open(path).read()
        first, last = find_block(text, name)
        lines = text.split("\n")
        new = "\n".join(lines[:first] + block.split("\n") + lines[last + 1 :])
        if new != text:
            open(path, "w").write(new)
            print(f"updated {name}")
