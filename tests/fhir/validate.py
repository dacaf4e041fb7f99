#!/usr/bin/env python3
"""Check FHIR R4 JSON the way a strict consumer would.

    validate.py PATH

PATH is a FHIR R4 JSON Bundle, or a folder of bulk-data NDJSON files (one resource a line, each
file named <ResourceType>.ndjson). Prints one line per problem, `ResourceType/id: message` (a
bundle entry without an id is named by its fullUrl, or by its place as `entry[N]`), then
`validated N resources, M problems`, where N counts the resources in the entries or files (not
the Bundle around them). Exits 0 with no problem, 1 with any, 2 on a usage error.

What is checked, for every resource:
  * fhir.resources.R4B (pydantic): the Bundle as a whole, and each resource again with the class
    for its resourceType. Every validation error is a problem.
  * What fhir.resources lets through but FHIR JSON forbids: null, {} and [] anywhere; a decimal,
    integer or boolean written as a string (or a string as a number); an integer written as 3.0;
    duplicate keys; R4B-only resource types and datatypes.
  * Codes of the required bindings (R4 4.0.1 value sets) of the types Outpost writes, and of the
    datatypes they use; the target types of References (R4's list where it differs from R4B's).
  * R4 invariants: per-1, qty-3, att-1, ref-1, con-4, con-5, ait-1, ait-2, obs-6, obs-7, pat-1,
    bdl-1..5, bdl-7..12; the R4 Vital Signs profile (vs-1..3, category, units) for Observations
    coded with one of its LOINC codes, which R4 says SHALL conform to it.
  * References: in a Bundle every `reference` starting with urn:uuid: must be some entry's
    fullUrl; in NDJSON every `Type/id` must be a resource of that type and id in the folder (and
    a urn:uuid: one cannot resolve there). `#id` must name a contained resource. The shape of
    every relative reference is checked.

R4 against R4B. fhir.resources 8 has no R4 4.0.1 models: its root package is R5 and
fhir.resources.R4B is 4.3.0. Compared element by element with the R4 models of fhir.resources
6.4.0 (names, types, cardinality, required-ness, reference targets) for Patient, Encounter,
Observation, Condition, AllergyIntolerance, MedicationRequest, ImagingStudy, DocumentReference,
Practitioner and Bundle, with their backbone elements and the datatypes they use (HumanName,
Address, ContactPoint, Identifier, Attachment, Dosage, Timing, Quantity, CodeableConcept, Coding,
Reference, Meta, Narrative, Period, Annotation, Range, Ratio, SampledData, Signature), R4B
differs from R4 only in:
  * Observation.subject: R4B also allows Reference(Organization | Procedure | Practitioner |
    Medication | Substance); R4 allows Patient | Group | Device | Location. Checked here as R4.
  * Extension.value[x]: R4B adds valueCodeableReference and valueRatioRange (reported here: not
    R4) and drops valueMeta, which R4 allows: an extension carrying valueMeta is wrongly reported
    by fhir.resources.R4B as an extra field. Outpost writes none.
  * Resource types: R4B adds AdministrableProductDefinition, Citation, ClinicalUseDefinition,
    EvidenceReport, Ingredient, ManufacturedItemDefinition, MedicinalProductDefinition,
    NutritionProduct, PackagedProductDefinition, RegulatedAuthorization, SubscriptionStatus,
    SubscriptionTopic and SubstanceDefinition (reported here: not R4), and lacks R4's
    MedicinalProduct*, Substance{NucleicAcid,Polymer,Protein,ReferenceInformation,SourceMaterial,
    Specification}, EffectEvidenceSynthesis and RiskEvidenceSynthesis (reported: cannot be
    checked). None of them is one Outpost writes.
The status value sets of these types are the same in R4 and R4B. fhir.resources checks no code
against its value set, no reference target and no JSON primitive type, hence the checks here.
Known fhir.resources quirks this works around: an entry.resource without resourceType passes
Bundle validation; an unknown resourceType raises KeyError rather than a validation error.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from functools import lru_cache
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase
from pydantic import ValidationError

# Resource types of R4B that R4 does not have, and of R4 that R4B does not have.
R4B_ONLY_TYPES = frozenset(
    "AdministrableProductDefinition Citation ClinicalUseDefinition EvidenceReport Ingredient "
    "ManufacturedItemDefinition MedicinalProductDefinition NutritionProduct "
    "PackagedProductDefinition RegulatedAuthorization SubscriptionStatus SubscriptionTopic "
    "SubstanceDefinition".split()
)
R4_ONLY_TYPES = frozenset(
    "EffectEvidenceSynthesis MedicinalProduct MedicinalProductAuthorization "
    "MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient "
    "MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged "
    "MedicinalProductPharmaceutical MedicinalProductUndesirableEffect RiskEvidenceSynthesis "
    "SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation "
    "SubstanceSourceMaterial SubstanceSpecification".split()
)
# Extension.value[x] types R4B added.
R4B_ONLY_EXTENSION_VALUES = frozenset({"valueCodeableReference", "valueRatioRange"})
# Reference targets where R4 is narrower than R4B: (model class, element) -> R4's targets.
R4_REFERENCE_TARGETS = {
    ("Observation", "subject"): {"Patient", "Group", "Device", "Location"},
}


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Required bindings on code elements (R4 4.0.1), by fhir.resources model class and JSON name.
CODE_BINDINGS: dict[tuple[str, str], frozenset[str]] = {
    ("Patient", "gender"): _codes("male female other unknown"),
    ("PatientContact", "gender"): _codes("male female other unknown"),
    ("PatientLink", "type"): _codes("replaced-by replaces refer seealso"),
    ("Practitioner", "gender"): _codes("male female other unknown"),
    ("Encounter", "status"): _codes(
        "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
    ),
    ("EncounterStatusHistory", "status"): _codes(
        "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
    ),
    ("EncounterLocation", "status"): _codes("planned active reserved completed"),
    ("Observation", "status"): _codes(
        "registered preliminary final amended corrected cancelled entered-in-error unknown"
    ),
    ("AllergyIntolerance", "type"): _codes("allergy intolerance"),
    ("AllergyIntolerance", "category"): _codes("food medication environment biologic"),
    ("AllergyIntolerance", "criticality"): _codes("low high unable-to-assess"),
    ("AllergyIntoleranceReaction", "severity"): _codes("mild moderate severe"),
    ("MedicationRequest", "status"): _codes(
        "active on-hold cancelled completed entered-in-error stopped draft unknown"
    ),
    ("MedicationRequest", "intent"): _codes(
        "proposal plan order original-order reflex-order filler-order instance-order option"
    ),
    ("MedicationRequest", "priority"): _codes("routine urgent asap stat"),
    ("ImagingStudy", "status"): _codes("registered available cancelled entered-in-error unknown"),
    ("DocumentReference", "status"): _codes("current superseded entered-in-error"),
    ("DocumentReference", "docStatus"): _codes("preliminary final amended entered-in-error"),
    ("DocumentReferenceRelatesTo", "code"): _codes("replaces transforms signs appends"),
    ("Bundle", "type"): _codes(
        "document message transaction transaction-response batch batch-response history "
        "searchset collection"
    ),
    ("BundleEntryRequest", "method"): _codes("GET HEAD POST PUT DELETE PATCH"),
    ("BundleEntrySearch", "mode"): _codes("match include outcome"),
    ("HumanName", "use"): _codes("usual official temp nickname anonymous old maiden"),
    ("ContactPoint", "system"): _codes("phone fax email pager url sms other"),
    ("ContactPoint", "use"): _codes("home work temp old mobile"),
    ("Address", "use"): _codes("home work temp old billing"),
    ("Address", "type"): _codes("postal physical both"),
    ("Identifier", "use"): _codes("usual official temp secondary old"),
    ("Narrative", "status"): _codes("generated extensions additional empty"),
    ("Quantity", "comparator"): _codes("< <= >= >"),
    ("Age", "comparator"): _codes("< <= >= >"),
    ("Duration", "comparator"): _codes("< <= >= >"),
    ("Distance", "comparator"): _codes("< <= >= >"),
    ("Count", "comparator"): _codes("< <= >= >"),
    ("TimingRepeat", "durationUnit"): _codes("s min h d wk mo a"),
    ("TimingRepeat", "periodUnit"): _codes("s min h d wk mo a"),
    ("TimingRepeat", "dayOfWeek"): _codes("mon tue wed thu fri sat sun"),
}

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
# Required bindings on CodeableConcepts (R4 4.0.1): one coding must come from the system, with
# one of the codes.
CONCEPT_BINDINGS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("Condition", "clinicalStatus"): (
        CONDITION_CLINICAL, _codes("active recurrence relapse inactive remission resolved")
    ),
    ("Condition", "verificationStatus"): (
        CONDITION_VERIFICATION,
        _codes("unconfirmed provisional differential confirmed refuted entered-in-error"),
    ),
    ("AllergyIntolerance", "clinicalStatus"): (
        ALLERGY_CLINICAL, _codes("active inactive resolved")
    ),
    ("AllergyIntolerance", "verificationStatus"): (
        ALLERGY_VERIFICATION, _codes("unconfirmed confirmed refuted entered-in-error")
    ),
}

# The R4 Vital Signs profiles: LOINC code -> the UCUM codes its valueQuantity may carry (None:
# a panel, which has components or members instead of a value).
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS: dict[str, frozenset[str] | None] = {
    "85353-1": None,  # vital signs panel
    "85354-9": None,  # blood pressure panel: systolic and diastolic components
    "9279-1": _codes("/min"),  # respiratory rate
    "8867-4": _codes("/min"),  # heart rate
    "2708-6": _codes("%"),  # oxygen saturation
    "8310-5": _codes("Cel [degF]"),  # body temperature
    "8302-2": _codes("cm [in_i]"),  # body height
    "9843-4": _codes("cm [in_i]"),  # head circumference
    "29463-7": _codes("g kg [lb_av]"),  # body weight
    "39156-5": _codes("kg/m2"),  # body mass index
}
BP_COMPONENTS = {"8480-6": "systolic", "8462-4": "diastolic"}

UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FHIR_ID = r"[A-Za-z0-9\-.]{1,64}"
RELATIVE_REFERENCE = re.compile(rf"^([A-Z][A-Za-z]+)/({FHIR_ID})(/_history/{FHIR_ID})?$")
ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
ABSOLUTE_REFERENCE = re.compile(rf"/([A-Z][A-Za-z]+)/({FHIR_ID})(/_history/{FHIR_ID})?$")
CHOICE_VALUE = re.compile(r"^value[A-Z]")
JSON_NUMBER_TYPES = {"Decimal": "number", "Integer": "integer", "UnsignedInt": "integer",
                     "PositiveInt": "integer"}


# ---------------------------------------------------------------------------------------------
# The models


@lru_cache(maxsize=None)
def resource_class(resource_type: str):
    """fhir.resources.R4B's class for a resource type, or None."""
    if not isinstance(resource_type, str) or not re.fullmatch(r"[A-Z][A-Za-z]+", resource_type):
        return None
    try:
        cls = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, ImportError, AttributeError):
        return None
    if not cls.has_resource_base() or resource_type in ("Resource", "DomainResource"):
        return None
    return cls


