"""Build the offline test wheels, with nothing but the standard library (and, for `debian`,
packaging's markers: Debian's python3-packaging, else the copy inside Debian's pip wheel).

    python3 make_wheels.py wheelhouse OUT_DIR
        pip, setuptools, wheel (copied from /usr/share/python-wheels), gunicorn
        repacked from the Debian-installed distribution, slipfix 1.0.0 and 1.1.0.
    python3 make_wheels.py debian OUT_DIR DIST...
        pip, setuptools, wheel, and each named distribution with its dependency closure,
        repacked from Debian's /usr/lib/python3/dist-packages (compiled ones as platform
        wheels for this interpreter). Requirements: the metadata's plus the Debian Depends.
    python3 make_wheels.py bigwheels OUT_DIR TOTAL_MIB COUNT
        COUNT synthetic wheels bigpkgN-1.0.0 whose installed size totals >= TOTAL_MIB.

Every wheel is reproducible: fixed timestamps, sorted entries, seeded content.
Run by test/support/wheelhouse.ts; any change to this file changes its cache key.
"""

import base64
import glob
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import random
import re
import shutil
import sys
import sysconfig
import zipfile

DEBIAN_WHEELS = "/usr/share/python-wheels"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def write_wheel(out_dir, name, version, files, metadata, entry_points=None, tag="py3-none-any"):
    """files: {archive path: bytes} for the package itself; returns the wheel's path.
    A tag other than py3-none-any is a platform wheel (compiled code): not purelib."""
    dist_info = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{dist_info}/METADATA"] = metadata.encode()
    purelib = "true" if tag == "py3-none-any" else "false"
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: slipway-test-support\n"
        f"Root-Is-Purelib: {purelib}\nTag: {tag}\n"
    ).encode()
    if entry_points:
        files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in sorted(files.items()))
    files[record_path] = (record + f"{record_path},,\n").encode()

    path = os.path.join(out_dir, f"{name}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        # RECORD last, as the wheel spec recommends.
        for arcname in sorted(files, key=lambda p: (p == record_path, p)):
            info = zipfile.ZipInfo(arcname, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[arcname])
    return path


def simple_metadata(name, version, summary, requires=()):
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


# --- gunicorn, repacked from the Debian package --------------------------------

def installed_files(site, meta_dir, top_level):
    """Paths (relative to site) of the distribution's own files, without bytecode."""
    found = []
    record = os.path.join(meta_dir, "RECORD")
    installed = os.path.join(meta_dir, "installed-files.txt")
    if os.path.exists(record):
        with open(record, encoding="utf-8") as f:
            found = [line.split(",")[0] for line in f if line.strip()]
    elif os.path.exists(installed):
        with open(installed, encoding="utf-8") as f:  # relative to the .egg-info dir
            found = [os.path.normpath(os.path.join(os.path.basename(meta_dir), l.strip()))
                     for l in f if l.strip()]
    else:  # Debian's egg-info has neither: walk the top-level packages instead
        for top in top_level:
            if os.path.isfile(os.path.join(site, top + ".py")):
                found.append(top + ".py")
            for root, dirs, names in os.walk(os.path.join(site, top)):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                found += [os.path.relpath(os.path.join(root, n), site) for n in names]
    meta_name = os.path.basename(meta_dir)
    return sorted(
        p for p in found
        if not p.startswith(("..", "/", meta_name + "/")) and "__pycache__" not in p
        and not p.endswith(".pyc") and os.path.isfile(os.path.join(site, p))
    )


def requires_from_egg_info(meta_dir):
    """requires.txt -> Requires-Dist values ('[extra]' sections become markers)."""
    path = os.path.join(meta_dir, "requires.txt")
    out, extra = [], None
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("["):
                extra = line.strip("[]").split(":")[0] or None
                continue
            out.append(f'{line}; extra == "{extra}"' if extra else line)
    return out


def repack_gunicorn(out_dir):
    spec = importlib.util.find_spec("gunicorn")
    if spec is None or not spec.origin:
        sys.exit("gunicorn is not installed for this interpreter: apt-get install python3-gunicorn")
    site = os.path.dirname(os.path.dirname(spec.origin))
    metas = glob.glob(os.path.join(site, "gunicorn-*.dist-info")) + glob.glob(os.path.join(site, "gunicorn-*.egg-info"))
    if not metas:
        sys.exit(f"no gunicorn .dist-info or .egg-info in {site}")
    meta_dir = metas[0]

    def read(name):
        p = os.path.join(meta_dir, name)
        return open(p, encoding="utf-8").read() if os.path.exists(p) else None

    metadata = read("METADATA") or read("PKG-INFO")
    header, sep, body = metadata.partition("\n\n")
    fields = dict(l.split(": ", 1) for l in header.splitlines() if ": " in l and not l.startswith(" "))
    version = fields["Version"]
    requires = [] if meta_dir.endswith(".dist-info") else requires_from_egg_info(meta_dir)
    # Debian dropped gunicorn's setuptools dependency, but gunicorn.util imports pkg_resources.
    if not any(l.lower().startswith("requires-dist: setuptools") for l in header.splitlines()):
        requires.insert(0, "setuptools")
    # License-File names a file this wheel does not carry.
    header = "\n".join(l for l in header.splitlines() if not l.startswith("License-File:"))
    header = header + "".join(f"\nRequires-Dist: {r}" for r in requires)
    metadata = header + (sep + body if sep else "\n")

    top_level = (read("top_level.txt") or "gunicorn").split()
    files = {}
    for rel in installed_files(site, meta_dir, top_level):
        with open(os.path.join(site, rel), "rb") as f:
            files[rel.replace(os.sep, "/")] = f.read()
    return write_wheel(out_dir, "gunicorn", version, files, metadata, read("entry_points.txt"))


# --- any Debian-installed distribution, with its dependency closure ------------
#
# Debian strips the install_requires out of most egg-info requires.txt files (they become
# the package's Depends), so a distribution's requirements are its own metadata plus its
# Debian package's Depends on other python3-* packages that install a distribution.

DIST_PACKAGES = "/usr/lib/python3/dist-packages"
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
# Debian packages that install no metadata of their own, and the distribution that provides them.
DEBIAN_ALIASES = {"python3-pkg-resources": "setuptools"}
# Distributions the wheelhouse takes from /usr/share/python-wheels, never repacked.
COPIED = ("pip", "setuptools", "wheel")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_class():
    """packaging's Requirement: Debian's python3-packaging, else the copy vendored in pip's wheel."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        wheels = sorted(glob.glob(os.path.join(DEBIAN_WHEELS, "pip-*-py3-none-any.whl")))
        if not wheels:
            sys.exit(f"neither packaging nor a pip wheel in {DEBIAN_WHEELS}: apt-get install python3-pip-whl")
        sys.path.insert(0, wheels[-1])
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


class Dist:
    def __init__(self, meta_dir):
        self.meta_dir = meta_dir
        self.info_name = os.path.basename(meta_dir)
        if os.path.isdir(meta_dir):
            self.metadata = self.read("METADATA") or self.read("PKG-INFO") or ""
        else:  # a bare PKG-INFO file named like the directory
            with open(meta_dir, encoding="utf-8") as f:
                self.metadata = f.read()
        header = self.metadata.partition("\n\n")[0]
        self.fields = [tuple(l.split(": ", 1)) for l in header.splitlines() if ": " in l and not l[:1].isspace()]
        first = dict(self.fields)
        self.name, self.version = first.get("Name", ""), first.get("Version", "")
        self.key = canonical(self.name)
        self.debian = None  # the Debian package that installed it

    def read(self, name):
        path = os.path.join(self.meta_dir, name)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return f.read()

    def own_requirements(self):
        if self.info_name.endswith(".dist-info") or not os.path.isdir(self.meta_dir):
            return [v for k, v in self.fields if k == "Requires-Dist"]
        return egg_requirements(self.read("requires.txt") or "")


def egg_requirements(text):
    """requires.txt -> Requires-Dist values; "[extra:marker]" sections keep both parts."""
    out, marker = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            extra, _, cond = line.strip("[]").partition(":")
            parts = ([f"({cond})"] if cond else []) + ([f'extra == "{extra}"'] if extra else [])
            marker = " and ".join(parts) or None
            continue
        out.append(f"{line}; {marker}" if marker else line)
    return out


def debian_index():
    """{canonical name: Dist} for dist-packages, each tagged with its Debian package, and
    {Debian package: [canonical names]}, read from dpkg's database."""
    dists = {}
    for path in sorted(glob.glob(os.path.join(DIST_PACKAGES, "*.dist-info")) + glob.glob(os.path.join(DIST_PACKAGES, "*.egg-info"))):
        d = Dist(path)
        if d.name and d.version and d.key not in dists:
            dists[d.key] = d
    by_info = {d.meta_dir: d for d in dists.values()}
    provides = {}
    for listing in sorted(glob.glob(os.path.join(DPKG_INFO, "*.list"))):
        package = os.path.basename(listing)[: -len(".list")].split(":")[0]
        with open(listing, encoding="utf-8", errors="replace") as f:
            for line in f:
                d = by_info.get(line.rstrip("\n"))
                if d is not None:
                    d.debian = package
                    provides.setdefault(package, []).append(d.key)
    return dists, provides


def debian_depends():
    """{installed Debian package: Depends value} from dpkg's status file."""
    out = {}
    with open(DPKG_STATUS, encoding="utf-8", errors="replace") as f:
        for stanza in f.read().split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
            if "installed" in fields.get("Status", "").split():
                out[fields.get("Package", "")] = fields.get("Depends", "")
    return out


def debian_requirements(depends, provides):
    """Distribution names of a package's Depends. A group with `python3` itself as an
    alternative (python3-importlib-metadata | python3 (>> 3.8)) is a backport: skipped."""
    names = []
    for group in filter(None, (g.strip() for g in depends.split(","))):
        alternatives = [re.split(r"[\s(:]", a.strip(), 1)[0] for a in group.split("|")]
        if "python3" in alternatives:
            continue
        for alt in alternatives:
            found = provides.get(alt) or ([DEBIAN_ALIASES[alt]] if alt in DEBIAN_ALIASES else [])
            if found:
                names += found
                break
    return names


def resolve_requirements(dist, dists, provides, depends, Requirement):
    """The Requires-Dist values for dist's wheel, and the distributions it needs here.

    Its own metadata comes first, then its Debian Depends as plain requirements: Debian
    says the package needs them (even where upstream made one an extra, as celery's ephem).
    Requirements on a distribution Debian has not installed are dropped when they are not
    needed (an extra, or a marker false for this interpreter); a needed one is an error."""
    own = [Requirement(r) for r in dist.own_requirements()]
    extra = [Requirement(n) for n in debian_requirements(depends.get(dist.debian, ""), provides)
             if canonical(n) != dist.key]
    keep, needs = [], []
    for req in own + extra:
        key = canonical(req.name)
        available = key in dists or key in COPIED
        marker = str(req.marker) if req.marker else ""
        needed = "extra" not in marker and (not req.marker or req.marker.evaluate({"extra": ""}))
        if needed and not available:
            sys.exit(f"{dist.name} needs {req} but Debian has not installed {req.name}: apt-get install the python3- package that provides it")
        if not available:
            continue
        # Debian's versions are the ones there are: a specifier they miss would only break installs.
        text = req.name + (f"[{','.join(sorted(req.extras))}]" if req.extras else "") + (f"; {marker}" if marker else "")
        if text not in keep:
            keep.append(text)
        if needed and key not in needs:
            needs.append(key)
    return keep, needs


def wheel_tag(paths):
    """py3-none-any, or this interpreter's platform tag when the files hold compiled modules."""
    if not any(p.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) for p in paths):
        return "py3-none-any"
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    abi = "cp" + sysconfig.get_config_var("py_version_nodot") + (sys.abiflags or "")
    return f"{impl}-{abi}-{re.sub(r'[-.]', '_', sysconfig.get_platform())}"


