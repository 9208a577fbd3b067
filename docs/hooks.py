"""MkDocs hooks: pages that are generated from the project instead of copied into docs/.

* ``<!-- readme: HEADING -->`` is replaced by the README section whose ``## `` heading starts
  with HEADING (so the README stays the one source of that text; a short prefix survives small
  rewordings). Image links into docs/ are made relative to the site; links to other repository
  files become plain text. A heading that no longer exists fails the build.
* ``<!-- cli-help -->`` is replaced by ``ionflow --help`` and the ``--help`` of every
  subcommand, from the argparse parser itself (so the page never goes stale).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def _readme_section(heading: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    found = [i for i, line in enumerate(lines) if line.startswith(f"## {heading}")]
    if len(found) != 1:
        raise ValueError(
            f"README.md has {len(found)} sections whose heading starts with '## {heading}'; "
            "docs/*.md name them in <!-- readme: ... --> (see docs/hooks.py)"
        )
    start = found[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start + 1 : end]).strip("\n")


def _readme_intro() -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("## "))
    return "\n".join(lines[1:end]).strip("\n")  # without the "# ionflow" title


def _relink(text: str, docs_dir: Path, page_dir: Path) -> str:
    """README links, written from the repository root, as seen from a page of the site."""

    def fix(match: re.Match) -> str:
        bang, label, target = match.groups()
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return match.group(0)
        path = (ROOT / target).resolve()
        if path.is_relative_to(docs_dir) and path.exists():
            return f"{bang}[{label}]({os.path.relpath(path, page_dir)})"
        return f"{label} (`{target}` in the repository)" if not bang else label

    return _LINK.sub(fix, text)


def _cli_help() -> str:
    from ionflow.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    parser = build_parser()
    parts = ["## ionflow", "", "```text", parser.format_help().rstrip(), "```", ""]
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        parts += [f"## ionflow {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = (docs_dir / page.file.src_path).parent

    def readme(match: re.Match) -> str:
        heading = match.group(1).strip()
        text = _readme_intro() if heading == "intro" else _readme_section(heading)
        return _relink(text, docs_dir, page_dir)

    markdown = re.sub(r"<!-- readme: (.+?) -->", readme, markdown)
    if "<!-- cli-help -->" in markdown:
        markdown = markdown.replace("<!-- cli-help -->", _cli_help())
    return markdown