class Field(typing.NamedTuple):
    kind: str  # "primitive", "complex" or "resource"
    name: str  # primitive: its marker ("Decimal", "Boolean", ...); else the model class name
    model: typing.Any  # the model class for complex elements
    is_list: bool
    extra: dict


def _unwrap(annotation) -> tuple[typing.Any, bool]:
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        elif origin in (list, typing.List):
            is_list = True
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, is_list


@lru_cache(maxsize=None)
def fields_of(cls) -> dict[str, Field]:
    """JSON name -> what the model expects there."""
    result = {}
    for info in cls.model_fields.values():
        alias = info.alias
        if not alias or alias == "fhir_comments":
            continue
        inner, is_list = _unwrap(info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if typing.get_origin(inner) is typing.Annotated:
            marker = type(inner.__metadata__[0]).__name__
            result[alias] = Field("primitive", marker, None, is_list, extra)
        elif inner is bool:
            result[alias] = Field("primitive", "Boolean", None, is_list, extra)
        elif isinstance(inner, type) and issubclass(inner, FhirBase):
            model = inner.get_model_klass()
            kind = "resource" if model.__name__ == "Resource" else "complex"
            result[alias] = Field(kind, model.__name__, model, is_list, extra)
        else:
            result[alias] = Field("primitive", getattr(inner, "__name__", str(inner)), None,
                                  is_list, extra)
    return result


def pydantic_problems(cls, data) -> list[tuple[str, str]]:
    """(path, message) for each fhir.resources validation error."""
    try:
        cls.model_validate(data)
    except ValidationError as error:
        found = []
        for e in error.errors():
            message = e.get("msg", "invalid")
            if e.get("type") == "string_pattern_mismatch" and e.get("input") == "":
                message = "empty string: leave the element out"
            found.append((format_loc(e.get("loc", ())), message))
        return found
    except Exception as error:  # fhir.resources raises KeyError and the like on some input
        return [("", f"fhir.resources failed: {type(error).__name__}: {error}")]
    return []


def format_loc(loc) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def codings(concept) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def concept_has(concept, system: str, codes) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in codings(concept))


