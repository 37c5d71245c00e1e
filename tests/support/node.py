"""Node.js test helpers: a folder of pinned npm packages (package.json + package-lock.json),
installed with `npm ci` into its git-ignored node_modules on first use."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

NPM_CI_TIMEOUT = 120
# npm's messages when it cannot reach the registry (DNS, refused, reset, timeouts, proxies).
OFFLINE_MARKERS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "ESOCKETTIMEDOUT",
    "network request",
    "network connectivity",
    "proxy",
    "ERR_SOCKET_TIMEOUT",
    "request to https://",
)


def _installed_versions_match(folder: Path) -> bool:
    wanted = json.loads((folder / "package.json").read_text())["dependencies"]
    for name, version in wanted.items():
        manifest = folder / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


def _npm_error(output: str) -> str:
    """npm's one-line summary of what went wrong (its `code` and `request to … failed` lines)."""
    lines = [line.removeprefix("npm error").strip() for line in output.splitlines() if line.startswith("npm error")]
    summary = [line for line in lines if line.startswith(("code ", "errno ", "request to", "network"))]
    return "; ".join(summary[:3]) or (lines[-1] if lines else output.strip()[-300:])


def npm_installed(folder: Path, purpose: str) -> str:
    """The `node` executable, once `folder`'s pinned packages are installed (`npm ci` when
    node_modules is missing or stale). Skips the test when Node.js is not on PATH or the npm
    registry cannot be reached; fails it when `npm ci` fails otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"{purpose} needs Node.js: {'node' if node is None else 'npm'} is not on PATH")
    # Several test runs may share the checkout: one `npm ci` at a time.
    with open(folder / "package.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed_versions_match(folder):
            try:
                result = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"`npm ci` in {folder} took over {NPM_CI_TIMEOUT} s: is the npm registry reachable?")
            output = (result.stdout + result.stderr)[-2000:]
            if result.returncode != 0:
                if any(marker.lower() in output.lower() for marker in OFFLINE_MARKERS):
                    pytest.skip(f"npm registry unreachable, cannot install {purpose} ({_npm_error(output)})")
                pytest.fail(f"`npm ci` failed in {folder} (exit {result.returncode}):\n{output}")
            assert _installed_versions_match(folder), f"`npm ci` did not install the pinned versions:\n{output}"
    return node