def debian_files(dist):
    """The distribution's own files, relative to dist-packages, without bytecode."""
    top_level = (dist.read("top_level.txt") or "").split() if os.path.isdir(dist.meta_dir) else []
    files = installed_files(DIST_PACKAGES, dist.meta_dir, top_level)
    if files or not dist.debian:
        return files
    # No RECORD and no top_level.txt: what dpkg installed into dist-packages.
    with open(os.path.join(DPKG_INFO, dist.debian + ".list"), encoding="utf-8") as f:
        found = [os.path.relpath(l.rstrip("\n"), DIST_PACKAGES) for l in f if l.startswith(DIST_PACKAGES + "/")]
    return sorted(p for p in found if not p.startswith(dist.info_name) and "__pycache__" not in p
                  and not p.endswith(".pyc") and os.path.isfile(os.path.join(DIST_PACKAGES, p)))


def repack_debian(out_dir, dist, requires):
    escaped = re.sub(r"[-_.]+", "_", dist.name)
    # License-File names a file this wheel does not carry; requirements are rewritten.
    header, sep, body = dist.metadata.partition("\n\n")
    lines = [l for l in header.splitlines() if not l.startswith(("License-File:", "Requires-Dist:", "Metadata-Version:"))]
    header = "\n".join(["Metadata-Version: 2.1"] + lines + [f"Requires-Dist: {r}" for r in requires])
    metadata = header + (sep + body if sep else "\n")
    files = {}
    for rel in debian_files(dist):
        with open(os.path.join(DIST_PACKAGES, rel), "rb") as f:  # a symlink is stored as its target's bytes
            files[rel.replace(os.sep, "/")] = f.read()
    entry_points = dist.read("entry_points.txt") if os.path.isdir(dist.meta_dir) else None
    return write_wheel(out_dir, escaped, dist.version, files, metadata, entry_points, wheel_tag(files))


