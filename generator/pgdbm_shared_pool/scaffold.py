"""`shared-pool new`, `add-service` and `remove-service`: a thin layer over copier's API.

The template is the one `copier copy` uses (`names.template_root()`), and every answer is
checked by copier.yml's own validators, which copier runs before it writes a file: there is
no second copy of the naming rules here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from . import names

if TYPE_CHECKING:
    import copier

ANSWERS_FILE = ".copier-answers.yml"
Progress = Callable[[str], None]


class ScaffoldError(Exception):
    """A one-line, user-facing reason why nothing (or nothing more) was written."""


@dataclass(frozen=True)
class ScaffoldResult:
    dest: Path
    answers: dict[str, Any]  # the project's .copier-answers.yml after the run
    created: list[Path]  # paths relative to dest
    changed: list[Path]
    removed: list[Path]


def _silent(_: str) -> None:
    pass


def askable_questions(template: Path) -> frozenset[str]:
    """Question names a caller may answer; computed values (`when: false`) are not answers."""
    config = yaml.safe_load((template / "copier.yml").read_text(encoding="utf-8"))
    return frozenset(
        key
        for key, spec in config.items()
        if not key.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    )


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
    """Render the template into `dest`, non-interactively.

    On any error nothing is left behind: a dest that did not exist does not exist, an empty
    one is empty again (with `overwrite`, files already rewritten in a non-empty dest stay).

    `project_name` defaults to dest's folder name and `package_name` to copier.yml's default
    derived from it. `extra` answers any other question of copier.yml (`pool_max_size`, ...).

    Template version: when the template is a git checkout, `vcs_ref` defaults to ``"HEAD"``,
    the commit that is checked out, *including uncommitted edits* -- not copier's default,
    the latest tag, which would silently render an older template than the one on disk.
    The project records the absolute `_src_path` and `_commit` (``git describe``), which
    `add_service` needs later. A project rendered from uncommitted edits records a throw-away
    commit, so it cannot be updated; `progress` says so. Pass a tag to render a release.
    A bundled (non-git) template has no versions: its projects cannot be updated.

    Copier's user settings file is ignored, so answers depend only on the arguments.
    """
    template = (template or names.template_root()).resolve()
    dest = Path(dest).absolute()
    data: dict[str, object] = dict(extra or {})
    _reject_unknown_answers(data, template)
    # The keyword arguments are shortcuts for answers; left at their defaults, extra decides.
    for key, value in (
        # Not list(): a str would become its characters; copier's validator rejects non-lists.
        ("services", list(services) if isinstance(services, list | tuple) else services),
        ("project_name", project_name),
        ("package_name", package_name),
        ("use_tenants", use_tenants or None),
    ):
        if value is not None and key in data:
            raise ScaffoldError(f"answer {key} given twice (as an argument and in extra)")
        if value is not None:
            data[key] = value
    data.setdefault("project_name", dest.name)
    pre_existing = _check_destination(dest, overwrite)
    ref = vcs_ref or ("HEAD" if _is_git_root(template) else None)

    # Copier validates --data answers but not defaults, so a first dry run resolves the
    # defaults (package_name from project_name) and the real run validates every answer.
    progress(f"checking answers against {template / 'copier.yml'}")
    source = {"src_path": str(template), "dst_path": dest, "vcs_ref": ref, "overwrite": overwrite}
    dry_run = _copier("run_copy", progress, data=data, pretend=True, **source)
    questions = askable_questions(template)
    combined, hidden = dry_run.answers.combined, dry_run.answers.hidden
    answers = {k: v for k, v in combined.items() if k in questions and k not in hidden}

    progress(f"rendering {template.name}@{ref or 'plain directory'} into {dest}")
    created_root = _first_missing_ancestor(dest)
    try:
        _copier("run_copy", progress, data=answers, **source)
    except BaseException:
        _remove_new_paths(dest, created_root, pre_existing)
        raise
    created = sorted(p for p in _files(dest) if p not in pre_existing)
    progress(f"wrote {len(created)} files")
    return ScaffoldResult(dest, read_answers(dest), created, changed=[], removed=[])


def add_service(project: Path, name: str, *, progress: Progress = _silent) -> ScaffoldResult:
    """`copier update` with `name` appended to the project's services, at its template commit.

    The project must be a git repository with a clean tree (so the update is reviewable and
    can be undone); the template version does not change -- only the answer does.
    """
    services = list(read_answers(project).get("services") or [])
    if name in services:
        raise ScaffoldError(f"service {name!r} already exists in {project}")
    return _update_services(project, [*services, name], progress)


def remove_service(project: Path, name: str, *, progress: Progress = _silent) -> ScaffoldResult:
    """`copier update` without `name`: its folder and registry entry go, user edits stay."""
    services = list(read_answers(project).get("services") or [])
    if name not in services:
        raise ScaffoldError(f"service {name!r} is not one of {project}'s services: {services}")
    return _update_services(project, [s for s in services if s != name], progress)


def read_answers(project: Path) -> dict[str, Any]:
    answers_path = Path(project) / ANSWERS_FILE
    if not answers_path.is_file():
        raise ScaffoldError(f"{project} has no {ANSWERS_FILE}: not a generated project")
    return dict(yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {})


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
            raise ScaffoldError(_reword_validation_error(str(error), options["data"])) from error
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
        raise ScaffoldError(
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


# --- command line ------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = subparsers.add_parser(
        "new",
        help="create a project from the template (copier copy, non-interactive)",
        description="Render the copier template into DEST. Answers are checked by copier.yml's "
        "validators before anything is written; on error DEST is left as it was. From a git "
        "checkout the template is its HEAD, uncommitted edits included.",
    )
    new.add_argument("dest", type=Path, metavar="DEST", help="new or empty folder")
    new.add_argument(
        "--service",
        dest="services",
        action="append",
        metavar="NAME",
        help="a service (schema + migrations + router); repeat for more. Required unless "
        "--data services=[...] is given",
    )
    new.add_argument("--project-name", help="human-readable name (default: DEST's folder name)")
    new.add_argument("--package-name", help="Python package (default: derived from the name)")
    new.add_argument("--tenants", action="store_true", help="add the schema-per-tenant extension")
    new.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer any other copier.yml question, as `copier copy --data` does "
        "(e.g. pool_max_size=20)",
    )
    new.add_argument("--force", action="store_true", help="render into a non-empty DEST")
    new.add_argument("--json", action="store_true", help="print dest, answers, created as JSON")
    new.set_defaults(func=_run_new)

    for command, verb, function in (
        ("add-service", "add", add_service),
        ("remove-service", "remove", remove_service),
    ):
        sub = subparsers.add_parser(
            command,
            help=f"{verb} a service of a generated project (copier update)",
            description=f"{verb.capitalize()} a service with `copier update` at the project's "
            "template commit. PROJECT must be a git repository with a clean tree; user edits "
            "to shared files are kept.",
        )
        sub.add_argument("project", type=Path, metavar="PROJECT", help="the generated project")
        sub.add_argument("name", metavar="NAME", help="service name")
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        sub.set_defaults(func=lambda args, f=function: _run_update(args, f))


def _stderr_progress(message: str) -> None:
    print(f"shared-pool: {message}", file=sys.stderr, flush=True)


def _run_new(args: argparse.Namespace) -> int:
    extra: dict[str, object] = {}
    for item in args.data:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _usage_error(f"--data expects KEY=VALUE, got {item!r}")
        extra[key.strip()] = value
    services = args.services or []
    if "services" in extra:
        if services:
            return _usage_error("give services with --service or --data services=..., not both")
        # Parsed as copier parses a `type: yaml` answer; its validator judges the result.
        try:
            services = yaml.safe_load(str(extra.pop("services")))
        except yaml.YAMLError as error:
            return _usage_error(f"--data services=...: not YAML ({error.__class__.__name__})")
    elif not services:
        return _usage_error("at least one --service NAME is required")
    try:
        result = new_project(
            args.dest,
            services=services,
            project_name=args.project_name,
            package_name=args.package_name,
            use_tenants=args.tenants,
            extra=extra,
            overwrite=args.force,
            progress=_stderr_progress,
        )
    except ScaffoldError as error:
        print(f"shared-pool new: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result)
    else:
        print(f"Created {args.dest} with services: {', '.join(result.answers['services'])}")
        print(f"Next steps:\n  cd {args.dest}\n  make install\n  make test")
    return 0


def _run_update(args: argparse.Namespace, function: Callable[..., ScaffoldResult]) -> int:
    try:
        result = function(args.project, args.name, progress=_stderr_progress)
    except ScaffoldError as error:
        print(f"shared-pool {args.command}: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result)
    else:
        print(f"Services of {args.project}: {', '.join(result.answers['services'])}")
        print("Review with `git status` / `git diff`, then commit.")
    return 0


def _print_json(result: ScaffoldResult) -> None:
    print(json.dumps(asdict(result), indent=2, default=str))  # default=str: paths


def _usage_error(message: str) -> int:
    print(f"shared-pool: error: {message}", file=sys.stderr)
    return 2
