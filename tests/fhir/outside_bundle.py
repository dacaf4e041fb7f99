#!/usr/bin/env python3
"""Write one synthetic patient's FHIR R4 Bundle as another system would send it.

    outside_bundle.py OUT.json [--seed N] [--profile NAME] [--ndjson DIR]

Made by carebundle (PyPI, Apache-2.0): a US Core 6.1.0 `transaction` Bundle for one adult
patient's ambulatory visit. The same seed gives the same bytes (carebundle derives every id
from the seed, never reads the clock, and draws its values from numpy's seeded generator; the
pinned numpy in .ci/pyenv keeps the draws the same).

What is in it (the default seed, 9, is the first whose patient has a drug allergy):
  Patient, Practitioner, Encounter, Condition (ICD-10-CM), Observation (laboratory results and
  vital signs: height, weight, BMI, heart rate, respiratory rate, temperature, oxygen
  saturation, and blood pressure as one Observation with two components), AllergyIntolerance
  (RxNorm) when the patient has one, MedicationRequest (RxNorm medicationCodeableConcept), and
  DiagnosticReport (one per laboratory panel), which Outpost's importer skips.
Entries carry no resource id: fullUrl is a urn:uuid and every reference is that urn:uuid.
--ndjson DIR also writes the same patient as bulk data (<Type>.ndjson, ids from the urn:uuids,
references rewritten to Type/id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from carebundle import PROFILES, generate_bundle, to_json, to_ndjson

DEFAULT_SEED = 9
DEFAULT_PROFILE = "type2_diabetes"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="outside_bundle.py",
        description="Write one synthetic patient's FHIR R4 transaction Bundle (carebundle).",
    )
    parser.add_argument("out", type=Path, help="the Bundle's JSON file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="same seed, same bytes (default: %(default)s)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES),
                        help="carebundle's clinical profile (default: %(default)s)")
    parser.add_argument("--ndjson", type=Path, metavar="DIR",
                        help="also write the patient as bulk-data NDJSON files into DIR")
    args = parser.parse_args(argv[1:])

    bundle = generate_bundle(profile=args.profile, seed=args.seed)
    text = to_json(bundle) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")

    if args.ndjson is not None:
        args.ndjson.mkdir(parents=True, exist_ok=True)
        for resource_type, lines in to_ndjson(bundle).items():
            (args.ndjson / f"{resource_type}.ndjson").write_text(lines, encoding="utf-8")

    counts = Counter(
        entry["resource"]["resourceType"] for entry in json.loads(text).get("entry", [])
    )
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    print(f"wrote {args.out}: {sum(counts.values())} resources ({summary})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
