#!/usr/bin/env python3
"""Reads halmos's JSON results and decides: every proof (`check_*`) must pass with no path cut by a loop bound,
and every companion (`check_mustFail_*`) must have a counterexample, so that no proof is vacuous.
Usage: halmos_check.py RESULTS.json
"""

import json
import sys


def main(path):
    results = json.load(open(path)).get("test_results", {})
    failures, proofs, companions = [], 0, 0
    for contract, tests in sorted(results.items()):
        for test in tests:
            name = test["name"].split("(")[0]
            label = f"{contract.split(':')[-1]}.{name}"
            refuted = test.get("num_models", 0) > 0 and test["exitcode"] != 0
            if name.startswith("check_mustFail_"):
                companions += 1
                verdict = "counterexample found (as required)" if refuted else "NO COUNTEREXAMPLE"
                if not refuted:
                    failures.append(f"{label}: the companion found no counterexample (exit {test['exitcode']})")
            else:
                proofs += 1
                bounded = test.get("num_bounded_loops", 0)
                proven = test["exitcode"] == 0 and bounded == 0
                verdict = "proven" if proven else f"NOT PROVEN (exit {test['exitcode']}, bounded loops {bounded})"
                if not proven:
                    failures.append(f"{label}: {verdict}")
            paths = test.get("num_paths", [0])[0]
            seconds = test.get("time", [0])[0]
            print(f"  {label:<70} {verdict} ({paths} paths, {seconds:.1f}s)")
    if proofs == 0 or companions == 0:
        failures.append(f"expected proofs and companions, found {proofs} and {companions}")
    for failure in failures:
        print(f"halmos: {failure}")
    print(f"halmos: {proofs} proofs, {companions} companions, {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
