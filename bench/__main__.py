"""``python -m bench``: run every benchmark and write BENCHMARKS.md at the repository root.

Every ``bench/bench_*.py`` with a ``run()`` is run in a fresh interpreter of its own (memory
and Qt state of one never leak into another), its rows come back as JSON, and the report is
written from scratch: the machine, the date, one table per benchmark with each figure, its
reference measured in the same run, the ratio, the goal and whether it was met.

Options: ``--only pipeline,orders`` runs a subset; ``--output PATH`` writes elsewhere;
``--child MODULE`` is the internal one-benchmark mode.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, machine_info, today  # noqa: E402

BENCH_DIR = REPO / "bench"
MARKER = "BENCH_RESULT_JSON "
TIMEOUT_S = 420  # one benchmark; the whole run aims at under ten minutes

TITLES = {
    "bench_pipeline": "Tick pipeline",
    "bench_orders": "Order latency",
    "bench_startup": "Start-up",
    "bench_memory": "Memory",
    "bench_chart": "Chart",
    "bench_greeks": "Greeks and implied volatility",
    "bench_angelone_decoder": "Angel One feed decoder",
    "bench_angelone_master": "Angel One instrument master",
    "bench_bundle": "Bundle size and start-up",
}
ORDER = ["bench_pipeline", "bench_orders", "bench_startup", "bench_memory", "bench_chart", "bench_greeks",
         "bench_angelone_decoder", "bench_angelone_master", "bench_bundle"]


def discover() -> list[str]:
    names = [p.stem for p in BENCH_DIR.glob("bench_*.py")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def child(module_name: str) -> int:
    """Run one benchmark in this process and print its rows (and details) as one JSON line."""
    module = importlib.import_module(f"bench.{module_name}")
    if not hasattr(module, "run"):
        print(MARKER + json.dumps({"skipped": "no run()"}))
        return 0
    rows = module.run()
    details = module.details() if hasattr(module, "details") else ""
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    print(MARKER + json.dumps({"rows": rows, "details": details, "doc": doc}, default=_jsonable))
    return 0


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def run_one(module_name: str) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "bench", "--child", module_name], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {TIMEOUT_S} s", "seconds": TIMEOUT_S}
    seconds = time.perf_counter() - started
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER):])
            result["seconds"] = seconds
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-6:]
    return {"error": f"exit code {done.returncode}: " + " / ".join(tail), "seconds": seconds}


# --- the report ----------------------------------------------------------------------------------------


def number(value, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    value = float(value)
    digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2 if abs(value) >= 1 else 3
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def ratio_text(r: dict) -> str:
    """The ratio, saying which way round the bench computed it."""
    ratio, value, ref = r.get("ratio"), r.get("value"), r.get("reference_value")
    if ratio is None or value in (None, 0) or ref in (None, 0):
        return "—"
    try:
        ratio, value, ref = float(ratio), float(value), float(ref)
    except (TypeError, ValueError):
        return str(ratio)
    if math.isclose(ratio, value / ref, rel_tol=0.02, abs_tol=0.002):
        return f"{ratio:,.2f}× (ours/ref)"
    if math.isclose(ratio, ref / value, rel_tol=0.02, abs_tol=0.02):
        return f"{ratio:,.2f}× (ref/ours)"
    return f"{ratio:,.2f}"


def goal_cells(r: dict) -> tuple[str, str]:
    goal, met = r.get("goal") or "", r.get("met")
    if not goal and str(r.get("reference", "")).strip().lower() == "target" and r.get("reference_value") is not None:
        goal = f"≤ {number(r['reference_value'], r.get('unit', ''))}"  # the chart bench states its goals this way
        met = r.get("value") is not None and float(r["value"]) <= float(r["reference_value"])
    if not goal:
        return "", ""
    if met is None:
        return goal, "not measured" if r.get("value") is None else ""
    return goal, "yes" if met else "**NO — missed**"


def section(name: str, result: dict) -> list[str]:
    title = TITLES.get(name, name.removeprefix("bench_").replace("_", " ").capitalize())
    lines = [f"## {title}", "", f"`bench/{name}.py` — ran in {result.get('seconds', 0):.0f} s.", ""]
    if "error" in result:
        return lines + [f"**Did not run: {result['error']}**", ""]
    if "skipped" in result:
        return lines + [f"Skipped: {result['skipped']}.", ""]
    if result.get("doc"):
        lines += [" ".join(result["doc"].split()), ""]
    lines += ["| figure | value | reference (same run) | reference value | ratio | goal | met? |",
              "|---|---:|---|---:|---:|---|---|"]
    notes = []
    for r in result["rows"]:
        goal, met = goal_cells(r)
        unit = r.get("unit", "")
        name_cell = r["name"]
        if r.get("note"):
            notes.append(r["note"])
            name_cell += f" [{len(notes)}]"
        value = number(r.get("value"), unit) if r.get("value") is not None else "not measured"
        lines.append(f"| {name_cell} | {value} | {r.get('reference') or '—'} | "
                     f"{number(r.get('reference_value'), unit)} | {ratio_text(r)} | {goal} | {met} |")
    lines.append("")
    for at, note in enumerate(notes, 1):
        lines.append(f"[{at}] {note}  ")
    if notes:
        lines.append("")
    if result.get("details"):
        lines += [result["details"], ""]
    return lines


def summary(results: dict[str, dict]) -> list[str]:
    missed, met = [], 0
    for name, result in results.items():
        for r in result.get("rows", []):
            _, verdict = goal_cells(r)
            if verdict.startswith("**NO"):
                missed.append(f"{TITLES.get(name, name)}: {r['name']} — {number(r.get('value'), r.get('unit', ''))} "
                              f"against a goal of {goal_cells(r)[0]}")
            elif verdict == "yes":
                met += 1
    failed = [TITLES.get(n, n) for n, r in results.items() if "error" in r]
    lines = ["## Summary", "", f"Goals met: {met}. Goals missed: {len(missed)}."]
    if missed:
        lines += ["", "Missed:"] + [f"- {m}" for m in missed]
    if failed:
        lines += ["", "Benchmarks that did not run: " + ", ".join(failed) + "."]
    return lines + [""]


def write_report(results: dict[str, dict], machine: dict[str, str], seconds: float, path: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`QT_QPA_PLATFORM=offscreen python -m bench`); do not edit by hand. Every "
        "figure sits next to a reference measured in the same run on the same machine, because shared machines "
        "are noisy: compare the ratio, not the absolute numbers, across machines.",
        "",
        f"Date: {today()}. Whole run: {seconds / 60:.1f} min.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        *summary(results),
    ]
    for name, result in results.items():
        lines += section(name, result)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks, write BENCHMARKS.md.")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. pipeline,orders")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    names = discover()
    if args.only:
        wanted = {f"bench_{n.strip().removeprefix('bench_')}" for n in args.only.split(",") if n.strip()}
        names = [n for n in names if n in wanted]
    machine = machine_info()
    started = time.perf_counter()
    results = {}
    for name in names:
        print(f"running {name} ...", flush=True)
        results[name] = run_one(name)
        outcome = results[name].get("error") or f"{len(results[name].get('rows', []))} figures"
        print(f"  {name}: {outcome} ({results[name].get('seconds', 0):.0f} s)", flush=True)
    write_report(results, machine, time.perf_counter() - started, args.output)
    print(f"wrote {args.output}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
