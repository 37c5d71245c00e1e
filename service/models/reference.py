"""Reference taxonomies: themes, SDGs, DAC sectors and IATI codelists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .base import code_array


class Theme(SQLModel, table=True):
    """A thematic area, starting from the UPR Info issue list (kept as data, extensible)."""

    __tablename__ = "theme"
    code: str = Field(primary_key=True, max_length=64)
    name: str
    upr_info_issue: str | None = Field(default=None, unique=True)
    rights_dimensions: list[str] = Field(default_factory=list, sa_column=code_array())
    cluster: str = Field(max_length=64)


class SdgGoal(SQLModel, table=True):
    __tablename__ = "sdg_goal"
    code: str = Field(primary_key=True, max_length=4)
    name: str
    description: str | None = None


class SdgTarget(SQLModel, table=True):
    __tablename__ = "sdg_target"
    code: str = Field(primary_key=True, max_length=8)
    goal_code: str = Field(foreign_key="sdg_goal.code", index=True, max_length=4)
    description: str


class DacSectorCategory(SQLModel, table=True):
    """DAC 3-digit sector category (IATI SectorCategory codelist)."""

    __tablename__ = "dac_sector_category"
    code: str = Field(primary_key=True, max_length=3)
    name: str
    description: str | None = None
    withdrawn: bool = False


class DacSector(SQLModel, table=True):
    """DAC 5-digit purpose code (IATI Sector codelist)."""

    __tablename__ = "dac_sector"
    code: str = Field(primary_key=True, max_length=5)
    category_code: str = Field(foreign_key="dac_sector_category.code", index=True, max_length=3)
    name: str
    description: str | None = None
    withdrawn: bool = False


class IatiCode(SQLModel, table=True):
    """One entry of an IATI codelist we keep whole (OrganisationType, OrganisationRole,
    ActivityStatus, Currency, Region)."""

    __tablename__ = "iati_code"
    codelist: str = Field(primary_key=True, max_length=64)
    code: str = Field(primary_key=True, max_length=16)
    name: str
    description: str | None = None
    withdrawn: bool = False


class CurrencyRate(SQLModel, table=True):
    """Approximate USD value of one unit, so amounts in different currencies compare."""

    __tablename__ = "currency_rate"
    currency: str = Field(primary_key=True, max_length=3)
    usd_per_unit: Decimal = Field(sa_column=sa.Column(sa.Numeric(20, 10), nullable=False))
    as_of: date