def concept_code(concept, system: str):
    for coding in codings(concept):
        if coding.get("system") == system:
            return coding.get("code")
    return None


# ---------------------------------------------------------------------------------------------
# One resource


class Context:
    """What references resolve against."""

    def __init__(self, mode: str):
        self.mode = mode  # "bundle" or "ndjson"
        self.full_urls: dict[str, str] = {}  # bundle: fullUrl -> resourceType
        self.resources: set[tuple[str, str]] = set()  # ndjson: (type, id)


class ResourceChecker:
    def __init__(self, resource: dict, context: Context):
        self.resource = resource
        self.context = context
        self.problems: list[tuple[str, str]] = []
        self.contained: dict[str, str] = {}
        for item in resource.get("contained") or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                self.contained[item["id"]] = item.get("resourceType")

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def run(self, cls) -> list[tuple[str, str]]:
        model_errors = pydantic_problems(cls, self.resource)
        self.walk(self.resource, cls, "")
        self.references(self.resource, "")
        # A fault fhir.resources found is not reported twice under another wording.
        reported = {path for path, _ in model_errors}
        own = [(p, m) for p, m in self.problems if p not in reported or not p]
        return model_errors + own

    # -- structure: what the JSON holds at each element, as the model types it

    def walk(self, node: dict, cls, path: str) -> None:
        name = cls.__name__
        fields = fields_of(cls)
        for key, value in node.items():
            here = join(path, key)
            if key == "resourceType":
                continue
            if key == "fhir_comments":
                self.problem(here, "fhir_comments is not FHIR R4 JSON")
                continue
            field = fields.get(key)
            if field is None:
                continue  # fhir.resources reports the unknown element
            if name == "Extension" and key in R4B_ONLY_EXTENSION_VALUES:
                self.problem(here, f"{key} is R4B, not R4")
            if value is None:
                self.problem(here, "null is not allowed in FHIR JSON: leave the element out")
                continue
            if field.is_list:
                if not isinstance(value, list):
                    self.problem(here, "must be a JSON array")
                    continue
                if not value:
                    self.problem(here, "empty array: leave the element out")
                siblings = node.get("_" + key) if not key.startswith("_") else None
                for index, item in enumerate(value):
                    item_path = f"{here}[{index}]"
                    if item is None:
                        # A null lines a primitive up with its extension in the `_` array.
                        paired = (
                            isinstance(siblings, list)
                            and index < len(siblings)
                            and siblings[index] is not None
                        )
                        if not (key.startswith("_") or paired):
                            self.problem(item_path, "null is not allowed here")
                        continue
                    self.element(item, field, item_path, name, key)
            else:
                if isinstance(value, list):
                    self.problem(here, "must not be an array")
                    continue
                self.element(value, field, here, name, key)
        self.invariants(node, name, path)

    def element(self, value, field: Field, path: str, owner: str, key: str) -> None:
        if field.kind == "primitive":
            self.primitive(value, field.name, path)
            allowed = CODE_BINDINGS.get((owner, key))
            if allowed is not None and isinstance(value, str) and value not in allowed:
                self.problem(path, f"{value!r} is not one of {' | '.join(sorted(allowed))}")
            return
        if not isinstance(value, dict):
            return  # fhir.resources reports it
        if not value:
            self.problem(path, "empty object: leave the element out")
            return
        if field.kind == "resource":
            cls = resource_class(value.get("resourceType"))
            if cls is not None:
                self.walk(value, cls, path)
            return
        self.walk(value, field.model, path)
        if field.name == "Reference":
            self.reference_target(value, path, owner, key, field)
        binding = CONCEPT_BINDINGS.get((owner, key))
        if binding is not None:
            system, codes = binding
            if not concept_has(value, system, codes):
                self.problem(
                    path, f"needs a coding from {system}: one of {' | '.join(sorted(codes))}"
                )
            for index, coding in enumerate(codings(value)):
                if coding.get("system") == system and coding.get("code") not in codes:
                    self.problem(f"{path}.coding[{index}].code",
                                 f"{coding.get('code')!r} is not in {system}")

    def primitive(self, value, marker: str, path: str) -> None:
        expected = JSON_NUMBER_TYPES.get(marker)
        if marker == "Boolean":
            if not isinstance(value, bool):
                self.problem(path, "a boolean must be JSON true or false")
        elif expected == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.problem(path, "a decimal must be a JSON number, not a string")
        elif expected == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem(path, "an integer must be a JSON number without a fraction")
        else:
            if not isinstance(value, str):
                self.problem(path, "must be a JSON string")
            elif value == "":
                self.problem(path, "empty string: leave the element out")

    # -- references

    def references(self, node, path: str) -> None:
        """Every `reference` string anywhere in the resource."""
        if isinstance(node, dict):
            for key, value in node.items():
                here = join(path, key)
                if key == "reference" and isinstance(value, str):
                    self.resolve(value, here)
                else:
                    self.references(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self.references(item, f"{path}[{index}]")

    def resolve(self, ref: str, path: str) -> str | None:
        """Report a reference that does not resolve; return its target's type when known."""
        context = self.context
        if ref.startswith("#"):
            if ref == "#":
                return self.resource.get("resourceType")
            if ref[1:] not in self.contained:
                self.problem(path, f"{ref}: no contained resource has that id (ref-1)")
                return None
            return self.contained[ref[1:]]
        if ref.startswith("urn:uuid:"):
            if not UUID_URN.match(ref):
                self.problem(path, f"{ref}: not a lower-case urn:uuid")
            if context.mode == "bundle":
                if ref not in context.full_urls:
                    self.problem(path, f"{ref} resolves to no entry's fullUrl")
                return context.full_urls.get(ref)
            self.problem(path, f"{ref}: a urn:uuid reference cannot resolve outside a Bundle")
            return None
        if ref.startswith("urn:"):
            return context.full_urls.get(ref)
        match = RELATIVE_REFERENCE.match(ref)
        if match:
            target_type, target_id = match.group(1), match.group(2)
            if resource_class(target_type) is None and target_type not in R4_ONLY_TYPES:
                self.problem(path, f"{ref}: {target_type} is not a resource type")
            elif context.mode == "ndjson" and (target_type, target_id) not in context.resources:
                self.problem(path, f"{ref}: no {target_type} with id {target_id} in the folder")
            return target_type
        if ABSOLUTE_URL.match(ref):
            if ref in context.full_urls:
                return context.full_urls[ref]
            absolute = ABSOLUTE_REFERENCE.search(ref)
            return absolute.group(1) if absolute else None
        self.problem(path, f"{ref!r} is not a FHIR reference (Type/id, an absolute URL, a urn "
                           "or #id)")
        return None

    def reference_target(self, value: dict, path: str, owner: str, key: str, field) -> None:
        ref = value.get("reference")
        if not isinstance(ref, str):
            return
        allowed = R4_REFERENCE_TARGETS.get((owner, key))
        if allowed is None:
            allowed = set(field.extra.get("enum_reference_types") or ())
        if not allowed or "Resource" in allowed:
            return
        # Resolution problems are reported by references(); here only the type.
        saved = self.problems
        self.problems = []
        target = self.resolve(ref, path)
        self.problems = saved
        if target and target not in allowed:
            self.problem(join(path, "reference"),
                         f"{owner}.{key} may reference {' | '.join(sorted(allowed))}, "
                         f"not {target}")

    # -- invariants

    def invariants(self, node: dict, name: str, path: str) -> None:
        check = getattr(self, f"check_{name}", None)
        if check is not None:
            check(node, path)

    def check_Period(self, node, path):
        start, end = node.get("start"), node.get("end")
        if isinstance(start, str) and isinstance(end, str):
            a, b = comparable_instant(start), comparable_instant(end)
            if a is not None and b is not None and a > b:
                self.problem(path, f"start {start} is after end {end} (per-1)")

    def check_Quantity(self, node, path):
        if "code" in node and "system" not in node:
            self.problem(path, "a unit code needs its system (qty-3)")

    check_Age = check_Duration = check_Distance = check_Count = check_Quantity

    def check_Attachment(self, node, path):
        if "data" in node and "contentType" not in node:
            self.problem(path, "data needs a contentType (att-1)")

    def check_Condition(self, node, path):
        verification = concept_code(node.get("verificationStatus"), CONDITION_VERIFICATION)
        clinical = concept_code(node.get("clinicalStatus"), CONDITION_CLINICAL)
        if verification == "entered-in-error" and "clinicalStatus" in node:
            self.problem(join(path, "clinicalStatus"),
                         "must be absent when verificationStatus is entered-in-error (con-5)")
        if any(k.startswith("abatement") for k in node) and "clinicalStatus" in node:
            if clinical not in ("inactive", "resolved", "remission"):
                self.problem(join(path, "clinicalStatus"),
                             "an abated condition is inactive, resolved or remission (con-4)")

    def check_AllergyIntolerance(self, node, path):
        verification = concept_code(node.get("verificationStatus"), ALLERGY_VERIFICATION)
        if verification == "entered-in-error":
            if "clinicalStatus" in node:
                self.problem(join(path, "clinicalStatus"),
                             "must be absent when verificationStatus is entered-in-error (ait-2)")
        elif "clinicalStatus" not in node:
            self.problem(join(path, "clinicalStatus"),
                         "required unless verificationStatus is entered-in-error (ait-1)")

    def check_Patient(self, node, path):
        for index, contact in enumerate(node.get("contact") or []):
            if isinstance(contact, dict) and not any(
                k in contact for k in ("name", "telecom", "address", "organization")
            ):
                self.problem(f"{join(path, 'contact')}[{index}]",
                             "needs a name, telecom, address or organization (pat-1)")

    def check_Observation(self, node, path):
        values = [k for k in node if CHOICE_VALUE.match(k)]
        if values and "dataAbsentReason" in node:
            self.problem(join(path, "dataAbsentReason"), "only when there is no value (obs-6)")
        code = {(c.get("system"), c.get("code")) for c in codings(node.get("code"))}
        for index, component in enumerate(node.get("component") or []):
            if not isinstance(component, dict):
                continue
            own = {(c.get("system"), c.get("code")) for c in codings(component.get("code"))}
            if own & code and values:
                self.problem(join(path, values[0]),
                             f"component[{index}] has the Observation's own code: the value "
                             "goes there, not here (obs-7)")
        if not path:  # the resource itself, not a contained one's copy
            self.vital_signs(node, path, values)

    def vital_signs(self, node, path, values):
        loinc = [c.get("code") for c in codings(node.get("code")) if c.get("system") == LOINC]
        vital = [code for code in loinc if code in VITAL_SIGNS]
        if not vital:
            return
        what = f"a vital sign (LOINC {vital[0]})"
        category_ok = any(
            concept_has(c, OBSERVATION_CATEGORY, {"vital-signs"})
            for c in node.get("category") or []
        )
        if not category_ok:
            self.problem(join(path, "category"),
                         f"{what} needs category {OBSERVATION_CATEGORY}|vital-signs")
        if "subject" not in node:
            self.problem(join(path, "subject"), f"{what} needs a subject")
        effective = [k for k in node if k.startswith("effective")]
        if not effective or effective[0] not in ("effectiveDateTime", "effectivePeriod"):
            self.problem(join(path, "effective[x]"),
                         f"{what} needs effectiveDateTime or effectivePeriod")
        elif effective[0] == "effectiveDateTime" and len(str(node[effective[0]])) < 10:
            self.problem(join(path, "effectiveDateTime"), f"{what} is dated to the day (vs-1)")
        has_parts = bool(node.get("component") or node.get("hasMember"))
        if not has_parts and not values and "dataAbsentReason" not in node:
            self.problem(path, f"{what} needs a value or a dataAbsentReason (vs-2)")
        units = next((VITAL_SIGNS[code] for code in vital if VITAL_SIGNS[code]), None)
        if units is not None:
            if values and values != ["valueQuantity"]:
                self.problem(join(path, values[0]), f"{what} is a valueQuantity")
            elif values:
                self.vital_quantity(node["valueQuantity"], join(path, "valueQuantity"),
                                    units, what)
        if "85354-9" in vital:
            components = node.get("component") or []
            for loinc_code, label in BP_COMPONENTS.items():
                found = [c for c in components if isinstance(c, dict)
                         and concept_has(c.get("code"), LOINC, {loinc_code})]
                if len(found) != 1:
                    self.problem(join(path, "component"),
                                 f"a blood pressure needs one {label} component "
                                 f"(LOINC {loinc_code}), found {len(found)}")
        for index, component in enumerate(node.get("component") or []):
            if not isinstance(component, dict):
                continue
            here = f"{join(path, 'component')}[{index}]"
            component_values = [k for k in component if CHOICE_VALUE.match(k)]
            if not component_values and "dataAbsentReason" not in component:
                self.problem(here, "needs a value or a dataAbsentReason (vs-3)")
            if "valueQuantity" in component and concept_has(
                component.get("code"), LOINC, set(BP_COMPONENTS)
            ):
                self.vital_quantity(component["valueQuantity"], join(here, "valueQuantity"),
                                    frozenset({"mm[Hg]"}), "a blood pressure")

    def vital_quantity(self, quantity, path, units, what):
        if not isinstance(quantity, dict):
            return
        for key in ("value", "unit", "system", "code"):
            if key not in quantity:
                self.problem(join(path, key), f"{what} needs valueQuantity.{key}")
        if "system" in quantity and quantity["system"] != UCUM:
            self.problem(join(path, "system"), f"{what} is in UCUM units ({UCUM})")
        if "code" in quantity and quantity["code"] not in units:
            self.problem(join(path, "code"),
                         f"{what}: unit {quantity['code']!r} is not one of "
                         f"{' | '.join(sorted(units))}")


def comparable_instant(text: str):
    """A dateTime reduced to something orderable, or None when the two may not compare."""
    from datetime import datetime, timezone

    if len(text) <= 10:
        return None  # dates of differing precision are not ordered here
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------
# Files


class Report:
    def __init__(self):
        self.lines: list[str] = []
        self.resources = 0

    def add(self, label: str, path: str, message: str) -> None:
        message = re.sub(r"\s*[\r\n]\s*", " ", message)  # one problem, one line
        self.lines.append(f"{label}: {path}: {message}" if path else f"{label}: {message}")

    def finish(self) -> int:
        for line in self.lines:
            print(line)
        print(f"validated {self.resources} resources, {len(self.lines)} problems")
        return 1 if self.lines else 0


def load_json(text: str):
    """Parse strictly: duplicate keys and NaN/Infinity are not JSON that FHIR allows."""
    duplicates: list[str] = []

    def pairs(items):
        result = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    def constant(name):
        raise ValueError(f"{name} is not allowed in JSON")

    value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    return value, duplicates


def check_resource(report: Report, label: str, resource, context: Context,
                   expected_type: str | None = None) -> list[tuple[str, str]]:
    """Validate one resource; returns the (path, message) pairs it reported."""
    report.resources += 1
    found: list[tuple[str, str]] = []
    if not isinstance(resource, dict):
        found.append(("", "a resource must be a JSON object"))
    else:
        resource_type = resource.get("resourceType")
        cls = resource_class(resource_type)
        if not isinstance(resource_type, str):
            found.append(("", "no resourceType"))
        elif expected_type is not None and resource_type != expected_type:
            found.append(("", f"resourceType {resource_type} in the {expected_type} file"))
        if isinstance(resource_type, str) and cls is None:
            if resource_type in R4_ONLY_TYPES:
                found.append(("", f"{resource_type} is R4 but fhir.resources.R4B cannot check it"))
            else:
                found.append(("", f"{resource_type} is not a FHIR resource type"))
        elif resource_type in R4B_ONLY_TYPES:
            found.append(("", f"{resource_type} is an R4B resource type, not R4"))
        if cls is not None:
            found.extend(ResourceChecker(resource, context).run(cls))
    for path, message in found:
        report.add(label, path, message)
    return found


def label_for(resource, fallback: str) -> str:
    if isinstance(resource, dict):
        resource_type = resource.get("resourceType")
        resource_type = resource_type if isinstance(resource_type, str) else "Resource"
        resource_id = resource.get("id")
        if isinstance(resource_id, str) and resource_id:
            return f"{resource_type}/{resource_id}"
        return f"{resource_type}/{fallback}"
    return f"Resource/{fallback}"


def validate_bundle(path: Path, report: Report) -> None:
    try:
        bundle, duplicates = load_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        report.add(f"Bundle/{path.name}", "", f"cannot read FHIR JSON: {error}")
        return
    if not isinstance(bundle, dict):
        report.add(f"Bundle/{path.name}", "", "not a JSON object")
        return
    bundle_label = label_for(bundle, "-") if bundle.get("resourceType") == "Bundle" else \
        f"Bundle/{path.name}"
    for key in duplicates:
        report.add(bundle_label, "", f"duplicate JSON key {key!r}")
    if bundle.get("resourceType") != "Bundle":
        report.add(bundle_label, "", f"resourceType is {bundle.get('resourceType')!r}, "
                                     "not Bundle")
        context = Context("bundle")
        check_resource(report, label_for(bundle, path.name), bundle, context)
        return

    context = Context("bundle")
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str):
            resource = entry.get("resource")
            resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
            context.full_urls.setdefault(entry["fullUrl"], resource_type)

    # The Bundle itself, as a whole; faults inside an entry's resource are reported below with
    # the entry, so they are kept to be matched against those.
    whole = pydantic_problems(resource_class("Bundle"), bundle)
    inner: dict[int, list[tuple[str, str]]] = {}
    entry_loc = re.compile(r"^entry\[(\d+)\]\.resource(?:\.(.*))?$")
    for loc, message in whole:
        match = entry_loc.match(loc)
        if match:
            inner.setdefault(int(match.group(1)), []).append((match.group(2) or "", message))
        elif message.startswith("fhir.resources failed: KeyError") and any(
            isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and resource_class(e["resource"].get("resourceType")) is None for e in entries
        ):
            continue  # an unknown resourceType, reported with its entry
        else:
            report.add(bundle_label, loc, message)
    # The Bundle's own elements without its entries' resources: through the JSON checks, and
    # through fhir.resources again when it could not finish the whole (an unknown resourceType).
    shell = dict(bundle)
    if isinstance(shell.get("entry"), list):
        shell["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
            for e in shell["entry"]
        ]
    if any(message.startswith("fhir.resources failed") for _, message in whole):
        for loc, message in pydantic_problems(resource_class("Bundle"), shell):
            report.add(bundle_label, loc, message)
    checker = ResourceChecker(shell, context)
    checker.walk(shell, resource_class("Bundle"), "")
    checker.references(shell, "")
    reported = {loc for loc, _ in whole}
    for loc, message in checker.problems:
        if loc not in reported:
            report.add(bundle_label, loc, message)
    for loc, message in bundle_rules(bundle, entries):
        report.add(bundle_label, loc, message)

    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "resource" not in entry:
            continue
        resource = entry["resource"]
        fallback = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else \
            f"entry[{index}]"
        label = label_for(resource, fallback)
        found = check_resource(report, label, resource, context)
        if resource_class(resource.get("resourceType") if isinstance(resource, dict) else None) \
                is None:
            continue  # what the whole Bundle's validation made of it says no more
        seen = {(p, m) for p, m in found}
        for loc, message in inner.get(index, []):
            if (loc, message) not in seen and not (
                message.startswith("fhir.resources failed") and found
            ):
                report.add(label, loc, message)


