"""MkDocs hooks that make the course website from the repository, at build time (`make site`).

Nothing is copied into docs/ (it holds only the screenshots): the pages are made in memory from
the files they come from, at the paths those files have in the repository, so that a README's
relative links resolve on the site as they do on GitHub:

- README.md is the home page; each week's README.md is that week's page;
- week_N_.../changes.md: what changed since the week before, file by file (weekdiff.py's
  HTML diff: code first, side by side or unified);
- a link to a text file (train.py, configs/config.yaml) goes to a page that shows it
  highlighted (train.py.md, a page of its own); a link to a folder goes to its README, or to a
  page that lists its files; an image or other binary file is copied as it is.

A link to a file that does not exist is left as written, so `mkdocs build --strict` names it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import weekdiff

ROOT = Path(__file__).resolve().parents[1]
MEDIA = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".pdf"}
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\s*\))")
REFERENCE = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s*<?)([^\s>]+)(.*)$")
PLACEHOLDER = re.compile(r"<p>WEEKDIFF (\d+) (\d+)</p>")


def title(markdown: str, default: str) -> str:
    found = re.search(r"^# (.+)$", markdown, re.MULTILINE)
    return found.group(1).strip() if found else default


def outside_code(text: str, change) -> str:
    """Apply `change` to each line of Markdown that is not inside a fenced block, leaving the
    inline code spans of the line alone."""
    out, fence = [], None
    for line in text.splitlines(keepends=True):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            out.append(line)
        elif opened:
            fence = opened.group(1)
            out.append(line)
        else:
            pieces, start = [], 0
            for span in CODE_SPAN.finditer(line):
                pieces += [change(line[start : span.start()]), span.group(0)]
                start = span.end()
            out.append("".join([*pieces, change(line[start:])]))
    return "".join(out)


class Site:
    """The pages and files of the site, found by following links from the READMEs."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.weeks = weekdiff.week_dirs(root)
        self.pages: dict[str, str] = {}  # src path -> Markdown
        self.media: dict[str, Path] = {}  # src path -> the file to copy
        self.queue = ["README.md", *(f"{week.name}/README.md" for week in self.weeks.values())]

    def build(self) -> Site:
        while self.queue:
            path = self.queue.pop()
            if path not in self.pages:
                self.pages[path] = self.page(path)
        for number, week in list(self.weeks.items())[1:]:
            self.pages[f"{week.name}/changes.md"] = self.changes(number)
        return self

    def page(self, path: str) -> str:
        """The Markdown of the page at `path`: a Markdown file, a source view or a listing."""
        source = self.root / path
        if path.endswith("/index.md") and not source.exists():
            return self.listing(path.removesuffix("/index.md"))
        if not path.endswith(".md") or not source.exists():
            return self.source_view(path.removesuffix(".md"))
        text = outside_code(
            source.read_text(encoding="utf-8"), lambda part: self.relink(path, part)
        )
        week = path.split("/")[0]
        if path == f"{week}/README.md" and week in {w.name for w in self.weeks.values()}:
            number = int(week.split("_")[1])
            if number - 1 in self.weeks:
                note = (
                    f"\n[What changed since week {number - 1}](changes.md): the diff, "
                    "file by file (the code first; READMEs and tests a click away).\n"
                )
                text = re.sub(
                    r"^# .+\n", lambda m: m.group(0) + note, text, count=1, flags=re.MULTILINE
                )
        return text

    def relink(self, page: str, markdown: str) -> str:
        def fix(match: re.Match) -> str:
            return (
                match.group(1) + match.group(2) + self.target(page, match.group(3)) + match.group(4)
            )

        markdown = LINK.sub(fix, markdown)
        return REFERENCE.sub(fix, markdown) if REFERENCE.match(markdown) else markdown

    def target(self, page: str, link: str) -> str:
        """Where a relative link of `page` points on the site; queues the page or file."""
        if re.match(r"[a-zA-Z][\w+.-]*:", link) or link.startswith(("#", "/")):
            return link
        address, hashmark, fragment = link.partition("#")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page), address))
        if path.startswith("../") or path == ".." or not (self.root / path).exists():
            return link  # left for --strict to report
        if (self.root / path).is_dir():
            folder = "" if path == "." else f"{path}/"
            has_readme = (self.root / folder / "README.md").is_file()
            new = f"{folder}README.md" if has_readme else f"{folder}index.md"
            suffix = "README.md" if has_readme else "index.md"
            self.queue.append(new)
            return (
                f"{address.rstrip('/')}{'/' if address.rstrip('/') else ''}{suffix}"
                + hashmark
                + fragment
            )
        if path.endswith(".md"):
            self.queue.append(path)
            return link
        if Path(path).suffix.lower() in MEDIA or not self.is_text(self.root / path):
            self.media[path] = self.root / path
            return link
        self.queue.append(f"{path}.md")
        line = re.fullmatch(r"L(\d+)(?:-L\d+)?", fragment)  # GitHub's anchor of a line (range)
        if line:  # the source view's anchor of that line
            fragment = f"L-{line.group(1)}"
        return f"{address}.md{hashmark}{fragment}"

    @staticmethod
    def is_text(path: Path) -> bool:
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def source_view(self, path: str) -> str:
        """A page that shows one file of the repository, highlighted, each line with the anchor
        #L-N (raw HTML rather than a fenced block, so that MkDocs sees the anchors)."""
        from pygments import highlight
        from pygments.formatters import HtmlFormatter

        text = (self.root / path).read_text(encoding="utf-8")
        formatter = HtmlFormatter(
            linenos="table", lineanchors="L", anchorlinenos=True, wrapcode=True
        )
        code = highlight(text, lexer(path), formatter)
        return f"---\nsearch:\n  exclude: true\n---\n\n# {path}\n\n{code}\n"

    def listing(self, folder: str) -> str:
        """A page that lists a folder's files, each linked to its own page."""
        base = self.root / folder
        week = next((w for w in self.weeks.values() if base.is_relative_to(w)), None)
        if week is not None:
            inside = base.relative_to(week).as_posix()
            names = sorted(
                n for n in weekdiff.week_files(week) if inside == "." or n.startswith(f"{inside}/")
            )
            names = [Path(week, n).relative_to(base).as_posix() for n in names]
        else:
            names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        items = [f"- [{name}]({name})" for name in names]
        text = f"# {folder}/\n\n" + "\n".join(items) + "\n"
        return self.relink(f"{folder}/index.md", text)

    def changes(self, number: int) -> str:
        old = self.weeks[number - 1]
        return (
            f"---\nsearch:\n  exclude: true\nhide:\n  - toc\n---\n\n"
            f"# What changed in week {number}\n\n"
            f"From [week {number - 1}](../{old.name}/README.md) to "
            f"[week {number}](README.md): every file added, modified or removed, as "
            f"`make diff FROM={number - 1} TO={number}` lists it. The code comes first; "
            "the READMEs and tests are a click away. "
            f"`make diff FROM={number - 1} TO={number} OPTS=--html > diff.html` writes this "
            f"page as one file.\n\nWEEKDIFF {number - 1} {number}\n"
        )

    def nav(self) -> list:
        entries: list = [{"Home": "README.md"}]
        for number, week in self.weeks.items():
            readme = f"{week.name}/README.md"
            lesson = title(self.pages.get(readme, ""), week.name)
            items = [{"The lesson": readme}]
            if number - 1 in self.weeks:
                items.append({"What changed": f"{week.name}/changes.md"})
            entries.append({lesson: items})
        return entries


