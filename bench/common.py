"""What every benchmark script shares: a one-line description of the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """Cores, CPU model, RAM, Python and OS, as the results tables print them."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def markers(name: str) -> tuple[str, str]:
    """The HTML comments around a benchmark's block in RESULTS.md."""
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def write_block(path: Path, name: str, block: str, heading: str) -> None:
    """Replace the marked block of benchmark `name` in `path` with `block` (its lines between the
    markers); a file or section that lacks it gets `## heading` and the block at the end."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{block.strip()}\n{end}{tail}")
