"""States: UN Member and observer States, from ISO 3166 / M49 data."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .base import enum_column
from .enums import RegionalGroup, UnMembership


class State(SQLModel, table=True):
    __tablename__ = "state"
    iso3: str = Field(primary_key=True, max_length=3)
    iso2: str = Field(max_length=2, unique=True)
    m49: str = Field(max_length=3, unique=True)
    name_en: str
    name_fr: str
    name_es: str
    name_ar: str
    name_zh: str
    name_ru: str
    region_code: str | None = Field(default=None, max_length=3, index=True)
    region_name: str | None = None
    sub_region_code: str | None = Field(default=None, max_length=3, index=True)
    sub_region_name: str | None = None
    intermediate_region_code: str | None = Field(default=None, max_length=3)
    intermediate_region_name: str | None = None
    un_membership: UnMembership = Field(sa_column=enum_column(UnMembership, name="un_membership"))
    regional_group: RegionalGroup | None = Field(
        default=None, sa_column=enum_column(RegionalGroup, name="regional_group", nullable=True)
    )
    is_ldc: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    is_lldc: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    is_sids: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
