"""What running a performance task's answer gave: per hidden variant (or test) passed or why not, and the share."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class VariantResult:
    passed: bool
    reason: str  # "ok", "wrong_result", or the refusal code / SQL error of the learner's query


@dataclass(frozen=True)
class TaskResult:
    share: Fraction
    variants: tuple[VariantResult, ...]
    engine: str  # what ran it, with its version: results may differ between versions

    def summary(self) -> dict[str, Any]:
        """What a grade records of the run: variants passed, their count, the reasons, and the engine."""
        return {
            "passed": sum(1 for variant in self.variants if variant.passed),
            "variants": len(self.variants),
            "reasons": [variant.reason for variant in self.variants],
            "engine": self.engine,
        }