def copy_debian_wheels(out_dir):
    for project in COPIED:
        found = sorted(glob.glob(os.path.join(DEBIAN_WHEELS, f"{project}-*-py3-none-any.whl")))
        if not found:
            sys.exit(f"no {project} wheel in {DEBIAN_WHEELS}: apt-get install python3-{project}-whl")
        shutil.copy2(found[-1], out_dir)


def cmd_debian(out_dir, roots):
    """pip, setuptools and wheel, plus each root distribution and its dependency closure
    repacked from dist-packages."""
    os.makedirs(out_dir, exist_ok=True)
    copy_debian_wheels(out_dir)
    Requirement = requirement_class()
    dists, provides = debian_index()
    depends = debian_depends()
    queue, done = [canonical(r) for r in roots], set(COPIED)
    while queue:
        key = queue.pop(0)
        if key in done:
            continue
        done.add(key)
        dist = dists.get(key)
        if dist is None:
            sys.exit(f"{key} is not installed in {DIST_PACKAGES}: apt-get install python3-{key}")
        requires, needs = resolve_requirements(dist, dists, provides, depends, Requirement)
        repack_debian(out_dir, dist, requires)
        queue += needs
    print(json.dumps(sorted(os.listdir(out_dir))))


# --- slipfix: a tiny pure package in two versions ------------------------------

