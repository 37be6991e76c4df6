"""The course as a website (make site): the pages made from the READMEs, their links, the diff
pages (also standalone: make diff OPTS=--html), a strict MkDocs build, and the built site in a
headless Chromium (the screenshots in docs/images/ that the README shows come from this test).

Without MkDocs (make site installs it in .venv-docs) or without a Chromium, the tests that
need them skip and say so, unless CI or REQUIRE_BROWSER is set: then they fail."""

import functools
import html.parser
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import course_site
import weekdiff
from conftest import ROOT

WEEKS = weekdiff.week_dirs(ROOT)
SCREENSHOTS = ROOT / "docs" / "images"
REQUIRED = bool(os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER"))
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


def missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (required: CI or REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def site_python() -> str:
    """A Python that has MkDocs: SITE_PYTHON, make site's .venv-docs, or this one."""
    for candidate in (os.environ.get("SITE_PYTHON"), ROOT / ".venv-docs" / "bin" / "python"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    if importlib.util.find_spec("mkdocs"):
        return sys.executable
    missing("MkDocs is not installed: make site installs it (in .venv-docs)")
    raise AssertionError  # unreachable


def chromium() -> str:
    for name in (
        os.environ.get("CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        found = name and shutil.which(name)
        if found:
            return found
    missing("no Chromium on PATH (Debian: apt-get install chromium)")
    raise AssertionError  # unreachable


class Tree(html.parser.HTMLParser):
    """An HTML document's elements, checked to be well nested: (tag, attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict, list]] = []
        self.elements: list[tuple[str, dict, list]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        element = (tag, dict(attrs), [])
        self.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1][0] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element[2].append(data)

    @classmethod
    def of(cls, text: str) -> "Tree":
        tree = cls()
        tree.feed(text)
        tree.close()
        assert not tree.open, f"never closed: {[tag for tag, _, _ in tree.open]}"
        return tree

    def find(self, tag: str, **attrs: str) -> list[tuple[str, dict, str]]:
        return [
            (t, a, "".join(text))
            for t, a, text in self.elements
            if t == tag
            and all(
                attr in a.get(key.rstrip("_"), "").split() or a.get(key.rstrip("_")) == attr
                for key, attr in attrs.items()
            )
        ]


# --- the pages made from the repository -----------------------------------------------------


def small_course(root: Path) -> Path:
    (root / "README.md").write_text(
        "# Course\n\n[week 0](week_0_a/) and [week 1](week_1_b/)\n![shot](docs/images/home.png)\n"
    )
    (root / "docs" / "images").mkdir(parents=True)
    (root / "docs" / "images" / "home.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    week = root / "week_0_a"
    (week / "configs").mkdir(parents=True)
    (week / "train.py").write_text("print('train')\n")
    (week / "configs" / "config.yaml").write_text("lr: 1\n")
    (week / "README.md").write_text(
        "# Week 0: setup\n\n[course](../README.md) · [next](../week_1_b/)\n\n"
        "Run [train.py](train.py#L1) with [the configs](configs/) "
        "(`[not a link](train.py)`), see [the plot](docs/plot.png) and [gone](gone.py).\n"
        "```\n[in a block](train.py)\n```\n[site](https://example.org/x.py) [top](#week-0-setup)\n"
    )
    (week / "docs").mkdir()
    (week / "docs" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    shutil.copytree(week, root / "week_1_b")
    (root / "week_1_b" / "README.md").write_text("# Week 1: more\n\n[back](../week_0_a/)\n")
    (root / "week_1_b" / "train.py").write_text("print('train more')\n")
    return root


def test_readme_links_lead_to_pages_source_views_and_files(tmp_path: Path) -> None:
    site = course_site.Site(small_course(tmp_path)).build()
    week0 = site.pages["week_0_a/README.md"]
    assert "[course](../README.md)" in week0 and "[next](../week_1_b/README.md)" in week0
    assert "[train.py](train.py.md#L-1)" in week0  # a source view, the anchor kept
    assert "[the configs](configs/index.md)" in week0  # a folder without README: a listing
    assert "[the plot](docs/plot.png)" in week0 and "[gone](gone.py)" in week0  # --strict: gone
    assert "`[not a link](train.py)`" in week0 and "[in a block](train.py)\n" in week0
    assert "(https://example.org/x.py)" in week0 and "[top](#week-0-setup)" in week0
    assert "[What changed since week" not in week0  # week 0 has no week before it
    assert "](changes.md)" in site.pages["week_1_b/README.md"]
    assert '<span class="nb">print</span>' in site.pages["week_0_a/train.py.md"]  # highlighted
    assert 'id="L-1"' in site.pages["week_0_a/train.py.md"]
    listing = site.pages["week_0_a/configs/index.md"]
    assert (
        "[config.yaml](config.yaml.md)" in listing
        and "week_0_a/configs/config.yaml.md" in site.pages
    )
    assert set(site.media) == {"docs/images/home.png", "week_0_a/docs/plot.png"}
    assert "WEEKDIFF 0 1" in site.pages["week_1_b/changes.md"]
    assert "week_0_a/changes.md" not in site.pages
    assert site.nav() == [
        {"Home": "README.md"},
        {"Week 0: setup": [{"The lesson": "week_0_a/README.md"}]},
        {
            "Week 1: more": [
                {"The lesson": "week_1_b/README.md"},
                {"What changed": "week_1_b/changes.md"},
            ]
        },
    ]


# --- the diff as HTML --------------------------------------------------------------------------


def test_the_html_diff_shows_each_change_side_by_side_and_unified(tmp_path: Path) -> None:
    old, new = tmp_path / "week_0_a", tmp_path / "week_1_b"
    for week, value in ((old, 1), (new, 2)):
        (week / "tests").mkdir(parents=True)
        (week / "data.py").write_text(f"import os\n\nDATA = {value}\nNAME = 'x'\n")
        (week / "README.md").write_text(f"# Week {value}\n")
    (new / "tests" / "test_data.py").write_text("def test():\n    assert True\n")
    (old / "logo.png").write_bytes(b"\x89PNG\xff\xfe")
    tree = Tree.of(weekdiff.html_page(old, new))
    files = {a["data-file"]: a for _, a, _ in tree.find("details")}
    assert set(files) == {"data.py", "README.md", "tests/test_data.py", "logo.png"}
    assert [a["data-kind"] for a in files.values()] == ["modified", "modified", "added", "removed"]
    assert "wd-extra" not in files["data.py"]["class"]  # code: shown by default
    assert (
        "wd-extra" in files["README.md"]["class"]
        and "wd-extra" in files["tests/test_data.py"]["class"]
    )
    rows = [text for _, _, text in tree.find("tr")]
    assert "3DATA = 13DATA = 2" in rows  # side by side: one row, old left, new right
    assert "3-DATA = 1" in rows and "3+DATA = 2" in rows  # unified: one line each
    assert "1+def test():" in rows
    assert any("binary file" in text for _, _, text in tree.find("p"))
    assert tree.find("span", class_="kn"), "Pygments highlights the code"
    code_only = Tree.of(weekdiff.html_page(old, new, code_only=True))
    assert {a["data-file"] for _, a, _ in code_only.find("details")} == {"data.py", "logo.png"}
    assert not code_only.find("label", for_="wd-all")


def test_make_diff_html_writes_one_standalone_page(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "weekdiff.py"), "0", "1", "--html"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("<!DOCTYPE html>")
    tree = Tree.of(result.stdout)
    changes = weekdiff.compare(WEEKS[0], WEEKS[1])
    shown = {a["data-file"] for _, a, _ in tree.find("details")}
    assert shown == {*changes.added, *changes.modified, *changes.removed}
    # one file: nothing to fetch, no script (the switches are CSS)
    assert not tree.find("script") and not tree.find("link") and not tree.find("img")
    assert [a.get("id") for _, a, _ in tree.find("input")] == ["wd-split", "wd-unified", "wd-all"]
    assert (
        "make diff FROM=0 TO=1 [OPTS=--stat|--code|--html]"
        in subprocess.run(
            ["make", "help"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )


# --- the built site ----------------------------------------------------------------------------


def mkdocs_build(python: str, config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = mkdocs_build(site_python(), ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def test_the_site_builds_strictly_with_a_page_per_week_and_per_diff(built_site: Path) -> None:
    home = (built_site / "index.html").read_text(encoding="utf-8")
    assert "The course as a website" in home  # the top README is the home page
    for number, week in WEEKS.items():
        page = (built_site / week.name / "index.html").read_text(encoding="utf-8")
        assert weekdiff.declared(week / "README.md") is None or "Changes since week" in page
        changes = built_site / week.name / "changes" / "index.html"
        assert changes.is_file() == (number > 0), changes
        if number:
            shown = {
                a["data-file"]
                for _, a, _ in Tree.of(changes.read_text(encoding="utf-8")).find(
                    "details", class_="wd-file"
                )
            }
            declared = weekdiff.declared(week / "README.md")[1]
            assert shown == {*declared.added, *declared.modified, *declared.removed}


def test_a_broken_link_in_a_readme_fails_the_strict_build(tmp_path: Path) -> None:
    python = site_python()
    (tmp_path / "course").mkdir()
    root = small_course(tmp_path / "course")
    (root / "scripts").mkdir()
    for name in ("course_site.py", "weekdiff.py"):
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    result = mkdocs_build(python, root / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "gone.py" in result.stdout + result.stderr
    readme = root / "week_0_a" / "README.md"
    readme.write_text(readme.read_text().replace(" and [gone](gone.py)", ""))
    result = mkdocs_build(python, root / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "week_0_a" / "train.py" / "index.html").is_file()
    assert (tmp_path / "site" / "week_0_a" / "docs" / "plot.png").is_file()


@pytest.fixture(scope="session")
def served(built_site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


class Links:
    """Fetches every same-site link once; remembers each page's ids for its #anchors."""

    def __init__(self, base: str) -> None:
        self.base, self.seen, self.external = base, {}, set()

    def check(self, url: str) -> str | None:
        """None if `url` answers 200 (and has the anchor it names), else what is wrong."""
        address, _, anchor = url.partition("#")
        if not address.startswith(self.base):
            self.external.add(url)
            return None
        if address not in self.seen:
            try:
                with urllib.request.urlopen(address, timeout=10) as response:
                    body = response.read().decode("utf-8", "replace")
                    self.seen[address] = (response.status, body)
            except urllib.error.HTTPError as error:
                self.seen[address] = (error.code, "")
        status, body = self.seen[address]
        if status != 200:
            return f"{url}: HTTP {status}"
        if anchor and f'id="{anchor}"' not in body:
            return f"{url}: no element with id {anchor}"
        return None


def test_the_site_in_a_browser(served: str) -> None:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -r requirements-lint.txt")
    started = time.monotonic()
    week = WEEKS[1]
    declared = weekdiff.declared(week / "README.md")
    assert declared, f"{week.name}/README.md lists no changes"
    changed = {*declared[1].added, *declared[1].modified, *declared[1].removed}
    links, broken, errors, shots = Links(served), [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.on(
            "console",
            lambda message: (
                message.type == "error" and errors.append(f"{page.url}: console: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        # a request that the next navigation cancels (the search worker's) is not an error
        page.on(
            "requestfailed",
            lambda request: (
                request.failure != "net::ERR_ABORTED"
                and errors.append(f"{request.url}: {request.failure}")
            ),
        )
        page.on(
            "response",
            lambda response: (
                response.status >= 400 and errors.append(f"{response.url}: HTTP {response.status}")
            ),
        )

        def visit(path: str, screenshot: str) -> None:
            page.goto(served + path, wait_until="networkidle")  # the search index too
            urls = page.eval_on_selector_all(
                "a[href], link[href], script[src], img[src]",
                "elements => elements.map(e => e.href || e.src)",
            )
            assert len(urls) > 10, f"{path}: only {urls}"
            broken.extend(problem for url in urls if (problem := links.check(url)))
            shots[screenshot] = page.screenshot()

        visit("", "site-home.png")
        assert page.title().startswith("MLOps-Basics")
        nav = page.eval_on_selector_all("nav.md-nav--primary a", "a => a.map(e => e.textContent)")
        assert sum("The lesson" in text for text in nav) == len(WEEKS)

        visit(f"{week.name}/", "site-week.png")
        assert page.locator("h1").first.inner_text().startswith("Week 1")
        page.get_by_role("link", name="What changed since week 0").first.click()
        page.wait_for_url(f"**/{week.name}/changes/")

        visit(f"{week.name}/changes/", "site-changes.png")
        files = page.locator("details.wd-file")
        shown = {
            files.nth(i).get_attribute("data-file"): files.nth(i).is_visible()
            for i in range(files.count())
        }
        assert set(shown) == changed
        assert shown == {name: weekdiff.is_code(name) for name in changed}, "code first"
        first = page.locator("details.wd-file").first
        assert first.locator(".wd-split").is_visible()
        assert not first.locator(".wd-unified").is_visible()
        page.get_by_text("unified", exact=True).click()
        assert first.locator(".wd-unified").is_visible()
        assert not first.locator(".wd-split").is_visible()
        page.locator("label[for=wd-all]").click()
        assert all(files.nth(i).is_visible() for i in range(files.count()))
        browser.close()
    assert not broken, "\n".join(broken)
    assert not errors, "\n".join(errors)
    assert links.external, "the external links were not told apart"
    assert time.monotonic() - started < 60
    # the README's screenshots, replaced only by those of a site that passed
    assert set(shots) == {"site-home.png", "site-week.png", "site-changes.png"}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, png in shots.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 400_000, name
        (SCREENSHOTS / name).write_bytes(png)
