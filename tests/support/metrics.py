"""Reading /metrics in tests: the samples of the Prometheus text format, by name and labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


class Samples:
    def __init__(self, text: str):
        self.text = text
        self.values: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when it does not exist (yet)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Any, path: str = "/metrics", **kwargs: Any) -> Samples:
    response = await client.get(path, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Samples(response.text)