SLIPFIX = '''"""slipfix {version}: a tiny pure-Python package for slipway's tests."""

__version__ = "{version}"


def greeting():
    return "{greeting}"
'''


def build_slipfix(out_dir, version, greeting):
    files = {
        "slipfix/__init__.py": SLIPFIX.format(version=version, greeting=greeting).encode(),
        "slipfix/data.txt": f"slipfix {version}\n".encode(),
    }
    meta = simple_metadata("slipfix", version, "Test fixture package for slipway")
    return write_wheel(out_dir, "slipfix", version, files, meta)


def cmd_wheelhouse(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for project in ("pip", "setuptools", "wheel"):
        found = sorted(glob.glob(os.path.join(DEBIAN_WHEELS, f"{project}-*-py3-none-any.whl")))
        if not found:
            sys.exit(f"no {project} wheel in {DEBIAN_WHEELS}: apt-get install python3-{project}-whl")
        shutil.copy2(found[-1], out_dir)
    repack_gunicorn(out_dir)
    build_slipfix(out_dir, "1.0.0", "hello from slipfix 1.0.0")
    build_slipfix(out_dir, "1.1.0", "hello from slipfix 1.1.0, now improved")
    print(json.dumps(sorted(os.listdir(out_dir))))


# --- big synthetic wheels ------------------------------------------------------

def word_pool(rng, n):
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 12))) for _ in range(n)]


