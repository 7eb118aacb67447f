"""Endpoints whose parameters are models made at run time (one per record or reference
kind). FastAPI reads a route's parameters from its signature, so the signature is set
here rather than written out once per kind."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

EMPTY = inspect.Parameter.empty


def signed(endpoint: Callable[..., Any], returns: Any, **parameters: Any) -> Callable[..., Any]:
    """``endpoint`` as FastAPI will call it: keyword parameters named and annotated as
    given (an annotation, or an (annotation, default) pair), answering ``returns``."""
    declared = []
    for name, spec in parameters.items():
        annotation, default = spec if isinstance(spec, tuple) else (spec, EMPTY)
        declared.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        declared, return_annotation=returns
    )
    return endpoint
