#!/usr/bin/env python3
"""Renders a role's systemd unit template (roles/<role>/templates/*.service.j2) with the
role's default paths, for the release tarball and the Debian packages: the units that
`make dist` ships are the ones the Ansible roles deploy, from one source.

Usage: render-unit.py ROLE BINARY_PATH [--package]  (prints the unit on stdout)
"""
import sys
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--package"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, binary = sys.argv[1], sys.argv[2]
    if kind not in ("server", "edge"):
        print(f"render-unit.py: unknown role {kind!r} (server|edge)", file=sys.stderr)
        return 2
    prefix = f"utizmon_{kind}"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "roles" / prefix / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # as Ansible's template module
    )
    env.filters["comment"] = lambda text: "".join(f"# {line}\n" for line in text.splitlines())
    unit = env.get_template(f"utizmon-{kind}.service.j2").render(
        ansible_managed="Installed by the utizmon release (make dist); edit "
        f"/etc/utizmon/{kind}.env, not this file.",
        utizmon_package=len(sys.argv) == 4,
        **{
            f"{prefix}_user": "utizmon",
            f"{prefix}_group": "utizmon",
            f"{prefix}_config_dir": "/etc/utizmon",
            f"{prefix}_binary_path": binary,
            f"{prefix}_token_path": f"/etc/utizmon/{kind}.token",
        },
    )
    sys.stdout.write(unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
