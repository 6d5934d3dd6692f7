"""Write the CycloneDX SBOM of the image this runs in (roles/signing, tasks/sbom.yml).

Run by the image's own Debian python3 with the SBOM tools mounted read-only:
    python3 -I /sbom-tools/image_sbom.py --venv /opt/venv --out /out/<file> --name <ref>
cyclonedx-py lists the venv's distributions by asking the venv's interpreter for its
sys.path (in a subprocess that inherits no PYTHONPATH: -I keeps the tools out of it);
debsbom reads /var/lib/dpkg/status. The two documents become one: the Python components,
then the Debian ones, under the image as metadata.component. Nothing leaves the container
but the file in --out; no network (the container has none).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

LIB = Path(__file__).resolve().parent / "lib"


def _call(main, argv: list[str]) -> None:
    saved = sys.argv
    sys.argv = argv
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    if code not in (0, None):
        raise SystemExit(f"{argv[0]} failed with {code}")


def merge(python: dict, debian: dict, name: str) -> dict:
    """One CycloneDX document of both tools' components (bom-refs are PURLs: no clash)."""
    components = list(python.get("components") or []) + list(debian.get("components") or [])
    return {
        "bomFormat": "CycloneDX",
        "specVersion": debian.get("specVersion") or python.get("specVersion") or "1.6",
        "version": 1,
        "metadata": {
            "component": {"type": "container", "name": name, "bom-ref": name},
            "tools": {"components": [{"name": "cyclonedx-py"}, {"name": "debsbom"}]},
        },
        "components": components,
        "dependencies": list(python.get("dependencies") or [])
        + list(debian.get("dependencies") or []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(LIB))
    from cyclonedx_py._internal.cli import run as cyclonedx_py  # noqa: PLC0415
    from debsbom.cli import main as debsbom  # noqa: PLC0415

    with tempfile.TemporaryDirectory(dir=args.out.parent) as scratch:
        py, deb = Path(scratch) / "python.cdx.json", Path(scratch) / "debian"
        _call(
            cyclonedx_py,
            [
                "cyclonedx-py",
                "environment",
                "--output-reproducible",
                "--of",
                "JSON",
                "-o",
                str(py),
                f"{args.venv}/bin/python",
            ],
        )
        _call(debsbom, ["debsbom", "generate", "-t", "cdx", "-r", "/", "-o", str(deb)])
        doc = merge(
            json.loads(py.read_text()), json.loads(Path(f"{deb}.cdx.json").read_text()), args.name
        )
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
