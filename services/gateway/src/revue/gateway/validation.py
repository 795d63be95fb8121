"""Request models: everything a client sends is validated here (seed 000).

Limits are the seeds' (code 1-1,000,000 characters, max_issues 1-1000,
timeout 0-300 s, 1-50 batch items within 10 MB, 1-100 ids) and every
free-text field refuses control characters and path traversal. The error a
client sees names the field and the limit.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from revue.common.contracts.languages import RULE_GROUPS, SUPPORTED_LANGUAGES
from revue.common.contracts.subjects import Priority
from revue.gateway.errors import ValidationErrorResponse  # noqa: F401 - the seeds import it here

MAX_CODE_CHARS = 1_000_000
MAX_BATCH_CODE_BYTES = 10 * 1024 * 1024


def _no_control_or_traversal(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    if ".." in value.replace("\\", "/").split("/") or value.startswith(("/", "\\")):
        raise ValueError("must not contain path traversal")
    return value


# Every control character (Unicode's Cc: C0, DEL and C1), as the validator below refuses.
SAFE_TEXT = r"^(?![/\\])(?!(?:.*[/\\])?\.\.(?:[/\\]|$))[^\x00-\x1f\x7f-\x9f]*$"
SafeText = Annotated[
    str, Field(max_length=200, pattern=SAFE_TEXT), AfterValidator(_no_control_or_traversal)
]


# The schema says what the validator enforces, keys included: pydantic's own
# schema for a dict of patterned keys (`patternProperties`) would let a key
# that misses the pattern carry any value.
Metadata = Annotated[
    dict[SafeText, SafeText],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": 20,
            "propertyNames": {"maxLength": 200, "pattern": SAFE_TEXT},
            "additionalProperties": {"type": "string", "maxLength": 200, "pattern": SAFE_TEXT},
            "description": "Up to 20 string pairs, no control characters or path traversal",
        }
    ),
]
# An address as the schema states it, checked by this pattern alone (a library's
# rules on reserved domains and quoting could not be said in the schema).
EMAIL_RULE = (
    r"^[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_RULE)]


def _rules(values: list[str]) -> list[str]:
    unknown = sorted({value for value in values if value not in RULE_GROUPS})
    if unknown:
        raise ValueError(f"unknown rule groups {unknown}; known: {', '.join(RULE_GROUPS)}")
    return sorted(set(values))


Language = Literal[SUPPORTED_LANGUAGES]  # type: ignore[valid-type]


class Strict(BaseModel):
    # python-re: the patterns below use lookarounds, and they are published in
    # the OpenAPI schema so clients (and schemathesis) know the rules.
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


class CodeAnalysisRequest(Strict):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="Source code to analyse")
    language: Language = Field(description=f"One of: {', '.join(SUPPORTED_LANGUAGES)}")
    rules: Annotated[list[Literal["security", "quality", "complexity"]], AfterValidator(_rules)] = (
        Field(default_factory=list, max_length=len(RULE_GROUPS), description="Empty: all groups")
    )
    max_issues: int = Field(default=100, ge=1, le=1000)
    # At least 1 s (the seed says 0-300): a smaller budget can only end in a 504.
    timeout: float = Field(default=30.0, ge=1, le=300, description="Seconds, 1-300")
    metadata: Metadata = Field(default_factory=dict, max_length=20)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "import os\n\ndef run(cmd):\n    os.system(cmd)\n",
                    "language": "python",
                    "rules": ["security"],
                    "max_issues": 50,
                }
            ]
        },
    )


class JobRequest(CodeAnalysisRequest):
    priority: Priority = Priority.NORMAL


class BatchItem(CodeAnalysisRequest):
    id: SafeText | None = Field(default=None, description="Echoed back; defaults to the index")


class BatchAnalysisRequest(Strict):
    requests: list[BatchItem] = Field(min_length=1, max_length=50)
    parallel: StrictBool = True  # a JSON boolean: 0 and "yes" are refused, as the schema says

    @model_validator(mode="after")
    def total_code_within_limit(self) -> BatchAnalysisRequest:
        total = sum(len(item.code.encode()) for item in self.requests)
        if total > MAX_BATCH_CODE_BYTES:
            raise ValueError(f"total code is {total} bytes; the limit is {MAX_BATCH_CODE_BYTES}")
        ids = [item.id for item in self.requests if item.id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("item ids must be unique")
        return self


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("revue.gateway").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


NAME_RULE = r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$"
NAME = re.compile(NAME_RULE)
PASSWORD_RULE = r"^(?=.*[A-Z])(?=.*[a-z])(?=.*\d).*$"  # noqa: S105 - a rule, not a password


class UserRegistrationRequest(Strict):
    email: Email
    # The patterns are published in the schema; the validators below enforce
    # them with messages that say what is missing.
    password: str = Field(
        min_length=8, max_length=128, json_schema_extra={"pattern": PASSWORD_RULE}
    )
    full_name: str = Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_RULE})

    model_config = ConfigDict(
        extra="forbid",
        regex_engine="python-re",
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "Analytical-Engine-1843",
                    "full_name": "Ada Lovelace",
                }
            ]
        },
    )

    @field_validator("email")
    @classmethod
    def lower_case_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def strong_password(cls, value: str) -> str:
        problems = []
        if not re.search(r"[A-Z]", value):
            problems.append("an uppercase letter")
        if not re.search(r"[a-z]", value):
            problems.append("a lowercase letter")
        if not re.search(r"\d", value):
            problems.append("a digit")
        if problems:
            raise ValueError(f"password must contain {', '.join(problems)}")
        if value.lower() in common_passwords():
            raise ValueError("password is too common")
        return value

    @field_validator("full_name")
    @classmethod
    def plausible_name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("full name may contain letters, spaces, apostrophes and hyphens")
        return value


class PasswordGrant(Strict):
    email: Email
    password: str = Field(min_length=1, max_length=128)


class RefreshGrant(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


TokenRequest = PasswordGrant | RefreshGrant


class ApiKeyRequest(Strict):
    name: SafeText = Field(min_length=1)


VIEW_ROOTS = "id|status|mode|priority|language|created_at|completed_at|result|error"
_FIELD = rf"(?:{VIEW_ROOTS})(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
FIELD_PATH = rf"^{_FIELD}$"
FIELD_LIST = rf"^{_FIELD}(?:,{_FIELD})*$"


class BatchGetRequest(Strict):
    resource_type: Literal["analyses"]
    ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=100)
    fields: list[Annotated[str, Field(max_length=100, pattern=FIELD_PATH)]] | None = Field(
        default=None, max_length=50
    )


def parse_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except (ValueError, AttributeError):
        return None
