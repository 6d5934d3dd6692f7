"""``aidock bento``: build Bentos of the document AIs, validate and import ``.bento`` archives.

``build`` trains an AI on the generated corpus and saves it as a Bento (``BENTOML_HOME``
chooses the store); ``validate`` checks an archive; ``import`` validates it, unpacks it
into a Docker build context and prints what would be built (building and pushing the
image is the ``ai_image`` role's job); ``import --deploy`` validates it and runs
``playbooks/import_bento.yml`` of the source checkout, which builds, pushes and starts it.
Exit codes: 0 ok, 1 invalid archive, failed build or failed deploy, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidock.cli import EXIT_OK, EXIT_USAGE, add_group, int_range

if TYPE_CHECKING:  # imported by the handlers: `aidock --help` needs neither YAML nor BentoML
    from aidock.bento.archive import ArchiveReport

EXIT_INVALID = 1
AI_NAMES = ("extraction", "categorization")
DEFAULT_IMPORT_DIR = ".cache/bento-builds"
IMAGE_NAMESPACE = "aidock"
HELD_OUT_DOCS = 200
PROJECT_DIR_ENV = "AIDOCK_PROJECT_DIR"
IMPORT_PLAYBOOK = "playbooks/import_bento.yml"
DEFAULT_INVENTORY = "inventories/local"


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def cmd_build(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento build``."""
    from aidock.ais.categorization import CategorizationAI
    from aidock.ais.corpus import generate
    from aidock.ais.extraction import ExtractionAI
    from aidock.bento.build import BentoBuildError

    ai = ExtractionAI() if args.ai == "extraction" else CategorizationAI()
    ai.train(generate(args.train_docs, args.seed))
    held_out = ai.evaluate(generate(HELD_OUT_DOCS, args.seed + 1))
    try:
        built = ai.save_bento(args.output)
    except BentoBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    score = ("micro_f1", held_out["micro"]["f1"]) if "micro" in held_out else (
        "accuracy", held_out["accuracy"])  # fmt: skip
    _print(
        {
            "bento": built.tag,
            "schema_version": built.schema_version,
            "model": built.model_tag,
            "model_sha256": built.model_sha256,
            "archive": str(built.archive) if built.archive else None,
            f"held_out_{score[0]}": round(score[1], 4),
        },
        args.json,
    )
    return EXIT_OK


