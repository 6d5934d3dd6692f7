"""``aidock bento``: build Bentos of the document AIs; import and remove custom AIs.

``build`` trains an AI on the generated corpus and saves it as a Bento (``BENTOML_HOME``
chooses the store); ``validate`` checks an archive. ``import`` validates an archive, then
runs ``playbooks/import_bento.yml`` of the source checkout, which checks it again against
the site (names, wheelhouse), builds the hardened image and pushes it to the site registry:
from there the agent starts it on request. ``import --deploy`` also runs it as a compose
stack on the AI hosts; ``import --context-only DIR`` only unpacks it into a Docker build
context (for the Bento's own Dockerfile or the site's ``images/bento/Dockerfile``).
``remove`` runs ``playbooks/remove_ai.yml``: its stack stopped, its images and registry tags
deleted.
Exit codes: 0 ok, 1 invalid archive or a failed build, import or removal, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidock.bento.playbooks import (
    DEFAULT_INVENTORY,
    IMPORT_PLAYBOOK,
    PROJECT_DIR_ENV,
    REMOVE_PLAYBOOK,
    checkout,
    import_argv,
    remove_argv,
    run_playbook,
)
from aidock.cli import EXIT_OK, EXIT_USAGE, add_group, int_range

if TYPE_CHECKING:
    from aidock.bento.archive import ArchiveReport

EXIT_INVALID = 1
AI_NAMES = ("extraction", "categorization")
IMAGE_NAMESPACE = "aidock"
HELD_OUT_DOCS = 200
GC_PLAYBOOK = "playbooks/registry_gc.yml"
# An image tag, as the ai_image role accepts it.
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def cmd_build(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento build``."""
    # Training and packaging load scikit-learn, the corpus generator and BentoML (seconds):
    # only this command needs them, so `aidock --help` and the other commands never do.
    from aidock.ais.categorization import CategorizationAI  # noqa: PLC0415  scikit-learn
    from aidock.ais.corpus import generate  # noqa: PLC0415  the training-data generator
    from aidock.ais.extraction import ExtractionAI  # noqa: PLC0415  scikit-learn
    from aidock.bento.build import BentoBuildError  # noqa: PLC0415  BentoML

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
    # PyYAML and packaging: ~50 ms that `aidock --help` and the worker commands do without.
    from aidock.bento.archive import ArchiveError, validate_archive  # noqa: PLC0415  PyYAML

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


def image_tag(text: str) -> str:
    """argparse type: a Docker image tag."""
    if not IMAGE_TAG.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an image tag (letters, digits, '_', '.', '-'; at most 128)"
        )
    return text


def ai_name(text: str) -> str:
    """argparse type: an AI name (it names the image, the stack and its directory)."""
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an AI name (1 to 63 lower case letters, digits and '-', "
            "starting with a letter or digit)"
        )
    return text


def build_plan(report: ArchiveReport, context: Path, tag: str | None = None) -> dict[str, Any]:
    """What the image build of an imported Bento needs and runs."""
    tag = tag or report.image_tag
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


def agent_request(result: dict[str, Any]) -> dict[str, str]:
    """How a worker asks the site's agent for the AI ``result`` describes."""
    name, version = result["name"], result["version"]
    compose = result.get("agent_compose") or "/opt/aidock/stacks/agent/compose.yaml"
    worker = (
        f"docker compose -f {compose} run --rm -T worker run --ai {name} --version {version} "
        f"--input /input --output /output/{name}.jsonl"
    )
    body = json.dumps({"ai": name, "version": version})
    return {"worker": worker, "api": f"POST /v1/instances {body}"}


def import_summary(result: dict[str, Any]) -> list[str]:
    """What ``import`` prints once the playbook pushed (and maybe deployed) the AI."""
    request = agent_request(result)
    lines = [
        f"pushed: {result['image']}",
        f"ai: {result['name']} version {result['version']} (Bento {result.get('bento', '?')}, "
        f"schema {result.get('schema_version', '?')})",
    ]
    if result.get("deployed"):
        lines.append(f"stack: {result['url']} (compose project {result['project_dir']})")
    lines += [
        "request it through the agent:",
        f"  {request['worker']}",
        f"  or {request['api']}",
        f"remove it: aidock bento remove {result['name']} --version {result['version']}",
    ]
    return lines


