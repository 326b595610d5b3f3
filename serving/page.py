"""The static page at ``/ui`` and the Content-Security-Policy it is served with: exactly its own inline script
and style (by hash), nothing from elsewhere."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

UI_PAGE = Path(__file__).with_name("ui") / "index.html"


def page_policy(page: str) -> str:
    """A CSP allowing exactly the page's own inline scripts and styles (by hash) and nothing from elsewhere."""
    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            f"img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors 'none'")


@dataclass(frozen=True)
class Page:
    body: bytes
    policy: str

    @classmethod
    def load(cls, path: Path = UI_PAGE) -> Page:
        text = path.read_text()
        return cls(text.encode(), page_policy(text))
