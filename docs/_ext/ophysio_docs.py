"""Sphinx directives that run ophysio while the docs build, so that every output a page shows is real.

- ``.. ophysio-run::`` runs shell-like ``ophysio ...`` command lines (one per content line) and shows
  each command with what it printed (stdout and stderr, as a terminal would). ``:samples:`` links real
  sample files (paths relative to the sample folder, ``$OPHYSIO_TEST_DATA`` or ``../shared/data``) into
  the page's working folder under their own names, so commands read ``ophysio info file.tif``.
- ``.. ophysio-python::`` runs its content as Python in that folder (one namespace per page, so the
  blocks of a page continue one another) and shows the code and what it printed.
- ``.. ophysio-show:: FILE`` shows a file that an earlier block of the page wrote (``:lines: N`` shows
  the first N lines and says how many follow).
- ``.. ophysio-script:: examples/gallery/x.py`` shows a gallery script and runs it (in a fresh Python,
  as ``python x.py``) to show its output.
- ``.. ophysio-format-table::`` is the format table: one row per registry format, its file name
  endings from the registry and the rest from the content (``id | versions | what is read |
  timestamps | samples | since``); a registry format without a row, or a row without a format, is an
  error, so the table cannot fall behind ``ophysio formats``.

A command that fails, code that raises, or a missing sample is a build warning (an error with ``-W``).
Pages that use these directives are rebuilt on every build: their output comes from the code, not from
the page source, so Sphinx's cache would otherwise keep stale output.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parents[1]
SRC = DOCS.parent / "src"
# Wide enough that argparse and tables wrap as in a normal terminal, narrow enough to read on the page.
COLUMNS = "100"


def _sample_folder() -> Path:
    from ophysio.testing.data import sample_data_folder

    return sample_data_folder()


def _workdir(env, docname: str) -> Path:
    """The page's working folder (one per page and build)."""
    dirs = env.app.__dict__.setdefault("_ophysio_workdirs", {})
    if docname not in dirs:
        root = env.app.__dict__.setdefault("_ophysio_root", tempfile.TemporaryDirectory(prefix="ophysio-docs-"))
        folder = Path(root.name) / docname.replace("/", "__")
        folder.mkdir(parents=True, exist_ok=True)
        dirs[docname] = folder
    return dirs[docname]


def _namespace(env, docname: str) -> dict:
    spaces = env.app.__dict__.setdefault("_ophysio_namespaces", {})
    return spaces.setdefault(docname, {"__name__": "__main__"})


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = COLUMNS
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env["PYTHONWARNINGS"] = "default"
    return env


def _literal(text: str, language: str, classes: tuple[str, ...] = ()) -> nodes.literal_block:
    node = nodes.literal_block(text, text)
    node["language"] = language
    node["classes"] += ["ophysio-generated", *classes]
    return node


class _RunBase(SphinxDirective):
    option_spec = {"samples": directives.unchanged, "hide": directives.flag}

    def _note(self) -> None:
        self.env.__dict__.setdefault("ophysio_run_docs", set()).add(self.env.docname)

    def _link_samples(self, folder: Path) -> bool:
        names = (self.options.get("samples") or "").split()
        if not names:
            return True
        try:
            data = _sample_folder()
        except FileNotFoundError as exc:
            logger.warning("%s", exc, location=self.get_location())
            return False
        for name in names:
            source = data / name
            target = folder / source.name
            if not source.exists():
                logger.warning("sample %s is missing from %s", name, data, location=self.get_location())
                return False
            if not target.exists():
                target.symlink_to(source, target_is_directory=source.is_dir())
        return True

    def _fail(self, what: str, output: str) -> list[nodes.Node]:
        logger.warning("%s failed while building the docs:\n%s", what, output, location=self.get_location())
        return [_literal(output, "text", ("ophysio-failed",))]


class OphysioRun(_RunBase):
    """Run ``ophysio`` command lines in the page's folder and show them with their output."""

    has_content = True
    option_spec = {**_RunBase.option_spec, "returncode": directives.nonnegative_int}

    def run(self) -> list[nodes.Node]:
        self._note()
        folder = _workdir(self.env, self.env.docname)
        if not self._link_samples(folder):
            return []
        expected = self.options.get("returncode", 0)
        shown: list[str] = []
        for line in self.content:
            if not line.strip():
                continue
            argv = shlex.split(line)
            if argv[0] != "ophysio":
                return self._fail(line, "only 'ophysio ...' command lines run here")
            proc = subprocess.run(
                [sys.executable, "-m", "ophysio", *argv[1:]], cwd=folder, env=_child_env(),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
            )
            output = proc.stdout.rstrip()
            if proc.returncode != expected:
                return self._fail(f"{line} (exit status {proc.returncode}, expected {expected})", output)
            shown.append(f"$ {line}")
            if output:
                shown.append(output)
        if "hide" in self.options:
            return []
        return [_literal("\n".join(shown), "console")]