def lexer(path: str):
    """Pygments' lexer for a file, or plain text; lines kept as they are."""
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


_site: Site | None = None


def on_config(config):
    global _site
    _site = Site().build()
    config.nav = _site.nav()
    return config


def on_files(files, config):
    from mkdocs.structure.files import File, Files

    assert _site is not None
    docs = Path(config.docs_dir).resolve()
    kept = [
        f
        for f in files
        if not f.abs_src_path or not Path(f.abs_src_path).resolve().is_relative_to(docs)
    ]
    from mkdocs.structure.files import InclusionLevel

    in_nav = {
        path
        for entry in config.nav
        for value in entry.values()
        for path in (
            [value] if isinstance(value, str) else [p for item in value for p in item.values()]
        )
    }
    generated = [
        File.generated(
            config,
            path,
            content=text,
            inclusion=InclusionLevel.INCLUDED if path in in_nav else InclusionLevel.NOT_IN_NAV,
        )
        for path, text in _site.pages.items()
    ]
    generated += [
        File.generated(config, path, abs_src_path=str(source))
        for path, source in _site.media.items()
    ]
    return Files(kept + generated)


def on_page_content(html: str, page, config, files) -> str:
    assert _site is not None
    return PLACEHOLDER.sub(
        lambda m: weekdiff.html_fragment(
            _site.weeks[int(m.group(1))], _site.weeks[int(m.group(2))]
        ),
        html,
    )