def line_pool(rng, words, n):
    """Code-like lines: the same identifiers recur, as in real source."""
    templates = [
        "def {a}_{b}({c}, {d}={n}):",
        "    {a} = {b}.{c}({d}, {n})",
        "    return {a}({b}) + {n}",
        "    if {a} is not None and {b} > {n}:",
        "        raise {A}Error(\"{a} {b} {c}\")",
        "    # {a} {b} {c} {d}: {n}",
        "class {A}{B}({C}):",
        "    {a}_{b} = \"{c}-{d}-{n}\"",
        "from {a}.{b} import {c}, {d}",
        "    for {a} in {b}.{c}():",
        "        self.{a}[{n}] = {b}",
        "",
    ]
    out = []
    for _ in range(n):
        a, b, c, d = rng.choices(words, k=4)
        out.append(rng.choice(templates).format(
            a=a, b=b, c=c, d=d, A=a.title(), B=b.title(), C=c.title(), n=rng.randint(0, 99999)))
    return out


def code_text(rng, pool, size):
    chunks, total = [], 0
    while total < size:
        lines = rng.choices(pool, k=256)
        chunk = ("\n".join(lines) + "\n").encode()
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)[:size]


def data_blob(rng, pool, size):
    """Mostly text-like records, some base64, some random bytes: compresses ~2-4x."""
    parts, total = [], 0
    while total < size:
        kind = rng.random()
        n = rng.randint(4096, 65536)
        if kind < 0.7:
            part = code_text(rng, pool, n)
        elif kind < 0.9:
            part = base64.b64encode(rng.randbytes(n * 3 // 4))
        else:
            part = rng.randbytes(n)
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def build_big_wheel(out_dir, index, target_bytes, seed):
    rng = random.Random(f"{seed}:{index}")
    words = word_pool(rng, 600)
    pool = line_pool(rng, words, 8000)
    name = f"bigpkg{index}"
    files = {f"{name}/__init__.py": f'"""Synthetic package {index} for slipway tests."""\n'.encode()}
    total, k = 0, 0
    while total < target_bytes:
        size = rng.randint(16 * 1024, 512 * 1024)
        if k % 2 == 0:
            path, data = f"{name}/mod_{k:04d}.py", code_text(rng, pool, size)
        else:
            path, data = f"{name}/data/blob_{k:04d}.bin", data_blob(rng, pool, size)
        files[path] = data
        total += len(data)
        k += 1
    meta = simple_metadata(name, "1.0.0", f"Synthetic package {index} for slipway tests")
    write_wheel(out_dir, name, "1.0.0", files, meta)
    return name


def cmd_bigwheels(out_dir, total_mib, count):
    os.makedirs(out_dir, exist_ok=True)
    per_wheel = -(-int(float(total_mib) * 1024 * 1024) // int(count))  # ceiling
    seed = f"bigwheels:{total_mib}:{count}"
    names = [build_big_wheel(out_dir, i, per_wheel, seed) for i in range(1, int(count) + 1)]
    print(json.dumps(names))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "wheelhouse":
        cmd_wheelhouse(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "debian":
        cmd_debian(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 5 and sys.argv[1] == "bigwheels":
        cmd_bigwheels(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