def bundle_rules(bundle: dict, entries: list) -> list[tuple[str, str]]:
    """R4's Bundle invariants, and fullUrl against id."""
    problems = []
    kind = bundle.get("type")
    if "total" in bundle and kind not in ("searchset", "history"):
        problems.append(("total", "only a searchset or history has a total (bdl-1)"))
    needs_request = kind in ("batch", "transaction", "history")
    needs_response = kind in ("batch-response", "transaction-response", "history")
    seen: dict[tuple[str, object], int] = {}
    for index, entry in enumerate(entries):
        here = f"entry[{index}]"
        if not isinstance(entry, dict):
            continue
        if "search" in entry and kind != "searchset":
            problems.append((join(here, "search"), "only in a searchset (bdl-2)"))
        if needs_request and "request" not in entry:
            problems.append((join(here, "request"), f"required in a {kind} (bdl-3)"))
        if not needs_request and "request" in entry:
            problems.append((join(here, "request"), f"not allowed in a {kind} (bdl-3)"))
        if needs_response and "response" not in entry:
            problems.append((join(here, "response"), f"required in a {kind} (bdl-4)"))
        if not needs_response and "response" in entry:
            problems.append((join(here, "response"), f"not allowed in a {kind} (bdl-4)"))
        if not any(k in entry for k in ("resource", "request", "response")):
            problems.append((here, "needs a resource, request or response (bdl-5)"))
        full_url = entry.get("fullUrl")
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        if isinstance(full_url, str):
            version = (resource.get("meta") or {}).get("versionId") \
                if isinstance(resource.get("meta"), dict) else None
            key = (full_url, version)
            if key in seen:
                problems.append((join(here, "fullUrl"),
                                 f"{full_url} is also entry[{seen[key]}]'s (bdl-7)"))
            else:
                seen[key] = index
            if "/_history/" in full_url:
                problems.append((join(here, "fullUrl"), "cannot be version specific (bdl-8)"))
            if full_url.startswith("urn:uuid:"):
                if not UUID_URN.match(full_url):
                    problems.append((join(here, "fullUrl"),
                                     f"{full_url}: not a lower-case urn:uuid"))
            elif full_url.startswith("urn:oid:"):
                pass
            elif not re.match(r"^https?://", full_url):
                problems.append((join(here, "fullUrl"),
                                 f"{full_url!r}: an absolute URL or a urn:uuid/urn:oid"))
            elif isinstance(resource.get("id"), str) and isinstance(
                resource.get("resourceType"), str
            ):
                tail = f"/{resource['resourceType']}/{resource['id']}"
                if not full_url.endswith(tail):
                    problems.append((join(here, "fullUrl"),
                                     f"{full_url} disagrees with the resource's id ({tail[1:]})"))
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document":
        identifier = bundle.get("identifier") if isinstance(bundle.get("identifier"), dict) else {}
        if "system" not in identifier or "value" not in identifier:
            problems.append(("identifier", "a document has an identifier system and value (bdl-9)"))
        if "timestamp" not in bundle:
            problems.append(("timestamp", "a document has a timestamp (bdl-10)"))
        if first_type != "Composition":
            problems.append(("entry[0]", "a document starts with a Composition (bdl-11)"))
    if kind == "message" and first_type != "MessageHeader":
        problems.append(("entry[0]", "a message starts with a MessageHeader (bdl-12)"))
    return problems


