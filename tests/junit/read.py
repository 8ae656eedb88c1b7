"""Reads a JUnit XML report with junitparser (a consumer CI tools use) and prints what it
understood as JSON, so connlab's tests check the report as a consumer sees it."""
import json
import sys

from junitparser import JUnitXml

xml = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in xml:
    for case in suite:
        cases.append({
            "name": case.name,
            "time": case.time,
            "results": [
                {"kind": type(r).__name__.lower(), "message": r.message, "text": r.text}
                for r in case.result
            ],
            "system_out": case.system_out,
        })
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors,
                  "skipped": xml.skipped, "cases": cases}))
