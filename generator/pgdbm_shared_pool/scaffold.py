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
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import __version__, naming, three_way
from .template import (
    ANSWERS_FILE,
    askable_questions,
    copier_config,
    fingerprint,
    load_answers,
    template_root,
)

if TYPE_CHECKING:
    import copier

Progress = Callable[[str], None]
# Recorded in the answers file next to copier's own `_src_path` and `_commit`.
FINGERPRINT_KEY = "_template_fingerprint"
VERSION_KEY = "_template_package_version"


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
    The project records the absolute `_src_path`, copier's `_commit` for a git template, and
    for any template its content's fingerprint (`_template_fingerprint`, template.fingerprint)
    and this package's version: `add_service` regenerates the project's template from them.

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
        _record_template_version(dest, template)
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
    """The project's template re-rendered with `name` appended to its services, merged into it.

    A three-way merge as `copier update` does it (three_way.py), at the project's own template
    version -- only the answer changes. The template may be a git checkout or a plain folder
    (an installed copy of the skill), and the project need not be a git repository: nothing is
    written unless every file merges cleanly, and user edits are kept.
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
    """As add_service, without `name`: its package and registry entry go, user edits stay (a
    file of its package that the user changed is a conflict: nothing is deleted)."""
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
    project = Path(os.path.abspath(project))
    answers = read_answers(project)
    template, ref = _recorded_template(project, answers)
    kept = {k: v for k, v in answers.items() if k in askable_questions(template)}
    progress(f"regenerating {project.name} from {template} ({ref or 'not a git checkout'})")
    with tempfile.TemporaryDirectory(prefix="shared-pool-update-") as scratch:
        renders = {}
        for label, data in (("old", kept), ("new", {**kept, "services": services})):
            renders[label] = Path(scratch) / label / project.name  # the same folder name
            options = {"src_path": str(template), "dst_path": renders[label], "vcs_ref": ref}
            _copier("run_copy", progress, data=data, **options)
            _record_template_version(renders[label], template)
        try:
            answers_file = frozenset({Path(ANSWERS_FILE)})
            change = three_way.plan(project, renders["old"], renders["new"], answers_file)
        except three_way.MergeConflict as conflict:
            raise ScaffoldError(
                f"nothing changed: the update conflicts with your edits in {conflict}"
            ) from conflict
    progress(f"services {answers.get('services')} -> {services}")
    try:
        three_way.apply(project, change)
    except OSError as error:
        raise ScaffoldError(f"nothing changed (every file was put back): {error}") from error
    created, changed, removed = change.created, change.changed, sorted(change.deletes)
    progress(f"created {len(created)} files, changed {len(changed)}, removed {len(removed)}")
    return ScaffoldResult(project, read_answers(project), created, changed, removed)


def _recorded_template(project: Path, answers: Mapping[str, Any]) -> tuple[Path, str | None]:
    """The template folder and git ref that render the project's own template version.

    A git template at the recorded `_commit`, if that commit exists; otherwise the recorded
    folder, or the template this package ships, if its content has the recorded fingerprint.
    ScaffoldError, saying what to do, when no template of that version is at hand.
    """
    source, commit = answers.get("_src_path"), answers.get("_commit")
    recorded = answers.get(FINGERPRINT_KEY)
    if source and commit and _has_commit(Path(source), str(commit)):
        return Path(source), str(commit)
    candidates = [Path(source)] if source else []
    candidates.append(template_root())
    found = {}
    for folder in candidates:
        if (folder / "copier.yml").is_file():
            found[folder] = fingerprint(folder)
            if recorded and found[folder] == recorded:
                return folder, ("HEAD" if _is_git_root(folder) else None)
    if not recorded:
        raise ScaffoldError(
            f"{project} records no template version (`{FINGERPRINT_KEY}`; it was made by "
            f"plain copier from a folder, or by an older shared-pool), so its template cannot "
            "be regenerated: add the service by hand (the skill's references/fastapi.md, "
            "'Adding a service')"
        )
    made_with = answers.get(VERSION_KEY, "an unknown version")
    held = ", ".join(f"{folder} has {value}" for folder, value in found.items()) or "none found"
    raise ScaffoldError(
        f"{project} was generated from template {recorded} (pgdbm-shared-pool {made_with}), "
        f"but the template differs now ({held}); services are added and removed only at the "
        "project's own template version. Install the skill version the project was made with "
        "and run it from there, or add the service by hand (the skill's references/fastapi.md)"
    )


def _has_commit(repository: Path, commit: str) -> bool:
    return _git(repository, "cat-file", "-e", f"{commit}^{{commit}}") is not None


def _record_template_version(project: Path, template: Path) -> None:
    """Append the template's fingerprint and this package's version to the answers file (copier
    records `_commit` only for git templates; these let any copy of the template be matched)."""
    with (project / ANSWERS_FILE).open("a", encoding="utf-8") as answers:
        answers.write(f"{FINGERPRINT_KEY}: {fingerprint(template)}\n")
        answers.write(f"{VERSION_KEY}: {__version__}\n")


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
            "warning: the template checkout has uncommitted changes; they are included, and "
            "add-service works on this project only while the template stays as it is now"
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