def validate_ndjson(folder: Path, report: Report) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(".ndjson"))
    if not files:
        report.add(f"Folder/{folder.name}", "", "no .ndjson files")
        return
    context = Context("ndjson")
    loaded: list[tuple[str, str, int, object, list[str]]] = []
    for file in files:
        expected = file.name[: -len(".ndjson")]
        if resource_class(expected) is None and expected not in R4_ONLY_TYPES:
            report.add(f"{expected}/-", "", f"{file.name}: {expected} is not a resource type")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            report.add(f"{expected}/-", "", f"cannot read {file.name}: {error}")
            continue
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            where = f"{file.name}:{number}"
            if not line.strip():
                report.add(f"{expected}/-", "", f"{where}: empty line")
                continue
            try:
                resource, duplicates = load_json(line)
            except ValueError as error:
                report.add(f"{expected}/-", "", f"{where}: not JSON: {error}")
                continue
            loaded.append((expected, where, number, resource, duplicates))
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                key = (resource.get("resourceType"), resource["id"])
                if key in context.resources:
                    report.add(f"{key[0]}/{key[1]}", "", f"{where}: the same type and id again")
                context.resources.add(key)
    for expected, where, _, resource, duplicates in loaded:
        label = label_for(resource, where)
        for key in duplicates:
            report.add(label, "", f"duplicate JSON key {key!r}")
        if isinstance(resource, dict) and not isinstance(resource.get("id"), str):
            report.add(label, "", "a bulk-data resource needs an id")
        check_resource(report, label, resource, context, expected_type=expected)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__ if len(argv) == 2 else "usage: validate.py PATH", file=sys.stderr)
        return 2
    path = Path(argv[1])
    report = Report()
    if path.is_dir():
        validate_ndjson(path, report)
    elif path.is_file():
        validate_bundle(path, report)
    else:
        print(f"validate.py: {path}: no such file or folder", file=sys.stderr)
        return 2
    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