def _validate(args: argparse.Namespace) -> ArchiveReport | None:
    from aidock.bento.archive import ArchiveError, validate_archive

    try:
        return validate_archive(
            args.archive, wheelhouse=args.wheelhouse, existing=args.existing, deploy_as=args.name
        )
    except ArchiveError as exc:
        print(f"error: {args.archive}: {exc}", file=sys.stderr)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento validate``."""
    report = _validate(args)
    if report is None:
        return EXIT_INVALID
    _print({"valid": True, **report.summary()}, args.json)
    return EXIT_OK


def build_plan(report: ArchiveReport, context: Path) -> dict[str, Any]:
    """What the image build of an imported Bento needs and runs."""
    tag = report.image_tag
    image = f"{IMAGE_NAMESPACE}/{report.ai_name}:{tag}"
    build_args = {
        "AI_NAME": report.ai_name,
        "BENTO_TAG": report.tag,
        "SCHEMA_VERSION": report.schema_version,
        "VERSION": tag,
    }
    args = " ".join(f"--build-arg {k}={v}" for k, v in build_args.items())
    return {
        "context": str(context),
        "image": image,
        "build_args": build_args,
        "still_needed": [
            "wheelhouse.tar: the wheels of bento/src/requirements.lock",
            "app/aidock-<version>-py3-none-any.whl",
        ],
        "command": f"docker build -t {image} {args} {context}",
    }


def project_dir() -> Path:
    """``$AIDOCK_PROJECT_DIR`` or the source checkout this package runs from."""
    if env := os.environ.get(PROJECT_DIR_ENV):
        return Path(env)
    return Path(__file__).resolve().parents[3]


def deploy_argv(
    project: Path,
    archive: str | Path,
    *,
    inventory: str = DEFAULT_INVENTORY,
    name: str | None = None,
    version: str | None = None,
    port: int | None = None,
    ansible_playbook: str | Path | None = None,
) -> list[str]:
    """The ``ansible-playbook`` command that imports ``archive`` as a custom AI."""
    extra: dict[str, Any] = {"bento_archive": str(Path(archive).resolve())}
    if name:
        extra["bento_ai_name"] = name
    if version:
        extra["bento_version"] = version
    if port is not None:
        extra["bento_port"] = port
    playbook = ansible_playbook or Path(sys.executable).parent / "ansible-playbook"
    inventory_path = Path(inventory)
    if not inventory_path.is_absolute():
        inventory_path = project / inventory_path
    return [
        str(playbook),
        "-i",
        str(inventory_path),
        str(project / IMPORT_PLAYBOOK),
        "--extra-vars",
        json.dumps(extra, sort_keys=True),
    ]


def _deploy(args: argparse.Namespace) -> int:
    """``import --deploy``: check the archive here, then let the playbook build and run it."""
    project = project_dir()
    if not (project / IMPORT_PLAYBOOK).is_file():
        print(
            f"error: --deploy runs {IMPORT_PLAYBOOK} of a source checkout; none at {project} "
            f"(set ${PROJECT_DIR_ENV})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if _validate(args) is None:
        return EXIT_INVALID
    argv = deploy_argv(
        project,
        args.archive,
        inventory=args.inventory,
        name=args.name,
        version=args.version,
        port=args.port,
    )
    env = {**os.environ}
    env.setdefault("ANSIBLE_CONFIG", str(project / "ansible.cfg"))
    print("running: " + " ".join(argv), file=sys.stderr, flush=True)
    try:
        done = subprocess.run(argv, cwd=project, env=env, check=False)
    except OSError as exc:
        print(f"error: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if done.returncode != 0:
        print(f"error: {IMPORT_PLAYBOOK} failed (exit {done.returncode})", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento import``: validate, unpack, print the build plan (or deploy)."""
    from aidock.bento.archive import DOCKERFILE_MEMBER, ArchiveError, unpack_archive

    if args.deploy:
        return _deploy(args)
    if args.dockerfile and not Path(args.dockerfile).is_file():
        print(f"error: Dockerfile {args.dockerfile} not found", file=sys.stderr)
        return EXIT_USAGE
    report = _validate(args)
    if report is None:
        return EXIT_INVALID
    context = Path(args.dest) / f"{report.ai_name}-{report.version}"
    if context.exists():
        print(f"error: {context} already exists", file=sys.stderr)
        return EXIT_INVALID
    try:
        unpack_archive(args.archive, context / "bento")
    except ArchiveError as exc:
        print(f"error: {args.archive}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    dockerfile = Path(args.dockerfile) if args.dockerfile else context / "bento" / DOCKERFILE_MEMBER
    (context / "Dockerfile").write_bytes(dockerfile.read_bytes())
    (context / "app").mkdir()
    _print({**report.summary(), **build_plan(report, context)}, args.json)
    return EXIT_OK


def _archive_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", metavar="ARCHIVE", help="a .bento archive")
    parser.add_argument(
        "--wheelhouse",
        metavar="PATH",
        help="check that every locked requirement has a wheel in PATH (a directory of wheels "
        "or the wheelhouse tarball the image build adds)",
    )
    parser.add_argument(
        "--existing",
        nargs="+",
        default=[],
        metavar="NAME",
        help="names of the AIs already deployed (the AI's name must differ)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="deploy the AI under NAME (image, compose project) instead of the Bento's name",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bento`` command group."""
    _, sub = add_group(
        subparsers,
        "bento",
        "build Bentos of the document AIs; validate and import .bento archives",
        "Build Bentos of the document AIs (BENTOML_HOME chooses the BentoML store), validate "
        ".bento archives, and import them as Docker build contexts.\n\n"
        "Exit codes: 0 ok, 1 invalid archive or failed build, 2 usage error.",
    )
    build = sub.add_parser(
        "build",
        help="train a document AI and save it as a Bento",
        description="Train the AI on the generated corpus, then build a Bento in the BentoML "
        "store ($BENTOML_HOME, default ~/bentoml) and, with --output, export a .bento there.",
    )
    build.add_argument("--ai", required=True, choices=AI_NAMES, help="which AI")
    build.add_argument(
        "--train-docs", type=int_range(10, 100_000), default=1200, metavar="N",
        help="generated training documents (default: 1200)",
    )  # fmt: skip
    build.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    build.add_argument("--output", metavar="DIR", help="export the .bento archive into DIR")
    build.add_argument("--json", action="store_true", help="print JSON")
    build.set_defaults(handler=cmd_build)

    validate = sub.add_parser(
        "validate",
        help="check a .bento archive (tar, model digest, schema version, wheels, name)",
        description="Check a .bento archive; nothing is written. Exit 1 names what is wrong.",
    )
    _archive_args(validate)
    validate.set_defaults(handler=cmd_validate)

    imp = sub.add_parser(
        "import",
        help="validate an archive, unpack it into a build context (or --deploy it)",
        description="Validate ARCHIVE, unpack it into DEST/<name>-<version>/bento with the "
        "Dockerfile beside it, and print the image that would be built. Nothing is written "
        "when the archive is invalid.\n\nWith --deploy: validate it, then run "
        f"{IMPORT_PLAYBOOK} of the source checkout (${PROJECT_DIR_ENV}), which validates it "
        "again against the site's AIs and wheelhouse, builds and pushes the hardened image, "
        "writes compose/<name>/compose.yaml and starts the stack healthy.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _archive_args(imp)
    imp.add_argument(
        "--dest", default=DEFAULT_IMPORT_DIR, metavar="DIR",
        help=f"where build contexts go (default: {DEFAULT_IMPORT_DIR})",
    )  # fmt: skip
    imp.add_argument(
        "--dockerfile", metavar="FILE",
        help="use this Dockerfile (e.g. the site's images/bento/Dockerfile) instead of the "
        "one the Bento carries",
    )  # fmt: skip
    deploy = imp.add_argument_group("deploy")
    deploy.add_argument(
        "--deploy", action="store_true",
        help=f"build, push and run it as a custom AI with {IMPORT_PLAYBOOK}",
    )  # fmt: skip
    deploy.add_argument(
        "--port", type=int_range(1, 65535), metavar="N",
        help="host port of its API (default: the playbook's bento_port)",
    )  # fmt: skip
    deploy.add_argument(
        "--version", metavar="TAG",
        help="image tag (default: <AI version>-<Bento version>)",
    )  # fmt: skip
    deploy.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, metavar="DIR",
        help=f"Ansible inventory, relative to the checkout (default: {DEFAULT_INVENTORY})",
    )  # fmt: skip
    imp.set_defaults(handler=cmd_import)