class OphysioPython(_RunBase):
    """Run Python in the page's folder and namespace; show the code and what it printed."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        self._note()
        folder = _workdir(self.env, self.env.docname)
        if not self._link_samples(folder):
            return []
        code = "\n".join(self.content)
        namespace = _namespace(self.env, self.env.docname)
        buffer = io.StringIO()
        here = os.getcwd()
        try:
            os.chdir(folder)
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                exec(compile(code, f"<{self.env.docname}:{self.lineno}>", "exec"), namespace)
        except Exception:
            return self._fail("a Python block", buffer.getvalue() + traceback.format_exc())
        finally:
            os.chdir(here)
        if "hide" in self.options:
            return []
        result: list[nodes.Node] = [_literal(code, "python")]
        output = buffer.getvalue().rstrip()
        if output:
            result.append(_literal(output, "text", ("ophysio-output",)))
        return result


class OphysioShow(_RunBase):
    """Show a file an earlier block of the page wrote."""

    required_arguments = 1
    option_spec = {"lines": directives.positive_int, "language": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        self._note()
        path = _workdir(self.env, self.env.docname) / self.arguments[0]
        if not path.is_file():
            logger.warning("%s was not written by the blocks above", self.arguments[0], location=self.get_location())
            return []
        lines = path.read_text().splitlines()
        limit = self.options.get("lines")
        text = "\n".join(lines[:limit] if limit else lines)
        if limit and len(lines) > limit:
            text += f"\n# ... {len(lines) - limit} more lines"
        node = _literal(text, self.options.get("language", "yaml"))
        node["caption"] = self.arguments[0]
        container = nodes.container("", literal_block=True, classes=["literal-block-wrapper"])
        container += nodes.caption(self.arguments[0], self.arguments[0])
        container += node
        return [container]


class OphysioScript(_RunBase):
    """Show a gallery script, run it as ``python script.py`` in a fresh interpreter, and show its output."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        self._note()
        script = (DOCS / self.arguments[0]).resolve()
        self.env.note_dependency(str(script))
        if not script.is_file():
            logger.warning("no script %s", self.arguments[0], location=self.get_location())
            return []
        folder = _workdir(self.env, f"{self.env.docname}/{script.stem}")
        env = _child_env()
        env["OPHYSIO_TEST_DATA"] = str(_sample_folder())
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=folder, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
        )
        if proc.returncode != 0:
            return self._fail(f"python {script.name}", proc.stdout)
        code = _literal(script.read_text(), "python")
        output = _literal(f"$ python {script.name}\n{proc.stdout.rstrip()}", "console", ("ophysio-output",))
        return [code, output]


class OphysioFormatTable(SphinxDirective):
    """The format table, checked against the registry."""

    has_content = True
    header = ["Format", "File names", "Versions", "What is read", "Timestamps from", "Sample files", "Since"]

    def run(self) -> list[nodes.Node]:
        from ophysio.extractors.registry import FORMATS

        self.env.__dict__.setdefault("ophysio_run_docs", set()).add(self.env.docname)  # follows the registry
        rows: dict[str, list[str]] = {}
        for line in self.content:
            if not line.strip():
                continue
            cells = [cell.strip() for cell in line.split("|")]
            if len(cells) != 6:
                logger.warning("a format row needs 6 cells separated by '|': %s", line, location=self.get_location())
                return []
            rows[cells[0]] = cells[1:]
        registry = [spec.id for spec in FORMATS]
        missing = [fid for fid in registry if fid not in rows]
        unknown = [fid for fid in rows if fid not in registry]
        if missing or unknown:
            logger.warning("the format table does not match the registry: no row for %s; rows for unknown %s",
                           missing or "none", unknown or "none", location=self.get_location())
        text = [".. list-table::", "   :header-rows: 1", "   :class: ophysio-format-table", ""]
        text.append("   * - " + "\n     - ".join(self.header))
        for spec in FORMATS:
            if spec.id not in rows:
                continue
            versions, read, times, samples, since = rows[spec.id]
            endings = " ".join(f"``{s}``" for s in spec.suffixes)
            cells = [f":doc:`{spec.id} <{spec.id}>`", endings, versions, read, times, samples, since]
            text.append("   * - " + "\n     - ".join(cells))
        container = nodes.container()
        lines = "\n".join(text).splitlines()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), self.content_offset, container)
        return container.children


def _always_outdated(app, env, added, changed, removed):
    """Pages that run ophysio are read again on every build, so that their output follows the code."""
    return sorted(getattr(env, "ophysio_run_docs", set()) - set(removed))


def _purge(app, env, docname):
    getattr(env, "ophysio_run_docs", set()).discard(docname)


def setup(app):
    app.add_directive("ophysio-run", OphysioRun)
    app.add_directive("ophysio-python", OphysioPython)
    app.add_directive("ophysio-show", OphysioShow)
    app.add_directive("ophysio-script", OphysioScript)
    app.add_directive("ophysio-format-table", OphysioFormatTable)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-purge-doc", _purge)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
