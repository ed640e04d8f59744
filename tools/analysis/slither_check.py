#!/usr/bin/env python3
"""Compares slither's JSON report with the checked-in triage (tools/analysis/slither-triage.tsv).

Fails (exit 1) on any High or Medium finding in contracts/ that the triage does not list; prints a summary of the
Low and Informational ones, and the triage lines that no longer match a finding (stale, to be removed).
Usage: slither_check.py REPORT.json TRIAGE.tsv
"""

import json
import sys
from collections import Counter

GATED = ("High", "Medium")


def where(result):
    """Contract.function (or Contract.variable) of the finding's first element, as the triage names it."""
    for element in result["elements"]:
        parent = element.get("type_specific_fields", {}).get("parent", {})
        if element["type"] in ("function", "variable") and parent.get("type") == "contract":
            return f"{parent['name']}.{element['name']}"
        if element["type"] == "contract":
            return element["name"]
    return result["elements"][0]["name"] if result["elements"] else "?"


def ours(result):
    paths = [e.get("source_mapping", {}).get("filename_relative", "") for e in result["elements"]]
    return any(p.startswith("contracts/") for p in paths)


def main(report_path, triage_path):
    report = json.load(open(report_path))
    if not report.get("success"):
        print(f"slither failed: {report.get('error')}")
        return 1
    triage = {}
    for line in open(triage_path):
        if not line.strip() or line.startswith("#"):
            continue
        detector, location, severity, reason = line.rstrip("\n").split("\t")
        if not reason.strip():
            print(f"triage line without a reason: {detector} {location}")
            return 1
        triage[(detector, location)] = severity

    untriaged, matched, summary = [], set(), Counter()
    for result in report.get("results", {}).get("detectors", []):
        if not ours(result):
            continue
        key = (result["check"], where(result))
        if result["impact"] in GATED:
            if key in triage and triage[key] == result["impact"]:
                matched.add(key)
            else:
                untriaged.append(result)
        else:
            summary[(result["impact"], result["check"])] += 1

    print(f"accepted High/Medium findings (triaged): {len(matched)}")
    if summary:
        print("Low/Informational findings (not gated):")
        for (impact, check), count in sorted(summary.items()):
            print(f"  {impact:<13} {check:<28} {count}")
    for key in sorted(set(triage) - matched):
        print(f"stale triage line (no such finding now): {key[0]} {key[1]}")
    if untriaged:
        print(f"\n{len(untriaged)} High/Medium finding(s) in contracts/ not in {triage_path}:")
        for result in untriaged:
            print(f"- [{result['impact']}] {result['check']} {where(result)}")
            print("  " + result["description"].strip().replace("\n", "\n  "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
