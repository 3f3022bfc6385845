"""The achievement SVG rendered to PNG, for baked PNG badges (CairoSVG on Debian's libcairo2)."""

from __future__ import annotations

from app.errors import ServiceUnavailable


class BadgeRenderingUnavailable(ServiceUnavailable):
    """The cairo library is missing, so no PNG badge can be rendered (SVG badges still can)."""

    default_code = "badge_rendering_unavailable"


def png_of(svg: str) -> bytes:
    """The PNG of one of our own SVG badges (badge_image.achievement_svg), at its own size.

    Only for SVG this service made: CairoSVG runs in its safe mode (no external files, entities or huge inputs),
    but untrusted SVG is never rendered here.
    """
    try:
        import cairosvg  # loads libcairo through cffi: an OSError when the system library is missing
    except OSError as exc:
        raise BadgeRenderingUnavailable(
            "PNG badges need the cairo library (Debian: apt-get install libcairo2); SVG badges work without it."
        ) from exc
    png: bytes = cairosvg.svg2png(bytestring=svg.encode("utf-8"), unsafe=False)
    return png
