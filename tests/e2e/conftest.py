"""End-to-end tests reuse the API tests' data builders (`world`)."""

from tests.api.conftest import world  # noqa: F401
