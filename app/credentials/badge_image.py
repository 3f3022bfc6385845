"""Pure: the SVG image of an Achievement (skill, level, issuer), self-contained: no fonts, links or scripts."""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape

WIDTH = 400
HEIGHT = 400
# Six hues that keep white text readable; a skill always gets the same one.
_HUES = ("#1d4e89", "#00695c", "#6a1b9a", "#ad1457", "#37474f", "#8d4004")


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def achievement_svg(*, skill_id: str, skill_name: str, level: str, issuer_name: str) -> str:
    """A round badge naming the skill, the level and the issuer; the same inputs give the same bytes."""
    colour = _HUES[hashlib.sha256(skill_id.encode()).digest()[0] % len(_HUES)]
    skill = escape(_fit(skill_name, 22))
    level_text = escape(_fit(level.upper(), 24))
    issuer = escape(_fit(issuer_name, 30))
    title = escape(f"{skill_name} ({level}), issued by {issuer_name}", {'"': "&quot;"})  # also an attribute
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        f'<circle cx="200" cy="200" r="190" fill="{colour}"/>'
        '<circle cx="200" cy="200" r="172" fill="none" stroke="#ffffff" stroke-width="6" stroke-opacity="0.8"/>'
        '<g fill="#ffffff" font-family="sans-serif" text-anchor="middle">'
        f'<text x="200" y="185" font-size="36" font-weight="bold">{skill}</text>'
        f'<rect x="90" y="208" width="220" height="40" rx="20" fill="#ffffff" fill-opacity="0.2"/>'
        f'<text x="200" y="236" font-size="22" letter-spacing="2">{level_text}</text>'
        f'<text x="200" y="300" font-size="16">{issuer}</text>'
        "</g></svg>"
    )
