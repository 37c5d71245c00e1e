"""What every import reports: counts, each rejected row with its position and reason,
each skipped one (not an error: e.g. a UHRI observation that is no recommendation), warnings,
and the names it could not resolve."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """A rejected row/activity, or a warning about one that was imported anyway."""

    file: str
    position: str  # "row 17", "activity 3 (GB-GOV-1-300123)", "line 120"
    reason: str


@dataclass
class ImportReport:
    source: str  # "upr-info" | "iati" | "uhri"
    files: list[str] = field(default_factory=list)
    dry_run: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Problem] = field(default_factory=list)
    # Records that are valid but not for tcgraph; unlike rejections they do not stop a commit.
    skipped: int = 0
    skips: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    unresolved_names: Counter = field(default_factory=Counter)  # name -> occurrences
    created_by_type: Counter = field(default_factory=Counter)  # e.g. {"Pledge": 3, "Organization": 2}
    seconds: float = 0.0

    def reject(self, file: str, position: str, reason: str) -> None:
        self.rejected += 1
        self.rejections.append(Problem(file, position, reason))

    def skip(self, file: str, position: str, reason: str) -> None:
        self.skipped += 1
        self.skips.append(Problem(file, position, reason))

    def warn(self, file: str, position: str, reason: str) -> None:
        self.warnings.append(Problem(file, position, reason))

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        head = "dry run — nothing written: " if self.dry_run else ""
        return (
            f"{head}read {self.read}, created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}"
            + (f", skipped {self.skipped}" if self.skipped else "")
            + (f", warnings {len(self.warnings)}" if self.warnings else "")
            + (f" ({self.rows_per_second:,.0f}/s)" if self.seconds else "")
        )

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "files": self.files,
            "dryRun": self.dry_run,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejections": [p.__dict__ for p in self.rejections],
            "skipped": self.skipped,
            "skips": [p.__dict__ for p in self.skips],
            "warnings": [p.__dict__ for p in self.warnings],
            "unresolvedNames": dict(self.unresolved_names),
            "createdByType": dict(self.created_by_type),
            "seconds": round(self.seconds, 3),
        }


class ImportRefused(Exception):
    """The whole file cannot be imported (not IATI, legacy 1.x, unreadable, wrong columns)."""

    def __init__(self, file: str, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason
