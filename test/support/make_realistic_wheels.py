"""Big wheels whose installed files compress like a real venv's (zstd -3: about 3-4x), for benches.

    python3 make_realistic_wheels.py OUT_DIR TOTAL_MIB COUNT

COUNT wheels realpkgN-1.0.0-py3-none-any.whl (N = 1..COUNT) that together install at least
TOTAL_MIB of files, made from this machine's own Python and native code:
  - .py modules: Debian's dist-packages and the stdlib, copied again and again; every copy after
    the first has its identifiers renamed by a seeded permutation of the vocabulary (keywords,
    builtins and the most common names stay), so copies share structure, not long runs: a
    compressor with a big window (--long, -19) does not find whole files twice, as it would not
    in a real venv, where no two packages are the same code;
  - compiled modules and shared libraries (.so from /usr/lib/x86_64-linux-gnu and dist-packages),
    each file once, as the extension modules of numpy-like packages;
  - bytecode (.pyc from dist-packages' __pycache__), each file once.
Random bytes would make any compression-level comparison meaningless; this content is what a
venv holds. Entries are stored (not deflated): pip unpacks them faster, and the wheel's own
compression plays no part in the figures. Deterministic for given arguments on a given machine.
"""

import base64
import builtins
import hashlib
import keyword
import os
import random
import re
import sys
import zipfile

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
PY_ROOTS = ["/usr/lib/python3/dist-packages", f"/usr/lib/python{sys.version_info.major}.{sys.version_info.minor}"]
SO_ROOTS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/python3/dist-packages"]
PYC_ROOT = "/usr/lib/python3/dist-packages"
# Shares of the payload (the rest is .py): a web app's venv is mostly source and bytecode;
# one with numpy/pandas-like packages holds more native code.
SO_SHARE = 0.30
PYC_SHARE = 0.08
IDENT = re.compile(rb"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")


def walk(roots, keep):
    """Regular files under roots matching keep(path), sorted, each inode once."""
    seen, out = set(), []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not os.path.isfile(p) or os.path.islink(p) or (st.st_dev, st.st_ino) in seen or not keep(p):
                    continue
                seen.add((st.st_dev, st.st_ino))
                out.append((p, os.path.relpath(p, root), st.st_size))
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def sources():
    files = walk(PY_ROOTS, lambda p: p.endswith(".py") and "/site-packages/" not in p)
    texts = []
    for path, rel, _ in files:
        try:
            texts.append((rel, read(path)))
        except OSError:
            pass
    return texts


def vocabulary(texts):
    """Identifiers by frequency, and the set left unchanged in renamed copies."""
    counts = {}
    for _, data in texts:
        for w in IDENT.findall(data):
            counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    fixed = {w.encode() for w in keyword.kwlist + keyword.softkwlist + dir(builtins)}
    fixed.update(ranked[:300])
    return [w for w in ranked if w not in fixed], fixed


def renamer(words, copy, seed):
    """A function for re.sub: each renamable identifier to another from the same vocabulary."""
    rng = random.Random(f"{seed}:rename:{copy}")
    shuffled = list(words)
    rng.shuffle(shuffled)
    mapping = dict(zip(words, shuffled))
    return lambda m: mapping.get(m.group(0), m.group(0))


class WheelWriter:
    """Fills COUNT wheels one after another, each up to its share of the payload."""

    def __init__(self, out_dir, count, per_wheel):
        self.out_dir, self.count, self.per_wheel = out_dir, count, per_wheel
        self.index, self.zf, self.size, self.record = 0, None, 0, []
        self.total = 0

    def _open(self):
        self.index += 1
        self.name = f"realpkg{self.index}"
        self.path = os.path.join(self.out_dir, f"{self.name}-1.0.0-py3-none-any.whl")
        self.zf = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED)
        self.size, self.record = 0, []
        self._put(f"{self.name}/__init__.py", f'"""Synthetic package {self.index}, made of this machine\'s own files."""\n'.encode())

    def _put(self, arcname, data):
        info = zipfile.ZipInfo(arcname, ZIP_DATE)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = (0o755 if arcname.endswith(".so") else 0o644) << 16
        self.zf.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.record.append(f"{arcname},sha256={digest},{len(data)}\n")
        self.size += len(data)

    def add(self, rel, data):
        if self.zf is None or (self.size >= self.per_wheel and self.index < self.count):
            self._close()
            self._open()
        self._put(f"{self.name}/{rel}", data)
        self.total += len(data)

    def _close(self):
        if self.zf is None:
            return
        dist = f"{self.name}-1.0.0.dist-info"
        meta = f"Metadata-Version: 2.1\nName: {self.name}\nVersion: 1.0.0\nSummary: Synthetic realistic package {self.index}\n"
        self._put(f"{dist}/METADATA", meta.encode())
        self._put(f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: slipway-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        record = "".join(self.record) + f"{dist}/RECORD,,\n"
        info = zipfile.ZipInfo(f"{dist}/RECORD", ZIP_DATE)
        info.external_attr = 0o644 << 16
        self.zf.writestr(info, record.encode())
        self.zf.close()
        self.zf = None

    def finish(self):
        self._close()
        while self.index < self.count:  # fewer files than wheels: the rest hold only their __init__
            self._open()
            self._close()


def main(out_dir, total_mib, count, seed="realistic"):
    total = int(float(total_mib) * 1024 * 1024)
    count = int(count)
    os.makedirs(out_dir, exist_ok=True)
    w = WheelWriter(out_dir, count, -(-total // count))

    so_budget, pyc_budget = int(total * SO_SHARE), int(total * PYC_SHARE)
    taken = 0
    # Up to 16 MiB each: many libraries rather than one huge one.
    native = walk(SO_ROOTS, lambda p: ".so" in os.path.basename(p) and 4096 <= os.path.getsize(p) <= 16 << 20)
    for path, rel, size in native:
        if taken + size > so_budget:
            continue
        w.add(f"_native/{rel.replace('/', '_')}".replace(".so.", "_") + ("" if rel.endswith(".so") else ".so"), read(path))
        taken += size
    taken = 0
    for path, rel, size in walk([PYC_ROOT], lambda p: p.endswith(".pyc")):
        if taken + size > pyc_budget:
            continue
        w.add(f"_compiled/{rel}", read(path))
        taken += size

    texts = sources()
    words, _ = vocabulary(texts)
    copy = 0
    while w.total < total:
        sub = renamer(words, copy, seed) if copy else None
        for rel, data in texts:
            if w.total >= total:
                break
            w.add(f"c{copy}/{rel}", IDENT.sub(sub, data) if sub else data)
        copy += 1
    w.finish()
    print(f"{w.total} bytes in {count} wheels, .py copied {copy} times")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
