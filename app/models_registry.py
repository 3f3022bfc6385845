"""Imports every model module so Base.metadata knows all tables (used by Alembic)."""

from app.assessments import models as assessments_models
from app.audit import models as audit_models
from app.auth import models as auth_models
from app.calibration import models as calibration_models
from app.credentials import models as credentials_models
from app.db import Base
from app.issuer import models as issuer_models
from app.pages import models as pages_models
from app.status_lists import models as status_lists_models

metadata = Base.metadata

__all__ = [
    "assessments_models",
    "audit_models",
    "auth_models",
    "calibration_models",
    "credentials_models",
    "issuer_models",
    "metadata",
    "pages_models",
    "status_lists_models",
]
