"""What every issued credential must pass: the official OB 3.0 JSON Schema and JSON-LD safe-mode expansion."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator

from app.credentials import jsonld

OB3_DIR = Path(__file__).parent / "vectors" / "ob3"
OB3_SCHEMA = OB3_DIR / "ob_v3p0_achievementcredential_schema.json"
# 1EdTech publishes the schema twice, under .../schema/json/ and .../schema/json-ld/; a credential must pass both.
OB3_SCHEMAS = (OB3_SCHEMA, OB3_DIR / "ob_v3p0_achievementcredential_schema.jsonld-variant.json")
# Registered JWT claims (RFC 7519 §4.1) the vc+jwt payload carries beside the credential (VC-JOSE-COSE §3.1.2):
# claims of the JOSE securing, read by JOSE libraries; they are not VC data model properties, and the Data
# Integrity (`ldp`) form carries none of them.
JWT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


@cache
def ob3_validators() -> tuple[Draft201909Validator, ...]:
    """The bundled 1EdTech schemas, in their own draft (2019-09), with formats (date-time, ...) checked."""
    validators = []
    for path in OB3_SCHEMAS:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft201909Validator.check_schema(schema)
        validators.append(Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER))
    return tuple(validators)


def ob3_errors(credential: dict[str, Any]) -> list[str]:
    """The schemas' complaints about a credential, one line each (empty: it validates against both)."""
    return sorted({
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for validator in ob3_validators()
        for error in validator.iter_errors(credential)
    })


def assert_ob3(credential: dict[str, Any]) -> None:
    """The credential validates against the OB 3.0 AchievementCredential schema and expands in JSON-LD safe mode."""
    document = copy.deepcopy(credential)
    errors = ob3_errors(document)
    assert not errors, "OB 3.0 schema: " + "; ".join(errors)
    # Raises UndefinedTerm on any term its contexts do not define.
    jsonld.expand_safe({key: value for key, value in credential.items() if key not in JWT_CLAIMS})


def assert_issued(response: dict[str, Any]) -> None:
    """Every form of an issued credential in a GET /v1/credentials/{id} response passes assert_ob3."""
    assert_ob3(response["credential"])
    # Every credential issued now carries its Data Integrity form; its proof is a DataIntegrityProof.
    ldp = response["ldp"]
    assert ldp is not None, "the credential was issued without its ldp form"
    [proof] = ldp["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert {key: value for key, value in ldp.items() if key != "proof"} == {
        key: value for key, value in response["credential"].items() if key not in JWT_CLAIMS
    }
    assert_ob3(ldp)
