"""Create a project and add or remove its services: a thin layer over copier's API.

The template is the one `copier copy` uses (`template.template_root()`). Names are checked by
the naming rule (naming.py) before copier starts, every answer again by copier.yml's
validators before copier writes a file; copier renders once. Nothing here prints: callers
pass a `progress` callback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import naming
from .template import ANSWERS_FILE, askable_questions, copier_config, load_answers, template_root

if TYPE_CHECKING:
    import copier

Progress = Callable[[str], None]


class ScaffoldError(Exception):
    """A one-line, user-facing reason why nothing (or nothing more) was written."""


class InvalidAnswers(ScaffoldError):
    """An answer the template refuses (a name, a value, an unknown question): nothing written."""


@dataclass(frozen=True)
class ScaffoldResult:
    dest: Path
    answers: dict[str, Any]  # the project's .copier-answers.yml after the run
    created: list[Path]  # paths relative to dest
    changed: list[Path]
    removed: list[Path]


def _silent(_: str) -> None:
    pass


def new_project(
    dest: Path,
    *,
    services: Sequence[str],
    project_name: str | None = None,
    package_name: str | None = None,
    use_tenants: bool = False,
    extra: Mapping[str, object] | None = None,
    overwrite: bool = False,
    vcs_ref: str | None = None,
    template: Path | None = None,
    progress: Progress = _silent,
) -> ScaffoldResult:
    """Render the template into `dest`, non-interactively, with one copier run.

    On any error nothing is left behind: a dest that did not exist does not exist, an empty
    one is empty again (with `overwrite`, files already rewritten in a non-empty dest stay).
    Refused answers raise InvalidAnswers before anything is written.

    `project_name` defaults to dest's folder name and `package_name` to one derived from it,
    as copier.yml's defaults do for plain `copier copy`. `extra` answers any other question
    of copier.yml (`pool_max_size`, ...), typed as copier.yml types them.

    Template version: when the template is a git checkout, `vcs_ref` defaults to ``"HEAD"``,
    the commit that is checked out, *including uncommitted edits* -- not copier's default,
    the latest tag, which would silently render an older template than the one on disk.
    The project records the absolute `_src_path` and `_commit` (``git describe``), which
    `add_service` needs later. A project rendered from uncommitted edits records a throw-away
    commit, so it cannot be updated; `progress` says so. Pass a tag to render a release.

    Copier's user settings file is ignored, so answers depend only on the arguments.
    """
    template = (template or template_root()).resolve()
    dest = Path(os.path.abspath(dest))  # normalised: no `..` in what is recorded or shown
    data = _answers(dest, template, services, project_name, package_name, use_tenants, extra)
    pre_existing = _check_destination(dest, overwrite)
    ref = vcs_ref or ("HEAD" if _is_git_root(template) else None)

    progress(f"rendering {template} ({ref or 'not a git checkout'}) into {dest}")
    source = {"src_path": str(template), "dst_path": dest, "vcs_ref": ref, "overwrite": overwrite}
    created_root = _first_missing_ancestor(dest)
    try:
        _copier("run_copy", progress, data=data, **source)
    except BaseException:
        _remove_new_paths(dest, created_root, pre_existing)
        raise
    created = sorted(p for p in _files(dest) if p not in pre_existing)
    progress(f"wrote {len(created)} files")
    return ScaffoldResult(dest, read_answers(dest), created, changed=[], removed=[])


def _answers(
    dest: Path,
    template: Path,
    services: Sequence[str],
    project_name: str | None,
    package_name: str | None,
    use_tenants: bool,
    extra: Mapping[str, object] | None,
) -> dict[str, object]:
    """Every answer for copier, the derived names included, checked by the naming rule."""
    data: dict[str, object] = dict(extra or {})
    _reject_unknown_answers(data, template)
    # The keyword arguments are shortcuts for answers; left at their defaults, extra decides.
    for key, value in (
        # Not list(): a str would become its characters; the naming rule rejects non-lists.
        ("services", list(services) if isinstance(services, list | tuple) else services),
        ("project_name", project_name),
        ("package_name", package_name),
        ("use_tenants", use_tenants or None),
    ):
        if value is not None and key in data:
            raise InvalidAnswers(f"answer {key} given twice (as an argument and in extra)")
        if value is not None:
            data[key] = value
    # copier.yml's defaults, computed here so that they are validated too (copier validates
    # only given answers) and copier renders once.
    data.setdefault("project_name", Path(os.path.realpath(dest)).name)
    if isinstance(data["project_name"], str):
        data.setdefault("package_name", naming.default_package_name(data["project_name"]))
    _check_names(data, template)
    return data


def _check_names(answers: Mapping[str, object], template: Path) -> None:
    """InvalidAnswers for the first name the naming rule refuses (defaults from copier.yml)."""
    config = copier_config(template)
    problem = naming.answers_problem(
        {key: answers.get(key, config[key].get("default")) for key in naming.NAMING_QUESTIONS}
    )
    if problem is not None:
        question, reason = problem
        answer = json.dumps(answers.get(question), ensure_ascii=False, default=str)
        raise InvalidAnswers(f"invalid {question}={answer}: {reason}")


def add_service(project: Path, name: str, *, progress: Progress = _silent) -> ScaffoldResult:
    """`copier update` with `name` appended to the project's services, at its template commit.

    The project must be a git repository with a clean tree (so the update is reviewable and
    can be undone); the template version does not change -- only the answer does.
    """
    answers = read_answers(project)
    services = list(answers.get("services") or [])
    if name in services:
        raise InvalidAnswers(f"service {name!r} already exists in {project}")
    source = answers.get("_src_path")
    template = Path(source) if source and (Path(source) / "copier.yml").is_file() else None
    _check_names({**answers, "services": [*services, name]}, template or template_root())
    return _update_services(project, [*services, name], progress)


def remove_service(project: Path, name: str, *, progress: Progress = _silent) -> ScaffoldResult:
    """`copier update` without `name`: its folder and registry entry go, user edits stay."""
    services = list(read_answers(project).get("services") or [])
    if name not in services:
        raise InvalidAnswers(f"service {name!r} is not one of {project}'s services: {services}")
    return _update_services(project, [s for s in services if s != name], progress)


def read_answers(project: Path) -> dict[str, Any]:
    answers = load_answers(project)
    if answers is None:
        raise ScaffoldError(f"{project} has no {ANSWERS_FILE}: not a generated project")
    return answers


def _update_services(project: Path, services: list[str], progress: Progress) -> ScaffoldResult:
    project = Path(project).absolute()
    answers = read_answers(project)
    progress(f"checking {project} is a clean git repository")
    if _git(project, "rev-parse", "--show-toplevel") is None:
        raise ScaffoldError(
            f"{project} is not a git repository: run `git init && git add -A && git commit`"
        )
    dirty = _git(project, "status", "--porcelain")
    if dirty:
        raise ScaffoldError(
            f"{project} has uncommitted changes ({len(dirty.splitlines())} paths): "
            "commit or stash them first, so the update can be reviewed and undone"
        )
    source, commit = answers.get("_src_path"), answers.get("_commit")
    if not source or not commit:
        raise ScaffoldError(
            f"{project} was rendered from a template that is not a git checkout: "
            "its original version cannot be regenerated, so copier cannot update it"
        )
    if _git(Path(source), "cat-file", "-e", f"{commit}^{{commit}}") is None:
        raise ScaffoldError(
            f"template commit {commit} is not in {source}: the project was rendered from "
            "uncommitted template edits (or the checkout moved), so it cannot be updated"
        )

    # A dry run validates the new list in a fraction of the update's time, before git work.
    progress("checking the new services against copier.yml")
    template = Path(source)
    kept = {k: v for k, v in answers.items() if k in askable_questions(template)}
    new_answers = {**kept, "services": services}
    at_commit = {"dst_path": project, "vcs_ref": str(commit), "overwrite": True}
    _copier("run_copy", progress, src_path=source, data=new_answers, pretend=True, **at_commit)

    before = _files(project)
    progress(f"copier update: services {answers.get('services')} -> {services}")
    try:
        _copier("run_update", progress, data={"services": services}, **at_commit)
    except BaseException:
        # The tree was clean, so everything that differs now was written by this update.
        _git(project, "checkout", "HEAD", "--", ".")
        _git(project, "clean", "-fdq")
        raise
    after = _files(project)
    diff = _git(project, "diff", "--name-only", "--relative", "HEAD") or ""
    changed = sorted({Path(line) for line in diff.splitlines()} & before & after)
    conflicts = [str(p) for p in changed if "<<<<<<< " in (project / p).read_text(errors="replace")]
    if conflicts:
        raise ScaffoldError(
            f"copier update left conflict markers in {', '.join(conflicts)}: resolve them "
            "(git diff), or undo the update: `git checkout HEAD -- . && git clean -fd`"
        )
    created, removed = sorted(after - before), sorted(before - after)
    progress(f"created {len(created)} files, changed {len(changed)}, removed {len(removed)}")
    return ScaffoldResult(project, read_answers(project), created, changed, removed)


def _copier(
    operation: Literal["run_copy", "run_update"], progress: Progress, **options: Any
) -> copier.Worker:
    """Run copier quietly and without user settings; turn its errors into ScaffoldError."""
    # Imported here: copier takes most of a second to import, which `check` shouldn't pay.
    import copier
    from copier.errors import DirtyLocalWarning

    run = getattr(copier, operation)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            worker = run(settings=copier.Settings(), defaults=True, quiet=True, **options)
        except ValueError as error:
            raise InvalidAnswers(_reword_validation_error(str(error), options["data"])) from error
        except Exception as error:
            reason = str(error).strip().splitlines() or [type(error).__name__]
            raise ScaffoldError(f"copier failed: {reason[0]}") from error
    dirty = any(issubclass(w.category, DirtyLocalWarning) for w in caught)
    if dirty and not options.get("pretend"):
        progress(
            "warning: the template checkout has uncommitted changes; they are included, "
            "but this project cannot be updated (add-service) from them later"
        )
    return worker


def _reword_validation_error(message: str, data: Mapping[str, object]) -> str:
    """`Validation error for question 'q': why` -> `invalid q=<answer>: why` on one line."""
    prefix = "Validation error for question '"
    if not message.startswith(prefix):
        return f"invalid answer: {message}"
    question, _, reason = message[len(prefix) :].partition("': ")
    reason = "; ".join(line.strip() for line in reason.splitlines() if line.strip())
    answer = json.dumps(data.get(question), ensure_ascii=False)
    return f"invalid {question}={answer}: {reason}"


def _reject_unknown_answers(data: Mapping[str, object], template: Path) -> None:
    questions = askable_questions(template)
    unknown = sorted(set(data) - questions)
    if unknown:
        raise InvalidAnswers(
            f"unknown question(s) {', '.join(unknown)}; "
            f"copier.yml asks: {', '.join(sorted(questions))}"
        )


def _check_destination(dest: Path, overwrite: bool) -> set[Path]:
    """The files already in dest (empty if absent); refuses a non-empty dest without overwrite."""
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a directory")
    if not dest.exists():
        return set()
    if any(dest.iterdir()) and not overwrite:
        raise ScaffoldError(f"{dest} is not empty: choose a new folder, or overwrite with --force")
    return _files(dest)


def _first_missing_ancestor(path: Path) -> Path | None:
    """The outermost directory a copy into `path` would create, or None if `path` exists."""
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return missing


def _remove_new_paths(dest: Path, created_root: Path | None, pre_existing: set[Path]) -> None:
    if created_root is not None:
        shutil.rmtree(created_root, ignore_errors=True)
    elif not pre_existing:  # dest existed and was empty: empty it again
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(root).parts[:1]
    }


def _is_git_root(path: Path) -> bool:
    top = _git(path, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == path.resolve()


def _git(cwd: Path, *args: str) -> str | None:
    """git's stdout, or None if git failed (not a repository, unknown object, ...)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.rstrip() if done.returncode == 0 else None  # keep porcelain columns
