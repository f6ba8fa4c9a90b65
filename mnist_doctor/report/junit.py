"""`--junit FILE`: the invocation as JUnit XML, the format every CI server renders.

One <testcase> per run (name = run name, classname = the config file's stem, time = wall
seconds). A run that produced no result (failed, interrupted, unreadable) gets one <error>; a run
that finished gets one <failure> per broken expectation, whose message is the check's detail
("test_accuracy 0.0980 < min 0.1"), so the CI page names the number that drifted. The suite's
`failures` and `errors` count test cases, as JUnit readers expect, not <failure> elements.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from mnist_doctor.report.results import RunResult
from mnist_doctor.runs.folder import write_atomic

SUITE_NAME = "mnist-doctor"


def junit_xml(results: list[RunResult], suite_name: str = SUITE_NAME) -> str:
    """The whole document as text, XML declaration included."""
    suite = ET.Element("testsuite", {
        "name": suite_name,
        "tests": str(len(results)),
        "failures": str(sum(1 for r in results if not r.errored and r.failed_checks)),
        "errors": str(sum(1 for r in results if r.errored)),
        "skipped": "0",
        "time": _seconds(sum(r.wall_seconds or 0.0 for r in results)),
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
    })
    for result in results:
        suite.append(_testcase(result))
    root = ET.Element("testsuites", {"name": suite_name})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, results: list[RunResult]) -> Path:
    """Write the XML atomically (a CI step may pick the file up while a rerun writes it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, junit_xml(results))
    return path


def classname(result: RunResult) -> str:
    """The config file's stem groups runs by config in CI views; runs without one share a name."""
    return Path(result.config_path).stem if result.config_path else SUITE_NAME


def _testcase(result: RunResult) -> ET.Element:
    case = ET.Element("testcase", {"name": result.name, "classname": classname(result),
                                   "time": _seconds(result.wall_seconds or 0.0)})
    if result.errored:
        error = ET.SubElement(case, "error", {"type": result.status,
                                              "message": result.error or f"run {result.status}"})
        error.text = result.error or f"run {result.status}"
    else:
        for check in result.failed_checks:
            detail = str(check.get("detail") or check.get("clause"))
            failure = ET.SubElement(case, "failure", {"type": "expectation", "message": detail})
            failure.text = f"expected {check.get('clause')}: {detail}"
    out = ET.SubElement(case, "system-out")
    out.text = (f"status: {result.status}\nrun_dir: {result.run_dir}\n"
                f"diagnosis: {', '.join(result.diagnosis) or 'none'}\n")
    if result.treatment:
        out.text += f"treatment: {result.treatment.get('verdict') or ''}\n"
        properties = ET.Element("properties")
        for key in ("root_cause", "best_trial"):
            value = result.treatment.get(key)
            text = ",".join(value) if isinstance(value, list) else str(value or "")
            ET.SubElement(properties, "property", {"name": key, "value": text})
        case.insert(0, properties)
    return case


def _seconds(value: float) -> str:
    return f"{value:.3f}"
