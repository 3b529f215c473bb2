"""Summarise one `conformance server -o DIR` run from its checks.json files.

    python3 summarize.py DIR LABEL [--expected FILE]
    python3 summarize.py --merge LABEL=DIR LABEL=DIR ...
    python3 summarize.py --line DIR

Prints a Markdown table (one row per scenario: passed, failed, warnings,
infos) and a totals line, writes DIR/summary.json, and exits 1 when any check
is a FAILURE or a WARNING (a WARNING is a SHOULD the suite saw unmet; none is
accepted silently), or when no scenario ran. With --merge it prints one
table with a column per run (passed / failed / warnings / info).

--expected FILE names scenarios whose FAILURE/WARNING checks are known and
explained: one per line, `LEG-GLOB SCENARIO  # reason` (LEG-GLOB matches
LABEL, e.g. `*` or `client-*`). A line without a reason is an error, and so
is a stale line: a scenario it names that ran clean under a matching label
(so the list cannot outlive the failures it explains).
"""

import fnmatch
import glob
import json
import os
import re
import sys


def scenarios(out_dir: str):
    for path in sorted(glob.glob(os.path.join(out_dir, "server-*", "checks.json"))):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T.*$", "", os.path.basename(os.path.dirname(path)))
        counts = {"SUCCESS": 0, "FAILURE": 0, "WARNING": 0, "INFO": 0}
        for c in json.load(open(path)):
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        yield scenario, counts


def merge(runs: list[str]) -> int:
    labels = [r.split("=", 1)[0] for r in runs]
    tables = [dict(scenarios(r.split("=", 1)[1])) for r in runs]
    names = sorted(set().union(*tables))
    print("| scenario | " + " | ".join(f"{l}: passed / failed / warnings / info" for l in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    cell = lambda c: f"{c['SUCCESS']} / {c['FAILURE']} / {c['WARNING']} / {c['INFO']}" if c else "not run"
    for n in names:
        print(f"| {n} | " + " | ".join(cell(t.get(n)) for t in tables) + " |")
    totals = []
    for t in tables:
        tot = {k: sum(c[k] for c in t.values()) for k in ("SUCCESS", "FAILURE", "WARNING", "INFO")}
        totals.append(f"**{cell(tot)}**")
    print(f"| **total ({len(names)} scenarios)** | " + " | ".join(totals) + " |")
    return 0


def expected(path: str | None, label: str) -> dict[str, str]:
    """Scenario -> reason for the lines of the expected-failures file that match label."""
    out = {}
    if not path:
        return out
    for n, raw in enumerate(open(path), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        body, _, reason = line.partition("#")
        parts = body.split()
        if len(parts) != 2 or not reason.strip():
            raise SystemExit(f"{path}:{n}: want `LEG-GLOB SCENARIO  # reason`, got: {line}")
        if fnmatch.fnmatch(label, parts[0]):
            out[parts[1]] = reason.strip()
    return out


def main() -> int:
    if sys.argv[1] == "--merge":
        return merge(sys.argv[2:])
    if sys.argv[1] == "--line":  # one line from DIR/summary.json
        s = json.load(open(os.path.join(sys.argv[2], "summary.json")))
        exp = s.get("expected", [])
        print(
            f"{s['scenarios']} scenarios, {s['success']} checks passed, {s['failure']} failed, "
            f"{s['warning']} warnings, {s['info']} info"
            + (f" ({len(exp)} scenarios expected to fail: {', '.join(exp)})" if exp else "")
        )
        return 0
    out_dir, label = sys.argv[1], sys.argv[2]
    known = expected(sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--expected" else None, label)
    rows = []
    problems = []
    excused = []
    for path in sorted(glob.glob(os.path.join(out_dir, "server-*", "checks.json"))):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T.*$", "", os.path.basename(os.path.dirname(path)))
        counts = {"SUCCESS": 0, "FAILURE": 0, "WARNING": 0, "INFO": 0}
        for c in json.load(open(path)):
            counts[c["status"]] = counts.get(c["status"], 0) + 1
            if c["status"] in ("FAILURE", "WARNING"):
                message = c.get("errorMessage") or ""
                if len(message) > 400:  # wire-schema messages quote whole responses
                    message = message[:400] + " [...]"
                line = f"{scenario}: {c['status']} {c['id']}: {message}"
                (excused if scenario in known else problems).append(line)
        rows.append((scenario, counts))
        if scenario in known and not counts["FAILURE"] and not counts["WARNING"]:
            problems.append(f"{scenario}: listed as an expected failure but clean: remove its line")
    total = {k: sum(c[k] for _, c in rows) for k in ("SUCCESS", "FAILURE", "WARNING", "INFO")}
    print(f"| scenario ({label}) | passed | failed | warnings | info |")
    print("|---|---:|---:|---:|---:|")
    for scenario, c in rows:
        print(f"| {scenario} | {c['SUCCESS']} | {c['FAILURE']} | {c['WARNING']} | {c['INFO']} |")
    print(
        f"| **{len(rows)} scenarios** | **{total['SUCCESS']}** | **{total['FAILURE']}** "
        f"| **{total['WARNING']}** | **{total['INFO']}** |"
    )
    for p in problems:
        print(f"PROBLEM {p}")
    for e in excused:
        print(f"EXPECTED {e}")
    for scenario in sorted(set(known) & {s for s, _ in rows}):
        print(f"EXPECTED-BECAUSE {scenario}: {known[scenario]}")
    summary = {
        "label": label,
        "scenarios": len(rows),
        "expected": sorted(set(known) & {s for s, _ in rows}),
        **{k.lower(): v for k, v in total.items()},
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f)
    return 1 if problems or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
