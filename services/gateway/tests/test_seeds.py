"""Seed 000's validation error handler, run as its users wrote it (imports aside)."""

import httpx
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from revue.gateway.validation import CodeAnalysisRequest, ValidationErrorResponse


async def test_seed_000_validation_error_handler_example():
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    async def validation_exception_handler(request: Request, exc: RequestValidationError):
        """Custom validation error handler"""
        errors = []
        for error in exc.errors():
            errors.append(
                {
                    "field": ".".join(str(loc) for loc in error["loc"]),
                    "message": error["msg"],
                    "type": error["type"],
                }
            )
        response = ValidationErrorResponse(detail="Validation failed", errors=errors)
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, content=response.model_dump()
        )

    class Body(BaseModel):
        name: str = Field(min_length=3)

    @app.post("/things")
    async def things(body: Body) -> dict:
        return {"name": body.name}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        answer = await client.post("/things", json={"name": "x"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "Validation failed"
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "body.name"


def test_seed_000_code_analysis_request_refuses_what_the_seed_refuses():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CodeAnalysisRequest(code="", language="python")
    with pytest.raises(ValidationError):
        CodeAnalysisRequest(code="x", language="cobol")
    assert CodeAnalysisRequest(code="x = 1", language="python").max_issues == 100