def _context_only(args: argparse.Namespace) -> int:
    """``import --context-only DIR``: validate, unpack, print the build plan."""
    from aidock.bento.archive import (  # noqa: PLC0415  PyYAML, as in _validate
        DOCKERFILE_MEMBER,
        ArchiveError,
        unpack_archive,
    )

    if args.dockerfile and not Path(args.dockerfile).is_file():
        print(f"error: Dockerfile {args.dockerfile} not found", file=sys.stderr)
        return EXIT_USAGE
    report = _validate(args)
    if report is None:
        return EXIT_INVALID
    context = Path(args.context_only) / f"{report.ai_name}-{report.version}"
    if context.exists():
        print(f"error: {context} already exists", file=sys.stderr)
        return EXIT_INVALID
    try:
        unpack_archive(args.archive, context / "bento")
    except ArchiveError as exc:
        print(f"error: {args.archive}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # The Bento's own Dockerfile builds from bento/; the site's images/bento/Dockerfile ADDs the
    # archive as it is (one file in the build context, which Docker unpacks).
    shutil.copyfile(args.archive, context / "bento.tar")
    dockerfile = Path(args.dockerfile) if args.dockerfile else context / "bento" / DOCKERFILE_MEMBER
    (context / "Dockerfile").write_bytes(dockerfile.read_bytes())
    (context / "app").mkdir()
    _print({**report.summary(), **build_plan(report, context, args.version)}, args.json)
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_import(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento import``: validate, then build and push (and deploy) it."""
    if args.context_only:
        if args.deploy or args.port is not None:
            return _usage("--context-only only unpacks: no --deploy or --port with it")
        return _context_only(args)
    if args.dockerfile:
        return _usage("--dockerfile goes with --context-only (the site builds from its own)")
    if args.port is not None and not args.deploy:
        return _usage("--port is the port of the stack --deploy starts: add --deploy")
    project = checkout(IMPORT_PLAYBOOK, "import")
    if project is None:
        return EXIT_USAGE
    if _validate(args) is None:  # before anything is built, pushed or started
        return EXIT_INVALID
    with tempfile.TemporaryDirectory(prefix="aidock-import-") as tmp:
        result_file = Path(tmp) / "result.json"
        argv = import_argv(
            project,
            args.archive,
            deploy=args.deploy,
            inventory=args.inventory,
            name=args.name,
            version=args.version,
            port=args.port,
            result_file=result_file,
        )
        result = run_playbook(project, argv, result_file)
    if result is None:
        return EXIT_INVALID
    if args.json:
        print(json.dumps({**result, "agent_request": agent_request(result)}, indent=2))
    else:
        print("\n".join(import_summary(result)))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    """Handler of ``aidock bento remove``: stop its stack, delete its images and tags."""
    project = checkout(REMOVE_PLAYBOOK, "remove")
    if project is None:
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="aidock-remove-") as tmp:
        result_file = Path(tmp) / "result.json"
        argv = remove_argv(
            project, args.name, version=args.version, inventory=args.inventory,
            result_file=result_file,
        )  # fmt: skip
        result = run_playbook(project, argv, result_file)
    if result is None:
        return EXIT_INVALID
    gc = f"ansible-playbook -i {args.inventory} {GC_PLAYBOOK}"
    if args.json:
        print(json.dumps({**result, "reclaim_space": gc}, indent=2))
        return EXIT_OK
    tags = result.get("removed_tags") or []
    what = f"tags {', '.join(tags)}" if tags else "no tag (none left in the registry)"
    artifacts = result.get("removed_artifacts") or []
    if artifacts:
        what += f", with {len(artifacts)} signature/attestation tag(s) of their digests"
    print(f"removed: {result['name']}: {what}")
    print(f"stack: {'stopped and removed' if result.get('stack_removed') else 'none'}")
    print(f"the registry keeps the layers until {GC_PLAYBOOK} reclaims the space: {gc}")
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
        help="import the AI under NAME (image, stack, /info) instead of the Bento's name",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _inventory_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, metavar="DIR",
        help=f"Ansible inventory, relative to the checkout (default: {DEFAULT_INVENTORY})",
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bento`` command group."""
    _, sub = add_group(
        subparsers,
        "bento",
        "build Bentos of the document AIs; import .bento archives as custom AIs; remove them",
        "Build Bentos of the document AIs (BENTOML_HOME chooses the BentoML store), validate "
        ".bento archives, import them as custom AIs (image built and pushed to the site "
        "registry, where the agent finds them) and remove them again.\n\n"
        "Exit codes: 0 ok, 1 invalid archive or a failed build, import or removal, "
        "2 usage error.",
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
    build.add_argument(
        "--output", metavar="PATH",
        help="export the .bento archive: PATH itself when it ends in .bento, else into the "
        "directory PATH as <name>-<version>.bento",
    )  # fmt: skip
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
        help="validate an archive, build its image and push it to the site registry",
        description="Validate ARCHIVE, then run "
        f"{IMPORT_PLAYBOOK} of the source checkout (${PROJECT_DIR_ENV}), which validates it "
        "again against the site's AIs and wheelhouse, builds the hardened image from the "
        "site's images/bento/Dockerfile and pushes it as <registry>/aidock/<name>:<version>. "
        "The agent then starts it on request; the end of the output says how. Nothing is "
        "built when the archive is invalid. The playbook's output goes to stderr, the result "
        "to stdout.\n\n"
        "--deploy also runs it as a compose stack under the site's stacks directory (port "
        "--port) and waits until it is healthy. --context-only DIR instead only unpacks it "
        "into DIR/<name>-<version>/ (bento/, the archive as bento.tar, Dockerfile, app/) and "
        "prints the build plan.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _archive_args(imp)
    imp.add_argument(
        "--version", type=image_tag, metavar="TAG",
        help="image tag (default: <AI version>-<Bento version>)",
    )  # fmt: skip
    _inventory_arg(imp)
    deploy = imp.add_argument_group("deploy")
    deploy.add_argument(
        "--deploy", action="store_true",
        help="also run it as a compose stack and wait until it is healthy",
    )  # fmt: skip
    deploy.add_argument(
        "--port", type=int_range(1, 65535), metavar="N",
        help="host port of the stack's API (default: the playbook's bento_port, 3010)",
    )  # fmt: skip
    context = imp.add_argument_group("build context only")
    context.add_argument(
        "--context-only", metavar="DIR",
        help="only unpack the archive into a Docker build context under DIR (no build, no "
        "push), for the Bento's own Dockerfile or the site's",
    )  # fmt: skip
    context.add_argument(
        "--dockerfile", metavar="FILE",
        help="with --context-only: use this Dockerfile (e.g. the site's "
        "images/bento/Dockerfile) instead of the one the Bento carries",
    )  # fmt: skip
    imp.set_defaults(handler=cmd_import)

    remove = sub.add_parser(
        "remove",
        help="stop an imported AI's stack and delete its images and registry tags",
        description=f"Run {REMOVE_PLAYBOOK} of the source checkout: stop and remove the "
        "stack of AI NAME if there is one (with its volumes and images), remove its images "
        "from the AI hosts and delete its tags (only TAG with --version) from the site "
        "registry. The site's own AIs (aidock_ais) are refused. Removing what is already "
        f"gone changes nothing. The registry frees the space at the next {GC_PLAYBOOK}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remove.add_argument("name", type=ai_name, metavar="NAME", help="the AI to remove")
    remove.add_argument(
        "--version", type=image_tag, metavar="TAG",
        help="remove only this tag (default: every tag); its stack only if it runs TAG",
    )  # fmt: skip
    _inventory_arg(remove)
    remove.add_argument("--json", action="store_true", help="print JSON")
    remove.set_defaults(handler=cmd_remove)
