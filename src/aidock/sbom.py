"""``aidock sbom AI VERSION``: the CycloneDX SBOM of an AI image, summarised.

The build host writes one SBOM per pushed image (roles/signing, tasks/sbom.yml) into the
build output, ``<dir>/<ai>/<version>/sbom.cdx.json`` (a link to ``sha256-<hex>.cdx.json``,
named after the image's digest), and attaches it to the image in the registry as a signed
cosign attestation (``--type cyclonedx``). This command reads the build output's copy, prints
what the image holds (Python and Debian packages, their licences) and writes the whole JSON
where ``--output`` says. The Debian part lists source packages besides binary ones (debsbom
records both): the counts name them apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path("/var/lib/aidock/sbom")
SBOM_FILE = "sbom.cdx.json"
EXIT_OK, EXIT_USAGE, EXIT_MISSING = 0, 2, 5
NO_LICENCE = "(none declared)"


class SbomError(Exception):
    """The SBOM is missing or not a CycloneDX JSON document (message says which file)."""


@dataclass
class Summary:
    """Component counts by kind and licence counts of one SBOM."""

    image: str
    spec_version: str
    kinds: Counter[str] = field(default_factory=Counter)
    licences: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


def kind_of(component: dict[str, Any]) -> str:
    """``python``, ``debian`` (binary), ``debian-source`` or the PURL type / ``other``."""
    purl = str(component.get("purl") or "")
    if purl.startswith("pkg:pypi/"):
        return "python"
    if purl.startswith("pkg:deb/"):
        return "debian-source" if "arch=source" in purl else "debian"
    return purl[4:].split("/", 1)[0] if purl.startswith("pkg:") and "/" in purl else "other"


def licences_of(component: dict[str, Any]) -> list[str]:
    """SPDX ids, names or expressions a component declares (trove classifiers shortened)."""
    found: list[str] = []
    for entry in component.get("licenses") or []:
        if not isinstance(entry, dict):
            continue
        if entry.get("expression"):
            found.append(str(entry["expression"]))
            continue
        lic = entry.get("license") or {}
        name = str(lic.get("id") or lic.get("name") or "").strip()
        if name:
            found.append(name.rsplit(" :: ", 1)[-1])
    return found or [NO_LICENCE]


def summarize(doc: dict[str, Any]) -> Summary:
    """What ``doc`` (a CycloneDX JSON document) lists."""
    if doc.get("bomFormat") != "CycloneDX" or not isinstance(doc.get("components", []), list):
        raise SbomError("not a CycloneDX JSON document (bomFormat, components)")
    meta = (doc.get("metadata") or {}).get("component") or {}
    summary = Summary(str(meta.get("name") or "?"), str(doc.get("specVersion") or "?"))
    for component in doc.get("components") or []:
        if not isinstance(component, dict):
            continue
        kind = kind_of(component)
        summary.kinds[kind] += 1
        if kind != "debian-source":  # a source package's licences repeat its binaries'
            summary.licences.update(licences_of(component))
    return summary


def read_sbom(directory: Path, ai: str, version: str) -> tuple[Path, dict[str, Any]]:
    """The SBOM of ``ai:version`` under ``directory`` and its parsed JSON."""
    path = directory / ai / version / SBOM_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SbomError(
            f"no SBOM of {ai}:{version} at {path}: run playbooks/images.yml on the build "
            "host (the signing role writes it), or pass --dir"
        ) from None
    except OSError as exc:
        raise SbomError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SbomError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SbomError(f"{path} is not a CycloneDX JSON document")
    return path.resolve(), doc


def render(summary: Summary, source: Path, top: int) -> str:
    """The summary as the terminal shows it."""
    lines = [
        f"image: {summary.image}",
        f"sbom: {source} (CycloneDX {summary.spec_version})",
        f"components: {summary.total}",
    ]
    lines += [f"  {kind}: {count}" for kind, count in sorted(summary.kinds.items())]
    lines.append(f"licences ({len(summary.licences)} distinct, most used first):")
    lines += [f"  {count:5d}  {name}" for name, count in summary.licences.most_common(top)]
    if len(summary.licences) > top:
        lines.append(f"  ... {len(summary.licences) - top} more (--top)")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    try:
        source, doc = read_sbom(args.dir, args.ai, args.version)
        summary = summarize(doc)
    except SbomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_MISSING
    if args.output is not None:
        try:
            args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.json:
        body = {
            "image": summary.image,
            "sbom": str(source),
            "components": summary.total,
            "kinds": dict(sorted(summary.kinds.items())),
            "licences": dict(summary.licences.most_common()),
        }
        print(json.dumps(body, indent=2))
    else:
        print(render(summary, source, args.top))
        if args.output is not None:
            print(f"full SBOM written to {args.output}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``aidock sbom``."""
    parser = subparsers.add_parser(
        "sbom",
        help="summarise the SBOM of an AI image (components, licences) and write it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ai", help="AI name (the image <registry>/<namespace>/<ai>)")
    parser.add_argument("version", help="its version (image tag)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"build output of the SBOMs on this host (default: {DEFAULT_DIR})",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the full CycloneDX JSON here")
    parser.add_argument("--top", type=int, default=15, help="licences listed (default: 15)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=_run)
