"""What every benchmark shares: the row format, timing, percentiles, memory and machine facts.

A benchmark module ``bench/bench_<name>.py`` exposes ``run() -> list[dict]``; each dict is one
figure with keys ``name, value, unit, reference, reference_value, ratio`` (see :func:`row`),
and may add ``goal`` (text such as "≤ 16 ms"), ``met`` (True/False/None) and ``note``. A module
may also expose ``details() -> str``: Markdown (method, extra tables) printed under its table.
Ratios made here are always ours / reference: below 1 means ours is smaller (faster, leaner).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def row(name: str, value: float | None, unit: str, reference: str, reference_value: float | None,
        goal: str = "", met: bool | None = None, note: str = "", digits: int = 3) -> dict:
    """One figure. ``ratio`` is value / reference_value (None when either is missing or zero)."""
    ratio = None
    if value is not None and reference_value and math.isfinite(reference_value):
        ratio = round(value / reference_value, 3)
    return {
        "name": name,
        "value": None if value is None else round(float(value), digits),
        "unit": unit,
        "reference": reference,
        "reference_value": None if reference_value is None else round(float(reference_value), digits),
        "ratio": ratio,
        "goal": goal,
        "met": met,
        "note": note,
    }


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    at = (len(ordered) - 1) * p / 100.0
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (at - low))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn``, in seconds (the least disturbed by a shared machine)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def rss_mib() -> float:
    """Resident memory of this process in MiB, from /proc/self/status (VmRSS); NaN elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0  # the file says kB
    except OSError:
        pass
    return math.nan


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str]:
    """The facts a reader needs to compare figures: CPU, cores, OS, Python and Qt versions."""
    info = {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    try:
        import PySide6
        from PySide6.QtCore import qVersion

        info["Qt"] = qVersion()
        info["PySide6"] = PySide6.__version__
    except ImportError:
        info["Qt"] = "not installed"
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    try:
        with open("/proc/loadavg", encoding="ascii") as load:
            info["load average at start"] = " ".join(load.read().split()[:3])
    except OSError:
        pass
    return info


def today() -> str:
    return datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")


@contextmanager
def scratch_home():
    """Settings, journal and logs of a benchmark go to a fresh folder, never the user's."""
    previous = os.environ.get("TRADING_TERMINAL_HOME")
    with tempfile.TemporaryDirectory(prefix="terminal-bench-") as folder:
        os.environ["TRADING_TERMINAL_HOME"] = folder
        try:
            yield Path(folder)
        finally:
            if previous is None:
                os.environ.pop("TRADING_TERMINAL_HOME", None)
            else:
                os.environ["TRADING_TERMINAL_HOME"] = previous


def minute_bars(n: int, seed: int):
    """``n`` random-walk one-minute bars (a CandleSeries), 375 a weekday from 09:15 IST on
    Mon 2010-01-04, prices in paise on the five-paise tick. Same seed, same bars."""
    import numpy as np  # on first use: bench_memory reads its bare-process reference after importing this module

    from terminal.analytics.candles import IST_OFFSET_SECONDS, CandleSeries

    rng = np.random.default_rng(seed)
    day0 = 1_262_563_200 - IST_OFFSET_SECONDS + (9 * 60 + 15) * 60  # Mon 2010-01-04 09:15 IST
    i = np.arange(n)
    d = i // 375
    start = day0 + (d + (d // 5) * 2) * 86_400 + (i % 375) * 60
    close = np.maximum(2_200_000 + np.cumsum(rng.normal(0, 300, n)), 10_000).astype(np.int64) // 5 * 5
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 40, n) * 5
    low = np.maximum(np.minimum(open_, close) - rng.integers(0, 40, n) * 5, 5)
    return CandleSeries.from_arrays(start, open_, high, low, close, rng.integers(1, 200, n) * 75)


def offscreen() -> None:
    """Benchmarks run without a display unless the caller chose a platform."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def ensure_repo_on_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"
